"""The output contract (documented in docs/contracts/, exported by ``cds schema recommendation``).

Field names are a stable interface for integrators: extend, never rename.
Everything is plain data so that ``model_dump_json`` of the same input and
knowledge is byte-identical from run to run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: How an argument bears on its option: for, against, or exclude (the option leaves the ranking).
Direction = Literal["for", "against", "exclude"]
#: How an argument counts: efficacy weighs in the score, safety sets a ceiling.
ArgumentKind = Literal["efficacy", "safety"]
#: The ceiling a safety argument sets (cds/ranking.py).
SafetyLevel = Literal["exclude", "avoid", "caution"]
#: What a ranked option is: the score's category, capped by the safety level.
Category = Literal["recommended", "consider", "not_recommended"]
#: How urgent an alert is.
Severity = Literal["info", "warning", "critical"]
#: A ranking: options against the tumour, or against the hormonal syndrome.
Track = Literal["anti_tumour", "antisecretory"]
#: The two tracks, in the order every output shows them.
TRACKS: tuple[Track, ...] = ("anti_tumour", "antisecretory")
#: Whether a patient can enter a trial, from its encoded criteria (cds/trials/match.py).
TrialVerdict = Literal["eligible", "potentially_eligible", "ineligible"]
#: The report languages.
Lang = Literal["en", "fr"]

#: What every report says about itself (English; :func:`disclaimer` gives it in a language).
DISCLAIMER = (
    "netcds supports the decision of a multidisciplinary tumour board; it does not replace it. "
    "Every option must be weighed by the board against the full clinical picture and the "
    "patient's wishes."
)
#: The disclaimer in each report language.
DISCLAIMERS: dict[str, str] = {
    "en": DISCLAIMER,
    "fr": (
        "netcds aide la décision de la réunion de concertation pluridisciplinaire ; il ne la "
        "remplace pas. Chaque option doit être pesée par la RCP au regard de l'ensemble du tableau "
        "clinique et des souhaits du patient."
    ),
}


def disclaimer(lang: str) -> str:
    """The disclaimer in the report language (English when the language is unknown).

    Parameters
    ----------
    lang
        The report language (``en``, ``fr``).

    Returns
    -------
    str
        The disclaimer in that language, or :data:`DISCLAIMER` for a language without one.

    Examples
    --------
    >>> disclaimer("fr").startswith("netcds aide la décision")
    True
    """
    return DISCLAIMERS.get(lang, DISCLAIMER)


def disclaimer_in(text: str, lang: str) -> str:
    """``text`` as a report in ``lang`` shows it: the stock English disclaimer is translated,
    any other text (a site's own disclaimer) is kept.

    Parameters
    ----------
    text
        The disclaimer of a recommendation (read back from JSON, perhaps written by a site).
    lang
        The report language.

    Returns
    -------
    str
        :func:`disclaimer` of ``lang`` when ``text`` is the stock English one, else ``text``.

    Examples
    --------
    >>> disclaimer_in(DISCLAIMER, "fr") == DISCLAIMERS["fr"]
    True
    >>> disclaimer_in("Site disclaimer.", "fr")
    'Site disclaimer.'
    """
    return disclaimer(lang) if text == DISCLAIMER else text


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Evidence(_Out):
    """How strong the evidence behind an argument is (scale in knowledge/catalogues/evidence-scale.yaml).

    Examples
    --------
    >>> ev = Evidence(kind="rct_phase3", level="1A", rank=1, confirmed=True)
    >>> ev.model_dump()
    {'kind': 'rct_phase3', 'level': '1A', 'rank': 1, 'confirmed': True}
    """

    kind: str = Field(description="Kind of evidence, e.g. rct_phase3, retrospective, expert_consensus.")
    level: str | None = Field(default=None, description="The guideline's own level/grade, when it states one.")
    rank: int = Field(description="Position on the scale, 1 = strongest.")
    confirmed: bool = Field(
        description="False when the knowledge brief could not confirm the statement against its source ([U])."
    )


class Argument(_Out):
    """One reason for or against an option, from one rule or pathway edge.

    ``kind`` says how it counts: an *efficacy* argument weighs in the score by its
    strength; a *safety* argument does not weigh, it sets a ceiling (``safety_level``):
    ``exclude`` removes the option, ``avoid`` caps it at not_recommended and ranks it after
    every option without such a flag, ``caution`` caps it at consider (cds/ranking.py).

    Examples
    --------
    >>> ev = Evidence(kind="rct_phase3", rank=1, confirmed=True)
    >>> arg = Argument(direction="for", rule="pnet.propose_ssa", text="SSA controls growth (CLARINET).",
    ...                sources=["clarinet"], evidence=ev, strength=3)
    >>> arg.kind, arg.safety_level
    ('efficacy', None)
    >>> Argument(direction="against", kind="safety", safety_level="caution", rule="safety.egfr", text="eGFR < 50",
    ...          sources=["label"], evidence=ev, strength=0).safety_level
    'caution'
    """

    direction: Direction
    kind: ArgumentKind = Field(default="efficacy", description="efficacy (weighs in the score) or safety (a ceiling).")
    safety_level: SafetyLevel | None = Field(
        default=None, description="For a safety argument: exclude, avoid or caution; null for efficacy."
    )
    rule: str
    text: str
    sources: list[str]
    evidence: Evidence
    strength: int = Field(description="Weight in the score (0 for safety arguments, which set a ceiling instead).")


class RankedOption(_Out):
    """One option on one track, with its rank, score, category and the arguments behind them.

    Examples
    --------
    >>> ev = Evidence(kind="rct_phase3", rank=1, confirmed=True)
    >>> arg = Argument(direction="for", rule="pnet.propose_ssa", text="SSA controls growth (CLARINET).",
    ...                sources=["clarinet"], evidence=ev, strength=3)
    >>> ranked = RankedOption(option="ssa", label="Somatostatin analogue", track="anti_tumour", rank=1, score=3,
    ...                       category="recommended", arguments=[arg])
    >>> ranked.score_category, ranked.safety_level, ranked.conditional_on
    (None, None, [])
    """

    option: str
    label: str
    track: Track
    rank: int = Field(description="1 = best within its track.")
    score: int = Field(description="Sum of the strengths of the efficacy arguments for, minus those against.")
    category: Category = Field(description="The score's category, capped by the safety level.")
    score_category: Category | None = Field(
        default=None, description="The category the score alone gives, before the safety ceiling."
    )
    safety_level: Literal["avoid", "caution"] | None = Field(
        default=None, description="The strongest safety flag on this option (its ceiling); null when none."
    )
    arguments: list[Argument]
    conditional_on: list[str] = Field(
        default_factory=list, description="Input fields still missing that this option depends on."
    )


class ExcludedOption(_Out):
    """An option a pathway proposed but that does not apply to this patient, with the reasons.

    Examples
    --------
    >>> ev = Evidence(kind="rct_phase3", rank=1, confirmed=True)
    >>> reason = Argument(direction="exclude", kind="safety", safety_level="exclude", rule="safety.pregnancy",
    ...                   text="Contraindicated in pregnancy.", sources=["label"], evidence=ev, strength=0)
    >>> ExcludedOption(option="prrt", label="PRRT", track="anti_tumour", reasons=[reason]).reasons[0].rule
    'safety.pregnancy'
    """

    option: str
    label: str
    track: Track
    reasons: list[Argument]


class Alert(_Out):
    """Something the board should know or do (a referral, missing data, a discordance), from the alert catalogue.

    Examples
    --------
    >>> alert = Alert(id="mdt_referral", severity="warning", text="Refer every NET to an expert board.",
    ...               rule="alert.mdt", sources=["enets_2023_nf_pnet"])
    >>> alert.rules, alert.title, alert.action
    ([], '', None)
    """

    id: str
    severity: Severity
    text: str = Field(description="Why it was raised: the reason of the first rule that raised it.")
    rule: str
    sources: list[str]
    rules: list[str] = Field(default_factory=list, description="Every rule that raised this alert.")
    title: str = Field(default="", description="The alert's title from the alert catalogue, in the output language.")
    action: str | None = Field(
        default=None, description="What to do, from the alert catalogue (one text per alert id), when it states one."
    )


class Reference(_Out):
    """A source cited by the recommendation, with what an integrator needs to show and link it.

    Examples
    --------
    >>> Reference(id="enets_2023_nf_pnet", label="ENETS 2023 NF-pNET", citation="Kos-Kudla B, et al. 2023.",
    ...           doi="10.1111/jne.13343", link="https://doi.org/10.1111/jne.13343").link
    'https://doi.org/10.1111/jne.13343'
    """

    id: str
    label: str = Field(description="Short name, e.g. 'ENETS 2023 pNET'.")
    citation: str
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None
    link: str | None = Field(
        default=None, description="Where to read it: the DOI, else PubMed, else the URL."
    )


class MissingData(_Out):
    """An input field the knowledge asks for, with why it matters and the rule that asks.

    Examples
    --------
    >>> MissingData(field="imaging.sstr", why="SSTR imaging decides PRRT.", rule="safety.alert.missing_sstr").field
    'imaging.sstr'
    """

    field: str
    why: str
    rule: str


class Assumption(_Out):
    """A definition applied to an unstated datum (never a guess), stated in the output.

    Examples
    --------
    >>> Assumption(field="tumour.differentiation", value="well", why="A G2 proliferation rules out a NEC.",
    ...            rule="class.category.net_g2_differentiation_unreported", sources=["who_2019"]).value
    'well'
    """

    field: str = Field(description="Input field the assumption fills (dotted path).")
    value: str | int | float | bool
    why: str
    rule: str
    sources: list[str] = Field(default_factory=list)


class Scenario(_Out):
    """The ranking under one hypothesis for a missing datum that changes the answer.

    Examples
    --------
    >>> scenario = Scenario(id="differentiation.poor", field="tumour.differentiation", value="poor",
    ...                     assumption="If NEC (poorly differentiated)", anti_tumour=[], antisecretory=[], excluded=[])
    >>> scenario.derived, scenario.alerts
    ({}, [])
    """

    id: str = Field(description="Scenario id, e.g. differentiation.poor.")
    field: str = Field(description="The missing input field this scenario fills.")
    value: str | int | float | bool = Field(description="The hypothetical value.")
    assumption: str = Field(description="The hypothesis in words, e.g. 'If NEC (poorly differentiated)'.")
    derived: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    anti_tumour: list[RankedOption]
    antisecretory: list[RankedOption]
    excluded: list[ExcludedOption]
    alerts: list[str] = Field(default_factory=list, description="Alert ids raised under this hypothesis.")


class Trace(_Out):
    """How the answer was reached: pathways entered, nodes reached, edges taken, rules fired.

    Examples
    --------
    >>> Trace(pathways=["pnet_well_differentiated"], nodes=["PNET_NF_Localized"],
    ...       fired_rules=["class.grade.ki67_g1.mitoses_g1"]).edges
    []
    """

    pathways: list[str]
    nodes: list[str]
    edges: list[str] = Field(default_factory=list, description="Pathway edges taken, as rule ids.")
    fired_rules: list[str]


class PlannedExam(_Out):
    """One examination of a surveillance plan.

    Examples
    --------
    >>> exam = PlannedExam(offset_months=6, date="2025-07-08", modality="mri_pancreas", label="MRI of the pancreas",
    ...                    short_label="MRI pancreas", ionising=False, dose_msv=0.0, cumulative_msv=0.0,
    ...                    schedule="ww_pnet_small", confirmed=True)
    >>> exam.replaces, exam.note
    (None, None)
    """

    offset_months: int = Field(description="Months after the decision date (as_of).")
    date: str | None = Field(default=None, description="ISO date when as_of is known, else null.")
    modality: str = Field(description="Exam id from the dose table (knowledge/catalogues/radiation-doses.yaml).")
    label: str
    short_label: str = Field(description="Short label for tables and calendars.")
    ionising: bool
    dose_msv: float = Field(description="Typical effective dose of this exam (mSv).")
    cumulative_msv: float = Field(description="Dose of this plan so far, this exam included (prior exposure excluded).")
    schedule: str = Field(description="Schedule this exam comes from (knowledge/catalogues/follow-up-schedules.yaml).")
    replaces: str | None = Field(default=None, description="The default plan's exam this one stands in for.")
    note: str | None = None
    confirmed: bool = Field(description="False when the interval or the exam is not confirmed in the sources.")


class SurveillancePlan(_Out):
    """One way of carrying out the schedule: the guideline's default exams, or radiation-minimised.

    Examples
    --------
    >>> plan = SurveillancePlan(id="minimised", label="Radiation-minimised", recommended=True, exams=[],
    ...                         exam_counts={}, cumulative_msv=0.0, prior_msv=12.5, total_msv=12.5, lifelong=False,
    ...                         duration_months=60)
    >>> plan.at_least, plan.open_ended, plan.sources
    (False, False, [])
    """

    id: Literal["default", "minimised"]
    label: str
    recommended: bool
    exams: list[PlannedExam]
    exam_counts: dict[str, int] = Field(description="Number of exams per modality over the horizon.")
    cumulative_msv: float = Field(description="Effective dose of this plan over the horizon (mSv).")
    prior_msv: float = Field(description="Earlier exposure (imaging_history), mSv.")
    total_msv: float = Field(description="prior_msv + cumulative_msv.")
    lifelong: bool
    duration_months: int | None = Field(default=None, description="Schedule duration; null if lifelong/open-ended.")
    at_least: bool = Field(default=False, description="The source gives the duration as a minimum (e.g. >= 10 y).")
    open_ended: bool = Field(
        default=False, description="Lasts as long as the situation (treatment line, watchful waiting)."
    )
    continues_after_horizon: bool = False
    sources: list[str] = Field(
        default_factory=list, description="Sources of the schedule(s) and of the dose figures of this plan."
    )


class ScheduleRef(_Out):
    """A schedule selected by a rule but not the patient's plan (an alternative), or a monitoring add-on.

    Examples
    --------
    >>> ref = ScheduleRef(schedule="prrt_laboratory", label="Blood counts and renal function after PRRT",
    ...                   kind="monitoring", rule="surv.prrt_labs", sources=["enets_2023_nf_pnet"], confirmed=True)
    >>> ref.if_option, ref.default_msv
    (None, None)
    """

    schedule: str
    label: str
    kind: Literal["imaging", "monitoring", "none", "individual"]
    rule: str
    if_option: str | None = None
    default_msv: float | None = None
    minimised_msv: float | None = None
    sources: list[str]
    confirmed: bool


class Surveillance(_Out):
    """Follow-up plan: the schedule chosen, two ways to carry it out, and their radiation dose.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> plan = default_engine().evaluate(patient).surveillance
    >>> plan.schedule, plan.recommended_plan, [(p.id, p.exam_counts) for p in plan.plans]
    ('ww_pnet_small', 'default', [('default', {'mri_pancreas': 10}), ('minimised', {'mri_pancreas': 10})])
    """

    schedule: str | None = Field(description="Chosen schedule id; null when no schedule applies.")
    label: str | None = None
    kind: Literal["imaging", "none", "individual", "unplanned"]
    rule: str | None = Field(default=None, description="Rule that selected the schedule.")
    because: str | None = None
    follows_option: str | None = Field(default=None, description="The plan follows this (rank-1) option.")
    no_follow_up: bool
    no_follow_up_reason: str | None = None
    individual: bool = False
    horizon_years: float
    horizon_months: int
    as_of: str | None = None
    dated: bool = Field(description="True when exams carry dates (as_of known); else offsets only.")
    elapsed_months: int = Field(default=0, description="Months of the schedule already elapsed (treatment line).")
    recommended_plan: Literal["default", "minimised"]
    recommended_reason: str
    plans: list[SurveillancePlan]
    dose_saved_msv: float = Field(description="Default minus minimised cumulative dose over the horizon (mSv).")
    prior_exposure_msv: float
    radiation_threshold_msv: float
    pregnancy: bool = False
    monitoring: list[ScheduleRef] = Field(default_factory=list)
    alternatives: list[ScheduleRef] = Field(default_factory=list)
    instructions: list[str] = Field(default_factory=list)
    principles: list[str] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    confirmed: bool = Field(description="False when the schedule or a dose figure it uses is not confirmed.")
    unconfirmed: list[str] = Field(default_factory=list, description="What is not confirmed, in words.")


class TrialCriterion(_Out):
    """One eligibility criterion of a trial as it bears on the patient: failed, unknown or to check.

    Examples
    --------
    >>> c = TrialCriterion(id="ki67_range", kind="inclusion", text="Ki-67 >= 10 % and <= 55 %",
    ...                    condition="tumour.ki67_percent >= 10", fields=["tumour.ki67_percent"])
    >>> c.fields
    ['tumour.ki67_percent']
    """

    id: str = Field(description="The criterion's id in the trial (catalogues/trials/<trial>/trial.yaml).")
    kind: Literal["inclusion", "exclusion"]
    text: str = Field(description="The criterion as registered.")
    condition: str | None = Field(
        default=None, description="The encoded condition in words; null for a criterion kept as text."
    )
    fields: list[str] = Field(
        default_factory=list,
        description="Failed: the fields the condition tests; unknown: the missing fields that would decide.",
    )


class TrialMatch(_Out):
    """One catalogue trial matched against the patient, with the reasons.

    ``verdict`` follows from the encoded criteria only: ``ineligible`` when one fails (``failed``),
    else ``potentially_eligible`` when one cannot be decided (``unknown``, with the fields that
    would decide), else ``eligible``. Criteria kept as text never decide; they are listed under
    ``to_check``. A status is not knowledge that stays true: ``status_checked_on`` is the day
    it was read from the registry.

    Examples
    --------
    >>> m = TrialMatch(id="netter-2", acronym="NETTER-2", nct="NCT03972488", title="NETTER-2", phase="3",
    ...                status="active_not_recruiting", status_checked_on="2026-12-07", verdict="eligible")
    >>> m.open, m.failed, m.to_check
    (False, [], [])
    """

    id: str = Field(description="Trial id (the folder under knowledge/catalogues/trials/).")
    acronym: str
    nct: str | None = Field(default=None, description="ClinicalTrials.gov identifier.")
    eu_ct: str | None = Field(default=None, description="EU CT number or EudraCT number.")
    title: str
    phase: str
    status: str = Field(description="Recruitment status (ClinicalTrials.gov's, lower snake case) as last checked.")
    status_checked_on: str = Field(description="ISO date the status was read from the registry record.")
    open: bool = Field(default=False, description="True when the status is recruiting or not yet recruiting.")
    verdict: TrialVerdict
    options: list[str] = Field(default_factory=list, description="The catalogue options the trial studies.")
    countries: list[str] = Field(default_factory=list, description="ISO 3166 alpha-2 codes, where known.")
    french_centres: list[str] = Field(default_factory=list)
    met: list[str] = Field(default_factory=list, description="Ids of the encoded criteria the patient meets.")
    failed: list[TrialCriterion] = Field(default_factory=list, description="Encoded criteria that exclude the patient.")
    unknown: list[TrialCriterion] = Field(
        default_factory=list, description="Encoded criteria that missing data leave undecided."
    )
    to_check: list[TrialCriterion] = Field(
        default_factory=list, description="Criteria kept as text: the board checks them."
    )
    link: str | None = Field(default=None, description="The registry record (the trial's first source).")


class Recommendation(_Out):
    """The output contract: the ranked options of both tracks with their reasons, and what else to know.

    Notes
    -----
    Plain data: it reads back from its own JSON unchanged, and the same input and knowledge
    give the same JSON byte for byte.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> rec = default_engine().evaluate(patient, surveillance=False)
    >>> [(o.rank, o.option, o.category) for o in rec.anti_tumour]
    [(1, 'watchful_waiting', 'recommended'), (2, 'surgery_curative', 'consider')]
    >>> [m.field for m in rec.missing_data][:2]
    ['disease.resectable', 'imaging.sstr']
    >>> Recommendation.model_validate_json(rec.model_dump_json()) == rec
    True
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"title": "netcds Recommendation (output contract)"},
    )

    knowledge_version: str
    software_version: str | None = Field(default=None, description="netcds version that produced this output.")
    patient_id: str | None = None
    as_of: str | None = None
    language: Lang = "en"
    derived: dict[str, str | int | float | bool | None]
    anti_tumour: list[RankedOption]
    antisecretory: list[RankedOption]
    excluded: list[ExcludedOption]
    alerts: list[Alert]
    missing_data: list[MissingData]
    scenarios: list[Scenario] = Field(
        default_factory=list,
        description="Rankings under each hypothesis for a missing datum that changes the answer (else empty).",
    )
    assumptions: list[Assumption] = Field(
        default_factory=list, description="Definitions applied to unstated data (e.g. G2 -> well differentiated)."
    )
    trace: Trace
    disclaimer: str = DISCLAIMER
    surveillance: Surveillance | None = Field(
        default=None,
        description="Follow-up plan with its cumulative radiation dose (catalogues/follow-up-schedules.yaml).",
    )
    references: list[Reference] = Field(
        default_factory=list,
        description="Every source cited above (arguments, exclusions, alerts, assumptions, follow-up), "
                    "in the order first cited, with its label and link.",
    )
    trials: list[TrialMatch] = Field(
        default_factory=list,
        description="Every trial of the catalogue (knowledge/catalogues/trials/) with the patient's eligibility: "
                    "eligible first, then potentially eligible, then ineligible; open trials first within each.",
    )


