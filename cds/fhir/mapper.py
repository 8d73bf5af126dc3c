"""Map a FHIR R4 Bundle to the patient contract, with a report of where each field came from.

Only facts count: Observations must be final, amended or corrected; Conditions that were
entered in error, refuted, inactive, in remission or resolved never count; nothing dated after
the decision date counts. When records disagree the newest wins and the conflict is reported;
when the newest records disagree on the same date the field is ``ambiguous`` and left unknown.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from cds.fhir.bundle import Entry, IndexedBundle, InvalidResource, read_bundle
from cds.fhir.codes import CodedObservation, FhirCodes, ObservationCodes, load_codes
from cds.fhir.courses import TREATMENT_TYPES, CourseResult, prior_treatments
from cds.fhir.reports import read_text, report_texts
from cds.fhir.treatments import as_date, mentions, texts
from cds.model.patient import Patient


class Status(str, Enum):
    """How a field's value was obtained."""

    found = "found"
    missing = "missing"
    ambiguous = "ambiguous"
    derived = "derived"


@dataclass(frozen=True)
class FieldReport:
    """One field of the patient: its value, the resources it came from, and how.

    Examples
    --------
    >>> FieldReport("sex", "F", Status.found, ("Patient/p",)).as_dict()["status"]
    'found'
    """

    field: str
    value: Any
    status: Status
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON for the command line and the hooks service.

        Returns
        -------
        dict
            ``field``, ``value``, ``status``, ``sources``, ``notes``.

        Examples
        --------
        >>> FieldReport("age", None, Status.missing).as_dict()
        {'field': 'age', 'value': None, 'status': 'missing', 'sources': [], 'notes': []}
        """
        return {"field": self.field, "value": self.value, "status": self.status.value,
                "sources": list(self.sources), "notes": list(self.notes)}


@dataclass(frozen=True)
class MappingResult:
    """The patient data (input contract, as JSON) and the mapping report.

    ``ignored`` lists resources that do not count and why (status, date, another patient, a code
    that must not be read as the field); ``problems`` lists contract breaches not tied to one field.

    Examples
    --------
    >>> result = map_bundle({"resourceType": "Bundle", "type": "collection"}, dt.date(2025, 1, 1))
    >>> result.patient, result.field("age").status.value
    ({'tumour': {}, 'as_of': '2025-01-01'}, 'missing')
    """

    patient: dict[str, Any]
    report: tuple[FieldReport, ...]
    ignored: tuple[str, ...]
    problems: tuple[str, ...] = ()

    def field(self, name: str) -> FieldReport:
        """The report row of one field.

        Parameters
        ----------
        name
            Dotted name, e.g. ``tumour.ki67_percent``.

        Returns
        -------
        FieldReport
            The row.

        Raises
        ------
        KeyError
            The report has no such field.

        Examples
        --------
        >>> MappingResult({}, (FieldReport("sex", "M", Status.found),), ()).field("sex").value
        'M'
        """
        for row in self.report:
            if row.field == name:
                return row
        raise KeyError(name)


@dataclass(frozen=True)
class _Candidate:
    value: Any
    when: dt.date | None
    source: str
    note: str = ""


@dataclass
class _Collector:
    candidates: dict[str, list[_Candidate]] = field(default_factory=dict)
    refusals: dict[str, list[str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    from_text: dict[str, list[_Candidate]] = field(default_factory=dict)
    text_doubts: dict[str, list[str]] = field(default_factory=dict)
    derived: set[str] = field(default_factory=set)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    lists: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    site_doubts: list[tuple[bool, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, name: str, candidate: _Candidate) -> None:
        self.candidates.setdefault(name, []).append(candidate)

    def refuse(self, name: str, why: str) -> None:
        self.refusals.setdefault(name, []).append(why)


#: Fields the report always lists (so a missing one is said, not silently absent).
REPORTED_FIELDS = (
    "age", "sex", "ecog", "tumour.primary_site", "tumour.differentiation", "tumour.nec_subtype",
    "tumour.minen", "tumour.ki67_percent", "tumour.mitoses_per_2mm2", "tumour.size_mm", "labs.egfr_ml_min",
    "tumour.functional_syndrome", "tumour.hereditary_syndrome", "tumour.grade", "tumour.lymph_nodes_positive",
    "tumour.primary_resected", "disease.status", "imaging.sstr", "imaging.fdg_pet", "labs.platelets_g_l",
    "labs.neutrophils_g_l", "labs.bilirubin_umol_l", "labs.nt_probnp_pg_ml",
)
#: Fields that hold a list: every value found counts (no conflict between two metastatic sites).
LIST_FIELDS = ("disease.metastatic_sites", "comorbidities")
#: Fields the mapper infers from a code rather than reads as a stated value.
DERIVED_FIELDS = frozenset({"age", "tumour.differentiation", "tumour.nec_subtype", "tumour.minen",
                            "tumour.ampullary"})


def map_bundle(data: dict[str, Any], as_of: dt.date, codes: FhirCodes | None = None) -> MappingResult:
    """Map a FHIR R4 Bundle to the patient contract and say where every field came from.

    Parameters
    ----------
    data
        The Bundle as parsed JSON (collection, transaction or searchset).
    as_of
        The decision date: age is computed at it, and nothing dated after it counts.
    codes
        The code catalogue (``knowledge/catalogues/fhir-codes.yaml`` by default).

    Returns
    -------
    MappingResult
        ``patient`` (JSON for :func:`cds.parse_patient`), the per-field report, and the
        resources left out with the reason.

    Examples
    --------
    >>> bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
    ...     {"resource": {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1960-06-30"}},
    ...     {"resource": {"resourceType": "Observation", "id": "k", "status": "final",
    ...      "subject": {"reference": "Patient/p"}, "effectiveDateTime": "2025-01-02",
    ...      "code": {"coding": [{"system": "http://loinc.org", "code": "29593-1"}]},
    ...      "valueQuantity": {"value": 12, "system": "http://unitsofmeasure.org", "code": "%"}}}]}
    >>> result = map_bundle(bundle, dt.date(2025, 1, 8))
    >>> result.patient["age"], result.patient["sex"], result.patient["tumour"]["ki67_percent"]
    (64, 'F', 12.0)
    >>> result.field("tumour.ki67_percent").sources
    ('Observation/k',)
    """
    codes = codes or load_codes()
    index = read_bundle(data)
    collector = _Collector()
    patient_entry = _readable(_the_patient(index), collector)
    _map_patient(patient_entry, as_of, collector)
    treatments: list[Entry] = []
    for entry in index.entries:
        rtype = entry.resource_type
        if rtype not in READ_TYPES or entry is patient_entry:
            continue
        if not _about_patient(entry, patient_entry, index, collector):
            continue
        if rtype == "Observation" and not codes.may_name_a_field(entry.raw):
            continue  # a lab or vital sign the catalogue does not know: never parsed, never read
        if _readable(entry, collector) is None:
            continue
        if rtype == "Condition":
            _map_condition(entry, as_of, codes, collector)
        elif rtype == "Observation":
            _map_observation(entry, as_of, codes, collector)
        elif rtype == "FamilyMemberHistory":
            _map_family_history(entry, codes, collector)
        elif rtype == "DiagnosticReport":
            _map_report(entry, as_of, codes, collector)
        elif rtype in TREATMENT_TYPES:
            treatments.append(entry)
    _fall_back_on_report_text(collector)
    decided = [_decide(name, collector) for name in _field_names(collector)]
    decided += _list_rows(collector)
    site = next((row.value for row in decided if row.field == "tumour.primary_site"), None)
    courses = prior_treatments(treatments, index, as_of, site, codes)
    collector.ignored.extend(courses.ignored)
    decided.append(_treatment_row(courses))
    decided = [_primary_resected(treatments, site, as_of, codes) if row.field == "tumour.primary_resected" else row
               for row in decided]
    report = tuple(decided)
    patient: dict[str, Any] = {"tumour": {}, "disease": {}, "imaging": {}, "labs": {}, "as_of": as_of.isoformat()}
    if patient_entry is not None and getattr(patient_entry.resource, "id", None):
        patient["id"] = patient_entry.resource.id
    for row in report:
        if row.value is None:
            continue
        head, _, tail = row.field.partition(".")
        if row.field in ("prior_treatments", *LIST_FIELDS) and not row.value:
            continue
        if tail:
            patient[head][tail] = row.value
        else:
            patient[head] = row.value
    report, problems = _hold_to_the_contract(patient, report)
    problems = (*dict.fromkeys(collector.problems), *problems)
    for section in ("labs", "disease", "imaging"):
        if not patient[section]:
            del patient[section]
    return MappingResult(patient=patient, report=report, ignored=tuple(collector.ignored), problems=problems)


def _hold_to_the_contract(patient: dict[str, Any], report: tuple[FieldReport, ...]
                          ) -> tuple[tuple[FieldReport, ...], tuple[str, ...]]:
    """Drop values the input contract refuses (Ki-67 of 150 %), saying so; other breaches are problems."""
    try:
        Patient.model_validate(patient)
    except ValidationError as exc:
        refused: dict[str, str] = {}
        problems: list[str] = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"] if isinstance(part, str))
            if where == "tumour.primary_site" and error["type"] == "missing":
                continue  # the report already says the site is missing
            if any(row.field == where and row.value is not None for row in report):
                refused[where] = error["msg"]
            else:
                problems.append(f"{where or 'patient'}: {error['msg']}")
        for where in refused:
            head, _, tail = where.partition(".")
            (patient[head] if tail else patient).pop(tail or head, None)
        report = tuple(
            FieldReport(row.field, None, Status.missing, row.sources,
                        (*row.notes, f"value {row.value!r} refused by the input contract: {refused[row.field]}"))
            if row.field in refused else row
            for row in report
        )
        return report, tuple(problems)
    return report, ()


# ----------------------------------------------------------------------------- patient


#: The resource types the mapper reads (the Patient apart); all others are left unparsed.
READ_TYPES = frozenset({"Condition", "Observation", "FamilyMemberHistory", "DiagnosticReport", *TREATMENT_TYPES})


def _readable(entry: Entry | None, collector: _Collector) -> Entry | None:
    """The entry when fhir.resources accepts it; else None, and it is listed as not counted, with why."""
    if entry is None:
        return None
    try:
        _ = entry.resource  # parsed now, kept for the mapper
    except InvalidResource as exc:
        collector.ignored.append(f"{entry.label}: not valid FHIR R4 ({exc.reason}): not read")
        return None
    return entry


def _the_patient(index: IndexedBundle) -> Entry | None:
    patients = index.of_type("Patient")
    if len(patients) > 1:
        labels = ", ".join(p.label for p in patients)
        raise ValueError(f"the bundle holds {len(patients)} patients ({labels}); map one patient at a time")
    return patients[0] if patients else None


def _map_patient(entry: Entry | None, as_of: dt.date, collector: _Collector) -> None:
    if entry is None:
        collector.refuse("age", "no Patient resource in the bundle")
        return
    resource = entry.resource
    gender = getattr(resource, "gender", None)
    sex = {"female": "F", "male": "M"}.get(gender or "")
    if sex:
        collector.add("sex", _Candidate(sex, None, entry.label))
    elif gender:
        collector.refuse("sex", f"{entry.label}: gender {gender!r} does not map to F or M")
    birth = getattr(resource, "birthDate", None)
    if isinstance(birth, dt.date):
        years = as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))
        collector.add("age", _Candidate(years, None, entry.label, f"born {birth.isoformat()}, at {as_of.isoformat()}"))


def _about_patient(entry: Entry, patient: Entry | None, index: IndexedBundle, collector: _Collector) -> bool:
    """Whether the resource is about the bundle's patient (read from the raw JSON: no parsing needed)."""
    subject = entry.raw.get("subject") or entry.raw.get("patient")
    if not isinstance(subject, dict) or patient is None or entry is patient:
        return True
    reference = subject.get("reference")
    if not isinstance(reference, str):
        return True
    target = index.resolve(reference)
    if target is not patient:
        collector.ignored.append(f"{entry.label}: about {reference}, not {patient.label}")
        return False
    return True


