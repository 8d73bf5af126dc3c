"""Long-term surveillance planner: late-relapse detection weighed against cumulative radiation.

Rules (``knowledge/rules/surveillance.yaml``) select schedules from the catalogue
(``knowledge/surveillance.yaml``) with ``surveil`` effects; the engine hands the
selected (schedule, rule) pairs here. The planner

1. chooses the patient's schedule: a schedule that follows the rank-1 option
   (``if_option``) first, then situation schedules, then schedules following an
   option that is not first; within a tier the most specific (lowest priority)
   wins. The others are listed as alternatives; ``monitoring`` schedules
   (laboratory, heart) are added to the plan;
2. lays it out over a horizon (default 10 years) as two plans: the guideline's
   default exams and a radiation-minimised variant of the same schedule (MRI
   instead of CT where MRI is equivalent, no routine PET), with the dose of each
   exam from the dose table (``knowledge/radiation.yaml``) and the cumulative
   dose, earlier imaging (``imaging_history``) included in the totals;
3. recommends the minimised plan for young patients and in pregnancy (where it
   also replaces or postpones every ionising exam), and raises the
   ``radiation_exposure_high``, ``prefer_mri`` and ``pregnancy_imaging`` alerts.

Nothing here reads the clock: exams are dated from the patient's ``as_of`` when
it is known, and otherwise carry offsets in months only. The same module renders
a plan as text (rich), iCalendar (RFC 5545, written by hand, deterministic) and
a timeline SVG for the report.
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import hashlib
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from xml.sax.saxutils import escape as _xml_escape

from pydantic import TypeAdapter

from cds.errors import InputError, InputProblem
from cds.knowledge.schema import ExamSlot, Schedule, SchedulePeriod, Text
from cds.model.patient import Comorbidity, MetastaticSite, Patient, StopReason
from cds.model.recommendation import (
    Alert,
    PlannedExam,
    Recommendation,
    ScheduleRef,
    Surveillance,
    SurveillancePlan,
    SurveillanceReport,
    disclaimer_in,
)
from cds.version import SOFTWARE_VERSION

if TYPE_CHECKING:
    from rich.console import Console

    from cds.knowledge.loader import KnowledgeBase

Lang = Literal["en", "fr"]
PlanId = Literal["default", "minimised"]
T = TypeVar("T")
_EXAMS: TypeAdapter[list[PlannedExam]] = TypeAdapter(list[PlannedExam])

SETTING_THRESHOLD = "surveillance_radiation_alert_msv"
SETTING_YOUNG = "surveillance_young_age_years"
SETTING_HORIZON = "surveillance_default_horizon_years"
SETTING_PREGNANCY = "surveillance_pregnancy_window_months"
MAX_HORIZON_YEARS = 50.0
CHEST_CT = "ct_chest"
ABDOMEN_PELVIS_MRI = "mri_abdomen_pelvis"
_CONFIRMED = frozenset({"V", "policy", "physics"})
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "plan.default": "Default (guideline exams)",
        "plan.minimised": "Radiation-minimised (same schedule)",
        "rec.pregnancy": "Pregnancy: the plan without ionising exams is recommended.",
        "rec.young": "Age under {age} years: the MRI-based plan is recommended (Norwegian programme).",
        "rec.same": "Both plans are the same: no exam to replace.",
        "rec.default": (
            "The default plan follows the guideline's exams; the minimised plan gives the same schedule with "
            "{saved} mSv less where MRI is available."
        ),
        "no_schedule": (
            "No schedule in the knowledge fits this situation; the tumour board sets the follow-up."
        ),
        "preg.sub": "Pregnancy: MRI without gadolinium (or ultrasound) instead of {exam}.",
        "preg.defer": "Pregnancy: postponed until after delivery (planned at month {month}).",
        "preg.mri": "Pregnancy: without gadolinium; ultrasound if MRI is not available.",
        "lung": "Chest CT kept: lung metastases are recorded.",
        "abdomen": "MRI of abdomen and pelvis: peritoneal or distant nodal disease is recorded.",
        "a.month0": (
            "Month 0 is the decision date (as_of); after a resection the decision is taken to follow the surgery "
            "(time since resection is not an input)."
        ),
        "a.elapsed": (
            "The current treatment line started {months} months ago (prior_treatments duration_months): the "
            "schedule is joined at that point."
        ),
        "a.horizon": (
            "Exams and doses are counted over {years} years; lifelong and open-ended schedules continue. An "
            "open-ended schedule (under treatment, watchful waiting) is projected as if the situation lasted the "
            "whole horizon: re-plan at each change."
        ),
        "a.undated": "No as_of date: exams are given as offsets in months.",
        "a.minimised": (
            "The minimised plan replaces CT by MRI of the target organ where MRI is equivalent (liver, pancreas, "
            "abdomen-pelvis) and keeps no routine PET; a chest CT is kept for NEC and NET G3 and whenever lung "
            "metastases are recorded, and the MRI covers abdomen and pelvis when peritoneal or distant nodal disease "
            "is recorded; intervals are unchanged."
        ),
        "a.prior_total": "Earlier exposure: {msv} mSv as given in imaging_history.cumulative_msv.",
        "a.prior_exams": "Earlier exposure: {msv} mSv from {n} listed exam(s) at typical doses.",
        "u.schedule": "{label}: schedule tagged {tag}",
        "u.period": "{label}: interval from month {start} to {end} tagged {tag}",
        "u.dose": "Dose of {label} ({dose} mSv) tagged {tag}",
        "end": "end",
        "ics.summary": "NET follow-up: {exams}",
        "ics.plan": "Plan: {plan}",
        "ics.schedule": "Schedule: {label}",
        "ics.dose": "{exam}: {dose} mSv",
        "ics.cumulative": "Cumulative dose of the plan after this visit: {msv} mSv",
        "svg.title": "Surveillance plan: {label}",
        "svg.heading": "Surveillance plan and cumulative radiation dose",
        "svg.default": "Default plan",
        "svg.minimised": "Minimised plan",
        "svg.none": "No scheduled follow-up",
        "svg.years": "years",
        "svg.dose": "Cumulative dose (mSv, earlier imaging included)",
        "svg.threshold": "alert threshold {msv} mSv",
        "svg.ionising": "ionising",
        "svg.non_ionising": "no radiation",
        "t.when": "When",
        "t.default": "Default plan",
        "t.minimised": "Minimised plan",
        "t.cum": "Cumulative (mSv)",
        "t.schedule": "Schedule",
        "t.no_follow_up": "No follow-up",
        "t.individual": "Individual follow-up",
        "t.totals": "Totals over {years} years",
        "t.plan_msv": "Plan dose (mSv)",
        "t.total_msv": "With earlier imaging ({prior} mSv)",
        "t.duration": "Duration",
        "t.summary": "Dose saved by the minimised plan: {saved} mSv; recommended: {plan}.",
        "t.sources": "Sources",
        "t.disclaimer": "Disclaimer",
        "t.recommended": "recommended",
        "t.alternatives": "Alternatives",
        "t.monitoring": "Monitoring added",
        "t.instructions": "Instructions",
        "t.unconfirmed": "Not confirmed in the sources",
        "t.lifelong": "lifelong",
        "t.open": "as long as the situation lasts",
        "t.at_least": "at least {months} months",
        "t.months": "{months} months",
        "t.month": "month {m}",
    },
    "fr": {
        "plan.default": "Par défaut (examens des recommandations)",
        "plan.minimised": "Irradiation réduite (même calendrier)",
        "rec.pregnancy": "Grossesse : le plan sans examen irradiant est recommandé.",
        "rec.young": "Âge inférieur à {age} ans : le plan fondé sur l'IRM est recommandé (programme norvégien).",
        "rec.same": "Les deux plans sont identiques : aucun examen à remplacer.",
        "rec.default": (
            "Le plan par défaut suit les examens des recommandations ; le plan réduit suit le même calendrier avec "
            "{saved} mSv de moins si l'IRM est disponible."
        ),
        "no_schedule": (
            "Aucun schéma de la base ne correspond à cette situation ; la RCP fixe la surveillance."
        ),
        "preg.sub": "Grossesse : IRM sans gadolinium (ou échographie) à la place de : {exam}.",
        "preg.defer": "Grossesse : reporté après l'accouchement (prévu au mois {month}).",
        "preg.mri": "Grossesse : sans gadolinium ; échographie si l'IRM n'est pas disponible.",
        "lung": "Scanner thoracique conservé : métastases pulmonaires connues.",
        "abdomen": "IRM abdomino-pelvienne : atteinte péritonéale ou ganglionnaire à distance connue.",
        "a.month0": (
            "Le mois 0 est la date de décision (as_of) ; après une résection, la décision est supposée suivre "
            "l'intervention (le délai depuis la chirurgie n'est pas une donnée d'entrée)."
        ),
        "a.elapsed": (
            "La ligne de traitement en cours a commencé il y a {months} mois (duration_months) : le calendrier est "
            "repris à ce point."
        ),
        "a.horizon": (
            "Examens et doses sont comptés sur {years} ans ; les schémas à vie ou sans terme se poursuivent au-delà. "
            "Un schéma sans terme (sous traitement, surveillance active) est projeté comme si la situation durait "
            "tout l'horizon : replanifier à chaque changement."
        ),
        "a.undated": "Pas de date as_of : les examens sont donnés en mois après la décision.",
        "a.minimised": (
            "Le plan réduit remplace le scanner par l'IRM de l'organe cible quand elle est équivalente (foie, "
            "pancréas, abdomen-pelvis) et ne garde aucune TEP systématique ; un scanner thoracique est conservé "
            "pour les CNE et TNE G3 et en cas de métastases pulmonaires, et l'IRM couvre abdomen et pelvis en cas "
            "d'atteinte péritonéale ou ganglionnaire à distance ; les intervalles sont inchangés."
        ),
        "a.prior_total": "Irradiation antérieure : {msv} mSv selon imaging_history.cumulative_msv.",
        "a.prior_exams": "Irradiation antérieure : {msv} mSv pour {n} examen(s) listé(s) aux doses usuelles.",
        "u.schedule": "{label} : schéma étiqueté {tag}",
        "u.period": "{label} : intervalle du mois {start} au mois {end} étiqueté {tag}",
        "u.dose": "Dose de l'examen {label} ({dose} mSv) étiquetée {tag}",
        "end": "la fin",
        "ics.summary": "Surveillance TNE : {exams}",
        "ics.plan": "Plan : {plan}",
        "ics.schedule": "Schéma : {label}",
        "ics.dose": "{exam} : {dose} mSv",
        "ics.cumulative": "Dose cumulée du plan après cette visite : {msv} mSv",
        "svg.title": "Plan de surveillance : {label}",
        "svg.heading": "Plan de surveillance et dose cumulée d'irradiation",
        "svg.default": "Plan par défaut",
        "svg.minimised": "Plan réduit",
        "svg.none": "Pas de surveillance programmée",
        "svg.years": "ans",
        "svg.dose": "Dose cumulée (mSv, imagerie antérieure comprise)",
        "svg.threshold": "seuil d'alerte {msv} mSv",
        "svg.ionising": "irradiant",
        "svg.non_ionising": "non irradiant",
        "t.when": "Quand",
        "t.default": "Plan par défaut",
        "t.minimised": "Plan réduit",
        "t.cum": "Cumul (mSv)",
        "t.schedule": "Schéma",
        "t.no_follow_up": "Pas de surveillance",
        "t.individual": "Surveillance individualisée",
        "t.totals": "Totaux sur {years} ans",
        "t.plan_msv": "Dose du plan (mSv)",
        "t.total_msv": "Avec l'imagerie antérieure ({prior} mSv)",
        "t.duration": "Durée",
        "t.summary": "Dose épargnée par le plan réduit : {saved} mSv ; plan recommandé : {plan}.",
        "t.sources": "Sources",
        "t.disclaimer": "Avertissement",
        "t.recommended": "recommandé",
        "t.alternatives": "Alternatives",
        "t.monitoring": "Suivi associé",
        "t.instructions": "Consignes",
        "t.unconfirmed": "Non confirmé dans les sources",
        "t.lifelong": "à vie",
        "t.open": "tant que la situation dure",
        "t.at_least": "au moins {months} mois",
        "t.months": "{months} mois",
        "t.month": "mois {m}",
    },
}


def _t(lang: Lang, key: str, **values: Any) -> str:
    text = _TEXT[lang][key]
    return text.format(**values) if values else text


def fmt_msv(value: float) -> str:
    """A dose for people: one decimal, no trailing ``.0``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _round(value: float) -> float:
    out = round(value, 2)
    return 0.0 if out == 0 else out


