"""Report views: every value a report shows, computed and in the report language.

The Rich tables (:mod:`cds.render.text`) and the Jinja2 templates
(:mod:`cds.render.markdown`, :mod:`cds.render.html`, ``renderers/markdown/*.j2``,
``renderers/html/*.j2``) only lay out a :class:`ReportView`. Every word comes
from ``renderers/i18n.yaml`` (:mod:`cds.render.i18n`) in the report language
(``rec.language``); the texts from the knowledge (rule reasons, option, alert
and evidence labels) are already in that language.

A view of the recommendation alone (:func:`report_view` without a
:class:`ReportContext`) shows alerts, missing data, the ranked and excluded
options and the disclaimer. The tumour-board report adds, from the
:class:`ReportContext` of a :class:`cds.report.Report` (:func:`board_context`),
the patient summary, the why-not explanations, the pathway pictures, the
labels of the knowledge (source short names, evidence kinds, alert labels)
and the references.

Every report opens the same way (what a tumour board needs on its first screen):
the one-line :class:`Synopsis` of the case (:func:`synopsis`), the top options of
both tracks (:attr:`ReportView.top`: category, score, leading argument, safety
flag), then the critical alerts; the details follow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cds.model.recommendation import TRACKS, Argument, RankedOption, Recommendation, disclaimer_in
from cds.render.i18n import Labels, labels
from cds.render.synopsis import Synopsis, SynopsisItem, synopsis
from cds.render.trials import TrialView, trial_views
from cds.render.why_not import WhyNotView, why_not_view

if TYPE_CHECKING:
    from cds.explain import Explanation
    from cds.knowledge.loader import KnowledgeBase
    from cds.model.patient import Patient
    from cds.render.pictures import Figure, PathwayPicture
    from cds.report import Report


__all__ = ["Synopsis", "SynopsisItem", "synopsis"]  # re-exported: the case screen takes them from here too

#: Derived facts shown first in the classification, in this order.
_DERIVED_FIRST = ("category", "grade", "grade_by_ki67", "grade_by_mitoses")


def ui(lang: str) -> dict[str, str]:
    """The fixed words of one report language (``ui`` of ``renderers/i18n.yaml``).

    Parameters
    ----------
    lang
        The report language (English for any but ``fr``).

    Returns
    -------
    dict[str, str]
        Every ``ui`` entry in that language: what the templates receive as ``t``.

    Examples
    --------
    >>> ui("fr")["alerts"], ui("en")["missing_data"]
    ('Alertes', 'Missing data')
    """
    return labels(lang).t


def disclaimer(rec: Recommendation) -> str:
    """The recommendation's disclaimer, in French when the report is French.

    The texts are :data:`cds.model.recommendation.DISCLAIMERS`, the ones the engine puts in
    the JSON output; a site's own disclaimer is shown as it is.

    Parameters
    ----------
    rec
        The recommendation (its ``disclaimer`` and ``language``).

    Returns
    -------
    str
        The disclaimer to print.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> disclaimer(default_engine().evaluate(patient, "fr", surveillance=False))[:40]
    'netcds aide la décision de la réunion de'
    """
    return disclaimer_in(rec.disclaimer, rec.language)


def direction_symbol(arg: Argument) -> str:
    """``+3`` for an argument for, ``-1`` against, ``x`` for an exclusion, ``!`` for a safety ceiling.

    Safety arguments do not weigh in the score, so they carry no number: ``!!`` avoid, ``!`` caution.

    Parameters
    ----------
    arg
        An argument of a ranked or excluded option.

    Returns
    -------
    str
        The symbol shown before the argument.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> surgery = default_engine().evaluate(patient, surveillance=False).anti_tumour[2]
    >>> [(a.rule, direction_symbol(a)) for a in surgery.arguments]
    [('pnet.nf_small.propose_surgery', '+2'), ('safety.major_surgery.unfit', '!!')]
    """
    if arg.kind == "safety" and arg.safety_level in ("avoid", "caution"):
        return "!!" if arg.safety_level == "avoid" else "!"
    if arg.direction == "for":
        return f"+{arg.strength}"
    if arg.direction == "against":
        return f"-{arg.strength}"
    return "x"


def evidence_text(arg: Argument) -> str:
    """The evidence of an argument by id: its kind, then its level in brackets when it has one.

    What a report shows when it has no knowledge base for the labels (see
    :meth:`cds.render.i18n.Labels.evidence` for the labelled form).

    Parameters
    ----------
    arg
        An argument of a ranked or excluded option.

    Returns
    -------
    str
        E.g. ``guideline_consensus`` or ``rct_phase3 (I)``.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> arg = default_engine().evaluate(patient, surveillance=False).anti_tumour[0].arguments[0]
    >>> evidence_text(arg)
    'guideline_consensus'
    >>> evidence_text(arg.model_copy(update={"evidence": arg.evidence.model_copy(update={"level": "IV"})}))
    'guideline_consensus (IV)'
    """
    ev = arg.evidence
    return f"{ev.kind} ({ev.level})" if ev.level else ev.kind


# ------------------------------------------------------------------ context


@dataclass(frozen=True)
class ReportContext:
    """What the tumour-board report needs besides the recommendation.

    ``pictures`` maps each pathway the patient entered to its pictures (the patient's
    route and the full pathway, :class:`cds.render.pictures.PathwayPicture`), or to
    None when they could not be drawn; ``pictures=None`` leaves the pictures out
    on purpose (golden files, Markdown).

    Examples
    --------
    With the knowledge base alone, a view shows labels (alerts, sources, evidence) instead of ids:

    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> engine = default_engine()
    >>> rec = engine.evaluate(patient, surveillance=False)
    >>> labelled = report_view(rec, ReportContext(kb=engine.kb))
    >>> report_view(rec).alerts[0].sources_short[0], labelled.alerts[0].sources_short[0]
    ('enets_2023_nf_pnet', 'ENETS 2023 NF-pNET')
    """

    kb: KnowledgeBase | None = None
    patient: Patient | None = None
    explanations: Sequence[Explanation] | None = None
    pictures: Mapping[str, PathwayPicture | None] | None = None
    timeline: str | None = None  # the follow-up timeline (inline SVG), shown with the pictures


def board_context(report: Report, *, pictures: bool = True) -> ReportContext:
    """The context of the full tumour-board report (patient, why-not, pictures when asked).

    Parameters
    ----------
    report
        The patient's report (:func:`cds.report.build_report`).
    pictures
        ``False`` leaves the pathway pictures and the follow-up timeline out (nothing is drawn).

    Returns
    -------
    ReportContext
        The knowledge base, the patient and every why-not explanation of ``report``, with
        its pictures and timeline when asked.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> from cds.report import build_report
    >>> ctx = board_context(build_report(default_engine(), patient), pictures=False)
    >>> [x.option for x in ctx.explanations], ctx.pictures, ctx.timeline
    (['ablation', 'surgery_curative'], None, None)
    """
    return ReportContext(
        kb=report.kb, patient=report.patient, explanations=report.explanations,
        pictures=report.pictures if pictures else None,
        timeline=report.timeline if pictures else None,
    )


def view_of(source: Report | Recommendation, *, board: bool, pictures: bool = True) -> ReportView:
    """The view of a report (``board``: the tumour-board report) or of a bare recommendation.

    Parameters
    ----------
    source
        The patient's report, or a recommendation alone (e.g. read back from JSON).
    board
        For a report: the full tumour-board report (patient summary, why-not, pathways,
        references, follow-up); otherwise the synopsis, options, alerts and missing data,
        with the labels of the knowledge.
    pictures
        For the tumour-board report: draw the pathway pictures and the timeline.

    Returns
    -------
    ReportView
        Every value the report shows, in the report language. A bare recommendation gives
        ids where a report gives labels, and no tumour-board sections.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> from cds.report import build_report
    >>> report = build_report(default_engine(), patient, "fr")
    >>> board = view_of(report, board=True, pictures=False)
    >>> board.category, [w.option for w in board.why_not], board.pathway_views[0].note
    ('TNE G1', ['ablation', 'surgery_curative'], 'Schéma du parcours non inclus dans ce compte rendu.')
    >>> bare = view_of(report.recommendation, board=True)
    >>> bare.category, bare.why_not, bare.pathways
    ('net_g1', None, ['fitness', 'pnet_well_differentiated'])
    """
    if isinstance(source, Recommendation):
        return report_view(source)
    if board:
        return report_view(source.recommendation, board_context(source, pictures=pictures))
    return report_view(source.recommendation, ReportContext(kb=source.kb, patient=source.patient))


# ------------------------------------------------------------------ views


@dataclass(frozen=True)
class ArgumentView:
    """One argument for or against an option (or a reason for an exclusion), for the reports:
    its symbol (:func:`direction_symbol`), the rule's reason, the rule id and sources (with
    their short names), the evidence (with its label), whether it is unconfirmed, and the
    safety ceiling it sets. Built by :func:`argument_view`."""

    symbol: str
    direction: str
    text: str
    rule: str
    sources: list[str]
    evidence: str
    unconfirmed: bool
    direction_text: str = ""
    sources_short: list[str] = field(default_factory=list)
    evidence_label: str = ""
    kind: str = "efficacy"
    safety_level: str | None = None


@dataclass(frozen=True)
class OptionView:
    """One ranked option, for the reports: rank, label, category and score, the data it is
    conditional on (ids and labels), its arguments, and its safety ceiling in words.
    Built by :func:`option_view`."""

    rank: int
    option: str
    label: str
    category: str
    category_text: str
    score: int
    conditional_on: list[str]
    arguments: list[ArgumentView]
    conditional_labels: list[str] = field(default_factory=list)
    safety_level: str | None = None  # avoid | caution: the ceiling, shown beside the category
    safety_text: str = ""


@dataclass(frozen=True)
class TrackView:
    """The ranked options of one track (anti-tumour or antisecretory) under its heading,
    for the reports."""

    id: str
    title: str
    options: list[OptionView]


@dataclass(frozen=True)
class TopOptionView:
    """The head of one track, for the first screen of a report: the option ranked first (None
    when the track proposes nothing), the argument that leads it (its strongest argument for),
    the safety argument behind its flag when it has one, and the next options (ranks 2 and 3).
    Built by :func:`top_options`.

    Examples
    --------
    >>> TopOptionView("antisecretory", "Antisecretory treatment", None).next   # nothing proposed
    []
    """

    track: str
    title: str
    option: OptionView | None
    leading: ArgumentView | None = None
    safety: ArgumentView | None = None
    next: list[OptionView] = field(default_factory=list)


@dataclass(frozen=True)
class ExcludedView:
    """An option excluded by a contraindication, for the reports: its label, the track (in
    words) and the reasons, each an :class:`ArgumentView`."""

    option: str
    label: str
    track: str
    reasons: list[ArgumentView]


@dataclass(frozen=True)
class ScenarioView:
    """The ranking under one hypothesis of a missing datum, for the reports: the hypothesis
    in words, the category it gives, the ranked tracks and the labels of the excluded options."""

    id: str
    assumption: str
    category: str
    tracks: list[TrackView]
    excluded: list[str]


@dataclass(frozen=True)
class AssumptionView:
    """A definition the classification applied (e.g. G2 read as well differentiated), for the
    reports: the field's label, the value assumed in words, why, and the rule."""

    field: str
    value: str
    why: str
    rule: str


