"""Pathway edge labels: the lint checks that every edge has one, short, stating only tested numbers.

An edge's label is its condition in clinical shorthand, the caption a reader sees on the branch of
a pathway picture. The checks run on the small fixture knowledge base with one pathway written
here, and on the bundled knowledge (no label states a number its condition does not test).
"""

from __future__ import annotations

import doctest
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds import KnowledgeError, load_knowledge
from cds import lint as lint_mod
from cds.errors import Problem
from cds.knowledge import setting_refs
from cds.lint import MAX_EDGE_LABEL, check_edge_labels, lint

MINI = Path(__file__).parent / "fixtures" / "mini"
FILE = "pathways/pnet_labels.yaml"
SOURCE = {"sources": [{"id": "src", "title": "t"}]}


def _edge(edge_id: str, when: list[Any], label: dict[str, str] | None, **more: Any) -> dict[str, Any]:
    edge: dict[str, Any] = {"id": edge_id, "from": "Assess_PNET", "when": when, **more}
    if label is not None:
        edge["label"] = label
    if "to" not in more:
        edge.update(propose="ssa", strength=2, because={"en": "b", "fr": "b"}, sources=["clarinet_2014"],
                    evidence={"kind": "rct_phase3"}, confirmation="V")
    return edge


def _problems(tmp_path: Path, *edges: dict[str, Any]) -> list[Problem]:
    """The edge-label findings on a one-node pathway holding ``edges``, next to the mini knowledge."""
    pathway = {
        "id": "pnet_labels",
        "title": {"en": "pNET", "fr": "TNEp"},
        "when": [{"tumour.primary_site": "pancreas"}],
        "start": "Assess_PNET",
        "nodes": [{"id": "Assess_PNET", "kind": "start", "label": {"en": "a", "fr": "a"}}],
        "edges": list(edges),
    }
    folder = tmp_path / "pathways"
    folder.mkdir()
    (folder / "pnet_labels.yaml").write_text(yaml.safe_dump(pathway, allow_unicode=True), encoding="utf-8")
    knowledge = tmp_path / "knowledge"
    shutil.copytree(MINI / "knowledge", knowledge)
    owner = knowledge / "recommendations" / "test" / "mini-arguments" / "recommendation.yaml"
    data = yaml.safe_load(owner.read_text(encoding="utf-8"))
    data["edges"] = []  # the mini pathway is not loaded here
    owner.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    kb = load_knowledge(knowledge, folder)
    return check_edge_labels(kb)


def _codes(problems: list[Problem]) -> list[tuple[str, str, str]]:
    return [(p.code, p.level, p.loc) for p in problems]


def test_doctests() -> None:
    assert doctest.testmod(lint_mod).failed == 0
    assert doctest.testmod(setting_refs).failed == 0


# ------------------------------------------------------------------ edge_label_missing


def test_an_edge_without_a_label_is_an_error(tmp_path: Path) -> None:
    found = _problems(tmp_path,
                      _edge("pnet.unlabelled", [{"disease.stage": "metastatic"}], None),
                      _edge("pnet.labelled", [{"disease.stage": "metastatic"}],
                            {"en": "Metastatic", "fr": "Métastatique"}))
    assert _codes(found) == [("edge_label_missing", "error", "pnet.unlabelled")]
    assert found[0].file == FILE
    assert "label: {en: ..., fr: ...}" in found[0].message


def test_a_label_needs_both_languages(tmp_path: Path) -> None:
    """The schema already refuses a label in one language only: the knowledge does not load."""
    with pytest.raises(KnowledgeError):
        _problems(tmp_path, _edge("pnet.half", [{"disease.stage": "metastatic"}], {"en": "Metastatic"}))


# ------------------------------------------------------------------ edge_label_too_long


def test_a_label_over_the_limit_is_a_warning_per_language(tmp_path: Path) -> None:
    long_fr = "Métastatique, " + "x" * MAX_EDGE_LABEL
    found = _problems(
        tmp_path,
        _edge("pnet.long", [{"disease.stage": "metastatic"}], {"en": "Metastatic", "fr": long_fr}),
        _edge("pnet.at_limit", [{"disease.stage": "metastatic"}],
              {"en": "M" * MAX_EDGE_LABEL, "fr": "Métastatique"}),
    )
    assert _codes(found) == [("edge_label_too_long", "warning", "pnet.long.label.fr")]
    assert f"{len(long_fr)} characters" in found[0].message


