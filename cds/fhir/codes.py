"""The FHIR code tables (``knowledge/catalogues/fhir-codes.yaml``), read once and typed.

Codes are data, not code: an integrator adds a local LOINC or a SNOMED concept to the
catalogue, and the mapper reads it without a release.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from cds.knowledge.layout import Layout
from cds.resources import knowledge_dir


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CodeRef(_Strict):
    """One code with the page it was checked against.

    Examples
    --------
    >>> CodeRef(code="29593-1", checked=True).checked
    True
    """

    code: str
    system: str = ""
    display: str = ""
    checked: bool = False
    source: str = ""


class ObservationCodes(_Strict):
    """How to recognise one numeric field among Observations, and the units it accepts.

    Examples
    --------
    >>> load_codes().observations["tumour.size_mm"].units["cm"]
    10.0
    """

    loinc: list[CodeRef] = Field(default_factory=list)
    not_: list[CodeRef] = Field(default_factory=list, alias="not")
    text: list[str] = Field(default_factory=list)
    units: dict[str, float]
    target_unit: str


class Answer(_Strict):
    """One answer of a coded Observation and the patient value it states.

    ``codes`` match a value coding (or interpretation) by code; ``words`` match the value's text,
    display or ``valueString`` as whole words ("G2", "pN1").

    Examples
    --------
    >>> next(a.value for a in load_codes().coded("tumour.grade")[0].answers if "g2" in a.words)
    'G2'
    """

    value: str | bool
    codes: list[CodeRef] = Field(default_factory=list)
    words: list[str] = Field(default_factory=list)
    note: str = ""


class CodedObservation(_Strict):
    """How to recognise an Observation (or DiagnosticReport) whose answer is a code, and its answers.

    Recognised by ``codes`` (system and code) or, when ``codes`` is empty or no code matches, by
    ``text`` words in its code's text or displays. ``count`` reads a number instead (positive regional
    nodes: more than 0 is true). ``interpretation`` also reads Observation.interpretation and a report's
    conclusionCode. ``unmapped`` lists answers deliberately left unmapped, with the reason as display.

    Examples
    --------
    >>> load_codes().coded("disease.status")[0].codes[0].code
    '97509-4'
    """

    field: Literal["tumour.grade", "disease.status", "tumour.lymph_nodes_positive", "imaging.sstr",
                   "imaging.fdg_pet"]
    codes: list[CodeRef] = Field(default_factory=list)
    text: list[str] = Field(default_factory=list)
    answers: list[Answer] = Field(default_factory=list)
    unmapped: list[CodeRef] = Field(default_factory=list)
    count: bool = False
    interpretation: bool = False
    note: str = ""
    checked: bool = False
    source: str = ""


class Resection(_Strict):
    """A surgical resection and the organs it removes (to tell a resection of the primary).

    Examples
    --------
    >>> next(r.organs for r in load_codes().primary_resection if any(c.code == "80146002" for c in r.snomed))
    ['appendix']
    """

    organs: list[str] = Field(min_length=1)
    snomed: list[CodeRef] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)


class Topography(_Strict):
    """A topography code prefix (ICD-10 or ICD-O-3) and the primary site it means.

    A row without ``site`` names no single site: ``ambiguous`` lists the sites it may be (C19
    rectosigmoid junction: colon or rectum), or it names none at all (C7A.00 "unspecified site",
    which is not the model's ``unknown`` primary). ``note`` says why, in the field's report row.
    A row may also state the tumour is ampullary or well differentiated (ICD-10-CM D3A benign
    carcinoid tumours).

    Examples
    --------
    >>> load_codes().topography[0].site
    'stomach'
    >>> load_codes().site_for("C19").ambiguous
    ['colon', 'rectum']
    """

    prefix: str
    site: str | None = None
    ambiguous: list[str] = Field(default_factory=list)
    ampullary: bool | None = None
    differentiation: Literal["well", "poor"] | None = None
    note: str = ""
    checked: bool = False
    source: str = ""


class Morphology(_Strict):
    """A morphology code and the tumour fields it implies.

    ``grade`` only from a code that states it (SNOMED CT "NET grade 2"; ICD-O-3 2000 codes never do).
    ``functional_syndrome`` comes from a term that names the hormone and is reported as derived, to be
    confirmed. ``out_of_scope`` marks a tumour netcds does not cover (goblet cell adenocarcinoma): the
    Condition is left out and the reason is a mapping problem.

    Examples
    --------
    >>> next(m.nec_subtype for m in load_codes().morphology if m.code == "8041/3")
    'small_cell'
    """

    system: Literal["icdo3", "snomed", "icd10"]
    code: str
    display: str = ""
    differentiation: Literal["well", "poor"] | None = None
    nec_subtype: Literal["small_cell", "large_cell"] | None = None
    minen: bool | None = None
    grade: Literal["G1", "G2", "G3"] | None = None
    functional_syndrome: Literal["insulinoma", "gastrinoma", "vipoma", "glucagonoma", "somatostatinoma",
                                 "other"] | None = None
    out_of_scope: str = ""
    note: str = ""
    checked: bool = False
    source: str = ""


class Systems(_Strict):
    """Code system URIs.

    Examples
    --------
    >>> load_codes().systems.loinc
    'http://loinc.org'
    """

    loinc: str
    snomed: str
    icd10: list[str]
    icdo3: list[str]
    ucum: str


class Statuses(_Strict):
    """Resource statuses that count, or never count, as facts.

    Examples
    --------
    >>> "entered-in-error" in load_codes().statuses.condition_verification_excluded
    True
    """

    observation_counted: list[str]
    diagnostic_report_counted: list[str]
    condition_verification_excluded: list[str]
    condition_clinical_excluded: list[str]
    procedure_excluded: list[str]
    medication_request_excluded: list[str]
    medication_request_intent_excluded: list[str]
    medication_statement_excluded: list[str]
    medication_administration_excluded: list[str]


class Drug(_Strict):
    """A drug (one ingredient), its codes and the options it stands for when given alone.

    A drug with no ``options`` belongs only to combinations (temozolomide): given alone it is
    reported as ambiguous. ``forms`` narrows several options by words of the order's text
    (octreotide LAR is the ``ssa`` option, short-acting octreotide the rescue option).

    Examples
    --------
    >>> load_codes().treatments.drugs["lanreotide"].options
    ['ssa']
    """

    options: list[str] = Field(default_factory=list)
    forms: dict[str, list[str]] = Field(default_factory=dict)
    atc: list[CodeRef] = Field(default_factory=list)
    rxnorm: list[CodeRef] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)


class Combination(_Strict):
    """An option given as several drugs together (CAPTEM: capecitabine and temozolomide).

    Examples
    --------
    >>> load_codes().treatments.combinations[0].option
    'capecitabine_temozolomide'
    """

    option: str
    drugs: list[str] = Field(min_length=2)


class ProcedureCodes(_Strict):
    """A kind of procedure and the options it may be.

    Several options stay ambiguous unless ``by_site`` decides from the mapped primary site.

    Examples
    --------
    >>> next(p for p in load_codes().treatments.procedures if p.id == "liver_transplant").options
    ['liver_transplant']
    """

    id: str
    options: list[str] = Field(min_length=1)
    by_site: dict[str, str] = Field(default_factory=dict)
    snomed: list[CodeRef] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    not_: list[CodeRef] = Field(default_factory=list, alias="not")
    not_names: list[str] = Field(default_factory=list)


class ConditionCodes(_Strict):
    """A Condition code (ICD-10 prefix, SNOMED CT or words) and the patient field value it states.

    Examples
    --------
    >>> next(c.value for c in load_codes().conditions if "C78.7" in c.icd10)
    'liver'
    """

    field: Literal["disease.metastatic_sites", "tumour.hereditary_syndrome", "tumour.functional_syndrome",
                   "comorbidities"]
    value: str
    icd10: list[str] = Field(default_factory=list)
    snomed: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    checked: bool = False
    source: str = ""


class TreatmentSystems(_Strict):
    """Code system URIs of drugs and procedures.

    Examples
    --------
    >>> "http://www.whocc.no/atc" in load_codes().treatments.systems.atc
    True
    """

    atc: list[str]
    rxnorm: list[str]
    snomed: list[str]


class Treatments(_Strict):
    """The prior-treatment tables: drugs, combinations, procedures, and how courses are read.

    Examples
    --------
    >>> load_codes().treatments.course_status["stopped"]
    'reason'
    """

    systems: TreatmentSystems
    together_within_days: int = Field(ge=0)
    course_gap_days: int = Field(ge=0)
    course_status: dict[str, Literal["ongoing", "completed", "reason"]]
    stop_reasons: dict[Literal["progression", "toxicity", "completed"], list[str]]
    drugs: dict[str, Drug]
    combinations: list[Combination]
    procedures: list[ProcedureCodes]

    @model_validator(mode="after")
    def _known_drugs(self) -> Treatments:
        unknown = sorted({d for c in self.combinations for d in c.drugs if d not in self.drugs})
        if unknown:
            raise ValueError(f"combinations name drugs the catalogue does not list: {unknown}")
        return self


class FhirCodes(_Strict):
    """The whole catalogue.

    Examples
    --------
    >>> load_codes().version
    1
    """

    version: int
    systems: Systems
    statuses: Statuses
    observations: dict[str, ObservationCodes]
    topography: list[Topography]
    morphology: list[Morphology]
    treatments: Treatments
    conditions: list[ConditionCodes] = Field(default_factory=list)
    coded_observations: list[CodedObservation] = Field(default_factory=list)
    primary_resection: list[Resection] = Field(default_factory=list)
    _screen: tuple[frozenset[str], re.Pattern[str] | None] | None = PrivateAttr(default=None)

    def may_name_a_field(self, observation: Mapping[str, Any]) -> bool:
        """Whether a raw Observation might fill a field: a code or a word of the catalogue in its names.

        A cheap test on the JSON, before parsing: an EHR's record holds far more observations
        (blood counts, electrolytes, vital signs) than netcds reads, and parsing each with
        fhir.resources costs more than the whole evaluation. It is deliberately generous (a
        word anywhere in a name, any system for a listed code), so the mapper's own tests still
        decide; it only never lets through an observation the mapper could not recognise.

        Parameters
        ----------
        observation
            The Observation as parsed JSON.

        Returns
        -------
        bool
            False when neither its code nor a component's code, text or display can name a field.

        Examples
        --------
        >>> codes = load_codes()
        >>> codes.may_name_a_field({"code": {"coding": [{"system": "http://loinc.org", "code": "29593-1"}]}})
        True
        >>> codes.may_name_a_field({"code": {"text": "Ki-67 (MIB-1) index"}})
        True
        >>> codes.may_name_a_field({"code": {"coding": [{"system": "http://loinc.org", "code": "718-7",
        ...                                              "display": "Hemoglobin"}]}})
        False
        """
        if self._screen is None:
            known: set[str] = set()
            words: set[str] = set()
            for table in self.observations.values():
                known.update(ref.code for ref in (*table.loinc, *table.not_))
                words.update(table.text)
            for coded in self.coded_observations:
                known.update(ref.code for ref in coded.codes)
                words.update(coded.text)
            # one search for every word (a substring anywhere, as generous as the mapper's own tests)
            alternation = "|".join(re.escape(w.lower()) for w in sorted(words, key=len, reverse=True) if w)
            self._screen = (frozenset(known), re.compile(alternation) if alternation else None)
        known_codes, patterns = self._screen
        concepts = [observation.get("code")]
        concepts += [c.get("code") for c in observation.get("component") or [] if isinstance(c, Mapping)]
        for concept in concepts:
            if not isinstance(concept, Mapping):
                continue
            names = [str(concept.get("text") or "").lower()]
            for coding in concept.get("coding") or []:
                if not isinstance(coding, Mapping):
                    continue
                if str(coding.get("code") or "") in known_codes:
                    return True
                names.append(str(coding.get("display") or "").lower())
            if patterns is not None and any(patterns.search(name) for name in names if name):
                return True
        return False

    def coded(self, field: str) -> list[CodedObservation]:
        """The coded-observation tables of one patient field.

        Parameters
        ----------
        field
            Dotted field name, e.g. ``imaging.sstr``.

        Returns
        -------
        list of CodedObservation
            Its tables, in catalogue order.

        Examples
        --------
        >>> len(load_codes().coded("tumour.lymph_nodes_positive"))
        2
        """
        return [table for table in self.coded_observations if table.field == field]

    def site_for(self, code: str) -> Topography | None:
        """The primary site of a topography code: the longest matching prefix.

        Parameters
        ----------
        code
            An ICD-10, ICD-10-CM or ICD-O-3 topography code, e.g. ``C17.0``.

        Returns
        -------
        Topography or None
            The row whose prefix matches longest, or None.

        Examples
        --------
        >>> codes = load_codes()
        >>> codes.site_for("C17.0").site, codes.site_for("C17.2").site, codes.site_for("C50.9")
        ('duodenum', 'small_intestine', None)
        """
        best: Topography | None = None
        for row in self.topography:
            if code.upper().startswith(row.prefix) and (best is None or len(row.prefix) > len(best.prefix)):
                best = row
        return best


def catalogue_path() -> Path:
    """Where the catalogue lives (under the knowledge folder, so ``NETCDS_CONTENT`` applies).

    Returns
    -------
    Path
        ``knowledge/catalogues/fhir-codes.yaml``.

    Examples
    --------
    >>> catalogue_path().name
    'fhir-codes.yaml'
    """
    return Layout(knowledge_dir()).fhir_codes


def load_codes(path: Path | None = None) -> FhirCodes:
    """Read and check the FHIR code catalogue.

    Parameters
    ----------
    path
        Another catalogue file (tests); the knowledge folder's by default.

    Returns
    -------
    FhirCodes
        The validated tables (a typo in a key fails loudly).

    Examples
    --------
    >>> load_codes().observations["tumour.ki67_percent"].loinc[0].code
    '29593-1'
    """
    return _load_codes(path or catalogue_path())


@functools.cache
def _load_codes(path: Path) -> FhirCodes:
    # cached per file: the default follows NETCDS_CONTENT, a test's own file is read once
    with path.open(encoding="utf-8") as handle:
        return FhirCodes.model_validate(yaml.safe_load(handle))
