"""Surveillance planner (issue #5): schedules, dose figures, radiation weighting, exports.

The knowledge itself (which schedule for which patient, with which doses) is tested by the
vignettes in knowledge/vignettes/surveillance/; these tests cover the planner's mechanics, the
JSON contract, the iCalendar export (validated by the ``icalendar`` package), the SVG timeline
and the CLI command.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import icalendar
import pytest
import yaml
from typer.testing import CliRunner

from cds import Engine, Patient
from cds.cli import app
from cds.errors import InputError, KnowledgeError
from cds.input import read_patient_file, validate_patient
from cds.knowledge import KnowledgeBase, load_knowledge
from cds.model.recommendation import Alert, Recommendation, Surveillance, SurveillanceReport
from cds.model.units import add_months
from cds.render.ics import to_ics
from cds.render.timeline import timeline_svg
from cds.resources import examples_dir, knowledge_dir, pathways_dir
from cds.surveillance import merge_alerts, plan_surveillance, prior_exposure_msv, surveillance_report
from tests.conftest import patient_dict, with_overrides

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
EXAMPLES = sorted(examples_dir().glob("*.json"))
SI_01 = examples_dir() / "si-01-locoregional-resectable.json"
PNET_02 = examples_dir() / "pnet-02-metastatic-g2-ki67-5.json"


def resected_pnet(**overrides: Any) -> dict[str, Any]:
    """Resected pNET G2, 25 mm, N0: the CommNETS schedule (6 CT = 60 mSv over 10 years)."""
    base: dict[str, Any] = {
        "age": 64, "sex": "F", "ecog": 0, "as_of": "2025-03-01",
        "tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 4, "size_mm": 25,
                   "functional_syndrome": "none", "primary_resected": True, "lymph_nodes_positive": False,
                   "resection_margin": "r0"},
        "disease": {"stage": "localized", "status": "stable"},
    }
    return with_overrides(base, overrides)


def evaluate(engine: Engine, data: dict[str, Any], horizon: float | None = None) -> Recommendation:
    patient = validate_patient(data, "test", engine.kb.options)
    return engine.evaluate_detail(patient, horizon_years=horizon).recommendation


def section(rec: Recommendation) -> Surveillance:
    assert rec.surveillance is not None
    return rec.surveillance


# ------------------------------------------------------------------ examples


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_gets_a_plan_and_two_dose_figures(engine: Engine, path: Path) -> None:
    rec = engine.evaluate(read_patient_file(path, engine.kb.options))
    s = section(rec)
    assert s.schedule is not None, f"{path.stem}: no schedule ({s.because})"
    assert s.kind in ("imaging", "none", "individual")
    assert s.no_follow_up == (s.kind == "none")
    if s.kind == "imaging":
        assert s.plans[0].exams, "an imaging schedule lays out exams"
    assert [p.id for p in s.plans] == ["default", "minimised"]
    default, minimised = s.plans
    assert default.cumulative_msv >= minimised.cumulative_msv >= 0
    assert s.dose_saved_msv == pytest.approx(default.cumulative_msv - minimised.cumulative_msv)
    assert sum(p.recommended for p in s.plans) == 1
    assert s.dated and all(e.date for p in s.plans for e in p.exams)
    assert s.sources


# ------------------------------------------------------------------ figures


def test_commnets_schedule_figures(engine: Engine) -> None:
    s = section(evaluate(engine, resected_pnet()))
    default, minimised = s.plans
    assert s.schedule == "pnet_resected_commnets"
    assert [e.offset_months for e in default.exams] == [12, 24, 36, 60, 84, 108]
    assert [e.date for e in default.exams][:2] == ["2026-03-01", "2027-03-01"]
    assert [e.cumulative_msv for e in default.exams] == [10, 20, 30, 40, 50, 60]
    assert {e.modality for e in minimised.exams} == {"mri_pancreas"}
    assert all(e.replaces == "ct_chest_abdomen_pelvis" for e in minimised.exams)
    assert (default.cumulative_msv, minimised.cumulative_msv, s.dose_saved_msv) == (60, 0, 60)
    # CommNETS: 10 years in total for the standard group ("at least" only for the higher-risk group)
    assert not default.at_least and default.duration_months == 120
    assert s.recommended_plan == "default"


def test_horizon_changes_the_count(engine: Engine) -> None:
    s = section(evaluate(engine, resected_pnet(), horizon=5))
    assert s.horizon_months == 60
    assert s.plans[0].exam_counts == {"ct_chest_abdomen_pelvis": 4}
    with pytest.raises(ValueError, match="horizon"):
        evaluate(engine, resected_pnet(), horizon=0)


def test_undated_plan_carries_offsets_only(engine: Engine) -> None:
    data = resected_pnet()
    del data["as_of"]
    s = section(evaluate(engine, data))
    assert not s.dated and s.as_of is None
    assert all(e.date is None for p in s.plans for e in p.exams)
    assert s.plans[0].cumulative_msv == 60


def test_output_is_deterministic(engine: Engine) -> None:
    first = evaluate(engine, resected_pnet()).model_dump_json()
    assert evaluate(engine, resected_pnet()).model_dump_json() == first


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(dt.date(2025, 1, 31), 1) == dt.date(2025, 2, 28)
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2025, 11, 15), 3) == dt.date(2026, 2, 15)
    assert add_months(dt.date(2025, 3, 1), 120) == dt.date(2035, 3, 1)


def test_ongoing_line_is_joined_where_it_stands(engine: Engine) -> None:
    data = {
        "age": 61, "sex": "M", "ecog": 1, "as_of": "2025-03-01",
        "tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 6,
                   "functional_syndrome": "none", "primary_resected": False},
        "disease": {"stage": "metastatic", "metastatic_sites": ["liver"], "status": "stable", "resectable": False},
        "imaging": {"sstr": "positive"},
        "prior_treatments": [{"option": "everolimus", "stop_reason": "ongoing", "line": 1, "duration_months": 10}],
    }
    s = section(evaluate(engine, data))
    assert s.schedule == "on_treatment_net" and s.elapsed_months == 10
    imaging = [e.offset_months for e in s.plans[0].exams if e.modality == "ct_chest_abdomen_pelvis"]
    # schedule month 12 (end of the 3-monthly year) is 2 months away, then every 6 months
    assert imaging[:3] == [2, 8, 14]


# ------------------------------------------------------------------ radiation weighting


def test_young_patient_gets_the_minimised_plan(engine: Engine) -> None:
    young = evaluate(engine, resected_pnet(age=38))
    older = evaluate(engine, resected_pnet(age=60))
    assert section(young).recommended_plan == "minimised"
    assert section(older).recommended_plan == "default"
    prefer = {a.id: a for a in young.alerts}["prefer_mri"]
    assert "surveillance.planner.young_patient" in prefer.rules
    assert "50" in prefer.text


def test_pregnancy_removes_ionising_exams_from_the_window(engine: Engine) -> None:
    data = resected_pnet(age=33, comorbidities=["pregnancy"],
                         tumour={"lymph_nodes_positive": True}, disease={"stage": "locoregional"})
    rec = evaluate(engine, data)
    s = section(rec)
    assert s.pregnancy and s.recommended_plan == "minimised"
    window = engine.kb.settings["surveillance_pregnancy_window_months"]
    for plan in s.plans:
        early = [e for e in plan.exams if e.offset_months <= window]
        assert early and not any(e.ionising for e in early)
        assert all("gadolinium" in (e.note or "") for e in early if e.modality.startswith("mri_"))
    assert "pregnancy_imaging" in {a.id for a in rec.alerts}


def test_pregnancy_postpones_exams_without_substitute(engine: Engine, tmp_path: Path) -> None:
    data = {
        "age": 31, "sex": "F", "ecog": 0, "as_of": "2025-03-01", "comorbidities": ["pregnancy"],
        "tumour": {"primary_site": "rectum", "differentiation": "poor", "nec_subtype": "small_cell",
                   "ki67_percent": 70, "size_mm": 30, "functional_syndrome": "none", "primary_resected": True,
                   "lymph_nodes_positive": True, "resection_margin": "r0"},
        "disease": {"stage": "locoregional", "status": "stable"},
    }
    s = section(evaluate(engine, data))
    default, minimised = s.plans
    # months 2-8: MRI liver only; the chest CTs wait for the first visit after the window (month 10)
    assert [e.modality for e in default.exams if e.offset_months <= 9] == ["mri_liver"] * 4
    assert [e.offset_months for e in minimised.exams if e.modality == "ct_chest"][:3] == [10, 12, 15]
    assert default.exam_counts["ct_chest_abdomen_pelvis"] == 14
    # with a 10-month window the first visit after it (month 12) is not month 11: the postponed chest CT
    # stands alone in both plans
    kb10 = _knowledge_with(tmp_path, settings={"surveillance_pregnancy_window_months": 10})
    detail = engine.evaluate_detail(validate_patient(data))
    s10, _ = plan_surveillance(kb10, validate_patient(data), detail.schedules)
    for plan in s10.plans:
        (postponed,) = [e for e in plan.exams if e.offset_months == 11]
        assert postponed.modality == "ct_chest" and "delivery" in (postponed.note or "")
        assert not any(e.ionising for e in plan.exams if e.offset_months <= 10)


def test_minimised_plan_follows_the_known_disease(engine: Engine) -> None:
    """Lung metastases keep a chest CT; peritoneal or distant nodal disease widens the MRI to the pelvis."""
    data: dict[str, Any] = {
        "age": 62, "sex": "M", "ecog": 0, "as_of": "2025-03-01",
        "tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 5,
                   "functional_syndrome": "none", "primary_resected": False},
        "disease": {"stage": "metastatic", "metastatic_sites": ["liver"], "resectable": False,
                    "status": "new_diagnosis"},
        "imaging": {"sstr": "positive"},
    }
    liver_only = section(evaluate(engine, data)).plans[1].exam_counts
    assert liver_only == {"mri_liver": 22}
    sites = {"disease": {"metastatic_sites": ["liver", "lung", "peritoneum"]}}
    wider = section(evaluate(engine, with_overrides(dict(data), sites)))
    assert wider.plans[1].exam_counts == {"ct_chest": 22, "mri_abdomen_pelvis": 22}
    assert wider.plans[1].cumulative_msv == 22 * 7
    assert wider.plans[0].exam_counts == {"ct_chest_abdomen_pelvis": 22}
    # the memoised layouts are keyed on the substitutions that hold: each patient gets their own again
    assert section(evaluate(engine, data)).plans[1].exam_counts == liver_only


def test_prior_exposure_is_added_to_the_totals(engine: Engine) -> None:
    at_threshold = evaluate(engine, resected_pnet(imaging_history={"cumulative_msv": 40}))
    above = evaluate(engine, resected_pnet(imaging_history={"cumulative_msv": 40.5}))
    s = section(at_threshold)
    assert s.prior_exposure_msv == 40
    assert (s.plans[0].total_msv, s.plans[1].total_msv) == (100, 40)
    assert "radiation_exposure_high" not in {a.id for a in at_threshold.alerts}
    high = {a.id: a for a in above.alerts}["radiation_exposure_high"]
    assert "100.5" in high.text and high.severity == "warning"


def test_the_dose_alert_names_earlier_imaging_only_when_there_is_some_and_writes_numbers_for_the_language(
    engine: Engine,
) -> None:
    above = resected_pnet(imaging_history={"cumulative_msv": 40.5})
    fr = engine.evaluate_detail(validate_patient(above, "test", engine.kb.options), "fr").recommendation
    high = {a.id: a for a in fr.alerts}["radiation_exposure_high"]
    assert "100,5 mSv" in high.text and "dont 40,5 mSv d'imagerie antérieure" in high.text
    assert "100.5" not in high.text
    # no history: the total is the plan's own dose, and no "(0 mSv earlier imaging included)"
    patient = read_patient_file(examples_dir() / "si-04-missing-ki67-no-sstr-imaging.json")  # 220 mSv, no history
    none = engine.evaluate_detail(patient).recommendation
    alert = {a.id: a for a in none.alerts}.get("radiation_exposure_high")
    assert alert is not None, [a.id for a in none.alerts]
    assert "earlier imaging" not in alert.text and "0 mSv earlier" not in alert.text


def test_prior_exposure_from_listed_exams(kb: KnowledgeBase) -> None:
    data = resected_pnet(imaging_history={"exams": [
        {"modality": "ct_chest_abdomen_pelvis", "date": "2024-01-10"},
        {"modality": "fdg_pet_ct", "date": "2024-02-10"},
        {"modality": "mri_liver", "date": "2024-03-10"},
    ]})
    patient = validate_patient(data)
    assert prior_exposure_msv(patient, kb) == pytest.approx(
        kb.modalities["ct_chest_abdomen_pelvis"].dose_msv + kb.modalities["fdg_pet_ct"].dose_msv
    )
    data["imaging_history"]["cumulative_msv"] = 80
    assert prior_exposure_msv(validate_patient(data), kb) == 80


def test_imaging_history_is_validated(engine: Engine) -> None:
    with pytest.raises(InputError) as err:
        validate_patient(resected_pnet(imaging_history={"exams": [{"modality": "ct_chest", "date": "2026-01-01"}]}))
    assert "after as_of" in str(err.value)
    with pytest.raises(InputError) as err:
        validate_patient(resected_pnet(imaging_history={"cumulative_msv": -1}))
    assert "imaging_history.cumulative_msv" in str(err.value)
    with pytest.raises(InputError) as err:
        exams = [{"modality": "ct_chest_abdomen", "date": "2024-01-01"}]
        evaluate(engine, resected_pnet(imaging_history={"exams": exams}))
    assert "imaging_history.exams[0].modality" in str(err.value)
    assert "did you mean" in str(err.value)


def test_radiation_alert_on_the_default_plan(engine: Engine) -> None:
    data = resected_pnet(tumour={"lymph_nodes_positive": True, "ki67_percent": 8},
                         disease={"stage": "locoregional"})
    rec = evaluate(engine, data)
    assert section(rec).plans[0].cumulative_msv == 130
    alert = {a.id: a for a in rec.alerts}["radiation_exposure_high"]
    assert alert.rule == "surveillance.planner.radiation_above_threshold"
    assert "iannuzzi_2024" in alert.sources


# ------------------------------------------------------------------ choice of schedule


def test_schedule_following_the_top_option_wins(engine: Engine, kb: KnowledgeBase) -> None:
    patient = validate_patient(resected_pnet(tumour={"primary_resected": False}))
    selected = [("pnet_resected_commnets", "surv.pnet.planned"), ("ww_pnet_small", "surv.pnet.watchful_waiting")]
    s, _ = plan_surveillance(kb, patient, selected, top_option="watchful_waiting")
    assert s.schedule == "ww_pnet_small" and s.follows_option == "watchful_waiting"
    s, _ = plan_surveillance(kb, patient, selected, top_option="surgery_curative")
    assert s.schedule == "pnet_resected_commnets"
    assert [a.schedule for a in s.alternatives] == ["ww_pnet_small"]
    s, _ = plan_surveillance(kb, patient, [], top_option=None)
    assert s.kind == "unplanned" and s.schedule is None and not s.plans[0].exams


def test_most_specific_schedule_wins_and_alternatives_carry_doses(kb: KnowledgeBase) -> None:
    patient = validate_patient(resected_pnet())
    selected = [("pnet_resected_commnets", "surv.pnet.resected"), ("net_resected_esmo", "surv.net.resected.esmo")]
    s, _ = plan_surveillance(kb, patient, selected)
    assert s.schedule == "pnet_resected_commnets"
    (esmo,) = s.alternatives
    assert (esmo.schedule, esmo.default_msv, esmo.minimised_msv) == ("net_resected_esmo", 120, 0)


def test_merge_alerts_keeps_one_alert_per_id() -> None:
    a = Alert(id="prefer_mri", severity="info", text="rule", rule="r1", sources=["s1"], rules=["r1"])
    b = Alert(id="prefer_mri", severity="warning", text="planner", rule="p", sources=["s2"], rules=["p"])
    c = Alert(id="aaa", severity="info", text="x", rule="r2", sources=[], rules=["r2"])
    merged = merge_alerts([a, c], [b])
    assert [m.id for m in merged] == ["prefer_mri", "aaa"]
    assert merged[0].severity == "warning" and merged[0].text == "rule"
    assert merged[0].rules == ["r1", "p"] and merged[0].sources == ["s1", "s2"]


# ------------------------------------------------------------------ dose table and loader


def test_dose_table_is_consistent(kb: KnowledgeBase) -> None:
    for spec in kb.modalities.values():
        if not spec.ionising:
            assert spec.dose_msv == 0
        if spec.components:
            assert sum(c.dose_msv for c in spec.components) == pytest.approx(spec.dose_msv)
    assert kb.modalities["ct_chest_abdomen_pelvis"].dose_msv == 10
    assert kb.modalities["sstr_pet_ct"].confirmation == "UNCONFIRMED"  # the CT part is not confirmed
    used = {slot.modality for s in kb.schedules.values() for p in s.periods for slot in p.exams}
    assert "sstr_pet_ct" not in used, "no routine SSTR PET in any schedule (DP-160)"


def _copy_knowledge(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), root, ignore=shutil.ignore_patterns("vignettes"))
    return root


def _knowledge_with(
    tmp_path: Path, settings: dict[str, Any] | None = None, edit: Callable[[dict[str, Any]], None] | None = None,
) -> KnowledgeBase:
    """A copy of the knowledge with some settings changed and ``edit`` applied to surveillance.yaml."""
    root = _copy_knowledge(tmp_path)
    config = root / "catalogues" / "settings" / "follow-up.yaml"
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for setting in data["settings"]:
        setting["value"] = (settings or {}).get(setting["name"], setting["value"])
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    if edit is not None:
        schedules = root / "catalogues" / "follow-up-schedules.yaml"
        catalogue = yaml.safe_load(schedules.read_text(encoding="utf-8"))
        edit(catalogue)
        schedules.write_text(yaml.safe_dump(catalogue, allow_unicode=True), encoding="utf-8")
    return load_knowledge(root, pathways_dir())


def test_loader_cross_checks_surveillance(tmp_path: Path) -> None:
    root = _copy_knowledge(tmp_path)
    schedules = root / "catalogues" / "follow-up-schedules.yaml"
    catalogue = yaml.safe_load(schedules.read_text(encoding="utf-8"))
    (commnets,) = [s for s in catalogue["schedules"] if s["id"] == "pnet_resected_commnets"]
    commnets["periods"][0]["exams"][0]["modality"] = "ct_whole_body"
    commnets["sources"].append("no_such_source")
    schedules.write_text(yaml.safe_dump(catalogue, allow_unicode=True), encoding="utf-8")
    home = root / "recommendations" / "follow-up" / "follow-up-resected-pnet-commnets" / "recommendation.yaml"
    rules = yaml.safe_load(home.read_text(encoding="utf-8"))
    (rule,) = [r for r in rules["rules"] if r["id"] == "surv.pnet.resected"]
    rule["then"][0]["surveil"]["schedule"] = "no_such_schedule"
    home.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(root, pathways_dir())
    codes = {p.code for p in err.value.problems}
    assert {"unknown_modality", "unknown_source", "unknown_schedule"} <= codes


def test_surveillance_files_are_in_the_content_hash(tmp_path: Path) -> None:
    root = _copy_knowledge(tmp_path)
    before = load_knowledge(root, pathways_dir()).content_hash
    path = root / "catalogues" / "radiation-doses.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert load_knowledge(root, pathways_dir()).content_hash != before


# ------------------------------------------------------------------ policy in the knowledge
# The substitutions, the ionising window and the plan preferences are `planner:` entries of
# knowledge/catalogues/follow-up-schedules.yaml, conditions in the condition language: editing them changes the plan.

LUNG_AND_PERITONEUM: dict[str, Any] = {
    "age": 62, "sex": "M", "ecog": 0, "as_of": "2025-03-01",
    "tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 5,
               "functional_syndrome": "none", "primary_resected": False},
    "disease": {"stage": "metastatic", "metastatic_sites": ["liver", "lung", "peritoneum"], "resectable": False,
                "status": "new_diagnosis"},
    "imaging": {"sstr": "positive"},
}


def _plan_with(kb: KnowledgeBase, engine: Engine, data: dict[str, Any]) -> tuple[Surveillance, list[Alert]]:
    """The plan ``kb`` makes for the schedules the engine selects (the schedules are the same)."""
    patient = validate_patient(data)
    detail = engine.evaluate_detail(patient)
    return plan_surveillance(kb, patient, detail.schedules, facts=detail.context)


def test_the_young_age_is_read_from_the_knowledge(engine: Engine, tmp_path: Path) -> None:
    s, alerts = _plan_with(engine.kb, engine, resected_pnet(age=38))
    assert s.recommended_plan == "minimised" and "prefer_mri" in {a.id for a in alerts}
    kb30 = _knowledge_with(tmp_path, settings={"surveillance_young_age_years": 30})
    s30, alerts30 = _plan_with(kb30, engine, resected_pnet(age=38))
    assert s30.recommended_plan == "default" and "prefer_mri" not in {a.id for a in alerts30}
    s25, alerts25 = _plan_with(kb30, engine, resected_pnet(age=25))
    assert s25.recommended_plan == "minimised"
    assert s25.recommended_reason.startswith("Age under 30 years")  # the setting in force, not 50
    assert "younger than 30 years" in {a.id: a for a in alerts25}["prefer_mri"].text


def test_a_preference_removed_from_the_knowledge_no_longer_applies(engine: Engine, tmp_path: Path) -> None:
    def no_young_preference(catalogue: dict[str, Any]) -> None:
        planner = catalogue["planner"]
        planner["preferences"] = [p for p in planner["preferences"] if p["id"] != "young_patient"]
        catalogue["planner_alerts"] = [a for a in catalogue["planner_alerts"] if a["situation"] != "young_patient"]

    kb = _knowledge_with(tmp_path, edit=no_young_preference)
    s, alerts = _plan_with(kb, engine, resected_pnet(age=38))
    assert s.recommended_plan == "default" and "prefer_mri" not in {a.id for a in alerts}
    assert s.recommended_reason.startswith("The default plan follows")


def test_a_preference_may_read_derived_facts(engine: Engine, tmp_path: Path) -> None:
    """The engine hands the planner the rules' context, derived facts included."""
    def prefer_minimised_for_g2(catalogue: dict[str, Any]) -> None:
        catalogue["planner"]["preferences"].append({
            "id": "g2_minimised", "when": [{"derived.category": "net_g2"}], "recommend": "minimised",
            "because": {"en": "NET G2: minimised.", "fr": "TNE G2 : plan réduit."}, "sources": ["netcds_policy"],
        })

    kb = _knowledge_with(tmp_path, edit=prefer_minimised_for_g2)
    s, _ = _plan_with(kb, engine, resected_pnet(age=64))
    assert (s.recommended_plan, s.recommended_reason) == ("minimised", "NET G2: minimised.")