# ----------------------------------------------------------------------------- conditions


def _codings(resource: Resource) -> list[tuple[str, str]]:
    """(system, code) of the resource's code, body site and coded extensions (mCODE histology)."""
    out: list[tuple[str, str]] = []
    concepts = [getattr(resource, "code", None), *(getattr(resource, "bodySite", None) or [])]
    concepts += [ext.valueCodeableConcept for ext in (getattr(resource, "extension", None) or [])
                 if getattr(ext, "valueCodeableConcept", None) is not None]
    for concept in concepts:
        for coding in (getattr(concept, "coding", None) or []):
            if coding.code:
                out.append((coding.system or "", icd_dotted(coding.code)))
    return out


_DOTLESS_ICD = re.compile(r"^([A-Z][0-9][0-9A-Z])([0-9A-Z]{1,4})$")


def icd_dotted(code: str) -> str:
    """An ICD-10 / ICD-O-3 topography code with its dot, as the catalogue writes it.

    Claims files and some EHR exports drop the dot (``C7A010``, ``C254``); read as written they would
    match nothing. Codes that are not shaped like ICD (SNOMED digits, ``8240/3``) pass unchanged.

    Parameters
    ----------
    code
        The code as the record holds it.

    Returns
    -------
    str
        The code with a dot after its third character when it had none.

    Examples
    --------
    >>> icd_dotted("C7A010"), icd_dotted("C25.4"), icd_dotted("C254"), icd_dotted("8240/3"), icd_dotted("C20")
    ('C7A.010', 'C25.4', 'C25.4', '8240/3', 'C20')
    """
    match = _DOTLESS_ICD.match(code.strip().upper())
    return f"{match.group(1)}.{match.group(2)}" if match else code


