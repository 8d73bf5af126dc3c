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
category), because a durable session costs time and memory for every rule it
holds: conditions are specialised for the population (its site and category
tests decided at compile time), rules and edges that can never hold are left
out, and populations that end up with the same rules share one ruleset.
Translations are cached per knowledge base (:class:`_Caches`), so building
every population eagerly takes about half a second.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cds.engine.durable_host import CompiledRule
from cds.knowledge import conditions as cond
from cds.knowledge.loader import KnowledgeBase
from cds.knowledge.schema import OPTION_EFFECTS, Pathway, PathwayEdge, Rule

CTX = "ctx"
AT = "at"
DERIVED = "derived"

SITE_PATH = "tumour.primary_site"
CATEGORY_PATH = "derived.category"


@dataclass(frozen=True)
class Population:
    """The patients one pathway and knowledge ruleset is compiled for: a primary site and a
    derived category (None when the classification derived none).

    Examples
    --------
    >>> Population("pancreas", "net_g1").name, Population("appendix", None).name
    ('pancreas.net_g1', 'appendix.unclassified')
    """

    site: str
    category: str | None

    @property
    def name(self) -> str:
        """``site.category`` (``unclassified`` without a category): the population in traces and errors."""
        return f"{self.site}.{self.category or 'unclassified'}"


# --------------------------------------------------------------- what each rule means
# The engine reads results back by rule name; these records say what a name means.


@dataclass(frozen=True)
class EdgeMeaning:
    """A durable rule that is one pathway edge: it reached the next step or proposed an option.

    Examples
    --------
    >>> from cds import default_engine
    >>> stage = compile_pathways(default_engine().kb, Population("pancreas", "net_g1"))
    >>> meaning = stage.meaning["pnet.to_nf_localized"]
    >>> meaning.pathway, meaning.edge.to
    ('pnet_well_differentiated', 'PNET_NF_Localized')
    """

    pathway: str
    edge: PathwayEdge


@dataclass(frozen=True)
class EntryMeaning:
    """A durable rule that is a pathway's entry condition: the patient entered it at ``start``.

    Examples
    --------
    >>> from cds import default_engine
    >>> stage = compile_pathways(default_engine().kb, Population("pancreas", "net_g1"))
    >>> stage.meaning["enter:fitness"]
    EntryMeaning(pathway='fitness', start='FIT_Assess_Fitness')
    """

    pathway: str
    start: str


@dataclass(frozen=True)
class RuleMeaning:
    """A durable rule that is a knowledge rule, or the part of one that acts on one ``option``.

    Examples
    --------
    >>> from cds import default_engine
    >>> stage = compile_knowledge(default_engine().kb, Population("pancreas", "net_g1"))
    >>> meaning = stage.meaning["adv.progression.prrt_compete#prrt"]
    >>> meaning.rule.id, meaning.option
    ('adv.progression.prrt_compete', 'prrt')
    """

    rule: Rule
    # Set when this durable rule carries one option's effects; None: all of the rule's effects.
    option: str | None


@dataclass(frozen=True)
class RowMeaning:
    """One row (patient condition) of the contraindication matrix: every statement that names it.

    A patient meets a handful of rows at most, while the matrix holds hundreds of statements, so
    one durable rule per row (firing once) is much cheaper than one per statement. A statement's
    alerts are raised only when it acts on a proposed option (the engine checks).

    Examples
    --------
    >>> from cds import default_engine
    >>> stage = compile_knowledge(default_engine().kb, Population("pancreas", "net_g1"))
    >>> name = next(n for n in stage.meaning if n.startswith("matrix:egfr_below_30#"))   # numbered per subset
    >>> row = stage.meaning[name]
    >>> row.condition, row.rules[0].id
    ('egfr_below_30', 'safety.capecitabine_temozolomide.egfr_below_30')
    """

    condition: str
    rules: tuple[Rule, ...]


# Worst-case alpha tests pending per fact that a group of rules may reach. durable_rules
# fails at 64 (error 303, depending on the patient's values); lint flags anything above 60.
PENDING_BUDGET = 40


@dataclass
class _Pending:
    name: str
    ctx_conds: Sequence[Mapping[str, Any]] | None
    others: list[dict[str, Any]]
    asserts: tuple[Mapping[str, Any], ...]
    carry: str | None
    variant: Hashable


