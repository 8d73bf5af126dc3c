"""Long-term surveillance planner: late-relapse detection weighed against cumulative radiation.

Rules (``knowledge/recommendations/follow-up/``) select schedules from the catalogue
(``knowledge/catalogues/follow-up-schedules.yaml``) with ``surveil`` effects; the engine hands the
selected (schedule, rule) pairs here. The planner

1. chooses the patient's schedule: a schedule that follows the rank-1 option
   (``if_option``) first, then situation schedules, then schedules following an
   option that is not first; within a tier the most specific (lowest priority)
   wins. The others are listed as alternatives; ``monitoring`` schedules
   (laboratory, heart) are added to the plan;
2. lays it out over a horizon (by default the ``surveillance_default_horizon_years``
   setting) as two plans: the guideline's default exams and a radiation-minimised
   variant of the same schedule (the ``minimised`` exams of each slot, changed by the
   ``planner.substitutions`` whose condition holds), with the dose of each exam from
   the dose table (``knowledge/catalogues/radiation-doses.yaml``) and the cumulative dose, earlier
   imaging (``imaging_history``) included in the totals; within a
   ``planner.ionising_windows`` window (pregnancy) no ionising exam is planned;
3. recommends the plan named by the first ``planner.preferences`` entry whose
   condition holds (young patients, pregnancy), and raises the planner alerts of
   the situations met (``planner_alerts``).

The policy (substitutions, windows, preferences) and the sentences the planner puts in
the contract are knowledge (``planner:`` in ``knowledge/catalogues/follow-up-schedules.yaml``); their
conditions are written in the condition language and evaluated over the patient's facts.
Nothing here reads the clock: exams are dated from the patient's ``as_of`` when it is
known, and otherwise carry offsets in months only. The outputs for people (text,
iCalendar, timeline) are in :mod:`cds.render`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from pydantic import TypeAdapter

from cds.errors import InputError, InputProblem
from cds.facts import build_context
from cds.input import check_horizon
from cds.knowledge import conditions
from cds.knowledge.loader import planner_rule_id
from cds.knowledge.schema import (
    SETTING_DEFAULT_HORIZON,
    SETTING_RADIATION_ALERT,
    ExamSlot,
    ExamSubstitution,
    IonisingWindow,
    PlannerTexts,
    Schedule,
    SchedulePeriod,
    Text,
)
from cds.model.patient import Comorbidity, Patient, StopReason
from cds.model.recommendation import (
    Alert,
    Lang,
    PlannedExam,
    Recommendation,
    ScheduleRef,
    Surveillance,
    SurveillancePlan,
    SurveillanceReport,
    disclaimer_in,
)
from cds.model.units import add_months, fmt_msv, fmt_number
from cds.suggest import did_you_mean
from cds.version import SOFTWARE_VERSION

if TYPE_CHECKING:
    from cds.knowledge.loader import KnowledgeBase

#: The two plans of every follow-up: the guideline's exams and the radiation-minimised variant.
PlanId = Literal["default", "minimised"]
T = TypeVar("T")
_EXAMS: TypeAdapter[list[PlannedExam]] = TypeAdapter(list[PlannedExam])

_CONFIRMED = frozenset({"V", "policy", "physics"})
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def _round(value: float) -> float:
    out = round(value, 2)
    return 0.0 if out == 0 else out


# ------------------------------------------------------------------ texts


class _Values(dict[str, Any]):
    """The values of a text's placeholders; one without a value is kept as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(text: Text, lang: Lang, **values: Any) -> str:
    """A knowledge text in ``lang`` with the planner's placeholders filled (the loader checked them;
    its ``{setting:NAME}`` were filled with the values in force as the knowledge loaded)."""
    return cast(str, getattr(text, lang)).format_map(_Values(values))


# ------------------------------------------------------------------ inputs


def default_horizon_years(kb: KnowledgeBase) -> float:
    """The horizon of a plan when none is asked for: the ``surveillance_default_horizon_years`` setting.

    Parameters
    ----------
    kb
        A knowledge base with a surveillance catalogue (the loader then requires the setting).

    Returns
    -------
    float
        Years.

    Examples
    --------
    >>> from cds import default_engine
    >>> default_horizon_years(default_engine().kb)
    10.0
    """
    return float(kb.settings[SETTING_DEFAULT_HORIZON])


