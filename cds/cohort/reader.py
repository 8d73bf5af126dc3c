"""Read a cohort one patient at a time: JSON Lines, a folder of patient files, or Parquet.

Nothing is parsed or validated here: each record is the patient's JSON text, its position in the
cohort (from 0, in file order) and where it came from, so that a bad record becomes a row of the
results (:mod:`cds.cohort.rows`) rather than a stop.

- **JSON Lines** (``.jsonl``, ``.ndjson``): one patient per non-blank line (blank lines are skipped
  and not counted).
- **A folder**: every ``*.json`` file in it, sorted by name (one patient per file).
- **Parquet** (``.parquet``): a column named ``patient`` holding each patient as JSON text (what
  ``cds synth`` writes; preferred, nothing is lost); otherwise flat columns named by dotted field
  paths (``tumour.primary_site``, ``disease.stage``, ``age`` ...), nulls meaning not stated, list
  columns for lists. Read by record batches, never whole.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "c.jsonl").write_text('{"tumour": {"primary_site": "rectum"}}\\n\\nnot json\\n', encoding="utf-8")
>>> [(r.position, r.source) for r in iter_records(folder / "c.jsonl")]
[(0, 'line 1'), (1, 'line 3')]
>>> count_records(folder / "c.jsonl")
2
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.cohort.files import CohortFileError, cohort_format, require_pyarrow

#: Rows read from a Parquet file at a time.
PARQUET_BATCH = 4096


@dataclass(frozen=True)
class Record:
    """One patient as read: its position in the cohort, where it came from, and its JSON text.

    Examples
    --------
    >>> Record(0, "line 1", "{}").position
    0
    """

    position: int
    source: str
    text: str


def _is_folder(path: Path) -> bool:
    return path.is_dir()


def count_records(path: Path) -> int:
    """How many patients a cohort holds (for the progress bar), without parsing them.

    Parameters
    ----------
    path
        A JSON Lines file, a folder of ``*.json`` files, or a Parquet file.

    Returns
    -------
    int
        The number of records :func:`iter_records` will yield.

    Raises
    ------
    CohortFileError
        The path does not exist or has an unknown format.

    Examples
    --------
    >>> import tempfile
    >>> count_records(Path(tempfile.mkdtemp()))
    0
    """
    if _is_folder(path):
        return sum(1 for _ in _folder_files(path))
    fmt = _format(path)
    if fmt == "parquet":
        require_pyarrow()
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                count += 1
    return count


def iter_records(path: Path) -> Iterator[Record]:
    """The patients of a cohort, one at a time, in file order.

    Parameters
    ----------
    path
        A JSON Lines file, a folder of ``*.json`` files, or a Parquet file (see the module).

    Yields
    ------
    Record
        Position (from 0), source (``line N``, the file name, ``row N``) and JSON text.

    Raises
    ------
    CohortFileError
        The path does not exist, has an unknown format, or a Parquet file has neither a
        ``patient`` column nor dotted field columns it can read.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "b.json").write_text('{"tumour": {"primary_site": "colon"}}', encoding="utf-8")
    >>> _ = (folder / "a.json").write_text('{"tumour": {"primary_site": "rectum"}}', encoding="utf-8")
    >>> [r.source for r in iter_records(folder)]
    ['a.json', 'b.json']
    """
    if _is_folder(path):
        for i, file in enumerate(_folder_files(path)):
            try:
                text = file.read_bytes().decode("utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                text = f"<unreadable: {exc}>"
            yield Record(i, file.name, text)
        return
    if _format(path) == "parquet":
        yield from _parquet_records(path)
        return
    position = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                text = "<the line is not UTF-8 text>"
            yield Record(position, f"line {number}", text)
            position += 1


def _format(path: Path) -> str:
    if not path.exists():
        raise CohortFileError(f"{path}: no such file or folder")
    return cohort_format(path)


def _folder_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix.lower() == ".json" and p.is_file())


def _parquet_records(path: Path) -> Iterator[Record]:
    require_pyarrow()
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    position = 0
    if "patient" in names:
        for batch in file.iter_batches(batch_size=PARQUET_BATCH, columns=["patient"]):
            for text in batch.column(0).to_pylist():
                yield Record(position, f"row {position}", text if isinstance(text, str) else json.dumps(text))
                position += 1
        return
    if not names:
        raise CohortFileError(f"{path}: no columns (expected `patient` as JSON text, or dotted field columns)")
    for batch in file.iter_batches(batch_size=PARQUET_BATCH):
        for row in batch.to_pylist():
            yield Record(position, f"row {position}", json.dumps(_nested(row), ensure_ascii=False, default=_plain))
            position += 1


def _nested(row: dict[str, Any]) -> dict[str, Any]:
    """A flat row (dotted column names) as the nested patient; nulls left out (not stated)."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if value is None:
            continue
        *parents, leaf = name.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    return str(value)
