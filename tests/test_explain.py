"""Why-not explanations (cds.explain) and ``cds explain``.

The explanations are read from the same rule and edge conditions the engine
runs: the tests on the bundled knowledge check them against the engine's own
trace (a rule shown as holding did fire; an edge shown as failing did not), and
the tests on the fixture knowledge show that a threshold changed in the
knowledge changes the explanation, with no copy of it anywhere else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cds import Engine, load_knowledge
from cds.cli import app
from cds.explain import (
    EdgeCheck,
    Explanation,
    LeafCheck,
    UnknownOptionError,
    explain,
    explain_all,
    explain_detail,
)
from cds.input import read_patient_file
from cds.model import Patient
from cds.render.i18n import labels
from cds.render.why_not import WhyNotView, leaf_sentence, track_summary, why_not_view
from cds.resources import examples_dir

from .conftest import patient_dict

MINI = Path(__file__).parent / "fixtures" / "mini"
EXAMPLES = sorted(examples_dir().glob("*.json"))
PNET_KI67_5 = examples_dir() / "pnet-02-metastatic-g2-ki67-5.json"
PNET_EXCLUSION = examples_dir() / "pnet-06-egfr-40-bilioenteric-anastomosis.json"
SI_MISSING = examples_dir() / "si-04-missing-ki67-no-sstr-imaging.json"

runner = CliRunner()


def said(x: Explanation, kb: Any = None) -> WhyNotView:
    """The explanation in words, as every renderer shows it."""
    return why_not_view(x, labels(x.language, kb))


def text(t: LeafCheck, lang: str = "en") -> str:
    return leaf_sentence(labels(lang), t)


def leaf_checks(x: Explanation) -> Iterator[LeafCheck]:
    def edge_tests(edge: EdgeCheck) -> Iterator[LeafCheck]:
        for c in edge.conditions:
            yield from c.tests
        for b in edge.blocked_by:
            yield from edge_tests(b)

    for tr in x.tracks:
        for rule in (*tr.exclusions, *tr.against, *tr.rules_not_applied):
            for c in rule.conditions:
                yield from c.tests
        for edge in tr.proposals_not_applied:
            yield from edge_tests(edge)
        for pw in tr.pathways:
            for c in pw.entry:
                yield from c.tests
            for edge in pw.proposals:
                yield from edge_tests(edge)


# ------------------------------------------------------------------ bundled knowledge


def test_prrt_for_ki67_5_names_the_threshold(engine: Engine) -> None:
    """pNET G2 with Ki-67 5 %: PRRT is not proposed first line, because Ki-67 is below 10 %."""
    patient = read_patient_file(PNET_KI67_5)
    x = explain(engine, patient, "prrt")
    anti = next(tr for tr in x.tracks if tr.track == "anti_tumour")
    assert anti.status == "not_proposed"
    failed = [t for t in leaf_checks(x)
              if t.path == "tumour.ki67_percent" and t.op in (">", ">=") and not t.held]
    assert failed, x.model_dump_json(indent=1)
    threshold = failed[0].expected
    assert failed[0].actual == 5 and threshold > 5
    sentence = f"Ki-67: 5 % — would need {failed[0].op} {threshold} %"
    assert sentence in said(x, engine.kb).changes
    # The edge it comes from was reachable: its source step was reached.
    edges = [e for pw in anti.pathways for e in pw.proposals
             if any(t.path == "tumour.ki67_percent" and not t.held for c in e.conditions for t in c.tests)]
    assert any(e.from_reached and not e.fired for e in edges)

    fr = explain(engine, patient, "prrt", "fr")
    assert f"Ki-67 : 5 % — il faudrait {failed[0].op} {threshold} %" in said(fr, engine.kb).changes
    assert said(fr, engine.kb).label != said(x, engine.kb).label  # the option label is the French one


def _with_complete_dpd_deficiency() -> dict[str, Any]:
    """The eGFR-40 example with a complete DPD deficiency: the fluoropyrimidines are contraindicated."""
    data = json.loads(PNET_EXCLUSION.read_text(encoding="utf-8"))
    data["comorbidities"] = [*data.get("comorbidities", []), "dpd_deficiency"]
    return dict(data)


def test_excluded_option_shows_its_contraindication(engine: Engine) -> None:
    patient = Patient.model_validate(_with_complete_dpd_deficiency())
    detail = engine.evaluate_detail(patient)
    rec = detail.recommendation
    assert rec.excluded, "the example is meant to have an excluded option"
    for excluded in rec.excluded:
        x = explain_detail(engine.kb, detail, excluded.option)
        track = next(tr for tr in x.tracks if tr.track == excluded.track)
        assert track.status == "excluded"
        assert "excluded" in track_summary(labels("en", engine.kb), x.option, track)
        assert [r.rule for r in track.exclusions] == [a.rule for a in excluded.reasons]
        for rule in track.exclusions:
            assert rule.rule in rec.trace.fired_rules
            assert rule.conditions and all(c.held for c in rule.conditions)
            assert all("would not apply" in text(t) or "would no longer apply" in text(t)
                       for c in rule.conditions for t in c.tests)


def test_argument_against_gives_the_value_that_would_lift_it(engine: Engine) -> None:
    """eGFR 40 mL/min: a renal caution holds, and the explanation gives the eGFR that lifts it."""
    patient = read_patient_file(PNET_EXCLUSION)
    detail = engine.evaluate_detail(patient)
    held = [t for x in explain_all(detail, engine.kb) for t in leaf_checks(x)
            if t.path == "labs.egfr_ml_min" and t.held and t.op in ("<", "<=")]
    assert held
    for t in held:
        negated = ">=" if t.op == "<" else ">"
        assert text(t) == (f"eGFR: 40 mL/min ({t.op} {t.expected} mL/min) — would not apply at "
                          f"eGFR {negated} {t.expected} mL/min")


def test_missing_data_is_named(engine: Engine) -> None:
    """Ki-67 unknown and SSTR imaging not done: the explanation says which fields to provide."""
    patient = read_patient_file(SI_MISSING)
    x = explain(engine, patient, "prrt")
    assert "tumour.ki67_percent" in x.missing
    assert "Ki-67: unknown — to be provided" in said(x).changes
    sstr = [t for t in leaf_checks(x) if t.path == "imaging.sstr" and t.missing]
    if sstr:  # SSTR imaging "not_done" is unknown data, shown with its value
        # Named among the data to provide; listed as a change only when providing it alone would move PRRT.
        assert "SSTR imaging" in said(x).missing


def test_option_ranked_first(engine: Engine) -> None:
    patient = read_patient_file(PNET_KI67_5)
    detail = engine.evaluate_detail(patient)
    first = detail.recommendation.anti_tumour[0]
    x = explain_detail(engine.kb, detail, first.option)
    anti = next(tr for tr in x.tracks if tr.track == "anti_tumour")
    assert anti.status == "first"
    assert "ranked first" in track_summary(labels("en", engine.kb), x.option, anti)


def test_option_of_another_population(engine: Engine) -> None:
    """An option no pathway of the patient's population proposes says where it is proposed."""
    patient = Patient.model_validate(patient_dict(
        tumour={"primary_site": "colon", "differentiation": "poor", "ki67_percent": 80},
    ))
    x = explain(engine, patient, "prrt")
    (track,) = x.tracks
    assert track.status == "not_proposed"
    assert track.pathways and not any(pw.entered for pw in track.pathways)
    assert said(x, engine.kb).summary  # one readable sentence at least


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_explanations_agree_with_the_engine(engine: Engine, path: Path) -> None:
    """Python evaluation of the conditions agrees with what durable_rules did."""
    detail = engine.evaluate_detail(read_patient_file(path))
    rec = detail.recommendation
    explanations = explain_all(detail, engine.kb)
    wanted = {o.option for track in (rec.anti_tumour, rec.antisecretory) for o in track if o.rank > 1}
    wanted |= {e.option for e in rec.excluded}
    assert {x.option for x in explanations} == wanted
    fired_edges = set(rec.trace.edges)
    for x in explanations:
        for tr in x.tracks:
            assert tr.status != "first" or tr.track not in {
                e.track for e in rec.excluded if e.option == x.option}
            for rule in (*tr.exclusions, *tr.against):
                assert rule.rule in rec.trace.fired_rules
                assert all(c.held for c in rule.conditions), rule
            for rule in tr.rules_not_applied:
                assert rule.conditions and not any(c.held for c in rule.conditions), rule
            for edge in tr.proposals_not_applied:
                assert edge.from_reached and not edge.fired and edge.edge not in fired_edges
                assert edge.conditions, f"{edge.edge} did not fire, so a condition must fail"
    # Deterministic: the same evaluation explains the same way.
    again = explain_all(engine.evaluate_detail(read_patient_file(path)), engine.kb)
    assert [a.model_dump() for a in again] == [b.model_dump() for b in explanations]


