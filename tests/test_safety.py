"""Safety is a ceiling, never a term in a sum (cds/ranking.py, knowledge/catalogues/safety-matrix/).

Unit tests of the aggregation on hand-built candidates, then a property test over random
patients: whatever the arguments for, no option is ranked against an exclusion or above the
ceiling of the matrix statements whose condition the patient meets.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from cds import Engine, Patient
from cds.knowledge import conditions as cond
from cds.model.recommendation import Argument, Evidence, RankedOption
from cds.ranking import Candidate, capped, rank
from tests.strategies import patients

_EVIDENCE = Evidence(kind="rct_phase3", rank=2, confirmed=True)
_LEVEL_ORDER = {"exclude": 0, "avoid": 1, "caution": 2}
_CATEGORY_ORDER = {"recommended": 0, "consider": 1, "not_recommended": 2}


def _for(strength: int, rule: str = "edge") -> Argument:
    return Argument(direction="for", rule=rule, text="t", sources=["s"], evidence=_EVIDENCE, strength=strength)


def _safety(level: str, rule: str = "ci") -> Argument:
    return Argument(direction="exclude" if level == "exclude" else "against", kind="safety",
                    safety_level=level, rule=rule, text="t", sources=["s"],  # type: ignore[arg-type]
                    evidence=_EVIDENCE, strength=0)


def _rank(*cands: Candidate) -> list[RankedOption]:
    order = {c.option: i for i, c in enumerate(cands)}
    ranked, _ = rank(list(cands), order, str, lambda c: [])
    return ranked["anti_tumour"]


def test_no_argument_for_lifts_an_option_above_avoid() -> None:
    strong = Candidate("a", "anti_tumour", [_for(3), _for(3), _for(3), _safety("avoid")])
    weak = Candidate("b", "anti_tumour", [_for(1)])
    ranked = _rank(strong, weak)
    assert [o.option for o in ranked] == ["b", "a"]
    assert ranked[1].score == 9 and ranked[1].score_category == "recommended"
    assert ranked[1].category == "not_recommended" and ranked[1].safety_level == "avoid"


def test_caution_caps_the_category_at_consider_but_keeps_the_score() -> None:
    (option,) = _rank(Candidate("a", "anti_tumour", [_for(3), _for(2), _safety("caution")]))
    assert (option.score, option.score_category, option.category) == (5, "recommended", "consider")


def test_a_capped_option_ranks_below_recommended_ones_even_with_a_higher_score() -> None:
    ranked = _rank(Candidate("a", "anti_tumour", [_for(3), _for(3), _safety("caution")]),
                   Candidate("b", "anti_tumour", [_for(3)]))
    assert [(o.option, o.category) for o in ranked] == [("b", "recommended"), ("a", "consider")]


def test_exclusion_wins_over_any_number_of_arguments_for() -> None:
    ranked, excluded = rank([Candidate("a", "anti_tumour", [_for(3)] * 5, [_safety("exclude")])],
                            {"a": 0}, str, lambda c: [])
    assert ranked["anti_tumour"] == [] and [e.option for e in excluded] == ["a"]


def test_safety_arguments_do_not_weigh_in_the_score() -> None:
    (option,) = _rank(Candidate("a", "anti_tumour", [_for(2), _safety("caution"), _safety("caution")]))
    assert option.score == 2


@pytest.mark.parametrize(("category", "level", "expected"), [
    ("recommended", None, "recommended"), ("recommended", "caution", "consider"),
    ("recommended", "avoid", "not_recommended"), ("not_recommended", "caution", "not_recommended"),
])
def test_capped(category: Any, level: Any, expected: str) -> None:
    assert capped(category, level) == expected


def test_unconfirmed_statement_may_not_exclude(tmp_path: Any) -> None:
    """A [U] fact may avoid or caution, never exclude (loader)."""
    import shutil

    from cds.errors import KnowledgeError
    from cds.knowledge import load_knowledge
    from cds.resources import knowledge_dir, pathways_dir

    root = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), root)
    extra = root / "catalogues" / "safety-matrix" / "zz_test.yaml"
    extra.write_text(
        "entries:\n"
        "  - id: safety.test.unconfirmed_exclusion\n"
        "    conditions: [egfr_below_30]\n    options: [ssa]\n    level: exclude\n"
        "    because: {en: t, fr: t}\n    sources: [netcds_policy]\n"
        "    evidence: {kind: policy}\n    confirmation: U\n",
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError, match="unconfirmed_exclusion"):
        load_knowledge(root, pathways_dir())


@settings(max_examples=1500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(patients())
def test_no_option_is_proposed_above_its_safety_ceiling(engine: Engine, data: dict[str, Any]) -> None:
    detail = engine.evaluate_detail(Patient.model_validate(data), surveillance=False)
    rec, ctx = detail.recommendation, detail.context
    for ranked in (rec.anti_tumour, rec.antisecretory):
        seen_avoid = False
        for option in ranked:
            levels = {a.safety_level for a in option.arguments if a.kind == "safety"}
            assert "exclude" not in levels, f"{option.option} ranked with an exclusion"
            if "avoid" in levels:
                assert option.category == "not_recommended" and option.safety_level == "avoid"
                seen_avoid = True
            else:
                assert not seen_avoid, f"{option.option} ranked after an avoided option"
            if "caution" in levels:
                assert option.category != "recommended", option.option
            assert _CATEGORY_ORDER[option.category] >= _CATEGORY_ORDER[option.score_category or "recommended"]
    # Against the matrix itself: every statement whose condition holds caps its options.
    ranked_by = {(o.track, o.option): o for o in rec.anti_tumour + rec.antisecretory}
    for entry, _ in engine.kb.matrix_entries:
        if entry.level == "none":
            continue
        if not any(cond.evaluate_all(engine.kb.matrix_conditions[c].when, ctx) for c in entry.conditions):
            continue
        for option in entry.options:
            tracks = [entry.track] if entry.track else engine.kb.options[option].tracks
            for track in tracks:
                got = ranked_by.get((track, option))
                if got is None:
                    continue
                assert entry.level != "exclude", f"{option} ranked although {entry.id} excludes it"
                assert any(a.rule == entry.id for a in got.arguments), f"{option} lacks {entry.id}"
                ceiling = "not_recommended" if entry.level == "avoid" else "consider"
                assert _CATEGORY_ORDER[got.category] >= _CATEGORY_ORDER[ceiling], (entry.id, got.category)


# ------------------------------------------------------------- incomplete data


def _evaluate(engine: Engine, data: dict[str, Any]) -> Any:
    return engine.evaluate(Patient.model_validate(data), surveillance=False)


def test_a_patient_without_disease_section_gets_an_answer_and_a_staging_request(engine: Engine) -> None:
    rec = _evaluate(engine, {"tumour": {"primary_site": "rectum", "grade": "G1", "size_mm": 8}})
    assert "disease.stage" in {m.field for m in rec.missing_data}
    assert "missing_stage" in {a.id for a in rec.alerts}
    scenarios = {s.id: s for s in rec.scenarios}
    assert {"stage.localized", "stage.metastatic"} <= set(scenarios)
    assert scenarios["stage.localized"].anti_tumour, "no ranking for the localized hypothesis"


def test_metastatic_sites_make_an_unstated_stage_metastatic_by_definition(engine: Engine) -> None:
    rec = _evaluate(engine, {"tumour": {"primary_site": "small_intestine", "ki67_percent": 4},
                             "disease": {"metastatic_sites": ["liver"]}})
    assert {(a.field, a.value) for a in rec.assumptions} >= {("disease.stage", "metastatic"),
                                                            ("tumour.differentiation", "well")}
    assert rec.anti_tumour and not rec.scenarios


def test_differentiation_unknown_at_g3_gives_net_and_nec_scenarios_with_pathology_review_first(
    engine: Engine,
) -> None:
    rec = _evaluate(engine, {"ecog": 1, "tumour": {"primary_site": "pancreas", "ki67_percent": 45},
                             "disease": {"stage": "metastatic", "metastatic_sites": ["liver"]},
                             "imaging": {"sstr": "positive"}})
    assert rec.derived["category"] == "unknown"
    assert {s.id for s in rec.scenarios} == {"differentiation.well", "differentiation.poor"}
    assert rec.alerts[0].severity == "critical"
    assert {"pathology_review", "missing_differentiation"} <= {a.id for a in rec.alerts if a.severity == "critical"}
    poor = next(s for s in rec.scenarios if s.value == "poor")
    assert poor.derived["category"] == "nec" and poor.anti_tumour[0].option == "platinum_etoposide"


def test_stated_grade_is_used_without_counts_and_checked_against_them(engine: Engine) -> None:
    base = {"tumour": {"primary_site": "pancreas", "differentiation": "well", "grade": "g2"},
            "disease": {"stage": "localized"}}
    rec = _evaluate(engine, base)
    assert rec.derived["grade"] == "g2" and rec.derived["grade_stated_only"] is True
    counted = {**base, "tumour": {**base["tumour"], "ki67_percent": 1.5}}
    rec = _evaluate(engine, counted)
    assert rec.derived["grade"] == "g1"
    assert {"grade_discordance", "pathology_review"} <= {a.id for a in rec.alerts}


def test_every_output_names_the_software_and_knowledge_versions(engine: Engine) -> None:
    from cds import __version__

    rec = _evaluate(engine, {"tumour": {"primary_site": "pancreas"}})
    assert rec.software_version == __version__ and rec.knowledge_version