# ------------------------------------------------------------------ inputs


def default_horizon_years(kb: KnowledgeBase) -> float:
    return float(kb.settings.get(SETTING_HORIZON, 10))


def check_horizon(horizon_years: float) -> float:
    if not 0 < horizon_years <= MAX_HORIZON_YEARS:
        raise ValueError(f"the horizon must be more than 0 and at most {MAX_HORIZON_YEARS:g} years")
    return float(horizon_years)


def check_imaging_history(patient: Patient, kb: KnowledgeBase, source: str = "input") -> None:
    """Raise InputError when an earlier exam names a modality that the dose table does not know."""
    history = patient.imaging_history
    if history is None:
        return
    known = sorted(kb.modalities)
    problems: list[InputProblem] = []
    for i, exam in enumerate(history.exams):
        if exam.modality in kb.modalities:
            continue
        close = difflib.get_close_matches(exam.modality, known, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.append(InputProblem(
            f"imaging_history.exams[{i}].modality",
            f"{exam.modality!r} is not an exam of the dose table{hint} (allowed: {', '.join(known)})",
        ))
    if problems:
        raise InputError(problems, source)


def prior_exposure_msv(patient: Patient, kb: KnowledgeBase) -> float:
    """Earlier exposure: the declared total when given, else the listed exams at typical doses."""
    history = patient.imaging_history
    if history is None:
        return 0.0
    if history.cumulative_msv is not None:
        return _round(float(history.cumulative_msv))
    return _round(sum(kb.modalities[e.modality].dose_msv for e in history.exams))


def add_months(date: dt.date, months: int) -> dt.date:
    """Calendar months later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    year, month0 = divmod(date.month - 1 + months, 12)
    year += date.year
    day = min(date.day, calendar.monthrange(year, month0 + 1)[1])
    return dt.date(year, month0 + 1, day)


def _elapsed_months(patient: Patient) -> int:
    """Months into the ongoing treatment line (its duration_months), 0 when unknown."""
    ongoing = [
        (c.line or 0, i, c.duration_months)
        for i, c in enumerate(patient.prior_treatments)
        if c.stop_reason is StopReason.ongoing and c.duration_months is not None
    ]
    if not ongoing:
        return 0
    latest = max(ongoing)[2]
    return int(latest) if latest is not None else 0


# ------------------------------------------------------------------ choice


@dataclass(frozen=True)
class _Pick:
    schedule: Schedule
    rule: str
    because: Text
    if_option: str | None
    order: int


def _surveil_effects(kb: KnowledgeBase) -> dict[tuple[str, str], tuple[Text, str | None]]:
    """(schedule, rule id) -> (the rule's reason, the option the schedule follows), read once."""
    def build() -> dict[tuple[str, str], tuple[Text, str | None]]:
        found: dict[tuple[str, str], tuple[Text, str | None]] = {}
        for loaded in kb.rules:
            rule = loaded.rule
            for eff in rule.then:
                if eff.surveil is not None:
                    found[(eff.surveil.schedule, rule.id)] = (rule.because, eff.surveil.if_option)
        return found

    return memo(kb, "surveil_effects", (), build)


def _picks(kb: KnowledgeBase, selected: Sequence[tuple[str, str]]) -> list[_Pick]:
    found = _surveil_effects(kb)
    out: list[_Pick] = []
    for i, (schedule, rule_id) in enumerate(selected):
        if schedule not in kb.schedules or (schedule, rule_id) not in found:
            continue
        because, if_option = found[(schedule, rule_id)]
        out.append(_Pick(kb.schedules[schedule], rule_id, because, if_option, i))
    return out


def _choose(picks: Sequence[_Pick], top_option: str | None) -> tuple[_Pick | None, list[_Pick], list[_Pick]]:
    """(plan schedule, alternatives, monitoring)."""

    def tier(p: _Pick) -> int:
        if p.if_option is None:
            return 1
        return 0 if p.if_option == top_option else 2

    main = sorted((p for p in picks if p.schedule.kind != "monitoring"),
                  key=lambda p: (tier(p), p.schedule.priority, p.order))
    monitoring = [p for p in picks if p.schedule.kind == "monitoring"]
    return (main[0] if main else None), main[1:], monitoring


# ------------------------------------------------------------------ layout


@dataclass(slots=True)
class _Exam:
    offset: int
    modality: str
    schedule: str
    group: int
    seq: int
    replaces: str | None
    notes: list[str]
    confirmed: bool
    deferred: bool = False


@dataclass(frozen=True)
class _Context:
    kb: KnowledgeBase
    lang: Lang
    horizon_months: int
    pregnancy_window: int | None
    lung_metastases: bool
    abdominal_extension: bool
    # Per exam slot and plan, the exams it stands for (a slot repeats at every visit).
    slots: dict[tuple[int, str], list[tuple[str, str | None, list[str]]]] = field(
        default_factory=dict, compare=False, repr=False
    )


def _visit_months(schedule: Schedule, elapsed: int, limit: int) -> Iterator[tuple[int, SchedulePeriod]]:
    """Schedule months (from the schedule's month 0) with their period, after ``elapsed``, up to ``limit``."""
    duration = schedule.duration
    end = None
    if duration is not None and not (duration.lifelong or duration.open_ended):
        end = duration.months
    for period in schedule.periods:
        stop = min(m for m in (period.to_month, end, limit) if m is not None)
        if period.at_months is not None:
            months: Sequence[int] = [m for m in period.at_months if m <= stop]
        else:
            assert period.every_months is not None
            months = range(period.from_month + period.every_months, stop + 1, period.every_months)
        for month in months:
            if month > elapsed:
                yield month, period


def _covers(ctx: _Context, modality: str, region: str) -> bool:
    spec = ctx.kb.modalities.get(modality)
    return spec is not None and (region in spec.regions or "whole_body" in spec.regions)


def _covers_chest(ctx: _Context, modality: str) -> bool:
    return _covers(ctx, modality, "chest")


def _slot_exams(ctx: _Context, slot: ExamSlot, plan: PlanId) -> list[tuple[str, str | None, list[str]]]:
    """(modality, replaces, notes) for one slot in one plan; callers must not change them."""
    key = (id(slot), plan)
    found = ctx.slots.get(key)
    if found is None:
        found = ctx.slots[key] = _slot_exams_uncached(ctx, slot, plan)
    return found


def _slot_exams_uncached(
    ctx: _Context, slot: ExamSlot, plan: PlanId
) -> list[tuple[str, str | None, list[str]]]:
    note = [getattr(slot.note, ctx.lang)] if slot.note is not None else []
    if plan == "default" or slot.minimised is None:
        return [(slot.modality, None, list(note))]
    subs = [(m, None if m == slot.modality else slot.modality, list(note)) for m in slot.minimised]
    if (
        ctx.abdominal_extension
        and ABDOMEN_PELVIS_MRI in ctx.kb.modalities
        and _covers(ctx, slot.modality, "pelvis")
        and not any(_covers(ctx, m, "pelvis") for m, _, _ in subs)
    ):
        subs = [
            (ABDOMEN_PELVIS_MRI, rep, [*nts, _t(ctx.lang, "abdomen")]) if ctx.kb.modalities[m].kind == "mri"
            else (m, rep, nts)
            for m, rep, nts in subs
        ]
    if (
        ctx.lung_metastases
        and subs
        and CHEST_CT in ctx.kb.modalities
        and _covers_chest(ctx, slot.modality)
        and not any(_covers_chest(ctx, m) for m, _, _ in subs)
    ):
        subs.append((CHEST_CT, slot.modality, [*note, _t(ctx.lang, "lung")]))
    return subs


def _layout(
    ctx: _Context, schedule: Schedule, group: int, elapsed: int, plan: PlanId
) -> list[_Exam]:
    kb = ctx.kb
    out: list[_Exam] = []
    seq = 0
    for month, period in _visit_months(schedule, elapsed, elapsed + ctx.horizon_months):
        offset = month - elapsed
        tag = period.confirmation or schedule.confirmation
        for slot in period.exams:
            for modality, replaces, notes in _slot_exams(ctx, slot, plan):
                exams: list[tuple[int, str, str | None, list[str]]] = [(offset, modality, replaces, notes)]
                window = ctx.pregnancy_window
                if window is not None and offset <= window:
                    exams = _pregnancy(ctx, slot, offset, modality, replaces, notes, window)
                for off, mod, rep, nts in exams:
                    seq += 1
                    confirmed = tag in _CONFIRMED and kb.modalities[mod].confirmation in _CONFIRMED
                    out.append(_Exam(off, mod, schedule.id, group, seq, rep, nts, confirmed, off != offset))
    return out


def _pregnancy(
    ctx: _Context, slot: ExamSlot, offset: int, modality: str, replaces: str | None, notes: list[str],
    window: int,
) -> list[tuple[int, str, str | None, list[str]]]:
    """No ionising exam within the pregnancy window.

    The slot's own (default) exam is replaced by the non-ionising exams of its
    minimised list (MRI without gadolinium), and the ionising rest of that list
    (a chest CT) is postponed until just after the window; an ionising exam
    without a non-ionising substitute is postponed as a whole.
    """
    kb, lang = ctx.kb, ctx.lang
    spec = kb.modalities[modality]
    if not spec.ionising:
        extra = [_t(lang, "preg.mri")] if spec.kind == "mri" else []
        return [(offset, modality, replaces, [*notes, *extra])]
    later = window + 1
    deferred: list[str] = [modality]
    out: list[tuple[int, str, str | None, list[str]]] = []
    if modality == slot.modality:
        minimised = [m for m in (slot.minimised or []) if m in kb.modalities]
        subs = [m for m in minimised if not kb.modalities[m].ionising]
        if subs:
            label = getattr(spec.label, lang)
            note = _t(lang, "preg.sub", exam=label)
            out += [(offset, m, modality, [*notes, note, _t(lang, "preg.mri")]) for m in subs]
            deferred = [m for m in minimised if kb.modalities[m].ionising]
    if later <= ctx.horizon_months:
        out += [(later, m, replaces if m == modality else modality, [*notes, _t(lang, "preg.defer", month=later)])
                for m in deferred]
    return out


def _select(ctx: _Context, exams: list[_Exam]) -> list[_Exam]:
    """Drop duplicates and covered postponed exams; order by month, schedule, slot."""
    kb = ctx.kb
    if any(e.deferred for e in exams):
        # A postponed exam is dropped when a regular exam of the same visit covers its regions.
        regular: dict[int, list[set[str]]] = {}
        for e in exams:
            if not e.deferred:
                regular.setdefault(e.offset, []).append(set(kb.modalities[e.modality].regions))
        exams = [
            e for e in exams
            if not e.deferred
            or not any(set(kb.modalities[e.modality].regions) <= covered for covered in regular.get(e.offset, []))
        ]
    seen: set[tuple[int, str]] = set()
    out: list[_Exam] = []
    for e in sorted(exams, key=lambda e: (e.offset, e.group, e.seq)):
        if (e.offset, e.modality) not in seen:
            seen.add((e.offset, e.modality))
            out.append(e)
    return out


def _finish(ctx: _Context, exams: list[_Exam]) -> list[dict[str, Any]]:
    """The selected exams as rows of output records, undated (:func:`_dated` builds them)."""
    kb, lang = ctx.kb, ctx.lang
    rows: list[dict[str, Any]] = []
    total = 0.0
    by_modality: dict[str, tuple[float, dict[str, Any]]] = {}
    for e in _select(ctx, exams):
        known = by_modality.get(e.modality)
        if known is None:
            spec = kb.modalities[e.modality]
            known = by_modality[e.modality] = (spec.dose_msv, {
                "modality": e.modality,
                "label": getattr(spec.label, lang),
                "short_label": getattr(spec.short or spec.label, lang),
                "ionising": spec.ionising,
                "dose_msv": _round(spec.dose_msv),
            })
        dose, fields = known
        total += dose
        rows.append({
            **fields,
            "offset_months": e.offset,
            "cumulative_msv": _round(total),
            "schedule": e.schedule,
            "replaces": e.replaces,
            "note": (" ".join(dict.fromkeys(e.notes)) or None) if e.notes else None,
            "confirmed": e.confirmed,
        })
    return rows


def _raw_exams(
    ctx: _Context, main: _Pick | None, monitoring: Sequence[_Pick], elapsed: int, plan: PlanId
) -> list[_Exam]:
    raw: list[_Exam] = []
    if main is not None and main.schedule.kind == "imaging":
        elapsed_main = elapsed if main.schedule.anchor == "treatment_line" else 0
        raw += _schedule_layout(ctx, main.schedule, 0, elapsed_main, plan)
    for i, pick in enumerate(monitoring, start=1):
        elapsed_mon = elapsed if pick.schedule.anchor == "treatment_line" else 0
        raw += _schedule_layout(ctx, pick.schedule, i, elapsed_mon, plan)
    return raw


def _schedule_layout(
    ctx: _Context, schedule: Schedule, group: int, elapsed: int, plan: PlanId
) -> tuple[_Exam, ...]:
    """One schedule's exams, memoised: patients combine a few schedules in many ways, so a
    plan never seen before is usually made of schedules laid out before. The exams are
    never changed once laid out."""
    key = (ctx.lang, ctx.horizon_months, ctx.pregnancy_window, ctx.lung_metastases,
           ctx.abdominal_extension, schedule.id, group, elapsed, plan)
    return memo(ctx.kb, "schedule", key, lambda: tuple(_layout(ctx, schedule, group, elapsed, plan)))


# Bound of KnowledgeBase.memo: enough for every schedule combination met in practice.
_MEMO_LIMIT = 4096
# Dated plans differ with every decision date: keep only a tumour board session's worth, so
# the memo never holds more than a few thousand exam records (memory, garbage-collector time).
_MEMO_LIMITS = {"dated": 32, "laid": 1024, "undated": 1024, "schedule": 1024}


def memo(kb: KnowledgeBase, kind: str, key: tuple[Any, ...], build: Callable[[], T]) -> T:
    """``build()``, computed once per ``kind`` and key for this knowledge.

    Laying out a 10-year plan is a pure function of the schedules, the horizon and a
    few patient flags, and it is most of an evaluation's cost; patients of one tumour
    board share those inputs. What is stored is never changed once built, and callers
    only ever receive fresh lists of frozen, scalar-only records, so no caller can
    change what another gets (tests/test_surveillance.py checks it).
    """
    cache = kb.memo.setdefault(kind, {})
    hit = cache.get(key)
    if hit is None:
        if len(cache) >= _MEMO_LIMITS.get(kind, _MEMO_LIMIT):
            cache.clear()
        hit = cache[key] = build()
    return cast(T, hit)


def _layout_key(
    ctx: _Context, main: _Pick | None, monitoring: Sequence[_Pick], elapsed: int, plan: PlanId
) -> tuple[Any, ...]:
    return (
        ctx.lang, ctx.horizon_months, ctx.pregnancy_window, ctx.lung_metastases,
        ctx.abdominal_extension, main.schedule.id if main is not None else None,
        tuple(p.schedule.id for p in monitoring), elapsed, plan,
    )


@dataclass(frozen=True)
class _Laid:
    """One plan's exams laid out over the horizon (undated), with the figures read from them.

    The exams are kept as validated-ready rows; the output records are built from them
    on demand, undated (memoised) or dated (per decision date), in one validation call.
    """

    key: tuple[Any, ...]
    rows: tuple[Mapping[str, Any], ...]  # never changed once built
    signature: tuple[tuple[int, str], ...]  # (month, exam) pairs, to compare two plans
    cumulative_msv: float
    counts: tuple[tuple[str, int], ...]  # exams per modality, sorted by modality
    modalities: tuple[str, ...]  # in order of first use
    dose_sources: tuple[str, ...]  # sources of the ionising exams' doses, in order of use
    has_imaging: bool


_IMAGING_KINDS = frozenset({"ct", "mri", "pet_ct", "scintigraphy"})


def _laid(
    ctx: _Context, main: _Pick | None, monitoring: Sequence[_Pick], elapsed: int, plan: PlanId
) -> _Laid:
    key = _layout_key(ctx, main, monitoring, elapsed, plan)

    def build() -> _Laid:
        kb = ctx.kb
        rows = tuple(_finish(ctx, _raw_exams(ctx, main, monitoring, elapsed, plan)))
        counts: dict[str, int] = {}
        sources: dict[str, None] = {}
        for row in rows:
            counts[row["modality"]] = counts.get(row["modality"], 0) + 1
        for modality in counts:
            spec = kb.modalities[modality]
            if spec.ionising:
                sources.update(dict.fromkeys(spec.sources))
                for comp in spec.components:
                    sources.update(dict.fromkeys(comp.sources))
        return _Laid(
            key=key,
            rows=rows,
            signature=tuple((row["offset_months"], row["modality"]) for row in rows),
            cumulative_msv=_round(sum(row["dose_msv"] for row in rows)),
            counts=tuple(sorted(counts.items())),
            modalities=tuple(counts),
            dose_sources=tuple(sources),
            has_imaging=any(kb.modalities[m].kind in _IMAGING_KINDS for m in counts),
        )

    return memo(ctx.kb, "laid", key, build)


def _dated(ctx: _Context, laid: _Laid, as_of: dt.date | None) -> list[PlannedExam]:
    """The laid-out exams as output records, dated when ``as_of`` is known (a fresh list
    the caller owns; the records themselves are frozen and hold scalars only)."""
    if as_of is None:
        undated = memo(ctx.kb, "undated", laid.key,
                       lambda: tuple(_EXAMS.validate_python(list(laid.rows))))
        return list(undated)

    def build() -> tuple[PlannedExam, ...]:
        dates: dict[int, str] = {}
        rows: list[dict[str, Any]] = []
        for row in laid.rows:
            offset = row["offset_months"]
            date = dates.get(offset)
            if date is None:
                date = dates[offset] = add_months(as_of, offset).isoformat()
            rows.append({**row, "date": date})
        # A 10-year plan holds hundreds of exams: one validation call for the whole list runs
        # in pydantic-core, several times faster than building each record in Python.
        return tuple(_EXAMS.validate_python(rows))

    return list(memo(ctx.kb, "dated", (as_of, *laid.key), build))


def _plan_dose(ctx: _Context, main: _Pick, elapsed: int, plan: PlanId) -> float:
    return _laid(ctx, main, (), elapsed, plan).cumulative_msv


def _plan(
    ctx: _Context, plan: PlanId, laid: _Laid, as_of: dt.date | None, main: _Pick | None,
    monitoring: Sequence[_Pick], elapsed: int, prior: float, recommended: bool,
) -> SurveillancePlan:
    duration = main.schedule.duration if main is not None else None
    lifelong = bool(duration and duration.lifelong)
    open_ended = bool(duration and duration.open_ended)
    at_least = bool(duration and duration.at_least)
    months = duration.months if duration is not None else None
    if main is not None and main.schedule.anchor == "treatment_line":
        remaining = None if months is None else months - elapsed
    else:
        remaining = months
    continues = lifelong or open_ended or at_least or (
        remaining is not None and remaining > ctx.horizon_months
    )
    return SurveillancePlan(
        id=plan,
        label=_t(ctx.lang, f"plan.{plan}"),
        recommended=recommended,
        exams=_dated(ctx, laid, as_of),
        exam_counts=dict(laid.counts),
        cumulative_msv=laid.cumulative_msv,
        prior_msv=prior,
        total_msv=_round(prior + laid.cumulative_msv),
        lifelong=lifelong,
        duration_months=months,
        at_least=at_least,
        open_ended=open_ended,
        continues_after_horizon=continues,
        sources=_sources(main, monitoring, [laid]),
    )


# ------------------------------------------------------------------ the planner


@dataclass(frozen=True)
class _Figures:
    default_msv: float
    minimised_msv: float
    prior_msv: float

    @property
    def saved(self) -> float:
        return _round(self.default_msv - self.minimised_msv)


def plan_surveillance(
    kb: KnowledgeBase,
    patient: Patient,
    selected: Sequence[tuple[str, str]],
    top_option: str | None = None,
    horizon_years: float | None = None,
    lang: Lang = "en",
) -> tuple[Surveillance, list[Alert]]:
    """The surveillance section and the alerts it raises.

    ``selected`` are the (schedule id, rule id) pairs of the fired ``surveil``
    effects, in rule order (:attr:`cds.engine.EvaluationDetail.schedules`);
    ``top_option`` is the rank-1 anti-tumour option.
    """
    check_imaging_history(patient, kb)
    horizon = check_horizon(horizon_years if horizon_years is not None else default_horizon_years(kb))
    horizon_months = max(1, round(horizon * 12))
    pregnant = Comorbidity.pregnancy in patient.comorbidities
    window = int(kb.settings.get(SETTING_PREGNANCY, 9)) if pregnant else None
    sites = patient.disease.metastatic_sites
    ctx = _Context(
        kb, lang, horizon_months, window, MetastaticSite.lung in sites,
        MetastaticSite.peritoneum in sites or MetastaticSite.lymph_nodes_distant in sites,
    )
    as_of = patient.as_of
    prior = prior_exposure_msv(patient, kb)
    elapsed = _elapsed_months(patient)

    main, alternatives, monitoring = _choose(_picks(kb, selected), top_option)
    laid = {p: _laid(ctx, main, monitoring, elapsed, p) for p in ("default", "minimised")}
    figures = _Figures(laid["default"].cumulative_msv, laid["minimised"].cumulative_msv, prior)
    young_age = int(kb.settings.get(SETTING_YOUNG, 50))
    young = patient.age is not None and patient.age < young_age
    same = laid["default"].signature == laid["minimised"].signature
    recommended: PlanId = "default"
    if same:
        reason = _t(lang, "rec.same")
    elif pregnant:
        recommended, reason = "minimised", _t(lang, "rec.pregnancy")
    elif young:
        recommended, reason = "minimised", _t(lang, "rec.young", age=young_age)
    else:
        reason = _t(lang, "rec.default", saved=fmt_msv(figures.saved))
    plans = [
        _plan(ctx, p, laid[p], as_of, main, monitoring, elapsed, prior, recommended == p)
        for p in ("default", "minimised")
    ]

    kind: Literal["imaging", "none", "individual", "unplanned"] = "unplanned"
    if main is not None and main.schedule.kind != "monitoring":
        kind = main.schedule.kind
    because = getattr(main.because, lang) if main is not None else _t(lang, "no_schedule")
    threshold = float(kb.settings.get(SETTING_THRESHOLD, 100))
    surveillance = Surveillance(
        schedule=main.schedule.id if main is not None else None,
        label=getattr(main.schedule.label, lang) if main is not None else None,
        kind=kind,
        rule=main.rule if main is not None else None,
        because=because,
        follows_option=main.if_option if main is not None else None,
        no_follow_up=kind == "none",
        no_follow_up_reason=because if kind == "none" else None,
        individual=kind == "individual",
        horizon_years=horizon,
        horizon_months=horizon_months,
        as_of=as_of.isoformat() if as_of is not None else None,
        dated=as_of is not None,
        elapsed_months=elapsed if main is not None and main.schedule.anchor == "treatment_line" else 0,
        recommended_plan=recommended,
        recommended_reason=reason,
        plans=plans,
        dose_saved_msv=figures.saved,
        prior_exposure_msv=prior,
        radiation_threshold_msv=threshold,
        pregnancy=pregnant,
        monitoring=[_ref(ctx, p, elapsed) for p in monitoring],
        alternatives=[_ref(ctx, p, elapsed) for p in alternatives],
        instructions=[
            getattr(p.schedule.instructions, lang)
            for p in ([main] if main is not None else []) + list(monitoring)
            if p.schedule.instructions is not None
        ],
        principles=[getattr(t, lang) for t in kb.surveillance_principles],
        assumptions=_assumptions(ctx, patient, main, elapsed, prior, horizon),
        sources=_sources(main, monitoring, [laid["default"], laid["minimised"]]),
        confirmed=False,
        unconfirmed=[],
    )
    unconfirmed = _unconfirmed(ctx, main, monitoring, [laid["default"], laid["minimised"]])
    surveillance = surveillance.model_copy(update={"unconfirmed": unconfirmed, "confirmed": not unconfirmed})
    alerts = _alerts(ctx, main, plans, laid["default"].has_imaging, figures, young, young_age,
                     threshold, horizon)
    return surveillance, alerts


def _ref(ctx: _Context, pick: _Pick, elapsed: int) -> ScheduleRef:
    default_msv = minimised_msv = None
    if pick.schedule.kind == "imaging":
        default_msv = _plan_dose(ctx, pick, elapsed, "default")
        minimised_msv = _plan_dose(ctx, pick, elapsed, "minimised")
    elif pick.schedule.kind == "none":
        default_msv = minimised_msv = 0.0
    return ScheduleRef(
        schedule=pick.schedule.id,
        label=getattr(pick.schedule.label, ctx.lang),
        kind=pick.schedule.kind,
        rule=pick.rule,
        if_option=pick.if_option,
        default_msv=default_msv,
        minimised_msv=minimised_msv,
        sources=list(pick.schedule.sources),
        confirmed=pick.schedule.confirmation in _CONFIRMED,
    )


def _assumptions(
    ctx: _Context, patient: Patient, main: _Pick | None, elapsed: int, prior: float, horizon: float
) -> list[str]:
    lang = ctx.lang
    out = [_t(lang, "a.month0")]
    if main is not None and main.schedule.anchor == "treatment_line" and elapsed:
        out.append(_t(lang, "a.elapsed", months=elapsed))
    out.append(_t(lang, "a.horizon", years=f"{horizon:g}"))
    if patient.as_of is None:
        out.append(_t(lang, "a.undated"))
    history = patient.imaging_history
    if history is not None:
        if history.cumulative_msv is not None:
            out.append(_t(lang, "a.prior_total", msv=fmt_msv(prior)))
        else:
            out.append(_t(lang, "a.prior_exams", msv=fmt_msv(prior), n=len(history.exams)))
    out.append(_t(lang, "a.minimised"))
    out += [getattr(a, lang) for a in ctx.kb.dose_assumptions]
    return out


def _sources(main: _Pick | None, monitoring: Sequence[_Pick], laid: Sequence[_Laid]) -> list[str]:
    found: dict[str, None] = {}
    for pick in ([main] if main is not None else []) + list(monitoring):
        found.update(dict.fromkeys(pick.schedule.sources))
    for one in laid:
        found.update(dict.fromkeys(one.dose_sources))
    return list(found)


def _unconfirmed(
    ctx: _Context, main: _Pick | None, monitoring: Sequence[_Pick], laid: Sequence[_Laid]
) -> list[str]:
    lang, kb = ctx.lang, ctx.kb
    out: list[str] = []
    for pick in ([main] if main is not None else []) + list(monitoring):
        sched = pick.schedule
        label = getattr(sched.label, lang)
        if sched.confirmation not in _CONFIRMED:
            out.append(_t(lang, "u.schedule", label=label, tag=sched.confirmation))
        for period in sched.periods:
            if period.confirmation is not None and period.confirmation not in _CONFIRMED:
                end = str(period.to_month) if period.to_month is not None else _t(lang, "end")
                text = _t(lang, "u.period", label=label, start=period.from_month, end=end, tag=period.confirmation)
                if period.note is not None:
                    text += f" ({getattr(period.note, lang)})"
                out.append(text)
    used = dict.fromkeys(m for one in laid for m in one.modalities)
    for modality in used:
        spec = kb.modalities[modality]
        if spec.confirmation not in _CONFIRMED:
            out.append(_t(lang, "u.dose", label=getattr(spec.label, lang), dose=fmt_msv(spec.dose_msv),
                          tag=spec.confirmation))
    return out


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _alerts(
    ctx: _Context, main: _Pick | None, plans: Sequence[SurveillancePlan], has_imaging: bool,
    figures: _Figures, young: bool, young_age: int, threshold: float, horizon: float,
) -> list[Alert]:
    kb, lang = ctx.kb, ctx.lang
    out: list[Alert] = []
    if main is not None:
        for alert_id in main.schedule.alerts:
            spec = kb.alerts[alert_id]
            out.append(Alert(
                id=alert_id, severity=spec.severity, text=getattr(main.because, lang), rule=main.rule,
                sources=sorted(main.schedule.sources), rules=[main.rule],
            ))
    default, minimised = plans[0], plans[1]
    situations: list[str] = []
    if max(default.total_msv, minimised.total_msv) > threshold:
        situations.append("radiation_above_threshold")
    if young and has_imaging:
        situations.append("young_patient")
    elif figures.saved > 0:
        situations.append("mri_substitution")
    if ctx.pregnancy_window is not None and has_imaging:
        situations.append("pregnancy")
    values = _Blank(
        horizon_years=f"{horizon:g}",
        default_msv=fmt_msv(default.cumulative_msv),
        minimised_msv=fmt_msv(minimised.cumulative_msv),
        default_total_msv=fmt_msv(default.total_msv),
        minimised_total_msv=fmt_msv(minimised.total_msv),
        prior_msv=fmt_msv(figures.prior_msv),
        threshold_msv=fmt_msv(threshold),
        saved_msv=fmt_msv(figures.saved),
        young_age=str(young_age),
        window_months=str(ctx.pregnancy_window or 0),
    )
    for situation in situations:
        for pa in kb.planner_alerts:
            if pa.situation != situation:
                continue
            rule_id = f"surveillance.planner.{situation}"
            out.append(Alert(
                id=pa.alert, severity=kb.alerts[pa.alert].severity,
                text=getattr(pa.because, lang).format_map(values), rule=rule_id,
                sources=sorted(pa.sources), rules=[rule_id],
            ))
    return out


def merge_alerts(existing: Sequence[Alert], extra: Sequence[Alert]) -> list[Alert]:
    """Add the planner's alerts to the rules' alerts: one alert per id, most severe first."""
    merged: dict[str, Alert] = {a.id: a for a in existing}
    for alert in extra:
        old = merged.get(alert.id)
        if old is None:
            merged[alert.id] = alert
            continue
        severity = min(old.severity, alert.severity, key=lambda s: _SEVERITY_ORDER[s])
        merged[alert.id] = old.model_copy(update={
            "severity": severity,
            "sources": sorted({*old.sources, *alert.sources}),
            "rules": list(dict.fromkeys([*(old.rules or [old.rule]), *(alert.rules or [alert.rule])])),
        })
    return sorted(merged.values(), key=lambda a: (_SEVERITY_ORDER[a.severity], a.id))


# ------------------------------------------------------------------ text


def _duration_text(plan: SurveillancePlan, lang: Lang) -> str:
    if plan.lifelong:
        return _t(lang, "t.lifelong")
    if plan.open_ended:
        return _t(lang, "t.open")
    if plan.duration_months is None:
        return "-"
    key = "t.at_least" if plan.at_least else "t.months"
    return _t(lang, key, months=plan.duration_months)


def _when(exam: PlannedExam, lang: Lang) -> str:
    month = _t(lang, "t.month", m=exam.offset_months)
    return f"{exam.date} ({month})" if exam.date else month


def print_surveillance(
    surveillance: Surveillance, console: Console, lang: Lang = "en", disclaimer: str | None = None
) -> None:
    """The plan as rich tables: both plans side by side, visit by visit, with their doses.

    ``disclaimer`` (the report's, in ``lang``) is printed last when given.
    """
    from rich.table import Table

    s = surveillance
    title = s.label or _t(lang, "no_schedule")
    colon = " :" if lang == "fr" else ":"
    console.print(f"[bold]{_t(lang, 't.schedule')}{colon}[/bold] {title}", highlight=False)
    if s.because:
        console.print(s.because, markup=False, highlight=False)
    if s.no_follow_up:
        console.print(f"[bold green]{_t(lang, 't.no_follow_up')}[/bold green]")
    elif s.individual:
        console.print(f"[bold]{_t(lang, 't.individual')}[/bold]")
    default, minimised = s.plans[0], s.plans[1]
    if default.exams or minimised.exams:
        table = Table(show_lines=False, expand=False)
        table.add_column(_t(lang, "t.when"))
        rec = f" ({_t(lang, 't.recommended')})"
        table.add_column(_t(lang, "t.default") + (rec if default.recommended else ""))
        table.add_column(_t(lang, "t.cum"), justify="right")
        table.add_column(_t(lang, "t.minimised") + (rec if minimised.recommended else ""))
        table.add_column(_t(lang, "t.cum"), justify="right")
        by_offset: dict[int, tuple[list[PlannedExam], list[PlannedExam]]] = {}
        for exam in default.exams:
            by_offset.setdefault(exam.offset_months, ([], []))[0].append(exam)
        for exam in minimised.exams:
            by_offset.setdefault(exam.offset_months, ([], []))[1].append(exam)
        for offset in sorted(by_offset):
            left, right = by_offset[offset]
            when = _when((left or right)[0], lang)

            def cell(exams: list[PlannedExam]) -> tuple[str, str]:
                if not exams:
                    return "", ""
                text = "\n".join(
                    e.short_label + (f" ({fmt_msv(e.dose_msv)} mSv)" if e.ionising else "") for e in exams
                )
                return text, fmt_msv(exams[-1].cumulative_msv)

            lt, lc = cell(left)
            rt, rc = cell(right)
            table.add_row(when, lt, lc, rt, rc)
        console.print(table)
    totals = Table(title=_t(lang, "t.totals", years=f"{s.horizon_years:g}"), show_header=True)
    totals.add_column("")
    totals.add_column(_t(lang, "t.default"), justify="right")
    totals.add_column(_t(lang, "t.minimised"), justify="right")
    totals.add_row(_t(lang, "t.plan_msv"), fmt_msv(default.cumulative_msv), fmt_msv(minimised.cumulative_msv))
    totals.add_row(_t(lang, "t.total_msv", prior=fmt_msv(s.prior_exposure_msv)),
                   fmt_msv(default.total_msv), fmt_msv(minimised.total_msv))
    totals.add_row(_t(lang, "t.duration"), _duration_text(default, lang), _duration_text(minimised, lang))
    console.print(totals)
    recommended = next(p.label for p in s.plans if p.recommended)
    console.print(_t(lang, "t.summary", saved=fmt_msv(s.dose_saved_msv), plan=recommended),
                  markup=False, highlight=False)
    console.print(s.recommended_reason, markup=False, highlight=False)
    for key, refs in (("t.monitoring", s.monitoring), ("t.alternatives", s.alternatives)):
        if refs:
            console.print(f"[bold]{_t(lang, key)}{colon}[/bold]")
            for ref in refs:
                dose = ""
                if ref.default_msv is not None and ref.kind == "imaging":
                    dose = f" ({fmt_msv(ref.default_msv)} / {fmt_msv(ref.minimised_msv or 0)} mSv)"
                console.print(f"  - {ref.label}{dose} [{ref.rule}]", markup=False, highlight=False)
    if s.instructions:
        console.print(f"[bold]{_t(lang, 't.instructions')}{colon}[/bold]")
        for line in s.instructions:
            console.print(f"  - {line}", markup=False, highlight=False)
    if s.unconfirmed:
        console.print(f"[bold yellow]{_t(lang, 't.unconfirmed')}{colon}[/bold yellow]")
        for line in s.unconfirmed:
            console.print(f"  - {line}", markup=False, highlight=False)
    console.print(f"{_t(lang, 't.sources')}{colon} {', '.join(s.sources)}", markup=False, highlight=False)
    if disclaimer:
        console.print(f"{_t(lang, 't.disclaimer')}{colon} {disclaimer}", markup=False, highlight=False)


def render_surveillance_text(
    surveillance: Surveillance, lang: Lang = "en", width: int = 110, disclaimer: str | None = None
) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False, force_terminal=False)
    print_surveillance(surveillance, console, lang, disclaimer)
    return buffer.getvalue()


# ------------------------------------------------------------------ iCalendar


def _ics_escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _ics_fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 character."""
    out: list[str] = []
    current = ""
    size = 0
    limit = 75
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def patient_key(patient: Patient) -> str:
    """A stable key for UIDs: the pseudonymous id when given, else a hash of the patient data."""
    if patient.id:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", patient.id).strip("-")
        if slug:
            return slug
    digest = hashlib.sha256(patient.model_dump_json().encode("utf-8")).hexdigest()
    return f"p{digest[:16]}"


def to_ics(
    surveillance: Surveillance, key: str, plan: Literal["recommended", "default", "minimised"] = "recommended",
    lang: Lang = "en", disclaimer: str | None = None,
) -> str:
    """The plan as an iCalendar file: one all-day event per visit, dated from as_of.

    Deterministic: UIDs derive from the patient key, plan, schedule and month;
    DTSTAMP is as_of at midnight UTC (never the clock).
    """
    if not surveillance.dated or surveillance.as_of is None:
        raise ValueError("an iCalendar export needs dates: give the patient's as_of (or --as-of)")
    wanted = surveillance.recommended_plan if plan == "recommended" else plan
    chosen = next(p for p in surveillance.plans if p.id == wanted)
    as_of = dt.date.fromisoformat(surveillance.as_of)
    stamp = f"{as_of:%Y%m%d}T000000Z"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:-//netcds//surveillance planner {SOFTWARE_VERSION}//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_ics_escape(_t(lang, 'svg.title', label=surveillance.label or key))}",
    ]
    visits: dict[int, list[PlannedExam]] = {}
    for exam in chosen.exams:
        visits.setdefault(exam.offset_months, []).append(exam)
    for offset in sorted(visits):
        exams = visits[offset]
        day = dt.date.fromisoformat(exams[0].date) if exams[0].date else add_months(as_of, offset)
        schedules = "-".join(dict.fromkeys(e.schedule for e in exams))
        uid = f"{key}-{chosen.id}-{schedules}-m{offset:03d}@netcds"
        summary = _t(lang, "ics.summary", exams=", ".join(e.short_label for e in exams))
        description = [
            _t(lang, "ics.plan", plan=chosen.label),
            _t(lang, "ics.schedule", label=surveillance.label or "-"),
            *(_t(lang, "ics.dose", exam=e.label, dose=fmt_msv(e.dose_msv)) + (f" ({e.note})" if e.note else "")
              for e in exams),
            _t(lang, "ics.cumulative", msv=fmt_msv(exams[-1].cumulative_msv)),
        ]
        if disclaimer:
            description.append(disclaimer)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{_ics_escape(summary)}",
            f"DESCRIPTION:{_ics_escape(chr(10).join(description))}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_ics_fold(line) + "\r\n" for line in lines)


# ------------------------------------------------------------------ SVG timeline


def _nice_ceiling(value: float) -> float:
    if value <= 10:
        return 10.0
    for step in (10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if value <= step * 10:
            return float(-(-value // step) * step)
    return float(-(-value // 1000) * 1000)


def timeline_svg(surveillance: Surveillance, lang: Lang = "en") -> str:
    """Both plans on a time line and their cumulative dose curves, as inline SVG (deterministic)."""
    s = surveillance
    width, left, right = 760, 130, 20
    plot = width - left - right
    horizon = max(1, s.horizon_months)
    lane_y = {"default": 58, "minimised": 88}
    top, bottom = 130, 270
    height = 320

    def x(month: float) -> str:
        return f"{left + plot * month / horizon:.1f}"

    def esc(text: str) -> str:
        return _xml_escape(text, {'"': "&quot;"})

    totals = [p.total_msv for p in s.plans] + [s.prior_exposure_msv]
    show_threshold = max(totals) >= s.radiation_threshold_msv * 0.5
    y_max = _nice_ceiling(max([*totals, s.radiation_threshold_msv if show_threshold else 0.0, 1.0]))

    def y(dose: float) -> str:
        return f"{bottom - (bottom - top) * dose / y_max:.1f}"

    label = s.label or _t(lang, "no_schedule")
    title = _t(lang, "svg.title", label=label)
    shown = label if len(label) <= 115 else label[:114] + "…"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}" '
        'font-family="sans-serif" font-size="11">',
        f"<title>{esc(title)}</title>",
        f'<text x="10" y="16" font-size="13" font-weight="bold">{esc(_t(lang, "svg.heading"))}</text>',
        f'<text x="10" y="32">{esc(shown)}</text>',
    ]
    # time axis (years)
    years = max(1, horizon // 12)
    step = 1 if years <= 12 else (2 if years <= 24 else 5)
    for year in range(0, years + 1, step):
        month = year * 12
        if month > horizon:
            break
        out.append(f'<line x1="{x(month)}" y1="40" x2="{x(month)}" y2="{bottom}" stroke="#dddddd"/>')
        out.append(f'<text x="{x(month)}" y="{bottom + 16}" text-anchor="middle">{year}</text>')
    out.append(f'<text x="{left + plot}" y="{bottom + 32}" text-anchor="end">{esc(_t(lang, "svg.years"))}</text>')
    colours = {"default": "#b03a2e", "minimised": "#1f618d"}
    for plan in s.plans:
        lane = lane_y[plan.id]
        lane_label = _t(lang, f"svg.{plan.id}")
        weight = ' font-weight="bold"' if plan.recommended else ""
        out.append(f'<text x="10" y="{lane + 4}" fill="{colours[plan.id]}"{weight}>{esc(lane_label)}</text>')
        if plan.recommended:
            out.append(f'<text x="10" y="{lane + 15}" font-size="9" fill="{colours[plan.id]}">'
                       f"{esc(_t(lang, 't.recommended'))}</text>")
        out.append(f'<line x1="{left}" y1="{lane}" x2="{left + plot}" y2="{lane}" stroke="#999999"/>')
        stacked: dict[int, int] = {}
        for exam in plan.exams:
            stack = stacked.get(exam.offset_months, 0)
            stacked[exam.offset_months] = stack + 1
            cy = lane - 6 * stack
            when = exam.date or _t(lang, "t.month", m=exam.offset_months)
            tip = f"{when}: {exam.label} ({fmt_msv(exam.dose_msv)} mSv)"
            if exam.ionising:
                out.append(f'<circle cx="{x(exam.offset_months)}" cy="{cy}" r="4" fill="{colours[plan.id]}">'
                           f"<title>{esc(tip)}</title></circle>")
            else:
                out.append(f'<circle cx="{x(exam.offset_months)}" cy="{cy}" r="4" fill="white" '
                           f'stroke="{colours[plan.id]}"><title>{esc(tip)}</title></circle>')
    if s.no_follow_up or not any(p.exams for p in s.plans):
        out.append(f'<text x="{left + plot / 2:.1f}" y="76" text-anchor="middle" font-style="italic">'
                   f"{esc(_t(lang, 'svg.none'))}</text>")
    # legend
    legend = left + plot - 230
    out.append(f'<circle cx="{legend}" cy="112" r="4" fill="#555555"/>'
               f'<text x="{legend + 8}" y="116">{esc(_t(lang, "svg.ionising"))}</text>')
    out.append(f'<circle cx="{legend + 110}" cy="112" r="4" fill="white" stroke="#555555"/>'
               f'<text x="{legend + 118}" y="116">{esc(_t(lang, "svg.non_ionising"))}</text>')
    # dose axis
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#333333"/>')
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{left + plot}" y2="{bottom}" stroke="#333333"/>')
    for fraction in (0.0, 0.5, 1.0):
        dose = y_max * fraction
        out.append(f'<text x="{left - 6}" y="{float(y(dose)) + 4:.1f}" text-anchor="end">{fmt_msv(dose)}</text>')
    out.append(f'<text x="10" y="116">{esc(_t(lang, "svg.dose"))}</text>')
    if show_threshold:
        ty = y(s.radiation_threshold_msv)
        out.append(f'<line x1="{left}" y1="{ty}" x2="{left + plot}" y2="{ty}" stroke="#e67e22" '
                   'stroke-dasharray="2,3"/>')
        out.append(f'<text x="{left + plot}" y="{float(ty) - 4:.1f}" text-anchor="end" fill="#e67e22">'
                   f"{esc(_t(lang, 'svg.threshold', msv=fmt_msv(s.radiation_threshold_msv)))}</text>")
    for plan in s.plans:
        level = plan.prior_msv
        points = [f"{x(0)},{y(level)}"]
        for exam in plan.exams:
            if exam.dose_msv <= 0:
                continue
            points.append(f"{x(exam.offset_months)},{y(level)}")
            level = plan.prior_msv + exam.cumulative_msv
            points.append(f"{x(exam.offset_months)},{y(level)}")
        points.append(f"{x(horizon)},{y(level)}")
        dash = ' stroke-dasharray="6,3"' if plan.id == "minimised" else ""
        out.append(f'<polyline fill="none" stroke="{colours[plan.id]}" stroke-width="2"{dash} '
                   f'points="{" ".join(points)}"/>')
        out.append(f'<text x="{left + plot + 2}" y="{float(y(level)) - 3:.1f}" text-anchor="end" '
                   f'fill="{colours[plan.id]}">{fmt_msv(plan.total_msv)} mSv</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def is_surveillance_rule(rule_id: str) -> bool:
    """Rules of knowledge/rules/surveillance.yaml (``surv.``) and the planner (``surveillance.``)."""
    return rule_id.startswith(("surv.", "surveillance."))


def surveillance_report(rec: Recommendation) -> SurveillanceReport:
    """The surveillance section of a recommendation, with its alerts, as a stand-alone report."""
    if rec.surveillance is None:
        raise ValueError("the recommendation has no surveillance section")
    return SurveillanceReport(
        knowledge_version=rec.knowledge_version,
        software_version=SOFTWARE_VERSION,
        patient_id=rec.patient_id,
        as_of=rec.surveillance.as_of,
        language=rec.language,
        surveillance=rec.surveillance,
        alerts=[a for a in rec.alerts if any(is_surveillance_rule(r) for r in (a.rules or [a.rule]))],
        disclaimer=disclaimer_in(rec.disclaimer, rec.language),
    )
