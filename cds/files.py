"""Write an output file whole, or not at all: the one place netcds writes files.

A regular file (or a new one) is written to a temporary file in the same folder, flushed
to disk, then renamed over the target, so that a reader never sees half a report and a
failure leaves the previous file as it was. The new file keeps the old one's permission
bits (and, when allowed, its owner); a symbolic link is followed, so the link stays and
the file it points to is replaced.

Anything else at the path (a character device such as ``/dev/null``, a FIFO, a socket) is
written directly: renaming over it would replace the device with a regular file when run
as root, and fail for everyone else (who cannot create files in ``/dev``). Writing to a
FIFO waits for its reader.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path


def write_file(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` (text is encoded as UTF-8) to ``path``, whole or not at all.

    Parameters
    ----------
    path
        The file to write; ``~`` is expanded. A regular file is replaced atomically;
        a device, FIFO or socket is written directly.
    data
        The content.

    Raises
    ------
    OSError
        The file cannot be written (missing folder, no permission, a directory at ``path``...);
        no temporary file is left behind.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_file(folder / "report.txt", "Ki-67 5 %\\n")
    >>> (folder / "report.txt").read_text(encoding="utf-8")
    'Ki-67 5 %\\n'
    >>> write_file(os.devnull, "discarded")
    >>> stat.S_ISCHR(os.stat(os.devnull).st_mode)
    True
    """
    target = Path(path).expanduser()
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        existing: os.stat_result | None = os.stat(target)  # follows a symbolic link
    except FileNotFoundError:
        existing = None
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        with open(target, "wb") as fh:
            fh.write(payload)
        return
    final = Path(os.path.realpath(target)) if existing is not None else target
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies, as for a new file
    try:
        with os.fdopen(fd, "wb") as fh:
            if existing is not None:
                os.chmod(fh.fileno(), stat.S_IMODE(existing.st_mode))
                if (existing.st_uid, existing.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(PermissionError):
                        os.chown(fh.fileno(), existing.st_uid, existing.st_gid)
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def written_whole(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path to write ``path``'s content to (streamed, by any library); renamed over it on success.

    For outputs too large to hold in memory (a cohort's results, a Parquet file written by
    pyarrow): the caller writes the temporary file its own way; when the block ends without an
    exception it is flushed to disk and renamed over ``path``, otherwise it is removed and
    ``path`` is left as it was. Regular files only (see :func:`write_file` for devices).

    Parameters
    ----------
    path
        The file to produce.

    Yields
    ------
    Path
        Where to write, in the same folder (so the rename is atomic).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "rows.jsonl"
    >>> with written_whole(target) as tmp:
    ...     _ = tmp.write_text('{"position": 0}\\n', encoding="utf-8")
    >>> target.read_text(encoding="utf-8")
    '{"position": 0}\\n'
    >>> try:
    ...     with written_whole(target) as tmp:
    ...         _ = tmp.write_text("half", encoding="utf-8")
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> target.read_text(encoding="utf-8"), sorted(p.name for p in target.parent.iterdir())
    ('{"position": 0}\\n', ['rows.jsonl'])
    """
    final = Path(path).expanduser()
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


__all__ = ["write_file", "written_whole"]