@dataclass(frozen=True)
class AlertView:
    """One alert: its title and action (one text per alert id), and why it was raised.

    ``text`` (the rule's reason) is empty when an alert above, raised by the same
    rule, already gave it. A view record built by :func:`report_view`.
    """

    id: str
    severity: str
    severity_text: str
    text: str
    rule: str
    sources: list[str]
    label: str = ""
    sources_short: list[str] = field(default_factory=list)
    action: str = ""


@dataclass(frozen=True)
class MissingView:
    """A datum to ask for; ``action`` holds what the alert raised for it says to do.

    ``field`` is the context path and ``label`` its name in the report language; ``why``
    and ``rule`` say which rule asked for it. A view record built by :func:`report_view`.
    """

    field: str
    why: str
    rule: str
    label: str = ""
    action: str = ""


@dataclass(frozen=True)
class RowView:
    """One labelled value of the patient summary or the classification, for the reports;
    ``code`` keeps the raw id beside a translated value."""

    label: str
    value: str
    code: str | None = None  # the raw id, shown next to a translated value


@dataclass(frozen=True)
class SectionView:
    """One section of the patient summary (general, tumour, disease ...) and its rows."""

    title: str
    rows: list[RowView]


@dataclass(frozen=True)
class PathwayView:
    """A pathway the patient entered, for the tumour-board report: its title, the steps
    reached (labels), the pictures (the route as a figure, the full pathway as inline SVG)
    or a note saying why there are none."""

    id: str
    title: str
    steps: list[str]
    figure: Figure | None = None
    full: Any = None  # markupsafe.Markup of the full picture's inline SVG, or None
    note: str | None = None


