"""Pydantic schemas of the knowledge files (knowledge/*.yaml, pathways/*.yaml).

They check the *shape* of each file as it loads; cross-references (a rule
citing an unknown source, a condition on an unknown field) are checked by
:mod:`cds.knowledge.loader`, which sees every file at once and so can report
every problem together.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

#: What an id of the knowledge looks like (rules, options, sources, edges ...).
ID_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"
#: What a pathway node id looks like (``PNET_NF_Localized``).
NODE_PATTERN = r"^[A-Z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$"

#: How a statement was checked against its source: V (verified), U (unverified), UNCONFIRMED, or policy.
Confirmation = Literal["V", "U", "UNCONFIRMED", "policy"]
#: A ranking track (the same as :data:`cds.model.recommendation.Track`).
TrackName = Literal["anti_tumour", "antisecretory"]
#: How urgent an alert is.
Severity = Literal["info", "warning", "critical"]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# Validation context key: the loader passes a function (text, lang) -> text that fills the
# ``{setting:NAME}`` placeholders with the values in force (cds.knowledge.setting_refs).
TEXT_RESOLVER = "text_resolver"


class Text(_Schema):
    """A short text in both report languages.

    Loaded by the knowledge loader, ``{setting:NAME}`` placeholders are already replaced by the
    setting's value (:mod:`cds.knowledge.setting_refs`); :attr:`written` keeps the text as written.

    Examples
    --------
    >>> Text.model_validate({"en": "Watchful waiting", "fr": "Surveillance active"}).fr
    'Surveillance active'
    """

    en: str = Field(min_length=1)
    fr: str = Field(min_length=1)
    _written: Text | None = PrivateAttr(default=None)

    @property
    def written(self) -> Text:
        """The text as its author wrote it, placeholders included (itself when it had none).

        >>> Text(en="eGFR < 30", fr="DFG < 30").written.en
        'eGFR < 30'
        """
        return self._written or self

    @model_validator(mode="after")
    def _settings_in_force(self, info: ValidationInfo) -> Text:
        resolve: Callable[[str, str], str] | None = (
            info.context.get(TEXT_RESOLVER) if isinstance(info.context, dict) else None
        )
        if resolve is None:
            return self
        final: dict[str, str] = {}
        errors: list[ValueError] = []
        for lang in ("en", "fr"):
            try:
                final[lang] = resolve(getattr(self, lang), lang)
            except ValueError as exc:  # setting_refs.SettingRefError: a bad placeholder
                errors.append(exc)
        if errors:  # both texts' problems at once, under the first one's code
            message = "; ".join(str(e) for e in errors)
            raise PydanticCustomError(getattr(errors[0], "code", "value_error"), "{message}", {"message": message})
        en, fr = final["en"], final["fr"]
        if en == self.en and fr == self.fr:
            return self
        text = Text(en=en, fr=fr)
        text._written = self
        return text


# ------------------------------------------------------------------ catalogues


class Source(_Schema):
    """A publication or document a rule may cite (knowledge/sources*.yaml), with its identifiers.

    Examples
    --------
    >>> source = Source.model_validate({"id": "who_2019", "short": "WHO 2019", "citation": "WHO Classification ...",
    ...                                 "kind": "classification", "pmid": 31433515})
    >>> source.pmid, source.doi, source.link
    ('31433515', None, 'https://pubmed.ncbi.nlm.nih.gov/31433515/')
    >>> from pydantic import ValidationError
    >>> try:
    ...     Source.model_validate({"id": "x", "short": "X", "citation": "X", "kind": "web", "doi": "doi.org/10.1"})
    ... except ValidationError as exc:
    ...     print(exc.errors()[0]["msg"])
    Value error, 'doi.org/10.1' is not a DOI (expected 10.xxxx/...)
    """

    id: str = Field(pattern=ID_PATTERN)
    short: str
    citation: str
    year: int | None = None
    kind: Literal[
        "classification",
        "guideline",
        "consensus",
        "trial_phase3",
        "trial_phase2",
        "meta_analysis",
        "cohort",
        "review",
        "label",
        "national_programme",
        "policy",
        "web",
    ]
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None
    no_identifier_reason: str | None = None
    brief: str | None = None

    @property
    def link(self) -> str | None:
        """Where to read the source: its DOI, else its PubMed record, else its URL (None without any)."""
        if self.doi:
            return f"https://doi.org/{self.doi}"
        if self.pmid:
            return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"
        return self.url

    @field_validator("doi")
    @classmethod
    def _doi_shape(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^10\.\d{4,9}/\S+$", v):
            raise ValueError(f"{v!r} is not a DOI (expected 10.xxxx/...)")
        return v

    @field_validator("pmid", mode="before")
    @classmethod
    def _pmid_shape(cls, v: Any) -> Any:
        if v is None:
            return None
        v = str(v)
        if not v.isdigit():
            raise ValueError(f"{v!r} is not a PubMed id (digits only)")
        return v


class SourceCatalogue(_Schema):
    """The sources catalogue (knowledge/catalogues/sources/*.yaml, merged).

    Examples
    --------
    >>> SourceCatalogue.model_validate({"sources": []}).sources
    []
    """

    sources: list[Source]


class EvidenceKind(_Schema):
    """One kind of evidence on the scale, e.g. ``rct_phase3``, with its label.

    Examples
    --------
    >>> EvidenceKind.model_validate({"kind": "rct_phase3", "label": {"en": "Phase III RCT", "fr": "ECR de phase III"}})
    EvidenceKind(kind='rct_phase3', label=Text(en='Phase III RCT', fr='ECR de phase III'))
    """

    kind: str = Field(pattern=ID_PATTERN)
    label: Text


class EvidenceScale(_Schema):
    """The evidence scale (knowledge/catalogues/evidence-scale.yaml), strongest first; ranking ties break by it.

    Examples
    --------
    >>> scale = EvidenceScale.model_validate({"scale": [
    ...     {"kind": "rct_phase3", "label": {"en": "RCT", "fr": "ECR"}},
    ...     {"kind": "expert_opinion", "label": {"en": "Expert opinion", "fr": "Avis d'experts"}}]})
    >>> [k.kind for k in scale.scale]
    ['rct_phase3', 'expert_opinion']
    """

    scale: list[EvidenceKind]
    notes: str | None = None


class OptionSpec(_Schema):
    """One option of the catalogue (knowledge/catalogues/options.yaml): its label, kind and tracks.

    Examples
    --------
    >>> option = OptionSpec.model_validate({"id": "ssa", "label": {"en": "Somatostatin analogue", "fr": "Analogue"},
    ...                                     "kind": "hormonal", "tracks": ["anti_tumour", "antisecretory"]})
    >>> option.tracks, option.depends_on
    (['anti_tumour', 'antisecretory'], [])
    """

    id: str = Field(pattern=ID_PATTERN)
    label: Text
    kind: str
    tracks: list[TrackName] = Field(min_length=1)
    depends_on: list[str] = Field(default_factory=list)
    summary: Text | None = None


class OptionCatalogue(_Schema):
    """The option catalogue, least invasive or toxic first (that order breaks ties in the ranking).

    Examples
    --------
    >>> OptionCatalogue.model_validate({"options": []}).options
    []
    """

    options: list[OptionSpec]


class AlertSpec(_Schema):
    """One alert of the catalogue (knowledge/alerts*.yaml): its severity, title and what to do.

    Examples
    --------
    >>> alert = AlertSpec.model_validate({"id": "mdt_referral", "severity": "warning",
    ...                                   "label": {"en": "Refer to an expert board", "fr": "Présenter en RCP"}})
    >>> alert.severity, alert.action
    ('warning', None)
    """

    id: str = Field(pattern=ID_PATTERN)
    severity: Severity
    label: Text
    action: Text | None = None


class AlertCatalogue(_Schema):
    """The alert catalogue (knowledge/catalogues/alerts/*.yaml, merged).

    Examples
    --------
    >>> AlertCatalogue.model_validate({"alerts": []}).alerts
    []
    """

    alerts: list[AlertSpec]


class DerivedSpec(_Schema):
    """One fact the classification rules derive (``derived.<key>``), with its type and values.

    Examples
    --------
    >>> spec = DerivedSpec.model_validate({"key": "grade_by_ki67", "values": ["g1", "g2", "g3", "unknown"],
    ...                                    "description": "WHO grade from the Ki-67 index alone."})
    >>> spec.type, spec.values
    ('string', ['g1', 'g2', 'g3', 'unknown'])
    """

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["string", "number", "integer", "boolean"] = "string"
    values: list[str | int | bool] | None = None
    description: str


class DerivedCatalogue(_Schema):
    """The derived facts (knowledge/catalogues/derived-facts/*.yaml, merged).

    Examples
    --------
    >>> DerivedCatalogue.model_validate({"derived": []}).derived
    []
    """

    derived: list[DerivedSpec]


class Setting(_Schema):
    """One setting: a number (or word) the knowledge uses, named so a site can change it in one place.

    Examples
    --------
    >>> setting = Setting.model_validate({"name": "prrt_egfr_avoid", "value": 30, "unit": "mL/min",
    ...                                   "description": "Below this eGFR PRRT is avoided.",
    ...                                   "why_a_setting": "The labels give no single number."})
    >>> setting.value, setting.unit
    (30, 'mL/min')
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    value: int | float | str | bool
    unit: str | None = None
    description: str
    why_a_setting: str


class Config(_Schema):
    """The settings file (knowledge/catalogues/settings/*.yaml, merged).

    Examples
    --------
    >>> Config.model_validate({}).settings
    []
    """

    settings: list[Setting] = Field(default_factory=list)


class ChangeableData(_Schema):
    """Which data can change between two board meetings (for "what would change the result").

    ``fixed``: data that do not change (the primary site): a test on them is never offered as
    a change. ``one_way``: data that move in one direction only, their values in that order
    (disease stage): only values later in the list are offered.

    Examples
    --------
    >>> changeable = ChangeableData.model_validate({"fixed": ["tumour.primary_site"],
    ...                                             "one_way": {"disease.stage": ["localized", "metastatic"]}})
    >>> changeable.one_way["disease.stage"][-1]
    'metastatic'
    """

    fixed: list[str] = Field(default_factory=list)
    one_way: dict[str, list[str]] = Field(default_factory=dict)


class KnowledgeManifest(_Schema):
    """The manifest (knowledge/knowledge.yaml): the knowledge's name and version.

    Examples
    --------
    >>> manifest = KnowledgeManifest.model_validate({"name": "netcds digestive NEN knowledge", "version": "0.2.0"})
    >>> manifest.version, manifest.changeable.fixed
    ('0.2.0', [])
    """

    name: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description: str | None = None
    changeable: ChangeableData = Field(default_factory=ChangeableData)


# ------------------------------------------------------------------------ rules


class EvidenceRef(_Schema):
    """The evidence behind a rule or edge: a kind of the scale and, if the source gives one, its level.

    Examples
    --------
    >>> EvidenceRef.model_validate({"kind": "rct_phase3", "level": "I, A"}).level
    'I, A'
    """

    kind: str
    level: str | None = None


class ArgueEffect(_Schema):
    """Argue for or against an option, with a strength from 1 (weak) to 3 (strong).

    Examples
    --------
    >>> effect = ArgueEffect.model_validate({"option": "everolimus", "direction": "for", "strength": 2})
    >>> effect.track is None  # both tracks of the option
    True
    """

    option: str
    direction: Literal["for", "against"]
    strength: int = Field(ge=1, le=3)
    track: TrackName | None = None


class ExcludeEffect(_Schema):
    """Remove an option for a reason that is not a contraindication (it already failed, it does not apply).

    Contraindications use ``safety: {level: exclude}`` instead, so the output says it is a safety reason.

    Examples
    --------
    >>> ExcludeEffect.model_validate({"option": "ssa", "track": "anti_tumour"}).track
    'anti_tumour'
    """

    option: str
    track: TrackName | None = None


#: The ceiling a safety effect sets.
SafetyLevelName = Literal["exclude", "avoid", "caution"]


class SafetyEffect(_Schema):
    """A safety ceiling on an option that no argument for can lift (cds/ranking.py).

    exclude: absolute contraindication (label section 4.3 / USPI Contraindications, or a guideline that
    says "contraindicated"); avoid: strong relative contraindication (pivotal-trial exclusion criterion,
    guideline "should not", label "not recommended"); caution: label warning, dose adjustment.

    Examples
    --------
    >>> SafetyEffect.model_validate({"option": "prrt", "level": "avoid"}).level
    'avoid'
    """

    option: str
    level: SafetyLevelName
    track: TrackName | None = None


class AssumeEffect(_Schema):
    """Fill an unstated input field by definition (never a guess); shown under ``assumptions``.

    Examples
    --------
    >>> AssumeEffect.model_validate({"field": "tumour.differentiation", "value": "well"}).value
    'well'
    """

    field: str
    value: str | int | float | bool


class AlertEffect(_Schema):
    """Raise an alert of the catalogue (optionally with another severity than the catalogue's).

    Examples
    --------
    >>> AlertEffect.model_validate({"id": "mdt_referral"}).severity is None
    True
    """

    id: str
    severity: Severity | None = None


class MissingEffect(_Schema):
    """Ask for an input field that would change or confirm the answer.

    Examples
    --------
    >>> MissingEffect.model_validate({"field": "imaging.sstr"}).field
    'imaging.sstr'
    """

    field: str


class DeriveEffect(_Schema):
    """Derive a fact (``derived.<key>``) in the classification stage.

    Examples
    --------
    >>> DeriveEffect.model_validate({"key": "category", "value": "net_g1"}).value
    'net_g1'
    """

    key: str
    value: str | int | float | bool


class SurveilEffect(_Schema):
    """Select a surveillance schedule (knowledge/catalogues/follow-up-schedules.yaml) for this patient.

    Examples
    --------
    >>> SurveilEffect.model_validate({"schedule": "pnet_resected_esmo", "if_option": "surgery_curative"}).if_option
    'surgery_curative'
    """

    schedule: str
    if_option: str | None = Field(
        default=None,
        description=(
            "The schedule follows this option (e.g. the follow-up after a resection that is only proposed): "
            "it becomes the patient's plan when the option is ranked first, otherwise an alternative."
        ),
    )


_EFFECT_KINDS = ("argue", "safety", "exclude", "alert", "missing", "derive", "assume", "surveil")
#: Effects of the classification stage (rules made only of these run first).
CLASSIFICATION_EFFECTS = frozenset({"derive", "assume"})
#: Effects aimed at one option (they apply only when a pathway proposed it).
OPTION_EFFECTS = frozenset({"argue", "safety", "exclude"})


class Effect(_Schema):
    """Exactly one of the effect kinds.

    Examples
    --------
    >>> effect = Effect.model_validate({"alert": {"id": "mdt_referral"}})
    >>> effect.kind, effect.target
    ('alert', None)
    >>> Effect.model_validate({"argue": {"option": "ssa", "direction": "for", "strength": 3}}).target.option
    'ssa'
    >>> from pydantic import ValidationError
    >>> try:
    ...     Effect.model_validate({})
    ... except ValidationError as exc:
    ...     print(exc.errors()[0]["msg"])
    Value error, an effect must have exactly one of argue, safety, ..., surveil; got none
    """

    argue: ArgueEffect | None = None
    safety: SafetyEffect | None = None
    exclude: ExcludeEffect | None = None
    alert: AlertEffect | None = None
    missing: MissingEffect | None = None
    derive: DeriveEffect | None = None
    assume: AssumeEffect | None = None
    surveil: SurveilEffect | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Effect:
        set_ = [k for k in _EFFECT_KINDS if getattr(self, k)]
        if len(set_) != 1:
            raise ValueError(
                f"an effect must have exactly one of {', '.join(_EFFECT_KINDS)}; got {set_ or 'none'}"
            )
        return self

    @property
    def target(self) -> ArgueEffect | SafetyEffect | ExcludeEffect | None:
        """The option effect (argue, safety or exclude), if this is one."""
        return self.argue or self.safety or self.exclude

    @property
    def kind(self) -> str:
        """Which effect this is: argue, safety, exclude, alert, missing, derive, assume or surveil."""
        for k in _EFFECT_KINDS:
            if getattr(self, k) is not None:
                return k
        raise AssertionError("unreachable")


class Rule(_Schema):
    """One rule: when its conditions hold, its effects apply, for the reason it gives, citing its sources.

    Examples
    --------
    >>> rule = Rule.model_validate({
    ...     "id": "class.grade.ki67_g1", "when": [{"$lt": {"tumour.ki67_percent": 3}}],
    ...     "then": [{"derive": {"key": "grade_by_ki67", "value": "g1"}}],
    ...     "because": {"en": "Ki-67 < 3 % is G1.", "fr": "Ki-67 < 3 % : G1."},
    ...     "sources": ["who_2019"], "evidence": {"kind": "classification"}, "confirmation": "V"})
    >>> rule.stage, rule.then[0].kind
    ('classification', 'derive')
    """

    id: str = Field(pattern=ID_PATTERN)
    when: list[dict[str, Any]] = Field(default_factory=list)
    then: list[Effect] = Field(min_length=1)
    because: Text
    sources: list[str] = Field(min_length=1)
    evidence: EvidenceRef
    confirmation: Confirmation
    note: str | None = None

    @property
    def stage(self) -> str:
        """classification (derives facts, applies definitions) or knowledge (argue, safety, alert ...)."""
        kinds = {e.kind for e in self.then}
        return "classification" if kinds <= CLASSIFICATION_EFFECTS else "knowledge"


class FileMeta(_Schema):
    """What a knowledge file is for and what it leaves out (``meta:``).

    Examples
    --------
    >>> FileMeta.model_validate({"purpose": "Pancreatic NET arguments."}).lifecycle
    'draft'
    """

    purpose: str
    scope: str | None = None
    lifecycle: Literal["draft", "reviewed", "retired"] = "draft"
    not_modelled: list[str] = Field(default_factory=list)


# ------------------------------------------------------------------ recommendations
# knowledge/recommendations/<area>/<id>/recommendation.yaml: the unit of knowledge. One guideline
# recommendation in one home: its statement, the rules that encode it, the pathway edges it owns;
# its vignettes sit beside it in vignettes/.

#: What a recommendation id looks like: lower-case words joined by hyphens (the folder's name).
RECOMMENDATION_ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
#: A decision point of the guideline brief (``DP-032``).
BRIEF_PATTERN = r"^DP-\d{3}$"
#: Where a recommendation stands: being written, checked by a named reviewer, or withdrawn.
RecommendationStatus = Literal["draft", "reviewed", "retired"]


class Statement(_Schema):
    """What the guideline says, in its words or close to them, with where and when it says it.

    Examples
    --------
    >>> statement = Statement.model_validate({
    ...     "text": "Small non-functioning pNET G1 may be watched.", "kind": "paraphrase",
    ...     "sources": ["enets_2023_nf_pnet"], "date": "2023"})
    >>> statement.grade is None, statement.kind
    (True, 'paraphrase')
    """

    text: str = Field(min_length=1, description="The statement: a short quotation (in quotes) or a close paraphrase.")
    text_fr: str | None = Field(default=None, description="The statement in French, shown to a French board.")
    kind: Literal["quotation", "paraphrase", "policy"] = Field(
        description="quotation: the guideline's words; paraphrase: close to them; policy: a convention of this "
        "project that no guideline states."
    )
    sources: list[str] = Field(min_length=1, description="Ids of the sources that make it, the guideline first.")
    grade: str | None = Field(
        default=None, description="The guideline's own level and grade (e.g. 'II, A'), only when it states one."
    )
    date: str | None = Field(
        pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$",
        description="When the main source said it: YYYY, YYYY-MM or YYYY-MM-DD; null only when the source carries no "
        "date (then `undated` says why; lint reports it).")
    undated: str | None = Field(default=None, description="Why the statement has no date (e.g. a label revision date "
                                "not recorded in the catalogue).")

    @model_validator(mode="after")
    def _dated_or_why(self) -> Statement:
        if self.date is None and not self.undated:
            raise ValueError("give the statement's date (YYYY, YYYY-MM or YYYY-MM-DD), or say under `undated` why "
                             "there is none")
        return self


class RecommendationSpec(_Schema):
    """One recommendation: its statement, status, the rules that encode it and the edges it owns.

    Examples
    --------
    >>> spec = RecommendationSpec.model_validate({
    ...     "id": "pnet-small-watchful-waiting", "title": {"en": "Watch small pNET", "fr": "Surveiller"},
    ...     "brief": ["DP-027"], "statement": {"text": "May be watched.", "kind": "paraphrase",
    ...     "sources": ["enets_2023_nf_pnet"], "date": "2023"}, "edges": ["pnet.nf_small.propose_watchful_waiting"]})
    >>> spec.status, spec.rules
    ('draft', [])
    >>> from pydantic import ValidationError
    >>> try:
    ...     RecommendationSpec.model_validate({**spec.model_dump(), "status": "reviewed"})
    ... except ValidationError as exc:
    ...     print(exc.errors()[0]["msg"])
    Value error, a reviewed recommendation names its reviewer and the date of the review (reviewer, reviewed_on)
    """

    id: str = Field(pattern=RECOMMENDATION_ID_PATTERN, description="Unique; the name of the recommendation's folder.")
    title: Text = Field(description="A short title (at most 70 characters), English and French.")
    status: RecommendationStatus = Field(
        default="draft", description="draft: being written; reviewed: checked by the reviewer named; retired: "
        "withdrawn (its rules no longer run)."
    )
    reviewer: str | None = Field(default=None, description="Who reviewed it (required when status is reviewed).")
    reviewed_on: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Date of the review.")
    brief: list[str] = Field(
        default_factory=list, description="The decision points of the guideline brief it encodes (DP-nnn); empty for "
        "a recommendation of this project's own."
    )
    statement: Statement
    edges: list[str] = Field(default_factory=list, description="Ids of the pathway edges it owns (each edge has "
                             "exactly one owner).")
    rules: list[Rule] = Field(default_factory=list, description="The rules that encode it: arguments, cautions, "
                              "exclusions, alerts, missing-data requests, classification, follow-up.")
    matrix: list[str] = Field(default_factory=list, description="Ids of the contraindication-matrix statements "
                              "(catalogues/safety-matrix/) that encode it: its cautions stated as matrix cells.")
    planner_alerts: list[str] = Field(default_factory=list, description="Situations of the follow-up planner's alerts "
                                      "(catalogues/follow-up-schedules.yaml, planner_alerts) that encode it.")
    also_tested_by: dict[Literal["in", "out"], list[str]] = Field(
        default_factory=dict, description="Vignettes of other recommendations that also test this one, by side "
        "(in: one of its rules or edges fires for that patient; out: none does), by vignette id.")
    not_modelled: list[str] = Field(default_factory=list, description="Parts of the statement deliberately not "
                                    "encoded, and why.")
    no_patient_outside: str | None = Field(
        default=None, description="Why no patient can stand just outside it (a definition that applies to every "
        "patient): then it needs no 'out' vignette. Reviewed like any other statement.")
    note: str | None = None

    @field_validator("brief")
    @classmethod
    def _brief_ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.match(BRIEF_PATTERN, v)]
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))} is not a decision point of the brief (expected DP-nnn)")
        return value

    @model_validator(mode="after")
    def _reviewed_by_someone(self) -> RecommendationSpec:
        if self.status == "reviewed" and not (self.reviewer and self.reviewed_on):
            raise ValueError("a reviewed recommendation names its reviewer and the date of the review "
                             "(reviewer, reviewed_on)")
        return self


class NotModelled(_Schema):
    """What the knowledge deliberately leaves out on one topic (catalogues/not-modelled.yaml).

    Examples
    --------
    >>> NotModelled.model_validate({"topic": "Pancreatic NET", "items": ["Adjuvant therapy"]}).items
    ['Adjuvant therapy']
    """

    topic: str
    items: list[str] = Field(min_length=1)


class NotModelledCatalogue(_Schema):
    """The list of topics with what each leaves out.

    Examples
    --------
    >>> NotModelledCatalogue.model_validate({"not_modelled": []}).not_modelled
    []
    """

    not_modelled: list[NotModelled]


# ------------------------------------------------------------ contraindication matrix
# knowledge/catalogues/safety-matrix/*.yaml: for every option of the catalogue and
# every patient condition the input can express, the safety level with its source, or an explicit
# "no concern". Entries with a level compile to safety rules; the linter fails on an empty cell.

#: What a matrix statement says of its cells: a safety level, or ``none`` (no concern).
MatrixLevel = Literal["exclude", "avoid", "caution", "none"]


class MatrixCondition(_Schema):
    """A patient condition of the matrix (a row), with patches that put a patient just in and just out.

    Examples
    --------
    >>> row = MatrixCondition.model_validate({
    ...     "id": "egfr_below_30", "label": {"en": "eGFR < 30 mL/min", "fr": "DFGe < 30 mL/min"}, "group": "renal",
    ...     "when": [{"$lt": {"labs.egfr_ml_min": 30}}], "inside": {"labs": {"egfr_ml_min": 29}},
    ...     "outside": {"labs": {"egfr_ml_min": 30}}})
    >>> row.inside
    {'labs': {'egfr_ml_min': 29}}
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: Text
    group: str = Field(description="Row group in the printed matrix (renal, hepatic, fitness ...).")
    when: list[dict[str, Any]] = Field(min_length=1)
    inside: dict[str, Any] = Field(
        description="Patient fields (input contract, nested) that make the condition hold, for the matrix probes."
    )
    outside: dict[str, Any] | None = Field(
        default=None, description="Patient fields just outside the condition (the other side of its boundary)."
    )


class MatrixEntry(_Schema):
    """One statement of the matrix: these options under these conditions have this safety level.

    Examples
    --------
    >>> entry = MatrixEntry.model_validate({
    ...     "id": "safety.prrt.pregnancy", "conditions": ["pregnancy"], "options": ["prrt"], "level": "exclude",
    ...     "because": {"en": "Contraindicated in pregnancy.", "fr": "Contre-indiqué pendant la grossesse."},
    ...     "sources": ["lutathera_smpc"], "section": "SmPC 4.3", "evidence": {"kind": "label"}, "confirmation": "V"})
    >>> entry.level, entry.track
    ('exclude', None)
    """

    id: str = Field(pattern=ID_PATTERN, description="Rule id of the compiled safety rule (unused for level none).")
    conditions: list[str] = Field(min_length=1)
    options: list[str] = Field(min_length=1)
    level: MatrixLevel
    track: TrackName | None = None
    because: Text
    sources: list[str] = Field(min_length=1)
    section: str | None = Field(
        default=None,
        description="Where the source says it (e.g. 'SmPC 4.3', 'USPI 5.1', 'trial exclusion criteria'); "
        "required when a source is a drug label.",
    )
    evidence: EvidenceRef
    confirmation: Confirmation
    alerts: list[str] = Field(default_factory=list, description="Alerts raised when one of the options is proposed.")
    note: str | None = None


class SafetyMatrixFile(_Schema):
    """A file of the contraindication matrix (knowledge/catalogues/safety-matrix/*.yaml): rows and statements.

    Examples
    --------
    >>> matrix = SafetyMatrixFile.model_validate({})
    >>> matrix.conditions, matrix.entries
    ([], [])
    """

    meta: FileMeta | None = None
    conditions: list[MatrixCondition] = Field(default_factory=list)
    entries: list[MatrixEntry] = Field(default_factory=list)


# --------------------------------------------------------------------- pathways


class PathwayNode(_Schema):
    """A node of a pathway: the start, a decision, or a situation the patient is in.

    Examples
    --------
    >>> PathwayNode.model_validate({"id": "APPX_Grade_3", "kind": "situation",
    ...                              "label": {"en": "Appendiceal NET G3", "fr": "TNE G3 de l'appendice"}}).kind
    'situation'
    """

    id: str = Field(pattern=NODE_PATTERN)
    kind: Literal["start", "decision", "situation"]
    label: Text
    note: Text | None = None


class PathwayEdge(_Schema):
    """An edge of a pathway: to another node, or proposing an option with a sourced argument.

    Examples
    --------
    >>> edge = PathwayEdge.model_validate({"id": "appx.to_g3", "from": "APPX_Start", "to": "APPX_Grade_3",
    ...                                    "when": [{"derived.category": "net_g3"}]})
    >>> edge.from_, edge.propose
    ('APPX_Start', None)
    >>> from pydantic import ValidationError
    >>> try:
    ...     PathwayEdge.model_validate({"id": "appx.propose_ww", "from": "APPX_Start", "propose": "watchful_waiting"})
    ... except ValidationError as exc:
    ...     print(exc.errors()[0]["msg"])  # doctest: +ELLIPSIS
    Value error, an edge that proposes an option must give strength, because, evidence, confirmation, sources (...)
    """

    id: str = Field(pattern=ID_PATTERN)
    from_: str = Field(alias="from")
    to: str | None = None
    propose: str | None = None
    track: TrackName | None = None
    strength: int | None = Field(default=None, ge=1, le=3)
    when: list[dict[str, Any]] = Field(default_factory=list)
    label: Text | None = None
    because: Text | None = None
    sources: list[str] = Field(default_factory=list)
    evidence: EvidenceRef | None = None
    confirmation: Confirmation | None = None
    depends_on: list[str] = Field(
        default_factory=list,
        description="Input fields this proposal depends on in this situation (beyond the option's own).",
    )

    @model_validator(mode="after")
    def _target(self) -> PathwayEdge:
        if (self.to is None) == (self.propose is None):
            raise ValueError("an edge needs exactly one of `to` (a node) or `propose` (an option)")
        if self.propose is not None:
            missing = [
                name
                for name in ("strength", "because", "evidence", "confirmation")
                if getattr(self, name) is None
            ]
            if not self.sources:
                missing.append("sources")
            if missing:
                raise ValueError(
                    f"an edge that proposes an option must give {', '.join(missing)} "
                    "(every proposed option carries a sourced argument)"
                )
        return self


class Pathway(_Schema):
    """A pathway (pathways/*.yaml): a decision graph entered when its conditions hold.

    Examples
    --------
    >>> pathway = Pathway.model_validate({
    ...     "id": "appendix_net", "title": {"en": "Appendiceal NET", "fr": "TNE de l'appendice"},
    ...     "when": [{"tumour.primary_site": "appendix"}], "start": "APPX_Start",
    ...     "nodes": [{"id": "APPX_Start", "kind": "start", "label": {"en": "Start", "fr": "Début"}}],
    ...     "edges": [{"id": "appx.propose_ww", "from": "APPX_Start", "propose": "watchful_waiting", "strength": 3,
    ...                "because": {"en": "Cured.", "fr": "Guérie."}, "sources": ["enets_2023_appendix"],
    ...                "evidence": {"kind": "guideline_consensus"}, "confirmation": "V"}]})
    >>> [e.propose for e in pathway.edges]
    ['watchful_waiting']
    """

    id: str = Field(pattern=ID_PATTERN)
    title: Text
    description: Text | None = None
    when: list[dict[str, Any]] = Field(min_length=1)
    start: str
    nodes: list[PathwayNode] = Field(min_length=1)
    edges: list[PathwayEdge] = Field(min_length=1)
    meta: FileMeta | None = None


# ------------------------------------------------------------------ surveillance
# knowledge/catalogues/radiation-doses.yaml (dose table) and follow-up-schedules.yaml (schedule catalogue),
# read by cds.surveillance. Months are counted from the decision date (as_of), or from the
# start of the current treatment line for schedules anchored on it.

#: How a dose figure was checked: as :data:`Confirmation`, or ``physics`` (no ionising radiation).
DoseConfirmation = Literal["V", "U", "UNCONFIRMED", "policy", "physics"]
#: What kind of examination a modality is (the planner's substitutions name kinds).
ModalityKind = Literal["ct", "mri", "pet_ct", "scintigraphy", "endoscopy", "ultrasound", "laboratory", "cardiac"]


class DoseComponent(_Schema):
    """One part of a hybrid exam's dose (e.g. the radiopharmaceutical and the CT of a PET/CT).

    Examples
    --------
    >>> DoseComponent.model_validate({"part": "ct_low_dose", "dose_msv": 4, "basis": "low-dose CT",
    ...                                "confirmation": "UNCONFIRMED"}).dose_msv
    4.0
    """

    part: str = Field(pattern=ID_PATTERN)
    dose_msv: float = Field(ge=0)
    basis: str = Field(description="How the figure was obtained (activity x coefficient, table value ...).")
    sources: list[str] = Field(default_factory=list)
    confirmation: DoseConfirmation


class Modality(_Schema):
    """One kind of examination with its typical adult effective dose.

    Examples
    --------
    >>> mri = Modality.model_validate({"id": "mri_liver", "label": {"en": "Liver MRI", "fr": "IRM hépatique"},
    ...                                "kind": "mri", "ionising": False, "dose_msv": 0, "confirmation": "physics"})
    >>> mri.dose_msv, mri.gadolinium
    (0.0, False)
    >>> from pydantic import ValidationError
    >>> try:
    ...     Modality.model_validate({"id": "ct_chest", "label": {"en": "CT chest", "fr": "TDM thorax"}, "kind": "ct",
    ...                              "ionising": True, "dose_msv": 7, "confirmation": "V"})
    ... except ValidationError as exc:
    ...     print(exc.errors()[0]["msg"])
    Value error, an ionising exam needs a dose > 0 and sources (or sourced components)
    """

    id: str = Field(pattern=ID_PATTERN)
    label: Text
    short: Text | None = Field(default=None, description="Short label for tables and calendars.")
    kind: ModalityKind
    ionising: bool
    dose_msv: float = Field(ge=0, description="Typical effective dose used by the planner (mSv).")
    range_msv: tuple[float, float] | None = Field(default=None, description="Published range (mSv).")
    components: list[DoseComponent] = Field(default_factory=list)
    gadolinium: bool = Field(default=False, description="Usually given with gadolinium contrast.")
    regions: list[str] = Field(default_factory=list, description="Body regions covered (chest, liver ...).")
    sources: list[str] = Field(default_factory=list)
    confirmation: DoseConfirmation
    assumption: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Modality:
        if not self.ionising and self.dose_msv != 0:
            raise ValueError("a non-ionising exam has a dose of 0 mSv")
        if self.ionising and (self.dose_msv <= 0 or not (self.sources or self.components)):
            raise ValueError("an ionising exam needs a dose > 0 and sources (or sourced components)")
        if self.components and abs(sum(c.dose_msv for c in self.components) - self.dose_msv) > 0.01:
            raise ValueError("dose_msv must equal the sum of its components")
        if self.range_msv is not None and self.range_msv[0] > self.range_msv[1]:
            raise ValueError("range_msv must be [low, high]")
        return self


class DoseTable(_Schema):
    """The dose table (knowledge/catalogues/radiation-doses.yaml): every exam a plan may use, with its typical dose.

    Examples
    --------
    >>> table = DoseTable.model_validate({
    ...     "meta": {"purpose": "Doses."},
    ...     "modalities": [{"id": "mri_liver", "label": {"en": "Liver MRI", "fr": "IRM hépatique"}, "kind": "mri",
    ...                     "ionising": False, "dose_msv": 0, "confirmation": "physics"}]})
    >>> [m.id for m in table.modalities]
    ['mri_liver']
    """

    meta: FileMeta
    assumptions: list[Text] = Field(default_factory=list)
    modalities: list[Modality] = Field(min_length=1)


class ExamSlot(_Schema):
    """An exam at each visit of a period, and what the radiation-minimised plan does instead.

    Examples
    --------
    >>> slot = ExamSlot.model_validate({"modality": "ct_chest_abdomen_pelvis", "minimised": ["mri_liver"]})
    >>> slot.minimised
    ['mri_liver']
    """

    modality: str
    minimised: list[str] | None = Field(
        default=None,
        description="Exams of the radiation-minimised plan in its place; absent = the same exam, [] = none.",
    )
    note: Text | None = None


class SchedulePeriod(_Schema):
    """A period of a schedule: exams every so many months (or at given months) from one month to another.

    Examples
    --------
    >>> period = SchedulePeriod.model_validate({"from_month": 0, "to_month": 24, "every_months": 6,
    ...                                         "exams": [{"modality": "mri_pancreas"}]})
    >>> period.every_months, period.at_months
    (6, None)
    >>> from pydantic import ValidationError
    >>> try:
    ...     SchedulePeriod.model_validate({"from_month": 0, "exams": [{"modality": "mri_pancreas"}]})
    ... except ValidationError as exc:
    ...     print(exc.errors()[0]["msg"])
    Value error, a period needs exactly one of every_months or at_months
    """

    from_month: int = Field(ge=0)
    to_month: int | None = Field(default=None, description="Last month of the period; null = to the end.")
    every_months: int | None = Field(default=None, ge=1, le=120)
    at_months: list[int] | None = Field(default=None, description="Explicit visit months instead of an interval.")
    range_months: tuple[int, int] | None = Field(
        default=None, description="The interval range the source gives; the plan uses every_months."
    )
    exams: list[ExamSlot] = Field(min_length=1)
    confirmation: Confirmation | None = Field(default=None, description="When it differs from the schedule's.")
    note: Text | None = None

    @model_validator(mode="after")
    def _timing(self) -> SchedulePeriod:
        if (self.every_months is None) == (self.at_months is None):
            raise ValueError("a period needs exactly one of every_months or at_months")
        if self.to_month is not None and self.to_month <= self.from_month:
            raise ValueError("to_month must be after from_month")
        if self.at_months is not None:
            if not self.at_months or self.at_months != sorted(set(self.at_months)):
                raise ValueError("at_months must be a non-empty increasing list")
            if self.at_months[0] <= self.from_month or (
                self.to_month is not None and self.at_months[-1] > self.to_month
            ):
                raise ValueError("at_months must lie in (from_month, to_month]")
        return self


class ScheduleDuration(_Schema):
    """How long a schedule lasts: a number of months, lifelong, or as long as the situation.

    Examples
    --------
    >>> ScheduleDuration.model_validate({"months": 120, "at_least": True}).lifelong
    False
    """

    months: int | None = Field(default=None, ge=1, description="Total duration; null with lifelong or open_ended.")
    at_least: bool = Field(default=False, description="The source says 'at least' (e.g. more than 10 years).")
    lifelong: bool = False
    open_ended: bool = Field(
        default=False, description="Lasts as long as the situation (a treatment line, watchful waiting)."
    )
    range_months: tuple[int, int] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleDuration:
        if self.months is None and not (self.lifelong or self.open_ended):
            raise ValueError("a duration needs months, lifelong or open_ended")
        if self.lifelong and self.open_ended:
            raise ValueError("a duration is lifelong or open_ended, not both")
        return self


class Schedule(_Schema):
    """A surveillance schedule (knowledge/catalogues/follow-up-schedules.yaml): follow-up exams over time, and why.

    Examples
    --------
    >>> schedule = Schedule.model_validate({
    ...     "id": "appendix_no_follow_up", "kind": "none", "priority": 10,
    ...     "label": {"en": "No follow-up", "fr": "Pas de surveillance"},
    ...     "because": {"en": "Cured by appendectomy.", "fr": "Guérie par l'appendicectomie."},
    ...     "sources": ["ncuk_esmo_followup"], "evidence": {"kind": "guideline_consensus"}, "confirmation": "V"})
    >>> schedule.anchor, schedule.periods
    ('decision', [])
    """

    id: str = Field(pattern=ID_PATTERN)
    kind: Literal["imaging", "monitoring", "none", "individual"] = Field(
        description=(
            "imaging: the patient's follow-up plan (one is chosen); monitoring: added to it (laboratory, "
            "cardiac checks); none: no follow-up required; individual: no fixed schedule, decided case by case."
        )
    )
    label: Text
    because: Text
    priority: int = Field(ge=1, le=100, description="Lower = more specific; the most specific schedule wins.")
    anchor: Literal["decision", "treatment_line"] = Field(
        default="decision",
        description="Month 0: the decision date, or the start of the ongoing treatment line.",
    )
    duration: ScheduleDuration | None = None
    periods: list[SchedulePeriod] = Field(default_factory=list)
    instructions: Text | None = None
    alerts: list[str] = Field(default_factory=list, description="Alerts raised when this schedule is the plan.")
    statement: str | list[str] | None = None
    sources: list[str] = Field(min_length=1)
    evidence: EvidenceRef
    confirmation: Confirmation
    note: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Schedule:
        if self.kind in ("none", "individual"):
            if self.periods or self.duration is not None:
                raise ValueError(f"a schedule of kind {self.kind} has no periods and no duration")
            return self
        if self.kind == "monitoring" and not self.periods and self.duration is None:
            if self.instructions is None:
                raise ValueError("a monitoring schedule without periods needs instructions")
            return self
        if not self.periods or self.duration is None:
            raise ValueError(f"a schedule of kind {self.kind} needs periods and a duration")
        previous_end: int | None = 0
        for i, period in enumerate(self.periods):
            if previous_end is None or period.from_month < previous_end:
                raise ValueError(f"periods[{i}] overlaps or follows an open-ended period")
            previous_end = period.to_month
        return self


#: Settings the planner reads itself: the alert threshold and the default horizon (the others are
#: named where the knowledge uses them, in conditions and texts).
SETTING_RADIATION_ALERT = "surveillance_radiation_alert_msv"
SETTING_DEFAULT_HORIZON = "surveillance_default_horizon_years"
#: Situations the planner computes from its figures; a planner alert may also name a plan
#: preference or an ionising window (below), raised when its condition holds.
COMPUTED_SITUATIONS = ("radiation_above_threshold", "mri_substitution")
#: Placeholders a planner alert text may use (besides ``{setting:<name>}``, the value of a setting).
PLANNER_ALERT_FIELDS = frozenset({
    "horizon_years", "default_msv", "minimised_msv", "default_total_msv", "minimised_total_msv",
    "prior_msv", "prior_note", "threshold_msv", "saved_msv",
})


class PlannerAlert(_Schema):
    """An alert the planner raises in a situation (texts may use {placeholders}).

    ``situation`` is a computed one (:data:`COMPUTED_SITUATIONS`: the projected dose is above the
    ``surveillance_radiation_alert_msv`` setting; the minimised plan saves dose but is not the
    recommended one) or the id of a plan preference or ionising window whose condition holds for a
    patient whose plan has imaging.

    Examples
    --------
    >>> alert = PlannerAlert.model_validate({
    ...     "situation": "radiation_above_threshold", "alert": "radiation_dose",
    ...     "because": {"en": "Projected dose {default_total_msv} mSv.",
    ...                 "fr": "Dose projetée {default_total_msv} mSv."},
    ...     "sources": ["icrp_103"], "evidence": {"kind": "expert_consensus"}, "confirmation": "V"})
    >>> alert.situation
    'radiation_above_threshold'
    """

    situation: str = Field(pattern=ID_PATTERN)
    alert: str
    because: Text
    statement: str | list[str] | None = None
    sources: list[str] = Field(min_length=1)
    evidence: EvidenceRef
    confirmation: Confirmation


class SettingRef(_Schema):
    """A number given by a named setting (knowledge/config*.yaml), resolved when the knowledge loads.

    Examples
    --------
    >>> SettingRef.model_validate({"setting": "surveillance_pregnancy_window_months"}).setting
    'surveillance_pregnancy_window_months'
    """

    setting: str = Field(pattern=r"^[a-z][a-z0-9_]*$")


class PlanPreference(_Schema):
    """Which plan to recommend when a condition on the patient holds.

    The preferences are read in order and the first whose condition holds names the recommended
    plan, with its reason; when none holds the default plan is recommended. When both plans are
    the same there is nothing to prefer.

    Examples
    --------
    >>> young = PlanPreference.model_validate({
    ...     "id": "young_patient", "when": [{"$lt": {"age": {"setting": "surveillance_young_age_years"}}}],
    ...     "recommend": "minimised", "sources": ["helsedirektoratet_net"],
    ...     "because": {"en": "Age under {setting:surveillance_young_age_years} years: the MRI-based plan.",
    ...                 "fr": "Âge inférieur à {setting:surveillance_young_age_years} ans : le plan IRM."}})
    >>> young.recommend
    'minimised'
    """

    id: str = Field(pattern=ID_PATTERN)
    when: list[dict[str, Any]] = Field(min_length=1, description="Conditions on the patient (all must hold).")
    recommend: Literal["default", "minimised"]
    because: Text = Field(description="The recommended_reason; may show a setting as {setting:<name>}.")
    sources: list[str] = Field(min_length=1)


class ReplaceByKind(_Schema):
    """In a substitution: the minimised exams of one kind, and the exam that replaces them.

    Examples
    --------
    >>> ReplaceByKind.model_validate({"kind": "mri", "by": "mri_abdomen_pelvis"}).by
    'mri_abdomen_pelvis'
    """

    kind: ModalityKind = Field(description="The minimised exams of this kind ...")
    by: str = Field(description="... are replaced by this exam (a modality of catalogues/radiation-doses.yaml).")


class ExamSubstitution(_Schema):
    """A change to the radiation-minimised plan when a condition on the patient holds.

    It applies to an exam slot whose default exam covers ``region`` while the exams the
    minimised plan keeps in its place do not (the minimised plan would leave that region
    unexamined): ``replace`` swaps those of a kind for an exam that covers the region, ``add``
    keeps an exam of the region beside them. Substitutions apply in order.

    Examples
    --------
    >>> lung = ExamSubstitution.model_validate({
    ...     "id": "lung_metastases_chest_ct", "when": [{"disease.metastatic_sites.lung": True}],
    ...     "region": "chest", "add": "ct_chest", "sources": ["enets_2017_soc_imaging"],
    ...     "note": {"en": "Chest CT kept: lung metastases.", "fr": "Scanner thoracique conservé."}})
    >>> lung.add, lung.replace
    ('ct_chest', None)
    """

    id: str = Field(pattern=ID_PATTERN)
    when: list[dict[str, Any]] = Field(min_length=1, description="Conditions on the patient (all must hold).")
    region: str = Field(description="A body region of catalogues/radiation-doses.yaml (chest, pelvis ...).")
    replace: ReplaceByKind | None = None
    add: str | None = Field(default=None, description="An exam (modality) added for the region.")
    note: Text = Field(description="Note on the exam put in (why it is there).")
    sources: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_change(self) -> ExamSubstitution:
        if (self.replace is None) == (self.add is None):
            raise ValueError("a substitution needs exactly one of replace or add")
        return self


class IonisingWindow(_Schema):
    """No ionising exam within ``months`` of the decision date while a condition holds (pregnancy).

    In both plans a slot's own (default) ionising exam is replaced by the non-ionising exams of
    its minimised list; the ionising rest of that list, and an ionising exam without a
    non-ionising substitute, is postponed until just after the window. The first window whose
    condition holds applies.

    Examples
    --------
    >>> text = {"en": "Pregnancy.", "fr": "Grossesse."}
    >>> window = IonisingWindow.model_validate({
    ...     "id": "pregnancy", "when": [{"comorbidities.pregnancy": True}], "months": 9,
    ...     "substitute_note": text, "postpone_note": text, "gadolinium_note": text, "sources": ["netcds_policy"]})
    >>> window.window_months
    9
    """

    id: str = Field(pattern=ID_PATTERN)
    when: list[dict[str, Any]] = Field(min_length=1, description="Conditions on the patient (all must hold).")
    months: int | SettingRef = Field(description="Length of the window, a number or {setting: <name>}.")
    substitute_note: Text = Field(description="Note on a substitute exam; {exam} is the exam it replaces.")
    postpone_note: Text = Field(description="Note on a postponed exam; {month} is its new month.")
    gadolinium_note: Text = Field(description="Note on exams usually given with gadolinium, in the window.")
    sources: list[str] = Field(min_length=1)

    @property
    def window_months(self) -> int:
        """The window's length once the loader resolved its setting."""
        if not isinstance(self.months, int):
            raise ValueError(f"ionising window {self.id!r}: setting {self.months.setting!r} was not resolved")
        return self.months


#: The {placeholders} each planner text may use (besides {setting:<name>}).
PLANNER_TEXT_FIELDS: dict[str, frozenset[str]] = {
    "default_plan_reason": frozenset({"saved"}),
    "elapsed": frozenset({"months"}),
    "horizon": frozenset({"years"}),
    "prior_total": frozenset({"msv"}),
    "prior_exams": frozenset({"msv", "n"}),
    "prior_included": frozenset({"msv"}),
    "unconfirmed_schedule": frozenset({"label", "tag"}),
    "unconfirmed_period": frozenset({"label", "start", "end", "tag"}),
    "unconfirmed_dose": frozenset({"label", "dose", "tag"}),
}


class PlannerTexts(_Schema):
    """The planner's own sentences in the contract (plan labels, reasons, assumptions).

    Each is given in both report languages; the {placeholders} each may use are
    :data:`PLANNER_TEXT_FIELDS`, and any may show a setting as ``{setting:<name>}``.

    Examples
    --------
    >>> names = list(PlannerTexts.model_fields)
    >>> names[:3], len(names)
    (['plan_default', 'plan_minimised', 'same_plans'], 17)
    """

    plan_default: Text = Field(description="Label of the default plan.")
    plan_minimised: Text = Field(description="Label of the radiation-minimised plan.")
    same_plans: Text = Field(description="recommended_reason when both plans are the same.")
    default_plan_reason: Text = Field(description="recommended_reason when no preference holds.")
    no_schedule: Text = Field(description="Why there is no plan when no schedule fits.")
    month_zero: Text
    elapsed: Text
    horizon: Text
    undated: Text
    minimised_plan: Text = Field(description="What the minimised plan changes (an assumption of every plan).")
    prior_total: Text
    prior_exams: Text
    prior_included: Text = Field(
        description="The earlier dose inside a total ({prior_note} of a planner alert); left out when there is none."
    )
    unconfirmed_schedule: Text
    unconfirmed_period: Text
    period_end: Text = Field(description="Stands for to_month in unconfirmed_period when a period has no end.")
    unconfirmed_dose: Text


class SurveillancePlanner(_Schema):
    """What the planner does beyond laying out schedules: its words and its policy.

    Examples
    --------
    >>> from cds.knowledge import load_knowledge
    >>> planner = load_knowledge().planner
    >>> [p.id for p in planner.preferences], [w.months for w in planner.ionising_windows]
    (['pregnancy_no_ionising', 'young_patient'], [9])
    """

    texts: PlannerTexts
    preferences: list[PlanPreference] = Field(default_factory=list)
    substitutions: list[ExamSubstitution] = Field(default_factory=list)
    ionising_windows: list[IonisingWindow] = Field(default_factory=list)


class SurveillanceCatalogue(_Schema):
    """The follow-up catalogue (knowledge/catalogues/follow-up-schedules.yaml): principles, schedules, alerts.

    Examples
    --------
    >>> text = {"en": "Text.", "fr": "Texte."}
    >>> catalogue = SurveillanceCatalogue.model_validate({
    ...     "meta": {"purpose": "Follow-up."}, "planner": {"texts": dict.fromkeys(PlannerTexts.model_fields, text)},
    ...     "schedules": [{"id": "individual", "kind": "individual", "priority": 100,
    ...                    "label": {"en": "Individual", "fr": "Individuelle"},
    ...                    "because": {"en": "Case by case.", "fr": "Au cas par cas."}, "sources": ["esmo_2020"],
    ...                    "evidence": {"kind": "expert_consensus"}, "confirmation": "V"}]})
    >>> [s.kind for s in catalogue.schedules]
    ['individual']
    """

    meta: FileMeta
    principles: list[Text] = Field(default_factory=list, description="Shown with every plan.")
    planner: SurveillancePlanner
    schedules: list[Schedule] = Field(min_length=1)
    planner_alerts: list[PlannerAlert] = Field(default_factory=list)


# --------------------------------------------------------------------- scenarios
# knowledge/catalogues/missing-data-scenarios.yaml: missing data that changes the answer, and the hypotheses
# to rank under.


class Hypothesis(_Schema):
    """One hypothesis for a missing datum: the value assumed, and how to say it.

    Examples
    --------
    >>> Hypothesis.model_validate({"value": "poor", "label": {"en": "If NEC", "fr": "Si CNE"}}).value
    'poor'
    """

    value: str | int | float | bool
    label: Text = Field(description="The hypothesis in words, e.g. 'If NEC (poorly differentiated)'.")


class ScenarioSpec(_Schema):
    """A missing input field whose value changes the answer: rank once per hypothesis, side by side.

    Examples
    --------
    >>> spec = ScenarioSpec.model_validate({
    ...     "id": "differentiation", "field": "tumour.differentiation", "when": [{"derived.category": "unknown"}],
    ...     "hypotheses": [{"value": "well", "label": {"en": "If NET", "fr": "Si TNE"}},
    ...                    {"value": "poor", "label": {"en": "If NEC", "fr": "Si CNE"}}],
    ...     "because": {"en": "NET G3 or NEC?", "fr": "TNE G3 ou CNE ?"}, "sources": ["who_2019"]})
    >>> [h.value for h in spec.hypotheses]
    ['well', 'poor']
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    field: str = Field(description="The input field (dotted path) the hypotheses fill.")
    when: list[dict[str, Any]] = Field(
        min_length=1, description="When the scenarios are computed (read after classification; may test derived.*)."
    )
    hypotheses: list[Hypothesis] = Field(min_length=2)
    because: Text
    sources: list[str] = Field(min_length=1)


class ScenarioCatalogue(_Schema):
    """The scenarios file (knowledge/catalogues/missing-data-scenarios.yaml): missing data that changes the answer.

    Examples
    --------
    >>> ScenarioCatalogue.model_validate({}).scenarios
    []
    """

    scenarios: list[ScenarioSpec] = Field(default_factory=list)
