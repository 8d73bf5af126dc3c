"""``cds knowledge lint``: everything that can be checked without a patient.

Beyond what loading already enforces (schemas, references, field names,
no exclusion from unconfirmed facts), the linter checks:

- the durable_rules limits of every ruleset the engine would build
  (durable-rules.md section 3.3): pending alpha nodes (error 303), children per
  node (hang at 512), rules ending on one node (error 108), ``$and``/``$or``
  markers per binding (error 113), bindings per rule (error 304), rules per
  ruleset, properties per fact (error 302);
- the pathway graphs: nodes unreachable from the start, dead ends, cycles;
  and each pathway file named after the pathway it holds;
- the catalogues: options no pathway proposes, sources nobody cites; every source
  reachable at its publisher or regulator (a DOI, a PMID or a URL, never a copy site:
  :data:`COPY_SITES`), or saying why it has no identifier;
- evidence that matches its sources: a rule, pathway edge or matrix statement whose
  evidence kind names a kind of study (a label, a randomised trial ...) cites a source of
  that kind (:data:`EVIDENCE_SOURCE_KINDS`), and a classification rule carries a definition
  or policy kind (:data:`CLASSIFICATION_EVIDENCE`);
- texts that state a setting's value as a bare number instead of ``{setting:NAME}``;
- recommendations: every pathway edge owned by a recommendation, every recommendation
  encoding something (a rule or an edge) and tested by a vignette on each side (in and out),
  vignettes borrowed from other homes that exist, titles short enough for a list;
- pathway edge labels: missing, too long, or stating a number the edge's condition does not test;
- coverage: rules and edges that no vignette exercises;
- the trial catalogue: a trial with no criterion encoded (warning; each criterion left as text is
  listed as info: some, like measurable disease, can never be encoded), a status read from the
  registry longer ago than the ``trial_status_max_age_months`` setting (warning) or in the future
  (error), and an eligible (``in``) and an ineligible (``out``) vignette for every trial (error).

It sits above what it checks (the loader, the compiler, the engine, the pathway
graphs, the vignettes), which is why it lives here and not in :mod:`cds.knowledge`:
nothing below imports it. Each finding is a :class:`cds.errors.Problem` with its level.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from cds.engine import compiler
from cds.engine.compiler import Population
from cds.engine.durable_host import CompiledRule
from cds.errors import KnowledgeError, Problem
from cds.knowledge import conditions as cond
from cds.knowledge.layout import Layout
from cds.knowledge.loader import KnowledgeBase, load_knowledge
from cds.knowledge.schema import PathwayEdge
from cds.knowledge.setting_refs import numbers_in, stale_setting_numbers
from cds.model.patient import PrimarySite
from cds.pathways import check_graphs
from cds.suggest import did_you_mean

# durable_rules 2.0.28 limits (durable-rules.md section 3.3), with a safety margin on 303.
MAX_PENDING_ALPHA = 60
MAX_CHILDREN = 511
MAX_RULES_PER_NODE = 256
MAX_SEQUENCE_MARKERS = 32
MAX_BINDINGS = 16
MAX_RULES = 4096
MAX_FACT_PROPERTIES = 252

#: Evidence kinds that claim a kind of document, and the source kinds (``Source.kind``) that can
#: back the claim: an argument of such a kind cites at least one source of these kinds. A label
#: statement needs a label; a trial level needs a trial or a meta-analysis (a phase 3 level a
#: phase 3 trial or a meta-analysis). Kinds not listed here (observational designs, consensus,
#: physiology, definition, policy) are not checked against their sources.
EVIDENCE_SOURCE_KINDS: Mapping[str, frozenset[str]] = {
    "label": frozenset({"label"}),
    "meta_analysis_rct": frozenset({"meta_analysis"}),
    "meta_analysis_observational": frozenset({"meta_analysis"}),
    "rct_phase3": frozenset({"trial_phase3", "meta_analysis"}),
    "rct_phase2": frozenset({"trial_phase2", "trial_phase3", "meta_analysis"}),
    "single_arm_phase2": frozenset({"trial_phase2", "trial_phase3", "meta_analysis"}),
}

#: The evidence kinds of a classification rule (all its effects derive or assume): it applies a
#: definition (the WHO grade, what "pretreated" means in a trial) or a netcds convention, and the
#: efficacy evidence of the trials it may cite is not its own.
CLASSIFICATION_EVIDENCE = frozenset({"definition", "policy"})

#: Domains that copy or aggregate other people's documents (document-sharing sites, re-hosted
#: labels, AI summaries, staging servers): a source's URL must point to the publisher, the
#: regulator or the author's institution instead, or the source gives a DOI or PMID. A domain
#: matches itself and its subdomains. Reference sites that write their own text (Radiopaedia,
#: PubMed Central, a journal's site) are not copies.
COPY_SITES = frozenset({
    "researchgate.net", "academia.edu", "semanticscholar.org", "scribd.com", "docplayer.net",
    "docslib.org", "moam.info", "studylib.net", "studylibfr.com", "studyres.com", "readkong.com",
    "pdfslide.net", "pdfslide.fr", "auntminnie.com", "staging.medscape.com", "wikisum.wiki",
    "peeref.com", "pubcompare.ai", "reviewer.ly", "medluna.com", "trifluridineinhibitor.com",
    "120ty.net", "laoslucius.com", "lawinsider.com", "laram-halal.ru", "drlex.ai", "primidi.com",
    "distantreader.org", "ouci.dntb.gov.ua", "pubmedcentralcanada.ca", "bib-bvb.de",
    "mimsdev.com", "prdmimsweb.azurewebsites.net",
})

# An edge label is a branch caption: a board member reads it on the picture.
MAX_EDGE_LABEL = 70


def lint(kb: KnowledgeBase | None = None, coverage: bool = True, today: dt.date | None = None) -> list[Problem]:
    """Run every check; loading problems are returned as errors rather than raised.

    Findings come sorted by level (errors first), then file, place and code. ``today`` is the day
    trial statuses are aged against (default: the system's date; the only check that reads it).
    """
    if kb is None:
        try:
            kb = load_knowledge()
        except KnowledgeError as exc:
            return list(exc.problems)
    findings: list[Problem] = []
    findings += check_durable_limits(kb)
    findings += check_pathway_graphs(kb)
    findings += check_pathway_files(kb)
    findings += check_edge_labels(kb)
    findings += check_catalogues(kb)
    findings += check_source_links(kb)
    findings += check_evidence_sources(kb)
    findings += check_matrix(kb)
    findings += check_recommendations(kb)
    findings += check_unknown_as_value(kb)
    findings += check_trials(kb, today or dt.date.today())
    findings += [replace(p, level="warning")  # a setting's number written by hand
                 for p in stale_setting_numbers(kb.setting_uses, kb.settings)]
    if coverage:
        findings += check_coverage(kb)
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: (order[f.level], f.file, f.loc, f.code))


# ------------------------------------------------------------------ durable limits


def populations(kb: KnowledgeBase) -> list[Population]:
    """Every population the engine builds rulesets for: each primary site x each category, and none."""
    spec = kb.derived.get("category")
    categories: list[str | None] = [*(str(v) for v in (spec.values or []))] if spec else []
    categories.append(None)
    return [Population(site.value, cat) for site in PrimarySite for cat in categories]


def check_durable_limits(kb: KnowledgeBase) -> list[Problem]:
    """The durable_rules limits of every ruleset the engine would build (all errors)."""
    out: list[Problem] = []
    rulesets: dict[str, compiler.Compiled] = {
        "classification": compiler.compile_classification(kb)
    }
    for pop in populations(kb):
        rulesets[f"pathways.{pop.name}"] = compiler.compile_pathways(kb, pop)
        rulesets[f"knowledge.{pop.name}"] = compiler.compile_knowledge(kb, pop)
    for name, compiled in rulesets.items():
        out += _ruleset_limits(name, compiled.rules)
        for i, reads in enumerate(compiled.groups):
            # each posted fact carries at most these leaves, plus t, g, sid and id
            props = _leaves(reads) + 4
            if props > MAX_FACT_PROPERTIES:
                out.append(Problem("durable_fact_properties", f"<ruleset {name}>",
                                   f"group {i}", f"a context fact can hold {props} properties; "
                                   f"durable_rules accepts at most {MAX_FACT_PROPERTIES} (error 302)"))
    return out


def _tests(binding_expr: Mapping[str, Any]) -> list[str]:
    ((key, body),) = binding_expr.items()
    items = body if key == "$and" else [binding_expr]
    return [json.dumps(t, sort_keys=True) for t in items]


def _markers(expr: Any) -> int:
    if isinstance(expr, Mapping):
        count = sum(1 for k in expr if k in ("$and", "$or"))
        return count + sum(_markers(v) for v in expr.values())
    if isinstance(expr, list):
        return sum(_markers(v) for v in expr)
    return 0


def _ruleset_limits(name: str, rules: Sequence[CompiledRule]) -> list[Problem]:
    out: list[Problem] = []
    file = f"<ruleset {name}>"
    if len(rules) > MAX_RULES:
        out.append(Problem("durable_rules_count", file, "",
                           f"{len(rules)} rules; durable_rules allows {MAX_RULES}"))
    trie: dict[str, Any] = {}
    tails: Counter[tuple[str, ...]] = Counter()
    for rule in rules:
        bindings = rule.definition["all"]
        if len(bindings) > MAX_BINDINGS:
            out.append(Problem("durable_bindings", file, rule.name,
                               f"{len(bindings)} bindings; durable_rules fails above "
                               f"{MAX_BINDINGS} (error 304)"))
        for binding in bindings:
            ((_, expr),) = binding.items()
            markers = _markers(expr)
            if markers > MAX_SEQUENCE_MARKERS:
                out.append(Problem("durable_sequence", file, rule.name,
                                   f"{markers} $and/$or markers in one binding; durable_rules "
                                   f"fails above {MAX_SEQUENCE_MARKERS} (error 113)"))
            tests = _tests(expr)
            node = trie
            for test in tests:
                node = node.setdefault(test, {})
            tails[tuple(tests)] += 1
    for path, count in tails.items():
        if count > MAX_RULES_PER_NODE:
            out.append(Problem("durable_rules_per_node", file, " > ".join(path[-2:]),
                               f"{count} rules end on the same test; durable_rules allows "
                               f"{MAX_RULES_PER_NODE} (error 108)"))
    widest = _widest(trie)
    if widest > MAX_CHILDREN:
        out.append(Problem("durable_children", file, "",
                           f"an alpha node has {widest} children; durable_rules hangs at 512"))
    pending = compiler.worst_pending(trie)
    if pending > MAX_PENDING_ALPHA:
        out.append(Problem("durable_pending", file, "",
                           f"a fact can leave up to {pending} alpha tests pending; durable_rules "
                           "fails above 64 (error 303): put selective equality tests first or "
                           "band numeric values with a classification rule"))
    return out


def _widest(node: Mapping[str, Any]) -> int:
    if not node:
        return 0
    return max(len(node), *(_widest(child) for child in node.values()))


def _leaves(tree: Mapping[str, Any]) -> int:
    return sum(_leaves(sub) if sub else 1 for sub in tree.values())


# ------------------------------------------------------------------ pathway graphs


def check_pathway_graphs(kb: KnowledgeBase) -> list[Problem]:
    """Unreachable nodes, dead ends, unknown targets and options, cycles (:mod:`cds.pathways`)."""
    return check_graphs(kb)


def check_pathway_files(kb: KnowledgeBase) -> list[Problem]:
    """Each pathway file is named after the pathway it holds (``pathways/<id>.yaml``).

    So that an author looking for ``si_net`` (in a trace, a picture, ``cds pathway si_net``)
    finds it by its name.
    """
    out: list[Problem] = []
    for pw in kb.pathways:
        file = kb.pathway_files.get(pw.id, "")
        name = Path(file).name
        if file and name != f"{pw.id}.yaml":
            out.append(Problem("pathway_file_name", file, pw.id,
                               f"the file of pathway {pw.id!r} is named {name!r}: rename it {pw.id}.yaml"))
    return out


# -------------------------------------------------------------------- edge labels


def check_edge_labels(kb: KnowledgeBase) -> list[Problem]:
    """Each pathway edge's label: present (warning), at most :data:`MAX_EDGE_LABEL` characters
    (warning), and stating no number its condition does not test (error).

    The label is the caption a reader sees on the branch of a pathway picture, in place of
    the edge's condition; a number in it that the condition does not test (a threshold
    mistyped, or copied from a neighbouring edge) would tell the board something the engine
    does not do. A setting the condition reads counts as tested: the loader has put its value
    in the label (``{setting:NAME}``) and in the condition alike.
    """
    out: list[Problem] = []
    for pw in kb.pathways:
        file = kb.pathway_files.get(pw.id, "")
        for edge in pw.edges:
            if edge.label is None:
                out.append(Problem("edge_label_missing", file, edge.id,
                                   "no label: give `label: {en: ..., fr: ...}`, the edge's condition in "
                                   "clinical shorthand, as the branch of the pathway picture shows it"))
                continue
            tested = condition_numbers(edge)
            for lang in ("en", "fr"):
                text = getattr(edge.label, lang)
                if len(text) > MAX_EDGE_LABEL:
                    out.append(Problem("edge_label_too_long", file, f"{edge.id}.label.{lang}",
                                       f"{len(text)} characters (at most {MAX_EDGE_LABEL}): {text!r}",
                                       level="warning"))
                for written, value in numbers_in(text):
                    if value not in tested:
                        shown = ", ".join(_number(v) for v in sorted(tested)) or "none"
                        out.append(Problem("edge_label_number", file, f"{edge.id}.label.{lang}",
                                           f"states {written}, which the edge's condition does not test "
                                           f"(its numbers: {shown}): {text!r}"))
    return out


def condition_numbers(edge: PathwayEdge) -> set[float]:
    """The numbers an edge's condition tests: its literals and the values of the settings it reads.

    >>> edge = PathwayEdge.model_validate({"id": "x.to_y", "from": "X", "to": "Y", "when": [
    ...     {"$gte": {"tumour.ki67_percent": 10}}, {"ecog": 4}, {"$nex": {"imaging.sstr": 1}},
    ...     {"tumour.primary_resected": True}]})
    >>> sorted(condition_numbers(edge))
    [4.0, 10.0]
    """
    return {
        float(leaf.value)
        for condition in edge.when
        for leaf in cond.leaves(condition)
        if isinstance(leaf.value, (int, float)) and not isinstance(leaf.value, bool)
    }


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


# -------------------------------------------------------------------- catalogues


def check_catalogues(kb: KnowledgeBase) -> list[Problem]:
    """Options no pathway proposes (warnings), sources nobody cites (info)."""
    out: list[Problem] = []
    proposed = {e.propose for pw in kb.pathways for e in pw.edges if e.propose}
    for option in kb.options:
        if option not in proposed:
            out.append(Problem("option_never_proposed", "knowledge/catalogues/options.yaml", option,
                               "unreachable option: no pathway proposes it", level="warning"))
    cited: set[str] = set()
    for lr in kb.rules:
        cited |= set(lr.rule.sources)
    for pw in kb.pathways:
        for e in pw.edges:
            cited |= set(e.sources)
    # the surveillance catalogue and the dose table cite sources too
    for schedule in kb.schedules.values():
        cited |= set(schedule.sources)
    for modality in kb.modalities.values():
        cited |= set(modality.sources)
        cited |= {s for part in modality.components for s in part.sources}
    for planner_alert in kb.planner_alerts:
        cited |= set(planner_alert.sources)
    for entry, _ in kb.matrix_entries:  # 'none' statements cite their sources too
        cited |= set(entry.sources)
    for scenario in kb.scenarios:
        cited |= set(scenario.sources)
    for source in kb.sources.values():
        if source.id not in cited:
            out.append(Problem("source_not_cited", "knowledge/catalogues/sources/", source.id,
                               "no rule or edge cites this source", level="info"))
    return out


def copy_site(url: str | None) -> str | None:
    """The copy site (:data:`COPY_SITES`) a URL points to, or None.

    Examples
    --------
    >>> copy_site("https://www.scribd.com/document/1/paper"), copy_site("https://doi.org/10.1/x")
    ('scribd.com', None)
    >>> copy_site("https://uat.mimsdev.com/hongkong/drug/info/x"), copy_site(None)
    ('mimsdev.com', None)
    """
    host = (urlparse(url).hostname or "") if url else ""
    return next((d for d in sorted(COPY_SITES) if host == d or host.endswith("." + d)), None)


def check_source_links(kb: KnowledgeBase) -> list[Problem]:
    """Every source can be found at its origin: a DOI, a PMID or a URL that is not a copy site.

    A source without any of them says why (``no_identifier_reason``: a printed book, the
    project's own policy); a URL on a copy site is an error even next to a DOI, since the
    catalogue should hold no address a reader cannot trust (all errors).
    """
    out: list[Problem] = []
    for source in kb.sources.values():
        if not (source.doi or source.pmid or source.url or source.no_identifier_reason):
            out.append(Problem("source_without_identifier", "knowledge/catalogues/sources/", source.id,
                               "no DOI, PMID or URL, and no no_identifier_reason: give the DOI or PMID, "
                               "the publisher's or regulator's address, or say why there is none"))
        site = copy_site(source.url)
        if site:
            out.append(Problem("source_copy_site", "knowledge/catalogues/sources/", source.id,
                               f"the URL is on {site}, a site that copies documents: give the DOI or PMID, "
                               "or the publisher's or regulator's address"))
    return out


# ------------------------------------------------------ evidence against sources


def evidence_mismatch(kind: str, source_kinds: set[str], classification: bool = False) -> str | None:
    """Why an evidence kind does not fit the kinds of the sources cited for it (None when it fits).

    Parameters
    ----------
    kind
        The evidence kind of the rule, edge or matrix statement (``evidence.kind``).
    source_kinds
        The ``kind`` of each source it cites.
    classification
        True for a classification rule (its effects only derive or assume).

    Examples
    --------
    >>> evidence_mismatch("label", {"trial_phase3"})
    "evidence kind 'label' but no source of kind label"
    >>> evidence_mismatch("rct_phase3", {"trial_phase3", "guideline"}) is None
    True
    >>> evidence_mismatch("rct_phase3", {"trial_phase3"}, classification=True)
    "a classification rule applies a definition: its evidence kind is one of definition, policy, not 'rct_phase3'"
    """
    if classification and kind not in CLASSIFICATION_EVIDENCE:
        return ("a classification rule applies a definition: its evidence kind is one of "
                f"{', '.join(sorted(CLASSIFICATION_EVIDENCE))}, not {kind!r}")
    needed = EVIDENCE_SOURCE_KINDS.get(kind)
    if needed is not None and not needed & source_kinds:
        return f"evidence kind {kind!r} but no source of kind {' or '.join(sorted(needed))}"
    return None


def check_evidence_sources(kb: KnowledgeBase) -> list[Problem]:
    """Each rule, reasoned pathway edge and matrix statement has an evidence kind its sources can back.

    A drug-label kind with no label among the sources, a randomised-trial level resting on a
    guideline or on a trial's eligibility criteria, a definition presented as trial evidence:
    each misleads the board about how strong a reason is (all errors; see
    :data:`EVIDENCE_SOURCE_KINDS` and :data:`CLASSIFICATION_EVIDENCE`).
    """
    def kinds(ids: Sequence[str]) -> set[str]:
        return {kb.sources[s].kind for s in ids if s in kb.sources}

    out: list[Problem] = []
    matrix_ids = {entry.id for entry, _ in kb.matrix_entries}
    for lr in kb.rules:
        rule = lr.rule
        if rule.id in matrix_ids:  # checked below, with the matrix file
            continue
        why = evidence_mismatch(rule.evidence.kind, kinds(rule.sources), rule.stage == "classification")
        if why:
            out.append(Problem("evidence_source_kind", lr.file, rule.id, why))
    for pw in kb.pathways:
        for edge in pw.edges:
            if edge.evidence is not None and edge.because is not None:
                why = evidence_mismatch(edge.evidence.kind, kinds(edge.sources))
                if why:
                    out.append(Problem("evidence_source_kind", kb.pathway_files[pw.id], edge.id, why))
    for entry, file in kb.matrix_entries:
        why = evidence_mismatch(entry.evidence.kind, kinds(entry.sources))
        if why:
            out.append(Problem("evidence_source_kind", file, entry.id, why))
    return out


# ----------------------------------------------------------- contraindication matrix


def check_matrix(kb: KnowledgeBase) -> list[Problem]:
    """Every option x condition cell stated exactly once (per track of the option)."""
    from cds.knowledge.matrix import matrix_grid

    if not kb.matrix_conditions:
        return []
    grid = matrix_grid(kb)
    out: list[Problem] = []
    file = "knowledge/catalogues/safety-matrix/conditions.yaml"
    for option, track, condition in grid.empty():
        out.append(Problem("matrix_empty_cell", file, f"{option} x {condition}",
                           f"no statement gives the safety level of {option} ({track}) under "
                           f"{condition}: state a level, or 'none' with its reason and source"))
    for (option, track, condition), stated in sorted(grid.twice.items()):
        where = ", ".join(f"{eid} ({f})" for eid, f in stated)
        out.append(Problem("matrix_twice", file, f"{option} x {condition}",
                           f"{option} ({track}) under {condition} is stated more than once: {where}"))
    return out


# ------------------------------------------------------- unknown read as a value


def check_unknown_as_value(kb: KnowledgeBase) -> list[Problem]:
    """Rules that treat an unknown input field as if it had a value, without asking for it.

    Pathway steps of this kind make what they propose conditional on the field (the engine
    does it); a rule's text, though, may then assert a fact the input does not contain. Each
    finding is for an author to read the rule's text (info: some are deliberate, e.g. a
    follow-up schedule "if the resection is chosen").
    """
    out: list[Problem] = []
    for lr in kb.rules:
        rule = lr.rule
        asked = {e.missing.field for e in rule.then if e.missing is not None}
        for path in sorted(cond.unknown_accepted(rule.when) - asked):
            if path.startswith(cond.NOT_ASKED):
                continue
            out.append(Problem("unknown_as_value", lr.file, rule.id,
                               f"fires when {path} is unknown as if it were known: check that the text "
                               "does not assert it, or ask for it (missing)", level="info"))
    return out


# --------------------------------------------------------------- recommendations

#: The longest title a recommendation may have and still fit a line of ``cds knowledge list``.
MAX_TITLE = 70


def check_recommendations(kb: KnowledgeBase) -> list[Problem]:
    """Each edge has an owner; each recommendation encodes something and has an in and an out vignette.

    Rules cannot lack a recommendation (they are written inside one); pathway edges name no
    owner themselves, so an edge that no recommendation lists is an error. The vignette sides are
    read from the files here; whether each patient really stands on its side is checked when the
    vignettes run (``cds knowledge test``).
    """
    from cds.knowledge.vignette_schema import load_vignette
    from cds.vignettes import recommendation_of, vignette_files

    out: list[Problem] = []
    for pw in kb.pathways:
        for edge in pw.edges:
            if edge.id not in kb.owners:
                out.append(Problem("edge_without_recommendation", kb.pathway_files[pw.id], edge.id,
                                   "no recommendation lists this edge under `edges:`: add it to the recommendation "
                                   "it encodes"))
    edge_ids = {e.id for pw in kb.pathways for e in pw.edges}
    matrix_ids = {entry.id for entry, _ in kb.matrix_entries if entry.level != "none"}
    situations = {pa.situation for pa in kb.planner_alerts}
    for rec in kb.recommendations.values():
        for edge_id in rec.spec.edges:
            if edge_id not in edge_ids:
                out.append(Problem("unknown_edge", rec.file, edge_id, f"no pathway has an edge {edge_id!r}"
                                   + did_you_mean(edge_id, edge_ids)))
        for entry_id in rec.spec.matrix:
            if entry_id not in matrix_ids:
                out.append(Problem("unknown_matrix_statement", rec.file, entry_id,
                                   f"no matrix statement with a safety level has the id {entry_id!r}"
                                   + did_you_mean(entry_id, matrix_ids)))
        for situation in rec.spec.planner_alerts:
            if situation not in situations:
                out.append(Problem("unknown_planner_alert", rec.file, situation,
                                   f"the follow-up planner has no alert for situation {situation!r}"
                                   + did_you_mean(situation, situations)))
    sides: dict[str, set[str]] = {rid: set() for rid in kb.recommendations}
    vignette_ids: set[str] = set()
    trials_folder = Layout(kb.root).trials
    for path in vignette_files(kb.root):
        if path.is_relative_to(trials_folder):  # a trial's vignette: check_trials
            continue
        home = recommendation_of(path)
        try:
            vignette = load_vignette(path)
        except Exception as exc:  # pydantic or YAML: reported, the other files still checked
            out.append(Problem("vignette_schema", path.relative_to(kb.root.parent).as_posix(), "",
                               f"not a vignette: {exc}".splitlines()[0]))
            continue
        vignette_ids.add(vignette.id)
        if home in sides:
            sides[home].add(vignette.side)
        else:
            out.append(Problem("vignette_without_recommendation", path.relative_to(kb.root.parent).as_posix(), "",
                               f"the folder {home!r} holds no recommendation.yaml"))
    for rec in kb.recommendations.values():
        spec = rec.spec
        for side, ids in spec.also_tested_by.items():
            for vid in ids:
                if vid not in vignette_ids:
                    out.append(Problem("unknown_vignette", rec.file, f"also_tested_by.{side}",
                                       f"no vignette has the id {vid!r}"))
                else:
                    sides[rec.id].add(side)
        if spec.status == "retired":
            continue
        if not (spec.rules or spec.edges or spec.matrix or spec.planner_alerts):
            out.append(Problem("recommendation_empty", rec.file, spec.id,
                               "encodes nothing: write its rules, or list the pathway edges, matrix statements or "
                               "planner alerts that encode it (or retire it)"))
        for side in ("in", "out"):
            if side == "out" and spec.no_patient_outside:
                continue
            if side not in sides[rec.id]:
                where = "applies" if side == "in" else "just outside it"
                out.append(Problem("recommendation_without_vignette", rec.file, spec.id,
                                   f"no '{side}' vignette: add one in {rec.folder.name}/vignettes/ with a patient "
                                   f"where the recommendation {where} (side: {side})"))
        for lang in ("en", "fr"):
            title = getattr(spec.title, lang)
            if len(title) > MAX_TITLE:
                out.append(Problem("title_too_long", rec.file, f"{spec.id}.title.{lang}",
                                   f"{len(title)} characters; keep it to {MAX_TITLE}", level="warning"))
    return out


# ---------------------------------------------------------------------- trials

#: The setting that says how old a trial status may be (knowledge/catalogues/settings/trials.yaml).
TRIAL_STATUS_MAX_AGE = "trial_status_max_age_months"


def months_after(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` months later (the month's last day when it has no such day).

    Parameters
    ----------
    day
        The start.
    months
        How many months later (>= 0).

    Returns
    -------
    datetime.date
        The date.

    Examples
    --------
    >>> months_after(dt.date(2026, 8, 31), 6), months_after(dt.date(2026, 1, 15), 6)
    (datetime.date(2027, 2, 28), datetime.date(2026, 7, 15))
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def check_trials(kb: KnowledgeBase, today: dt.date) -> list[Problem]:
    """The trial catalogue: criteria left as text, stale or future statuses, an in and an out vignette per trial.

    Parameters
    ----------
    kb
        The loaded knowledge (its ``trials``).
    today
        The day statuses are aged against.

    Returns
    -------
    list of Problem
        ``trial_criteria_text`` (warning: no criterion encoded), ``trial_criterion_text`` (info:
        one criterion left as text), ``trial_status_stale`` (warning), ``trial_status_future``
        (error), ``trial_without_vignette`` (error), ``vignette_schema`` (error).

    Examples
    --------
    >>> from cds import load_knowledge
    >>> found = check_trials(load_knowledge(), dt.date(2026, 12, 7))
    >>> sorted({p.code for p in found}), {p.level for p in found}   # the bundled trials: text criteria, as info
    (['trial_criterion_text'], {'info'})
    >>> "trial_status_stale" in {p.code for p in check_trials(load_knowledge(), dt.date(2027, 9, 1))}
    True
    """
    from cds.knowledge.vignette_schema import load_vignette

    out: list[Problem] = []
    max_age = kb.settings.get(TRIAL_STATUS_MAX_AGE)
    layout = Layout(kb.root)
    sides: dict[str, set[str]] = {tid: set() for tid in kb.trials}
    for path in layout.trial_vignette_files():
        rel = path.relative_to(kb.root.parent).as_posix()
        try:
            vignette = load_vignette(path)
        except Exception as exc:  # pydantic or YAML: reported, the other files still checked
            out.append(Problem("vignette_schema", rel, "", f"not a vignette: {exc}".splitlines()[0]))
            continue
        home = path.parent.parent.name
        if home in sides:
            sides[home].add(vignette.side)
        else:
            out.append(Problem("vignette_without_trial", rel, "", f"the folder {home!r} holds no trial.yaml"))
    for trial in kb.trials.values():
        spec = trial.spec
        text_only = [c for c in spec.criteria if not c.encoded]
        if spec.criteria and len(text_only) == len(spec.criteria):
            out.append(Problem("trial_criteria_text", trial.file, spec.id,
                               f"none of its {len(text_only)} criteria is encoded: every one is shown as 'to check' "
                               "and the trial matches every patient; encode those the condition language can say",
                               level="warning"))
        else:
            out += [Problem("trial_criterion_text", trial.file, f"{spec.id}.criteria[{c.id}]",
                            "left as text: shown as 'to check', it never decides", level="info") for c in text_only]
        checked = spec.status_checked_on
        if checked > today:
            out.append(Problem("trial_status_future", trial.file, f"{spec.id}.status_checked_on",
                               f"{checked.isoformat()} is after today ({today.isoformat()})"))
        elif isinstance(max_age, int) and today > months_after(checked, max_age):
            out.append(Problem("trial_status_stale", trial.file, f"{spec.id}.status_checked_on",
                               f"status {spec.status!r} was read on {checked.isoformat()}, more than {max_age} months "
                               f"ago (setting {TRIAL_STATUS_MAX_AGE}): read the registry record again and update "
                               "status and status_checked_on", level="warning"))
        for side, what in (("in", "eligible"), ("out", "ineligible")):
            if side not in sides[trial.id]:
                out.append(Problem("trial_without_vignette", trial.file, spec.id,
                                   f"no '{side}' vignette: add one in {trial.folder.name}/vignettes/ with a patient "
                                   f"{what} for the trial (side: {side})"))
    return out


# ---------------------------------------------------------------------- coverage


def check_coverage(kb: KnowledgeBase) -> list[Problem]:
    """Rules no vignette fires and pathway edges no vignette takes (warnings); runs every vignette."""
    from cds.engine import Engine
    from cds.vignettes import fired_by_vignettes, vignette_files

    files = vignette_files(kb.root)
    engine = Engine(kb)
    try:
        fired = fired_by_vignettes(engine, files)
    finally:
        engine.close()
    out: list[Problem] = []
    for lr in kb.rules:
        if lr.rule.id not in fired:
            out.append(Problem("not_covered", lr.file, lr.rule.id,
                               "no vignette fires this rule", level="warning"))
    for pw in kb.pathways:
        for edge in pw.edges:
            if edge.id not in fired:
                out.append(Problem("not_covered", kb.pathway_files[pw.id], edge.id,
                                   "no vignette takes this edge", level="warning"))
    return out