@dataclass
class Compiled:
    """One stage's durable rules, what each name means, and how to post the context.

    The context is posted as one fact per *group* (``{"t": "ctx", "g": i, ...}``).
    Rules are packed into groups so that no fact can leave more than
    ``PENDING_BUDGET`` alpha tests pending in durable_rules, whatever the
    patient's values; each group's fact carries only the paths its rules read,
    because durable_rules serialises the matched facts for every action it runs.

    Built by :func:`compile_classification`, :func:`compile_pathways` and
    :func:`compile_knowledge`: rules are added (:meth:`add`), then translated at once
    (:meth:`finish`).

    Examples
    --------
    >>> stage = Compiled()
    >>> stage.add("enter:demo", EntryMeaning("demo", "Start"), [{"$gt": {"tumour.size_mm": 20}}],
    ...           asserts=({"t": "at", "node": "Start"},))
    >>> stage.finish() is stage
    True
    >>> stage.rules[0].definition
    {'all': [{'m': {'$and': [{'t': 'ctx'}, {'g': 0}, {'$gt': {'tumour.size_mm': 20}}]}}]}
    >>> stage.groups   # the paths each group's fact carries
    [{'tumour': {'size_mm': {}}}]
    >>> context_facts({"tumour": {"size_mm": 25, "ki67_percent": 2}, "age": 60}, stage)
    [{'t': 'ctx', 'g': 0, 'tumour': {'size_mm': 25}}]
    """

    rules: list[CompiledRule] = field(default_factory=list)
    meaning: dict[str, EdgeMeaning | EntryMeaning | RuleMeaning | RowMeaning] = field(default_factory=dict)
    groups: list[dict[str, Any]] = field(default_factory=list)
    # Per pathway node, the paths its position fact carries: what its outgoing edges read.
    carried: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Durable tests and read paths per rule name and variant (the population facts its
    # conditions were specialised for), shared by every population's compile.
    cache: dict[tuple[str, Hashable], tuple[list[dict[str, Any]], list[str], set[str]]] = field(
        default_factory=dict
    )
    # What was compiled: (rule name, variant) in order. Equal signatures give equal rulesets
    # (the translation is a function of these), which lets populations share one.
    signature: tuple[tuple[str, Hashable], ...] = ()
    # The same reads as projections, ready for each patient (set by finish()).
    group_plans: list[Projection] = field(default_factory=list)
    carried_plans: dict[str, Projection] = field(default_factory=dict)
    _pending: list[_Pending] = field(default_factory=list)

    def add(
        self,
        name: str,
        meaning: EdgeMeaning | EntryMeaning | RuleMeaning | RowMeaning,
        ctx_conds: Sequence[Mapping[str, Any]] | None,
        others: Sequence[dict[str, Any]] = (),
        asserts: tuple[Mapping[str, Any], ...] = (),
        carry: str | None = None,
        variant: Hashable = None,
    ) -> None:
        """Add one durable rule, translated later by :meth:`finish`.

        Parameters
        ----------
        name
            The durable rule's name, unique in the stage: the engine reads results back by it.
        meaning
            What the name means (an edge, a pathway entry, a knowledge rule or a matrix row).
        ctx_conds
            Conditions on the context (condition language), or None when the rule binds no
            context fact (a pathway edge binds its node's position fact; a classification
            rule may bind derived facts only).
        others
            Further durable bindings (a position fact, derived facts).
        asserts
            The facts the rule asserts when it fires.
        carry
            The payload entry its asserted facts carry (see :meth:`cds.engine.durable_host.RuleSet.run`).
        variant
            Which specialisation of the conditions this is: equal (name, variant) pairs translate alike.

        Examples
        --------
        >>> stage = Compiled()
        >>> stage.add("r1", EntryMeaning("demo", "Start"), [{"age": 60}])
        >>> stage.meaning["r1"], stage.rules   # translated by finish()
        (EntryMeaning(pathway='demo', start='Start'), [])
        """
        self._pending.append(_Pending(name, ctx_conds, list(others), asserts, carry, variant))
        self.meaning[name] = meaning

    def finish(self, shared: dict[Any, Compiled] | None = None) -> Compiled:
        """Translate the rules added so far; ``shared`` maps signatures to finished stages, so
        populations that compile to the same rules get the same object.

        Parameters
        ----------
        shared
            Finished stages by signature; this stage is added to it when it is new.

        Returns
        -------
        Compiled
            This stage, translated (rules, groups, projections); or the stage of ``shared``
            with the same signature, in which case this one is left untranslated.

        Examples
        --------
        >>> shared = {}
        >>> first, second = Compiled(), Compiled()
        >>> for stage in (first, second):
        ...     stage.add("r1", EntryMeaning("demo", "Start"), [{"age": 60}])
        >>> first.finish(shared) is first, second.finish(shared) is first
        (True, True)
        >>> first.signature
        (('r1', None),)
        """
        self.signature = tuple((item.name, item.variant) for item in self._pending)
        if shared is not None:
            done = shared.get(self.signature)
            if done is not None:
                return done
            shared[self.signature] = self
        tries: list[_Trie] = []
        for item in self._pending:
            bindings = list(item.others)
            if item.ctx_conds is not None:
                translated = self.cache.get((item.name, item.variant))
                if translated is None:
                    tests = [cond.to_durable(c) for c in _order(item.ctx_conds)]
                    keys = [json.dumps(t, sort_keys=True) for t in tests]
                    translated = (tests, keys, cond.paths(item.ctx_conds))
                    self.cache[(item.name, item.variant)] = translated
                tests, keys, reads = translated
                group = _place(tries, keys)
                if group == len(self.groups):
                    self.groups.append({})
                _add_reads(self.groups[group], reads)
                bindings.insert(0, {"m": {"$and": [{"t": CTX}, {"g": group}, *tests]}})
            self.rules.append(
                CompiledRule(item.name, {"all": bindings}, item.asserts, item.carry)
            )
        self._pending.clear()
        self.group_plans = [projection(reads) for reads in self.groups]
        self.carried_plans = {node: projection(reads) for node, reads in self.carried.items()}
        return self


def _add_reads(tree: dict[str, Any], paths: set[str]) -> None:
    for path in paths:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})


