"""Write result rows as they come, so that an interrupted run leaves valid output and can resume.

**JSON Lines** (``.jsonl``): rows are appended in chunks, each chunk one ``write`` of whole lines
followed by a flush, so a killed run leaves a file of complete rows (at worst a last line cut by a
power failure, which the next run drops). A rerun reads the file back and keeps its leading rows
that match the input (see :meth:`ResultWriter.existing`), truncates after them and appends.

**Parquet** (``.parquet``): a Parquet file is only valid once its footer is written, so rows go to
numbered part files in ``OUT.parquet.parts/`` (each a complete Parquet file of up to
:data:`PART_ROWS` rows, written under a temporary name and renamed), and when the run ends the parts
are joined into ``OUT.parquet`` (written under a temporary name and renamed, row group by row
group, never all in memory) and removed. An interrupted run leaves its complete parts; a rerun
keeps the leading parts whose rows all match the input and redoes the rest. A complete
``OUT.parquet`` from an earlier run is reused whole when every row matches, else redone.

A row matches when its position, input hash, settings and knowledge and software versions are
those of the same record now: a changed patient, knowledge or option is evaluated again.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> out = Path(tempfile.mkdtemp()) / "r.jsonl"
>>> writer = open_writer(out)
>>> writer.start(0)
0
>>> writer.write([{"position": 0, "input_hash": "ab", "settings": "s", "knowledge_version": "k",
...                "software_version": "v"}])
>>> writer.finish()
>>> [key.position for key in open_writer(out).existing()]
[0]
"""

from __future__ import annotations

import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.cohort.files import cohort_format, dumps, require_pyarrow
from cds.files import written_whole

#: Rows per Parquet part file (and row group of the joined file).
PART_ROWS = 10_000


@dataclass(frozen=True)
class RowKey:
    """What identifies a written row for resuming: position, input hash, settings, versions.

    Examples
    --------
    >>> RowKey.of({"position": 1, "input_hash": "h", "settings": "s", "knowledge_version": "k",
    ...            "software_version": "v"}).position
    1
    """

    position: int
    input_hash: str
    settings: str
    knowledge_version: str
    software_version: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> RowKey:
        """The key of a row (a dict with the row columns).

        Parameters
        ----------
        row
            A result row.

        Returns
        -------
        RowKey
            Its key.

        Examples
        --------
        >>> RowKey.of({"position": 0, "input_hash": "h", "settings": "s", "knowledge_version": "k",
        ...            "software_version": "v"}).input_hash
        'h'
        """
        return cls(int(row["position"]), str(row["input_hash"]), str(row["settings"]),
                   str(row["knowledge_version"]), str(row["software_version"]))


class ResultWriter(ABC):
    """Base of the two writers: read back what is there, keep a prefix, append, finish.

    Parameters
    ----------
    path
        The output file.

    Examples
    --------
    >>> import tempfile
    >>> open_writer(Path(tempfile.mkdtemp()) / "r.parquet").path.suffix
    '.parquet'
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @abstractmethod
    def existing(self) -> Iterator[RowKey]:
        """The keys of the rows already written, in order (nothing when there is no output yet).

        Yields
        ------
        RowKey
            One per complete row.

        Examples
        --------
        >>> import tempfile
        >>> list(open_writer(Path(tempfile.mkdtemp()) / "none.jsonl").existing())
        []
        """
        ...

    @abstractmethod
    def start(self, keep: int) -> int:
        """Keep the first ``keep`` rows written before (or fewer, see the writer) and get ready to append.

        Parameters
        ----------
        keep
            How many leading rows match the input.

        Returns
        -------
        int
            How many rows are kept: the run evaluates the records from there.

        Examples
        --------
        >>> import tempfile
        >>> open_writer(Path(tempfile.mkdtemp()) / "r.jsonl").start(0)
        0
        """
        ...

    @abstractmethod
    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append rows (in order) and flush them to disk.

        Parameters
        ----------
        rows
            Result rows (:mod:`cds.cohort.rows`).

        Examples
        --------
        >>> import tempfile
        >>> writer = open_writer(Path(tempfile.mkdtemp()) / "r.jsonl")
        >>> _ = writer.start(0)
        >>> writer.write([])
        >>> writer.finish()
        """
        ...

    @abstractmethod
    def finish(self) -> None:
        """Close the output; for Parquet, join the parts into the output file.

        Examples
        --------
        >>> import tempfile
        >>> writer = open_writer(Path(tempfile.mkdtemp()) / "r.jsonl")
        >>> _ = writer.start(0)
        >>> writer.finish()
        >>> writer.path.read_text()
        ''
        """
        ...

    @abstractmethod
    def close(self) -> None:
        """Stop without finishing (an interruption): what is written stays valid for a rerun.

        Examples
        --------
        >>> import tempfile
        >>> open_writer(Path(tempfile.mkdtemp()) / "r.jsonl").close()
        """


