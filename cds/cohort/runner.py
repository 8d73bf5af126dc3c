"""Evaluate a whole cohort (``cds batch``): in parallel, in order, resumable, with flat memory.

The run reads the cohort one record at a time (:mod:`cds.cohort.reader`), sends chunks of
:data:`CHUNK` patients to a pool of worker processes (the rule engine is C code that holds the GIL,
so threads would not help), and writes the rows back in input order (:mod:`cds.cohort.writer`).
Each worker builds its engine once, in the pool's initializer, and evaluates through it
(:func:`cds.cohort.rows.evaluate_text`, which calls :meth:`cds.engine.Engine.evaluate`). At most
``window`` chunks are in flight (submitted and not yet written), so memory stays flat whatever the
cohort size: neither the cohort nor the results are ever held whole. The output depends only on the
input, never on the number of workers (``workers=1`` evaluates in this process), nor on where they
run: with ``dask=`` the same chunks go to a Dask cluster (:mod:`cds.cohort.dask_run`).

Resuming: before evaluating, the rows already in the output are read back and compared with the
input in step; the leading rows that match (position, input hash, settings, versions) are kept and
their records skipped; everything after is evaluated again.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "in.jsonl").write_text('{"tumour": {"primary_site": "rectum", "size_mm": 8, "ki67_percent": 1}, '
...     '"disease": {"stage": "localized"}}\\n{"tumour": {"primary_site": "lung"}}\\n', encoding="utf-8")
>>> summary = run_batch(folder / "in.jsonl", folder / "out.jsonl", workers=1)
>>> summary.ok, summary.invalid, summary.skipped
(1, 1, 0)
>>> run_batch(folder / "in.jsonl", folder / "out.jsonl", workers=1).skipped   # rerun: nothing to do
2
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cds.cohort.reader import Record, iter_records
from cds.cohort.rows import RunSettings, engine_for, evaluate_text, input_hash
from cds.cohort.writer import RowKey, open_writer
from cds.version import SOFTWARE_VERSION

if TYPE_CHECKING:
    from cds.cohort.dask_run import DaskTarget
    from cds.engine import Engine

#: Patients per task sent to a worker.
CHUNK = 64

#: The chunk of work a task carries: (position, source, JSON text) per patient.
Chunk = list[tuple[int, str, str]]


@dataclass
class Summary:
    """What a run did: counts and time.

    Examples
    --------
    >>> Summary(total=10, ok=8, invalid=1, errors=1).evaluated
    10
    """

    total: int = 0
    ok: int = 0
    invalid: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    workers: int = 1
    failures: dict[str, int] = field(default_factory=dict)
    cluster: str = ""

    @property
    def evaluated(self) -> int:
        """Patients evaluated in this run (valid or not)."""
        return self.ok + self.invalid + self.errors

    @property
    def rate(self) -> float:
        """Patients evaluated per second in this run."""
        return self.evaluated / self.seconds if self.seconds > 0 else 0.0


def default_workers() -> int:
    """The number of worker processes by default: the cores this process may use.

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> default_workers() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------ worker side

_engines: list[Engine] = []
_settings = RunSettings()


def _init_worker(settings: RunSettings) -> None:
    """Pool initializer: build this worker's engines once (one per knowledge, loaded and compiled)."""
    global _engines, _settings
    _engines = [engine_for(content) for content in settings.knowledge or (None,)]
    _settings = settings


def _knowledge_versions() -> tuple[str, ...]:
    """The knowledge versions this worker evaluates with (a Dask run checks them against its own)."""
    return tuple(engine.kb.version for engine in _engines)


def _evaluate_chunk(chunk: Chunk) -> list[dict[str, Any]]:
    """The rows of a chunk: one per patient and knowledge (patient by patient, knowledge in settings order)."""
    assert _engines, "the worker was not initialised"
    return [evaluate_text(engine, position, source, text, _settings)
            for position, source, text in chunk for engine in _engines]


# ------------------------------------------------------------------ the run


def _chunks(records: Iterable[Record], size: int) -> Iterator[Chunk]:
    iterator = iter(records)
    while True:
        chunk = [(r.position, r.source, r.text) for r in itertools.islice(iterator, size)]
        if not chunk:
            return
        yield chunk


def _matching_prefix(records: Iterator[Record], existing: Iterator[RowKey], settings: RunSettings,
                     version: str) -> int:
    """How many leading written rows match the input's leading records (read in step)."""
    count = 0
    for record, key in zip(records, existing, strict=False):
        expected = RowKey(record.position, input_hash(record.text), settings.fingerprint, version, SOFTWARE_VERSION)
        if key != expected:
            break
        count += 1
    return count