class _Trie:
    """An alpha trie that keeps :func:`worst_pending` up to date as chains are added.

    Packing asks "does this rule still fit in this group?" once per rule and group;
    recomputing the bound over the whole trie each time made compiling quadratic in
    the number of rules. Each node caches its bound and its children's largest bound;
    adding a chain can only raise bounds, and only along that chain, so the new bound
    is computed first and the trie changes only if the chain fits.
    """

    __slots__ = ("children", "eq_paths", "max_child", "passing", "worst")

    def __init__(self) -> None:
        self.children: dict[str, _Trie] = {}
        self.eq_paths: dict[str, int] = {}  # equality tests per path among the children
        self.passing = 0  # tests one fact may pass among the children (equalities once per path)
        self.worst = 1
        self.max_child = 0

    def _passing_with(self, key: str) -> int:
        """Tests one fact may pass among the children once ``key`` is a child too."""
        path = _equality_path(key)
        return self.passing + (1 if path is None or path not in self.eq_paths else 0)

    def try_add(self, keys: Sequence[str], budget: int) -> bool:
        """Add the chain if the bound stays within ``budget``; otherwise leave the trie as it was."""
        along: list[_Trie] = [self]
        node = self
        depth = 0
        while depth < len(keys) and keys[depth] in node.children:
            node = node.children[keys[depth]]
            along.append(node)
            depth += 1
        if depth == len(keys):
            return True  # every test already in place: nothing changes
        # The new suffix is a chain of single children, whose bound is 1.
        key = keys[depth]
        bounds = [node._passing_with(key) - 1 + max(node.max_child, 1)]
        for parent in reversed(along[:-1]):
            below = bounds[-1]
            bounds.append(parent.passing - 1 + max(parent.max_child, below))
        if bounds[-1] > budget:
            return False
        # Commit: the new chain, then the counts and bounds along the existing prefix.
        chain = node
        for k in keys[depth:]:
            path = _equality_path(k)
            if path is None or path not in chain.eq_paths:
                chain.passing += 1
            if path is not None:
                chain.eq_paths[path] = chain.eq_paths.get(path, 0) + 1
            chain.max_child = max(chain.max_child, 1)
            child = _Trie()
            chain.children[k] = child
            chain = child
        for n, bound in zip(reversed(along), bounds, strict=True):
            n.worst = bound
        for parent, child in itertools.pairwise(along):
            parent.max_child = max(parent.max_child, child.worst)
        return True