@dataclass(frozen=True)
class ReferenceView:
    """A source cited in the report: its short name, full citation and link (DOI, PubMed or
    URL), in the order first cited."""

    id: str
    short: str
    citation: str
    link: str | None


@dataclass(frozen=True)
class ReportView:
    """Everything a report shows, already computed and in the report language.

    What the Rich tables and the templates lay out, and nothing else: every word is
    from the catalogue (``t``) or the knowledge. The tumour-board fields (patient summary,
    why-not, pathways, follow-up) are filled only from a :class:`ReportContext`.
    Built by :func:`report_view` (or :func:`view_of`).
    """

    lang: str
    t: dict[str, str]
    patient_id: str | None
    as_of: str | None
    grade: str
    category: str
    pathways: list[str]
    knowledge_version: str
    software_version: str | None  # None for a recommendation from before netcds recorded it
    alerts: list[AlertView]
    missing: list[MissingView]
    tracks: list[TrackView]
    excluded: list[ExcludedView]
    disclaimer: str
    # The tumour-board report (with a ReportContext); empty or None otherwise.
    grade_code: str | None = None
    category_code: str | None = None
    classification: list[RowView] = field(default_factory=list)
    patient: list[SectionView] | None = None
    why_not: list[WhyNotView] | None = None
    pathway_views: list[PathwayView] | None = None
    references: list[ReferenceView] = field(default_factory=list)
    surveillance: SurveillanceView | None = None
    scenarios: list[ScenarioView] = field(default_factory=list)
    assumptions: list[AssumptionView] = field(default_factory=list)
    # The first screen: the case in one line (with a patient), the head of both tracks.
    synopsis: Synopsis | None = None
    top: list[TopOptionView] = field(default_factory=list)
    # The clinical trials (Recommendation.trials), with the date each status was checked.
    trials: list[TrialView] = field(default_factory=list)

    @property
    def critical_alerts(self) -> list[AlertView]:
        """The critical alerts, shown on the first screen under the top options."""
        return [a for a in self.alerts if a.severity == "critical"]