def _concept_codes(concept: Any) -> list[str]:
    return [c.code for c in (getattr(concept, "coding", None) or []) if c.code]


def _condition_date(resource: Resource) -> dt.date | None:
    for name in ("recordedDate", "onsetDateTime"):
        value = getattr(resource, name, None)
        if value is not None:
            return as_date(value)
    return None


_BEHAVIOUR = re.compile(r"^(\d{4})/([0-2])$")


def _map_condition(entry: Entry, as_of: dt.date, codes: FhirCodes, collector: _Collector) -> None:
    res = entry.resource
    verification = _concept_codes(getattr(res, "verificationStatus", None))
    clinical = _concept_codes(getattr(res, "clinicalStatus", None))
    bad = [v for v in verification if v in codes.statuses.condition_verification_excluded]
    bad += [c for c in clinical if c in codes.statuses.condition_clinical_excluded]
    if bad:
        collector.ignored.append(f"{entry.label}: status {bad[0]!r} never counts")
        return
    when = _condition_date(res)
    if when is not None and when > as_of:
        collector.ignored.append(f"{entry.label}: recorded {when.isoformat()}, after the decision date")
        return
    sys = codes.systems
    codings = _codings(res)
    allowed = {"icdo3": sys.icdo3, "icd10": sys.icd10, "snomed": [sys.snomed]}
    morphs = [(code, m) for system, code in codings for m in codes.morphology
              if code == m.code and system in allowed[m.system]]
    outside = [m for _, m in morphs if m.out_of_scope]
    if outside:
        collector.problems.append(f"{entry.label}: {outside[0].out_of_scope}")
        collector.ignored.append(f"{entry.label}: morphology {outside[0].code} is outside netcds' scope")
        return
    _map_condition_rows(entry, when, codes, collector)
    seen: set[tuple[str, Any]] = set()

    def add(name: str, value: Any, how: str) -> None:
        if (name, value) not in seen:
            seen.add((name, value))
            collector.add(name, _Candidate(value, when, entry.label, how))

    for system, code in codings:
        if system in {*sys.icd10, *sys.icdo3} and code[:1].upper() in ("C", "D"):
            _map_topography(entry, code, codes, collector, add)
        behaviour = _BEHAVIOUR.match(code) if system in sys.icdo3 else None
        if behaviour and any(m.code == f"{behaviour[1]}/3" for m in codes.morphology):
            word = {"0": "benign", "1": "uncertain or borderline", "2": "in situ"}[behaviour[2]]
            why = (f"{entry.label}: morphology {code} has behaviour /{behaviour[2]} ({word}): not read as a malignant "
                   "neuroendocrine neoplasm; the board decides")
            collector.refuse("tumour.differentiation", why)
            collector.problems.append(why)
    for code, morph in morphs:
        how = f"code {code}" + (f" ({morph.display})" if morph.display else "")
        how += f"; {morph.note}" if morph.note else ""
        for name, value in (("tumour.differentiation", morph.differentiation),
                            ("tumour.nec_subtype", morph.nec_subtype),
                            ("tumour.minen", morph.minen), ("tumour.grade", morph.grade),
                            ("tumour.functional_syndrome", morph.functional_syndrome)):
            if value is not None:
                add(name, value, how)
                if name in ("tumour.functional_syndrome", "tumour.grade"):
                    collector.derived.add(name)