def evaluate_records(records: Iterable[Record], workers: int, settings: RunSettings, chunk: int = CHUNK,
                     dask: DaskTarget | None = None,
                     versions: tuple[str, ...] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Evaluate records through the batch machinery and yield the rows chunk by chunk, in input order.

    What :func:`run_batch` does without the writer, for callers that read the rows themselves
    (``cds diff``): the same pool, the same bounded window of chunks in flight.

    Parameters
    ----------
    records
        The patients (:func:`cds.cohort.reader.iter_records`), read lazily.
    workers
        Worker processes; 1 evaluates in this process.
    settings
        What each evaluation does; with several ``knowledge`` folders each patient gives one row per
        folder, in that order.
    chunk
        Patients per task.
    dask
        A Dask cluster to evaluate on instead of local processes (``workers`` is then ignored).
    versions
        The knowledge versions of ``settings.knowledge`` when the caller has loaded them already
        (a Dask run checks its workers against them); else they are read from the knowledge here.

    Yields
    ------
    list of dict
        The rows of one chunk (:func:`cds.cohort.rows.evaluate_text`).

    Examples
    --------
    >>> from cds.resources import content_root
    >>> records = [Record(0, "line 1", '{"tumour": {"primary_site": "lung"}}')]
    >>> settings = RunSettings(knowledge=(str(content_root()), str(content_root())))
    >>> [[row["status"] for row in rows] for rows in evaluate_records(records, 1, settings)]
    [['invalid', 'invalid']]
    """
    yield from _results(_chunks(records, chunk), workers, settings, dask, versions=versions)


def run_batch(
    source: Path,
    output: Path,
    *,
    workers: int | None = None,
    settings: RunSettings | None = None,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
    dask: DaskTarget | None = None,
) -> Summary:
    """Evaluate every patient of ``source`` and write one row per patient to ``output``, in input order.

    Parameters
    ----------
    source
        A JSON Lines file, a folder of patient files or a Parquet file (:mod:`cds.cohort.reader`).
    output
        ``.jsonl`` or ``.parquet``; rows already there that match the input are kept (resume).
    workers
        Worker processes (default :func:`default_workers`); 1 evaluates in this process.
    settings
        Language, follow-up plan, options per track (:class:`cds.cohort.rows.RunSettings`).
    chunk
        Patients per task.
    progress
        Called with the number of rows just written (and once with the rows kept from before).
    dask
        Evaluate on this Dask cluster (:mod:`cds.cohort.dask_run`) instead of local processes
        (``workers`` is then ignored; the summary counts the cluster's worker threads).

    Returns
    -------
    Summary
        The counts (ok, invalid, errors, skipped) and the time taken.

    Raises
    ------
    cds.cohort.files.CohortFileError
        The input or output path cannot be used (unknown format, missing file, no pyarrow).
    cds.cohort.dask_run.DaskError
        The Dask cluster cannot be used (no scheduler at the address, workers without netcds).
    KeyboardInterrupt
        The run was interrupted; the rows written so far stay valid and a rerun resumes.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "p.json").write_text('{"tumour": {"primary_site": "pancreas", "ki67_percent": 1, '
    ...                                    '"size_mm": 12}, "disease": {"stage": "localized"}}', encoding="utf-8")
    >>> run_batch(folder, folder / "out.parquet", workers=1).ok
    1
    """
    settings = settings or RunSettings()
    if len(settings.knowledge) > 1:
        raise ValueError("run_batch writes the rows of one knowledge; compare several with cds.cohort.diff")
    workers = workers or default_workers()
    version = engine_for(settings.knowledge[0] if settings.knowledge else None).kb.version
    started = time.perf_counter()
    summary = Summary(workers=workers, cluster=dask.label if dask is not None else "")
    writer = open_writer(output)
    keep = _matching_prefix(iter_records(source), writer.existing(), settings, version)
    kept = writer.start(keep)
    summary.skipped = kept
    if progress is not None and kept:
        progress(kept)
    records = itertools.islice(iter_records(source), kept, None)
    chunks = _chunks(records, chunk)
    try:
        for rows in _results(chunks, workers, settings, dask, summary):
            writer.write(rows)
            for row in rows:
                status = row["status"]
                if status == "ok":
                    summary.ok += 1
                elif status == "invalid":
                    summary.invalid += 1
                    for name in row["error_fields"] or [""]:
                        summary.failures[name] = summary.failures.get(name, 0) + 1
                else:
                    summary.errors += 1
            if progress is not None:
                progress(len(rows))
        writer.finish()
    except BaseException:
        writer.close()
        raise
    summary.total = summary.skipped + summary.evaluated
    summary.seconds = time.perf_counter() - started
    return summary


def _results(chunks: Iterator[Chunk], workers: int, settings: RunSettings, dask: DaskTarget | None = None,
             summary: Summary | None = None,
             versions: tuple[str, ...] | None = None) -> Iterator[list[dict[str, Any]]]:
    """The rows of each chunk, in input order; at most 4 chunks per worker in flight.

    In this process (``workers`` 1), in a local process pool, or on a Dask cluster: each runs
    :func:`_init_worker` with the same arguments once per process, then :func:`_evaluate_chunk`.
    """
    first = next(chunks, None)
    if first is None:
        return  # nothing left to evaluate (a finished run resumed): no pool to start
    chunks = itertools.chain([first], chunks)
    initargs = (settings,)
    if dask is not None:
        from cds.cohort.dask_run import ordered_map

        def started(threads: int) -> None:
            if summary is not None:
                summary.workers = threads

        # The workers must evaluate with this process's knowledge (a remote cluster may hold another).
        expected = versions or tuple(engine_for(content).kb.version for content in settings.knowledge or (None,))
        yield from ordered_map(chunks, dask, init=_init_worker, initargs=initargs, evaluate=_evaluate_chunk,
                               started=started, verify=_knowledge_versions, expected=expected)
        return
    if workers <= 1:
        _init_worker(*initargs)
        for c in chunks:
            yield _evaluate_chunk(c)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        # As cds.isolation does: import the heavy modules once in the fork server, workers start warm.
        context.set_forkserver_preload(["cds.engine", "cds.knowledge", "cds.model", "cds.cohort.rows"])
    pool: Pool = context.Pool(workers, initializer=_init_worker, initargs=initargs)
    try:
        window: deque[AsyncResult[list[dict[str, Any]]]] = deque()
        limit = 4 * workers
        for c in chunks:
            window.append(pool.apply_async(_evaluate_chunk, (c,)))
            if len(window) >= limit:
                yield window.popleft().get()
        while window:
            yield window.popleft().get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()
