"""The trial catalogue (issue 15): loading, three-valued matching, outputs, vignettes, lint, import.

The trials here are the two FICTIONAL fixtures of tests/fixtures/trials/ (not registry records),
copied into a copy of the bundled knowledge; the ClinicalTrials.gov record is a hand-written,
fictional API v2 study (tests/fixtures/ctgov/).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cds import Engine, load_knowledge, parse_patient
from cds.cli import app
from cds.errors import KnowledgeError
from cds.knowledge import conditions as cond
from cds.knowledge.layout import Layout
from cds.lint import check_trials
from cds.model.recommendation import Recommendation
from cds.render.markdown import render_markdown
from cds.report import build_report
from cds.resources import knowledge_dir, pathways_dir
from cds.trials.ctgov import split_criteria, studies_of, trial_from_study, trial_yaml
from cds.trials.match import TrialMatcher, match_trial
from cds.trials.model import TrialSpec
from cds.vignettes import run_vignettes

FIXTURES = Path(__file__).parent / "fixtures"
TRIALS = FIXTURES / "trials"
CTGOV = FIXTURES / "ctgov" / "fictional-study-v2.json"
runner = CliRunner()

PNET_G2 = {"id": "t1", "age": 60, "tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 15},
           "disease": {"stage": "metastatic", "metastatic_sites": ["liver"], "progression_months": 6},
           "imaging": {"sstr": "positive"},
           "prior_treatments": [{"option": "ssa", "stop_reason": "progression", "line": 1}]}


def with_trials(tmp: Path) -> Path:
    """A copy of the bundled knowledge with the fixture trials in its catalogue."""
    root = tmp / "knowledge"
    shutil.copytree(knowledge_dir(), root, ignore=shutil.ignore_patterns("trials"))
    shutil.copytree(TRIALS, root / "catalogues" / "trials", ignore=shutil.ignore_patterns("README.md"))
    return root


@pytest.fixture(scope="module")
def trial_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = Engine(load_knowledge(with_trials(tmp_path_factory.mktemp("kb")), pathways_dir()))
    yield eng
    eng.close()


def evaluate(engine: Engine, patient: dict[str, object], lang: str = "en") -> Recommendation:
    return engine.evaluate(parse_patient(json.dumps(patient)), lang, surveillance=False)  # type: ignore[arg-type]


# ------------------------------------------------------------------ loading


def test_the_catalogue_loads_with_the_knowledge_and_counts_in_its_version(trial_engine: Engine) -> None:
    kb = trial_engine.kb
    assert list(kb.trials) == ["fixture-nec-second-line", "fixture-prrt-g2g3"]
    assert kb.version != load_knowledge().version  # trial files are knowledge: in the content hash


def test_the_bundled_knowledge_loads_with_or_without_a_catalogue() -> None:
    kb = load_knowledge()
    assert set(kb.trials) == {p.parent.name for p in Layout(kb.root).trial_files()}


def test_a_bad_trial_is_reported_with_the_other_problems(tmp_path: Path) -> None:
    root = with_trials(tmp_path)
    path = root / "catalogues" / "trials" / "fixture-prrt-g2g3" / "trial.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["options"] = ["prtt"]
    data["criteria"][0]["when"] = [{"tumour.ki67": 10}]
    data["criteria"][1]["id"] = data["criteria"][2]["id"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(root, pathways_dir())
    codes = {p.code for p in err.value.problems}
    assert {"unknown_option", "condition", "duplicate_id"} <= codes


# ------------------------------------------------------------------ matching


def spec(criteria: list[dict[str, object]]) -> TrialSpec:
    return TrialSpec.model_validate({
        "id": "t", "acronym": "T", "registry": {"nct": "NCT00000009"}, "title": "T", "phase": "2",
        "status": "recruiting", "status_checked_on": "2026-12-07", "criteria": criteria,
        "sources": [{"label": "x", "url": "https://clinicaltrials.gov/study/NCT00000009"}]})


@pytest.mark.parametrize(("kind", "ctx", "verdict"), [
    ("inclusion", {"ecog": 1}, "eligible"),
    ("inclusion", {"ecog": 3}, "ineligible"),
    ("inclusion", {}, "potentially_eligible"),
    ("exclusion", {"ecog": 3}, "eligible"),
    ("exclusion", {"ecog": 1}, "ineligible"),
    ("exclusion", {}, "potentially_eligible"),
])
def test_three_valued_matching(kind: str, ctx: dict[str, object], verdict: str) -> None:
    m = match_trial(spec([{"id": "c", "kind": kind, "text": "ECOG", "when": [{"$lte": {"ecog": 1}}]}]), ctx)
    assert m.verdict == verdict
    assert [c.fields for c in m.unknown] == ([["ecog"]] if verdict == "potentially_eligible" else [])


def test_a_failed_criterion_wins_over_an_unknown_one_and_text_never_decides() -> None:
    m = match_trial(spec([
        {"id": "site", "kind": "inclusion", "text": "pNET", "when": [{"tumour.primary_site": "pancreas"}]},
        {"id": "ecog", "kind": "inclusion", "text": "ECOG 0-1", "when": [{"$lte": {"ecog": 1}}]},
        {"id": "recist", "kind": "inclusion", "text": "Measurable disease"}]), {"tumour": {"primary_site": "rectum"}})
    assert (m.verdict, [c.id for c in m.failed], [c.id for c in m.unknown], [c.id for c in m.to_check]) == (
        "ineligible", ["site"], ["ecog"], ["recist"])
    only_text = match_trial(spec([{"id": "recist", "kind": "inclusion", "text": "Measurable disease"}]), {})
    assert only_text.verdict == "eligible" and len(only_text.to_check) == 1


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 60), st.floats(-3, 60, allow_nan=False),
                    st.sampled_from(["pancreas", "unknown", "not_done", "well", "10"]))


@given(op=st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "exists", "absent"]), expected=_VALUES,
       actual=_VALUES)
def test_a_specialised_test_agrees_with_the_condition_reader(op: str, expected: object, actual: object) -> None:
    """Trial matching tests each leaf through cond.predicate: it must read exactly as the rules' reader."""
    if op in ("<", "<=", ">", ">=") and (isinstance(expected, (bool, str)) or expected is None):
        expected = 10
    path = "tumour.ki67_percent"
    condition = ({path: expected} if op == "==" else {"$ex": {path: 1}} if op == "exists"
                 else {"$nex": {path: 1}} if op == "absent"
                 else {next(k for k, o in cond.COMPARATORS.items() if o == op): {path: expected}})
    (leaf,) = cond.leaves(condition)
    ctx = {"tumour": {"ki67_percent": actual}}
    value = cond.lookup(ctx, leaf.path)
    assert cond.predicate(leaf)(value) is cond.evaluate(condition, ctx)