def _map_topography(entry: Entry, code: str, codes: FhirCodes, collector: _Collector, add: Any) -> None:
    """The primary site of one topography code, or a doubt when the code names a region or no site."""
    row = codes.site_for(code)
    if row is None:
        return
    how = f"code {code}" + (f"; {row.note}" if row.note else "")
    if row.site is not None:
        add("tumour.primary_site", row.site, how)
        if row.ampullary is not None:
            add("tumour.ampullary", row.ampullary, how)
    else:
        sites = f" (may be {' or '.join(row.ambiguous)})" if row.ambiguous else ""
        collector.site_doubts.append((bool(row.ambiguous), f"{entry.label}: code {code}{sites}: {row.note}"))
    if row.differentiation is not None:
        add("tumour.differentiation", row.differentiation, how)


def _condition_rows(concept: Any, codes: FhirCodes) -> list[tuple[Any, str]]:
    """The catalogue's condition rows a code names: ICD-10 by prefix, SNOMED CT exactly, else words."""
    icd10, snomed = set(codes.systems.icd10), codes.systems.snomed
    coded = [(c.system or "", icd_dotted((c.code or "").upper())) for c in (getattr(concept, "coding", None) or [])
             if c.code]
    out = []
    for row in codes.conditions:
        hit = next((code for system, code in coded
                    if (system in icd10 and any(code.startswith(p.upper()) for p in row.icd10))
                    or (system == snomed and code in row.snomed)), None)
        if hit is not None:
            out.append((row, f"code {hit}"))
    if out:
        return out
    words = texts(concept)
    for row in codes.conditions:
        word = next((w for w in (mentions(t, row.names) for t in words) if w), None)
        if word is not None:
            out.append((row, f"text {word!r}"))
    return out