def test_unknown_option(engine: Engine) -> None:
    with pytest.raises(UnknownOptionError, match=r"did you mean .prrt."):
        explain(engine, read_patient_file(PNET_KI67_5), "prr")


# ------------------------------------------------------------------ fixture knowledge


@pytest.fixture(scope="module")
def mini_engine() -> Iterator[Engine]:
    eng = Engine(load_knowledge(MINI / "knowledge", MINI / "pathways"))
    yield eng
    eng.close()


def test_threshold_comes_from_the_knowledge(mini_engine: Engine) -> None:
    """Change a threshold in the knowledge and the explanation follows: there is no copy."""
    patient = Patient.model_validate(patient_dict())  # pNET G2, Ki-67 5 %
    detail = mini_engine.evaluate_detail(patient)
    x = explain_detail(mini_engine.kb, detail, "everolimus")
    (anti,) = x.tracks
    assert anti.status == "ranked"
    (against,) = anti.against
    assert against.rule == "mod.ssa_low"
    assert said(x).changes == ["Ki-67: 5 % (< 10 %) — would not apply at Ki-67 >= 10 %"]

    kb = mini_engine.kb
    edited = [
        replace(lr, rule=lr.rule.model_copy(update={"when": [{"$lt": {"tumour.ki67_percent": 8}}]}))
        if lr.rule.id == "mod.ssa_low" else lr
        for lr in kb.rules
    ]
    moved = explain_detail(replace(kb, rules=edited), detail, "everolimus")
    assert said(moved).changes == ["Ki-67: 5 % (< 8 %) — would not apply at Ki-67 >= 8 %"]


