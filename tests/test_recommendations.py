"""The recommendation as the unit of knowledge (issue 11): homes, owners, vignette sides, show/list, schemas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from cds.cli import app
from cds.engine import Engine
from cds.knowledge import KnowledgeBase, load_knowledge
from cds.knowledge.json_schemas import KINDS, editor_settings, knowledge_schema
from cds.knowledge.layout import Layout
from cds.knowledge.recommendations import detail, summaries
from cds.lint import check_recommendations
from cds.resources import content_root, knowledge_dir, pathways_dir
from cds.vignettes import run_vignettes, vignette_files

runner = CliRunner()
MINI = Path(__file__).parent / "fixtures" / "mini"
ROOT = Path(__file__).resolve().parent.parent


def _copy_knowledge(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    return root, pathways_dir()


# ------------------------------------------------------------------ the bundled knowledge


def test_every_rule_and_edge_has_one_recommendation(kb: KnowledgeBase) -> None:
    """Rules are written inside a home; each pathway edge is listed by exactly one recommendation."""
    for lr in kb.rules:
        if lr.file.startswith("knowledge/catalogues/safety-matrix/"):
            continue  # the contraindication matrix is a catalogue with its own probes
        assert lr.recommendation is not None, lr.rule.id
        assert lr.file == kb.recommendations[lr.recommendation].file
    edges = {e.id for pw in kb.pathways for e in pw.edges}
    assert edges <= set(kb.owners), sorted(edges - set(kb.owners))[:5]
    assert not (Layout(kb.root).root / "rules").exists()


def test_every_recommendation_has_an_in_and_an_out_vignette(kb: KnowledgeBase) -> None:
    problems = [p for p in check_recommendations(kb) if p.level == "error"]
    assert problems == []
    for row in summaries(kb):
        outside = row.vignettes_out >= 1 or bool(kb.recommendations[row.id].spec.no_patient_outside)
        assert row.vignettes_in >= 1 and outside, row.id


def test_folder_names_and_statement_sources(kb: KnowledgeBase) -> None:
    for rec in kb.recommendations.values():
        assert rec.folder.name == rec.id
        assert rec.file.endswith(f"/{rec.id}/recommendation.yaml")
        assert set(rec.spec.statement.sources) <= set(kb.sources)


# ------------------------------------------------------------------ lint on small copies


def _mini(tmp_path: Path) -> Path:
    root = tmp_path / "mini"
    shutil.copytree(MINI, root)
    return root


def _rec_file(root: Path, rec_id: str) -> Path:
    (path,) = (root / "knowledge" / "recommendations").glob(f"*/{rec_id}/recommendation.yaml")
    return path


def _edit_yaml(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_an_edge_no_recommendation_lists_is_a_lint_error(tmp_path: Path) -> None:
    root = _mini(tmp_path)
    _edit_yaml(_rec_file(root, "mini-arguments"), lambda d: d["edges"].remove("pnet.prrt"))
    kb = load_knowledge(root / "knowledge", root / "pathways")
    codes = {(p.code, p.loc) for p in check_recommendations(kb)}
    assert ("edge_without_recommendation", "pnet.prrt") in codes


def test_an_edge_listed_twice_does_not_load(tmp_path: Path) -> None:
    from cds.errors import KnowledgeError

    root = _mini(tmp_path)
    _edit_yaml(_rec_file(root, "mini-classification"), lambda d: d.update(edges=["pnet.prrt"]))
    with pytest.raises(KnowledgeError, match="owned_twice"):
        load_knowledge(root / "knowledge", root / "pathways")


def test_an_unknown_edge_is_a_lint_error(tmp_path: Path) -> None:
    """The knowledge may be loaded with another pathways folder: a dangling edge id is lint's to report."""
    root = _mini(tmp_path)
    _edit_yaml(_rec_file(root, "mini-classification"), lambda d: d.update(edges=["pnet.prr"]))
    kb = load_knowledge(root / "knowledge", root / "pathways")
    (problem,) = [p for p in check_recommendations(kb) if p.code == "unknown_edge"]
    assert problem.loc == "pnet.prr" and "did you mean 'pnet.prrt'" in problem.message


def test_a_recommendation_without_vignettes_is_a_lint_error(tmp_path: Path) -> None:
    root = _mini(tmp_path)
    kb = load_knowledge(root / "knowledge", root / "pathways")
    missing = {(p.loc, p.message.split(":")[0]) for p in check_recommendations(kb)
               if p.code == "recommendation_without_vignette"}
    assert ("mini-arguments", "no 'in' vignette") in missing
    assert ("mini-arguments", "no 'out' vignette") in missing