class JsonlWriter(ResultWriter):
    """Result rows as JSON Lines, appended chunk by chunk (see the module).

    Parameters
    ----------
    path
        The ``.jsonl`` output.

    Examples
    --------
    >>> import tempfile
    >>> JsonlWriter(Path(tempfile.mkdtemp()) / "r.jsonl").path.name
    'r.jsonl'
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._fd: int | None = None
        self._ends: list[int] = []

    def existing(self) -> Iterator[RowKey]:
        """The keys of the complete, readable rows at the head of the file (see :class:`ResultWriter`).

        Yields
        ------
        RowKey
            One per complete row; reading stops at a cut or unreadable line.

        Examples
        --------
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "r.jsonl"
        >>> _ = out.write_text('{"position": 0, "input_hash": "h", "settings": "s", "knowledge_version": "k", '
        ...                    '"software_version": "v"}\\n{"position": 1, "inp', encoding="utf-8")
        >>> [k.position for k in JsonlWriter(out).existing()]
        [0]
        """
        if not self.path.is_file():
            return
        offset = 0
        with self.path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    return
                try:
                    key = RowKey.of(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    return
                offset += len(line)
                self._ends.append(offset)
                yield key

    def start(self, keep: int) -> int:
        """Truncate after the first ``keep`` complete rows (all of them are kept) and open for appending.

        Parameters
        ----------
        keep
            How many leading rows match the input (at most as many as :meth:`existing` yielded).

        Returns
        -------
        int
            ``keep``.

        Examples
        --------
        >>> import tempfile
        >>> JsonlWriter(Path(tempfile.mkdtemp()) / "r.jsonl").start(0)
        0
        """
        end = self._ends[keep - 1] if keep > 0 else 0
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.ftruncate(self._fd, end)
        os.lseek(self._fd, end, os.SEEK_SET)
        self._ends = []
        return keep

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append whole lines in one write (see :class:`ResultWriter`).

        Parameters
        ----------
        rows
            Result rows.

        Examples
        --------
        >>> import tempfile
        >>> writer = JsonlWriter(Path(tempfile.mkdtemp()) / "r.jsonl")
        >>> _ = writer.start(0)
        >>> writer.write([{"position": 0}])
        >>> writer.finish(); writer.path.read_text()
        '{"position":0}\\n'
        """
        if not rows:
            return
        assert self._fd is not None, "start() first"
        data = "".join(dumps(row) + "\n" for row in rows).encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def finish(self) -> None:
        """Flush to disk and close (see :class:`ResultWriter`).

        Examples
        --------
        >>> import tempfile
        >>> JsonlWriter(Path(tempfile.mkdtemp()) / "r.jsonl").finish()
        """
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        """Close after an interruption (the lines written are whole).

        Examples
        --------
        >>> import tempfile
        >>> JsonlWriter(Path(tempfile.mkdtemp()) / "r.jsonl").close()
        """
        self.finish()


