"""Pydantic schemas of the knowledge files (knowledge/*.yaml, pathways/*.yaml).

They check the *shape* of each file as it loads; cross-references (a rule
citing an unknown source, a condition on an unknown field) are checked by
:mod:`cds.knowledge.loader`, which sees every file at once and so can report
every problem together.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"
NODE_PATTERN = r"^[A-Z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$"

Confirmation = Literal["V", "U", "UNCONFIRMED", "policy"]
TrackName = Literal["anti_tumour", "antisecretory"]
Severity = Literal["info", "warning", "critical"]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Text(_Schema):
    """A short text in both report languages."""

    en: str = Field(min_length=1)
    fr: str = Field(min_length=1)


# ------------------------------------------------------------------ catalogues


class Source(_Schema):
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
    sources: list[Source]


class EvidenceKind(_Schema):
    kind: str = Field(pattern=ID_PATTERN)
    label: Text


class EvidenceScale(_Schema):
    scale: list[EvidenceKind]
    notes: str | None = None


class OptionSpec(_Schema):
    id: str = Field(pattern=ID_PATTERN)
    label: Text
    kind: str
    tracks: list[TrackName] = Field(min_length=1)
    depends_on: list[str] = Field(default_factory=list)
    summary: Text | None = None


class OptionCatalogue(_Schema):
    options: list[OptionSpec]


class AlertSpec(_Schema):
    id: str = Field(pattern=ID_PATTERN)
    severity: Severity
    label: Text
    action: Text | None = None


class AlertCatalogue(_Schema):
    alerts: list[AlertSpec]


class DerivedSpec(_Schema):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["string", "number", "integer", "boolean"] = "string"
    values: list[str | int | bool] | None = None
    description: str


class DerivedCatalogue(_Schema):
    derived: list[DerivedSpec]


class Setting(_Schema):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    value: int | float | str | bool
    unit: str | None = None
    description: str
    why_a_setting: str


class Config(_Schema):
    settings: list[Setting] = Field(default_factory=list)


class KnowledgeManifest(_Schema):
    name: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description: str | None = None


# ------------------------------------------------------------------------ rules


class EvidenceRef(_Schema):
    kind: str
    level: str | None = None


class ArgueEffect(_Schema):
    option: str
    direction: Literal["for", "against"]
    strength: int = Field(ge=1, le=3)
    track: TrackName | None = None


class ExcludeEffect(_Schema):
    option: str
    track: TrackName | None = None


class AlertEffect(_Schema):
    id: str
    severity: Severity | None = None


class MissingEffect(_Schema):
    field: str


class DeriveEffect(_Schema):
    key: str
    value: str | int | float | bool


class SurveilEffect(_Schema):
    """Select a surveillance schedule (knowledge/surveillance.yaml) for this patient."""

    schedule: str


_EFFECT_KINDS = ("argue", "exclude", "alert", "missing", "derive", "surveil")


class Effect(_Schema):
    """Exactly one of the effect kinds."""

    argue: ArgueEffect | None = None
    exclude: ExcludeEffect | None = None
    alert: AlertEffect | None = None
    missing: MissingEffect | None = None
    derive: DeriveEffect | None = None
    surveil: SurveilEffect | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Effect:
        set_ = [k for k in _EFFECT_KINDS if getattr(self, k)]
        if len(set_) != 1:
            raise ValueError(
                "an effect must have exactly one of argue, exclude, alert, missing, derive, surveil; "
                f"got {set_ or 'none'}"
            )
        return self

    @property
    def kind(self) -> str:
        for k in _EFFECT_KINDS:
            if getattr(self, k) is not None:
                return k
        raise AssertionError("unreachable")


class Rule(_Schema):
    id: str = Field(pattern=ID_PATTERN)
    statement: str | list[str] | None = None
    when: list[dict[str, Any]] = Field(default_factory=list)
    then: list[Effect] = Field(min_length=1)
    because: Text
    sources: list[str] = Field(min_length=1)
    evidence: EvidenceRef
    confirmation: Confirmation
    note: str | None = None

    @property
    def stage(self) -> str:
        """classification (derives facts) or knowledge (argue/exclude/alert/missing)."""
        kinds = {e.kind for e in self.then}
        return "classification" if kinds == {"derive"} else "knowledge"


class FileMeta(_Schema):
    purpose: str
    scope: str | None = None
    lifecycle: Literal["draft", "reviewed", "retired"] = "draft"
    not_modelled: list[str] = Field(default_factory=list)


class RuleFile(_Schema):
    meta: FileMeta
    rules: list[Rule]


# --------------------------------------------------------------------- pathways


class PathwayNode(_Schema):
    id: str = Field(pattern=NODE_PATTERN)
    kind: Literal["start", "decision", "situation"]
    label: Text
    note: Text | None = None


class PathwayEdge(_Schema):
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
    statement: str | list[str] | None = None
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
    id: str = Field(pattern=ID_PATTERN)
    title: Text
    description: Text | None = None
    when: list[dict[str, Any]] = Field(min_length=1)
    start: str
    nodes: list[PathwayNode] = Field(min_length=1)
    edges: list[PathwayEdge] = Field(min_length=1)
    meta: FileMeta | None = None