@dataclass(frozen=True)
class SurveillancePlanView:
    """One follow-up plan (guideline default, or low-radiation), for the reports: its label,
    whether it is the one recommended, its number of exams and its radiation dose (mSv)."""

    label: str
    recommended: bool
    exams: int
    cumulative_msv: float
    total_msv: float


@dataclass(frozen=True)
class SurveillanceView:
    """The follow-up section of the tumour-board report: the schedule and why, its plans,
    why one is recommended, the horizon, and the timeline picture when pictures are drawn."""

    label: str
    because: str
    no_follow_up: bool
    plans: list[SurveillancePlanView]
    recommended_reason: str
    horizon_years: float
    timeline: Any = None  # markupsafe.Markup of the inline timeline SVG, or None


def _surveillance_view(
    lab: Labels, rec: Recommendation, ctx: ReportContext
) -> SurveillanceView | None:
    """The follow-up plan section; the timeline picture only when pictures are drawn."""
    s = rec.surveillance
    if s is None:
        return None
    timeline = None
    if ctx.timeline is not None:  # drawn only with the pictures, and only for a follow-up
        from markupsafe import Markup

        timeline = Markup(ctx.timeline)  # trusted: drawn by cds.render.timeline, which escapes its labels
    return SurveillanceView(
        label=s.label or "",
        because=s.because or "",
        no_follow_up=s.no_follow_up,
        plans=[
            SurveillancePlanView(p.label, p.recommended, len(p.exams), p.cumulative_msv, p.total_msv)
            for p in s.plans
        ],
        recommended_reason=s.recommended_reason,
        horizon_years=s.horizon_years,
        timeline=timeline,
    )


