"""Evaluations in worker processes, so that a crash or a hang of the C engine stays there.

Next (issue 13): the CDS Hooks service will evaluate through an isolated :class:`Evaluator`
and map :class:`EngineUnavailable` to ``503 Service Unavailable`` with a ``Retry-After``
header of :attr:`EngineUnavailable.retry_after` seconds (rounded up); the benchmark will
measure a worker killed under load. Open questions for that session: two workers did not
beat one on throughput in ``bench/isolation.py`` on the shared 2-core machine (about 250
evaluations/s isolated against 630 in process; the per-request overhead is about 1.7-2.4 ms,
of which 0.3 ms is reading the JSON back into a Recommendation): the service may want the
JSON text as is, and a profile of the IPC; no request is retried on another worker (an
evaluation is pure, but a patient that crashes the engine would crash every worker).

Hosts: workers start with ``forkserver`` (or ``spawn``), so a host script must guard its
entry point with ``if __name__ == "__main__":``, as multiprocessing requires; the fork
server's preload list is set for the whole process.

Why: durable_rules is a C extension that never releases the GIL; a wide condition node can
make it loop forever, and a bug in it can end the process with SIGSEGV (see the durable_rules
scout brief). A host that embeds netcds (an EHR plug-in, a web service) must not hang or die
with it. An isolated :class:`Evaluator` runs each evaluation in one of ``workers`` processes
(started with ``forkserver`` where available, else ``spawn``; each loads the knowledge and
compiles the engine once) and waits at most ``timeout`` seconds. A worker that dies or
overruns is killed and replaced in the background; only that request fails, with
:class:`EngineUnavailable`; the other workers carry on.

The result crosses the process boundary as the recommendation's JSON and is read back
into a :class:`~cds.model.Recommendation`, which gives the same JSON byte for byte as the
in-process engine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import math
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, Literal

from cds.engine import Engine
from cds.errors import EngineError, InputError, InputProblem
from cds.fhir import BundleError, MappingResult, map_bundle
from cds.input import validate_patient
from cds.knowledge import load_knowledge
from cds.model import Patient, Recommendation

#: The languages of the texts in a result.
Lang = Literal["en", "fr"]

#: How long a new worker may take to load the knowledge and compile the engine (seconds).
START_TIMEOUT = 60.0


class EngineUnavailable(EngineError):
    """No answer this time: the worker died or overran its time; try again later.

    Parameters
    ----------
    message
        What happened (no patient data in it).
    retry_after
        Seconds after which a replacement worker should be ready (kept as :attr:`retry_after`):
        the ``Retry-After`` of a 503.

    Examples
    --------
    >>> error = EngineUnavailable("the evaluation took longer than 5 s", retry_after=2.0)
    >>> error.retry_after, isinstance(error, EngineError)
    (2.0, True)
    """

    def __init__(self, message: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


@dataclass(frozen=True)
class BundleEvaluation:
    """A FHIR Bundle mapped to the patient contract and, when it could be, evaluated.

    ``recommendation`` is None when the bundle names no primary site (nothing to evaluate: the
    mapping report says what is missing) or when the mapped patient breaks the input contract
    (``problems`` says how, field by field, as ``cds evaluate`` would).

    Examples
    --------
    >>> import datetime as dt
    >>> with Evaluator() as evaluator:
    ...     result = evaluator.evaluate_bundle({"resourceType": "Bundle", "type": "collection"}, dt.date(2026, 1, 5))
    >>> result.recommendation is None, result.mapping.field("tumour.primary_site").status.value
    (True, 'missing')
    """

    mapping: MappingResult
    recommendation: Recommendation | None
    problems: tuple[InputProblem, ...] = ()
    knowledge_version: str = ""  # of the engine that mapped it (also when nothing was evaluated)

    @property
    def has_primary_site(self) -> bool:
        """Whether the bundle gave the tumour's primary site (without it nothing is evaluated)."""
        return bool(self.mapping.patient.get("tumour", {}).get("primary_site"))


def _map_and_evaluate(engine: Engine, bundle: Mapping[str, Any], as_of: dt.date, lang: Lang,
                      surveillance: bool) -> tuple[MappingResult, str | None, tuple[InputProblem, ...], str]:
    """The work of :meth:`Evaluator.evaluate_bundle`, where the engine is (a worker, or this process).

    The recommendation comes back as its JSON text, so that both ways give the same bytes.
    """
    version = engine.kb.version
    mapping = map_bundle(dict(bundle), as_of)
    if not mapping.patient.get("tumour", {}).get("primary_site"):
        return mapping, None, (), version
    try:
        patient = validate_patient(mapping.patient, source="the FHIR data")
    except InputError as exc:
        return mapping, None, tuple(exc.problems), version
    return mapping, engine.evaluate(patient, lang, surveillance).model_dump_json(), (), version


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False


