"""What the case screen shows when it is projected to the board, computed before any template runs.

The first screen (1920 x 1080) holds one synopsis line, the leading options of both tracks
(category, score, the argument that weighs most) and the critical alerts; everything else
(every argument with its sources, why not, excluded options, missing data, scenarios, the
pathway picture, the follow-up plan) is one click away. Every value is read from the one
evaluation of the case, :func:`cds.report.build_report`, through the report's views
(:func:`cds.render.views.view_of`): the board has no second evaluation path, and its
templates only lay out what is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cds.model.recommendation import Argument, RankedOption
from cds.render.i18n import Labels, labels
from cds.render.synopsis import synopsis as render_synopsis
from cds.render.views import AlertView, ArgumentView, ReportView, argument_view, view_of

if TYPE_CHECKING:
    from cds.report import Report

#: How many options of each track the first screen shows.
TOP_OPTIONS = 3


@dataclass(frozen=True)
class TopOption:
    """One leading option on the first screen: rank, label, category, score, safety ceiling and
    the argument that weighs most for it (None when it has none)."""

    rank: int
    option: str
    label: str
    category: str
    category_text: str
    score: int
    lead: ArgumentView | None
    safety_level: str | None = None
    safety_text: str = ""


@dataclass(frozen=True)
class TopTrack:
    """The leading options of one track (anti-tumour, antisecretory) under its title."""

    id: str
    title: str
    options: list[TopOption]
    more: int  # how many ranked options are not on the first screen


@dataclass(frozen=True)
class CaseScreen:
    """The case screen: the first screen, and the full report view for what is one click away.

    ``report`` is the tumour-board view of the evaluation without pictures (the pathway
    picture is drawn on demand); The input hash a decision names is the stored case version's
    (:func:`cds.board.store.canonical_patient`), shown by the page.
    """

    lang: str
    synopsis: list[str]
    tracks: list[TopTrack]
    critical: list[AlertView]
    other_alerts: int
    report: ReportView
    knowledge_version: str
    software_version: str | None
    missing: int = 0
    excluded: int = 0


def synopsis(report: Report) -> list[str]:
    """The case in one line, as the static report opens (:func:`cds.render.synopsis.synopsis`), in parts.

    One synopsis for the board and the reports: age, sex, site, stage, grade and Ki-67,
    differentiation, SSTR imaging, disease status and the comorbidities that set a safety level;
    what the input does not state is shown as not stated, never guessed.

    Parameters
    ----------
    report
        The case's evaluation.

    Returns
    -------
    list[str]
        The parts of the line, in that order.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> patient = parse_patient('{"age": 64, "sex": "F", "tumour": {"primary_site": "pancreas", "ki67_percent": 12}}')
    >>> synopsis(build_report(default_engine(), patient, "fr"))[:4]
    ['64 ans', 'femme', 'pancréas', 'Stade : non renseigné']
    """
    return [item.text for item in render_synopsis(report.patient, report.recommendation, report.kb).items]


def leading_argument(option: RankedOption) -> int | None:
    """The index of the argument that weighs most for an option: the strongest efficacy
    argument for it (the first of equals), else its first argument, else None.

    Parameters
    ----------
    option
        A ranked option.

    Returns
    -------
    int or None
        An index into ``option.arguments``.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> top = default_engine().evaluate(patient, surveillance=False).anti_tumour[0]
    >>> top.arguments[leading_argument(top)].rule
    'pnet.nf_small.propose_watchful_waiting'
    """
    best: tuple[int, int] | None = None
    for i, arg in enumerate(option.arguments):
        if _weighs_for(arg) and (best is None or arg.strength > best[0]):
            best = (arg.strength, i)
    if best is not None:
        return best[1]
    return 0 if option.arguments else None


def _weighs_for(arg: Argument) -> bool:
    return arg.direction == "for" and arg.kind != "safety"


def _top_option(o: RankedOption, lab: Labels) -> TopOption:
    lead = leading_argument(o)
    return TopOption(
        rank=o.rank, option=o.option, label=o.label, category=o.category,
        category_text=lab.t.get(o.category, o.category), score=o.score,
        lead=argument_view(o.arguments[lead], lab) if lead is not None else None,
        safety_level=o.safety_level,
        safety_text=lab.t[f"safety_{o.safety_level}"] if o.safety_level else "",
    )


def case_screen(report: Report, top: int = TOP_OPTIONS) -> CaseScreen:
    """The case screen of one evaluation.

    Parameters
    ----------
    report
        The case's evaluation (:func:`cds.report.build_report`).
    top
        How many options of each track the first screen shows.

    Returns
    -------
    CaseScreen
        The first screen and the tumour-board view (without pictures) for the rest.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> screen = case_screen(build_report(default_engine(), patient, "en"))
    >>> [(o.label, o.category_text, o.score) for o in screen.tracks[0].options][0]
    ('Watchful waiting (active surveillance)', 'recommended', 5)
    >>> screen.tracks[0].options[0].lead.rule, screen.critical
    ('pnet.nf_small.propose_watchful_waiting', [])
    """
    lab = labels(report.lang, report.kb)
    rec = report.recommendation
    view = view_of(report, board=True, pictures=False)
    tracks = []
    for tv in view.tracks:
        ranked = rec.anti_tumour if tv.id == "anti_tumour" else rec.antisecretory
        tracks.append(TopTrack(tv.id, tv.title, [_top_option(o, lab) for o in ranked[:top]],
                               max(0, len(ranked) - top)))
    critical = [a for a in view.alerts if a.severity == "critical"]
    return CaseScreen(
        lang=report.lang,
        synopsis=synopsis(report),
        tracks=tracks,
        critical=critical,
        other_alerts=len(view.alerts) - len(critical),
        report=view,
        knowledge_version=rec.knowledge_version,
        software_version=rec.software_version,
        missing=len(view.missing),
        excluded=len(view.excluded),
    )


__all__ = ["CaseScreen", "TopOption", "TopTrack", "case_screen", "leading_argument", "synopsis"]
