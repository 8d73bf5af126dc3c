"""Knowledge vignettes: a patient and what the tumour board should see.

Vignettes live beside the recommendation they test
(``knowledge/recommendations/<area>/<id>/vignettes/*.yaml``); pytest discovers them
(``tests/test_vignettes.py``) and ``cds knowledge test`` runs them. Each one says on which side
of its recommendation the patient stands: ``in`` (at least one of the recommendation's rules or
pathway edges fires) or ``out`` (a patient just outside it: none of them fires); the runner
checks the side from the engine's trace. The expectations are sets, so a vignette says what
must hold without freezing the whole output:

.. code-block:: yaml

    id: pnet-ww-in-small-g1
    side: in                  # in | out of its recommendation
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
      trials_eligible: [netter-2]               # trial ids (catalogues/trials/) by verdict
      trials_ineligible: [compete]
      trials_potential: []

A trial's vignettes live in its folder (``knowledge/catalogues/trials/<trial-id>/vignettes/``);
their side is the verdict for that trial: ``in`` eligible, ``out`` ineligible.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.engine import Engine
from cds.input import validate_patient
from cds.knowledge.layout import Layout
from cds.knowledge.loader import KnowledgeBase
from cds.knowledge.vignette_schema import (
    Expectation,
    RankingExpectation,
    SurveillanceExpectation,
    Vignette,
    load_vignette,
)
from cds.matrix_probes import CellResult, check_cells
from cds.model.recommendation import Recommendation, SurveillancePlan
from cds.resources import knowledge_dir


@dataclass(frozen=True)
class VignetteResult:
    """One vignette run: the file, the vignette, the expectations not met and the recommendation.

    Examples
    --------
    >>> from cds.model.recommendation import Recommendation, Trace
    >>> rec = Recommendation(knowledge_version="0.2.0", derived={}, anti_tumour=[], antisecretory=[], excluded=[],
    ...                      alerts=[], missing_data=[], trace=Trace(pathways=[], nodes=[], fired_rules=[]))
    >>> vignette = Vignette.model_validate({"id": "v", "side": "in", "cites": "ESMO 2020",
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
    """Every vignette file: the ``vignettes/*.yaml`` of every recommendation, then of every trial.

    Parameters
    ----------
    root
        The knowledge folder; None for the one in use (:func:`cds.resources.knowledge_dir`).

    Returns
    -------
    list of Path
        The recommendations' sorted by path (so by area, then recommendation), then the trials'
        (``catalogues/trials/<trial-id>/vignettes/``).

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("recommendations/pancreas/pnet-a/vignettes/in-1.yaml", "catalogues/safety-matrix/probes.yaml"):
    ...     (root / name).parent.mkdir(parents=True)
    ...     _ = (root / name).write_text("{}", encoding="utf-8")
    >>> [p.relative_to(root).as_posix() for p in vignette_files(root)]
    ['recommendations/pancreas/pnet-a/vignettes/in-1.yaml']
    """
    layout = Layout(root or knowledge_dir())
    return [*layout.vignette_files(), *layout.trial_vignette_files()]


def recommendation_of(path: Path) -> str:
    """The id of the recommendation a vignette file belongs to (the name of its folder).

    Parameters
    ----------
    path
        A vignette file, ``.../<recommendation-id>/vignettes/<name>.yaml``.

    Returns
    -------
    str
        The recommendation's id.

    Examples
    --------
    >>> recommendation_of(Path("knowledge/recommendations/pancreas/pnet-a/vignettes/in-1.yaml"))
    'pnet-a'
    """
    return Layout.recommendation_of_vignette(path).parent.name


def sides_of(kb: KnowledgeBase, path: Path, vignette: Vignette) -> list[tuple[str, str]]:
    """The recommendations a vignette tests, with its side of each: its own, then those that borrow it.

    Parameters
    ----------
    kb
        The loaded knowledge.
    path
        The vignette's file.
    vignette
        The vignette read from it.

    Returns
    -------
    list of (str, str)
        (recommendation id, ``in`` or ``out``) pairs.

    Examples
    --------
    >>> from cds import default_engine
    >>> kb = default_engine().kb
    >>> path = vignette_files(kb.root)[0]
    >>> sides_of(kb, path, load_vignette(path))[0][0] == recommendation_of(path)
    True
    """
    home = recommendation_of(path)
    out: list[tuple[str, str]] = [(home, vignette.side)] if home in kb.recommendations else []
    for rec in kb.recommendations.values():
        for side, ids in rec.spec.also_tested_by.items():
            if vignette.id in ids:
                out.append((rec.id, side))
    return out


def check_side(rec: Recommendation, side: str, recommendation: str, members: Iterable[str]) -> list[str]:
    """Whether the patient stands on the vignette's side of its recommendation, from the trace.

    Parameters
    ----------
    rec
        The recommendation output for the vignette's patient.
    side
        ``in`` or ``out``.
    recommendation
        The id of the vignette's recommendation (for the message).
    members
        The ids of the rules and pathway edges the recommendation owns.

    Returns
    -------
    list of str
        One message when the side is wrong; empty otherwise.

    Examples
    --------
    >>> from cds.model.recommendation import Recommendation, Trace
    >>> rec = Recommendation(knowledge_version="0.2.0", derived={}, anti_tumour=[], antisecretory=[], excluded=[],
    ...                      alerts=[], missing_data=[], trace=Trace(pathways=[], nodes=[], fired_rules=["r1"]))
    >>> check_side(rec, "in", "rec-a", ["r1", "e1"])
    []
    >>> check_side(rec, "out", "rec-a", ["r1", "e1"])
    ["side 'out': the patient should be just outside recommendation 'rec-a', but its rule or edge r1 fired"]
    """
    taken = set(rec.trace.fired_rules) | set(rec.trace.edges)
    for alert in rec.alerts:  # the follow-up planner's alerts are reported under their rule ids
        taken |= set(alert.rules or ([alert.rule] if alert.rule else []))
    fired = sorted(taken & set(members))
    if side == "in" and not fired:
        return [f"side 'in': no rule or edge of recommendation {recommendation!r} fired for this patient"]
    if side == "out" and fired:
        return [f"side 'out': the patient should be just outside recommendation {recommendation!r}, but its rule "
                f"or edge {', '.join(fired)} fired"]
    return []


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
    fails += check_trials(rec, exp)
    return fails


_ABSENT = object()

_VERDICT_EXPECTATIONS = (("trials_eligible", "eligible"), ("trials_potential", "potentially_eligible"),
                         ("trials_ineligible", "ineligible"))


def check_trials(rec: Recommendation, exp: Expectation) -> list[str]:
    """Every trial expectation (``trials_eligible``, ``trials_potential``, ``trials_ineligible``) not met.

    Parameters
    ----------
    rec
        The recommendation for the vignette's patient (its ``trials``).
    exp
        What the vignette expects.

    Returns
    -------
    list of str
        One message per trial whose verdict is not the expected one (or that is not in the catalogue).

    Examples
    --------
    >>> from cds.model.recommendation import Recommendation, Trace, TrialMatch
    >>> m = TrialMatch(id="t", acronym="T", title="T", phase="2", status="recruiting", status_checked_on="2026-01-02",
    ...                verdict="potentially_eligible")
    >>> rec = Recommendation(knowledge_version="0.2.0", derived={}, anti_tumour=[], antisecretory=[], excluded=[],
    ...                      alerts=[], missing_data=[], trace=Trace(pathways=[], nodes=[], fired_rules=[]), trials=[m])
    >>> check_trials(rec, Expectation(trials_eligible=["t"], trials_ineligible=["u"]))
    ["trial 't' is potentially_eligible, expected eligible", "trial 'u' is not in the trial catalogue"]
    """
    verdicts = {m.id: m for m in rec.trials}
    fails: list[str] = []
    for key, want in _VERDICT_EXPECTATIONS:
        for trial_id in getattr(exp, key):
            got = verdicts.get(trial_id)
            if got is None:
                fails.append(f"trial {trial_id!r} is not in the trial catalogue")
            elif got.verdict != want:
                why = [f"{c.id} ({c.condition})" for c in got.failed] or [
                    f"{c.id} (unknown: {', '.join(c.fields)})" for c in got.unknown]
                fails.append(f"trial {trial_id!r} is {got.verdict}, expected {want}"
                             + (f": {'; '.join(why)}" if why and want != "ineligible" else ""))
    return fails


def check_trial_side(rec: Recommendation, side: str, trial_id: str) -> list[str]:
    """Whether a trial's vignette stands on its side: ``in`` eligible for the trial, ``out`` ineligible.

    Parameters
    ----------
    rec
        The recommendation for the vignette's patient.
    side
        ``in`` or ``out``.
    trial_id
        The trial whose folder holds the vignette.

    Returns
    -------
    list of str
        One message when the side is wrong; empty otherwise.

    Examples
    --------
    >>> from cds.model.recommendation import Recommendation, Trace, TrialMatch
    >>> m = TrialMatch(id="t", acronym="T", title="T", phase="2", status="recruiting", status_checked_on="2026-01-02",
    ...                verdict="ineligible")
    >>> rec = Recommendation(knowledge_version="0.2.0", derived={}, anti_tumour=[], antisecretory=[], excluded=[],
    ...                      alerts=[], missing_data=[], trace=Trace(pathways=[], nodes=[], fired_rules=[]), trials=[m])
    >>> check_trial_side(rec, "out", "t"), check_trial_side(rec, "in", "t")
    ([], ["side 'in': the patient should be eligible for trial 't', but is ineligible"])
    """
    want = "eligible" if side == "in" else "ineligible"
    got = next((m.verdict for m in rec.trials if m.id == trial_id), None)
    if got == want:
        return []
    return [f"side {side!r}: the patient should be {want} for trial {trial_id!r}, but is "
            + (got or "not matched (no such trial)")]


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
    members: dict[str, list[str]] = {}
    for item, owner in engine.kb.owners.items():
        members.setdefault(owner, []).append(item)
    results: list[VignetteResult] = []
    for path in paths if paths is not None else vignette_files(engine.kb.root):
        vignette = load_vignette(path)
        rec = _evaluate(engine, vignette, path)
        failures = check(rec, vignette.expect)
        for home, side in sides_of(engine.kb, path, vignette):
            failures = check_side(rec, side, home, members.get(home, ())) + failures
        trial = recommendation_of(path)
        if trial in engine.kb.trials and path.is_relative_to(Layout(engine.kb.root).trials):
            failures = check_trial_side(rec, vignette.side, trial) + failures
        results.append(VignetteResult(path, vignette, failures, rec))
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
    >>> import tempfile, yaml
    >>> path = Path(tempfile.mkdtemp()) / "v.yaml"
    >>> _ = path.write_text(yaml.safe_dump({"id": "v1", "side": "in", "cites": "ESMO 2020",
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
    paths = list(paths) if paths is not None else vignette_files(engine.kb.root)
    fired: set[str] = set()
    for result in run_vignettes(engine, paths):
        trace = result.recommendation.trace
        fired |= set(trace.fired_rules) | set(trace.edges)
    for cell in run_matrix_probes(engine, paths):
        fired |= cell.fired
        if cell.ok:  # a statement checked on its probes is exercised, even where no pathway proposes the option
            fired.add(cell.entry)
    return fired