def argument_view(arg: Argument, lab: Labels | None = None) -> ArgumentView:
    """One argument as the reports show it.

    Parameters
    ----------
    arg
        An argument of a ranked or excluded option.
    lab
        The words of the report language, over the knowledge base for the labels of
        sources and evidence (default: English, without labels).

    Returns
    -------
    ArgumentView
        The argument with its symbol, direction in words and labels.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> from cds.render.i18n import labels
    >>> engine = default_engine()
    >>> arg = engine.evaluate(patient, surveillance=False).anti_tumour[2].arguments[1]
    >>> view = argument_view(arg, labels("fr", engine.kb))
    >>> view.symbol, view.direction_text, view.sources_short, view.safety_level
    ('!!', 'à éviter', ['netcds policy'], 'avoid')
    >>> argument_view(arg).sources_short
    ['netcds_policy']
    """
    lab = lab or labels("en")
    return ArgumentView(
        symbol=direction_symbol(arg),
        direction=arg.direction,
        text=arg.text,
        rule=arg.rule,
        sources=list(arg.sources),
        evidence=evidence_text(arg),
        unconfirmed=not arg.evidence.confirmed,
        direction_text=lab[f"safety_{arg.safety_level}"] if arg.safety_level else lab[f"direction_{arg.direction}"],
        sources_short=[lab.source(s) for s in arg.sources],
        evidence_label=lab.evidence(arg.evidence.kind, arg.evidence.level),
        kind=arg.kind,
        safety_level=arg.safety_level,
    )


def option_view(o: RankedOption, lab: Labels) -> OptionView:
    """One ranked option as the reports show it.

    Parameters
    ----------
    o
        A ranked option of the recommendation.
    lab
        The words of the report language (over the knowledge base for the labels).

    Returns
    -------
    OptionView
        The option with its category and safety ceiling in words, the labels of the data
        it is conditional on, and its arguments (:func:`argument_view`).

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> from cds.render.i18n import labels
    >>> engine = default_engine()
    >>> surgery = engine.evaluate(patient, "fr", surveillance=False).anti_tumour[2]
    >>> view = option_view(surgery, labels("fr", engine.kb))
    >>> view.rank, view.label, view.category_text, view.safety_text, view.conditional_labels[0]
    (3, 'Chirurgie à visée curative', 'non recommandé', 'à éviter', 'Résécable à visée curative')
    """
    t = lab.t
    return OptionView(
        rank=o.rank,
        option=o.option,
        label=o.label,
        category=o.category,
        category_text=t.get(o.category, o.category),
        score=o.score,
        conditional_on=list(o.conditional_on),
        arguments=[argument_view(a, lab) for a in o.arguments],
        conditional_labels=[lab.field(f) for f in o.conditional_on],
        safety_level=o.safety_level,
        safety_text=t[f"safety_{o.safety_level}"] if o.safety_level else "",
    )


def _tracks(lab: Labels, anti_tumour: Sequence[RankedOption], antisecretory: Sequence[RankedOption]) -> list[TrackView]:
    tracks = []
    for track in TRACKS:
        ranked = anti_tumour if track == "anti_tumour" else antisecretory
        # The antisecretory track is shown only when something was proposed in it.
        if track == "antisecretory" and not ranked:
            continue
        tracks.append(TrackView(id=track, title=lab.t[track], options=[option_view(o, lab) for o in ranked]))
    return tracks