def test_substitutions_are_read_from_the_knowledge(engine: Engine, tmp_path: Path) -> None:
    def no_chest_ct(catalogue: dict[str, Any]) -> None:
        planner = catalogue["planner"]
        planner["substitutions"] = [s for s in planner["substitutions"] if s["id"] != "lung_metastases_chest_ct"]

    kb = _knowledge_with(tmp_path, edit=no_chest_ct)
    s, _ = _plan_with(kb, engine, LUNG_AND_PERITONEUM)
    assert s.plans[1].exam_counts == {"mri_abdomen_pelvis": 22}
    assert section(evaluate(engine, LUNG_AND_PERITONEUM)).plans[1].exam_counts == {
        "ct_chest": 22, "mri_abdomen_pelvis": 22}


def test_the_ionising_window_is_read_from_the_knowledge(engine: Engine, tmp_path: Path) -> None:
    def no_window(catalogue: dict[str, Any]) -> None:
        catalogue["planner"]["ionising_windows"] = []
        catalogue["planner_alerts"] = [a for a in catalogue["planner_alerts"] if a["situation"] != "pregnancy"]

    data = resected_pnet(age=60, comorbidities=["pregnancy"], tumour={"lymph_nodes_positive": True},
                         disease={"stage": "locoregional"})
    kb = _knowledge_with(tmp_path, edit=no_window)
    s, alerts = _plan_with(kb, engine, data)
    assert any(e.ionising and e.offset_months <= 9 for e in s.plans[0].exams)
    assert "pregnancy_imaging" not in {a.id for a in alerts}
    assert s.recommended_plan == "minimised"  # the pregnancy preference is a separate entry