def test_patients_with_the_same_outcome_share_one_match_and_others_do_not() -> None:
    trial = spec([{"id": "c", "kind": "inclusion", "text": "ECOG", "when": [{"$lte": {"ecog": 1}}]},
                  {"id": "k", "kind": "inclusion", "text": "Ki-67", "when": [{"$gte": {"tumour.ki67_percent": 3}}]}])
    matcher = TrialMatcher([trial])
    [first], [same] = matcher.match({"ecog": 0, "tumour": {"ki67_percent": 5}}), matcher.match(
        {"ecog": 1, "tumour": {"ki67_percent": 40}})
    assert same is first and first.verdict == "eligible"
    [unknown] = matcher.match({"tumour": {"ki67_percent": 5}})
    [failed] = matcher.match({"ecog": 3, "tumour": {"ki67_percent": 5}})
    [both] = matcher.match({"ecog": 3, "tumour": {"ki67_percent": 1}})
    seen = [(m.verdict, m.met, [c.id for c in m.failed], [c.id for c in m.unknown]) for m in (unknown, failed, both)]
    assert seen == [("potentially_eligible", ["k"], [], ["c"]), ("ineligible", ["k"], ["c"], []),
                    ("ineligible", [], ["c", "k"], [])]


def test_absent_prior_treatment_or_comorbidity_is_none_not_unknown() -> None:
    m = match_trial(spec([
        {"id": "prior", "kind": "exclusion", "text": "Prior PRRT", "when": [{"$ex": {"prior.prrt": 1}}]},
        {"id": "hf", "kind": "exclusion", "text": "Heart failure", "when": [{"comorbidities.heart_failure": True}]},
        {"id": "plat", "kind": "inclusion", "text": "After platinum",
         "when": [{"prior.platinum_etoposide": "progression"}]}]), {"tumour": {}})
    assert (m.verdict, m.met, [c.id for c in m.failed]) == ("ineligible", ["prior", "hf"], ["plat"])