class ParquetWriter(ResultWriter):
    """Result rows as Parquet: part files while running, one file at the end (see the module).

    Parameters
    ----------
    path
        The ``.parquet`` output.

    Examples
    --------
    >>> import tempfile
    >>> ParquetWriter(Path(tempfile.mkdtemp()) / "r.parquet").parts.name
    'r.parquet.parts'
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.parts = path.with_name(path.name + ".parts")
        self._part_rows: list[int] = []
        self._buffer: list[dict[str, Any]] = []
        self._next_part = 0

    def _part_files(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet")) if self.parts.is_dir() else []

    def existing(self) -> Iterator[RowKey]:
        """The keys of the rows in the complete parts, or in the finished output (see :class:`ResultWriter`).

        Yields
        ------
        RowKey
            One per row, part after part.

        Examples
        --------
        >>> import tempfile
        >>> list(ParquetWriter(Path(tempfile.mkdtemp()) / "r.parquet").existing())
        []
        """
        require_pyarrow()
        import pyarrow.parquet as pq

        files = self._part_files()
        if not files and self.path.is_file():
            self.parts.mkdir(exist_ok=True)
            self.path.replace(self.parts / "part-000000.parquet")  # a move of the finished file, not a write
            files = self._part_files()
        columns = ["position", "input_hash", "settings", "knowledge_version", "software_version"]
        for file in files:
            try:
                table = pq.read_table(file, columns=columns)
            except Exception:  # a part cut short by the OS: not complete, not kept
                return
            self._part_rows.append(table.num_rows)
            for row in table.to_pylist():
                yield RowKey.of(row)

    def start(self, keep: int) -> int:
        """Keep the leading parts whose rows all match; remove the others.

        Parameters
        ----------
        keep
            How many leading rows match the input.

        Returns
        -------
        int
            The rows of the parts kept (``keep`` rounded down to a whole part).

        Examples
        --------
        >>> import tempfile
        >>> ParquetWriter(Path(tempfile.mkdtemp()) / "r.parquet").start(0)
        0
        """
        kept_rows = kept_parts = 0
        for rows in self._part_rows:
            if kept_rows + rows > keep:
                break
            kept_rows += rows
            kept_parts += 1
        for file in self._part_files()[kept_parts:]:
            file.unlink()
        self.parts.mkdir(parents=True, exist_ok=True)
        self._next_part = kept_parts
        return kept_rows

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Buffer rows; every :data:`PART_ROWS` rows become a part file (see :class:`ResultWriter`).

        Parameters
        ----------
        rows
            Result rows.

        Examples
        --------
        >>> import tempfile
        >>> writer = ParquetWriter(Path(tempfile.mkdtemp()) / "r.parquet")
        >>> _ = writer.start(0)
        >>> writer.write([])
        """
        self._buffer.extend(rows)
        while len(self._buffer) >= PART_ROWS:
            self._flush_part(self._buffer[:PART_ROWS])
            del self._buffer[:PART_ROWS]

    def _flush_part(self, rows: Sequence[dict[str, Any]]) -> None:
        pa = require_pyarrow()
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(list(rows), schema=result_schema())
        with written_whole(self.parts / f"part-{self._next_part:06d}.parquet") as tmp:
            pq.write_table(table, tmp)
        self._next_part += 1

    def finish(self) -> None:
        """Write the last part, then join the parts into the output file and remove them.

        Examples
        --------
        >>> import tempfile
        >>> writer = ParquetWriter(Path(tempfile.mkdtemp()) / "r.parquet")
        >>> _ = writer.start(0)
        >>> writer.finish()
        >>> writer.path.is_file(), writer.parts.exists()
        (True, False)
        """
        require_pyarrow()
        import pyarrow.parquet as pq

        if self._buffer:
            self._flush_part(self._buffer)
            self._buffer = []
        with written_whole(self.path) as tmp, pq.ParquetWriter(tmp, result_schema()) as out:
            for file in self._part_files():
                part = pq.ParquetFile(file)
                for group in range(part.num_row_groups):
                    out.write_table(part.read_row_group(group))
        shutil.rmtree(self.parts, ignore_errors=True)

    def close(self) -> None:
        """Keep the complete parts after an interruption (the buffered rows are redone by a rerun).

        Examples
        --------
        >>> import tempfile
        >>> ParquetWriter(Path(tempfile.mkdtemp()) / "r.parquet").close()
        """
        self._buffer = []


def result_schema() -> Any:
    """The Arrow schema of a result row (the columns of :data:`cds.cohort.rows.COLUMNS`).

    Returns
    -------
    pyarrow.Schema
        Lists of options as lists of structs ``{option, category, score}``; trials as ``{trial, verdict}``.

    Examples
    --------
    >>> result_schema().names[:4]
    ['position', 'source', 'id', 'input_hash']
    """
    pa = require_pyarrow()
    ranked = pa.list_(pa.struct([("option", pa.string()), ("category", pa.string()), ("score", pa.int64())]))
    strings = pa.list_(pa.string())
    return pa.schema([
        ("position", pa.int64()), ("source", pa.string()), ("id", pa.string()), ("input_hash", pa.string()),
        ("status", pa.string()), ("error", pa.string()), ("error_fields", strings), ("settings", pa.string()),
        ("knowledge_version", pa.string()), ("software_version", pa.string()), ("site", pa.string()),
        ("category", pa.string()), ("anti_tumour", ranked), ("antisecretory", ranked), ("excluded", strings),
        ("alerts", strings), ("missing_data", strings), ("scenarios", strings),
        ("follow_up_schedule", pa.string()), ("follow_up_msv", pa.float64()),
        ("trials", pa.list_(pa.struct([("trial", pa.string()), ("verdict", pa.string())]))),
    ])


def open_writer(path: Path) -> ResultWriter:
    """The writer for an output path, by its suffix.

    Parameters
    ----------
    path
        ``.jsonl`` / ``.ndjson`` or ``.parquet``.

    Returns
    -------
    ResultWriter
        :class:`JsonlWriter` or :class:`ParquetWriter`.

    Raises
    ------
    cds.cohort.files.CohortFileError
        Any other suffix.

    Examples
    --------
    >>> type(open_writer(Path("out.jsonl"))).__name__
    'JsonlWriter'
    """
    return ParquetWriter(path) if cohort_format(path) == "parquet" else JsonlWriter(path)
