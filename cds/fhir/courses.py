"""Prior treatments from a Bundle: medication and procedure records gathered into courses.

A course is one option (catalogue id) with its stop reason and, when dates allow, its duration.
Records that are not facts never count (entered in error, not done, cancelled, drafts, proposals
and plans, not taken). A drug that belongs only to combinations counts only when its partner is
given together (same request group, one Medication holding both, or dates within
``together_within_days``); alone it is reported as unresolved, never guessed. A course whose stop
reason no record states is unresolved too: the board is asked, the engine is not told
"progression" by default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cds.fhir.bundle import Entry, IndexedBundle
from cds.fhir.codes import FhirCodes, ProcedureCodes
from cds.fhir.treatments import as_date, drugs_in, get, mentions, procedure_in, texts

#: Resource types read as treatment records.
TREATMENT_TYPES = ("MedicationStatement", "MedicationRequest", "MedicationAdministration", "Procedure")

_DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class Record:
    """One counted medication or procedure record, reduced to what a course needs.

    Examples
    --------
    >>> Record("Procedure/p", (), None, dt.date(2024, 1, 5), None, None, "completed", "status completed").stop
    'completed'
    """

    label: str
    drugs: tuple[str, ...]
    procedure: ProcedureCodes | None
    start: dt.date | None
    end: dt.date | None
    group: str | None
    stop: str | None
    why: str
    words: tuple[str, ...] = ()
    how: str = ""

    @property
    def last(self) -> dt.date | None:
        """The record's last known date (end, else start)."""
        return self.end or self.start


@dataclass
class CourseResult:
    """The courses found, where they came from, and what could not be resolved.

    Examples
    --------
    >>> CourseResult().courses
    []
    """

    courses: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    records: int = 0


def _span(resource: Any, single: str, period: str) -> tuple[dt.date | None, dt.date | None]:
    day = as_date(get(resource, single))
    if day is not None:
        return day, day
    span = get(resource, period)
    return as_date(get(span, "start")), as_date(get(span, "end"))


def _medication_concepts(entry: Entry, index: IndexedBundle) -> list[Any]:
    res = entry.resource
    concept = get(res, "medicationCodeableConcept")
    if concept is not None:
        return [concept]
    reference = get(get(res, "medicationReference"), "reference")
    medication: Any = None
    if reference and reference.startswith("#"):
        medication = next((c for c in get(res, "contained") or [] if get(c, "id") == reference[1:]), None)
    elif reference:
        target = index.resolve(reference)
        medication = target.resource if target is not None else None
    if medication is None:
        return []
    return [get(medication, "code"), *(get(i, "itemCodeableConcept") for i in get(medication, "ingredient") or [])]


