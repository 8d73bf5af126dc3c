"""The clinical-trials section of every report, and ``cds trials`` as text.

The view (:func:`trial_views`) is computed here once, in the report language, from the
recommendation's ``trials`` alone (no knowledge needed); the Markdown and HTML templates lay it
out, and :func:`trial_renderables` lays it out for the terminal. Every trial shows the date its
status was read from the registry: a status is not knowledge that stays true.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cds.model.recommendation import TrialMatch
from cds.render.i18n import Labels

#: The style of each verdict in the terminal.
VERDICT_STYLE = {"eligible": "green", "potentially_eligible": "yellow", "ineligible": "dim"}


@dataclass(frozen=True)
class TrialCriterionView:
    """One criterion as a report shows it: its text and, for an undecided one, the data that would decide.

    Examples
    --------
    >>> TrialCriterionView("ecog", "inclusion", "ECOG 0-1", ["ECOG performance status"]).lead
    ''
    """

    id: str
    kind: str
    text: str
    fields: list[str] = field(default_factory=list)
    lead: str = ""  # a failed criterion: "Not met" (inclusion) or "Exclusion criterion present"


@dataclass(frozen=True)
class TrialView:
    """One trial as a report shows it (every word in the report language, except the registered texts).

    Built by :func:`trial_views`.

    Examples
    --------
    >>> m = TrialMatch(id="t", acronym="T-1", title="T", phase="2", status="completed",
    ...                status_checked_on="2026-12-07", verdict="eligible")
    >>> trial_views([m], Labels("en"))[0].status_text
    'completed'
    """

    id: str
    acronym: str
    registry: str
    title: str
    phase: str
    status: str
    status_text: str
    checked_on: str
    checked_text: str
    open: bool
    verdict: str
    verdict_text: str
    link: str | None
    french_centres: list[str]
    failed: list[TrialCriterionView]
    unknown: list[TrialCriterionView]
    to_check: list[TrialCriterionView]


def trial_views(trials: Sequence[TrialMatch], lab: Labels) -> list[TrialView]:
    """The trials of a recommendation as the reports show them, in the recommendation's order.

    Parameters
    ----------
    trials
        ``Recommendation.trials``.
    lab
        The words of the report language.

    Returns
    -------
    list of TrialView
        One per trial.

    Examples
    --------
    >>> from cds.model.recommendation import TrialCriterion
    >>> m = TrialMatch(id="t", acronym="T-1", nct="NCT00000001", title="T", phase="2", status="recruiting",
    ...                status_checked_on="2026-12-07", open=True, verdict="potentially_eligible",
    ...                unknown=[TrialCriterion(id="ecog", kind="inclusion", text="ECOG 0-1", fields=["ecog"])])
    >>> (view,) = trial_views([m], Labels("fr"))
    >>> view.verdict_text, view.status_text, view.checked_text, view.unknown[0].fields
    ('potentiellement éligible', 'inclusions en cours', 'vérifié le 2026-12-07', ['État général ECOG'])
    """
    t = lab.t
    out = []
    for m in trials:
        out.append(TrialView(
            id=m.id, acronym=m.acronym, registry=" · ".join(x for x in (m.nct, m.eu_ct) if x), title=m.title,
            phase=t["trial_phase"].format(phase=m.phase), status=m.status,
            status_text=t.get(f"trial_status_{m.status}", m.status), checked_on=m.status_checked_on,
            checked_text=t["trial_checked_on"].format(date=m.status_checked_on), open=m.open, verdict=m.verdict,
            verdict_text=t[f"trial_{m.verdict}"], link=m.link, french_centres=list(m.french_centres),
            failed=[TrialCriterionView(c.id, c.kind, c.text,
                                       lead=failed_word(TrialCriterionView(c.id, c.kind, c.text), t))
                    for c in m.failed],
            unknown=[TrialCriterionView(c.id, c.kind, c.text, [lab.field(f) for f in c.fields]) for c in m.unknown],
            to_check=[TrialCriterionView(c.id, c.kind, c.text) for c in m.to_check],
        ))
    return out


def failed_word(criterion: TrialCriterionView, t: dict[str, str]) -> str:
    """How a failed criterion is introduced: an inclusion criterion is not met, an exclusion criterion applies.

    Parameters
    ----------
    criterion
        A failed criterion.
    t
        The words of the report language.

    Returns
    -------
    str
        ``Not met`` or ``Exclusion criterion present`` (in the report language).

    Examples
    --------
    >>> failed_word(TrialCriterionView("a", "exclusion", "Prior PRRT"), Labels("fr").t)
    "Critère d'exclusion présent"
    """
    return t["trial_failed"] if criterion.kind == "inclusion" else t["trial_excluded_by"]


def trial_renderables(views: Sequence[TrialView], t: dict[str, str]) -> list[RenderableType]:
    """The clinical-trials section for the terminal: the reminder that statuses change, then one row per trial.

    Parameters
    ----------
    views
        :func:`trial_views` of the recommendation.
    t
        The words of the report language.

    Returns
    -------
    list of rich renderables
        The heading, the reminder and a table (or "no trial in the catalogue").

    Examples
    --------
    >>> from cds.render.i18n import Labels
    >>> items = trial_renderables([], Labels("en").t)
    >>> items[0].plain.strip(), items[-1].plain
    ('Clinical trials', 'No trial in the catalogue.')
    """
    out: list[RenderableType] = [Text("\n" + t["trials_section"], style="bold underline"),
                                 Text(t["trials_intro"], style="dim")]
    if not views:
        out.append(Text(t["trials_none"], style="dim"))
        return out
    table = Table(box=box.SIMPLE_HEAD, expand=True)
    table.add_column(t["trials_section"], ratio=1)
    table.add_column(t["reasons"], ratio=1)
    for i, v in enumerate(views):
        style = VERDICT_STYLE.get(v.verdict, "")
        head = Group(
            Text.assemble((v.acronym, "bold"), f"  {v.registry}"),
            Text(v.verdict_text.upper(), style=style),
            Text(f"{v.status_text} ({v.checked_text}) · {v.phase}", style="" if v.open else "dim"),
        )
        lines: list[RenderableType] = []
        lines += [Text(f"✗ {c.lead}{t['colon']} {c.text}", style="red") for c in v.failed]
        lines += [Text(f"? {c.text} — {', '.join(c.fields)} {t['trial_would_decide']}", style="yellow")
                  for c in v.unknown]
        lines += [Text(f"· {t['trial_to_check']}{t['colon']} {c.text}", style="dim") for c in v.to_check]
        table.add_row(head, Group(*lines) if lines else Text(""), end_section=i < len(views) - 1)
    out.append(table)
    return out