def test_the_loader_checks_the_planner_policy(tmp_path: Path) -> None:
    def spoil(catalogue: dict[str, Any]) -> None:
        planner = catalogue["planner"]
        planner["preferences"][1]["when"] = [{"$lt": {"agee": 50}}]
        planner["substitutions"][0]["region"] = "pelviss"
        planner["substitutions"][1]["add"] = "ct_thorax"
        planner["ionising_windows"][0]["months"] = {"setting": "no_such_setting"}
        planner["texts"]["elapsed"]["en"] = "started {monhts} months ago"
        catalogue["planner_alerts"][1]["situation"] = "young"

    with pytest.raises(KnowledgeError) as err:
        _knowledge_with(tmp_path, edit=spoil)
    found = {(p.code, p.loc) for p in err.value.problems}
    assert {
        ("condition", "planner.preferences[young_patient].when[0]"),
        ("unknown_region", "planner.substitutions[abdomen_pelvis_mri]"),
        ("unknown_modality", "planner.substitutions[lung_metastases_chest_ct]"),
        ("unknown_setting", "planner.ionising_windows[pregnancy].months"),
        ("text", "planner.texts.elapsed.en"),
        ("unknown_situation", "planner_alerts[young]"),
    } <= found, found


def test_a_planner_text_names_a_setting_that_exists(tmp_path: Path) -> None:
    def spoil(catalogue: dict[str, Any]) -> None:
        catalogue["planner"]["preferences"][1]["because"]["fr"] = "Âge < {setting:surveillance_young_age} ans"

    with pytest.raises(KnowledgeError) as err:
        _knowledge_with(tmp_path, edit=spoil)
    assert [(p.code, p.loc) for p in err.value.problems] == [
        ("unknown_setting", "planner.preferences[young_patient].because")]


