"""One "did you mean" for every name a person can mistype.

Option ids on the command line, enum values in a patient file, field paths in
a knowledge condition, pathway ids, setting names: each unknown name is
answered the same way, by :func:`closest` with one cutoff (:data:`CUTOFF`).
The comparison ignores case, so ``PRRT`` finds ``prrt``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: How alike two names must be (difflib ratio, 0-1) to be suggested.
CUTOFF = 0.6


def closest(name: str, known: Iterable[str], n: int = 1) -> list[str]:
    """The ``n`` known names closest to ``name`` (best first), ignoring case.

    Parameters
    ----------
    name
        What the person typed.
    known
        The allowed names, in their own spelling.
    n
        How many suggestions at most.

    Returns
    -------
    list[str]
        Known names as spelled in ``known``; empty when nothing is close enough.

    Examples
    --------
    >>> closest("PRRT", ["prrt", "ssa", "everolimus"])
    ['prrt']
    >>> closest("pancrease", ["pancreas", "stomach"])
    ['pancreas']
    >>> closest("xyz", ["pancreas"])
    []
    """
    by_lower: dict[str, str] = {}
    for item in known:
        by_lower.setdefault(item.lower(), item)
    # A name over three times as long as every known one cannot reach the cutoff: not compared
    # (difflib would take half a second on a 5 MB name pasted by mistake).
    if not by_lower or len(name) > 3 * max(len(k) for k in by_lower):
        return []
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=CUTOFF)
    return [by_lower[m] for m in matches]


def did_you_mean(name: str, known: Iterable[str], n: int = 1) -> str:
    """``; did you mean 'x'?`` (or ``'x', 'y'``) for the closest known names, else ``""``.

    Written to be appended to a message about an unknown name, so that every such message
    suggests the same way.

    Parameters
    ----------
    name
        What the person typed.
    known
        The allowed names, in their own spelling.
    n
        How many suggestions at most.

    Returns
    -------
    str
        The suffix, or ``""`` when nothing is close enough (see :func:`closest`).

    Examples
    --------
    >>> did_you_mean("everolimu", ["everolimus", "sunitinib"])
    "; did you mean 'everolimus'?"
    >>> did_you_mean("zzz", ["everolimus"])
    ''
    """
    close = closest(name, known, n)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