def _worker_main(conn: Connection, test_hooks: bool) -> None:
    """A worker's life: compile once, say ready, then answer one request at a time."""
    try:
        engine = Engine(load_knowledge())
    except Exception as exc:  # reported to the parent, which gives up on this worker
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    gc.freeze()  # the knowledge and the compiled engine live as long as the worker: out of every GC pass
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            engine.close()
            return
        op, payload = request
        try:
            if op == "evaluate":
                patient_json, lang, surveillance = payload
                rec = engine.evaluate(Patient.model_validate_json(patient_json), lang, surveillance)
                conn.send(("ok", rec.model_dump_json()))
            elif op == "bundle":
                bundle, as_of, lang, surveillance = payload
                try:
                    conn.send(("ok", _map_and_evaluate(engine, bundle, as_of, lang, surveillance)))
                except BundleError as exc:
                    conn.send(("bundle_error", str(exc)))
            elif op == "sleep" and test_hooks:
                time.sleep(float(payload))
                conn.send(("ok", ""))
            else:
                conn.send(("error", f"unknown request {op!r}"))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _context() -> BaseContext:
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        # Import the heavy modules once in the fork server, so each new worker starts warm.
        ctx.set_forkserver_preload(["cds.engine", "cds.knowledge", "cds.model", "cds.fhir"])
    return ctx


class _Pool:
    """``size`` workers, each used by one request at a time; dead ones replaced in the background."""

    def __init__(self, size: int, test_hooks: bool) -> None:
        self._ctx = _context()
        self._test_hooks = test_hooks
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._all: list[_Worker] = []
        self._busy: set[int] = set()  # pids of the workers serving a request
        self._closed = False
        self.start_seconds = 1.0  # updated with each start; the basis of retry_after
        started = [self._launch() for _ in range(size)]
        try:
            for worker, began in started:
                self._await_ready(worker, began)
                self._idle.put(worker)
        except BaseException:
            self.close()
            raise

    def _launch(self) -> tuple[_Worker, float]:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(child, self._test_hooks), daemon=True, name="netcds-engine"
        )
        began = time.monotonic()
        process.start()
        child.close()  # else the parent never sees EOF when the worker dies
        worker = _Worker(process, parent)
        with self._lock:
            self._all.append(worker)
        return worker, began

    def _await_ready(self, worker: _Worker, began: float) -> None:
        try:
            ready = wait([worker.conn, worker.process.sentinel], START_TIMEOUT)
            message: Any = worker.conn.recv() if worker.conn in ready else None
        except (EOFError, OSError):
            message = None
        if not (isinstance(message, tuple) and message[0] == "ready"):
            worker.process.join(0.5)  # so that a worker that exited has its exit code
            if isinstance(message, tuple):
                why = str(message[1])
            elif worker.process.exitcode is not None:
                why = f"it exited with code {worker.process.exitcode} while starting"
            else:
                why = f"it was not ready within {START_TIMEOUT:g} s"
            self._discard(worker)
            raise EngineError(f"an engine worker did not start: {why}")
        self.start_seconds = time.monotonic() - began
        worker.ready = True

    def _replace(self) -> None:
        """Start a worker in place of a lost one (in a background thread); give up after 3 tries."""
        for attempt in range(3):
            if self._closed:
                return
            try:
                worker, began = self._launch()
                self._await_ready(worker, began)
            except (EngineError, OSError, EOFError):  # also: closed under our feet
                time.sleep(0.5 * (attempt + 1))
                continue
            if self._closed:
                self._discard(worker)
            else:
                self._idle.put(worker)
            return

    def _discard(self, worker: _Worker) -> None:
        """Kill and reap a worker; a second call for the same worker does nothing."""
        with self._lock:
            if worker not in self._all:
                return
            self._all.remove(worker)
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        worker.conn.close()

    def _lost(self, worker: _Worker) -> None:
        self._discard(worker)
        if not self._closed:
            threading.Thread(target=self._replace, name="netcds-engine-replace", daemon=True).start()

    def retry_after(self) -> float:
        return float(max(1, math.ceil(self.start_seconds)))

    def call(self, op: str, payload: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        if self._closed:
            raise EngineError("the evaluator was closed")
        while True:
            try:
                worker = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise EngineUnavailable(
                    f"no engine worker was free within {timeout:g} s", self.retry_after()
                ) from None
            if worker.process.is_alive():
                break
            self._lost(worker)  # died while idle: replace it, and take the next one
        pid = worker.process.pid or 0
        with self._lock:
            self._busy.add(pid)
        try:
            worker.conn.send((op, payload))
            left = max(0.0, deadline - time.monotonic())
            ready = wait([worker.conn, worker.process.sentinel], left)
            reply: Any = worker.conn.recv() if worker.conn in ready else None
        except (EOFError, OSError, BrokenPipeError):
            reply = None
            ready = [worker.process.sentinel]
        finally:
            with self._lock:
                self._busy.discard(pid)
        if reply is None:
            self._lost(worker)
            if ready:
                raise EngineUnavailable("the engine worker stopped during the evaluation", self.retry_after())
            raise EngineUnavailable(f"the evaluation took longer than {timeout:g} s", self.retry_after())
        self._idle.put(worker)
        status, value = reply
        if status == "bundle_error":
            raise BundleError(value)
        if status != "ok":
            raise EngineError(f"the engine worker failed: {value}")
        return value

    def pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._all if w.ready and w.process.pid is not None and w.process.is_alive()]

    def busy_pids(self) -> list[int]:
        with self._lock:
            return sorted(self._busy)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in workers:
            worker.process.join(2)
            self._discard(worker)