def test_a_setting_written_by_hand_in_a_planner_text_is_linted(tmp_path: Path) -> None:
    from cds.knowledge.setting_refs import stale_setting_numbers

    def by_hand(catalogue: dict[str, Any]) -> None:
        catalogue["planner"]["preferences"][1]["because"]["en"] = "Age under 50 years: the MRI-based plan."

    kb = _knowledge_with(tmp_path, edit=by_hand)
    assert [p.loc for p in stale_setting_numbers(kb.setting_uses, kb.settings)] == [
        "planner.preferences[young_patient].because.en"]


def test_the_planner_texts_are_all_required(tmp_path: Path) -> None:
    def no_text(catalogue: dict[str, Any]) -> None:
        del catalogue["planner"]["texts"]["no_schedule"]
        catalogue["planner"]["substitutions"][0]["add"] = "ct_chest"  # and replace: one change only

    with pytest.raises(KnowledgeError) as err:
        _knowledge_with(tmp_path, edit=no_text)
    assert {(p.code, p.loc) for p in err.value.problems} == {
        ("schema", "planner.texts.no_schedule"), ("schema", "planner.substitutions[abdomen_pelvis_mri]")}


def test_knowledge_without_a_surveillance_catalogue_plans_nothing() -> None:
    mini = Path(__file__).parent / "fixtures" / "mini"
    kb = load_knowledge(mini / "knowledge", mini / "pathways")
    engine = Engine(kb)
    try:
        patient = read_patient_file(Path(__file__).parent / "golden" / "reports" / "patient-a.json")
        assert engine.evaluate(patient).surveillance is None
        with pytest.raises(ValueError, match="no surveillance catalogue"):
            plan_surveillance(kb, patient, [])
    finally:
        engine.close()


