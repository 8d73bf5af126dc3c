"""Evaluate one patient: facts -> three rule stages -> arguments -> ranking.

The knowledge is compiled once per :class:`Engine` (once per process through
:func:`cds.evaluate`); the population rulesets of stages 2 and 3 are
registered the first time a patient of that population is seen.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cds.engine import compiler
from cds.engine.compiler import (
    Compiled,
    EdgeMeaning,
    EntryMeaning,
    Population,
    RowMeaning,
    RuleMeaning,
)
from cds.engine.durable_host import DurableHost, RuleSet
from cds.errors import EngineError
from cds.facts import build_context
from cds.knowledge import conditions as cond
from cds.knowledge.loader import KnowledgeBase
from cds.knowledge.schema import Effect, EvidenceRef, Rule, Text
from cds.model.patient import Patient
from cds.model.recommendation import (
    Alert,
    Argument,
    ArgumentKind,
    Assumption,
    Direction,
    Evidence,
    ExcludedOption,
    Lang,
    MissingData,
    RankedOption,
    Recommendation,
    Reference,
    SafetyLevel,
    Scenario,
    Trace,
    Track,
    disclaimer,
)
from cds.ranking import Candidate, rank
from cds.surveillance import merge_alerts, plan_surveillance
from cds.trials.match import TrialMatcher, name_trials
from cds.version import SOFTWARE_VERSION

_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
@dataclass
class _Stage:
    ruleset: RuleSet
    compiled: Compiled


@dataclass(frozen=True)
class _Target:
    """One option effect of a rule: how it argues about which option."""

    option: str
    track: Track | None
    direction: Direction
    kind: ArgumentKind
    level: SafetyLevel | None
    strength: int


@dataclass(frozen=True)
class _Effects:
    """What one fired knowledge-stage rule contributes (its ``then``, sorted by kind)."""

    rule: Rule
    targets: tuple[_Target, ...]
    alerts: tuple[tuple[str, str | None], ...]  # alert id, severity override
    missing: tuple[str, ...]
    schedules: tuple[str, ...]
    alerts_when_applied: bool = False  # raise the alerts only if a target option was proposed
    option: str | None = None  # the one option this part of a split rule acts on


def _rule_effects(rule: Rule, option: str | None, alerts_when_applied: bool) -> _Effects:
    """A rule's effects (only one option's, when ``option`` is set) sorted by kind."""
    targets: list[_Target] = []
    alerts: list[tuple[str, str | None]] = []
    missing: list[str] = []
    schedules: list[str] = []
    for eff in rule.then:
        if eff.target is not None:
            if option is None or eff.target.option == option:
                targets.append(_target(eff))
        elif eff.alert is not None:
            alerts.append((eff.alert.id, eff.alert.severity))
        elif eff.missing is not None:
            missing.append(eff.missing.field)
        elif eff.surveil is not None:
            schedules.append(eff.surveil.schedule)
    return _Effects(rule, tuple(targets), tuple(alerts), tuple(missing), tuple(schedules), alerts_when_applied,
                    option)


@dataclass
class EvaluationDetail:
    """Everything an explanation needs besides the Recommendation itself.

    Attributes
    ----------
    context
        The facts the rules read (:func:`cds.facts.build_context`), with the derived facts
        under ``derived`` and the definitions applied (``assumptions``) filled in.
    recommendation
        The output contract.
    population
        The (primary site, category) population whose rulesets ran.
    schedules
        Surveillance schedules selected by ``surveil`` effects: (schedule id, rule id), in rule order.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> detail = default_engine().evaluate_detail(patient, surveillance=False)
    >>> detail.context["derived"]["category"], detail.population.name
    ('net_g1', 'pancreas.net_g1')
    >>> detail.schedules[-1]
    ('ww_pnet_small', 'surv.pnet.watchful_waiting')
    """

    context: dict[str, Any]
    recommendation: Recommendation
    population: Population
    # Surveillance schedules selected by `surveil` effects: (schedule id, rule id), in rule order.
    schedules: list[tuple[str, str]]


class Engine:
    """Compiled knowledge bound to a private durable_rules host.

    Building one compiles the classification stage; the rulesets of each population (primary
    site and category) are compiled the first time a patient of it is evaluated. Most callers
    share :func:`cds.default_engine` rather than build their own. Evaluation is thread-safe.

    Parameters
    ----------
    kb
        The loaded knowledge (:func:`cds.load_knowledge`); kept as :attr:`kb`.

    Examples
    --------
    >>> from cds import default_engine
    >>> engine = Engine(default_engine().kb)  # a second engine over the same knowledge
    >>> engine.kb.version == default_engine().kb.version
    True
    >>> engine.close()
    """

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._reference_cache: dict[str, Reference] = {}
        self._host = DurableHost()
        self._lock = threading.Lock()
        classification = compiler.compile_classification(kb)
        self._classification = _Stage(
            self._host.ruleset("classification", classification.rules), classification
        )
        self._populations: dict[Population, tuple[_Stage, _Stage]] = {}
        self._trials = TrialMatcher(t.spec for t in kb.trials.values())  # planned once, with the knowledge
        self._by_rules: dict[tuple[tuple[str, Hashable], ...], _Stage] = {}
        self._effects_by_name: dict[str, tuple[_Effects, ...]] = {}
        self._catalogue_order = {opt: i for i, opt in enumerate(kb.options)}
        self._labels: dict[Lang, dict[str, str]] = {
            lang: {opt: getattr(spec.label, lang) for opt, spec in kb.options.items()}
            for lang in ("en", "fr")
        }
        self._evidence_cache: dict[tuple[str, str | None, bool], Evidence] = {}
        # Trace order: classification first, then the knowledge files in load order.
        self._rule_order = {
            lr.rule.id: (0 if lr.rule.stage == "classification" else 1, i)
            for i, lr in enumerate(kb.rules)
        }
        self._edge_order = {
            e.id: i for i, e in enumerate(e for pw in kb.pathways for e in pw.edges)
        }
        self._pathways = {pw.id: pw for pw in kb.pathways}
        self._input_reads: dict[str, tuple[str, ...]] = {}

    # -------------------------------------------------------------- public

    def close(self) -> None:
        """Free the durable_rules rulesets of this engine (durable's own API never does).

        Closing twice does nothing; evaluating afterwards raises :class:`~cds.errors.EngineError`.

        Examples
        --------
        >>> from cds import default_engine, parse_patient
        >>> engine = Engine(default_engine().kb)
        >>> engine.close()
        >>> engine.evaluate(parse_patient('{"tumour": {"primary_site": "pancreas"}}'))
        Traceback (most recent call last):
        ...
        cds.errors.EngineError: the engine was closed
        """
        self._host.close()

    def evaluate(
        self, patient: Patient, lang: Lang = "en", surveillance: bool = True
    ) -> Recommendation:
        """Rank the options for one patient.

        Parameters
        ----------
        patient
            The validated patient.
        lang
            Language of the texts in the result (``en`` or ``fr``).
        surveillance
            ``False`` leaves the follow-up plan out (see :meth:`evaluate_detail`).

        Returns
        -------
        Recommendation
            The output contract (``cds schema recommendation``).

        Raises
        ------
        EngineError
            The rule engine failed (a bug in netcds or its knowledge, not in the input).

        Examples
        --------
        >>> from cds import default_engine, parse_patient
        >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
        ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
        >>> rec = default_engine().evaluate(patient, lang="fr", surveillance=False)
        >>> rec.language, rec.anti_tumour[0].option, rec.anti_tumour[0].label
        ('fr', 'watchful_waiting', 'Surveillance active')
        """
        return self.evaluate_detail(patient, lang, surveillance=surveillance).recommendation

    def evaluate_detail(
        self, patient: Patient, lang: Lang = "en", horizon_years: float | None = None,
        surveillance: bool = True,
    ) -> EvaluationDetail:
        """Evaluate one patient; ``horizon_years`` sets the surveillance horizon (default: the
        ``surveillance_default_horizon_years`` setting, 10 years).

        ``surveillance=False`` leaves the follow-up plan out (``Recommendation.surveillance``
        is then null): laying out a 10-year plan costs as much as the rules themselves, and a
        caller that only needs the ranked options need not pay for it.

        When a missing datum changes the answer (knowledge/catalogues/missing-data-scenarios.yaml), the patient is also
        evaluated under each hypothesis and the rankings are returned as ``scenarios``.

        Parameters
        ----------
        patient
            The validated patient.
        lang
            Language of the texts in the result (``en`` or ``fr``).
        horizon_years
            How far ahead to plan the follow-up; None for the setting.
        surveillance
            ``False`` leaves the follow-up plan out.

        Returns
        -------
        EvaluationDetail
            The recommendation with the facts, the population and the schedules behind it.

        Raises
        ------
        EngineError
            The rule engine failed, or two classification rules derived different values for
            the same fact (the knowledge must make them exclusive).

        Examples
        --------
        >>> from cds import default_engine, parse_patient
        >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
        ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
        >>> detail = default_engine().evaluate_detail(patient, horizon_years=5)
        >>> plan = detail.recommendation.surveillance
        >>> plan.schedule, plan.horizon_years, plan.plans[0].exam_counts
        ('ww_pnet_small', 5.0, {'mri_pancreas': 5})
        """
        run = self._run(patient, lang)
        ordered = list(run.schedules.items())  # in knowledge order of the selecting rules
        top = run.ranked["anti_tumour"][0].option if run.ranked["anti_tumour"] else None
        plan, surveillance_alerts = (
            plan_surveillance(self.kb, patient, ordered, top, horizon_years, lang, run.ctx)
            if surveillance and self.kb.planner is not None else (None, [])
        )
        alerts = [self._titled(a, lang) for a in merge_alerts(self._alerts(run.alerts, lang), surveillance_alerts)]
        scenarios = self._scenarios(patient, run, lang)
        # After ranking: every catalogue trial matched, and clinical_trial names the open ones that match.
        trials = self._trials.match(run.ctx) if self._trials else []
        rec = Recommendation(
            knowledge_version=self.kb.version,
            software_version=SOFTWARE_VERSION,
            patient_id=patient.id,
            as_of=patient.as_of.isoformat() if patient.as_of else None,
            language=lang,
            derived=dict(sorted(run.derived.items())),
            anti_tumour=name_trials(run.ranked["anti_tumour"], trials, lang) if trials else run.ranked["anti_tumour"],
            antisecretory=run.ranked["antisecretory"],
            excluded=run.excluded,
            alerts=alerts,
            missing_data=[
                MissingData(field=f, why=getattr(r.because, lang), rule=r.id)
                for f, r in sorted(run.missing.items())
            ],
            scenarios=scenarios,
            assumptions=run.assumptions,
            trace=run.trace,
            disclaimer=disclaimer(lang),
            surveillance=plan,
            references=self._references(
                [a.sources for o in (*run.ranked["anti_tumour"], *run.ranked["antisecretory"]) for a in o.arguments],
                [a.sources for e in run.excluded for a in e.reasons],
                [a.sources for a in alerts],
                [a.sources for a in run.assumptions],
                [a.sources for sc in scenarios for o in (*sc.anti_tumour, *sc.antisecretory) for a in o.arguments],
                [plan.sources] if plan is not None else [],
            ),
            trials=trials,
        )
        return EvaluationDetail(run.ctx, rec, run.population, ordered)

    def _titled(self, alert: Alert, lang: Lang) -> Alert:
        """The alert with its catalogue title and action (one text per alert id).

        The rules' alerts are built titled (:meth:`_alerts`): only the planner's need a copy.
        """
        spec = self.kb.alerts.get(alert.id)
        if spec is None:
            return alert
        title = getattr(spec.label, lang)
        action = getattr(spec.action, lang) if spec.action is not None else None
        if alert.title == title and alert.action == action:
            return alert
        return alert.model_copy(update={"title": title, "action": action})

    def _references(self, *groups: Sequence[Sequence[str]]) -> list[Reference]:
        """Every source cited, in the order first cited, each with its label and link."""
        cited = dict.fromkeys(s for group in groups for sources in group for s in sources)
        out = []
        for sid in cited:
            ref = self._reference_cache.get(sid)
            if ref is None:
                src = self.kb.sources.get(sid)
                if src is None:
                    continue
                ref = self._reference_cache[sid] = Reference(
                    id=sid, label=src.short, citation=src.citation, doi=src.doi, pmid=src.pmid, url=src.url,
                    link=src.link,
                )
            out.append(ref)
        return out

    def _run(self, patient: Patient, lang: Lang) -> _Run:
        """The three rule stages and the ranking for one patient (no scenarios, no follow-up plan)."""
        ctx = build_context(patient)

        # Stage 1: classification, then the definitions it applied (e.g. G2 -> well differentiated).
        fired1 = self._classification.ruleset.run(compiler.context_facts(ctx, self._classification.compiled))
        derived, assumptions = self._classified(fired1, lang)
        ctx["derived"] = derived
        for assumption in assumptions:
            _set_path(ctx, assumption.field, assumption.value)

        population = Population(ctx["tumour"]["primary_site"], _str_or_none(derived.get("category")))
        pathways_stage, knowledge_stage = self._stages(population)

        # Stage 2: pathways.
        fired2 = pathways_stage.ruleset.run(
            compiler.context_facts(ctx, pathways_stage.compiled),
            payload=compiler.Carried(ctx, pathways_stage.compiled),
        )
        entered: list[str] = []
        nodes: list[str] = []
        edges: list[str] = []
        candidates: dict[tuple[Track, str], Candidate] = {}
        # Input fields that were unknown when a step on the way was taken: everything proposed
        # downstream was decided without them, so it is conditional on them (never a guess).
        unknown_at: dict[str, frozenset[str]] = {}
        for name in dict.fromkeys(fired2):
            meaning = pathways_stage.compiled.meaning[name]
            if isinstance(meaning, EntryMeaning):
                entered.append(meaning.pathway)
                nodes.append(meaning.start)
                unknown_at[meaning.start] = unknown_at.get(meaning.start, frozenset()) | self._unknown_read(
                    f"enter:{meaning.pathway}", self._pathways[meaning.pathway].when, ctx)
                continue
            assert isinstance(meaning, EdgeMeaning)
            edge = meaning.edge
            edges.append(edge.id)
            decided_without = unknown_at.get(edge.from_, frozenset()) | self._unknown_read(edge.id, edge.when, ctx)
            if edge.to is not None:
                nodes.append(edge.to)
                unknown_at[edge.to] = unknown_at.get(edge.to, frozenset()) | decided_without
                continue
            assert edge.propose and edge.track and edge.strength and edge.because
            assert edge.evidence and edge.confirmation
            key = (edge.track, edge.propose)
            cand = candidates.setdefault(key, Candidate(edge.propose, edge.track))
            cand.depends_on.update(edge.depends_on)
            cand.depends_on.update(decided_without)
            cand.arguments.append(
                self._argument(_Target(edge.propose, edge.track, "for", "efficacy", None, edge.strength),
                               edge.id, edge.because, edge.sources, edge.evidence, edge.confirmation, lang)
            )

        ctx["candidate"] = {opt: True for (_, opt) in candidates}
        ctx["node"] = {n: True for n in nodes}
        ctx["pathway"] = {p: True for p in entered}

        # Stage 3: modifiers, safety, alerts.
        fired3 = knowledge_stage.ruleset.run(compiler.context_facts(ctx, knowledge_stage.compiled))
        alerts: dict[str, list[tuple[Rule, str | None]]] = {}
        missing: dict[str, Rule] = {}
        schedules: dict[str, str] = {}
        fired_rules: set[str] = set()
        # durable_rules fires in an order that changes with the compiled ruleset: take the
        # rules in knowledge order, so that wherever several rules raise the same alert, ask
        # for the same field or select the same schedule, the first in the knowledge wins.
        proposed: dict[str, list[Candidate]] = {}
        for cand in candidates.values():
            proposed.setdefault(cand.option, []).append(cand)
        by_rule: dict[tuple[str, str | None], _Effects] = {}
        for name in dict.fromkeys(fired3):
            for eff in self._effects(knowledge_stage.compiled, name):
                by_rule.setdefault((eff.rule.id, eff.option), eff)  # a statement named by two rows acts once
        fired_effects = sorted(by_rule.values(), key=lambda eff: self._knowledge_rank(eff.rule.id))
        for effects in fired_effects:
            rule = effects.rule
            applied = False
            for target in effects.targets:
                applied |= self._apply(proposed.get(target.option, ()), rule, target, lang)
            if effects.alerts_when_applied and not applied:
                continue
            for alert_id, severity in effects.alerts:
                alerts.setdefault(alert_id, []).append((rule, severity))
            for missing_field in effects.missing:
                missing.setdefault(missing_field, rule)
            for schedule in effects.schedules:
                schedules.setdefault(schedule, rule.id)
            # A rule made only of option effects fires whether or not its options were
            # proposed; it is part of the trace only when it acted on one.
            if applied or effects.alerts or effects.missing or effects.schedules:
                fired_rules.add(rule.id)

        ranked, excluded = rank(
            list(candidates.values()),
            self._catalogue_order,
            self._labels[lang].__getitem__,
            lambda cand: self._conditional_on(cand, ctx),
        )
        classification_ids = {
            m.rule.id for n in fired1
            if isinstance(m := self._classification.compiled.meaning.get(n), RuleMeaning)
        }
        trace = Trace(
            pathways=entered,
            nodes=list(dict.fromkeys(nodes)),
            edges=sorted(edges, key=lambda e: self._edge_order.get(e, 0)),
            fired_rules=sorted(classification_ids | fired_rules, key=self._knowledge_rank),
        )
        return _Run(ctx, population, derived, assumptions, ranked, excluded, alerts, missing,
                    schedules, trace)

    def _scenarios(self, patient: Patient, run: _Run, lang: Lang) -> list[Scenario]:
        """Rankings under each hypothesis of every missing datum that changes the answer.

        A scenario group is kept only when its hypotheses give different answers (options,
        categories or exclusions); a hypothesis that contradicts the rest of the input is skipped.
        """
        out: list[Scenario] = []
        for spec in self.kb.scenarios:
            if not cond.evaluate_all(spec.when, run.ctx):
                continue
            group: list[Scenario] = []
            for hyp in spec.hypotheses:
                hypothetical = _with_value(patient, spec.field, hyp.value)
                if hypothetical is None:
                    continue
                alt = self._run(hypothetical, lang)
                group.append(Scenario(
                    id=f"{spec.id}.{hyp.value}",
                    field=spec.field,
                    value=hyp.value,
                    assumption=getattr(hyp.label, lang),
                    derived=dict(sorted(alt.derived.items())),
                    anti_tumour=alt.ranked["anti_tumour"],
                    antisecretory=alt.ranked["antisecretory"],
                    excluded=alt.excluded,
                    alerts=sorted(alt.alerts),
                ))
            if len({_answer(sc) for sc in group}) > 1:
                out.extend(group)
        return out


    # ------------------------------------------------------------ helpers


    def _stages(self, population: Population) -> tuple[_Stage, _Stage]:
        with self._lock:
            stages = self._populations.get(population)
            if stages is None:
                pw = compiler.compile_pathways(self.kb, population)
                kn = compiler.compile_knowledge(self.kb, population)
                stages = (
                    self._register(f"pathways.{population.name}", pw),
                    self._register(f"knowledge.{population.name}", kn),
                )
                self._populations[population] = stages
            return stages

    def _register(self, name: str, compiled: Compiled) -> _Stage:
        """A stage for these rules, shared with any population that compiled to the same rules.

        Many populations compile to identical rulesets (the NEC of most sites, for
        instance); registering each once saves durable_rules' own compile time and memory.
        """
        stage = self._by_rules.get(compiled.signature)
        if stage is None:
            stage = self._by_rules[compiled.signature] = _Stage(
                self._host.ruleset(name, compiled.rules), compiled
            )
        return stage

    def _classified(self, fired: list[str], lang: Lang) -> tuple[dict[str, Any], list[Assumption]]:
        """The derived facts and the definitions applied by the classification rules that fired."""
        derived: dict[str, Any] = {}
        source: dict[str, str] = {}
        assumptions: dict[str, Assumption] = {}
        for name in sorted(dict.fromkeys(fired), key=self._knowledge_rank):
            meaning = self._classification.compiled.meaning.get(name)
            if not isinstance(meaning, RuleMeaning):
                continue
            rule = meaning.rule
            for eff in rule.then:
                if eff.assume is not None:
                    assumptions.setdefault(eff.assume.field, Assumption(
                        field=eff.assume.field, value=eff.assume.value,
                        why=getattr(rule.because, lang), rule=rule.id, sources=list(rule.sources),
                    ))
                if eff.derive is None:
                    continue
                key, value = eff.derive.key, eff.derive.value
                if key in derived and derived[key] != value:
                    raise EngineError(
                        f"classification rules {source[key]} and {name} derived different "
                        f"values for {key!r} ({derived[key]!r} and {value!r}); "
                        "the knowledge must make them exclusive"
                    )
                derived[key] = value
                source[key] = name
        return derived, sorted(assumptions.values(), key=lambda a: a.field)

    def _knowledge_rank(self, rule_id: str) -> tuple[int, int]:
        """A rule's place in the knowledge: classification first, then the files in load order."""
        return self._rule_order.get(rule_id, (2, 0))

    def _effects(self, compiled: Compiled, name: str) -> tuple[_Effects, ...]:
        """What a fired knowledge-stage rule contributes, read from the knowledge once per name.

        A matrix row stands for every statement that names it: one record per statement, whose
        alerts are raised only if it acts on a proposed option.
        """
        effects = self._effects_by_name.get(name)
        if effects is None:
            meaning = compiled.meaning[name]
            if isinstance(meaning, RowMeaning):
                effects = tuple(_rule_effects(rule, None, alerts_when_applied=True) for rule in meaning.rules)
            else:
                assert isinstance(meaning, RuleMeaning)
                effects = (_rule_effects(meaning.rule, meaning.option, alerts_when_applied=False),)
            self._effects_by_name[name] = effects
        return effects

    def _evidence(self, evidence: EvidenceRef, confirmation: str) -> Evidence:
        """Evidence records hold scalars only and are frozen: one instance per kind is shared."""
        key = (evidence.kind, evidence.level, confirmation in ("V", "policy"))
        found = self._evidence_cache.get(key)
        if found is None:
            found = self._evidence_cache[key] = Evidence(
                kind=evidence.kind,
                level=evidence.level,
                rank=self.kb.evidence_rank[evidence.kind],
                confirmed=key[2],
            )
        return found

    def _argument(
        self, target: _Target, rule_id: str, because: Text,
        sources: list[str], evidence: EvidenceRef, confirmation: str, lang: Lang,
    ) -> Argument:
        return Argument(
            direction=target.direction,
            kind=target.kind,
            safety_level=target.level,
            rule=rule_id,
            text=getattr(because, lang),
            sources=list(sources),
            evidence=self._evidence(evidence, confirmation),
            strength=target.strength,
        )

    def _apply(self, proposed: Sequence[Candidate], rule: Rule, target: _Target, lang: Lang) -> bool:
        """Add the rule's argument to the proposed candidates of its option (on its track, if it names
        one); False if none was proposed."""
        applied = False
        for cand in proposed:
            if target.track is not None and target.track != cand.track:
                continue
            arg = self._argument(target, rule.id, rule.because, rule.sources, rule.evidence,
                                 rule.confirmation, lang)
            if target.direction == "exclude":
                cand.exclusions.append(arg)
            else:
                cand.arguments.append(arg)
            applied = True
        return applied

    def _alerts(
        self, raised: Mapping[str, list[tuple[Rule, str | None]]], lang: Lang
    ) -> list[Alert]:
        out: list[Alert] = []
        for alert_id, hits in raised.items():  # hits come in knowledge order
            spec = self.kb.alerts[alert_id]
            sources = sorted({s for rule, _ in hits for s in rule.sources})
            severity = min((sev or spec.severity for _, sev in hits), key=_SEVERITY_ORDER.__getitem__)
            first = hits[0][0]
            out.append(
                Alert(
                    id=alert_id,
                    severity=severity,  # type: ignore[arg-type]
                    text=getattr(first.because, lang),
                    rule=first.id,
                    sources=sources,
                    rules=[rule.id for rule, _ in hits],
                    title=getattr(spec.label, lang),
                    action=getattr(spec.action, lang) if spec.action is not None else None,
                )
            )
        out.sort(key=lambda a: (_SEVERITY_ORDER[a.severity], a.id))
        return out

    def _unknown_read(self, name: str, when: Sequence[Mapping[str, Any]], ctx: Mapping[str, Any]) -> frozenset[str]:
        """Input fields a pathway step treated as known although they are unknown for this patient.

        A step whose condition reads ``either the field is unknown or it has this value`` (``$nex``
        beside a test of the same field in an ``$or``) was taken without the datum, so what follows
        depends on it. Fields whose absence means "none" (prior treatments, comorbidities,
        metastatic sites) and derived facts are not data to ask for.
        """
        reads = self._input_reads.get(name)
        if reads is None:
            reads = self._input_reads[name] = tuple(sorted(
                p for p in cond.unknown_accepted(when) if not p.startswith(cond.NOT_ASKED)
            ))
        if not reads:
            return frozenset()
        return frozenset(p for p in reads if cond.is_unknown(cond.lookup(ctx, p)))

    def _conditional_on(self, cand: Candidate, ctx: Mapping[str, Any]) -> list[str]:
        """Input fields the option depends on (catalogue and proposing edges) that are missing."""
        missing: list[str] = []
        paths = dict.fromkeys([*self.kb.options[cand.option].depends_on, *sorted(cand.depends_on)])
        for path in paths:
            if cond.is_unknown(cond.lookup(ctx, path)):
                missing.append(path)
        return missing


@dataclass
class _Run:
    """One pass of the three stages and the ranking."""

    ctx: dict[str, Any]
    population: Population
    derived: dict[str, Any]
    assumptions: list[Assumption]
    ranked: dict[Track, list[RankedOption]]
    excluded: list[ExcludedOption]
    alerts: dict[str, list[tuple[Rule, str | None]]]
    missing: dict[str, Rule]
    schedules: dict[str, str]
    trace: Trace


def _target(eff: Effect) -> _Target:
    """An option effect as the argument it makes: efficacy weighs, safety sets a ceiling."""
    if eff.argue is not None:
        return _Target(eff.argue.option, eff.argue.track, eff.argue.direction, "efficacy", None,
                       eff.argue.strength)
    if eff.safety is not None:
        level = eff.safety.level
        return _Target(eff.safety.option, eff.safety.track, "exclude" if level == "exclude" else "against",
                       "safety", level, 0)
    assert eff.exclude is not None
    return _Target(eff.exclude.option, eff.exclude.track, "exclude", "efficacy", None, 0)


def _answer(scenario: Scenario) -> tuple[Any, ...]:
    """What a board would read as the answer: options with their categories, and exclusions."""
    return (
        tuple((o.option, o.category) for o in scenario.anti_tumour),
        tuple((o.option, o.category) for o in scenario.antisecretory),
        tuple(sorted(e.option for e in scenario.excluded)),
    )


def _set_path(ctx: dict[str, Any], path: str, value: Any) -> None:
    node = ctx
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def _with_value(patient: Patient, path: str, value: Any) -> Patient | None:
    """The patient with one input field set, or None if that contradicts the rest of the input."""
    data = patient.model_dump(mode="json", exclude_none=True)
    _set_path(data, path, value)
    try:
        return Patient.model_validate(data)
    except ValidationError:
        return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