def top_options(tracks: Sequence[TrackView], lab: Labels, *, more: int = 2) -> list[TopOptionView]:
    """The head of both tracks, for the first screen: rank 1 with its leading argument, then ``more``.

    Both tracks are always there (a track without options says so), so that the board sees
    the antisecretory track was considered even when nothing was proposed in it.

    Parameters
    ----------
    tracks
        The ranked tracks (:attr:`ReportView.tracks`; the antisecretory track may be absent).
    lab
        The words of the report language (the track titles).
    more
        How many options after the first to list.

    Returns
    -------
    list[TopOptionView]
        Anti-tumour, then antisecretory.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> view = report_view(default_engine().evaluate(patient, surveillance=False))
    >>> anti, anti_secretory = view.top
    >>> anti.option.label, anti.option.category_text, anti.leading.rule
    ('Watchful waiting (active surveillance)', 'recommended', 'pnet.nf_small.propose_watchful_waiting')
    >>> [o.option for o in anti.next]
    ['ablation', 'surgery_curative']
    >>> anti_secretory.title, anti_secretory.option
    ('Antisecretory treatment', None)
    """
    by_id = {track.id: track for track in tracks}
    out = []
    for track in TRACKS:
        found = by_id.get(track)
        options = found.options if found is not None else []
        if not options:
            out.append(TopOptionView(track, lab.t[track], None))
            continue
        first = options[0]
        leading = next((a for a in first.arguments if a.direction == "for" and a.kind != "safety"), None)
        safety = next((a for a in first.arguments if a.kind == "safety" and a.safety_level), None)
        out.append(TopOptionView(track, lab.t[track], first, leading, safety, list(options[1:1 + more])))
    return out


def report_view(rec: Recommendation, context: ReportContext | None = None) -> ReportView:
    """Every value a report of ``rec`` shows, computed and in the report language.

    Parameters
    ----------
    rec
        The recommendation (its ``language`` is the report language).
    context
        What the tumour-board report adds (:func:`board_context`); with it, grade,
        category and pathways are labels and the classification, patient summary, why-not,
        pathways, references and follow-up are filled in as far as the context allows.
        None: the options, alerts and missing data only, with ids where labels need the
        knowledge.

    Returns
    -------
    ReportView
        What every renderer lays out.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> rec = default_engine().evaluate(patient, "fr", surveillance=False)
    >>> view = report_view(rec)
    >>> view.lang, view.category, view.t["alerts"], view.why_not
    ('fr', 'net_g1', 'Alertes', None)
    >>> [(o.rank, o.label, o.category_text) for o in view.tracks[0].options][::2]
    [(1, 'Surveillance active', 'recommandé'), (3, 'Chirurgie à visée curative', 'non recommandé')]
    >>> [m.label for m in view.missing][:2]
    ['Résécable à visée curative', 'Imagerie des récepteurs de la somatostatine']
    >>> report_view(rec, ReportContext()).category   # a context: labels, even without the knowledge
    'TNE G1'
    """
    ctx = context or ReportContext()
    lab = labels(rec.language, ctx.kb)
    t = lab.t
    tracks = _tracks(lab, rec.anti_tumour, rec.antisecretory)
    full = context is not None
    folded = _folded(rec)  # alerts that only ask for a listed datum: shown in its missing-data row
    grade = rec.derived.get("grade")
    category = rec.derived.get("category")
    return ReportView(
        lang=rec.language,
        t=t,
        patient_id=rec.patient_id,
        as_of=rec.as_of,
        grade=_derived_text(lab, "grade", grade) if full else _raw(lab, grade),
        category=_derived_text(lab, "category", category) if full else _raw(lab, category),
        grade_code=None if grade is None else str(grade),
        category_code=None if category is None else str(category),
        pathways=[lab.pathway(p) for p in rec.trace.pathways] if full else list(rec.trace.pathways),
        knowledge_version=rec.knowledge_version,
        software_version=rec.software_version,
        alerts=_alert_views(lab, rec, folded),
        missing=_missing_views(lab, rec, folded),
        tracks=tracks,
        excluded=[
            ExcludedView(
                option=e.option,
                label=e.label,
                track=t.get(e.track, e.track),
                reasons=[argument_view(a, lab) for a in e.reasons],
            )
            for e in rec.excluded
        ],
        disclaimer=disclaimer(rec),
        classification=_classification(lab, rec.derived) if full else [],
        patient=_patient_sections(lab, ctx.patient) if ctx.patient is not None else None,
        why_not=[why_not_view(x, lab) for x in ctx.explanations] if ctx.explanations is not None else None,
        pathway_views=_pathway_views(lab, rec, ctx) if full else None,
        surveillance=_surveillance_view(lab, rec, ctx) if full else None,
        references=_references(lab, rec, ctx) if ctx.kb is not None else [],
        scenarios=[
            ScenarioView(
                id=sc.id,
                assumption=sc.assumption,
                category=_derived_text(lab, "category", sc.derived.get("category")),
                tracks=_tracks(lab, sc.anti_tumour, sc.antisecretory),
                excluded=[e.label for e in sc.excluded],
            )
            for sc in rec.scenarios
        ],
        assumptions=[
            AssumptionView(field=lab.field(a.field), value=lab.value(a.field, a.value), why=a.why,
                           rule=a.rule)
            for a in rec.assumptions
        ],
        synopsis=synopsis(ctx.patient, rec, ctx.kb) if ctx.patient is not None else None,
        top=top_options(tracks, lab),
        trials=trial_views(rec.trials, lab),
    )