def _place(tries: list[_Trie], keys: list[str]) -> int:
    """First group whose alpha trie stays within budget with this test chain added."""
    for index, trie in enumerate(tries):
        if trie.try_add(keys, PENDING_BUDGET):
            return index
    tries.append(_Trie())
    tries[-1].try_add(keys, 1 << 30)
    return len(tries) - 1


@functools.lru_cache(maxsize=8192)
def _equality_path(test: str) -> str | None:
    """The path of an equality test (durable hashes those), None for any other test."""
    ((key, _),) = json.loads(test).items()
    return None if key.startswith("$") else key


def _siblings_passing(children: Iterable[str]) -> int:
    """How many sibling tests one fact can pass at once, in the worst case.

    Equalities on one path are exclusive (durable_rules hashes them), so they
    count once per path; any other test is assumed to pass.
    """
    eq_paths: set[str] = set()
    others = 0
    for test in children:
        path = _equality_path(test)
        if path is None:
            others += 1
        else:
            eq_paths.add(path)
    return others + len(eq_paths)


def worst_pending(trie: Mapping[str, Any]) -> int:
    """Upper bound of durable_rules' alpha stack for one fact walking this trie.

    Parameters
    ----------
    trie
        Alpha tests as a trie: each key a durable test as JSON, each value the tests below it.

    Returns
    -------
    int
        How many tests one fact may leave pending at once, in the worst case (at least 1).

    Examples
    --------
    Equality tests on one path are exclusive (durable hashes them); two range tests may both pass:

    >>> worst_pending({'{"a": 1}': {}, '{"a": 2}': {}})
    1
    >>> worst_pending({'{"$gt": {"a": 1}}': {}, '{"$lt": {"a": 5}}': {}})
    2
    """
    if not trie:
        return 1
    siblings = _siblings_passing(trie)
    return max(siblings - 1 + worst_pending(child) for child in trie.values())


# A projection: (key, projection of the key's value or None to keep it whole), in reads order.
Projection = tuple[tuple[str, "Projection | None"], ...]
_ABSENT = object()


def projection(reads: Mapping[str, Any]) -> Projection:
    """The reads tree as nested tuples, built once per ruleset (projecting runs per patient).

    Parameters
    ----------
    reads
        The paths read, as a tree of dicts (an empty dict: keep the value whole).

    Returns
    -------
    Projection
        ``(key, sub-projection or None)`` pairs, in the order of ``reads``.

    Examples
    --------
    >>> projection({"tumour": {"size_mm": {}, "ki67_percent": {}}, "ecog": {}})
    (('tumour', (('size_mm', None), ('ki67_percent', None))), ('ecog', None))
    """
    return tuple((key, projection(sub) if sub else None) for key, sub in reads.items())


def project(ctx: Mapping[str, Any], plan: Projection) -> dict[str, Any]:
    """Keep only the parts of ``ctx`` that the projection names.

    Parameters
    ----------
    ctx
        The evaluation context (plain JSON data).
    plan
        A :func:`projection`.

    Returns
    -------
    dict[str, Any]
        The named parts that exist in ``ctx``; a nested part that ends up empty is left out.

    Examples
    --------
    >>> ctx = {"tumour": {"size_mm": 15, "grade": "g1"}, "ecog": 1, "age": 60}
    >>> project(ctx, projection({"tumour": {"size_mm": {}}, "ecog": {}, "labs": {"egfr_ml_min": {}}}))
    {'tumour': {'size_mm': 15}, 'ecog': 1}
    """
    out: dict[str, Any] = {}
    _project_into(out, ctx, plan)
    return out


def _project_into(out: dict[str, Any], ctx: Mapping[str, Any], plan: Projection) -> None:
    """:func:`project` written into ``out`` (a context fact gets its parts without a copy)."""
    get = ctx.get
    for key, sub in plan:
        value = get(key, _ABSENT)
        if value is _ABSENT:
            continue
        if sub is None:
            out[key] = value
        elif type(value) is dict:  # the context is plain JSON data
            inner: dict[str, Any] = {}
            _project_into(inner, value, sub)
            if inner:
                out[key] = inner


