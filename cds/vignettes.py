"""Knowledge vignettes: a patient and what the tumour board should see.

Vignettes live in ``knowledge/vignettes/**/*.yaml``; pytest discovers them
(``tests/test_vignettes.py``) and ``cds knowledge test`` runs them. Each one
cites the guideline statement it tests. The expectations are sets, so a
vignette says what must hold without freezing the whole output:

.. code-block:: yaml

    id: pnet-ww-in-small-g1
    statement: DP-027
    cites: ENETS 2023 NF-pNET - active surveillance for sporadic NF-pNET <= 2 cm
    patient: {...}            # the input contract
    expect:
      top_anti_tumour: [watchful_waiting]       # rank 1 must be one of these
      top_antisecretory: [ssa]
      anti_tumour_includes: [surgery_curative]  # ranked in that track
      anti_tumour_excludes: [ssa]               # not ranked in that track
      antisecretory_includes: []
      antisecretory_excludes: []
      categories: {watchful_waiting: recommended}
      excluded_includes: [prrt]                 # listed under excluded
      excluded_excludes: []
      alerts_include: [mdt_referral]
      alerts_exclude: []
      missing_data_include: [tumour.ki67_percent]
      conditional_on: {prrt: [imaging.sstr]}
      derived: {category: net_g1}
      nodes_include: [Small_Localized_Tumour]
      safety_levels: {everolimus: caution, prrt: null}   # ranked, with this safety flag (null: none)
      assumptions: {tumour.differentiation: well}        # definitions applied to unstated data
      scenarios:                                # rankings per hypothesis of a missing datum
        differentiation.poor: {top_anti_tumour: [platinum_etoposide]}
      no_scenarios: false                       # true: the answer must not depend on missing data
      surveillance:                             # optional: the follow-up plan
        schedule: pnet_resected_commnets        # the plan's schedule (or a list: one of them)
        schedules_include: [net_resected_esmo]  # among the plan, alternatives and monitoring
        monitoring_include: [prrt_laboratory]
        no_follow_up: false
        recommended_plan: default               # default | minimised
        default_msv: 60                         # plan doses over the horizon (mSv) ...
        minimised_msv: 0
        dose_saved_msv: 60
        total_default_msv: 60                   # ... and with earlier imaging
        tolerance_msv: 0.5                      # for every dose figure (default 0.5)
        exam_counts: {ct_chest_abdomen_pelvis: 6}   # in the default plan
        minimised_exam_counts: {mri_liver: 6}
        horizon_years: 10                       # evaluate with this horizon (default: the setting)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from cds.engine import Engine
from cds.input import validate_patient
from cds.matrix_probes import CellResult, check_cells
from cds.model.recommendation import Recommendation, SurveillancePlan
from cds.resources import knowledge_dir


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


class Vignette(BaseModel):
    """A vignette file: a patient, the guideline statement it tests, and what the board should see.

    Examples
    --------
    >>> vignette = Vignette.model_validate({
    ...     "id": "pnet-ww-in-small-g1", "statement": "DP-027", "cites": "ENETS 2023 NF-pNET",
    ...     "patient": {"tumour": {"primary_site": "pancreas", "size_mm": 15}},
    ...     "expect": {"top_anti_tumour": ["watchful_waiting"]}})
    >>> vignette.expect.top_anti_tumour, vignette.description
    (['watchful_waiting'], None)
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    statement: str | list[str]
    cites: str
    description: str | None = None
    patient: dict[str, Any]
    expect: Expectation


@dataclass(frozen=True)
class VignetteResult:
    """One vignette run: the file, the vignette, the expectations not met and the recommendation.

    Examples
    --------
    >>> from cds.model.recommendation import Recommendation, Trace
    >>> rec = Recommendation(knowledge_version="0.2.0", derived={}, anti_tumour=[], antisecretory=[], excluded=[],
    ...                      alerts=[], missing_data=[], trace=Trace(pathways=[], nodes=[], fired_rules=[]))
    >>> vignette = Vignette.model_validate({"id": "v", "statement": "DP-001", "cites": "ESMO 2020",
    ...                                      "patient": {}, "expect": {"top_anti_tumour": []}})
    >>> VignetteResult(Path("v.yaml"), vignette, check(rec, vignette.expect), rec).ok
    True
    """

    path: Path
    vignette: Vignette
    failures: list[str]
    recommendation: Recommendation

    @property
    def ok(self) -> bool:
        """True when the recommendation meets every expectation."""
        return not self.failures