def _map_condition_rows(entry: Entry, when: dt.date | None, codes: FhirCodes, collector: _Collector) -> None:
    for row, how in _condition_rows(getattr(entry.resource, "code", None), codes):
        if row.field in LIST_FIELDS:
            collector.lists.setdefault(row.field, {}).setdefault(row.value, []).append(f"{entry.label} ({how})")
        else:
            collector.add(row.field, _Candidate(row.value, when, entry.label, how))


def _map_family_history(entry: Entry, codes: FhirCodes, collector: _Collector) -> None:
    """A relative's hereditary syndrome is a reason to test the patient, never the patient's own status."""
    res = entry.resource
    if getattr(res, "status", None) == "entered-in-error":
        collector.ignored.append(f"{entry.label}: status 'entered-in-error' never counts")
        return
    relation = texts(getattr(res, "relationship", None))
    who = relation[0] if relation else "a relative"
    for item in getattr(res, "condition", None) or []:
        for row, how in _condition_rows(getattr(item, "code", None), codes):
            if row.field == "tumour.hereditary_syndrome":
                collector.refuse(row.field, f"{entry.label}: {row.value} in {who} ({how}); the patient's own status "
                                            "is not stated: ask (genetic testing)")


def _list_rows(collector: _Collector) -> list[FieldReport]:
    rows = []
    for name in LIST_FIELDS:
        found = collector.lists.get(name, {})
        if found:
            sources = tuple(dict.fromkeys(s.split(" (")[0] for values in found.values() for s in values))
            notes = tuple(f"{value}: {', '.join(where)}" for value, where in found.items())
            rows.append(FieldReport(name, list(found), Status.found, sources, notes))
        else:
            rows.append(FieldReport(name, None, Status.missing, (), ("no counted Condition states it",)))
    sites = collector.lists.get("disease.metastatic_sites", {})
    if sites:
        sources = tuple(dict.fromkeys(s.split(" (")[0] for values in sites.values() for s in values))
        rows.append(FieldReport("disease.stage", "metastatic", Status.derived, sources,
                                (f"distant metastases recorded: {', '.join(sites)}",)))
    else:
        rows.append(FieldReport("disease.stage", None, Status.missing, (),
                                ("no distant metastasis recorded; localized is never inferred from that absence",)))
    return rows


# ----------------------------------------------------------------------------- observations


def _counts(label: str, status: Any, counted: Sequence[str], when: dt.date | None, as_of: dt.date,
            collector: _Collector) -> bool:
    """Whether a result counts as a fact: a counted status and not dated after the decision date.

    When it does not, the reason joins the resources that do not count.
    """
    if status not in counted:
        collector.ignored.append(f"{label}: status {status!r} never counts")
        return False
    if when is not None and when > as_of:
        collector.ignored.append(f"{label}: dated {when.isoformat()}, after the decision date")
        return False
    return True


def _observation_date(resource: Resource) -> dt.date | None:
    for name in ("effectiveDateTime", "effectiveInstant", "issued"):
        value = getattr(resource, name, None)
        if value is not None:
            return as_date(value)
    period = getattr(resource, "effectivePeriod", None)
    return as_date(getattr(period, "end", None) or getattr(period, "start", None)) if period else None


def _which_field(resource: Any, codes: FhirCodes) -> tuple[str | None, str]:
    """The field an Observation (or one of its components) reports, or None; and how it was recognised."""
    concept = getattr(resource, "code", None)
    codings = [(c.system or "", c.code or "", (c.display or "").lower())
               for c in (getattr(concept, "coding", None) or [])]
    loinc = codes.systems.loinc
    for name, table in codes.observations.items():
        for wrong in table.not_:
            if any(s == loinc and c == wrong.code for s, c, _ in codings):
                return None, f"LOINC {wrong.code} is {wrong.display!r}, not {name}"
    for name, table in codes.observations.items():
        known = {r.code for r in table.loinc}
        if any(s == loinc and c in known for s, c, _ in codings):
            return name, "LOINC"
    texts = [(getattr(concept, "text", None) or "").lower(), *(d for _, _, d in codings)]
    for name, table in codes.observations.items():
        if any(pattern in text for text in texts for pattern in table.text):
            return name, "text-coded"
    return None, ""


