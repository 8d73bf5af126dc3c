"""Cohort files on disk: which format a path means, and streaming a cohort of patients to a file.

Two formats, chosen by the file's suffix: JSON Lines (``.jsonl``, one patient or one result per
line, UTF-8) and Parquet (``.parquet``, needs the ``cohort`` extra: ``pip install netcds[cohort]``).
A patient Parquet file has two columns, ``id`` and ``patient`` (the patient as JSON text), so that
nothing is lost between the nested input contract and a table; :mod:`cds.cohort.reader` also reads
flat tables whose columns are dotted field paths.

Examples
--------
>>> cohort_format("registry.parquet"), cohort_format("registry.jsonl")
('parquet', 'jsonl')
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from cds.files import written_whole

#: The two cohort file formats.
Format = Literal["jsonl", "parquet"]

#: Patients per Parquet row group when writing a patient file.
PATIENT_ROW_GROUP = 10_000


class CohortFileError(ValueError):
    """A cohort file or path that cannot be used (wrong suffix, missing extra, unreadable).

    Examples
    --------
    >>> str(CohortFileError("c.csv: unknown format"))
    'c.csv: unknown format'
    """


def cohort_format(path: str | os.PathLike[str]) -> Format:
    """The format a path's suffix means.

    Parameters
    ----------
    path
        A file name ending in ``.jsonl`` (or ``.ndjson``) or ``.parquet``.

    Returns
    -------
    str
        ``jsonl`` or ``parquet``.

    Raises
    ------
    CohortFileError
        Any other suffix (the message lists the allowed ones).

    Examples
    --------
    >>> cohort_format("out.csv")
    Traceback (most recent call last):
    ...
    cds.cohort.files.CohortFileError: out.csv: unknown format '.csv' (allowed: .jsonl, .ndjson, .parquet)
    """
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    raise CohortFileError(f"{path}: unknown format {suffix!r} (allowed: .jsonl, .ndjson, .parquet)")


def require_pyarrow() -> Any:
    """Import pyarrow, or say how to install it.

    Returns
    -------
    module
        ``pyarrow``.

    Raises
    ------
    CohortFileError
        pyarrow is not installed (the message names the ``cohort`` extra).

    Examples
    --------
    >>> require_pyarrow().__name__
    'pyarrow'
    """
    try:
        import pyarrow
    except ImportError:  # pragma: no cover - the cohort extra is installed in development
        raise CohortFileError("Parquet needs pyarrow: pip install 'netcds[cohort]'") from None
    return pyarrow


def dumps(data: Any) -> str:
    """One JSON Lines line (without its newline): compact, UTF-8 kept, keys in the order given.

    Parameters
    ----------
    data
        Plain JSON data.

    Returns
    -------
    str
        The JSON text.

    Examples
    --------
    >>> dumps({"site": "estómago", "n": [1, 2]})
    '{"site":"estómago","n":[1,2]}'
    """
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def write_patients(path: Path, patients: Iterable[dict[str, Any]]) -> int:
    """Write a cohort of patients to ``path`` (JSON Lines or Parquet), streaming, whole or not at all.

    The file is written under a temporary name beside ``path`` and renamed when complete.

    Parameters
    ----------
    path
        The file to write; its suffix chooses the format (:func:`cohort_format`).
    patients
        The patients, as plain JSON data (an iterator is consumed once, never held whole).

    Returns
    -------
    int
        How many patients were written.

    Raises
    ------
    CohortFileError
        Unknown suffix, or Parquet without pyarrow.
    OSError
        The file cannot be written (nothing is left behind).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_patients(folder / "c.jsonl", [{"tumour": {"primary_site": "rectum"}}])
    1
    >>> (folder / "c.jsonl").read_text(encoding="utf-8")
    '{"tumour":{"primary_site":"rectum"}}\\n'
    >>> write_patients(folder / "c.parquet", [{"id": "a", "tumour": {"primary_site": "rectum"}}])
    1
    """
    fmt = cohort_format(path)
    count = 0
    with written_whole(path) as tmp:
        if fmt == "jsonl":
            with tmp.open("w", encoding="utf-8", newline="\n") as handle:
                for patient in patients:
                    handle.write(dumps(patient) + "\n")
                    count += 1
        else:
            count = _write_patient_parquet(tmp, patients)
    return count


def _write_patient_parquet(path: Path, patients: Iterable[dict[str, Any]]) -> int:
    pa = require_pyarrow()
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.string()), ("patient", pa.string())])
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        ids: list[str | None] = []
        texts: list[str] = []
        for patient in patients:
            ids.append(patient.get("id"))
            texts.append(dumps(patient))
            if len(texts) >= PATIENT_ROW_GROUP:
                writer.write_table(pa.table({"id": ids, "patient": texts}, schema=schema))
                count += len(texts)
                ids, texts = [], []
        if texts or count == 0:
            writer.write_table(pa.table({"id": ids, "patient": texts}, schema=schema))
            count += len(texts)
    return count