def vignette_files(root: Path | None = None) -> list[Path]:
    """Every vignette file (the matrix probes in vignettes/matrix/ are not vignettes).

    Parameters
    ----------
    root
        The folder to search (with its subfolders); None for the knowledge's ``vignettes/``.

    Returns
    -------
    list of Path
        Every ``*.yaml`` below ``root`` outside a folder named ``matrix``, sorted.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("pnet/a.yaml", "matrix/probes.yaml", "b.yaml"):
    ...     (root / name).parent.mkdir(exist_ok=True)
    ...     _ = (root / name).write_text("{}", encoding="utf-8")
    >>> [p.relative_to(root).as_posix() for p in vignette_files(root)]
    ['b.yaml', 'pnet/a.yaml']
    """
    base = root or knowledge_dir() / "vignettes"
    return sorted(p for p in base.rglob("*.yaml") if p.parent.name != "matrix")


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
    ...     "id": "v", "statement": "DP-027", "cites": "ENETS", "patient": {"tumour": {"primary_site": "pancreas"}},
    ...     "expect": {"top_anti_tumour": ["watchful_waiting"]}}), encoding="utf-8")
    >>> load_vignette(path).patient
    {'tumour': {'primary_site': 'pancreas'}}
    """
    return Vignette.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def check(rec: Recommendation, exp: Expectation) -> list[str]:
    """Every expectation the recommendation does not meet, in words.

    Parameters
    ----------
    rec
        The recommendation for the vignette's patient.
    exp
        What the vignette expects.

    Returns
    -------
    list of str
        One message per expectation not met; empty when all are.

    Examples
    --------
    >>> from cds.model.recommendation import Recommendation, Trace
    >>> rec = Recommendation(knowledge_version="0.2.0", derived={}, anti_tumour=[], antisecretory=[], excluded=[],
    ...                      alerts=[], missing_data=[], trace=Trace(pathways=[], nodes=[], fired_rules=[]))
    >>> check(rec, Expectation(top_anti_tumour=["ssa"], alerts_include=["mdt_referral"]))
    ["anti_tumour: rank 1 is None, expected one of ['ssa']", "alert 'mdt_referral' missing (got [])"]
    """
    fails = _check_ranking(
        {"anti_tumour": [o.option for o in rec.anti_tumour],
         "antisecretory": [o.option for o in rec.antisecretory]},
        {e.option for e in rec.excluded}, exp)
    ranked_all = {o.option: o for o in rec.anti_tumour + rec.antisecretory}
    for opt, category in exp.categories.items():
        got = ranked_all.get(opt)
        if got is None:
            fails.append(f"{opt!r} should be ranked as {category}, but is not ranked")
        elif got.category != category:
            fails.append(f"{opt!r} is {got.category} (score {got.score}), expected {category}")
    alerts = {a.id for a in rec.alerts}
    fails += [f"alert {a!r} missing (got {sorted(alerts)})" for a in exp.alerts_include
              if a not in alerts]
    fails += [f"alert {a!r} should not be raised" for a in exp.alerts_exclude if a in alerts]
    missing = {m.field for m in rec.missing_data}
    fails += [f"missing-data request for {f!r} absent" for f in exp.missing_data_include
              if f not in missing]
    for opt, fields in exp.conditional_on.items():
        got_opt = ranked_all.get(opt)
        if got_opt is None:
            fails.append(f"{opt!r} should be ranked (conditional on {fields})")
        elif sorted(got_opt.conditional_on) != sorted(fields):
            fails.append(f"{opt!r} conditional_on {got_opt.conditional_on}, expected {fields}")
    for key, value in exp.derived.items():
        if rec.derived.get(key) != value:
            fails.append(f"derived.{key} is {rec.derived.get(key)!r}, expected {value!r}")
    fails += [f"node {n!r} not reached (reached {rec.trace.nodes})" for n in exp.nodes_include
              if n not in rec.trace.nodes]
    for opt, level in exp.safety_levels.items():
        got_opt = ranked_all.get(opt)
        if got_opt is None:
            fails.append(f"{opt!r} should be ranked (safety level {level})")
        elif got_opt.safety_level != level:
            fails.append(f"{opt!r} has safety level {got_opt.safety_level}, expected {level}")
    assumed = {a.field: a.value for a in rec.assumptions}
    for field_path, value in exp.assumptions.items():
        if assumed.get(field_path, _ABSENT) != value:
            fails.append(f"assumption {field_path} = {value!r} not stated (assumptions: {assumed})")
    scenarios = {sc.id: sc for sc in rec.scenarios}
    if exp.no_scenarios and scenarios:
        fails.append(f"expected no scenarios, got {sorted(scenarios)}")
    for sid, sexp in exp.scenarios.items():
        sc = scenarios.get(sid)
        if sc is None:
            fails.append(f"scenario {sid!r} missing (got {sorted(scenarios)})")
            continue
        fails += [f"scenario {sid}: {f}" for f in _check_ranking(
            {"anti_tumour": [o.option for o in sc.anti_tumour],
             "antisecretory": [o.option for o in sc.antisecretory]},
            {e.option for e in sc.excluded}, sexp)]
    if exp.surveillance is not None:
        fails += check_surveillance(rec, exp.surveillance)
    return fails


_ABSENT = object()


def _check_ranking(
    ids: dict[str, list[str]], excluded: set[str], exp: RankingExpectation
) -> list[str]:
    """The ranking expectations the tracks' option ids and the excluded options do not meet."""
    fails: list[str] = []
    for track, ranked in ids.items():
        top = getattr(exp, f"top_{track}")
        if top is not None:
            if not top and ranked:
                fails.append(f"{track}: expected no option, got {ranked}")
            elif top and (not ranked or ranked[0] not in top):
                fails.append(f"{track}: rank 1 is {ranked[0] if ranked else None!r}, expected one of {top}")
        for opt in getattr(exp, f"{track}_includes"):
            if opt not in ranked:
                fails.append(f"{track}: {opt!r} should be ranked; ranked: {ranked}")
        for opt in getattr(exp, f"{track}_excludes"):
            if opt in ranked:
                fails.append(f"{track}: {opt!r} should not be ranked")
    fails += [f"{o!r} should be excluded" for o in exp.excluded_includes if o not in excluded]
    fails += [f"{o!r} should not be excluded" for o in exp.excluded_excludes if o in excluded]
    return fails