# ------------------------------------------------------------------ SVG


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_timeline_svg_is_deterministic_xml(engine: Engine, lang: str) -> None:
    s = section(evaluate(engine, resected_pnet(imaging_history={"cumulative_msv": 20})))
    svg = timeline_svg(s, lang)  # type: ignore[arg-type]
    assert svg == timeline_svg(s, lang)  # type: ignore[arg-type]
    tree = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert tree.tag == f"{ns}svg"
    assert len(tree.findall(f"{ns}polyline")) == 2
    circles = tree.findall(f"{ns}circle")
    assert len(circles) == 2 + sum(len(p.exams) for p in s.plans)  # 2 legend markers
    assert "80 mSv" in svg  # 20 earlier + 60 planned


def test_timeline_svg_for_no_follow_up(engine: Engine) -> None:
    data = resected_pnet(tumour={"ki67_percent": 1, "size_mm": 15})
    s = section(evaluate(engine, data))
    assert s.no_follow_up
    ET.fromstring(timeline_svg(s, "en"))
    assert "No scheduled follow-up" in timeline_svg(s, "en")


# ------------------------------------------------------------------ JSON contract


def test_recommendation_json_carries_the_section(engine: Engine) -> None:
    import jsonschema
    rec = engine.evaluate(read_patient_file(SI_01, engine.kb.options))
    data = json.loads(rec.model_dump_json())
    jsonschema.validate(data, Recommendation.model_json_schema())
    s = data["surveillance"]
    for key in ("schedule", "kind", "no_follow_up", "plans", "dose_saved_msv", "prior_exposure_msv",
                "recommended_plan", "horizon_years", "alternatives", "monitoring", "sources"):
        assert key in s
    for plan in s["plans"]:
        for key in ("id", "exams", "cumulative_msv", "total_msv", "lifelong", "recommended"):
            assert key in plan
        for exam in plan["exams"]:
            assert {"offset_months", "date", "modality", "dose_msv", "cumulative_msv", "schedule"} <= set(exam)


