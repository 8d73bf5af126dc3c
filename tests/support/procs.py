"""Processes under a process, read from Linux's /proc: for tests and benchmarks of worker pools.

A service's engine workers, a batch run's pool and a Dask cluster's workers are descendants of
the process that started them (through a fork server, for some): tests find them to kill one,
benchmarks to add up their CPU and memory. One reader of /proc serves them all.
"""

from __future__ import annotations

import os
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def parent_of(pid: int) -> int | None:
    """The parent's pid, or None when the process is gone.

    Examples
    --------
    >>> parent_of(os.getpid()) == os.getppid()
    True
    """
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (children, grandchildren ...), ``pid`` itself left out.

    Examples
    --------
    >>> import subprocess, sys
    >>> child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    >>> child.pid in descendants(os.getpid()), os.getpid() in descendants(os.getpid())
    (True, False)
    >>> child.kill(); _ = child.wait()
    """
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = parent_of(int(entry))
            if parent is not None:
                parents[int(entry)] = parent
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used, or None when it is gone.

    Examples
    --------
    >>> cpu_seconds(os.getpid()) >= 0
    True
    """
    fields = _stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and of each of its descendants now, by pid.

    Compare two readings pid by pid (:func:`cpu_since`): a process that ended between them takes
    its CPU with it, and a plain difference of totals would go negative.

    Examples
    --------
    >>> os.getpid() in tree_cpu(os.getpid())
    True
    """
    readings = {p: cpu_seconds(p) for p in {pid, *descendants(pid)}}
    return {p: seconds for p, seconds in readings.items() if seconds is not None}


def cpu_since(before: dict[int, float], pid: int) -> float:
    """CPU seconds the tree of ``pid`` used since ``before`` (:func:`tree_cpu`), process by process.

    Processes that ended meanwhile are left out (their share is lost, never subtracted); those
    started meanwhile count whole.

    Examples
    --------
    >>> start = tree_cpu(os.getpid())
    >>> _ = sum(range(200_000))
    >>> cpu_since(start, os.getpid()) >= 0
    True
    """
    return sum(seconds - before.get(p, 0.0) for p, seconds in tree_cpu(pid).items())
