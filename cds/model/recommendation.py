"""The output contract (DESIGN.md section 4).

Field names are a stable interface for integrators: extend, never rename.
Everything is plain data so that ``model_dump_json`` of the same input and
knowledge is byte-identical from run to run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Direction = Literal["for", "against", "exclude"]
Category = Literal["recommended", "consider", "not_recommended"]
Severity = Literal["info", "warning", "critical"]
Track = Literal["anti_tumour", "antisecretory"]

DISCLAIMER = (
    "netcds supports the decision of a multidisciplinary tumour board; it does not replace it. "
    "Every option must be weighed by the board against the full clinical picture and the "
    "patient's wishes."
)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Evidence(_Out):
    """How strong the evidence behind an argument is (scale in knowledge/evidence.yaml)."""

    kind: str = Field(description="Kind of evidence, e.g. rct_phase3, retrospective, expert_consensus.")
    level: str | None = Field(default=None, description="The guideline's own level/grade, when it states one.")
    rank: int = Field(description="Position on the scale, 1 = strongest.")
    confirmed: bool = Field(
        description="False when the knowledge brief could not confirm the statement against its source ([U])."
    )


class Argument(_Out):
    direction: Direction
    rule: str
    text: str
    sources: list[str]
    evidence: Evidence
    strength: int = Field(description="Weight used by the ranking (0 for exclusions).")


class RankedOption(_Out):
    option: str
    label: str
    track: Track
    rank: int = Field(description="1 = best within its track.")
    score: int
    category: Category
    arguments: list[Argument]
    conditional_on: list[str] = Field(
        default_factory=list, description="Input fields still missing that this option depends on."
    )


class ExcludedOption(_Out):
    option: str
    label: str
    track: Track
    reasons: list[Argument]


class Alert(_Out):
    id: str
    severity: Severity
    text: str
    rule: str
    sources: list[str]
    rules: list[str] = Field(default_factory=list, description="Every rule that raised this alert.")


class MissingData(_Out):
    field: str
    why: str
    rule: str


class Trace(_Out):
    pathways: list[str]
    nodes: list[str]
    edges: list[str] = Field(default_factory=list, description="Pathway edges taken, as rule ids.")
    fired_rules: list[str]


class Recommendation(_Out):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"title": "netcds Recommendation (output contract)"},
    )

    knowledge_version: str
    patient_id: str | None = None
    as_of: str | None = None
    language: Literal["en", "fr"] = "en"
    derived: dict[str, str | int | float | bool | None]
    anti_tumour: list[RankedOption]
    antisecretory: list[RankedOption]
    excluded: list[ExcludedOption]
    alerts: list[Alert]
    missing_data: list[MissingData]
    trace: Trace
    disclaimer: str = DISCLAIMER