_NUMBER = re.compile(r"(\d+(?:[.,]\d+)?)")


def _value(resource: Any, name: str, table: ObservationCodes, ucum: str) -> tuple[float | None, str]:
    """The value in the field's unit, or None and the reason it was refused."""
    integer = getattr(resource, "valueInteger", None)
    if integer is not None:
        return float(integer), ""
    quantity = getattr(resource, "valueQuantity", None)
    if quantity is not None and quantity.value is not None:
        if quantity.comparator:
            return None, f"value {quantity.comparator}{quantity.value} is a bound, not a value"
        unit = quantity.code or quantity.unit or ""
        if quantity.system and quantity.system != ucum:
            return None, f"unit {unit!r} is not UCUM (system {quantity.system})"
        factor = table.units.get(unit)
        if factor is None:
            return None, f"unit {unit!r} cannot be converted to {table.target_unit}"
        return float(Decimal(str(quantity.value)) * Decimal(str(factor))), ""
    concept = getattr(resource, "valueCodeableConcept", None)
    if concept is not None and name == "ecog":
        for text in [*(c.code or "" for c in (concept.coding or [])), concept.text or ""]:
            if text.strip() in {"0", "1", "2", "3", "4"}:
                return float(text.strip()), ""
        return None, "coded ECOG value not recognised"
    return None, "no usable value (valueQuantity or valueInteger)"


def _has_value(resource: Any) -> bool:
    return any(getattr(resource, f"value{kind}", None) is not None
               for kind in ("Quantity", "Integer", "CodeableConcept", "String", "Boolean"))


def _map_observation(entry: Entry, as_of: dt.date, codes: FhirCodes, collector: _Collector) -> None:
    res = entry.resource
    parts = [(res, entry.label)] + [(c, f"{entry.label} component {i + 1}")
                                    for i, c in enumerate(getattr(res, "component", None) or [])]
    found = []
    coded = []
    for element, label in parts:
        name, how = _which_field(element, codes)
        if name is not None:
            found.append((element, label, name, how))
        elif how:
            collector.ignored.append(f"{label}: {how}")
        else:
            table, how = _which_coded(element, codes)
            if table is not None:
                coded.append((element, label, table, how))
            elif how:
                collector.ignored.append(f"{label}: {how}")
    if not found and not coded:
        return
    when = _observation_date(res)
    if not _counts(entry.label, getattr(res, "status", None), codes.statuses.observation_counted, when, as_of,
                   collector):
        return
    for element, label, name, how in found:
        if element is res and len(found) > 1 and not _has_value(res):
            continue  # a panel's own code (mCODE TumorSize 21889-1): its value is in the components
        value, why = _value(element, name, codes.observations[name], codes.systems.ucum)
        if value is None:
            collector.refuse(name, f"{label}: {why}")
            continue
        final: Any = int(value) if name == "ecog" else value
        collector.add(name, _Candidate(final, when, label, how))
    for element, label, table, how in coded:
        _add_coded(element, res, label, table, how, when, collector)


def _which_coded(element: Any, codes: FhirCodes) -> tuple[CodedObservation | None, str]:
    """The coded-observation table an element (Observation, component, DiagnosticReport) answers, if any."""
    concept = getattr(element, "code", None)
    codings = {(c.system or "", c.code or "") for c in (getattr(concept, "coding", None) or [])}
    for table in codes.coded_observations:
        if any((ref.system, ref.code) in codings for ref in table.codes):
            return table, "code"
    words = texts(concept)
    by_text = [t for t in codes.coded_observations if t.text and any(mentions(w, t.text) for w in words)]
    if len({t.field for t in by_text}) > 1:
        return None, f"its name mentions several kinds ({', '.join(t.field for t in by_text)}): not read"
    return (by_text[0], "text-coded") if by_text else (None, "")


