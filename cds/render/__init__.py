"""Renderers: turn a :class:`~cds.model.Recommendation` into something people read.

Every value a report shows is computed here, in Python, from the
recommendation alone; the Rich tables (:mod:`cds.render.text`) and the Jinja2
templates (:mod:`cds.render.markdown`, ``renderers/markdown/*.j2``) only
format it. The report language is the recommendation's own
(``rec.language``): the texts from the knowledge are already in that
language, and the headings below follow it.

Heavy dependencies (rich, jinja2) are imported by the submodules only, so that
``import cds.render`` stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cds.model.recommendation import DISCLAIMER, Argument, Recommendation

Lang = Literal["en", "fr"]

DISCLAIMER_FR = (
    "netcds aide la décision de la réunion de concertation pluridisciplinaire ; il ne la "
    "remplace pas. Chaque option doit être pesée par la RCP au regard de l'ensemble du tableau "
    "clinique et des souhaits du patient."
)

#: Headings and fixed words of the reports, per language.
UI: dict[str, dict[str, str]] = {
    "en": {
        "title": "netcds recommendation",
        "patient": "Patient",
        "as_of": "Decision date",
        "grade": "Grade",
        "category": "Category",
        "pathways": "Pathways",
        "knowledge_version": "Knowledge version",
        "alerts": "Alerts",
        "missing_data": "Missing data",
        "anti_tumour": "Anti-tumour treatment",
        "antisecretory": "Antisecretory treatment",
        "excluded": "Excluded options",
        "rank": "#",
        "option": "Option",
        "score": "Score",
        "conditional_on": "Conditional on",
        "arguments": "Arguments",
        "severity": "Severity",
        "alert": "Alert",
        "text": "Text",
        "rule": "Rule",
        "sources": "Sources",
        "evidence": "Evidence",
        "field": "Field",
        "why": "Why",
        "reasons": "Reasons",
        "none": "none",
        "not_stated": "not stated",
        "unconfirmed": "unconfirmed",
        "no_option": "No option proposed for this track.",
        "no_alert": "No alert.",
        "no_missing": "No missing data requested.",
        "no_excluded": "No option excluded.",
        "disclaimer": "Disclaimer",
        "strength": "strength",
        "excluded_arg": "excluded",
        "recommended": "recommended",
        "consider": "consider",
        "not_recommended": "not recommended",
        "critical": "critical",
        "warning": "warning",
        "info": "info",
        "demo_title": "netcds demo",
        "site": "Site",
        "top_anti_tumour": "Anti-tumour #1",
        "top_antisecretory": "Antisecretory #1",
        "alerts_count": "Alerts",
        "excluded_count": "Excl.",
        "report": "Report",
        "colon": ":",
    },
    "fr": {
        "title": "Recommandation netcds",
        "patient": "Patient",
        "as_of": "Date de la décision",
        "grade": "Grade",
        "category": "Catégorie",
        "pathways": "Parcours",
        "knowledge_version": "Version des connaissances",
        "alerts": "Alertes",
        "missing_data": "Données manquantes",
        "anti_tumour": "Traitement antitumoral",
        "antisecretory": "Traitement antisécrétoire",
        "excluded": "Options exclues",
        "rank": "#",
        "option": "Option",
        "score": "Score",
        "conditional_on": "Sous réserve de",
        "arguments": "Arguments",
        "severity": "Gravité",
        "alert": "Alerte",
        "text": "Texte",
        "rule": "Règle",
        "sources": "Sources",
        "evidence": "Niveau de preuve",
        "field": "Donnée",
        "why": "Motif",
        "reasons": "Motifs",
        "none": "aucune",
        "not_stated": "non renseigné",
        "unconfirmed": "non confirmé",
        "no_option": "Aucune option proposée pour ce volet.",
        "no_alert": "Aucune alerte.",
        "no_missing": "Aucune donnée manquante demandée.",
        "no_excluded": "Aucune option exclue.",
        "disclaimer": "Avertissement",
        "strength": "poids",
        "excluded_arg": "exclusion",
        "recommended": "recommandé",
        "consider": "à discuter",
        "not_recommended": "non recommandé",
        "critical": "critique",
        "warning": "attention",
        "info": "information",
        "demo_title": "Démonstration netcds",
        "site": "Site",
        "top_anti_tumour": "Antitumoral n° 1",
        "top_antisecretory": "Antisécrétoire n° 1",
        "alerts_count": "Alertes",
        "excluded_count": "Excl.",
        "report": "Compte rendu",
        "colon": " :",
    },
}

TRACKS: tuple[Literal["anti_tumour", "antisecretory"], ...] = ("anti_tumour", "antisecretory")


def ui(lang: str) -> dict[str, str]:
    return UI.get(lang, UI["en"])


def disclaimer(rec: Recommendation) -> str:
    """The recommendation's disclaimer, in French when the report is French."""
    if rec.language == "fr" and rec.disclaimer == DISCLAIMER:
        return DISCLAIMER_FR
    return rec.disclaimer


