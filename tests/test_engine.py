"""The engine and its durable_rules wrapper, on a tiny fixture knowledge base.

These tests pin the sharp edges of durable_rules 2.0.28 listed in
durable-rules.md: session leaks, the 1,024-session limit, the delete_state
crash, swallowed action exceptions, timer threads, duplicate facts, engine
errors, and thread safety.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cds import Engine, EngineError, Patient, load_knowledge
from cds.engine.durable_host import CompiledRule, DurableHost

MINI = Path(__file__).parent / "fixtures" / "mini"


@pytest.fixture(scope="module")
def mini() -> Iterator[Engine]:
    eng = Engine(load_knowledge(MINI / "knowledge", MINI / "pathways"))
    yield eng
    eng.close()


def pnet(**tumour: Any) -> Patient:
    data: dict[str, Any] = {
        "tumour": {"primary_site": "pancreas", "differentiation": "well", **tumour},
        "disease": {"stage": "metastatic", "metastatic_sites": ["liver"]},
        "imaging": {"sstr": "positive"},
    }
    return Patient.model_validate(data)


def test_forward_chaining_derives_grade_then_category(mini: Engine) -> None:
    rec = mini.evaluate(pnet(ki67_percent=5, mitoses_per_2mm2=1))
    assert rec.derived["grade"] == "g2"
    assert rec.derived["category"] == "net_g2"
    assert rec.derived["grade_discordant"] is True
    # the pathway ran on the derived category and proposed options
    assert rec.trace.pathways == ["pnet_test"]
    assert {o.option for o in rec.anti_tumour} >= {"ssa", "everolimus"}


def test_higher_grade_wins(mini: Engine) -> None:
    rec = mini.evaluate(pnet(ki67_percent=5, mitoses_per_2mm2=25))
    assert rec.derived["grade"] == "g3"
    assert rec.derived["category"] == "net_g3"


def test_no_fact_leaks_between_patients(mini: Engine) -> None:
    first = Patient.model_validate({
        "tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 5},
        "disease": {"stage": "metastatic"},
        "imaging": {"sstr": "positive"},
        "prior_treatments": ["ssa"],
    })
    second = pnet()  # no Ki-67, no prior treatment
    a1 = mini.evaluate(first)
    b = mini.evaluate(second)
    a2 = mini.evaluate(first)
    assert a1.model_dump_json() == a2.model_dump_json()
    assert "progressed_on_ssa" in a1.derived
    assert "progressed_on_ssa" not in b.derived
    assert b.derived["grade"] == "unknown"
    assert "prrt" not in {o.option for o in b.anti_tumour}


def test_more_sessions_than_durable_allows(mini: Engine) -> None:
    # durable_rules holds 1,024 live sessions per ruleset; every run must delete its own.
    patient = pnet(ki67_percent=5)
    for _ in range(1100):
        mini.evaluate(patient)


def test_non_matching_patient_does_not_crash(mini: Engine) -> None:
    # A rectal patient matches no pathway of the fixture: sessions where few or no
    # actions run used to crash delete_state (SIGSEGV) in stock durable_rules.
    patient = Patient.model_validate({"tumour": {"primary_site": "rectum"},
                                      "disease": {"stage": "localized"}})
    for _ in range(50):
        rec = mini.evaluate(patient)
    assert rec.anti_tumour == []


def test_threads_give_the_same_results_as_sequential(mini: Engine) -> None:
    patients = [pnet(ki67_percent=k) for k in (1, 5, 12, 25, 40)]
    expected = [mini.evaluate(p).model_dump_json() for p in patients]

    def work(i: int) -> str:
        return mini.evaluate(patients[i % len(patients)]).model_dump_json()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(400)))
    for i, got in enumerate(results):
        assert got == expected[i % len(patients)]


def test_no_background_threads() -> None:
    before = threading.active_count()
    hosts = [DurableHost() for _ in range(5)]
    assert threading.active_count() == before
    for h in hosts:
        h.close()


def _host_with(rules: list[CompiledRule]) -> tuple[DurableHost, Any]:
    host = DurableHost()
    return host, host.ruleset("probe", rules)


def test_exception_inside_action_surfaces() -> None:
    # The fact asserted by "derive" leaves 70 alpha tests pending in durable_rules, which
    # fails with error 303 inside the action. The stock Python layer would swallow it into
    # the session state; it must reach the caller instead.
    derive = CompiledRule("derive", {"all": [{"m": {"t": "x"}}]}, ({"t": "y", "v": 1000},))
    wide = [
        CompiledRule(f"wide{i}", {"all": [{"m": {"$and": [{"t": "y"}, {"$gt": {"v": i}}]}}]})
        for i in range(70)
    ]
    host, rs = _host_with([derive, *wide])
    with pytest.raises(EngineError, match="derive"):
        rs.run([{"t": "x"}])
    # the host keeps working afterwards
    assert rs.run([{"t": "z"}]) == []
    host.close()


def test_unencodable_asserted_fact_is_refused_at_compile_time() -> None:
    bad = CompiledRule("bad", {"all": [{"m": {"t": "x"}}]}, ({"t": "y", "v": float("inf")},))
    host = DurableHost()
    with pytest.raises(EngineError, match="bad"):
        host.ruleset("probe", [bad])
    host.close()


def test_engine_error_is_reported_and_host_survives() -> None:
    rule = CompiledRule("r", {"all": [{"m": {"$and": [{"t": "x"}, {"$gt": {"v": 1}}]}}]})
    host, rs = _host_with([rule])
    with pytest.raises(EngineError):
        rs.run([{"t": "x", "v": float("nan"), "w": float("inf")}])
    assert rs.run([{"t": "x", "v": 2}]) == ["r"]
    host.close()


def test_duplicate_and_unmatched_facts_are_absorbed() -> None:
    rule = CompiledRule("r", {"all": [{"m": {"t": "x"}}]})
    host, rs = _host_with([rule])
    assert rs.run([{"t": "x", "v": 1}, {"t": "x", "v": 1}, {"t": "nothing"}]) == ["r"]
    assert rs.run([{"t": "nothing"}]) == []
    host.close()


def test_chained_derivations_fire_within_one_run() -> None:
    rules = [
        CompiledRule("a", {"all": [{"m": {"t": "x"}}]}, ({"t": "d", "k": 1},)),
        CompiledRule("b", {"all": [{"m": {"$and": [{"t": "d"}, {"k": 1}]}}]}),
    ]
    host, rs = _host_with(rules)
    assert rs.run([{"t": "x"}]) == ["a", "b"]
    host.close()


def test_closed_engine_refuses_to_run() -> None:
    host, rs = _host_with([CompiledRule("r", {"all": [{"m": {"t": "x"}}]})])
    host.close()
    with pytest.raises(EngineError, match="closed"):
        rs.run([{"t": "x"}])


def test_conflicting_derivations_are_reported(tmp_path: Path) -> None:
    import shutil

    import yaml

    shutil.copytree(MINI, tmp_path / "kb")
    path = tmp_path / "kb" / "knowledge" / "recommendations" / "test" / "conflict" / "recommendation.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump({
        "id": "conflict", "title": {"en": "x", "fr": "x"},
        "statement": {"text": "x", "kind": "policy", "sources": ["who_2019"], "date": "2024"},
        "rules": [{
            "id": "conflict.grade", "when": [{"tumour.primary_site": "pancreas"}],
            "then": [{"derive": {"key": "grade", "value": "g3"}}],
            "because": {"en": "x", "fr": "x"}, "sources": ["who_2019"],
            "evidence": {"kind": "guideline_consensus"}, "confirmation": "V",
        }],
    }))
    eng = Engine(load_knowledge(tmp_path / "kb" / "knowledge", tmp_path / "kb" / "pathways"))
    with pytest.raises(EngineError, match="different values"):
        eng.evaluate(pnet(ki67_percent=1, mitoses_per_2mm2=1))
    eng.close()


def test_ranking_exclusion_wins_and_ties_are_deterministic(mini: Engine) -> None:
    patient = Patient.model_validate({
        "tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 5},
        "disease": {"stage": "metastatic"},
        "imaging": {"sstr": "negative"},
        "prior_treatments": ["ssa"],
    })
    rec = mini.evaluate(patient)
    assert "prrt" in {e.option for e in rec.excluded}
    assert "prrt" not in {o.option for o in rec.anti_tumour}
    scores = [o.score for o in rec.anti_tumour]
    assert scores == sorted(scores, reverse=True)
    assert [o.rank for o in rec.anti_tumour] == list(range(1, len(rec.anti_tumour) + 1))


def test_conditional_on_names_missing_fields(mini: Engine) -> None:
    patient = Patient.model_validate({
        "tumour": {"primary_site": "pancreas", "differentiation": "well"},
        "disease": {"stage": "metastatic"},
    })
    rec = mini.evaluate(patient)
    ssa = next(o for o in rec.anti_tumour if o.option == "ssa")
    assert ssa.conditional_on == ["imaging.sstr"]
    assert [m.field for m in rec.missing_data] == ["tumour.ki67_percent"]


def test_incremental_trie_bound_matches_the_full_computation() -> None:
    # The compiler packs rules into context groups with an incremental bound of durable's
    # alpha stack (compiling all populations was quadratic); it must agree with the
    # straightforward recursive bound on every trie it builds, accepted or refused.
    import random

    from cds.engine.compiler import PENDING_BUDGET, _Trie, worst_pending

    def as_dict(trie: _Trie) -> dict[str, Any]:
        return {k: as_dict(c) for k, c in trie.children.items()}

    rng = random.Random(3)
    tests = [json.dumps(t, sort_keys=True) for t in (
        *({"t": "ctx"}, {"g": 0}),
        *({"tumour.primary_site": s} for s in ("pancreas", "colon", "rectum")),
        *({"$gt": {"tumour.ki67_percent": k}} for k in (3, 10, 20, 55)),
        *({f"candidate.{o}": True} for o in ("ssa", "prrt", "everolimus")),
        {"$nex": {"imaging.sstr": 1}},
        {"$or": [{"node.A": True}, {"node.B": True}]},
    )]
    for _ in range(30):
        trie = _Trie()
        for _ in range(80):
            chain = rng.sample(tests, rng.randint(1, 5))
            before = as_dict(trie)
            added = trie.try_add(chain, PENDING_BUDGET)
            full = worst_pending(as_dict(trie))
            assert trie.worst == full
            if not added:
                assert as_dict(trie) == before
            assert full <= PENDING_BUDGET or not added


def test_specialise_decides_only_the_known_facts() -> None:
    # Population rulesets are compiled with the site and category decided; a leaf on any
    # other path must survive untouched, and an absent known fact behaves like durable's
    # (comparisons false, $nex true).
    from cds.knowledge.conditions import specialise, specialise_all

    known = {"tumour.primary_site": "pancreas", "derived.category": None}
    assert specialise({"tumour.primary_site": "pancreas"}, known) is True
    assert specialise({"tumour.primary_site": "colon"}, known) is False
    assert specialise({"$nex": {"derived.category": 1}}, known) is True
    assert specialise({"derived.category": "net_g1"}, known) is False
    keep = {"$gte": {"tumour.ki67_percent": 3}}
    assert specialise(keep, known) == keep
    either = {"$or": [{"tumour.primary_site": "colon"}, keep]}
    assert specialise(either, known) == keep
    assert specialise({"$or": [{"tumour.primary_site": "pancreas"}, keep]}, known) is True
    assert specialise({"$and": [{"tumour.primary_site": "pancreas"}, keep]}, known) == keep
    assert specialise_all([{"tumour.primary_site": "pancreas"}, keep], known) == [keep]
    assert specialise_all([{"tumour.primary_site": "colon"}, keep], known) is None


def test_populations_with_the_same_rules_share_one_ruleset() -> None:
    from cds.engine.compiler import Population

    engine = Engine(load_knowledge())
    stomach = engine._stages(Population("stomach", "nec"))
    duodenum = engine._stages(Population("duodenum", "nec"))
    assert stomach[0] is duodenum[0]  # the NEC pathway has no stomach- or duodenum-only edge
    rectum = engine._stages(Population("rectum", "nec"))
    assert rectum[0] is not stomach[0]  # rectal NEC adds chemoradiotherapy edges
    pancreas = engine._stages(Population("pancreas", "net_g2"))
    assert pancreas[0] is not stomach[0]
    engine.close()


def test_stage_three_results_do_not_depend_on_durable_firing_order() -> None:
    # durable_rules fires in an order that changes with the compiled ruleset (knowledge
    # edits, compiler changes). Arguments, exclusions, alerts, missing data and schedules
    # must come out the same whatever that order: replay each patient's fired rules reversed.
    from cds.engine.durable_host import RuleSet
    from tests.strategies import random_patients

    engine = Engine(load_knowledge())
    patients = [Patient.model_validate(p) for p in random_patients(150, seed=5)]
    expected = [engine.evaluate(p).model_dump_json() for p in patients]
    original = RuleSet.run

    def reversed_knowledge(self: RuleSet, facts: Any, payload: Any = None) -> list[str]:
        fired = original(self, facts, payload)
        return fired[::-1] if self.name.startswith("knowledge.") else fired

    try:
        RuleSet.run = reversed_knowledge  # type: ignore[method-assign]
        got = [engine.evaluate(p).model_dump_json() for p in patients]
    finally:
        RuleSet.run = original  # type: ignore[method-assign]
    engine.close()
    assert got == expected