# ------------------------------------------------------------------ edge_label_number


def test_numbers_the_condition_tests_are_accepted(tmp_path: Path) -> None:
    """Literals, both ends of a range, a setting's value, a decimal comma; identifiers are no numbers."""
    when = [{"$gte": {"tumour.ki67_percent": 10}}, {"$lte": {"tumour.ki67_percent": 55}},
            {"$or": [{"$lte": {"ecog": 2}}, {"$nex": {"ecog": 1}}]},
            {"$lte": {"disease.liver_tumour_burden_percent": {"setting": "low_liver_burden_percent"}}},
            {"$gt": {"tumour.size_mm": 1.5}}]
    label = {"en": "Ki-67 10-55 %, ECOG <= 2 or not stated, liver <= {setting:low_liver_burden_percent} %, "
                   "> 1.5 mm, G3",
             "fr": "Ki-67 10-55 %, ECOG <= 2, foie <= {setting:low_liver_burden_percent} %, > 1,5 mm, NEM1"}
    assert _problems(tmp_path, _edge("pnet.numbers", when, label)) == []


def test_a_number_the_condition_does_not_test_is_an_error(tmp_path: Path) -> None:
    when = [{"$gte": {"ecog": 3}}]
    found = _problems(tmp_path, _edge("pnet.ecog", when, {"en": "ECOG 3-4", "fr": "ECOG >= 3"}))
    assert _codes(found) == [("edge_label_number", "error", "pnet.ecog.label.en")]
    assert "states 4" in found[0].message and "its numbers: 3" in found[0].message


def test_a_setting_the_condition_does_not_read_is_an_error(tmp_path: Path) -> None:
    """A placeholder of another setting puts in a number the condition does not test."""
    when = [{"$gt": {"disease.liver_tumour_burden_percent": {"setting": "high_liver_burden_percent"}}}]
    label = {"en": "Liver > {setting:high_liver_burden_percent} %",
             "fr": "Foie > {setting:low_liver_burden_percent} %"}
    found = _problems(tmp_path, _edge("pnet.liver", when, label))
    assert _codes(found) == [("edge_label_number", "error", "pnet.liver.label.fr")]
    assert "states 10" in found[0].message and "its numbers: 25" in found[0].message


def test_an_unconditional_edge_states_no_number(tmp_path: Path) -> None:
    found = _problems(tmp_path,
                      _edge("pnet.always", [], {"en": "In all cases", "fr": "Dans tous les cas"}),
                      _edge("pnet.always_20", [], {"en": "<= 20 mm", "fr": "<= 20 mm"}))
    assert _codes(found) == [("edge_label_number", "error", "pnet.always_20.label.en"),
                             ("edge_label_number", "error", "pnet.always_20.label.fr")]
    assert "(its numbers: none)" in found[0].message


def test_a_to_edge_is_checked_like_a_proposal(tmp_path: Path) -> None:
    """Edges to a node carry labels too (the pathway is a graph of one node here: the edge loops)."""
    found = _problems(tmp_path, _edge("pnet.loop", [{"$lt": {"tumour.ki67_percent": 10}}],
                                      {"en": "Ki-67 < 20 %", "fr": "Ki-67 < 10 %"}, to="Assess_PNET"))
    assert ("edge_label_number", "error", "pnet.loop.label.en") in _codes(found)


# ------------------------------------------------------------------ bundled knowledge


def test_lint_runs_the_label_checks() -> None:
    kb = load_knowledge()
    found = [p for p in lint(kb, coverage=False) if p.code.startswith("edge_label")]
    assert sorted(found, key=str) == sorted(check_edge_labels(kb), key=str)


def test_no_bundled_label_states_an_untested_number_or_runs_long() -> None:
    kb = load_knowledge()
    found = check_edge_labels(kb)
    assert [str(p) for p in found if p.code != "edge_label_missing"] == []
    # the labelled pathways, every edge captioned
    labelled = {"pnet_well_differentiated", "si_net", "gep_net_advanced_other", "nec_minen", "fitness",
                "unknown_primary"}
    files = {kb.pathway_files[name] for name in labelled}
    assert not [p for p in found if p.file in files]
