"""Compile validated knowledge into durable_rules rulesets (JSON form).

Three stages, each a ruleset evaluated in its own session:

1. ``classification``: rules whose effects all ``derive``. The patient is one
   ``ctx`` fact; every derived value is its own ``derived`` fact, so rules chain
   (grade from Ki-67 and from mitoses, then the higher grade, then category).
2. ``pathways``: each pathway's entry condition reaches its start node; each
   edge is a rule joining a ``node`` fact with a condition on ``ctx`` that
   either reaches the next node or proposes an option.
3. ``knowledge``: modifier (argue), contraindication (exclude) and alert rules
   over ``ctx``, which now also holds ``derived``, ``candidate``, ``node`` and
   ``pathway`` maps.

Stages 2 and 3 are compiled per *population* (primary site x derived
category): a rule whose conditions pin ``tumour.primary_site`` or
``derived.category`` goes only into the rulesets of the populations it can
apply to, because a durable session costs time for every rule it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cds.engine.durable_host import CompiledRule
from cds.knowledge import conditions as cond
from cds.knowledge.loader import KnowledgeBase
from cds.knowledge.schema import Pathway, PathwayEdge, Rule

CTX = "ctx"
NODE = "node"
DERIVED = "derived"

SITE_PATH = "tumour.primary_site"
CATEGORY_PATH = "derived.category"


@dataclass(frozen=True)
class Population:
    site: str
    category: str | None

    @property
    def name(self) -> str:
        return f"{self.site}.{self.category or 'unclassified'}"


# --------------------------------------------------------------- what each rule means
# The engine reads results back by rule name; these records say what a name means.


@dataclass(frozen=True)
class EdgeMeaning:
    pathway: str
    edge: PathwayEdge


@dataclass(frozen=True)
class EntryMeaning:
    pathway: str
    start: str


@dataclass(frozen=True)
class RuleMeaning:
    rule: Rule
    option: str | None  # set when this durable rule carries one option's effects


@dataclass
class Compiled:
    rules: list[CompiledRule] = field(default_factory=list)
    meaning: dict[str, EdgeMeaning | EntryMeaning | RuleMeaning] = field(default_factory=dict)
    # The context paths this ruleset's conditions read, as a tree of path segments.
    # The engine posts only these: durable_rules serialises the matched facts for every
    # action it runs, so a smaller fact makes every firing cheaper.
    reads: dict[str, Any] = field(default_factory=dict)

    def read(self, conds: Sequence[Mapping[str, Any]]) -> None:
        for path in cond.paths(conds):
            node = self.reads
            for part in path.split("."):
                node = node.setdefault(part, {})


def project(ctx: Mapping[str, Any], reads: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only the parts of ``ctx`` that ``reads`` names (see Compiled.reads)."""
    out: dict[str, Any] = {}
    for key, sub in reads.items():
        if key not in ctx:
            continue
        value = ctx[key]
        if sub and isinstance(value, Mapping):
            inner = project(value, sub)
            if inner:
                out[key] = inner
        elif not sub:
            out[key] = value
    return out


def _order(conds: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Equalities first, population keys leading, so alpha nodes stay shared and shallow.

    durable_rules fails with error 303 when more than 64 alpha tests are pending
    at once; putting selective equality tests first keeps that number small
    (durable-rules.md section 3.3).
    """
    def key(c: Mapping[str, Any]) -> tuple[int, str]:
        if cond.is_equality(c):
            ((path, _),) = c.items()
            lead = 0 if path in (SITE_PATH, CATEGORY_PATH) else 1
            return (lead, path)
        return (2, "")

    return sorted(conds, key=key)


def _ctx_binding(conds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    tests = [{"t": CTX}] + [cond.to_durable(c) for c in _order(conds)]
    return {"m": {"$and": tests}}


# ----------------------------------------------------------------- classification


def compile_classification(kb: KnowledgeBase) -> Compiled:
    out = Compiled()
    for loaded in kb.rules:
        rule = loaded.rule
        if rule.stage != "classification":
            continue
        ctx_conds: list[Mapping[str, Any]] = []
        by_key: dict[str, list[Mapping[str, Any]]] = {}
        for c in rule.when:
            derived_paths = {p for p in cond.paths([c]) if p.startswith("derived.")}
            if derived_paths:
                (path,) = derived_paths  # loader guarantees one derived key per condition
                by_key.setdefault(path.removeprefix("derived."), []).append(c)
            else:
                ctx_conds.append(c)
        bindings: list[dict[str, Any]] = []
        if ctx_conds or not by_key:
            bindings.append(_ctx_binding(ctx_conds))
        for i, (_, conds) in enumerate(sorted(by_key.items())):
            tests = [{"t": DERIVED}] + [cond.to_durable(c, "derived.") for c in _order(conds)]
            bindings.append({f"d{i}": {"$and": tests}})
        asserts = tuple(
            {"t": DERIVED, e.derive.key: e.derive.value} for e in rule.then if e.derive is not None
        )
        out.rules.append(CompiledRule(rule.id, {"all": bindings}, asserts))
        out.meaning[rule.id] = RuleMeaning(rule, None)
        out.read(ctx_conds)
    return out


# ---------------------------------------------------------------------- populations


def applies_to(conds: Sequence[Mapping[str, Any]], population: Population) -> bool:
    sites = cond.static_domain(conds, SITE_PATH)
    if sites is not None and population.site not in sites:
        return False
    categories = cond.static_domain(conds, CATEGORY_PATH)
    return categories is None or population.category in categories


def compile_pathways(kb: KnowledgeBase, population: Population) -> Compiled:
    out = Compiled()
    for pw in kb.pathways:
        if not applies_to(pw.when, population):
            continue
        _compile_pathway(pw, out)
    return out


def _compile_pathway(pw: Pathway, out: Compiled) -> None:
    entry = f"enter:{pw.id}"
    out.rules.append(
        CompiledRule(entry, {"all": [_ctx_binding(pw.when)]}, ({"t": NODE, "node": pw.start},))
    )
    out.meaning[entry] = EntryMeaning(pw.id, pw.start)
    out.read(pw.when)
    for edge in pw.edges:
        out.read(edge.when)
        node = {"n": {"$and": [{"t": NODE}, {"node": edge.from_}]}}
        bindings: list[dict[str, Any]] = [node]
        if edge.when:
            bindings.append(_ctx_binding(edge.when))
        asserts = ({"t": NODE, "node": edge.to},) if edge.to is not None else ()
        out.rules.append(CompiledRule(edge.id, {"all": bindings}, asserts))
        out.meaning[edge.id] = EdgeMeaning(pw.id, edge)


def compile_knowledge(kb: KnowledgeBase, population: Population) -> Compiled:
    out = Compiled()
    for loaded in kb.rules:
        rule = loaded.rule
        if rule.stage != "knowledge" or not applies_to(rule.when, population):
            continue
        targets = sorted(
            {(e.argue or e.exclude).option for e in rule.then if (e.argue or e.exclude)}  # type: ignore[union-attr]
        )
        out.read(rule.when)
        if not targets:
            out.rules.append(CompiledRule(rule.id, {"all": [_ctx_binding(rule.when)]}))
            out.meaning[rule.id] = RuleMeaning(rule, None)
            continue
        for option in targets:
            name = f"{rule.id}#{option}"
            conds = [{f"candidate.{option}": True}, *rule.when]
            out.read(conds)
            out.rules.append(CompiledRule(name, {"all": [_ctx_binding(conds)]}))
            out.meaning[name] = RuleMeaning(rule, option)
    return out