def check_imaging_history(patient: Patient, kb: KnowledgeBase, source: str = "input") -> None:
    """Raise InputError when an earlier exam names a modality that the dose table does not know.

    Parameters
    ----------
    patient
        The validated patient.
    kb
        The knowledge base (its dose table).
    source
        What to call the input in messages.

    Raises
    ------
    InputError
        One problem per unknown exam, at ``imaging_history.exams[i].modality``, with a
        suggestion and the allowed exams.

    Examples
    --------
    >>> from cds import default_engine, validate_patient
    >>> patient = validate_patient({"tumour": {"primary_site": "pancreas"},
    ...                             "imaging_history": {"exams": [{"modality": "ct_chest", "date": "2024-05-02"}]}})
    >>> check_imaging_history(patient, default_engine().kb)  # known: nothing happens
    """
    history = patient.imaging_history
    if history is None:
        return
    known = sorted(kb.modalities)
    problems: list[InputProblem] = []
    for i, exam in enumerate(history.exams):
        if exam.modality in kb.modalities:
            continue
        hint = did_you_mean(exam.modality, known)
        problems.append(InputProblem(
            f"imaging_history.exams[{i}].modality",
            f"{exam.modality!r} is not an exam of the dose table{hint} (allowed: {', '.join(known)})",
        ))
    if problems:
        raise InputError(problems, source)