def _answer(table: CodedObservation, concepts: list[Any], strings: list[str]) -> tuple[Any, str, str]:
    """The value an answer states (value, how, note), or (None, '', why not)."""
    coded = [(c.code or "", c.display or "") for concept in concepts for c in (getattr(concept, "coding", None) or [])]
    for code, display in coded:
        for answer in table.answers:
            if any(ref.code == code for ref in answer.codes):
                return answer.value, f"answer code {code}" + (f" ({display})" if display else ""), answer.note
    words = [*strings, *(w for concept in concepts for w in texts(concept))]
    for answer in table.answers:
        word = next((w for w in (mentions(text.lower(), answer.words) for text in words) if w), None)
        if word is not None:
            return answer.value, f"answer text {word!r}", answer.note
    for code, _ in coded:
        unmapped = next((ref for ref in table.unmapped if ref.code == code), None)
        if unmapped is not None:
            return None, "", f"answer {code} is not mapped: {unmapped.display}"
    shown = "; ".join([*(f"{c} {d}".strip() for c, d in coded), *(f"'{w}'" for w in strings)]) or "none"
    return None, "", f"answer not recognised as an explicit value of {table.field} ({shown})"


def _add_coded(element: Any, resource: Any, label: str, table: CodedObservation, how: str, when: dt.date | None,
               collector: _Collector) -> None:
    if table.count:
        number = getattr(element, "valueInteger", None)
        quantity = getattr(element, "valueQuantity", None)
        if number is None and quantity is not None and quantity.value is not None and not quantity.comparator:
            number = quantity.value
        if number is None:
            collector.refuse(table.field, f"{label}: no count")
            return
        collector.add(table.field, _Candidate(number > 0, when, label, f"{how}; {number} positive node(s)"))
        return
    concepts = [getattr(element, "valueCodeableConcept", None)]
    if table.interpretation:
        concepts += list(getattr(element, "interpretation", None) or []) + list(
            getattr(resource, "conclusionCode", None) or [])
    strings = [s for s in (getattr(element, "valueString", None),) if s]
    value, found, why = _answer(table, [c for c in concepts if c is not None], strings)
    if value is None:
        phrase = " ".join(strings) or (getattr(resource, "conclusion", None) or "")
        quoted = f" (text: '{phrase[:120]}', to confirm)" if phrase else ""
        collector.refuse(table.field, f"{label}: {why}{quoted}")
        return
    notes = "; ".join(n for n in (how, found, why, table.note) if n)
    collector.add(table.field, _Candidate(value, when, label, notes))


# ----------------------------------------------------------------------------- report text


def _map_report(entry: Entry, as_of: dt.date, codes: FhirCodes, collector: _Collector) -> None:
    """Ki-67 and mitoses from a DiagnosticReport's words, kept apart until structured values are known."""
    res = entry.resource
    table, how = _which_coded(res, codes)
    if table is not None and table.interpretation:
        status = getattr(res, "status", None)
        when = _observation_date(res)
        if _counts(entry.label, status, codes.statuses.diagnostic_report_counted, when, as_of, collector):
            _add_coded(res, res, entry.label, table, how, when, collector)
    readings = [r for text in report_texts(res) for r in read_text(text)]
    if not readings:
        return
    when = _observation_date(res)
    if not _counts(entry.label, getattr(res, "status", None), codes.statuses.diagnostic_report_counted, when,
                   as_of, collector):
        return
    for reading in readings:
        if reading.value is None:
            collector.text_doubts.setdefault(reading.field, []).append(
                f"{entry.label}: report text '{reading.phrase}' is {reading.why}")
        else:
            collector.from_text.setdefault(reading.field, []).append(
                _Candidate(reading.value, when, entry.label, f"from report text: '{reading.phrase}'"))


def _fall_back_on_report_text(collector: _Collector) -> None:
    """Report text counts only for a field no structured Observation gave; a range or bound there is ambiguous."""
    for name in {*collector.from_text, *collector.text_doubts}:
        if collector.candidates.get(name):
            continue
        doubts = collector.text_doubts.get(name, [])
        if doubts:
            collector.ambiguous[name] = doubts
            continue
        collector.derived.add(name)
        for candidate in collector.from_text[name]:
            collector.add(name, candidate)


# ----------------------------------------------------------------------------- prior treatments


def _treatment_row(courses: CourseResult) -> FieldReport:
    """The report row of ``prior_treatments``.

    ``ambiguous`` when some records could not be resolved to a course (a drug given only in
    combinations given alone, a stop reason no record states): the row still carries the courses
    that were resolved, and its notes say which records need the board's answer.
    """
    unresolved = tuple(f"unresolved: {line}" for line in courses.unresolved)
    if courses.unresolved:
        return FieldReport("prior_treatments", courses.courses or None, Status.ambiguous, tuple(courses.sources),
                           (*courses.notes, *unresolved))
    if courses.courses:
        return FieldReport("prior_treatments", courses.courses, Status.found, tuple(courses.sources),
                           tuple(courses.notes))
    return FieldReport("prior_treatments", None, Status.missing, (),
                       ("no counted medication or procedure record of a catalogue option; an empty history in the "
                        "record is not a statement that there was none",))