def test_every_trial_in_the_output_sorted_and_clinical_trial_names_the_open_ones(trial_engine: Engine) -> None:
    rec = evaluate(trial_engine, PNET_G2)
    assert [(m.id, m.verdict) for m in rec.trials] == [
        ("fixture-prrt-g2g3", "potentially_eligible"), ("fixture-nec-second-line", "ineligible")]
    prrt = rec.trials[0]
    assert [(c.id, c.fields) for c in prrt.unknown] == [
        ("ecog_0_2", ["ecog"]), ("renal_function", ["labs.egfr_ml_min"])]
    assert [c.id for c in prrt.to_check] == ["measurable_disease"]
    assert prrt.status_checked_on == "2026-12-07" and prrt.open
    labels = {o.option: o.label for o in rec.anti_tumour}
    if "clinical_trial" in labels:
        assert labels["clinical_trial"] == "Clinical trial — potentially eligible: FIXTURE-PRRT"
    assert Recommendation.model_validate_json(rec.model_dump_json()) == rec
    assert rec.model_dump_json() == evaluate(trial_engine, PNET_G2).model_dump_json()  # byte-identical


def test_a_closed_trial_is_never_named_by_clinical_trial(trial_engine: Engine) -> None:
    nec = {"age": 58, "ecog": 1, "tumour": {"primary_site": "colon", "differentiation": "poor", "ki67_percent": 70},
           "disease": {"stage": "metastatic", "metastatic_sites": ["liver"]},
           "prior_treatments": [{"option": "platinum_etoposide", "stop_reason": "progression", "line": 1}]}
    rec = evaluate(trial_engine, nec)
    assert rec.trials[0].id == "fixture-nec-second-line" and rec.trials[0].verdict == "eligible"
    assert not rec.trials[0].open
    assert all("FIXTURE-NEC" not in o.label for o in rec.anti_tumour)


# ------------------------------------------------------------------ reports


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_reports_show_the_trials_with_the_date_each_status_was_checked(trial_engine: Engine, lang: str) -> None:
    report = build_report(trial_engine, parse_patient(json.dumps(PNET_G2)), lang)  # type: ignore[arg-type]
    md = render_markdown(report)
    heading = {"en": "## Clinical trials", "fr": "## Essais cliniques"}[lang]
    checked = {"en": "checked on 2026-12-07", "fr": "vérifié le 2026-12-07"}[lang]
    changes = {"en": "Trial statuses change", "fr": "Le statut d'un essai change"}[lang]
    assert heading in md and checked in md and changes in md
    assert md.index(heading) < md.index("---\n\n## ")  # before the versions and disclaimer
    from cds.render.html import render_html
    from cds.render.text import render_text

    assert 'id="trials"' in render_html(report, pictures=False)
    assert checked in render_text(report)


def test_no_section_without_a_catalogue() -> None:
    from cds import default_engine

    rec = evaluate(default_engine(), PNET_G2)
    if not default_engine().kb.trials:
        assert rec.trials == [] and "## Clinical trials" not in render_markdown(rec)