class Evaluator:
    """Evaluate patients in this process, or in a pool of worker processes that may fail alone.

    Parameters
    ----------
    isolated
        ``False`` (the default, as in the CLI): evaluate in this process with the bundled
        knowledge. ``True``: evaluate in ``workers`` processes, each with its own engine.
    workers
        How many worker processes (isolated only); requests beyond that wait for a free one.
    timeout
        Seconds an isolated request may take, waiting for a free worker included.
    test_hooks
        Test-only: lets :meth:`sleep_in_worker` make a worker hang. Never set it in a service.

    Raises
    ------
    EngineError
        A worker did not start (e.g. the knowledge does not load).

    Examples
    --------
    >>> from cds import parse_patient
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> with Evaluator(isolated=True, workers=1, timeout=30) as evaluator:
    ...     rec = evaluator.evaluate(patient, "fr")
    >>> rec.anti_tumour[0].option
    'watchful_waiting'
    >>> with Evaluator() as local:  # in process: the same JSON
    ...     local.evaluate(patient, "fr").model_dump_json() == rec.model_dump_json()
    True
    """

    def __init__(
        self, isolated: bool = False, workers: int = 2, timeout: float = 10.0, test_hooks: bool = False
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1 (got {workers})")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive (got {timeout})")
        self.isolated = isolated
        self.timeout = timeout
        self._test_hooks = test_hooks
        self._engine: Engine | None = None
        self._pool: _Pool | None = None
        if isolated:
            self._pool = _Pool(workers, test_hooks)
        else:
            self._engine = Engine(load_knowledge())

    def evaluate(self, patient: Patient, lang: Lang = "en", surveillance: bool = True) -> Recommendation:
        """Rank the options for one patient, as :meth:`cds.engine.Engine.evaluate` does.

        Parameters
        ----------
        patient
            The validated patient.
        lang
            Language of the texts in the result.
        surveillance
            ``False`` leaves the follow-up plan out.

        Returns
        -------
        Recommendation
            The same as the in-process engine gives (the same JSON byte for byte).

        Raises
        ------
        EngineUnavailable
            Isolated only: the worker died or overran :attr:`timeout`, or none was free in
            time; it is being replaced, try again after ``retry_after`` seconds.
        EngineError
            The rule engine failed (a bug in netcds or its knowledge), or the evaluator is closed.

        Examples
        --------
        >>> from cds import parse_patient
        >>> with Evaluator() as evaluator:
        ...     rec = evaluator.evaluate(parse_patient('{"tumour": {"primary_site": "pancreas"}}'), surveillance=False)
        >>> rec.language, rec.surveillance is None
        ('en', True)
        """
        if self._pool is None:
            if self._engine is None:
                raise EngineError("the evaluator was closed")
            return self._engine.evaluate(patient, lang, surveillance)
        payload = (patient.model_dump_json(), lang, surveillance)
        text = self._pool.call("evaluate", payload, self.timeout)
        return Recommendation.model_validate_json(text)

    def evaluate_bundle(self, bundle: Mapping[str, Any], as_of: dt.date, lang: Lang = "en",
                        surveillance: bool = True) -> BundleEvaluation:
        """Map a FHIR R4 Bundle (:func:`cds.fhir.map_bundle`) and evaluate the patient, in one step.

        Isolated, both steps run in the worker: parsing a large bundle with ``fhir.resources``
        costs more than the evaluation itself, and a service's own process (one event loop, one
        GIL) would otherwise do it for every request in turn.

        Parameters
        ----------
        bundle
            The Bundle as parsed JSON.
        as_of
            The decision date (the patient's age, what counts as past).
        lang
            Language of the texts in the result.
        surveillance
            ``False`` leaves the follow-up plan out.

        Returns
        -------
        BundleEvaluation
            The mapping (patient and report) and the recommendation, or the reason there is none.

        Raises
        ------
        cds.fhir.BundleError
            The data is not a Bundle netcds reads (not FHIR R4, a history bundle...).
        EngineUnavailable
            Isolated only, as for :meth:`evaluate`.

        Examples
        --------
        >>> import datetime as dt
        >>> bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
        ...     "resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p"},
        ...     "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "C25.4"}]}}},
        ...     {"resource": {"resourceType": "Patient", "id": "p"}}]}
        >>> with Evaluator() as evaluator:
        ...     result = evaluator.evaluate_bundle(bundle, dt.date(2026, 1, 5), surveillance=False)
        >>> result.mapping.patient["tumour"]["primary_site"], result.recommendation is not None
        ('pancreas', True)
        """
        if self._pool is None:
            if self._engine is None:
                raise EngineError("the evaluator was closed")
            mapping, text, problems, version = _map_and_evaluate(self._engine, bundle, as_of, lang, surveillance)
        else:
            mapping, text, problems, version = self._pool.call("bundle", (dict(bundle), as_of, lang, surveillance),
                                                      self.timeout)
        rec = Recommendation.model_validate_json(text) if text is not None else None
        return BundleEvaluation(mapping, rec, problems, version)

    def sleep_in_worker(self, seconds: float) -> None:
        """Test-only: make one worker sleep ``seconds``, as a hung engine would.

        Parameters
        ----------
        seconds
            How long the worker sleeps before it answers.

        Raises
        ------
        RuntimeError
            The evaluator was not built with ``test_hooks=True``, or is not isolated.
        EngineUnavailable
            The sleep outlasted :attr:`timeout` (the worker is replaced), or the worker was killed.

        Examples
        --------
        >>> with Evaluator() as evaluator:
        ...     evaluator.sleep_in_worker(1)
        Traceback (most recent call last):
        ...
        RuntimeError: sleep_in_worker needs Evaluator(isolated=True, test_hooks=True)
        """
        if not self._test_hooks or self._pool is None:
            raise RuntimeError("sleep_in_worker needs Evaluator(isolated=True, test_hooks=True)")
        self._pool.call("sleep", seconds, self.timeout)

    def worker_pids(self) -> list[int]:
        """The process ids of the workers ready to evaluate: for tests and monitoring.

        Returns
        -------
        list of int
            One per worker started (knowledge compiled) and alive; empty in process. A worker
            that died while idle drops out of the list when the pool learns of it (the fork
            server reports it a moment later); a request handed to it before then gets
            :class:`EngineUnavailable`.

        Examples
        --------
        >>> with Evaluator() as evaluator:
        ...     evaluator.worker_pids()
        []
        """
        return self._pool.pids() if self._pool is not None else []

    def busy_worker_pids(self) -> list[int]:
        """The process ids of the workers serving a request now.

        Returns
        -------
        list of int
            Sorted; empty when all are idle, and in process.

        Examples
        --------
        >>> with Evaluator() as evaluator:
        ...     evaluator.busy_worker_pids()
        []
        """
        return self._pool.busy_pids() if self._pool is not None else []

    @property
    def worker_start_seconds(self) -> float | None:
        """How long the last worker took to start (load and compile), or ``None`` in process."""
        return self._pool.start_seconds if self._pool is not None else None

    def close(self) -> None:
        """Stop the workers (or free the in-process engine); closing twice does nothing.

        Examples
        --------
        >>> evaluator = Evaluator()
        >>> evaluator.close()
        >>> evaluator.close()
        >>> evaluator.worker_start_seconds is None
        True
        """
        if self._pool is not None:
            self._pool.close()
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
