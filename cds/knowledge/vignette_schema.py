"""The schema of a knowledge vignette: a patient, its side of a recommendation, what the board should see.

The file format is described in :mod:`cds.vignettes`, which runs the vignettes; the models live
here, with the other knowledge schemas, so that ``cds schema knowledge`` can export them
without importing the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field


class SurveillanceExpectation(BaseModel):
    """What the surveillance section must show (all optional).

    Examples
    --------
    >>> expect = SurveillanceExpectation.model_validate({"schedule": "ww_pnet_small", "default_msv": 0})
    >>> expect.schedule, expect.tolerance_msv
    ('ww_pnet_small', 0.5)
    """

    model_config = ConfigDict(extra="forbid")

    schedule: str | list[str] | None = None
    schedules_include: list[str] = Field(default_factory=list)
    monitoring_include: list[str] = Field(default_factory=list)
    no_follow_up: bool | None = None
    individual: bool | None = None
    lifelong: bool | None = None
    pregnancy: bool | None = None
    recommended_plan: Literal["default", "minimised"] | None = None
    follows_option: str | None = None
    default_msv: float | None = None
    minimised_msv: float | None = None
    dose_saved_msv: float | None = None
    total_default_msv: float | None = None
    total_minimised_msv: float | None = None
    prior_exposure_msv: float | None = None
    tolerance_msv: float = Field(default=0.5, ge=0)
    exam_counts: dict[str, int] | None = None
    minimised_exam_counts: dict[str, int] | None = None
    ionising_within_months: int | None = Field(
        default=None, description="No ionising exam in the recommended plan up to this month (pregnancy)."
    )
    horizon_years: float | None = None


class RankingExpectation(BaseModel):
    """What a ranking (the main one, or one scenario's) must show.

    Examples
    --------
    >>> RankingExpectation.model_validate({"top_anti_tumour": ["platinum_etoposide"]}).anti_tumour_includes
    []
    """

    model_config = ConfigDict(extra="forbid")

    top_anti_tumour: list[str] | None = None
    top_antisecretory: list[str] | None = None
    anti_tumour_includes: list[str] = Field(default_factory=list)
    anti_tumour_excludes: list[str] = Field(default_factory=list)
    antisecretory_includes: list[str] = Field(default_factory=list)
    antisecretory_excludes: list[str] = Field(default_factory=list)
    excluded_includes: list[str] = Field(default_factory=list)
    excluded_excludes: list[str] = Field(default_factory=list)


class Expectation(RankingExpectation):
    """Everything a vignette may expect of the recommendation (``expect:``); all optional.

    Examples
    --------
    >>> expect = Expectation.model_validate({"top_anti_tumour": ["watchful_waiting"], "derived": {"category": "net_g1"},
    ...                                      "scenarios": {"differentiation.poor": {"top_anti_tumour": ["surgery"]}}})
    >>> expect.scenarios["differentiation.poor"].top_anti_tumour, expect.no_scenarios
    (['surgery'], False)
    """

    categories: dict[str, str] = Field(default_factory=dict)
    alerts_include: list[str] = Field(default_factory=list)
    alerts_exclude: list[str] = Field(default_factory=list)
    missing_data_include: list[str] = Field(default_factory=list)
    conditional_on: dict[str, list[str]] = Field(default_factory=dict)
    derived: dict[str, Any] = Field(default_factory=dict)
    nodes_include: list[str] = Field(default_factory=list)
    safety_levels: dict[str, Literal["avoid", "caution"] | None] = Field(default_factory=dict)
    assumptions: dict[str, Any] = Field(default_factory=dict)
    scenarios: dict[str, RankingExpectation] = Field(default_factory=dict)
    no_scenarios: bool = False
    surveillance: SurveillanceExpectation | None = None
    trials_eligible: list[str] = Field(
        default_factory=list, description="Trial ids (catalogues/trials/) the patient must be eligible for."
    )
    trials_ineligible: list[str] = Field(
        default_factory=list, description="Trial ids a criterion must exclude the patient from."
    )
    trials_potential: list[str] = Field(
        default_factory=list, description="Trial ids the patient must be potentially eligible for (data missing)."
    )


class Vignette(BaseModel):
    """A vignette file: a patient, its side of the recommendation it tests, and what the board should see.

    Examples
    --------
    >>> vignette = Vignette.model_validate({
    ...     "id": "pnet-ww-in-small-g1", "side": "in", "cites": "ENETS 2023 NF-pNET",
    ...     "patient": {"tumour": {"primary_site": "pancreas", "size_mm": 15}},
    ...     "expect": {"top_anti_tumour": ["watchful_waiting"]}})
    >>> vignette.expect.top_anti_tumour, vignette.description
    (['watchful_waiting'], None)
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    side: Literal["in", "out"] = Field(
        description="in: at least one rule or pathway edge of the vignette's recommendation fires for this patient; "
        "out: a patient just outside the recommendation, for whom none of them fires. For a trial's vignette "
        "(catalogues/trials/<id>/vignettes/): in = the patient is eligible for the trial, out = ineligible."
    )
    cites: str
    description: str | None = None
    patient: dict[str, Any]
    expect: Expectation


def load_vignette(path: Path) -> Vignette:
    """Read one vignette file.

    Parameters
    ----------
    path
        The YAML file.

    Returns
    -------
    Vignette
        The vignette (the patient is kept as plain data, validated when it is run).

    Raises
    ------
    pydantic.ValidationError
        The file is not a vignette (unknown or missing keys).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "v.yaml"
    >>> _ = path.write_text(yaml.safe_dump({
    ...     "id": "v", "side": "in", "cites": "ENETS", "patient": {"tumour": {"primary_site": "pancreas"}},
    ...     "expect": {"top_anti_tumour": ["watchful_waiting"]}}), encoding="utf-8")
    >>> load_vignette(path).patient
    {'tumour': {'primary_site': 'pancreas'}}
    """
    return Vignette.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