class SurveillanceReport(_Out):
    """What ``cds surveillance --format json`` prints: the surveillance section with its context.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> rec = default_engine().evaluate(patient)
    >>> report = SurveillanceReport(knowledge_version=rec.knowledge_version, surveillance=rec.surveillance, alerts=[])
    >>> report.surveillance.schedule, report.language
    ('ww_pnet_small', 'en')
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"title": "netcds surveillance report"},
    )

    knowledge_version: str
    software_version: str | None = None
    patient_id: str | None = None
    as_of: str | None = None
    language: Lang = "en"
    surveillance: Surveillance
    alerts: list[Alert] = Field(description="Alerts raised by the surveillance rules and planner.")
    disclaimer: str = DISCLAIMER


class TrialsReport(_Out):
    """What ``cds trials PATIENT.json --format json`` prints: every catalogue trial matched, with its context.

    Examples
    --------
    >>> TrialsReport(knowledge_version="0.2.0+abc", trials=[]).language
    'en'
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"title": "netcds clinical trials report"},
    )

    knowledge_version: str
    software_version: str | None = None
    patient_id: str | None = None
    as_of: str | None = None
    language: Lang = "en"
    trials: list[TrialMatch] = Field(description="As Recommendation.trials.")
    disclaimer: str = DISCLAIMER
