"""Knowledge that is wrong fails at load, with the file, the rule id and a fix.

Each case copies the fixture knowledge base, introduces one named defect, and
checks the error code and the message. A final test loads the real knowledge
and lists every problem at once.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds import KnowledgeError, load_knowledge
from cds.lint import lint

MINI = Path(__file__).parent / "fixtures" / "mini"


def _edit(path: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _rule(data: Any, rule_id: str) -> Any:
    return next(r for r in data["rules"] if r["id"] == rule_id)


RULES = "knowledge/recommendations/test/mini-arguments/recommendation.yaml"
PATHWAY = "pathways/pnet_test.yaml"

DEFECTS: dict[str, tuple[str, Callable[[Any], None], str, str]] = {
    "rule_references_unknown_field": (
        RULES,
        lambda d: _rule(d, "mod.ssa_low").update(when=[{"$lt": {"tumour.ki67_pct": 10}}]),
        "condition", "did you mean 'tumour.ki67_percent'",
    ),
    "rule_uses_unknown_enum_value": (
        RULES,
        lambda d: _rule(d, "mod.prrt_sstr_neg").update(when=[{"imaging.sstr": "negatve"}]),
        "condition", "did you mean 'negative'",
    ),
    "rule_compares_text_with_number": (
        RULES,
        lambda d: _rule(d, "mod.ssa_low").update(when=[{"$lt": {"tumour.ki67_percent": "10"}}]),
        "condition", "is a number",
    ),
    "rule_uses_in_operator": (
        RULES,
        lambda d: _rule(d, "mod.ssa_low").update(when=[{"$in": {"imaging.sstr": ["positive"]}}]),
        "condition", "no $in",
    ),
    "rule_cites_unknown_source": (
        RULES,
        lambda d: _rule(d, "mod.ssa_low").update(sources=["clarinet_2041"]),
        "unknown_source", "did you mean 'clarinet_2014'",
    ),
    "unconfirmed_rule_excludes": (
        RULES,
        lambda d: _rule(d, "mod.prrt_sstr_neg").update(confirmation="U"),
        "unconfirmed_exclusion", "may not exclude",
    ),
    "rule_argues_unknown_option": (
        RULES,
        lambda d: _rule(d, "mod.ssa_low")["then"][0]["argue"].update(option="sandostatin"),
        "unknown_option", "not in catalogues/options.yaml",
    ),
    "rule_raises_unknown_alert": (
        RULES,
        lambda d: _rule(d, "alert.missing_ki67")["then"][0]["alert"].update(id="missing_ki76"),
        "unknown_alert", "did you mean 'missing_ki67'",
    ),
    "rule_without_french_reason": (
        RULES,
        lambda d: _rule(d, "mod.ssa_low")["because"].pop("fr"),
        "schema", "Field required",
    ),
    "rule_with_unknown_setting": (
        RULES,
        lambda d: _rule(d, "mod.ssa_low").update(
            when=[{"$lt": {"tumour.ki67_percent": {"setting": "no_such_setting"}}}]),
        "unknown_setting", "unknown setting",
    ),
    "duplicate_rule_id": (
        RULES,
        lambda d: d["rules"].append(dict(_rule(d, "mod.ssa_low"))),
        "duplicate_id", "already used",
    ),
    "edge_to_unknown_node": (
        PATHWAY,
        lambda d: d["edges"][0].update(to="Metastatik"),
        "unknown_node", "did you mean 'Metastatic'",
    ),
    "proposal_without_source": (
        PATHWAY,
        lambda d: d["edges"][1].update(sources=[]),
        "schema", "sources",
    ),
    "late_fact_in_pathway": (
        PATHWAY,
        lambda d: d["edges"][1].update(when=[{"candidate.ssa": True}]),
        "condition", "only known after the pathways ran",
    ),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defect_is_reported(tmp_path: Path, defect: str) -> None:
    file, change, code, text = DEFECTS[defect]
    root = tmp_path / "kb"
    shutil.copytree(MINI, root)
    _edit(root / file, change)
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(root / "knowledge", root / "pathways")
    problems = info.value.problems
    assert any(p.code == code and text in p.message for p in problems), problems


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    shutil.copytree(MINI, root)
    _edit(root / RULES, DEFECTS["rule_cites_unknown_source"][1])
    _edit(root / PATHWAY, DEFECTS["edge_to_unknown_node"][1])
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(root / "knowledge", root / "pathways")
    assert {p.code for p in info.value.problems} >= {"unknown_source", "unknown_node"}


@pytest.mark.parametrize(("wrong", "right"), [
    ("{id: Metastatic, kind: decision,", "{id: Metastatic, kind: decisoin,"),   # a wrong value
    ("because: {en: ssa first line, fr: ass}", "because: {en: ssa first line}"),  # a missing field
])
def test_a_field_that_fails_validation_is_located_by_its_line(tmp_path: Path, wrong: str, right: str) -> None:
    root = tmp_path / "kb"
    shutil.copytree(MINI, root)
    path = root / PATHWAY
    text = path.read_text(encoding="utf-8")
    line = text[: text.index(wrong)].count("\n") + 1
    path.write_text(text.replace(wrong, right), encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(root / "knowledge", root / "pathways")
    schema = [p for p in info.value.problems if p.code == "schema"]
    assert [(p.file, p.line) for p in schema] == [(PATHWAY, line)], schema
    assert str(schema[0]).startswith(f"{PATHWAY}:{line}: ")


def test_version_is_semver_plus_content_hash(tmp_path: Path) -> None:
    kb = load_knowledge(MINI / "knowledge", MINI / "pathways")
    semver, digest = kb.version.split("+")
    assert semver.count(".") == 2 and len(digest) == 12
    root = tmp_path / "kb"
    shutil.copytree(MINI, root)
    _edit(root / RULES, lambda d: _rule(d, "mod.ssa_low")["because"].update(en="changed"))
    assert load_knowledge(root / "knowledge", root / "pathways").version != kb.version


def test_lint_flags_unreachable_nodes_and_dead_ends(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    shutil.copytree(MINI, root)
    _edit(root / PATHWAY, lambda d: d["nodes"].append(
        {"id": "Orphan", "kind": "situation", "label": {"en": "o", "fr": "o"}}))
    kb = load_knowledge(root / "knowledge", root / "pathways")
    codes = {(f.code, f.loc) for f in lint(kb, coverage=False)}
    assert ("unreachable_node", "Orphan") in codes


def test_many_overlapping_thresholds_are_packed_below_durable_limits(tmp_path: Path) -> None:
    # 70 thresholds on one field would leave 70 alpha tests pending for a large tumour
    # (durable_rules error 303 above 64). The compiler packs rules into context groups
    # so that no posted fact can exceed the budget, and the patient evaluates.
    from cds import Engine, Patient
    from cds.engine import compiler
    from cds.engine.compiler import Population

    root = tmp_path / "kb"
    shutil.copytree(MINI, root)

    def many_thresholds(d: Any) -> None:
        base = _rule(d, "mod.ssa_low")
        for i in range(70):
            clone = yaml.safe_load(yaml.safe_dump(base))
            clone["id"] = f"mod.threshold_{i}"
            clone["when"] = [{"$gt": {"tumour.size_mm": i + 1}}]
            d["rules"].append(clone)

    _edit(root / RULES, many_thresholds)
    kb = load_knowledge(root / "knowledge", root / "pathways")
    compiled = compiler.compile_knowledge(kb, Population("pancreas", "net_g2"))
    assert len(compiled.groups) >= 2
    assert not [f for f in lint(kb, coverage=False) if f.code == "durable_pending"]
    engine = Engine(kb)
    rec = engine.evaluate(Patient.model_validate({
        "tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 5,
                   "size_mm": 400},
        "disease": {"stage": "metastatic"}, "imaging": {"sstr": "positive"},
    }))
    engine.close()
    assert sum(r.startswith("mod.threshold_") for r in rec.trace.fired_rules) == 70


def test_lint_detects_a_ruleset_over_the_pending_limit() -> None:
    from cds.engine.durable_host import CompiledRule
    from cds.lint import _ruleset_limits

    flat = [
        CompiledRule(f"r{i}", {"all": [{"m": {"$and": [{"t": "ctx"}, {"$gt": {"v": i}}]}}]})
        for i in range(70)
    ]
    assert [f.code for f in _ruleset_limits("probe", flat)] == ["durable_pending"]


def test_bundled_knowledge_loads_and_lints_without_errors() -> None:
    kb = load_knowledge()
    errors = [f for f in lint(kb, coverage=False) if f.level == "error"]
    assert not errors, "\n".join(map(str, errors))


def test_parse_cache_is_used_and_survives_a_corrupt_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsed YAML is cached by content hash; a damaged cache entry is parsed again, never trusted."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = load_knowledge()
    entries = sorted(tmp_path.rglob("*.marshal"))
    assert entries, "nothing cached"
    for entry in entries:
        entry.write_bytes(b"\x00not marshal")
    again = load_knowledge()
    assert again.version == first.version and len(again.rules) == len(first.rules)
    monkeypatch.setenv("NETCDS_NO_PARSE_CACHE", "1")
    assert load_knowledge().version == first.version