def check_surveillance(rec: Recommendation, exp: SurveillanceExpectation) -> list[str]:
    """Every surveillance expectation the recommendation does not meet, in words.

    Parameters
    ----------
    rec
        The recommendation, evaluated with its follow-up plan.
    exp
        What the vignette expects of the plan.

    Returns
    -------
    list of str
        One message per expectation not met; empty when all are.

    Examples
    --------
    >>> from cds.model.recommendation import Recommendation, Trace
    >>> rec = Recommendation(knowledge_version="0.2.0", derived={}, anti_tumour=[], antisecretory=[], excluded=[],
    ...                      alerts=[], missing_data=[], trace=Trace(pathways=[], nodes=[], fired_rules=[]))
    >>> check_surveillance(rec, SurveillanceExpectation(schedule="ww_pnet_small"))
    ['no surveillance section']
    """
    s = rec.surveillance
    if s is None:
        return ["no surveillance section"]
    fails: list[str] = []
    if exp.schedule is not None:
        allowed = [exp.schedule] if isinstance(exp.schedule, str) else exp.schedule
        if s.schedule not in allowed:
            fails.append(f"surveillance schedule is {s.schedule!r}, expected one of {allowed}")
    selected = {s.schedule, *(r.schedule for r in s.alternatives), *(r.schedule for r in s.monitoring)}
    fails += [f"schedule {x!r} not selected (selected: {sorted(str(v) for v in selected)})"
              for x in exp.schedules_include if x not in selected]
    monitoring = [r.schedule for r in s.monitoring]
    fails += [f"monitoring {x!r} not added (added: {monitoring})" for x in exp.monitoring_include
              if x not in monitoring]
    flags = {"no_follow_up": s.no_follow_up, "individual": s.individual, "pregnancy": s.pregnancy,
             "recommended_plan": s.recommended_plan, "follows_option": s.follows_option,
             "lifelong": s.plans[0].lifelong if s.plans else None}
    for name, got in flags.items():
        want = getattr(exp, name)
        if want is not None and got != want:
            fails.append(f"surveillance {name} is {got!r}, expected {want!r}")
    plans: dict[str, SurveillancePlan] = {p.id: p for p in s.plans}
    figures = {
        "default_msv": plans["default"].cumulative_msv,
        "minimised_msv": plans["minimised"].cumulative_msv,
        "dose_saved_msv": s.dose_saved_msv,
        "total_default_msv": plans["default"].total_msv,
        "total_minimised_msv": plans["minimised"].total_msv,
        "prior_exposure_msv": s.prior_exposure_msv,
    }
    for name, got_msv in figures.items():
        want_msv = getattr(exp, name)
        if want_msv is not None and abs(got_msv - want_msv) > exp.tolerance_msv:
            fails.append(f"surveillance {name} is {got_msv:g} mSv, expected {want_msv:g} "
                         f"(tolerance {exp.tolerance_msv:g})")
    for name, plan_id in (("exam_counts", "default"), ("minimised_exam_counts", "minimised")):
        want_counts = getattr(exp, name)
        if want_counts is None:
            continue
        got_counts = plans[plan_id].exam_counts
        for modality, count in want_counts.items():
            if got_counts.get(modality, 0) != count:
                fails.append(f"{plan_id} plan has {got_counts.get(modality, 0)} x {modality}, expected {count}")
    if exp.ionising_within_months is not None:
        plan = plans[s.recommended_plan]
        early = [e for e in plan.exams if e.ionising and e.offset_months <= exp.ionising_within_months]
        if early:
            fails.append(f"ionising exam(s) in the recommended plan within {exp.ionising_within_months} months: "
                         + ", ".join(f"{e.modality}@{e.offset_months}" for e in early))
    return fails