def _primary_resected(entries: list[Entry], site: str | None, as_of: dt.date, codes: FhirCodes) -> FieldReport:
    """True from a completed resection of the primary's organ; never false from absence, doubts are notes."""
    name = "tumour.primary_resected"
    found: list[str] = []
    notes: list[str] = []
    for entry in entries:
        if entry.resource_type != "Procedure":
            continue
        res = entry.resource
        concept = getattr(res, "code", None)
        coded = {c.code for c in (getattr(concept, "coding", None) or []) if c.code}
        words = texts(concept)
        row = next((r for r in codes.primary_resection if coded & {c.code for c in r.snomed}), None)
        how = "code" if row else ""
        if row is None:
            row = next((r for r in reversed(codes.primary_resection)
                        if any(mentions(w, r.names) for w in words)), None)
            how = "text"
        if row is None:
            continue
        status = getattr(res, "status", None)
        period = getattr(res, "performedPeriod", None)
        when = as_date(getattr(res, "performedDateTime", None) or getattr(period, "end", None)
                        or getattr(period, "start", None))
        organs = " or ".join(row.organs)
        if when is not None and when > as_of:
            continue
        if status != "completed":
            notes.append(f"{entry.label}: resection of the {organs} with status {status!r}: not counted; ask")
        elif site is None:
            notes.append(f"{entry.label}: resection of the {organs}, but the primary site is not known")
        elif site not in row.organs:
            notes.append(f"{entry.label}: resection of the {organs}, not the primary's organ ({site}): ask whether "
                         "the primary was removed")
        else:
            found.append(entry.label)
            notes.append(f"{entry.label}: completed resection of the {organs} (by {how})")
    if found:
        return FieldReport(name, True, Status.found, tuple(found), tuple(notes))
    return FieldReport(name, None, Status.missing, (), tuple(notes) or ("no completed resection of the primary's "
                                                                         "organ recorded",))


# ----------------------------------------------------------------------------- decision


def _field_names(collector: _Collector) -> list[str]:
    extra = [n for n in [*collector.candidates, *collector.refusals] if n not in REPORTED_FIELDS]
    return [*REPORTED_FIELDS, *dict.fromkeys(extra)]


def _decide(name: str, collector: _Collector) -> FieldReport:
    candidates = collector.candidates.get(name, [])
    refusals = tuple(collector.refusals.get(name, []))
    if name == "tumour.primary_site" and collector.site_doubts:
        doubts = tuple(note for _, note in collector.site_doubts)
        if not candidates:
            status = Status.ambiguous if any(region for region, _ in collector.site_doubts) else Status.missing
            return FieldReport(name, None, status, tuple(d.partition(":")[0] for d in doubts), (*refusals, *doubts))
        refusals = (*refusals, *doubts)
    if name in collector.ambiguous:
        doubts = tuple(collector.ambiguous[name])
        return FieldReport(name, None, Status.ambiguous, tuple(d.partition(":")[0] for d in doubts),
                           (*refusals, *doubts))
    if not candidates:
        return FieldReport(name, None, Status.missing, (), refusals)
    sources = tuple(dict.fromkeys(c.source for c in candidates))
    values = {_key(c.value) for c in candidates}
    good = Status.derived if name in DERIVED_FIELDS or name in collector.derived else Status.found
    if len(values) == 1:
        notes = tuple(n for n in dict.fromkeys(c.note for c in candidates) if n)
        return FieldReport(name, candidates[0].value, good, sources, refusals + notes)
    dated = [c for c in candidates if c.when is not None]
    newest_day = max((c.when for c in dated if c.when is not None), default=None)
    newest = [c for c in dated if c.when == newest_day]
    listing = "; ".join(f"{c.source} says {c.value!r}" + (f" ({c.when.isoformat()})" if c.when else "")
                        for c in candidates)
    if not newest or len({_key(c.value) for c in newest}) > 1:
        return FieldReport(name, None, Status.ambiguous, sources,
                           (*refusals, f"records disagree and none is newer: {listing}"))
    winner = newest[0]
    return FieldReport(name, winner.value, good, (winner.source, *(s for s in sources if s != winner.source)),
                       (*refusals, f"conflict, the newest ({winner.source}) wins: {listing}"))


def _key(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value