def _reason(concepts: Iterable[Any], codes: FhirCodes) -> str | None:
    for concept in concepts:
        for text in texts(concept):
            for reason, patterns in codes.treatments.stop_reasons.items():
                if any(pattern in text for pattern in patterns):
                    return reason
    return None


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def read_record(entry: Entry, index: IndexedBundle, as_of: dt.date, codes: FhirCodes
                ) -> tuple[Record | None, str | None]:
    """One treatment resource as a :class:`Record`, or the reason it does not count.

    Parameters
    ----------
    entry
        A MedicationStatement, MedicationRequest, MedicationAdministration or Procedure.
    index
        The bundle (a ``medicationReference`` resolves inside it).
    as_of
        The decision date: a record starting after it does not count.
    codes
        The code catalogue.

    Returns
    -------
    tuple
        ``(record, None)`` or ``(None, why it is ignored)``.

    Examples
    --------
    >>> from cds.fhir.bundle import read_bundle
    >>> from cds.fhir.codes import load_codes
    >>> ib = read_bundle({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
    ...     "resourceType": "MedicationRequest", "id": "m", "status": "active", "intent": "proposal",
    ...     "subject": {"reference": "Patient/p"}, "medicationCodeableConcept": {"text": "everolimus"}}}]})
    >>> read_record(ib.entries[0], ib, dt.date(2025, 1, 1), load_codes())
    (None, "MedicationRequest/m: intent 'proposal' never counts")
    """
    res, label = entry.resource, entry.label
    rtype = res.get_resource_type()
    statuses = codes.statuses
    status = get(res, "status") or ""
    excluded = {"MedicationStatement": statuses.medication_statement_excluded,
                "MedicationRequest": statuses.medication_request_excluded,
                "MedicationAdministration": statuses.medication_administration_excluded,
                "Procedure": statuses.procedure_excluded}[rtype]
    if status in excluded:
        return None, f"{label}: status {status!r} never counts"
    if rtype == "MedicationRequest" and get(res, "intent") in statuses.medication_request_intent_excluded:
        return None, f"{label}: intent {get(res, 'intent')!r} never counts"
    drugs: tuple[str, ...] = ()
    row: ProcedureCodes | None = None
    if rtype == "Procedure":
        concepts = [get(res, "code")]
        row, found = procedure_in(concepts[0], codes)
        if row is None:
            return None, f"{label}: not a procedure of the catalogue"
    else:
        concepts = [c for c in _medication_concepts(entry, index) if c is not None]
        found = drugs_in(concepts, codes)
        drugs = found.ids
        if not drugs:
            return None, f"{label}: not a drug of the catalogue"
    if rtype in ("MedicationStatement", "MedicationAdministration"):
        start, end = _span(res, "effectiveDateTime", "effectivePeriod")
    elif rtype == "Procedure":
        start, end = _span(res, "performedDateTime", "performedPeriod")
    else:
        validity = get(get(res, "dispenseRequest"), "validityPeriod")
        start = as_date(get(validity, "start")) or as_date(get(res, "authoredOn"))
        end = as_date(get(validity, "end"))
    if start is not None and start > as_of:
        return None, f"{label}: starts {start.isoformat()}, after the decision date"
    if end is not None and end > as_of:
        end = None  # still running at the decision date
    meaning = codes.treatments.course_status.get(status)
    stop: str | None
    if rtype == "MedicationAdministration" and meaning == "completed":
        stop, why = None, "one administration given (says nothing of the course's end)"
    elif meaning == "reason":
        stop = _reason(_listed(get(res, "statusReason")), codes)
        why = f"status {status!r}" + (f", reason {stop}" if stop else ", reason not stated")
    elif meaning is not None:
        stop, why = meaning, f"status {status!r}"
    else:
        stop, why = None, f"status {status!r} does not say whether the course goes on"
    group = get(get(res, "groupIdentifier"), "value")
    words = tuple(t for c in concepts for t in texts(c))
    return Record(label, drugs, row, start, end, group, stop, why, words, found.how), None


def _together(a: Record, b: Record, days: int) -> bool:
    if a is b or (a.group is not None and a.group == b.group):
        return True
    if a.start is None or b.start is None:
        return False
    a_end, b_end = a.end or a.start, b.end or b.start
    gap = dt.timedelta(days=days)
    return a.start <= b_end + gap and b.start <= a_end + gap


def _assign(records: list[Record], site: str | None, codes: FhirCodes, out: CourseResult
            ) -> list[tuple[str, Record]]:
    table = codes.treatments
    combos = sorted(table.combinations, key=lambda c: -len(c.drugs))
    pairs: dict[tuple[str, str], Record] = {}
    for rec in records:
        if rec.procedure is not None:
            row = rec.procedure
            options = [row.by_site[site]] if site in row.by_site else row.options
            if len(options) == 1:
                pairs[(options[0], rec.label)] = rec
            else:
                out.unresolved.append(f"{rec.label}: a {row.id.replace('_', ' ')} may be {' or '.join(options)}; "
                                      "the record does not say which")
            continue
        for drug_id in rec.drugs:
            combo = next((c for c in combos if drug_id in c.drugs and all(
                other in rec.drugs or any(other in s.drugs and _together(rec, s, table.together_within_days)
                                          for s in records)
                for other in c.drugs if other != drug_id)), None)
            if combo is not None:
                pairs[(combo.option, rec.label)] = rec
                continue
            drug = table.drugs[drug_id]
            options = [o for o in drug.options if any(mentions(w, drug.forms.get(o, [])) for w in rec.words)] \
                or drug.options
            if len(options) == 1:
                pairs[(options[0], rec.label)] = rec
            elif options:
                out.unresolved.append(f"{rec.label}: {drug_id} may be {' or '.join(options)}; "
                                      "the record does not say which (e.g. long- or short-acting)")
            else:
                partners = [c.option for c in table.combinations if drug_id in c.drugs]
                out.unresolved.append(f"{rec.label}: {drug_id} is given only in combinations ({', '.join(partners)}) "
                                      "and no partner drug was given with it in these records")
    return [(option, rec) for (option, _), rec in pairs.items()]