class Carried(Mapping[str, Mapping[str, Any]]):
    """Each pathway node's carried context, projected on first use (few nodes are reached).

    The payload of a pathways run (:meth:`cds.engine.durable_host.RuleSet.run`): the
    position fact of a node carries what the edges out of that node read.

    Parameters
    ----------
    ctx
        The evaluation context.
    compiled
        The finished pathways stage (its :attr:`Compiled.carried_plans`).

    Examples
    --------
    >>> from cds import default_engine
    >>> stage = compile_pathways(default_engine().kb, Population("pancreas", "net_g1"))
    >>> carried = Carried({"disease": {"stage": "localized"}, "age": 60}, stage)
    >>> carried["FIT_Assess_Fitness"]
    {'disease': {'stage': 'localized'}}
    """

    def __init__(self, ctx: Mapping[str, Any], compiled: Compiled) -> None:
        self._ctx = ctx
        self._plans = compiled.carried_plans

    def __getitem__(self, node: str) -> Mapping[str, Any]:
        return project(self._ctx, self._plans[node])

    def __iter__(self) -> Iterator[str]:
        return iter(self._plans)

    def __len__(self) -> int:
        return len(self._plans)


def context_facts(ctx: Mapping[str, Any], compiled: Compiled) -> list[dict[str, Any]]:
    """The ctx facts to post for one stage: one per group, each projected to its reads.

    Parameters
    ----------
    ctx
        The evaluation context (:func:`cds.facts.build_context`).
    compiled
        A finished stage.

    Returns
    -------
    list[dict[str, Any]]
        ``{"t": "ctx", "g": i, ...}`` for each group ``i``, holding only what its rules read.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.facts import build_context
    >>> patient = parse_patient('{"age": 60, "tumour": {"primary_site": "pancreas", "ki67_percent": 1}}')
    >>> facts = context_facts(build_context(patient), compile_classification(default_engine().kb))
    >>> len(facts), facts[0]["t"], facts[0]["tumour"]["ki67_percent"], "age" in facts[0]
    (1, 'ctx', 1.0, False)
    """
    facts: list[dict[str, Any]] = []
    for i, plan in enumerate(compiled.group_plans):
        fact: dict[str, Any] = {"t": CTX, "g": i}
        _project_into(fact, ctx, plan)  # as {"t": CTX, "g": i, **project(ctx, plan)}
        facts.append(fact)
    return facts


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


# ----------------------------------------------------------------- classification


def compile_classification(kb: KnowledgeBase) -> Compiled:
    """Stage 1: the classification rules (``derive``) as one ruleset for every patient.

    Conditions on derived facts bind ``derived`` facts (one binding per derived key), so
    the rules chain: grade from Ki-67 and mitoses, then the grade, then the category.

    Parameters
    ----------
    kb
        Loaded knowledge.

    Returns
    -------
    Compiled
        The finished stage; each rule name means a :class:`RuleMeaning`.

    Examples
    --------
    >>> from cds import default_engine
    >>> stage = compile_classification(default_engine().kb)
    >>> rule = next(r for r in stage.rules if r.name == "class.grade.ki67_g1.mitoses_g1")
    >>> rule.asserts[-1]
    {'t': 'derived', 'grade': 'g1'}
    """
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
        derived_bindings: list[dict[str, Any]] = []
        for i, (_, conds) in enumerate(sorted(by_key.items())):
            tests = [{"t": DERIVED}] + [cond.to_durable(c, "derived.") for c in _order(conds)]
            derived_bindings.append({f"d{i}": {"$and": tests}})
        asserts = tuple(
            {"t": DERIVED, e.derive.key: e.derive.value} for e in rule.then if e.derive is not None
        )
        out.add(rule.id, RuleMeaning(rule, None),
                ctx_conds if (ctx_conds or not by_key) else None, derived_bindings, asserts)
    return out.finish()


# ---------------------------------------------------------------------- populations


def applies_to(conds: Sequence[Mapping[str, Any]], population: Population) -> bool:
    """Whether conditions can hold in a population, judged on their site and category tests alone.

    Parameters
    ----------
    conds
        A rule's or pathway's conditions.
    population
        The population.

    Returns
    -------
    bool
        False when the conditions name sites or categories that exclude the population.

    Examples
    --------
    >>> pnet_g1 = Population("pancreas", "net_g1")
    >>> applies_to([{"tumour.primary_site": "pancreas"}, {"$gt": {"ecog": 2}}], pnet_g1)
    True
    >>> applies_to([{"tumour.primary_site": "ileum"}], pnet_g1), applies_to([], pnet_g1)
    (False, True)
    """
    sites = cond.static_domain(conds, SITE_PATH)
    if sites is not None and population.site not in sites:
        return False
    categories = cond.static_domain(conds, CATEGORY_PATH)
    return categories is None or population.category in categories