def direction_symbol(arg: Argument) -> str:
    """``+3`` for an argument for, ``-1`` against, ``x`` for an exclusion."""
    if arg.direction == "for":
        return f"+{arg.strength}"
    if arg.direction == "against":
        return f"-{arg.strength}"
    return "x"


def evidence_text(arg: Argument) -> str:
    ev = arg.evidence
    return f"{ev.kind} ({ev.level})" if ev.level else ev.kind


@dataclass(frozen=True)
class ArgumentView:
    symbol: str
    direction: str
    text: str
    rule: str
    sources: list[str]
    evidence: str
    unconfirmed: bool


@dataclass(frozen=True)
class OptionView:
    rank: int
    option: str
    label: str
    category: str
    category_text: str
    score: int
    conditional_on: list[str]
    arguments: list[ArgumentView]


@dataclass(frozen=True)
class TrackView:
    id: str
    title: str
    options: list[OptionView]


@dataclass(frozen=True)
class ExcludedView:
    option: str
    label: str
    track: str
    reasons: list[ArgumentView]


@dataclass(frozen=True)
class AlertView:
    id: str
    severity: str
    severity_text: str
    text: str
    rule: str
    sources: list[str]


@dataclass(frozen=True)
class MissingView:
    field: str
    why: str
    rule: str


@dataclass(frozen=True)
class ReportView:
    """Everything a report shows, already computed and in the report language."""

    lang: str
    t: dict[str, str]
    patient_id: str | None
    as_of: str | None
    grade: str
    category: str
    pathways: list[str]
    knowledge_version: str
    alerts: list[AlertView]
    missing: list[MissingView]
    tracks: list[TrackView]
    excluded: list[ExcludedView]
    disclaimer: str


def argument_view(arg: Argument) -> ArgumentView:
    return ArgumentView(
        symbol=direction_symbol(arg),
        direction=arg.direction,
        text=arg.text,
        rule=arg.rule,
        sources=list(arg.sources),
        evidence=evidence_text(arg),
        unconfirmed=not arg.evidence.confirmed,
    )


def report_view(rec: Recommendation) -> ReportView:
    t = ui(rec.language)
    tracks = []
    for track in TRACKS:
        ranked = rec.anti_tumour if track == "anti_tumour" else rec.antisecretory
        # The antisecretory track is shown only when something was proposed in it.
        if track == "antisecretory" and not ranked:
            continue
        tracks.append(
            TrackView(
                id=track,
                title=t[track],
                options=[
                    OptionView(
                        rank=o.rank,
                        option=o.option,
                        label=o.label,
                        category=o.category,
                        category_text=t.get(o.category, o.category),
                        score=o.score,
                        conditional_on=list(o.conditional_on),
                        arguments=[argument_view(a) for a in o.arguments],
                    )
                    for o in ranked
                ],
            )
        )
    return ReportView(
        lang=rec.language,
        t=t,
        patient_id=rec.patient_id,
        as_of=rec.as_of,
        grade=_derived_text(rec, "grade", t),
        category=_derived_text(rec, "category", t),
        pathways=list(rec.trace.pathways),
        knowledge_version=rec.knowledge_version,
        alerts=[
            AlertView(
                id=a.id,
                severity=a.severity,
                severity_text=t.get(a.severity, a.severity),
                text=a.text,
                rule=a.rule,
                sources=list(a.sources),
            )
            for a in rec.alerts
        ],
        missing=[MissingView(field=m.field, why=m.why, rule=m.rule) for m in rec.missing_data],
        tracks=tracks,
        excluded=[
            ExcludedView(
                option=e.option,
                label=e.label,
                track=t.get(e.track, e.track),
                reasons=[argument_view(a) for a in e.reasons],
            )
            for e in rec.excluded
        ],
        disclaimer=disclaimer(rec),
    )


def _derived_text(rec: Recommendation, key: str, t: dict[str, str]) -> str:
    value = rec.derived.get(key)
    return t["not_stated"] if value is None else str(value)


def top_option_text(rec: Recommendation, track: str, *, label: bool = True) -> str:
    """``label (category)`` (or ``id (category)``) of the rank-1 option of a track, or ``-``."""
    ranked = rec.anti_tumour if track == "anti_tumour" else rec.antisecretory
    if not ranked:
        return "-"
    top = ranked[0]
    name = top.label if label else top.option
    return f"{name} ({ui(rec.language).get(top.category, top.category)})"
