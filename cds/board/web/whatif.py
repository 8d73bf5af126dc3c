"""What if: the ranking of a changed patient beside the current one, and what moved and why.

Both rankings come from the report service (two :class:`cds.report.Report`); this module only
compares them: for each option whose rank or category changed, or that entered or left the
ranking, the rules whose arguments now apply or no longer apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cds.model.recommendation import TRACKS, RankedOption
from cds.render.i18n import labels
from cds.render.views import TrackView, view_of

if TYPE_CHECKING:
    from cds.report import Report


@dataclass(frozen=True)
class Move:
    """One option that moved: the sentence saying how, and the arguments that explain it."""

    option: str
    text: str
    because: list[str]


@dataclass(frozen=True)
class WhatIfView:
    """The current and the changed rankings, track by track, and what moved."""

    before: list[TrackView]
    after: list[TrackView]
    moves: list[Move]


def _ranked(report: Report, track: str) -> dict[str, RankedOption]:
    rec = report.recommendation
    return {o.option: o for o in (rec.anti_tumour if track == "anti_tumour" else rec.antisecretory)}


def whatif_view(before: Report, after: Report) -> WhatIfView:
    """Compare the current evaluation with that of the changed patient.

    Parameters
    ----------
    before
        The current report.
    after
        The report of the changed patient (same language).

    Returns
    -------
    WhatIfView
        Both rankings and every move with its reasons.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> engine = default_engine()
    >>> base = '"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, "differentiation": "well"}'
    >>> now = build_report(engine, parse_patient('{' + base + ', "disease": {"stage": "localized"}}'))
    >>> fit = build_report(engine, parse_patient('{"fit_for_major_surgery": false, ' + base
    ...                    + ', "disease": {"stage": "localized"}}'))
    >>> w = whatif_view(now, now)
    >>> w.moves
    []
    >>> any(m.option == "surgery_curative" for m in whatif_view(now, fit).moves)
    True
    """
    lab = labels(after.lang, after.kb)
    t = lab.t
    moves: list[Move] = []
    for track in TRACKS:
        old, new = _ranked(before, track), _ranked(after, track)
        for option in dict.fromkeys([*old, *new]):
            a, b = old.get(option), new.get(option)
            label = (b or a).label if (b or a) is not None else option  # type: ignore[union-attr]
            if a is not None and b is None:
                text = lab.fmt("board_whatif_gone", option=label)
            elif a is None and b is not None:
                text = lab.fmt("board_whatif_new", option=label, after=t.get(b.category, b.category))
            elif a is not None and b is not None and a.category != b.category:
                text = lab.fmt("board_whatif_category", option=label, before=t.get(a.category, a.category),
                               after=t.get(b.category, b.category))
            elif a is not None and b is not None and a.rank != b.rank:
                text = lab.fmt("board_whatif_rank", option=label, before=a.rank, after=b.rank)
            else:
                continue
            was = {x.rule: x.text for x in (a.arguments if a else [])}
            now = {x.rule: x.text for x in (b.arguments if b else [])}
            because = [f"{now[r]} ({t['board_whatif_because_added']})" for r in now if r not in was]
            because += [f"{was[r]} ({t['board_whatif_because_removed']})" for r in was if r not in now]
            moves.append(Move(option, text, because))
    return WhatIfView(view_of(before, board=False).tracks, view_of(after, board=False).tracks, moves)


__all__ = ["Move", "WhatIfView", "whatif_view"]