def _evaluate(engine: Engine, vignette: Vignette, path: Path) -> Recommendation:
    patient = validate_patient(vignette.patient, str(path), engine.kb.options)
    horizon = vignette.expect.surveillance.horizon_years if vignette.expect.surveillance else None
    return engine.evaluate_detail(patient, horizon_years=horizon).recommendation


def run_vignettes(engine: Engine, paths: Iterable[Path] | None = None) -> list[VignetteResult]:
    """Evaluate every vignette and check it (what ``cds knowledge test`` runs).

    Parameters
    ----------
    engine
        The engine to evaluate with.
    paths
        The vignette files; None for :func:`vignette_files`.

    Returns
    -------
    list of VignetteResult
        One per file, in order.

    Raises
    ------
    cds.errors.InputError
        A vignette's patient is not valid (or names an unknown prior option).
    pydantic.ValidationError
        A file is not a vignette.
    """
    results: list[VignetteResult] = []
    for path in paths if paths is not None else vignette_files():
        vignette = load_vignette(path)
        rec = _evaluate(engine, vignette, path)
        results.append(VignetteResult(path, vignette, check(rec, vignette.expect), rec))
    return results


def vignette_patients(paths: Iterable[Path] | None = None) -> dict[str, dict[str, Any]]:
    """Vignette id -> its patient (the matrix probes refer to vignettes by id).

    Parameters
    ----------
    paths
        The vignette files; None for :func:`vignette_files`.

    Returns
    -------
    dict
        Vignette id -> its patient as plain data (not validated).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "v.yaml"
    >>> _ = path.write_text(yaml.safe_dump({"id": "v1", "statement": "DP-001", "cites": "ESMO 2020",
    ...                                     "patient": {"age": 60}, "expect": {}}), encoding="utf-8")
    >>> vignette_patients([path])
    {'v1': {'age': 60}}
    """
    out: dict[str, dict[str, Any]] = {}
    for path in paths if paths is not None else vignette_files():
        vignette = load_vignette(path)
        out[vignette.id] = vignette.patient
    return out


def run_matrix_probes(engine: Engine, paths: Iterable[Path] | None = None) -> list[CellResult]:
    """Every stated cell of the contraindication matrix checked on its probe patients.

    Parameters
    ----------
    engine
        The engine to evaluate with.
    paths
        The vignette files the probes are taken from; None for :func:`vignette_files`.

    Returns
    -------
    list of CellResult
        As :func:`cds.matrix_probes.check_cells` returns them.
    """
    return check_cells(engine, vignette_patients(paths))


def fired_by_vignettes(engine: Engine, paths: Iterable[Path] | None = None) -> set[str]:
    """Rule and edge ids that at least one vignette or matrix probe exercises (for coverage).

    Parameters
    ----------
    engine
        The engine to evaluate with.
    paths
        The vignette files; None for :func:`vignette_files`.

    Returns
    -------
    set of str
        Rules fired and edges taken by the vignettes and the probes, and the matrix statements
        whose cells hold.
    """
    paths = list(paths) if paths is not None else vignette_files()
    fired: set[str] = set()
    for result in run_vignettes(engine, paths):
        trace = result.recommendation.trace
        fired |= set(trace.fired_rules) | set(trace.edges)
    for cell in run_matrix_probes(engine, paths):
        fired |= cell.fired
        if cell.ok:  # a statement checked on its probes is exercised, even where no pathway proposes the option
            fired.add(cell.entry)
    return fired