def test_cli_json_matches_the_exported_schema() -> None:
    import jsonschema
    result = runner.invoke(app, ["surveillance", str(SI_01), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    schema_result = runner.invoke(app, ["schema", "surveillance"])
    assert schema_result.exit_code == 0
    jsonschema.validate(data, json.loads(schema_result.stdout))
    report = SurveillanceReport.model_validate(data)
    assert report.surveillance.schedule == "si_resected"
    assert report.surveillance.follows_option == "surgery_curative"
    assert all(a.rules for a in report.alerts)


# ------------------------------------------------------------------ iCalendar


def _ics(*args: str) -> str:
    result = runner.invoke(app, ["surveillance", *args, "--format", "ics"])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes.decode("utf-8")  # .stdout would normalise CRLF


def test_ics_parses_and_is_dated_from_as_of(engine: Engine) -> None:
    text = _ics(str(PNET_02), "--as-of", "2025-01-31", "--horizon", "2")
    cal = icalendar.Calendar.from_ical(text)
    events = list(cal.walk("VEVENT"))
    rec = evaluate(engine, {**json.loads(PNET_02.read_text(encoding="utf-8")), "as_of": "2025-01-31"}, horizon=2)
    s = section(rec)
    plan = next(p for p in s.plans if p.recommended)
    assert len(events) == len({e.offset_months for e in plan.exams}) == 6
    starts = [ev["DTSTART"].dt for ev in events]
    assert starts[0] == dt.date(2025, 4, 30)  # month 3 from 31 January
    assert starts == [add_months(dt.date(2025, 1, 31), e.offset_months) for e in plan.exams]
    assert all(ev["DTSTAMP"].dt == dt.datetime(2025, 1, 31, tzinfo=dt.timezone.utc) for ev in events)
    uids = [str(ev["UID"]) for ev in events]
    assert len(set(uids)) == len(uids)
    assert uids[0] == "demo-pnet-02-default-on_treatment_net-m003@netcds"
    assert "CT chest-abdomen-pelvis" in str(events[0]["SUMMARY"])


def test_ics_is_deterministic_and_rfc5545_shaped() -> None:
    first = _ics(str(SI_01), "--plan", "minimised")
    assert first == _ics(str(SI_01), "--plan", "minimised")
    lines = first.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == ""
    assert all(len(line.encode("utf-8")) <= 75 for line in lines)
    cal = icalendar.Calendar.from_ical(first)
    events = list(cal.walk("VEVENT"))
    assert len(events) == 6
    assert all("MRI" in str(ev["SUMMARY"]) for ev in events)
    description = str(events[0]["DESCRIPTION"])
    assert "0 mSv" in description and "\n" in description


def test_ics_in_french_escapes_and_folds_accents() -> None:
    text = _ics(str(SI_01), "--lang", "fr")
    cal = icalendar.Calendar.from_ical(text)
    summaries = [str(ev["SUMMARY"]) for ev in cal.walk("VEVENT")]
    assert summaries and all(s.startswith("Surveillance TNE") for s in summaries)


def test_ics_needs_a_date(tmp_path: Path) -> None:
    data = json.loads(SI_01.read_text(encoding="utf-8"))
    del data["as_of"]
    patient = tmp_path / "p.json"
    patient.write_text(json.dumps(data), encoding="utf-8")
    result = runner.invoke(app, ["surveillance", str(patient), "--format", "ics"])
    assert result.exit_code == 2
    assert "--as-of" in result.output
    ok = runner.invoke(app, ["surveillance", str(patient), "--format", "ics", "--as-of", "2025-06-01"])
    assert ok.exit_code == 0 and "DTSTART;VALUE=DATE:20260601" in ok.stdout


def test_to_ics_refuses_undated_plans(engine: Engine) -> None:
    data = resected_pnet()
    del data["as_of"]
    with pytest.raises(ValueError, match="dates"):
        to_ics(section(evaluate(engine, data)), "k")


# ------------------------------------------------------------------ CLI


def test_cli_text_shows_both_plans() -> None:
    result = runner.invoke(app, ["surveillance", str(SI_01)], env=WIDE)
    assert result.exit_code == 0, result.output
    for text in ("Default plan", "Minimised plan", "Totals over 10 years", "Dose saved", "60"):
        assert text in result.stdout


def test_cli_text_to_file_and_french(tmp_path: Path) -> None:
    out = tmp_path / "plan.txt"
    result = runner.invoke(app, ["surveillance", str(SI_01), "--lang", "fr", "--output", str(out)])
    assert result.exit_code == 0 and result.stdout == ""
    assert "Plan par défaut" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--as-of", "2025-13-01"], "--as-of"),
        (["--horizon", "0"], "--horizon"),
        (["--format", "pdf"], "--format"),
    ],
)
def test_cli_bad_options_exit_2(args: list[str], expected: str) -> None:
    result = runner.invoke(app, ["surveillance", str(SI_01), *args])
    assert result.exit_code == 2
    assert expected in result.output