def test_proposal_that_did_not_fire(mini_engine: Engine) -> None:
    patient = Patient.model_validate(patient_dict())
    x = explain(mini_engine, patient, "prrt")
    (anti,) = x.tracks
    assert anti.status == "not_proposed"
    (pathway,) = anti.pathways
    (edge,) = pathway.proposals
    assert edge.edge == "pnet.prrt" and edge.from_reached and not edge.fired
    (cond,) = edge.conditions
    (test,) = cond.tests
    assert test.path == "derived.progressed_on_ssa" and not test.missing
    assert text(test) == "Progression on a somatostatin analogue: not established — would need yes"


def test_step_not_reached_names_the_blocking_edge(mini_engine: Engine) -> None:
    patient = Patient.model_validate(patient_dict(disease={"stage": "localized", "metastatic_sites": []}))
    x = explain(mini_engine, patient, "ssa")
    (anti,) = x.tracks
    (pathway,) = anti.pathways
    (edge,) = pathway.proposals
    assert not edge.from_reached
    (blocker,) = edge.blocked_by
    assert blocker.edge == "pnet.to_met"
    assert text(blocker.conditions[0].tests[0]) == "Stage: localized — would need metastatic"
    assert said(x).changes == ["Stage: localized — would need metastatic"]


# ------------------------------------------------------------------ cds explain


def test_cli_explain_text_json_markdown() -> None:
    text = runner.invoke(app, ["explain", str(PNET_KI67_5), "--option", "prrt"])
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("Why not ")
    assert "Ki-67: 5 % — would need >=" in text.stdout
    assert "What would change the result" in text.stdout

    js = runner.invoke(app, ["explain", str(PNET_KI67_5), "--option", "prrt", "-f", "json"])
    assert js.exit_code == 0, js.output
    data = json.loads(js.stdout)
    assert data["option"] == "prrt" and data["tracks"][0]["status"] == "not_proposed"
    Explanation.model_validate(data)

    md = runner.invoke(app, ["explain", str(PNET_KI67_5), "--option", "prrt", "-f", "markdown",
                             "--lang", "fr"])
    assert md.exit_code == 0, md.output
    assert md.stdout.startswith("# Pourquoi pas ")
    assert "il faudrait \\>=" in md.stdout
    assert "Ce qui changerait le résultat" in md.stdout


def test_cli_explain_unknown_option_is_bad_input() -> None:
    result = runner.invoke(app, ["explain", str(PNET_KI67_5), "--option", "prr"])
    assert result.exit_code == 2
    assert "unknown option 'prr'; did you mean 'prrt'?" in result.stderr
    assert "Traceback" not in result.output


def test_cli_explain_writes_output(tmp_path: Path) -> None:
    out = tmp_path / "why.md"
    patient = tmp_path / "dpd.json"
    patient.write_text(json.dumps(_with_complete_dpd_deficiency()), encoding="utf-8")
    result = runner.invoke(app, ["explain", str(patient), "--option", "capecitabine_temozolomide",
                                 "-f", "markdown", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "Contraindications that apply" in out.read_text(encoding="utf-8")


def test_a_safety_ceiling_is_explained_as_a_ceiling_not_a_weight(engine: Engine) -> None:
    """eGFR 40 mL/min: PRRT is avoided; why-not says so, and shows the level rather than a strength."""
    patient = read_patient_file(PNET_EXCLUSION)
    x = explain(engine, patient, "prrt")
    anti = next(tr for tr in x.tracks if tr.track == "anti_tumour")
    assert "caps it at not recommended" in track_summary(labels("en", engine.kb), x.option, anti)
    avoided = [r for r in anti.against if r.safety_level == "avoid"]
    assert avoided and all(r.strength == 0 for r in avoided)
    from cds.render.markdown import render_explanation_markdown

    text = render_explanation_markdown(x)
    assert f"`{avoided[0].rule}` (avoid" in text and "(-0" not in text