@dataclass
class _Caches:
    """What compiling one population leaves for the next, per knowledge base.

    The knowledge never changes once loaded, so none of this is ever invalidated.
    """

    # rule name -> (mentions the site, mentions the category)
    mentions: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    # (rule name, site or None, category or None) -> (specialised conditions, variant number)
    specialised: dict[tuple[str, str | None, str | None], tuple[list[Mapping[str, Any]] | None, int]] = (
        field(default_factory=dict)
    )
    # rule name -> {repr of a specialised result: its variant number}
    variants: dict[str, dict[str, int]] = field(default_factory=dict)
    plans: dict[Population, list[_PathwayPlan]] = field(default_factory=dict)
    # (rule name, variant) -> (durable tests, their keys, paths read): see Compiled.cache
    tests: dict[tuple[str, Hashable], tuple[list[dict[str, Any]], list[str], set[str]]] = field(
        default_factory=dict
    )
    # (edge id, variant) -> (durable tests, paths read)
    edges: dict[tuple[str, Hashable], tuple[list[dict[str, Any]], set[str]]] = field(
        default_factory=dict
    )
    # compile signature -> finished stage, per stage
    pathways: dict[Any, Compiled] = field(default_factory=dict)
    knowledge: dict[Any, Compiled] = field(default_factory=dict)
    knowledge_rules: list[tuple[Rule, tuple[str, ...], bool]] | None = None
    matrix_rows: list[tuple[str, tuple[Rule, ...]]] | None = None
    # (row, ids of the statements a population can act on) -> number, for unique durable rule names
    row_subsets: dict[tuple[str, tuple[str, ...]], int] = field(default_factory=dict)


def _caches(kb: KnowledgeBase) -> _Caches:
    found = kb.memo.get("compiler")
    if not isinstance(found, _Caches):
        found = kb.memo["compiler"] = _Caches()
    return found


def _specialised(
    kb: KnowledgeBase, name: str, conds: Sequence[Mapping[str, Any]], population: Population
) -> tuple[list[Mapping[str, Any]] | None, Hashable]:
    """The conditions with the population's site and category decided, and their variant.

    Inside a population ruleset a test of the site or the category is always true or
    always false: true tests are dropped (fewer alpha tests for every fact), and a
    rule or edge that can never hold is left out. The variant numbers the distinct
    results per name, so populations that leave a rule the same tests share its
    translation, and populations whose rules are all the same share one ruleset.
    """
    caches = _caches(kb)
    seen = caches.mentions.get(name)
    if seen is None:
        read = cond.paths(conds)
        seen = caches.mentions[name] = (SITE_PATH in read, CATEGORY_PATH in read)
    if not any(seen):
        return list(conds), 0
    key = (name, population.site if seen[0] else None, population.category if seen[1] else None)
    found = caches.specialised.get(key)
    if found is None:
        known = {SITE_PATH: population.site, CATEGORY_PATH: population.category}
        when = cond.specialise_all(conds, known)
        variants = caches.variants.setdefault(name, {})
        text = repr(when)  # results for one name are built alike: repr tells them apart
        found = caches.specialised[key] = (when, variants.setdefault(text, len(variants)))
    return found


@dataclass(frozen=True)
class _PathwayPlan:
    """A pathway as one population can walk it: entry, and the edges that can ever fire."""

    pathway: Pathway
    entry: list[Mapping[str, Any]]
    entry_variant: Hashable
    edges: list[tuple[PathwayEdge, list[Mapping[str, Any]], Hashable]]
    nodes: set[str]


def _pathway_plans(kb: KnowledgeBase, population: Population) -> list[_PathwayPlan]:
    cache = _caches(kb).plans
    plans = cache.get(population)
    if plans is not None:
        return plans
    plans = []
    for pw in kb.pathways:
        entry, entry_variant = _specialised(kb, f"enter:{pw.id}", pw.when, population)
        if entry is None:
            continue
        reached = {pw.start}
        kept: dict[str, tuple[PathwayEdge, list[Mapping[str, Any]], Hashable]] = {}
        grew = True
        while grew:  # edges out of reachable nodes that can fire; their targets become reachable
            grew = False
            for edge in pw.edges:
                if edge.id in kept or edge.from_ not in reached:
                    continue
                when, variant = _specialised(kb, edge.id, edge.when, population)
                if when is None:
                    continue
                kept[edge.id] = (edge, when, variant)
                if edge.to is not None and edge.to not in reached:
                    reached.add(edge.to)
                    grew = True
        edges = [kept[e.id] for e in pw.edges if e.id in kept]  # knowledge order
        plans.append(_PathwayPlan(pw, entry, entry_variant, edges, reached))
    cache[population] = plans
    return plans