def _folded(rec: Recommendation) -> dict[str, list[str]]:
    """Alerts that only ask for a datum already listed under missing data: rule id -> actions.

    A warning or information raised by the rule that also asked for the datum says
    the same thing twice; it is shown once, in the missing-data row. Critical alerts
    always stay among the alerts.
    """
    asking = {m.rule for m in rec.missing_data}
    out: dict[str, list[str]] = {}
    for a in rec.alerts:
        if a.severity != "critical" and a.rule in asking:
            out.setdefault(a.rule, []).append(a.action or "")
    return out


def _alert_views(lab: Labels, rec: Recommendation, folded: Mapping[str, list[str]]) -> list[AlertView]:
    t = lab.t
    said: set[str] = set()
    views = []
    for a in rec.alerts:
        if a.severity != "critical" and a.rule in folded:
            continue
        views.append(AlertView(
            id=a.id,
            severity=a.severity,
            severity_text=t.get(a.severity, a.severity),
            text="" if a.rule in said else a.text,
            rule=a.rule,
            sources=list(a.sources),
            label=a.title or lab.alert(a.id),
            sources_short=[lab.source(s) for s in a.sources],
            action=a.action or "",
        ))
        said.add(a.rule)
    return views


def _missing_views(lab: Labels, rec: Recommendation, folded: Mapping[str, list[str]]) -> list[MissingView]:
    return [
        MissingView(field=m.field, why=m.why, rule=m.rule, label=lab.field(m.field),
                    action=" ".join(a for a in folded.get(m.rule, []) if a))
        for m in rec.missing_data
    ]


def _raw(lab: Labels, value: Any) -> str:
    return lab["not_stated"] if value is None else str(value)


def _derived_text(lab: Labels, key: str, value: Any) -> str:
    return lab["not_stated"] if value is None else lab.derived_value(key, value)


def _classification(lab: Labels, derived: Mapping[str, Any]) -> list[RowView]:
    keys = [k for k in _DERIVED_FIRST if k in derived]
    keys += sorted(k for k in derived if k not in _DERIVED_FIRST)
    rows = []
    for key in keys:
        value = derived[key]
        code = None if isinstance(value, bool) else str(value)
        rows.append(RowView(lab.field(f"derived.{key}"), lab.derived_value(key, value), code))
    return rows


# ------------------------------------------------------------------ patient summary

_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("section_general", ("age", "sex", "ecog", "fit_for_major_surgery")),
    ("section_tumour", ("tumour",)),
    ("section_disease", ("disease",)),
    ("section_imaging", ("imaging",)),
    ("section_labs", ("labs",)),
    ("section_history", ("comorbidities", "carcinoid_heart_disease")),
)


def _patient_sections(lab: Labels, patient: Patient) -> list[SectionView]:
    data = patient.model_dump(mode="json", exclude_none=True)
    sections: list[SectionView] = []
    for title, keys in _SECTIONS:
        rows: list[RowView] = []
        for key in keys:
            if key not in data:
                continue
            value = data[key]
            if isinstance(value, dict):
                for name, item in value.items():
                    rows.extend(_rows(lab, f"{key}.{name}", item))
            else:
                rows.extend(_rows(lab, key, value))
        if rows:
            sections.append(SectionView(lab[title], rows))
    sections.append(SectionView(lab["prior_treatments"], _prior_rows(lab, patient)))
    return sections