def test_a_folder_that_does_not_match_its_id_does_not_load(tmp_path: Path) -> None:
    from cds.errors import KnowledgeError

    root = _mini(tmp_path)
    path = _rec_file(root, "mini-arguments")
    path.parent.rename(path.parent.with_name("mini-args"))
    with pytest.raises(KnowledgeError, match="recommendation_folder"):
        load_knowledge(root / "knowledge", root / "pathways")


def test_a_retired_recommendation_no_longer_runs(tmp_path: Path) -> None:
    root = _mini(tmp_path)
    _edit_yaml(_rec_file(root, "mini-arguments"), lambda d: d.update(status="retired", edges=[]))
    kb = load_knowledge(root / "knowledge", root / "pathways")
    assert not any(lr.recommendation == "mini-arguments" for lr in kb.rules)
    assert kb.owners["mod.ssa_low"] == "mini-arguments"  # still known, for show and lint


# ------------------------------------------------------------------ vignette sides


def _vignette(rec_dir: Path, vid: str, side: str, patient: dict[str, Any]) -> Path:
    path = rec_dir / "vignettes" / f"{vid}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"id": vid, "side": side, "cites": "test", "patient": patient, "expect": {}}),
                    encoding="utf-8")
    return path


PNET_LOW = {"tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 5},
            "disease": {"stage": "metastatic"}, "imaging": {"sstr": "positive"}}


def test_the_side_of_a_vignette_is_checked_from_the_trace(tmp_path: Path) -> None:
    root = _mini(tmp_path)
    rec_dir = _rec_file(root, "mini-arguments").parent
    good_in = _vignette(rec_dir, "in-low", "in", PNET_LOW)
    wrong_out = _vignette(rec_dir, "out-low", "out", PNET_LOW)
    kb = load_knowledge(root / "knowledge", root / "pathways")
    engine = Engine(kb)
    try:
        ok, bad = run_vignettes(engine, [good_in, wrong_out])
    finally:
        engine.close()
    assert ok.ok, ok.failures
    assert not bad.ok and "side 'out'" in bad.failures[0] and "mini-arguments" in bad.failures[0]


def test_a_borrowed_vignette_counts_and_is_checked(tmp_path: Path) -> None:
    root = _mini(tmp_path)
    args = _rec_file(root, "mini-arguments")
    _vignette(args.parent, "args-in", "in", PNET_LOW)
    _edit_yaml(_rec_file(root, "mini-classification"), lambda d: d.update(also_tested_by={"in": ["args-in"]}))
    kb = load_knowledge(root / "knowledge", root / "pathways")
    missing = {(p.loc, p.message.split(":")[0]) for p in check_recommendations(kb)
               if p.code == "recommendation_without_vignette"}
    assert ("mini-classification", "no 'in' vignette") not in missing
    refs = detail(kb, "mini-classification").vignettes
    assert [(v.id, v.side, v.own) for v in refs] == [("args-in", "in", False)]


# ------------------------------------------------------------------ adding a recommendation


NEW_REC = """\
id: test-new-caution
title: {en: "Test: caution with everolimus in a test situation", fr: "Test : précaution avec l'évérolimus"}
status: draft
statement:
  text: A test statement that everolimus needs caution when the Ki-67 is 5 % or less.
  kind: policy
  sources: [netcds_policy]
  date: "2026"
rules:
  - id: test.new.everolimus_caution
    when:
      - {tumour.primary_site: pancreas}
      - {$lte: {tumour.ki67_percent: 5}}
    then:
      - safety: {option: everolimus, level: caution}
    because: {en: Test caution., fr: Précaution de test.}
    sources: [netcds_policy]
    evidence: {kind: policy}
    confirmation: policy
"""


def test_adding_a_recommendation_touches_one_home(tmp_path: Path) -> None:
    """The guide's example: one folder (recommendation + two vignettes) and nothing else; lint and sides pass."""
    root, pathways = _copy_knowledge(tmp_path)
    home = root / "recommendations" / "pancreas" / "test-new-caution"
    home.mkdir(parents=True)
    (home / "recommendation.yaml").write_text(NEW_REC, encoding="utf-8")
    patient = {"age": 60, "ecog": 1, "tumour": {"primary_site": "pancreas", "differentiation": "well",
                                                "ki67_percent": 5, "functional_syndrome": "none"},
               "disease": {"stage": "metastatic", "metastatic_sites": ["liver"], "status": "progressive",
                           "resectable": False, "liver_tumour_burden_percent": 20},
               "imaging": {"sstr": "positive"}, "labs": {"egfr_ml_min": 90, "platelets_g_l": 250},
               "prior_treatments": [{"option": "ssa", "line": 1, "stop_reason": "progression"}]}
    _vignette(home, "test-new-caution-in", "in", patient)
    outside = json.loads(json.dumps(patient))
    outside["tumour"]["ki67_percent"] = 6
    _vignette(home, "test-new-caution-out", "out", outside)
    kb = load_knowledge(root, pathways)
    assert [p for p in check_recommendations(kb) if p.file.startswith(
        "knowledge/recommendations/pancreas/test-new-caution")] == []
    engine = Engine(kb)
    try:
        results = run_vignettes(engine, vignette_files(root)[-0:] and sorted((home / "vignettes").glob("*.yaml")))
    finally:
        engine.close()
    assert all(r.ok for r in results), [r.failures for r in results]
    inside = next(r for r in results if r.vignette.side == "in").recommendation
    (everolimus,) = [o for o in inside.anti_tumour if o.option == "everolimus"]
    assert everolimus.safety_level == "caution"