def compile_pathways(kb: KnowledgeBase, population: Population) -> Compiled:
    """Stage 2 for one population: entry into each pathway it can enter, then one rule per edge.

    Only the pathways and edges that can ever hold in the population are compiled, with
    their site and category tests decided; populations that end up with the same rules
    share one stage (cached in ``kb.memo``).

    Parameters
    ----------
    kb
        Loaded knowledge.
    population
        The patient's site and category.

    Returns
    -------
    Compiled
        The finished stage; names mean an :class:`EntryMeaning` (``enter:<pathway>``) or an
        :class:`EdgeMeaning` (the edge id).

    Examples
    --------
    >>> from cds import default_engine
    >>> kb = default_engine().kb
    >>> stage = compile_pathways(kb, Population("pancreas", "net_g1"))
    >>> stage is compile_pathways(kb, Population("pancreas", "net_g1"))   # compiled once
    True
    >>> "enter:fitness" in stage.meaning, "enter:si_net" in stage.meaning
    (True, False)
    """
    caches = _caches(kb)
    out = Compiled(cache=caches.tests)
    for plan in _pathway_plans(kb, population):
        _compile_pathway(plan, out, caches.edges)
    return out.finish(caches.pathways)


def _compile_pathway(
    plan: _PathwayPlan, out: Compiled,
    edge_cache: dict[tuple[str, Hashable], tuple[list[dict[str, Any]], set[str]]],
) -> None:
    """Entry on the context facts; then one *position* fact per node reached.

    A position fact ``{"t": "at", "node": X, ...}`` carries the context paths the
    edges out of X read, so each edge is a single binding ``at X and <condition>``:
    no join, and each position fact only walks the alpha tests of its own node's
    outgoing edges (node ids are equality tests, which durable_rules hashes).
    """
    pw = plan.pathway
    out.add(f"enter:{pw.id}", EntryMeaning(pw.id, pw.start), plan.entry,
            asserts=({"t": AT, "node": pw.start},), carry=pw.start, variant=plan.entry_variant)
    for node in sorted(plan.nodes):
        out.carried.setdefault(node, {})
    for edge, when, variant in plan.edges:
        translated = edge_cache.get((edge.id, variant))
        if translated is None:
            tests = [{"t": AT}, {"node": edge.from_}, *(cond.to_durable(c) for c in _order(when))]
            translated = edge_cache[(edge.id, variant)] = (tests, cond.paths(when))
        tests, reads = translated
        _add_reads(out.carried.setdefault(edge.from_, {}), reads)
        asserts = ({"t": AT, "node": edge.to},) if edge.to is not None else ()
        out.add(edge.id, EdgeMeaning(pw.id, edge), None, [{"a": {"$and": tests}}], asserts,
                carry=edge.to, variant=variant)


