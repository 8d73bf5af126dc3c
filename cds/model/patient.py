"""The input contract: one patient at one decision point (``cds schema patient``; docs/contracts/).

Unknown is ``null`` or absent, never a guess. Every model forbids unknown
fields so that a typo such as ``ki67_pct`` fails loudly instead of silently
leaving Ki-67 unknown; :mod:`cds.input` turns the failure into a message with
a "did you mean" suggestion.

Numbers are coerced here, at the boundary, because durable_rules compares
numeric strings as text (``"9" > 10`` is true) and cannot parse floats that
Python prints in exponent form (``1e-05``): see ``durable-rules.md`` section 3.4.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticKnownError

# --------------------------------------------------------------------------- enums


class PrimarySite(str, Enum):
    """Where the primary tumour arose (`unknown`: a NET of unknown primary)."""

    pancreas = "pancreas"
    small_intestine = "small_intestine"
    stomach = "stomach"
    duodenum = "duodenum"
    appendix = "appendix"
    colon = "colon"
    rectum = "rectum"
    unknown = "unknown"


class Grade(str, Enum):
    """WHO grade as written in the pathology report (used when Ki-67 and mitoses are absent)."""

    G1 = "G1"
    G2 = "G2"
    G3 = "G3"


class Differentiation(str, Enum):
    """Differentiation on pathology: well (a NET) or poor (a NEC)."""

    well = "well"
    poor = "poor"


class NecSubtype(str, Enum):
    """Subtype of a poorly differentiated neuroendocrine carcinoma (NEC)."""

    small_cell = "small_cell"
    large_cell = "large_cell"


class FunctionalSyndrome(str, Enum):
    """The clinical hormonal syndrome of the tumour (`none`: non-functioning)."""

    none = "none"
    carcinoid_syndrome = "carcinoid_syndrome"
    insulinoma = "insulinoma"
    gastrinoma = "gastrinoma"
    vipoma = "vipoma"
    glucagonoma = "glucagonoma"
    somatostatinoma = "somatostatinoma"
    other = "other"


class HereditarySyndrome(str, Enum):
    """A hereditary tumour syndrome (MEN1, VHL, NF1, tuberous sclerosis); `none` when excluded."""

    none = "none"
    men1 = "men1"
    vhl = "vhl"
    nf1 = "nf1"
    tsc = "tsc"


class AppendixLocation(str, Enum):
    """Where in the appendix the tumour lies."""

    tip = "tip"
    body = "body"
    base = "base"


class ResectionMargin(str, Enum):
    """Resection margin: R0 (clear), R1 (microscopic residue) or R2 (macroscopic residue)."""

    r0 = "r0"
    r1 = "r1"
    r2 = "r2"


class Stage(str, Enum):
    """Extent of the disease: localized (N0 M0), locoregional (N1 M0) or metastatic (M1)."""

    localized = "localized"
    locoregional = "locoregional"
    metastatic = "metastatic"


class MetastaticSite(str, Enum):
    """A site of distant metastasis."""

    liver = "liver"
    lymph_nodes_distant = "lymph_nodes_distant"
    bone = "bone"
    peritoneum = "peritoneum"
    lung = "lung"
    brain = "brain"
    other = "other"


class DiseaseStatus(str, Enum):
    """How the disease behaves at the decision point."""

    new_diagnosis = "new_diagnosis"
    stable = "stable"
    progressive = "progressive"
    unknown = "unknown"


class SstrImaging(str, Enum):
    """Result of somatostatin receptor imaging (`positive`: uptake >= liver in all known lesions)."""

    positive = "positive"
    negative = "negative"
    heterogeneous = "heterogeneous"
    not_done = "not_done"


class FdgPet(str, Enum):
    """Result of FDG PET."""

    positive = "positive"
    negative = "negative"
    not_done = "not_done"


class StopReason(str, Enum):
    """Why a course of treatment stopped (`ongoing`: it has not)."""

    progression = "progression"
    toxicity = "toxicity"
    completed = "completed"
    ongoing = "ongoing"


class BestResponse(str, Enum):
    """Best response to a course of treatment (complete, partial, stable disease, progression)."""

    cr = "cr"
    pr = "pr"
    sd = "sd"
    pd = "pd"


class Comorbidity(str, Enum):
    """Comorbidities that change an option's eligibility.

    The list is closed so that a misspelt comorbidity cannot silently disable
    a contraindication; new entries are added here and documented.
    """

    uncontrolled_diabetes = "uncontrolled_diabetes"
    uncontrolled_hypertension = "uncontrolled_hypertension"
    heart_failure = "heart_failure"
    recent_cardiovascular_event = "recent_cardiovascular_event"
    recent_thromboembolism = "recent_thromboembolism"
    interstitial_lung_disease = "interstitial_lung_disease"
    bilioenteric_anastomosis = "bilioenteric_anastomosis"
    biliary_stent = "biliary_stent"
    portal_vein_thrombosis = "portal_vein_thrombosis"
    dpd_deficiency = "dpd_deficiency"
    partial_dpd_deficiency = "partial_dpd_deficiency"
    cirrhosis = "cirrhosis"
    decompensated_cirrhosis = "decompensated_cirrhosis"
    severe_depression = "severe_depression"
    autoimmune_disease = "autoimmune_disease"
    cholelithiasis = "cholelithiasis"
    bone_marrow_failure = "bone_marrow_failure"
    pregnancy = "pregnancy"
    breast_feeding = "breast_feeding"
    recent_haemorrhage = "recent_haemorrhage"
    peripheral_neuropathy = "peripheral_neuropathy"


# ------------------------------------------------------------------ number coercion


def _finite_number(value: Any) -> Any:
    """Reject NaN/inf and booleans posing as numbers.

    ``True`` is an int in Python and durable_rules compares it as 1; a patient
    file that says ``"age": true`` is a mistake, not a one-year-old.
    """
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def _tidy_float(value: float | None) -> float | None:
    """Round to 6 decimals and flush tiny values to zero.

    Rounding keeps ``json.dumps`` away from exponent notation that
    durable_rules rejects (error 204); durable compares ``10.0`` and ``10``
    numerically, so the float type of the field is harmless. It runs after the field's
    range is checked on the number as written, so a value just outside a range is rejected
    rather than rounded into it (and a positive size below 0.0001 mm is kept as 0).
    """
    if value is None:
        return None
    rounded = round(value, 6)
    if rounded == 0:
        return 0
    if rounded.is_integer() and abs(rounded) < 2**53:
        return int(rounded)
    if abs(rounded) < 1e-4:
        # Below 1e-4, repr() switches to exponent form; such tiny values are
        # clinically zero for every field we hold.
        return 0
    return rounded


# A number field is written ``Annotated[float, Field(ge=..., le=...), FINITE, TIDY]``: the
# range comes first, so pydantic checks it on the number as written (the way a JSON Schema
# validator checks it) and exports it as a standard ``minimum``/``maximum``. A range placed
# after a validator would be checked on the rounded value, in a separate step that pydantic 2
# exports as non-standard ``ge``/``le`` keys, which JSON Schema validators ignore.
FINITE = BeforeValidator(_finite_number)
TIDY = AfterValidator(_tidy_float)

#: A percentage, 0 to 100 (the range is checked on the number as written).
Percent = Annotated[float, Field(ge=0, le=100), FINITE, TIDY]


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    """Dates are written YYYY-MM-DD (JSON Schema's ``date`` format).

    pydantic alone would also take a datetime at midnight or a count of seconds since 1970
    (``"as_of": 0`` would be 1970-01-01); a date object from Python passes through.
    """
    if isinstance(value, dt.date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise PydanticKnownError("date_type")


#: A date written YYYY-MM-DD in JSON (a ``datetime.date`` from Python passes through).
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


def _upper_grade(value: Any) -> Any:
    """Pathology reports write "G2", "g2" or "grade 2": accept the first two spellings."""
    if isinstance(value, str):
        return value.strip().upper()
    return value


def _null_allowed_in_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """In the JSON Schema, let every field that has a default also be null (see _Strict)."""
    properties = schema.get("properties", {})
    for name, info in model.model_fields.items():
        prop = properties.get(info.alias or name)
        if prop is None or info.is_required() or info.default is None:
            continue
        if any(option.get("type") == "null" for option in prop.get("anyOf", [])):
            continue
        default = prop.pop("default", None)
        keep = {k: prop.pop(k) for k in ("title", "description") if k in prop}
        inner = dict(prop)
        prop.clear()
        prop.update(keep)
        prop["anyOf"] = [inner, {"type": "null"}]
        if default is not None:
            prop["default"] = default


class _Strict(BaseModel):
    """Base for every input model: unknown fields are errors, strings are trimmed.

    Every field may be null or absent, which mean the same (not stated): a field with a
    default (``functional_syndrome: none``, ``imaging.sstr: not_done``, empty lists) takes it
    when null is given, so a record exported with explicit nulls is accepted as it is.
    """

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        use_enum_values=False,
        validate_default=True,
        json_schema_extra=_null_allowed_in_schema,
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_not_stated(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            key: value for key, value in data.items()
            if value is not None or key not in fields or fields[key].is_required() or fields[key].default is None
        }


# ---------------------------------------------------------------------- sections


class Tumour(_Strict):
    """What the pathologist and the endoscopist/radiologist saw of the primary tumour.

    Examples
    --------
    >>> tumour = Tumour.model_validate({"primary_site": "pancreas", "grade": "g2", "ki67_percent": "12"})
    >>> tumour.grade.value, tumour.ki67_percent, tumour.functional_syndrome.value
    ('G2', 12, 'none')
    """

    primary_site: PrimarySite = Field(description="Primary site; `unknown` for a NET of unknown primary.")
    gastric_type: Annotated[Literal[1, 2, 3], FINITE] | None = Field(
        default=None, description="Gastric NET type (1: atrophic gastritis, 2: gastrinoma/ZES, 3: sporadic)."
    )
    grade: Annotated[Grade, BeforeValidator(_upper_grade)] | None = Field(
        default=None,
        description=(
            "WHO grade as stated in the pathology report (G1, G2 or G3). Used when Ki-67 and mitoses are "
            "absent; checked against them when present (the counts win, and a discordance is raised)."
        ),
    )
    differentiation: Differentiation | None = Field(default=None, description="well (NET) or poor (NEC).")
    nec_subtype: NecSubtype | None = Field(default=None, description="Small- or large-cell NEC.")
    minen: bool = Field(default=False, description="Mixed neuroendocrine-non-neuroendocrine neoplasm.")
    ki67_percent: Percent | None = Field(default=None, description="Ki-67 index (%), hot-spot count.")
    mitoses_per_2mm2: Annotated[float, Field(ge=0, le=1000), FINITE, TIDY] | None = Field(
        default=None, description="Mitotic count per 2 mm²."
    )
    size_mm: Annotated[float, Field(gt=0, le=500), FINITE, TIDY] | None = Field(
        default=None, description="Largest diameter of the primary tumour (mm)."
    )
    functional_syndrome: FunctionalSyndrome = Field(
        default=FunctionalSyndrome.none, description="Clinical hormonal syndrome, `none` if non-functioning."
    )
    syndrome_controlled: bool | None = Field(
        default=None, description="Is the hormonal syndrome controlled on current treatment?"
    )
    hereditary_syndrome: HereditarySyndrome | None = Field(
        default=None, description="Known hereditary syndrome, `none` if excluded, null if not assessed."
    )
    primary_resected: bool | None = Field(default=None, description="The primary has already been removed.")
    primary_symptomatic: bool | None = Field(
        default=None,
        description="The primary or its mesenteric mass causes symptoms (obstruction, ischaemia, bleeding, jaundice).",
    )
    lymph_nodes_positive: bool | None = Field(
        default=None, description="Regional nodes involved, on imaging or pathology."
    )
    number_of_lesions: Annotated[int, Field(ge=1, le=1000), FINITE] | None = Field(
        default=None, description="Number of primary lesions (e.g. multifocal gastric type 1)."
    )
    appendix_location: AppendixLocation | None = None
    ampullary: bool | None = None
    mesoappendix_invasion_mm: Annotated[float, Field(ge=0, le=100), FINITE, TIDY] | None = None
    lymphovascular_invasion: bool | None = None
    perineural_invasion: bool | None = None
    resection_margin: ResectionMargin | None = None
    muscularis_propria_invasion: bool | None = None
    main_duct_dilatation: bool | None = Field(
        default=None, description="Main pancreatic duct dilatation (pancreas)."
    )
    hypergastrinaemia: bool | None = None
    atrophic_gastritis: bool | None = None
    bowel_movements_per_day: Annotated[float, Field(ge=0, le=50), FINITE, TIDY] | None = Field(
        default=None, description="Daily bowel movements (carcinoid syndrome diarrhoea)."
    )


class Disease(_Strict):
    """Extent and behaviour of the disease as a whole.

    Examples
    --------
    >>> disease = Disease.model_validate({"stage": "metastatic", "metastatic_sites": ["liver", "bone", "liver"]})
    >>> [site.value for site in disease.metastatic_sites], disease.status.value
    (['liver', 'bone'], 'unknown')
    """

    stage: Stage | None = Field(
        default=None,
        description="localized (N0 M0), locoregional (N1 M0) or metastatic (M1); null when not yet staged.",
    )
    metastatic_sites: list[MetastaticSite] = Field(default_factory=list)
    liver_tumour_burden_percent: Percent | None = Field(
        default=None, description="Share of the liver replaced by tumour (%)."
    )
    resectable: bool | None = Field(
        default=None, description="All known disease resectable with curative intent (MDT judgement)."
    )
    status: DiseaseStatus = DiseaseStatus.unknown
    progression_months: Annotated[float, Field(gt=0, le=600), FINITE, TIDY] | None = Field(
        default=None, description="Time over which progression was documented (months)."
    )
    symptomatic_tumour_burden: bool | None = Field(
        default=None, description="Symptoms caused by tumour bulk (not by hormones)."
    )

    @field_validator("metastatic_sites")
    @classmethod
    def _unique_sites(cls, sites: list[MetastaticSite]) -> list[MetastaticSite]:
        # A repeated site is harmless but would create duplicate facts; keep order.
        return list(dict.fromkeys(sites))


class Imaging(_Strict):
    """Functional imaging: somatostatin receptor imaging and FDG PET.

    Examples
    --------
    >>> Imaging.model_validate({"sstr": "positive", "fdg_pet": None}).fdg_pet.value
    'not_done'
    """

    sstr: SstrImaging = Field(
        default=SstrImaging.not_done,
        description="SSTR imaging; positive means uptake >= liver in all known lesions.",
    )
    fdg_pet: FdgPet = FdgPet.not_done


class Labs(_Strict):
    """Laboratory values that change whether an option is safe (kidney, heart, blood, liver).

    Examples
    --------
    >>> Labs.model_validate({"egfr_ml_min": "45.5", "platelets_g_l": 180}).egfr_ml_min
    45.5
    """

    egfr_ml_min: Annotated[float, Field(ge=0, le=250), FINITE, TIDY] | None = Field(
        default=None, description="Estimated GFR or creatinine clearance (mL/min)."
    )
    nt_probnp_pg_ml: Annotated[float, Field(ge=0, le=100000), FINITE, TIDY] | None = None
    platelets_g_l: Annotated[float, Field(ge=0, le=3000), FINITE, TIDY] | None = Field(
        default=None, description="Platelets (10⁹/L)."
    )
    bilirubin_umol_l: Annotated[float, Field(ge=0, le=1500), FINITE, TIDY] | None = None
    neutrophils_g_l: Annotated[float, Field(ge=0, le=500), FINITE, TIDY] | None = Field(
        default=None, description="Absolute neutrophil count (10⁹/L)."
    )


class PriorTreatment(_Strict):
    """One earlier course of treatment: which option, why it stopped and how well it worked.

    In a patient file, an option id alone stands for a course stopped for progression.

    Examples
    --------
    >>> course = PriorTreatment.model_validate({"option": "ssa", "best_response": "sd", "line": 1})
    >>> course.stop_reason.value, course.best_response.value
    ('progression', 'sd')
    """

    option: str = Field(description="Option id from the catalogue (knowledge/catalogues/options.yaml).")
    stop_reason: StopReason = StopReason.progression
    best_response: BestResponse | None = None
    line: Annotated[int, Field(ge=1, le=20), FINITE] | None = None
    duration_months: Annotated[float, Field(ge=0, le=600), FINITE, TIDY] | None = None


_EXAM_ID = r"[a-z0-9][a-z0-9_]*"


class ImagingExam(_Strict):
    """One earlier imaging examination, for the cumulative radiation count.

    Examples
    --------
    >>> ImagingExam.model_validate({"modality": "ct_chest_abdomen_pelvis", "date": "2024-05-02"}).date
    datetime.date(2024, 5, 2)
    """

    modality: str = Field(
        max_length=64,
        description="Exam id from the dose table (knowledge/catalogues/radiation-doses.yaml), e.g. "
        "ct_chest_abdomen_pelvis.",
        json_schema_extra={"pattern": f"^{_EXAM_ID}$"},
    )
    date: IsoDate = Field(description="Date of the exam (ISO, YYYY-MM-DD).")

    @field_validator("modality")
    @classmethod
    def _exam_id(cls, value: str) -> str:
        # The ids are checked against the dose table once the knowledge is loaded
        # (cds.surveillance.check_imaging_history); here only their shape. The schema
        # states the same pattern; this validator gives the friendlier message.
        if not re.fullmatch(_EXAM_ID, value):
            raise ValueError(
                f"expected an exam id of the dose table in lower case, e.g. 'ct_chest_abdomen_pelvis' or "
                f"'mri_liver'; got {value!r}"
            )
        return value


class ImagingHistory(_Strict):
    """Earlier radiation exposure from imaging, added to the surveillance plan's projected dose.

    Examples
    --------
    >>> history = ImagingHistory.model_validate({"exams": [{"modality": "mri_liver", "date": "2024-01-10"}]})
    >>> len(history.exams), history.cumulative_msv
    (1, None)
    """

    cumulative_msv: Annotated[float, Field(ge=0, le=10000), FINITE, TIDY] | None = Field(
        default=None,
        description=(
            "Known total effective dose of all earlier imaging (mSv), e.g. from a dose registry. When given it "
            "is the prior total (the exams listed are taken to be included in it); when null the prior total "
            "is the sum of the listed exams' typical doses."
        ),
    )
    exams: list[ImagingExam] = Field(
        default_factory=list, max_length=2000, description="Earlier imaging exams (dose-table id and date)."
    )


def _expand_bare_option(value: Any) -> Any:
    """A bare option id is shorthand for ``{option, stop_reason: progression}``."""
    if isinstance(value, str):
        return {"option": value, "stop_reason": "progression"}
    return value


#: An option id alone, as the JSON Schema shows the shorthand of a prior treatment.
BareOption = Annotated[str, Field(description="An option id alone, short for {option, stop_reason: progression}.")]
#: A prior treatment as the input may give it: a course, or an option id alone (see :class:`PriorTreatment`).
PriorTreatmentInput = Annotated[
    PriorTreatment, BeforeValidator(_expand_bare_option, json_schema_input_type=BareOption | PriorTreatment)
]


class Patient(_Strict):
    """One patient at one decision point; the input contract.

    See Also
    --------
    cds.validate_patient, cds.parse_patient : validate the same way, but say what is wrong
        field by field, in words a person can act on.

    Examples
    --------
    >>> patient = Patient.model_validate({"tumour": {"primary_site": "stomach", "gastric_type": 1},
    ...                                   "prior_treatments": ["ssa"], "as_of": "2025-01-08"})
    >>> patient.tumour.gastric_type, patient.prior_treatments[0].stop_reason.value, patient.as_of
    (1, 'progression', datetime.date(2025, 1, 8))
    >>> from pydantic import ValidationError
    >>> try:
    ...     Patient.model_validate({"tumour": {"primary_site": "pancreas", "gastric_type": 1}})
    ... except ValidationError as exc:
    ...     print(exc.errors()[0]["msg"])
    Value error, contradictory facts: tumour.gastric_type is set but tumour.primary_site is 'pancreas' (...)
    """

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        title="netcds Patient (input contract)",
        json_schema_extra=_null_allowed_in_schema,
    )

    id: str | None = Field(default=None, max_length=128, description="Pseudonymous identifier.")
    age: Annotated[int, Field(ge=0, le=120), FINITE] | None = None
    sex: Literal["F", "M"] | None = None
    ecog: Annotated[int, Field(ge=0, le=4), FINITE] | None = None
    fit_for_major_surgery: bool | None = Field(
        default=None,
        description=(
            "The surgeons' or anaesthetists' judgement of fitness for major surgery (pancreatic or liver "
            "resection, debulking, transplantation); null when not given."
        ),
    )
    tumour: Tumour
    disease: Disease = Field(default_factory=lambda: Disease())
    imaging: Imaging = Field(default_factory=Imaging)
    labs: Labs = Field(default_factory=Labs)
    comorbidities: list[Comorbidity] = Field(default_factory=list)
    carcinoid_heart_disease: bool | None = None
    prior_treatments: list[PriorTreatmentInput] = Field(default_factory=list)
    as_of: IsoDate | None = Field(
        default=None, description="Date of the decision; the engine never reads the clock."
    )
    imaging_history: ImagingHistory | None = Field(
        default=None, description="Earlier imaging, for the cumulative radiation dose of the surveillance plan."
    )

    @field_validator("comorbidities")
    @classmethod
    def _unique_comorbidities(cls, items: list[Comorbidity]) -> list[Comorbidity]:
        return list(dict.fromkeys(items))

    @model_validator(mode="after")
    def _contradictions(self) -> Patient:
        """Reject facts that cannot both be true.

        These are impossibilities, not clinical doubts: a doubtful combination
        (poorly differentiated with Ki-67 2 %) is accepted and raises an
        ``inconsistent_data`` alert from the knowledge instead.
        """
        problems: list[str] = []
        t, d = self.tumour, self.disease
        if d.stage is not None and d.stage is not Stage.metastatic and d.metastatic_sites:
            problems.append(
                "disease.metastatic_sites is not empty but disease.stage is "
                f"'{d.stage.value}': set stage to 'metastatic' (or null) or empty the list"
            )
        if (
            d.stage is not None
            and d.stage is not Stage.metastatic
            and d.liver_tumour_burden_percent is not None
            and d.liver_tumour_burden_percent > 0
        ):
            problems.append(
                "disease.liver_tumour_burden_percent > 0 requires disease.stage 'metastatic'"
            )
        if t.gastric_type is not None and t.primary_site is not PrimarySite.stomach:
            problems.append(
                f"tumour.gastric_type is set but tumour.primary_site is '{t.primary_site.value}' "
                "(gastric type applies only to 'stomach')"
            )
        if t.nec_subtype is not None and t.differentiation is Differentiation.well:
            problems.append(
                "tumour.nec_subtype is set but tumour.differentiation is 'well' "
                "(a NEC subtype implies 'poor')"
            )
        if t.appendix_location is not None and t.primary_site is not PrimarySite.appendix:
            problems.append("tumour.appendix_location applies only to primary_site 'appendix'")
        if t.mesoappendix_invasion_mm is not None and t.primary_site is not PrimarySite.appendix:
            problems.append("tumour.mesoappendix_invasion_mm applies only to primary_site 'appendix'")
        if t.ampullary is True and t.primary_site is not PrimarySite.duodenum:
            problems.append("tumour.ampullary applies only to primary_site 'duodenum'")
        if t.functional_syndrome is FunctionalSyndrome.none and t.syndrome_controlled is not None:
            problems.append(
                "tumour.syndrome_controlled is set but tumour.functional_syndrome is 'none'"
            )
        if d.stage is Stage.localized and t.lymph_nodes_positive is True:
            problems.append(
                "tumour.lymph_nodes_positive is true but disease.stage is 'localized' "
                "(use 'locoregional')"
            )
        for female_only in (Comorbidity.pregnancy, Comorbidity.breast_feeding):
            if self.sex == "M" and female_only in self.comorbidities:
                problems.append(f"comorbidities contains '{female_only.value}' but sex is 'M'")
        if self.imaging_history is not None and self.as_of is not None:
            for i, exam in enumerate(self.imaging_history.exams):
                if exam.date > self.as_of:
                    problems.append(
                        f"imaging_history.exams[{i}].date {exam.date.isoformat()} is after as_of "
                        f"{self.as_of.isoformat()} (earlier exams only)"
                    )
        if problems:
            raise ValueError("contradictory facts: " + "; ".join(problems))
        return self