def _clusters(records: list[Record], gap_days: int) -> list[list[Record]]:
    dated = sorted((r for r in records if r.start is not None), key=lambda r: r.start or dt.date.min)
    clusters: list[list[Record]] = []
    for rec in dated:
        last = max((r.last for r in clusters[-1] if r.last), default=None) if clusters else None
        if last is not None and rec.start is not None and (rec.start - last).days <= gap_days:
            clusters[-1].append(rec)
        else:
            clusters.append([rec])
    undated = [r for r in records if r.start is None]
    if undated:
        if clusters:
            clusters[0].extend(undated)
        else:
            clusters.append(undated)
    return clusters


def _course(option: str, recs: list[Record], as_of: dt.date, out: CourseResult) -> None:
    labels = ", ".join(r.label for r in recs)
    reasoned = [r for r in recs if r.stop is not None]
    if not reasoned:
        out.unresolved.append(f"{option} ({labels}): no record says whether the course goes on or why it stopped")
        return
    newest = max((r.last or dt.date.min) for r in reasoned)
    latest = {r.stop for r in reasoned if (r.last or dt.date.min) == newest}
    if len(latest) > 1:
        out.unresolved.append(f"{option} ({labels}): the newest records disagree on the course "
                              f"({', '.join(sorted(s for s in latest if s))})")
        return
    stop = latest.pop()
    course: dict[str, Any] = {"option": option, "stop_reason": stop}
    starts = [r.start for r in recs if r.start is not None]
    ends = [r.last for r in recs if r.last is not None]
    if starts:
        end = as_of if stop == "ongoing" else max(ends)
        if end > min(starts):
            course["duration_months"] = round((end - min(starts)).days / _DAYS_PER_MONTH, 1)
    out.courses.append(course)
    out.sources += [r.label for r in recs if r.label not in out.sources]
    whys = "; ".join(dict.fromkeys(f"{r.label} {r.why}" for r in reasoned if (r.last or dt.date.min) == newest))
    out.notes.append(f"{option}: {stop} ({whys}); recognised by {', '.join(dict.fromkeys(r.how for r in recs))}")


def prior_treatments(entries: Iterable[Entry], index: IndexedBundle, as_of: dt.date, site: str | None,
                     codes: FhirCodes) -> CourseResult:
    """Gather the patient's medication and procedure records into courses of catalogue options.

    Parameters
    ----------
    entries
        The treatment resources about the patient.
    index
        The bundle (to resolve ``medicationReference``).
    as_of
        The decision date.
    site
        The mapped primary site, for procedures whose option depends on it (a right
        hemicolectomy after an appendiceal NET is the completion operation).
    codes
        The code catalogue.

    Returns
    -------
    CourseResult
        Courses as the input contract writes them (``option``, ``stop_reason``, ``duration_months``),
        their sources and notes, the unresolved records and the ignored ones.

    Examples
    --------
    >>> from cds.fhir.bundle import read_bundle
    >>> from cds.fhir.codes import load_codes
    >>> ib = read_bundle({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
    ...     "resourceType": "MedicationStatement", "id": "s", "status": "completed",
    ...     "subject": {"reference": "Patient/p"}, "effectivePeriod": {"start": "2023-01-01", "end": "2023-07-02"},
    ...     "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "L01EX01"}]}}}]})
    >>> prior_treatments(ib.entries, ib, dt.date(2025, 1, 1), "pancreas", load_codes()).courses
    [{'option': 'sunitinib', 'stop_reason': 'completed', 'duration_months': 6.0}]
    """
    out = CourseResult()
    records: list[Record] = []
    for entry in entries:
        record, why = read_record(entry, index, as_of, codes)
        if record is None:
            out.ignored.append(why or entry.label)
        else:
            records.append(record)
    out.records = len(records)
    by_option: dict[str, list[Record]] = {}
    for option, rec in _assign(records, site, codes, out):
        by_option.setdefault(option, []).append(rec)
    for option, recs in by_option.items():
        for cluster in _clusters(recs, codes.treatments.course_gap_days):
            _course(option, cluster, as_of, out)
    return out