def test_cds_trials_as_json_and_text(trial_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cds.cli._engine", lambda: trial_engine)
    patient = tmp_path / "p.json"
    patient.write_text(json.dumps(PNET_G2), encoding="utf-8")
    out = runner.invoke(app, ["trials", str(patient), "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["knowledge_version"] == trial_engine.kb.version and data["software_version"]
    assert [t["verdict"] for t in data["trials"]] == ["potentially_eligible", "ineligible"]
    text = runner.invoke(app, ["trials", str(patient), "--lang", "fr"])
    assert text.exit_code == 0 and "POTENTIELLEMENT ÉLIGIBLE" in text.stdout and "vérifié le 2026-12-07" in text.stdout


# ------------------------------------------------------------------ vignettes and lint


def test_the_trial_vignettes_pass_and_check_their_side(trial_engine: Engine) -> None:
    files = Layout(trial_engine.kb.root).trial_vignette_files()
    assert len(files) == 4
    results = run_vignettes(trial_engine, files)
    assert all(r.ok for r in results), [(r.vignette.id, r.failures) for r in results if not r.ok]
    wrong = Layout(trial_engine.kb.root).trials / "fixture-prrt-g2g3" / "vignettes" / "zz-wrong-side.yaml"
    data = yaml.safe_load(files[-1].read_text(encoding="utf-8"))  # an ineligible patient, claimed eligible
    wrong.write_text(yaml.safe_dump({**data, "id": "wrong", "side": "in", "expect": {}}), encoding="utf-8")
    try:
        (bad,) = run_vignettes(trial_engine, [wrong])
    finally:
        wrong.unlink()
    assert bad.failures == [
        "side 'in': the patient should be eligible for trial 'fixture-prrt-g2g3', but is ineligible"]


def test_lint_warns_on_text_criteria_and_stale_statuses(trial_engine: Engine) -> None:
    kb = trial_engine.kb
    found = {(p.code, p.loc, p.level) for p in check_trials(kb, dt.date(2026, 12, 8))}
    assert ("trial_criterion_text", "fixture-prrt-g2g3.criteria[measurable_disease]", "info") in found
    assert ("trial_status_stale", "fixture-nec-second-line.status_checked_on", "warning") in found
    assert not any(code == "trial_status_stale" and "prrt" in loc for code, loc, _ in found)
    assert not any(code == "trial_without_vignette" for code, _, _ in found)
    assert ("trial_status_future", "fixture-prrt-g2g3.status_checked_on", "error") in {
        (p.code, p.loc, p.level) for p in check_trials(kb, dt.date(2026, 12, 6))}


# ------------------------------------------------------------------ import


def test_import_fills_the_metadata_and_keeps_every_criterion_as_text() -> None:
    (study,) = studies_of(json.loads(CTGOV.read_text(encoding="utf-8")))
    entry = trial_from_study(study)
    assert (entry.id, entry.acronym, entry.registry.nct, entry.registry.eu_ct) == (
        "fix-x", "FIX-X", "NCT00000003", "2021-000123-45")
    assert (entry.phase, entry.status, entry.status_checked_on) == ("2/3", "recruiting", dt.date(2026, 11, 2))
    assert entry.countries == ["DE", "FR", "US"]
    assert entry.french_centres == ["Fictional University Hospital, Lyon", "Fictional Cancer Centre, Paris"]
    assert [a.label for a in entry.arms] == ["Drug X (Drug: Drug X)", "Everolimus (Drug: Everolimus)"]
    assert [(c.id, c.kind) for c in entry.criteria] == [
        ("inc_01", "inclusion"), ("inc_02", "inclusion"), ("inc_03", "inclusion"), ("inc_04", "inclusion"),
        ("inc_05", "inclusion"), ("exc_01", "exclusion"), ("exc_02", "exclusion"), ("exc_03", "exclusion")]
    assert all(c.when is None for c in entry.criteria)
    assert entry.criteria[0].text.endswith("Ki-67 < 20 %")  # Markdown escape removed
    assert entry.criteria[4].text == ("Adequate organ function: Absolute neutrophil count >= 1.5 x 10^9/L; "
                                      "Platelets >= 100 x 10^9/L; Creatinine clearance >= 40 mL/min")
    assert entry.criteria[-1].text.endswith("above 1.5 x ULN despite treatment")
    assert "last update posted" in entry.note
    assert TrialSpec.model_validate(yaml.safe_load(trial_yaml(entry))) == entry  # the YAML reads back


def test_cds_trials_import_writes_a_catalogue_entry_that_loads_and_lints(tmp_path: Path) -> None:
    root = with_trials(tmp_path)
    folder = root / "catalogues" / "trials"
    out = runner.invoke(app, ["trials", "import", str(CTGOV), "--output", str(folder), "--checked-on", "2026-12-07"])
    assert out.exit_code == 0, out.output
    written = folder / "fix-x" / "trial.yaml"
    assert "status_checked_on: 2026-12-07" in written.read_text(encoding="utf-8")
    again = runner.invoke(app, ["trials", "import", str(CTGOV), "--output", str(folder)])
    assert again.exit_code != 0 and "never overwrites" in again.output
    kb = load_knowledge(root, pathways_dir())
    assert "fix-x" in kb.trials
    found = {(p.code, p.level) for p in check_trials(kb, dt.date(2026, 12, 8)) if p.loc.startswith("fix-x")}
    assert found == {("trial_criteria_text", "warning"), ("trial_without_vignette", "error")}
    stdout = runner.invoke(app, ["trials", "import", str(CTGOV)])
    assert stdout.exit_code == 0 and stdout.stdout.startswith("# yaml-language-server")


def test_split_criteria_without_sections_or_bullets() -> None:
    assert split_criteria("Adults with pNET.\n\nExclusion criteria\n- Pregnancy") == [
        ("inclusion", "Adults with pNET."), ("exclusion", "Pregnancy")]