# ------------------------------------------------------------------ show and list


def test_knowledge_list_shows_status_and_reviewer(kb: KnowledgeBase) -> None:
    result = runner.invoke(app, ["knowledge", "list"])
    assert result.exit_code == 0, result.output
    first = summaries(kb)[0]
    assert first.id in result.output and "draft" in result.output
    assert f"{len(kb.recommendations)} recommendation(s)" in result.output
    data = json.loads(runner.invoke(app, ["knowledge", "list", "--format", "json"]).output)
    assert {row["status"] for row in data} <= {"draft", "reviewed", "retired"}
    assert all("reviewer" in row and row["vignettes"]["in"] >= 1 for row in data)
    assert runner.invoke(app, ["knowledge", "list", "--status", "retired", "--format", "json"]).output == "[]\n"


def test_knowledge_list_rejects_an_unknown_area() -> None:
    result = runner.invoke(app, ["knowledge", "list", "--area", "pancraes"])
    assert result.exit_code == 2
    assert "did you mean 'pancreas'" in result.output


def test_knowledge_show_puts_the_statement_first(kb: KnowledgeBase) -> None:
    rec = next(r for r in kb.recommendations.values() if r.spec.edges and r.spec.rules)
    result = runner.invoke(app, ["knowledge", "show", rec.id])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("## Statement") < out.index("## Pathway edges") < out.index("## Rules") < out.index("## Vignettes")
    assert rec.spec.edges[0] in out and rec.spec.rules[0].id in out
    french = runner.invoke(app, ["knowledge", "show", rec.id, "--lang", "fr"]).output
    assert "## Énoncé" in french and rec.spec.title.fr in french
    data = json.loads(runner.invoke(app, ["knowledge", "show", rec.id, "--format", "json"]).output)
    assert data["recommendation"]["id"] == rec.id and data["vignettes"]


def test_knowledge_show_names_the_closest_id() -> None:
    result = runner.invoke(app, ["knowledge", "show", "pnet-first-line-ss"])
    assert result.exit_code == 2
    assert "no recommendation 'pnet-first-line-ss'" in result.output


# ------------------------------------------------------------------ schemas for editors


def test_knowledge_schemas_are_current() -> None:
    """knowledge/schemas/ is what `cds schema knowledge --output-dir` writes (regenerate it when this fails)."""
    folder = Layout(knowledge_dir()).schemas
    for kind in KINDS:
        committed = json.loads((folder / f"{kind}.schema.json").read_text(encoding="utf-8"))
        assert committed == knowledge_schema(kind), f"run: cds schema knowledge --output-dir {folder}"
    assert json.loads((folder / "editor-settings.json").read_text(encoding="utf-8")) == editor_settings()
    vscode = ROOT / ".vscode" / "settings.json"
    if vscode.exists():  # a source checkout
        assert json.loads(vscode.read_text(encoding="utf-8"))["yaml.schemas"] == editor_settings()["yaml.schemas"]


def test_every_knowledge_file_validates_against_its_schema() -> None:
    """What an editor validates agrees with the loader: every bundled file passes its kind's schema."""
    base = content_root()
    checked = 0
    for kind, spec in KINDS.items():
        validator = jsonschema.Draft202012Validator(knowledge_schema(kind))
        for pattern in spec.globs:
            for path in sorted(base.glob(pattern)):
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                errors = sorted(validator.iter_errors(json.loads(json.dumps(data, default=str))), key=str)
                assert not errors, f"{path}: {errors[0].message}"
                checked += 1
    assert checked > 500


def test_schema_knowledge_cli(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schema", "knowledge", "--kind", "recommendation"])
    assert result.exit_code == 0
    assert json.loads(result.output)["properties"]["status"]["enum"] == ["draft", "reviewed", "retired"]
    bad = runner.invoke(app, ["schema", "knowledge", "--kind", "recomendation"])
    assert bad.exit_code == 2 and "did you mean 'recommendation'" in bad.output
    written = runner.invoke(app, ["schema", "knowledge", "--output-dir", str(tmp_path)])
    assert written.exit_code == 0
    assert len(list(tmp_path.glob("*.schema.json"))) == len(KINDS)
