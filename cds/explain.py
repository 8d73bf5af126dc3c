"""Why not: what kept an option out of first place, and what would change it.

Every explanation is computed from the *same* condition mappings the engine
ran (the ``when`` of the rules in ``engine.kb.rules`` and of the pathway edges
in ``engine.kb.pathways``), evaluated in Python by
:mod:`cds.knowledge.conditions` over the evaluation context that the engine
built (:attr:`cds.engine.EvaluationDetail.context`). Nothing here restates a
threshold: a rule edited in the knowledge changes its explanation too.

For an option X, in each track where it matters:

- **excluded**: the contraindication rules that excluded X, each with the
  conditions that held on the patient's values and the value that would lift
  them (``eGFR: 25 mL/min (< 30 mL/min) — would not apply at eGFR >= 30 mL/min``);
- **ranked, not first**: X's score against the first option's, the arguments
  against X with the conditions that held, the pathway proposals of X whose
  source step was reached but whose conditions failed, and the modifier rules
  arguing for X that did not apply (what would give X a stronger case);
- **not proposed**: every pathway edge proposing X (pathways the patient
  entered first, then the other pathways of the population, then the pathways
  of other populations with their failed entry conditions); for an edge whose
  source step was not reached, the edges on the way to it that stopped the
  patient;
- **what would change the result**: each failed or held test as one line with
  the threshold or value it needs, and missing data named by its field path
  (``Ki-67: unknown — provide tumour.ki67_percent``).

The explanation is data, in no language: paths, operators, values, ids and
statuses. The sentences a person reads ("Ki-67: 5 % (< 10 %) — would apply at
Ki-67 >= 10 %") are written by :mod:`cds.render.why_not` in the report
language. The texts it carries are the knowledge's own (a rule's or edge's
``because``, in the evaluation's language), as in the recommendation.

Preconditions not checked here: ``detail`` must come from an engine over the
same knowledge base ``kb`` (the rule and edge ids of the trace are looked up
in it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field

from cds.engine.compiler import applies_to
from cds.engine.engine import EvaluationDetail
from cds.errors import CdsError
from cds.knowledge import conditions as cond
from cds.knowledge.schema import Pathway, PathwayEdge, Rule
from cds.model.recommendation import TRACKS, Argument, ExcludedOption, RankedOption, Recommendation, Track
from cds.suggest import closest, did_you_mean

if TYPE_CHECKING:
    from cds.engine import Engine
    from cds.knowledge.loader import KnowledgeBase
    from cds.model.patient import Patient

#: Where an option stands in one track: ranked first, ranked below first, excluded by a
#: contraindication, or not proposed by any pathway step the patient reached.
Status = Literal["first", "ranked", "excluded", "not_proposed"]

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LeafCheck(_Model):
    """One leaf test (``path op expected``) on the patient's value.

    The smallest piece of an explanation: :mod:`cds.render.why_not` writes each one as a
    sentence (:func:`cds.render.why_not.leaf_sentence`), and :attr:`Explanation.changes`
    lists those whose outcome would move the option.

    Examples
    --------
    A Ki-67 of 5 % failing a test ``Ki-67 >= 10``:

    >>> test = LeafCheck(path="tumour.ki67_percent", op=">=", expected=10, actual=5, absent=False,
    ...                  missing=False, held=False)
    >>> test.held, test.model_dump()["actual"]
    (False, 5)
    """

    path: str
    op: str = Field(description="==, !=, <, <=, >, >=, exists or absent.")
    expected: Any = None
    actual: Any = Field(default=None, description="The patient's value; null when not recorded.")
    absent: bool = Field(description="The path has no value in the evaluation context.")
    missing: bool = Field(description="The value is input data that is unknown (null, absent, not_done).")
    held: bool


class ConditionCheck(_Model):
    """One condition of a rule or edge: whether it held, and the tests that decided it.

    Examples
    --------
    The condition that made a safety rule argue against surgery for a patient judged unfit:

    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> x = explain(default_engine(), patient, "surgery_curative")
    >>> check = x.tracks[0].against[0].conditions[0]
    >>> check.condition, check.held, [(t.path, t.actual) for t in check.tests]
    ('fit_for_major_surgery == false', True, [('fit_for_major_surgery', False)])
    """

    condition: str = Field(description="The condition as written (conditions.describe).")
    held: bool
    any_of: bool = Field(
        description="True when changing any one of the tests would change the condition."
    )
    tests: list[LeafCheck]


class RuleCheck(_Model):
    """A rule that argued (or could have argued) about the option.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> rule = explain(default_engine(), patient, "surgery_curative").tracks[0].against[0]
    >>> rule.rule, rule.direction, rule.safety_level, rule.sources
    ('safety.major_surgery.unfit', 'against', 'avoid', ['netcds_policy'])
    """

    rule: str
    direction: Literal["for", "against", "exclude"]
    strength: int
    safety_level: Literal["exclude", "avoid", "caution"] | None = Field(
        default=None, description="For a safety argument, its ceiling (it then has no weight)."
    )
    text: str = Field(description="The rule's reason (its `because`), in the evaluation's language.")
    sources: list[str]
    evidence_kind: str
    evidence_level: str | None = None
    unconfirmed: bool
    conditions: list[ConditionCheck] = Field(
        description="For a rule that applied: its conditions (all held). For one that did not: the failed ones."
    )


class EdgeCheck(_Model):
    """A pathway edge: one proposal of the option, or a step on the way to it.

    Examples
    --------
    A somatostatin analogue is proposed from a step the patient did not reach; the edge
    towards that step did not fire because resectability is not recorded:

    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> x = explain(default_engine(), patient, "ssa")
    >>> edge = x.tracks[0].pathways[1].proposals[0]
    >>> edge.edge, edge.from_reached, edge.fired
    ('pnet.fl.propose_ssa_low_ki67', False, False)
    >>> step = edge.blocked_by[0]
    >>> step.edge, step.conditions[0].condition
    ('pnet.to_advanced_locally_unresectable', 'disease.resectable == false')
    """

    edge: str
    pathway: str
    from_node: str
    to_node: str | None = None
    from_reached: bool
    fired: bool
    strength: int | None = None
    text: str | None = None
    sources: list[str] = Field(default_factory=list)
    conditions: list[ConditionCheck] = Field(
        default_factory=list, description="The conditions that failed (empty when the edge fired)."
    )
    blocked_by: list[EdgeCheck] = Field(
        default_factory=list,
        description="When the source step was not reached: the edges towards it that did not fire.",
    )


class PathwayCheck(_Model):
    """A pathway that proposes the option somewhere.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> x = explain(default_engine(), patient, "everolimus")
    >>> [(pw.pathway, pw.entered, pw.in_population) for pw in x.tracks[0].pathways][:3]
    [('pnet_well_differentiated', True, True),
     ('pnet_functioning', False, True),
     ('functioning_other_sites', False, False)]
    """

    pathway: str
    entered: bool
    in_population: bool = Field(description="The pathway belongs to the patient's population.")
    entry: list[ConditionCheck] = Field(
        default_factory=list, description="Entry conditions that failed (when not entered)."
    )
    proposals: list[EdgeCheck]


class TrackExplanation(_Model):
    """Where the option stands in one track (anti-tumour or antisecretory), and why.

    What is filled depends on :attr:`status`: rank, score and the first option's score
    with the arguments against, the proposals and modifier rules that did not apply for a
    ranked option; the exclusion rules for an excluded one; every pathway proposing it
    for one not proposed.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> tr = explain(default_engine(), patient, "surgery_curative").tracks[0]
    >>> tr.track, tr.status, tr.rank, tr.score, tr.safety_level, tr.first_option, tr.first_score
    ('anti_tumour', 'ranked', 3, 2, 'avoid', 'watchful_waiting', 5)
    """

    track: Track
    status: Status
    rank: int | None = None
    score: int | None = None
    category: str | None = None
    safety_level: Literal["avoid", "caution"] | None = Field(
        default=None, description="The safety ceiling that holds the option back, if any."
    )
    first_option: str | None = None
    first_score: int | None = None
    exclusions: list[RuleCheck] = Field(default_factory=list)
    against: list[RuleCheck] = Field(default_factory=list)
    proposals_not_applied: list[EdgeCheck] = Field(
        default_factory=list,
        description="Proposals of the option whose source step was reached but which did not fire.",
    )
    rules_not_applied: list[RuleCheck] = Field(
        default_factory=list, description="Modifier rules arguing for the option that did not apply."
    )
    pathways: list[PathwayCheck] = Field(
        default_factory=list, description="For an option not proposed: every pathway proposing it."
    )


class Explanation(_Model):
    """Why an option is where it is, and what would change it.

    Data in no language (paths, operators, values, ids); :func:`cds.render.why_not.why_not_view`
    writes its sentences. Built by :func:`explain` and :func:`explain_detail`.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> x = explain(default_engine(), patient, "ssa")
    >>> x.option, [(tr.track, tr.status) for tr in x.tracks]
    ('ssa', [('anti_tumour', 'not_proposed')])
    >>> [(t.path, t.op, t.expected) for t in x.changes], x.missing
    ([('disease.resectable', '==', False)], ['disease.status', 'disease.resectable'])
    """

    option: str
    language: Literal["en", "fr"]
    patient_id: str | None = None
    knowledge_version: str
    tracks: list[TrackExplanation]
    changes: list[LeafCheck] = Field(
        description="The tests whose outcome would change the result (pathway steps and tests that need "
                    "a value to be unknown left out), first occurrence first."
    )
    missing: list[str] = Field(description="Input fields that are unknown and would matter.")


class UnknownOptionError(CdsError, ValueError):
    """The option id is not in the catalogue.

    Parameters
    ----------
    option
        The id asked for; kept as :attr:`option`.
    known
        Every option id of the catalogue; the closest ones to ``option`` are kept as
        :attr:`suggestions` and named in the message.

    Examples
    --------
    >>> err = UnknownOptionError("ssa_lar", ["ssa", "prrt"])
    >>> str(err), err.suggestions
    ("unknown option 'ssa_lar'; did you mean 'ssa'? (allowed: ssa, prrt)", ['ssa'])
    """

    def __init__(self, option: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown option {option!r}{did_you_mean(option, known, n=3)} (allowed: {', '.join(known)})")
        self.option = option
        self.suggestions = closest(option, known, n=3)


# ---------------------------------------------------------------------- public


def explain(engine: Engine, patient: Patient, option: str, lang: Literal["en", "fr"] = "en") -> Explanation:
    """Evaluate ``patient`` and explain where ``option`` stands.

    Parameters
    ----------
    engine
        A compiled engine (:func:`cds.default_engine`).
    patient
        A validated patient (:func:`cds.parse_patient`, :func:`cds.validate_patient`).
    option
        An option id of the catalogue, ranked or not.
    lang
        Language of the knowledge's texts carried in the explanation (rule reasons).

    Returns
    -------
    Explanation
        Where the option stands in each track where it matters, and what would change it.

    Raises
    ------
    UnknownOptionError
        When ``option`` is not in the option catalogue.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> x = explain(default_engine(), patient, "surgery_curative", "fr")
    >>> x.language, x.tracks[0].status, [t.path for t in x.changes]
    ('fr', 'ranked', ['fit_for_major_surgery'])
    >>> explain(default_engine(), patient, "surgery")
    Traceback (most recent call last):
    ...
    cds.explain.UnknownOptionError: unknown option 'surgery'; did you mean ...
    """
    if option not in engine.kb.options:
        raise UnknownOptionError(option, list(engine.kb.options))
    return explain_detail(engine.kb, engine.evaluate_detail(patient, lang), option)


def explain_all(detail: EvaluationDetail, kb: KnowledgeBase) -> list[Explanation]:
    """An explanation for every option that is not ranked first in its track.

    Options ranked below first come first (track order, then rank), then the
    excluded options, each explained once even when it appears in two tracks.

    Parameters
    ----------
    detail
        An evaluation that already ran (:meth:`cds.engine.Engine.evaluate_detail`).
    kb
        The knowledge base of the engine that ran it.

    Returns
    -------
    list[Explanation]
        One per option ranked below first or excluded; empty when every track has one option.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> engine = default_engine()
    >>> detail = engine.evaluate_detail(patient, surveillance=False)
    >>> [(x.option, x.tracks[0].rank) for x in explain_all(detail, engine.kb)]
    [('ablation', 2), ('surgery_curative', 3)]
    """
    rec = detail.recommendation
    wanted: list[str] = []
    for track in TRACKS:
        wanted.extend(o.option for o in _ranked(rec, track) if o.rank > 1)
    wanted.extend(e.option for e in rec.excluded)
    return [explain_detail(kb, detail, option) for option in dict.fromkeys(wanted)]


def explain_detail(kb: KnowledgeBase, detail: EvaluationDetail, option: str) -> Explanation:
    """Explain ``option`` for an evaluation that already ran (no second evaluation).

    Parameters
    ----------
    kb
        The knowledge base of the engine that ran the evaluation.
    detail
        The evaluation (:meth:`cds.engine.Engine.evaluate_detail`).
    option
        An option id of the catalogue, ranked or not.

    Returns
    -------
    Explanation
        Where the option stands in each track where it matters, and what would change it.

    Raises
    ------
    UnknownOptionError
        When ``option`` is not in the option catalogue.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> engine = default_engine()
    >>> detail = engine.evaluate_detail(patient, surveillance=False)
    >>> x = explain_detail(engine.kb, detail, "watchful_waiting")
    >>> x.tracks[0].status, x.tracks[0].rank, x.changes
    ('first', 1, [])
    """
    if option not in kb.options:
        raise UnknownOptionError(option, list(kb.options))
    return _Explainer(kb, detail).explain(option)


# -------------------------------------------------------------------- helpers


def _ranked(rec: Recommendation, track: Track) -> list[RankedOption]:
    return rec.anti_tumour if track == "anti_tumour" else rec.antisecretory


class _Explainer:
    def __init__(self, kb: KnowledgeBase, detail: EvaluationDetail) -> None:
        self.kb = kb
        self.detail = detail
        self.rec = detail.recommendation
        self.ctx: Mapping[str, Any] = detail.context
        self.rules = {lr.rule.id: lr.rule for lr in kb.rules}
        self.reached = set(self.rec.trace.nodes)
        self.fired_edges = set(self.rec.trace.edges)
        self.entered = list(self.rec.trace.pathways)

    # ------------------------------------------------------------ top level

    def explain(self, option: str) -> Explanation:
        tracks: list[TrackExplanation] = []
        spec = self.kb.options[option]
        for track in TRACKS:
            if track not in spec.tracks:
                continue
            status = self._status(option, track)
            # A track is explained when the option is in it, or when a pathway the patient
            # entered could have proposed it there; the antisecretory track of a
            # non-functioning tumour, say, has nothing to tell.
            if status == "not_proposed" and not (
                self._entered_proposes(option, track) and self._track_in_use(track)
            ):
                continue
            tracks.append(self._track(option, track, status))
        if not tracks:
            # Proposed nowhere on the patient's way: say where it is proposed (main track first).
            with_edges = [t for t in spec.tracks if self._proposing_edges(option, t)]
            tracks.append(self._track(option, (with_edges or spec.tracks)[0], "not_proposed"))

        tests = [t for tr in tracks for t in _all_tests(tr)]
        judge = _Changes(self.kb.manifest.changeable.fixed, self.kb.manifest.changeable.one_way, option)
        movers = [t for tr in tracks for t in judge.track(tr)]
        changes = list({_key(t): t for t in movers}.values())
        missing = [t.path for t in tests if t.missing]
        return Explanation(
            option=option,
            language=self.rec.language,
            patient_id=self.rec.patient_id,
            knowledge_version=self.rec.knowledge_version,
            tracks=tracks,
            changes=list(dict.fromkeys(changes)),
            missing=list(dict.fromkeys(missing)),
        )

    def _status(self, option: str, track: Track) -> Status:
        for ranked in _ranked(self.rec, track):
            if ranked.option == option:
                return "first" if ranked.rank == 1 else "ranked"
        if any(e.option == option and e.track == track for e in self.rec.excluded):
            return "excluded"
        return "not_proposed"

    def _track(self, option: str, track: Track, status: Status) -> TrackExplanation:
        if status in ("first", "ranked"):
            ranked = _ranked(self.rec, track)
            mine = next(o for o in ranked if o.option == option)
            first = ranked[0]
            if status == "first":
                return TrackExplanation(
                    track=track, status=status,
                    rank=mine.rank, score=mine.score, category=mine.category, safety_level=mine.safety_level,
                    against=[self._fired_rule(a) for a in mine.arguments if a.direction == "against"],
                )
            return TrackExplanation(
                track=track, status=status,
                rank=mine.rank, score=mine.score, category=mine.category, safety_level=mine.safety_level,
                first_option=first.option, first_score=first.score,
                against=[self._fired_rule(a) for a in mine.arguments if a.direction == "against"],
                proposals_not_applied=self._proposals_not_applied(option, track),
                rules_not_applied=self._rules_not_applied(option, track, mine.arguments),
            )
        if status == "excluded":
            excluded = next(e for e in self.rec.excluded if e.option == option and e.track == track)
            return TrackExplanation(
                track=track, status=status,
                exclusions=[self._fired_rule(a) for a in _reasons(excluded)],
            )
        return TrackExplanation(track=track, status=status, pathways=self._pathway_checks(option, track))

    # --------------------------------------------------------------- rules

    def _fired_rule(self, arg: Argument) -> RuleCheck:
        rule = self.rules.get(arg.rule)
        conds = [self._check(c) for c in rule.when] if rule is not None else []
        return RuleCheck(
            rule=arg.rule,
            direction=arg.direction,
            strength=arg.strength,
            safety_level=arg.safety_level,
            text=arg.text,
            sources=list(arg.sources),
            evidence_kind=arg.evidence.kind,
            evidence_level=arg.evidence.level,
            unconfirmed=not arg.evidence.confirmed,
            conditions=conds,
        )

    def _rules_not_applied(
        self, option: str, track: Track, have: Sequence[Argument]
    ) -> list[RuleCheck]:
        """Rules arguing for the option in this population that did not fire for it."""
        applied = {a.rule for a in have}
        out: list[RuleCheck] = []
        for loaded in self.kb.rules:
            rule = loaded.rule
            if rule.id in applied or not applies_to(rule.when, self.detail.population):
                continue
            strength = _argues_for(rule, option, track)
            if strength is None:
                continue
            failed = [self._check(c) for c in rule.when if not cond.evaluate(c, self.ctx)]
            if not failed or any(_off_path(t) for c in failed for t in c.tests):
                continue  # held (fired for another reason) or needs a step this patient never took
            out.append(
                RuleCheck(
                    rule=rule.id, direction="for", strength=strength,
                    text=getattr(rule.because, self.rec.language), sources=list(rule.sources),
                    evidence_kind=rule.evidence.kind, evidence_level=rule.evidence.level,
                    unconfirmed=rule.confirmation not in ("V", "policy"),
                    conditions=failed,
                )
            )
        return out

    # ------------------------------------------------------------ pathways

    def _proposing_edges(self, option: str, track: Track) -> list[tuple[Pathway, PathwayEdge]]:
        return [
            (pw, e) for pw in self.kb.pathways for e in pw.edges
            if e.propose == option and e.track == track
        ]

    def _track_in_use(self, track: Track) -> bool:
        """The recommendation has something in this track (ranked or excluded)."""
        return bool(_ranked(self.rec, track)) or any(e.track == track for e in self.rec.excluded)

    def _entered_proposes(self, option: str, track: Track) -> bool:
        return any(pw.id in self.entered for pw, _ in self._proposing_edges(option, track))

    def _proposals_not_applied(self, option: str, track: Track) -> list[EdgeCheck]:
        out: list[EdgeCheck] = []
        for pw, edge in self._proposing_edges(option, track):
            if pw.id not in self.entered or edge.from_ not in self.reached:
                continue
            if edge.id in self.fired_edges:
                continue
            out.append(self._edge(pw, edge, route=False))
        return out

    def _pathway_checks(self, option: str, track: Track) -> list[PathwayCheck]:
        by_pathway: dict[str, list[PathwayEdge]] = {}
        pathways: dict[str, Pathway] = {}
        for pw, edge in self._proposing_edges(option, track):
            by_pathway.setdefault(pw.id, []).append(edge)
            pathways[pw.id] = pw

        def order(pid: str) -> tuple[int, int]:
            pw = pathways[pid]
            if pid in self.entered:
                return (0, self.entered.index(pid))
            in_pop = applies_to(pw.when, self.detail.population)
            return (1 if in_pop else 2, list(pathways).index(pid))

        out: list[PathwayCheck] = []
        for pid in sorted(pathways, key=order):
            pw = pathways[pid]
            entered = pid in self.entered
            in_pop = entered or applies_to(pw.when, self.detail.population)
            entry = [] if entered else [
                self._check(c) for c in pw.when if not cond.evaluate(c, self.ctx)
            ]
            # Edges of a pathway not entered are listed without their conditions: none of them
            # could fire before the entry conditions hold.
            proposals = [
                self._edge(pw, e, route=True, evaluate=entered) for e in by_pathway[pid]
            ] if in_pop else []
            out.append(
                PathwayCheck(
                    pathway=pid, entered=entered,
                    in_population=in_pop, entry=entry, proposals=proposals,
                )
            )
        return out

    def _edge(self, pw: Pathway, edge: PathwayEdge, *, route: bool, evaluate: bool = True) -> EdgeCheck:
        fired = edge.id in self.fired_edges
        from_reached = pw.id in self.entered and edge.from_ in self.reached
        failed = [] if fired or not evaluate else [
            self._check(c) for c in edge.when if not cond.evaluate(c, self.ctx)
        ]
        blocked: list[EdgeCheck] = []
        if route and evaluate and not from_reached and pw.id in self.entered:
            blocked = [self._edge(pw, e, route=False) for e in self._blockers(pw, edge.from_)]
        return EdgeCheck(
            edge=edge.id, pathway=pw.id,
            from_node=edge.from_, to_node=edge.to,
            from_reached=from_reached, fired=fired, strength=edge.strength,
            text=getattr(edge.because, self.rec.language) if edge.because else None,
            sources=list(edge.sources), conditions=failed, blocked_by=blocked,
        )

    def _blockers(self, pw: Pathway, target: str) -> list[PathwayEdge]:
        """Where the way to ``target`` stopped: the edges that did not fire out of the
        reached steps nearest to ``target``, on a shortest way to it."""
        graph: nx.DiGraph[str] = nx.DiGraph()
        graph.add_nodes_from(n.id for n in pw.nodes)
        graph.add_edges_from((e.from_, e.to) for e in pw.edges if e.to is not None)
        if target not in graph:
            return []
        to_target: dict[str, int] = nx.single_target_shortest_path_length(graph, target)
        reached = [n.id for n in pw.nodes if n.id in self.reached and n.id in to_target]
        if not reached:
            return []
        nearest = min(to_target[n] for n in reached)
        frontier = {n for n in reached if to_target[n] == nearest}
        return [
            e for e in pw.edges
            if e.from_ in frontier and e.to is not None and e.id not in self.fired_edges
            and to_target.get(e.to) == nearest - 1
        ]

    # ---------------------------------------------------------- conditions

    def _check(self, condition: Mapping[str, Any]) -> ConditionCheck:
        held = cond.evaluate(condition, self.ctx)
        ((key, _),) = condition.items()
        any_of = (key == "$or") != held if key in cond.LOGICAL else True
        return ConditionCheck(
            condition=cond.describe(condition),
            held=held,
            any_of=any_of,
            tests=[self._test(c, held) for c in _deciding(condition, self.ctx, held)],
        )

    def _test(self, leaf_cond: Mapping[str, Any], held: bool) -> LeafCheck:
        (leaf,) = list(cond.leaves(leaf_cond))
        raw = cond.lookup(self.ctx, leaf.path)
        absent = cond.is_missing(raw)
        flag = leaf.path.startswith(cond.NOT_ASKED)
        missing = not flag and cond.is_unknown(raw)
        return LeafCheck(
            path=leaf.path, op=leaf.op, expected=leaf.value, actual=None if absent else raw,
            absent=absent, missing=missing, held=held,
        )


def _deciding(condition: Mapping[str, Any], ctx: Mapping[str, Any], held: bool) -> Iterator[Mapping[str, Any]]:
    """The leaf conditions that decided the outcome ``held`` of ``condition``.

    A condition that held: for ``$and`` every part, for ``$or`` the parts that
    held. A condition that failed: for ``$and`` the parts that failed, for
    ``$or`` every part (any one would have made it hold).
    """
    ((key, body),) = condition.items()
    if key not in cond.LOGICAL:
        yield condition
        return
    for sub in body:
        sub_held = cond.evaluate(sub, ctx)
        deciding = (held or not sub_held) if key == "$and" else (not held or sub_held)
        if deciding:
            yield from _deciding(sub, ctx, sub_held)


def _reasons(excluded: ExcludedOption) -> list[Argument]:
    return list(excluded.reasons)


def _argues_for(rule: Rule, option: str, track: Track) -> int | None:
    for eff in rule.then:
        arg = eff.argue
        if arg is not None and arg.option == option and arg.direction == "for" and arg.track in (None, track):
            return arg.strength
    return None


def _off_path(test: LeafCheck) -> bool:
    """A test on a pathway step, pathway or another proposal: not something data can change."""
    return test.path.startswith(("node.", "pathway.", "candidate."))


def _all_tests(track: TrackExplanation) -> Iterator[LeafCheck]:
    def from_edge(edge: EdgeCheck) -> Iterator[LeafCheck]:
        for c in edge.conditions:
            yield from c.tests
        for b in edge.blocked_by:
            yield from from_edge(b)

    for rule in (*track.exclusions, *track.against, *track.rules_not_applied):
        for c in rule.conditions:
            yield from c.tests
    for edge in track.proposals_not_applied:
        yield from from_edge(edge)
    for pw in track.pathways:
        if not pw.in_population:
            continue  # another site or category: not something the patient's data can change
        for c in pw.entry:
            yield from c.tests
        for edge in pw.proposals:
            yield from from_edge(edge)


class _Changes:
    """Which tests are changes that can happen and would, alone, move the option.

    A rule that applied (an exclusion, an argument against) stops applying when any one
    of its tests changes: each test that can change is listed. A rule or edge that did
    not apply is listed only when changing one datum would make every one of its failed
    conditions hold; a proposal whose step was not reached, only through the edges that
    stopped the patient on the way. A test is a change that can happen unless it reads
    a pathway step, needs a value to become unknown, reads a fixed datum (the primary
    site), moves a one-way datum backwards (stage), or asks for a previous course of the
    option itself (a re-treatment is not how the option would first be proposed).
    """

    def __init__(self, fixed: Sequence[str], one_way: Mapping[str, Sequence[str]], option: str) -> None:
        self.fixed = frozenset(fixed)
        self.one_way = one_way
        self.own_history = frozenset(f"{ns}.{option}" for ns in ("prior", "prior_response", "prior_line"))

    def can_change(self, test: LeafCheck) -> bool:
        if _off_path(test) or not _actionable(test) or test.path in self.fixed:
            return False
        unknown = isinstance(test.expected, str) and test.expected in cond.UNKNOWN_VALUES
        if not test.held and test.op == "==" and unknown:
            return False  # would need the datum to become unknown
        if test.path in self.own_history and not test.held:
            return False
        order = self.one_way.get(test.path)
        if order is not None and test.op in ("==", "!=") and test.actual in order:
            later = order[order.index(test.actual) + 1:]
            if not test.held and test.op == "==":
                return test.expected in later
            return bool(later)  # a rule that holds lifts only if the datum can still move on
        return True

    def held(self, conditions: Sequence[ConditionCheck]) -> list[LeafCheck]:
        return [t for c in conditions for t in c.tests if self.can_change(t)]

    def failed(self, conditions: Sequence[ConditionCheck]) -> list[LeafCheck]:
        """The tests on the one datum whose change would make every failed condition hold."""
        if not conditions:
            return []
        fields: set[str] | None = None
        for c in conditions:
            movable = {t.path for t in c.tests if self.can_change(t)}
            if not c.any_of:  # every failed part must change: one datum only if they share it
                paths = {t.path for t in c.tests}
                movable = movable if len(paths) == 1 and movable == paths else set()
            fields = movable if fields is None else fields & movable
        if not fields or len(fields) != 1:
            return []
        (path,) = fields
        return [t for c in conditions for t in c.tests if t.path == path and self.can_change(t)]

    def edge(self, edge: EdgeCheck) -> list[LeafCheck]:
        if edge.fired:
            return []
        if edge.from_reached or not edge.blocked_by:
            return self.failed(edge.conditions)
        if edge.conditions:
            return []  # the step is not reached and the proposal itself fails: no single change
        return [t for b in edge.blocked_by for t in self.edge(b)]

    def track(self, track: TrackExplanation) -> Iterator[LeafCheck]:
        for rule in (*track.exclusions, *track.against):
            yield from self.held(rule.conditions)
        for rule in track.rules_not_applied:
            yield from self.failed(rule.conditions)
        for edge in track.proposals_not_applied:
            yield from self.edge(edge)
        for pw in track.pathways:
            if not pw.in_population:
                continue  # another site or category: not something the patient's data can change
            if pw.entered:
                for edge in pw.proposals:
                    yield from self.edge(edge)
            else:
                yield from self.failed(pw.entry)


def _key(test: LeafCheck) -> str:
    """Identity of a test for de-duplication (a leaf may be reached through several rules)."""
    return test.model_dump_json()


def _actionable(test: LeafCheck) -> bool:
    """Tests worth listing under "what would change the result".

    Left out: pathway steps (they follow from the data, which is listed), and
    tests that need a value to be *unknown* (forgetting data is not a change).
    """
    return not _off_path(test) and not (test.op == "absent" and not test.held)