def prior_exposure_msv(patient: Patient, kb: KnowledgeBase) -> float:
    """Earlier exposure: the declared total when given, else the listed exams at typical doses.

    Parameters
    ----------
    patient
        The validated patient (its ``imaging_history``).
    kb
        The knowledge base (its dose table).

    Returns
    -------
    float
        mSv, rounded to 0.01; 0 without imaging history.

    Examples
    --------
    >>> from cds import default_engine, validate_patient
    >>> patient = validate_patient({"tumour": {"primary_site": "pancreas"},
    ...                             "imaging_history": {"exams": [{"modality": "ct_chest", "date": "2024-05-02"}]}})
    >>> prior_exposure_msv(patient, default_engine().kb) == default_engine().kb.modalities["ct_chest"].dose_msv
    True
    """
    history = patient.imaging_history
    if history is None:
        return 0.0
    if history.cumulative_msv is not None:
        return _round(float(history.cumulative_msv))
    return _round(sum(kb.modalities[e.modality].dose_msv for e in history.exams))


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
    texts: PlannerTexts
    lang: Lang
    horizon_months: int
    # The policy that holds for this patient (conditions evaluated once, up front): the layouts
    # depend on the patient only through these, so they key the memo.
    window: IonisingWindow | None
    substitutions: tuple[ExamSubstitution, ...]
    # Per exam slot and plan, the exams it stands for (a slot repeats at every visit).
    slots: dict[tuple[int, str], list[tuple[str, str | None, list[str]]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def say(self, text: Text, **values: Any) -> str:
        return _fill(text, self.lang, **values)

    @property
    def policy_key(self) -> tuple[Any, ...]:
        """What the layouts read of the patient's situation: the window and substitutions that hold."""
        return (self.window.id if self.window is not None else None, tuple(s.id for s in self.substitutions))


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
    """The slot's exams: its default exam, or in the minimised plan its ``minimised`` list changed by
    the substitutions that hold, each where the minimised exams leave its region unexamined."""
    note = [getattr(slot.note, ctx.lang)] if slot.note is not None else []
    if plan == "default" or slot.minimised is None:
        return [(slot.modality, None, list(note))]
    subs = [(m, None if m == slot.modality else slot.modality, list(note)) for m in slot.minimised]
    for sub in ctx.substitutions:
        if (
            not subs
            or not _covers(ctx, slot.modality, sub.region)
            or any(_covers(ctx, m, sub.region) for m, _, _ in subs)
        ):
            continue
        why = ctx.say(sub.note)
        if sub.replace is not None:
            kind, by = sub.replace.kind, sub.replace.by
            subs = [
                (by, rep, [*nts, why]) if ctx.kb.modalities[m].kind == kind else (m, rep, nts)
                for m, rep, nts in subs
            ]
        elif sub.add is not None:
            subs.append((sub.add, slot.modality, [*note, why]))
    return subs


def _layout(
    ctx: _Context, schedule: Schedule, group: int, elapsed: int, plan: PlanId
) -> list[_Exam]:
    kb = ctx.kb
    window = ctx.window
    out: list[_Exam] = []
    seq = 0
    for month, period in _visit_months(schedule, elapsed, elapsed + ctx.horizon_months):
        offset = month - elapsed
        tag = period.confirmation or schedule.confirmation
        for slot in period.exams:
            for modality, replaces, notes in _slot_exams(ctx, slot, plan):
                exams: list[tuple[int, str, str | None, list[str]]] = [(offset, modality, replaces, notes)]
                if window is not None and offset <= window.window_months:
                    exams = _in_window(ctx, window, slot, offset, modality, replaces, notes)
                for off, mod, rep, nts in exams:
                    seq += 1
                    confirmed = tag in _CONFIRMED and kb.modalities[mod].confirmation in _CONFIRMED
                    out.append(_Exam(off, mod, schedule.id, group, seq, rep, nts, confirmed, off != offset))
    return out


def _in_window(
    ctx: _Context, window: IonisingWindow, slot: ExamSlot, offset: int, modality: str, replaces: str | None,
    notes: list[str],
) -> list[tuple[int, str, str | None, list[str]]]:
    """No ionising exam within the window (pregnancy).

    The slot's own (default) exam is replaced by the non-ionising exams of its
    minimised list (MRI without gadolinium), and the ionising rest of that list
    (a chest CT) is postponed until just after the window; an ionising exam
    without a non-ionising substitute is postponed as a whole.
    """
    kb, lang = ctx.kb, ctx.lang
    spec = kb.modalities[modality]
    if not spec.ionising:
        extra = [ctx.say(window.gadolinium_note)] if spec.gadolinium else []
        return [(offset, modality, replaces, [*notes, *extra])]
    later = window.window_months + 1
    deferred: list[str] = [modality]
    out: list[tuple[int, str, str | None, list[str]]] = []
    if modality == slot.modality:
        minimised = [m for m in (slot.minimised or []) if m in kb.modalities]
        subs = [m for m in minimised if not kb.modalities[m].ionising]
        if subs:
            note = ctx.say(window.substitute_note, exam=getattr(spec.label, lang))
            out += [(offset, m, modality, [*notes, note, ctx.say(window.gadolinium_note)]) for m in subs]
            deferred = [m for m in minimised if kb.modalities[m].ionising]
    if later <= ctx.horizon_months:
        postponed = ctx.say(window.postpone_note, month=later)
        out += [(later, m, replaces if m == modality else modality, [*notes, postponed]) for m in deferred]
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
    key = (ctx.lang, ctx.horizon_months, ctx.policy_key, schedule.id, group, elapsed, plan)
    return memo(ctx.kb, "schedule", key, lambda: tuple(_layout(ctx, schedule, group, elapsed, plan)))


# Bound of KnowledgeBase.memo: enough for every schedule combination met in practice.
_MEMO_LIMIT = 4096
# Dated plans differ with every decision date. Patients evaluated together mostly share one
# (a tumour board session, a cohort run with its as_of): keep the plans of up to 256 layouts
# for each of the last 2 dates (a cohort of synthetic patients meets ~100 layouts).
_MEMO_LIMITS = {"dated": 256, "dates": 2, "laid": 1024, "undated": 1024, "schedule": 1024}


def memo(kb: KnowledgeBase, kind: str, key: tuple[Any, ...], build: Callable[[], T]) -> T:
    """``build()``, computed once per ``kind`` and key for this knowledge.

    Laying out a 10-year plan is a pure function of the schedules, the horizon and the
    policy that holds for the patient (which ionising window and substitutions apply:
    the conditions are evaluated first and the keys hold their outcomes), and it is most
    of an evaluation's cost; patients of one tumour board share those inputs. What is
    stored is never changed once built, and callers only ever receive fresh lists of
    frozen, scalar-only records, so no caller can change what another gets
    (tests/test_surveillance.py checks it).

    Parameters
    ----------
    kb
        The knowledge base whose ``memo`` holds the results.
    kind
        What is stored; each kind has its own bound (when full, the oldest entry makes room).
    key
        What the result depends on, besides the knowledge.
    build
        Computes the result when it is not stored yet.

    Returns
    -------
    T
        The stored or newly built result (the same object for the same key).

    Examples
    --------
    >>> from cds import default_engine
    >>> kb = default_engine().kb
    >>> memo(kb, "doc-example", (1,), lambda: [1]) is memo(kb, "doc-example", (1,), lambda: [2])
    True
    >>> del kb.memo["doc-example"]
    """
    return _bounded(kb.memo.setdefault(kind, {}), key, _MEMO_LIMITS.get(kind, _MEMO_LIMIT), build)


def _bounded(cache: dict[Any, Any], key: Any, limit: int, build: Callable[[], T]) -> T:
    """``cache[key]``, built when missing; when full, the oldest entry makes room."""
    hit = cache.get(key)
    if hit is None:
        if len(cache) >= limit:
            # First in, first out (dicts keep insertion order): emptying the whole store
            # instead would rebuild every plan in use each time a new one comes. Another
            # thread may evict at the same moment: then there is room already.
            with contextlib.suppress(StopIteration, RuntimeError):
                cache.pop(next(iter(cache)), None)
        hit = cache[key] = build()
    return cast(T, hit)


def _layout_key(
    ctx: _Context, main: _Pick | None, monitoring: Sequence[_Pick], elapsed: int, plan: PlanId
) -> tuple[Any, ...]:
    return (
        ctx.lang, ctx.horizon_months, ctx.policy_key, main.schedule.id if main is not None else None,
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

    # Per decision date: the plans of the two dates seen last, each date's up to the "dated" bound.
    # Patients evaluated together mostly share a date (a board session, a cohort's as_of), and
    # then their plans are found again; a stream of new dates lets old plans go at once instead
    # of keeping them until they are old enough to cost full garbage collections.
    of_date: dict[tuple[Any, ...], tuple[PlannedExam, ...]] = memo(ctx.kb, "dates", (as_of,), dict)
    return list(_bounded(of_date, laid.key, _MEMO_LIMITS["dated"], build))


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
        label=ctx.say(ctx.texts.plan_default if plan == "default" else ctx.texts.plan_minimised),
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
    facts: Mapping[str, Any] | None = None,
) -> tuple[Surveillance, list[Alert]]:
    """The surveillance section and the alerts it raises.

    ``selected`` are the (schedule id, rule id) pairs of the fired ``surveil``
    effects, in rule order (:attr:`cds.engine.EvaluationDetail.schedules`);
    ``top_option`` is the rank-1 anti-tumour option. ``facts`` is the context the
    planner's conditions read, the rules' context with its derived facts
    (:attr:`cds.engine.EvaluationDetail.context`); it is built from the patient when
    not given (then without derived facts).

    Parameters
    ----------
    kb
        A knowledge base with a surveillance catalogue.
    patient
        The validated patient.
    selected
        (schedule id, rule id) of the fired ``surveil`` effects, in rule order.
    top_option
        The rank-1 anti-tumour option, if any.
    horizon_years
        Years to lay the plans out over (default: :func:`default_horizon_years`).
    lang
        Language of the texts.
    facts
        The context the planner's conditions read (default: built from the patient).

    Returns
    -------
    tuple of Surveillance and list of Alert
        The surveillance section and the planner's alerts (merge them with
        :func:`merge_alerts`).

    Raises
    ------
    ValueError
        When the knowledge has no surveillance catalogue (it plans no follow-up) or the
        horizon is out of range.
    cds.errors.InputError
        When an earlier exam is not in the dose table.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient(
    ...     '{"age": 64, "as_of": "2025-03-01", "tumour": {"primary_site": "pancreas", "differentiation": "well", '
    ...     '"ki67_percent": 4, "size_mm": 25, "functional_syndrome": "none", "primary_resected": true, '
    ...     '"lymph_nodes_positive": false, "resection_margin": "r0"}, "disease": {"stage": "localized"}}')
    >>> detail = default_engine().evaluate_detail(patient, surveillance=False)
    >>> plan, alerts = plan_surveillance(default_engine().kb, patient, detail.schedules, facts=detail.context)
    >>> plan.schedule, [p.cumulative_msv for p in plan.plans], plan.recommended_plan
    ('pnet_resected_commnets', [60.0, 0.0], 'default')
    >>> plan.plans[0].exams[0].date
    '2026-03-01'
    """
    planner = kb.planner
    if planner is None:
        raise ValueError("this knowledge has no surveillance catalogue: it plans no follow-up")
    check_imaging_history(patient, kb)
    horizon = check_horizon(horizon_years if horizon_years is not None else default_horizon_years(kb))
    horizon_months = max(1, round(horizon * 12))
    facts = build_context(patient) if facts is None else facts

    def holds(when: Sequence[Mapping[str, Any]]) -> bool:
        return all(conditions.evaluate(c, facts) for c in when)

    preferences = [p for p in planner.preferences if holds(p.when)]
    ctx = _Context(
        kb, planner.texts, lang, horizon_months,
        window=next((w for w in planner.ionising_windows if holds(w.when)), None),
        substitutions=tuple(s for s in planner.substitutions if holds(s.when)),
    )
    as_of = patient.as_of
    prior = prior_exposure_msv(patient, kb)
    elapsed = _elapsed_months(patient)

    main, alternatives, monitoring = _choose(_picks(kb, selected), top_option)
    laid = {p: _laid(ctx, main, monitoring, elapsed, p) for p in ("default", "minimised")}
    figures = _Figures(laid["default"].cumulative_msv, laid["minimised"].cumulative_msv, prior)
    recommended: PlanId = "default"
    if laid["default"].signature == laid["minimised"].signature:
        reason = ctx.say(ctx.texts.same_plans)
    elif preferences:
        recommended, reason = preferences[0].recommend, ctx.say(preferences[0].because)
    else:
        reason = ctx.say(ctx.texts.default_plan_reason, saved=fmt_msv(figures.saved, lang))
    plans = [
        _plan(ctx, p, laid[p], as_of, main, monitoring, elapsed, prior, recommended == p)
        for p in ("default", "minimised")
    ]

    kind: Literal["imaging", "none", "individual", "unplanned"] = "unplanned"
    if main is not None and main.schedule.kind != "monitoring":
        kind = main.schedule.kind
    because = getattr(main.because, lang) if main is not None else ctx.say(ctx.texts.no_schedule)
    threshold = float(kb.settings[SETTING_RADIATION_ALERT])
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
        pregnancy=Comorbidity.pregnancy in patient.comorbidities,
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
    situations = _situations(ctx, plans, laid["default"].has_imaging, figures, recommended,
                             [p.id for p in preferences], threshold)
    alerts = _alerts(ctx, main, plans, situations, figures, threshold, horizon)
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
    texts = ctx.texts
    out = [ctx.say(texts.month_zero)]
    if main is not None and main.schedule.anchor == "treatment_line" and elapsed:
        out.append(ctx.say(texts.elapsed, months=elapsed))
    out.append(ctx.say(texts.horizon, years=fmt_number(horizon, ctx.lang)))
    if patient.as_of is None:
        out.append(ctx.say(texts.undated))
    history = patient.imaging_history
    if history is not None:
        if history.cumulative_msv is not None:
            out.append(ctx.say(texts.prior_total, msv=fmt_msv(prior, ctx.lang)))
        else:
            out.append(ctx.say(texts.prior_exams, msv=fmt_msv(prior, ctx.lang), n=len(history.exams)))
    out.append(ctx.say(texts.minimised_plan))
    out += [getattr(a, ctx.lang) for a in ctx.kb.dose_assumptions]
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
    lang, kb, texts = ctx.lang, ctx.kb, ctx.texts
    out: list[str] = []
    for pick in ([main] if main is not None else []) + list(monitoring):
        sched = pick.schedule
        label = getattr(sched.label, lang)
        if sched.confirmation not in _CONFIRMED:
            out.append(ctx.say(texts.unconfirmed_schedule, label=label, tag=sched.confirmation))
        for period in sched.periods:
            if period.confirmation is not None and period.confirmation not in _CONFIRMED:
                end = str(period.to_month) if period.to_month is not None else ctx.say(texts.period_end)
                text = ctx.say(texts.unconfirmed_period, label=label, start=period.from_month, end=end,
                               tag=period.confirmation)
                if period.note is not None:
                    text += f" ({getattr(period.note, lang)})"
                out.append(text)
    used = dict.fromkeys(m for one in laid for m in one.modalities)
    for modality in used:
        spec = kb.modalities[modality]
        if spec.confirmation not in _CONFIRMED:
            out.append(ctx.say(texts.unconfirmed_dose, label=getattr(spec.label, lang),
                               dose=fmt_msv(spec.dose_msv, lang), tag=spec.confirmation))
    return out


def _situations(
    ctx: _Context, plans: Sequence[SurveillancePlan], has_imaging: bool, figures: _Figures,
    recommended: PlanId, preferences: Sequence[str], threshold: float,
) -> list[str]:
    """The situations met, in the order their alerts are raised: the projected dose above the
    threshold; each plan preference that holds (for a plan with imaging); a minimised plan that
    saves dose but is not recommended; the ionising window that holds (for a plan with imaging)."""
    default, minimised = plans[0], plans[1]
    out: list[str] = []
    if max(default.total_msv, minimised.total_msv) > threshold:
        out.append("radiation_above_threshold")
    if has_imaging:
        out += preferences
    if figures.saved > 0 and recommended == "default":
        out.append("mri_substitution")
    if ctx.window is not None and has_imaging:
        out.append(ctx.window.id)
    return out


def _alerts(
    ctx: _Context, main: _Pick | None, plans: Sequence[SurveillancePlan], situations: Sequence[str],
    figures: _Figures, threshold: float, horizon: float,
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
    values = {
        "horizon_years": fmt_number(horizon, lang),
        "default_msv": fmt_msv(default.cumulative_msv, lang),
        "minimised_msv": fmt_msv(minimised.cumulative_msv, lang),
        "default_total_msv": fmt_msv(default.total_msv, lang),
        "minimised_total_msv": fmt_msv(minimised.total_msv, lang),
        "prior_msv": fmt_msv(figures.prior_msv, lang),
        # the earlier dose inside the total, said only when there is one
        "prior_note": ctx.say(ctx.texts.prior_included, msv=fmt_msv(figures.prior_msv, lang))
        if figures.prior_msv > 0 else "",
        "threshold_msv": fmt_msv(threshold, lang),
        "saved_msv": fmt_msv(figures.saved, lang),
    }
    for situation in situations:
        for pa in kb.planner_alerts:
            if pa.situation != situation:
                continue
            rule_id = planner_rule_id(situation)
            out.append(Alert(
                id=pa.alert, severity=kb.alerts[pa.alert].severity, text=ctx.say(pa.because, **values),
                rule=rule_id, sources=sorted(pa.sources), rules=[rule_id],
            ))
    return out


def merge_alerts(existing: Sequence[Alert], extra: Sequence[Alert]) -> list[Alert]:
    """Add the planner's alerts to the rules' alerts: one alert per id, most severe first.

    Parameters
    ----------
    existing
        The rules' alerts; an alert of the same id keeps their text.
    extra
        The planner's alerts.

    Returns
    -------
    list of Alert
        One alert per id with the highest severity and every source and rule, sorted by
        severity then id.

    Examples
    --------
    >>> rule = Alert(id="prefer_mri", severity="info", text="Rule.", rule="r1", sources=["a"])
    >>> planner = Alert(id="prefer_mri", severity="warning", text="Planner.", rule="p1", sources=["b"])
    >>> (merged,) = merge_alerts([rule], [planner])
    >>> merged.text, merged.severity, merged.sources, merged.rules
    ('Rule.', 'warning', ['a', 'b'], ['r1', 'p1'])
    """
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


def patient_key(patient: Patient) -> str:
    """A stable key for UIDs: the pseudonymous id when given, else a hash of the patient data.

    Parameters
    ----------
    patient
        The validated patient.

    Returns
    -------
    str
        Letters, digits, ``.``, ``_`` and ``-`` only.

    Examples
    --------
    >>> from cds import parse_patient
    >>> patient_key(parse_patient('{"id": "MDT 2025/17", "tumour": {"primary_site": "pancreas"}}'))
    'MDT-2025-17'
    """
    if patient.id:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", patient.id).strip("-")
        if slug:
            return slug
    digest = hashlib.sha256(patient.model_dump_json().encode("utf-8")).hexdigest()
    return f"p{digest[:16]}"


def is_surveillance_rule(rule_id: str) -> bool:
    """Rules of knowledge/recommendations/follow-up/ (``surv.``) and the planner (``surveillance.``).

    Parameters
    ----------
    rule_id
        A rule id, as alerts cite it.

    Returns
    -------
    bool
        True for a surveillance rule.

    Examples
    --------
    >>> is_surveillance_rule("surveillance.planner.young_patient"), is_surveillance_rule("pnet.everolimus")
    (True, False)
    """
    return rule_id.startswith(("surv.", "surveillance."))


def surveillance_report(rec: Recommendation) -> SurveillanceReport:
    """The surveillance section of a recommendation, with its alerts, as a stand-alone report.

    Parameters
    ----------
    rec
        A recommendation evaluated with its follow-up plan.

    Returns
    -------
    SurveillanceReport
        What ``cds surveillance --format json`` prints.

    Raises
    ------
    ValueError
        When the recommendation has no surveillance section.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> rec = default_engine().evaluate(parse_patient('{"tumour": {"primary_site": "pancreas"}}'))
    >>> surveillance_report(rec).surveillance.plans[0].id
    'default'
    """
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