def _rows(lab: Labels, path: str, value: Any) -> list[RowView]:
    if path == "tumour.minen" and value is False:
        return []  # the default; a MiNEN is stated when true
    if isinstance(value, list):
        if not value:
            return []
        shown = ", ".join(_item_label(lab, path, v) for v in value)
        return [RowView(lab.field(path), shown)]
    return [RowView(lab.field(path), lab.value(path, value))]


def _item_label(lab: Labels, path: str, value: Any) -> str:
    entry = lab.catalogue.fields.get(path)
    if entry is not None and str(value) in entry.values:
        return entry.values[str(value)].get(lab.lang)
    return str(value)


def _prior_rows(lab: Labels, patient: Patient) -> list[RowView]:
    rows = []
    for course in patient.prior_treatments:
        details = [lab.value("prior_treatments.stop_reason", course.stop_reason.value)]
        if course.line is not None:
            details.append(lab.fmt("prior_line_text", line=course.line))
        if course.best_response is not None:
            details.append(lab.fmt("prior_response_text", response=lab.value(
                "prior_treatments.best_response", course.best_response.value)))
        if course.duration_months is not None:
            details.append(lab.fmt("prior_duration_text", months=lab.number(course.duration_months)))
        rows.append(RowView(lab.option(course.option), ", ".join(details), course.option))
    return rows


# ------------------------------------------------------------------ pathways, references


def _pathway_views(lab: Labels, rec: Recommendation, ctx: ReportContext) -> list[PathwayView]:
    nodes_of: dict[str, list[str]] = {}
    if ctx.kb is not None:
        nodes_of = {pw.id: [n.id for n in pw.nodes] for pw in ctx.kb.pathways}
    out = []
    for pid in rec.trace.pathways:
        own = set(nodes_of.get(pid, []))
        steps = [lab.node(n) for n in rec.trace.nodes if n in own]
        picture = None
        if ctx.pictures is None:
            note: str | None = lab["picture_omitted"]
        else:
            picture = ctx.pictures.get(pid)
            note = None if picture else lab["picture_unavailable"]
        if picture is not None:
            out.append(PathwayView(pid, lab.pathway(pid), steps, picture.route, picture.full, note))
        else:
            out.append(PathwayView(pid, lab.pathway(pid), steps, note=note))
    return out


def _references(lab: Labels, rec: Recommendation, ctx: ReportContext) -> list[ReferenceView]:
    assert ctx.kb is not None
    # What the recommendation cites (the engine lists it, in the order first cited), then what the
    # why-not explanations add.
    cited: list[str] = [ref.id for ref in rec.references]
    for x in ctx.explanations or ():
        for tr in x.tracks:
            for rule in (*tr.exclusions, *tr.against, *tr.rules_not_applied):
                cited.extend(rule.sources)
            for edge in tr.proposals_not_applied:
                cited.extend(edge.sources)
    out = []
    for sid in dict.fromkeys(cited):
        src = ctx.kb.sources.get(sid)
        if src is not None:
            out.append(ReferenceView(sid, src.short, src.citation, src.link))
    return out


def top_option_text(rec: Recommendation, track: str, *, label: bool = True) -> str:
    """``label (category)`` (or ``id (category)``) of the rank-1 option of a track, or ``-``.

    Parameters
    ----------
    rec
        The recommendation.
    track
        ``anti_tumour`` or ``antisecretory``.
    label
        Show the option's label (else its id).

    Returns
    -------
    str
        The first option with its category in the recommendation's language, or ``-`` when
        nothing was ranked in the track.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> rec = default_engine().evaluate(patient, "fr", surveillance=False)
    >>> top_option_text(rec, "anti_tumour"), top_option_text(rec, "anti_tumour", label=False)
    ('Surveillance active (recommandé)', 'watchful_waiting (recommandé)')
    >>> top_option_text(rec, "antisecretory")
    '-'
    """
    ranked = rec.anti_tumour if track == "anti_tumour" else rec.antisecretory
    if not ranked:
        return "-"
    top = ranked[0]
    name = top.label if label else top.option
    return f"{name} ({ui(rec.language).get(top.category, top.category)})"