def compile_knowledge(kb: KnowledgeBase, population: Population) -> Compiled:
    """Stage 3 for one population: modifier, contraindication and alert rules.

    One durable rule per contraindication-matrix row that can act on an option the
    population's pathways may propose; the other knowledge rules follow, left out when
    they can never hold in the population (its site or category, or a step, pathway or
    proposal it never has), and split into one rule per option (``<rule>#<option>``) when
    they also raise alerts, ask for data or select a schedule. Populations with the same
    rules share one stage.

    Parameters
    ----------
    kb
        Loaded knowledge.
    population
        The patient's site and category.

    Returns
    -------
    Compiled
        The finished stage; names mean a :class:`RowMeaning` (``matrix:<row>#<n>``) or a
        :class:`RuleMeaning`.

    Examples
    --------
    >>> from cds import default_engine
    >>> stage = compile_knowledge(default_engine().kb, Population("pancreas", "net_g1"))
    >>> sorted({type(m).__name__ for m in stage.meaning.values()})
    ['RowMeaning', 'RuleMeaning']
    """
    possible = _possible_late_facts(kb, population)
    caches = _caches(kb)
    out = Compiled(cache=caches.tests)
    rows = _matrix_rows(kb)
    in_rows = {rule.id for _, rules in rows for rule in rules}
    for condition, rules in rows:
        proposable = tuple(r for r in rules
                           if any(f"candidate.{e.target.option}" in possible for e in r.then if e.target))
        if not proposable:
            continue
        # The statements a population can act on differ between populations: the name says which
        # subset this is, so that a name always means the same statements (the engine reads by name).
        subset = tuple(r.id for r in proposable)
        name = f"matrix:{condition}#{caches.row_subsets.setdefault((condition, subset), len(caches.row_subsets))}"
        when, variant = _specialised(kb, f"matrix:{condition}", kb.matrix_conditions[condition].when, population)
        if when is not None:
            out.add(name, RowMeaning(condition, proposable), when, variant=variant)
    for rule, all_targets, options_only in _knowledge_rules(kb):
        if rule.id in in_rows:
            continue
        when, variant = _specialised(kb, rule.id, rule.when, population)
        if when is None or not _can_hold(when, possible):
            continue
        if not all_targets:
            out.add(rule.id, RuleMeaning(rule, None), when, variant=variant)
            continue
        if options_only:
            # Every effect is aimed at an option and the engine applies it only to options the
            # pathways proposed, so one durable rule serves them all (no per-option split).
            if any(f"candidate.{o}" in possible for o in all_targets):
                out.add(rule.id, RuleMeaning(rule, None), when, variant=variant)
            continue
        for option in all_targets:
            if f"candidate.{option}" not in possible:
                continue  # no pathway of this population can propose it
            conds = [{f"candidate.{option}": True}, *when]
            out.add(f"{rule.id}#{option}", RuleMeaning(rule, option), conds, variant=variant)
    return out.finish(caches.knowledge)


def _knowledge_rules(kb: KnowledgeBase) -> list[tuple[Rule, tuple[str, ...], bool]]:
    """The knowledge-stage rules, the options they act on, and whether they do nothing else.

    A rule that also raises an alert, asks for data or selects a schedule does so only when
    one of its options was proposed, so it is split into one durable rule per option with
    that option's ``candidate`` test; a rule made only of option effects is not split.
    """
    caches = _caches(kb)
    found = caches.knowledge_rules
    if found is None:
        found = caches.knowledge_rules = [
            (lr.rule,
             tuple(sorted({t.option for e in lr.rule.then if (t := e.target) is not None})),
             all(e.kind in OPTION_EFFECTS for e in lr.rule.then))
            for lr in kb.rules
            if lr.rule.stage == "knowledge"
        ]
    return found


def _matrix_rows(kb: KnowledgeBase) -> list[tuple[str, tuple[Rule, ...]]]:
    """Each matrix row with the safety rules of the statements that name it, in knowledge order."""
    caches = _caches(kb)
    if caches.matrix_rows is None:
        by_id = {lr.rule.id: lr.rule for lr in kb.rules}
        named: dict[str, list[Rule]] = {c: [] for c in kb.matrix_conditions}
        for entry, _ in kb.matrix_entries:
            rule = by_id.get(entry.id)
            if entry.level == "none" or rule is None:
                continue
            for condition in entry.conditions:
                named[condition].append(rule)
        caches.matrix_rows = [(c, tuple(rules)) for c, rules in named.items() if rules]
    return caches.matrix_rows


def _possible_late_facts(kb: KnowledgeBase, population: Population) -> set[str]:
    """``candidate.X``, ``node.X`` and ``pathway.X`` paths this population can ever have true.

    Rules that need anything else can never fire here, so they are left out of
    the ruleset: a smaller ruleset makes every session cheaper and keeps the
    alpha network narrow (durable_rules error 303).
    """
    possible: set[str] = set()
    for plan in _pathway_plans(kb, population):
        possible.add(f"pathway.{plan.pathway.id}")
        possible.update(f"node.{n}" for n in plan.nodes)
        possible.update(f"candidate.{e.propose}" for e, _, _ in plan.edges if e.propose)
    return possible


def _can_hold(conds: Sequence[Mapping[str, Any]], possible: set[str]) -> bool:
    for c in conds:
        ((key, value),) = c.items()
        if key.startswith(("candidate.", "node.", "pathway.")) and value is True and key not in possible:
            return False
    return True
