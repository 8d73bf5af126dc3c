"""The lint checks that keep evidence honest: kinds that match their sources, sources that can be found.

Each case copies the fixture knowledge base, changes one thing, and checks that ``cds knowledge
lint`` reports it as an error (and stops reporting it once fixed). The bundled knowledge is
checked clean by ``test_knowledge_loading.test_bundled_knowledge_loads_and_lints_without_errors``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds import load_knowledge
from cds.errors import Problem
from cds.lint import (
    COPY_SITES,
    check_evidence_sources,
    check_source_links,
    copy_site,
    evidence_mismatch,
    lint,
)

MINI = Path(__file__).parent / "fixtures" / "mini"
RULES = "knowledge/recommendations/test/mini-arguments/recommendation.yaml"
CLASSIFICATION = "knowledge/recommendations/test/mini-classification/recommendation.yaml"
PATHWAY = "pathways/pnet_test.yaml"


def _copy(tmp_path: Path, edits: dict[str, Callable[[Any], None]]) -> Path:
    root = tmp_path / "kb"
    shutil.copytree(MINI, root)
    for file, change in edits.items():
        path = root / file
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return root


def _rule(data: Any, rule_id: str) -> Any:
    rules = data["rules"] if isinstance(data, dict) else data
    return next(r for r in rules if r["id"] == rule_id)


def _add_kinds(data: Any) -> None:
    data["scale"] += [{"kind": "label", "label": {"en": "l", "fr": "l"}},
                      {"kind": "definition", "label": {"en": "d", "fr": "d"}}]


def _findings(root: Path, check: Callable[[Any], list[Problem]]) -> dict[str, Problem]:
    kb = load_knowledge(root / "knowledge", root / "pathways")
    return {p.loc: p for p in check(kb)}


# ------------------------------------------------------------- evidence vs sources


@pytest.mark.parametrize(("kind", "source_kinds", "classification", "fits"), [
    ("label", {"label", "trial_phase3"}, False, True),
    ("label", {"trial_phase3", "guideline"}, False, False),
    ("rct_phase3", {"trial_phase2"}, False, False),       # a phase 3 level needs a phase 3 trial
    ("rct_phase3", {"meta_analysis"}, False, True),
    ("rct_phase2", {"trial_phase3"}, False, True),
    ("single_arm_phase2", {"guideline"}, False, False),
    ("expert_consensus", {"trial_phase2"}, False, True),  # trial eligibility criteria: consensus
    ("definition", {"trial_phase3"}, True, True),
    ("policy", {"policy"}, True, True),
    ("rct_phase3", {"trial_phase3"}, True, False),        # a definition is not trial evidence
    ("guideline_consensus", {"classification"}, True, False),
])
def test_evidence_mismatch(kind: str, source_kinds: set[str], classification: bool, fits: bool) -> None:
    assert (evidence_mismatch(kind, source_kinds, classification) is None) is fits


def test_a_label_kind_without_a_label_source_is_an_error(tmp_path: Path) -> None:
    root = _copy(tmp_path, {
        "knowledge/catalogues/evidence-scale.yaml": _add_kinds,
        RULES: lambda d: _rule(d, "mod.ssa_low")["evidence"].update(kind="label"),
    })
    found = _findings(root, check_evidence_sources)
    assert found["mod.ssa_low"].level == "error"
    assert "no source of kind label" in found["mod.ssa_low"].message
    assert found["mod.ssa_low"].file == RULES


def test_a_trial_level_resting_on_a_guideline_is_an_error(tmp_path: Path) -> None:
    root = _copy(tmp_path, {RULES: lambda d: _rule(d, "mod.ssa_low").update(sources=["esmo_2020"])})
    found = _findings(root, check_evidence_sources)
    assert "'rct_phase3' but no source of kind meta_analysis or trial_phase3" in found["mod.ssa_low"].message
    # in the full lint run, as an error
    assert any(p.code == "evidence_source_kind" and p.loc == "mod.ssa_low" and p.level == "error"
               for p in lint(load_knowledge(root / "knowledge", root / "pathways"), coverage=False))


def test_a_pathway_edge_is_checked_too(tmp_path: Path) -> None:
    root = _copy(tmp_path, {PATHWAY: lambda d: next(e for e in d["edges"] if e["id"] == "pnet.ssa").update(
        sources=["esmo_2020"])})
    assert _findings(root, check_evidence_sources)["pnet.ssa"].file == PATHWAY


def test_a_classification_rule_carries_a_definition_kind(tmp_path: Path) -> None:
    rule_id = "class.grade.ki67_g1.mitoses_g1"
    root = _copy(tmp_path, {
        "knowledge/catalogues/evidence-scale.yaml": _add_kinds,
        CLASSIFICATION: lambda d: _rule(d, rule_id)["evidence"].update(kind="rct_phase3"),
    })
    assert "applies a definition" in _findings(root, check_evidence_sources)[rule_id].message
    fixed = _copy(tmp_path / "fixed", {
        "knowledge/catalogues/evidence-scale.yaml": _add_kinds,
        CLASSIFICATION: lambda d: _rule(d, rule_id)["evidence"].update(kind="definition"),
    })
    assert rule_id not in _findings(fixed, check_evidence_sources)


# ------------------------------------------------------------------- source links


def test_copy_site_matches_domains_and_subdomains() -> None:
    assert copy_site("https://www.researchgate.net/publication/1") == "researchgate.net"
    assert copy_site("https://sit.mimsdev.com/x") == "mimsdev.com"
    assert copy_site("https://pmc.ncbi.nlm.nih.gov/articles/PMC1") is None
    assert copy_site("https://notscribd.com/x") is None  # a suffix is not a subdomain
    assert all(d == d.lower() and "/" not in d for d in COPY_SITES)


def _source(data: Any, source_id: str) -> Any:
    return next(s for s in data["sources"] if s["id"] == source_id)


def test_a_source_on_a_copy_site_is_an_error(tmp_path: Path) -> None:
    root = _copy(tmp_path, {"knowledge/catalogues/sources/sources.yaml": lambda d: _source(d, "who_2019").update(
        url="https://www.scribd.com/document/1/who", no_identifier_reason="book")})
    codes = {(p.code, p.loc, p.level) for p in check_source_links(
        load_knowledge(root / "knowledge", root / "pathways"))}
    assert ("source_copy_site", "who_2019", "error") in codes
    assert ("source_without_identifier", "who_2019", "error") not in codes


def test_a_source_without_doi_pmid_url_or_reason_is_an_error(tmp_path: Path) -> None:
    root = _copy(tmp_path, {"knowledge/catalogues/sources/sources.yaml": lambda d: _source(d, "esmo_2020").update(
        doi="10.1016/j.annonc.2020.03.304")})
    found = _findings(root, check_source_links)
    assert found["who_2019"].code == "source_without_identifier" and found["who_2019"].level == "error"
    assert "esmo_2020" not in found  # a DOI is enough