def test_cli_as_of_before_an_earlier_exam_is_bad_input(tmp_path: Path) -> None:
    data = json.loads(SI_01.read_text(encoding="utf-8"))
    data["imaging_history"] = {"exams": [{"modality": "ct_chest_abdomen_pelvis", "date": "2025-01-10"}]}
    patient = tmp_path / "p.json"
    patient.write_text(json.dumps(data), encoding="utf-8")
    result = runner.invoke(app, ["surveillance", str(patient), "--as-of", "2024-12-31"])
    assert result.exit_code == 2
    assert "after as_of" in result.output
    bad = dict(data, imaging_history={"exams": [{"modality": "pet", "date": "2025-01-10"}]})
    patient.write_text(json.dumps(bad), encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(patient)])
    assert result.exit_code == 2
    assert "imaging_history.exams[0].modality" in result.output


def test_surveillance_report_of_a_recommendation(engine: Engine) -> None:
    rec = evaluate(engine, resected_pnet(tumour={"ki67_percent": 1, "size_mm": 15}))
    report = surveillance_report(rec)
    assert {a.id for a in report.alerts} == {"no_follow_up_needed", "guideline_disagreement"}
    assert report.surveillance.no_follow_up_reason


def test_surveillance_can_be_left_out_without_changing_the_options(engine: Engine) -> None:
    patient = Patient.model_validate(patient_dict())
    full = engine.evaluate(patient)
    lean = engine.evaluate(patient, surveillance=False)
    assert full.surveillance is not None and lean.surveillance is None
    assert [o.option for o in full.anti_tumour] == [o.option for o in lean.anti_tumour]


def test_memoised_plans_are_never_shared_mutably(kb: KnowledgeBase) -> None:
    # Plans are memoised per knowledge base (the layout is a pure function of its inputs):
    # each evaluation must still get lists of its own, equal to a fresh computation.
    engine = Engine(kb)
    for as_of in ("2025-03-01", None):
        patient = Patient.model_validate(resected_pnet(as_of=as_of))
        first = engine.evaluate(patient)
        assert first.surveillance is not None
        exams = first.surveillance.plans[0].exams
        expected = list(exams)
        exams.clear()  # a caller mangling its copy
        first.surveillance.plans[0].sources.append("tampered")
        again = engine.evaluate(patient)
        assert again.surveillance is not None
        assert again.surveillance.plans[0].exams == expected
        assert "tampered" not in again.surveillance.plans[0].sources
        kb.memo.clear()
        fresh = engine.evaluate(patient)
        assert fresh.model_dump_json() == again.model_dump_json()
    engine.close()


def test_memo_stays_bounded(kb: KnowledgeBase) -> None:
    from cds import surveillance

    kb.memo.clear()
    for i in range(surveillance._MEMO_LIMIT + 10):
        surveillance.memo(kb, "probe", (i,), lambda i=i: i)  # type: ignore[misc]
    assert len(kb.memo["probe"]) <= surveillance._MEMO_LIMIT
    kb.memo.clear()
