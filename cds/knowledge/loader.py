"""Load, validate and cross-check every knowledge and pathway file at once.

Loading is all-or-nothing: every problem in every file is collected and raised
together as one :class:`~cds.errors.KnowledgeError`, so an author fixing a
typo sees all the others in the same run.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cds.errors import KnowledgeError, Problem
from cds.files import write_file
from cds.knowledge import conditions as cond
from cds.knowledge.conditions import FieldSpec, Vocabulary
from cds.knowledge.layout import Layout
from cds.knowledge.schema import (
    CLASSIFICATION_EFFECTS,
    COMPUTED_SITUATIONS,
    PLANNER_ALERT_FIELDS,
    PLANNER_TEXT_FIELDS,
    SETTING_DEFAULT_HORIZON,
    SETTING_RADIATION_ALERT,
    TEXT_RESOLVER,
    AlertCatalogue,
    AlertSpec,
    Config,
    DerivedCatalogue,
    DerivedSpec,
    DoseTable,
    EvidenceScale,
    KnowledgeManifest,
    MatrixCondition,
    MatrixEntry,
    Modality,
    NotModelledCatalogue,
    OptionCatalogue,
    OptionSpec,
    Pathway,
    PlannerAlert,
    RecommendationSpec,
    Rule,
    SafetyMatrixFile,
    ScenarioCatalogue,
    ScenarioSpec,
    Schedule,
    Setting,
    Source,
    SourceCatalogue,
    SurveillanceCatalogue,
    SurveillancePlanner,
    Text,
)
from cds.knowledge.setting_refs import MARKER, SettingUse, resolver, texts_in
from cds.knowledge.vocabulary import full_vocabulary, patient_vocabulary
from cds.knowledge.yaml_lines import line_of
from cds.resources import knowledge_dir, pathways_dir
from cds.trials.loader import LoadedTrial, trial_problems
from cds.trials.model import TrialSpec

M = TypeVar("M", bound=BaseModel)

# libyaml's C loader when available: loading is on the cold-start path of every CLI call.
_YamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Problems of {setting:NAME} placeholders in texts (reported under their own code, not "schema").
_TEXT_PROBLEMS = ("unknown_setting", "setting_placeholder")
_MARKER_BYTES = MARKER.encode()

#: Where the missing-data scenarios are (for messages).
SCENARIO_FILE = "knowledge/catalogues/missing-data-scenarios.yaml"

# Namespaces that exist only after the pathways ran.
_LATE_NAMESPACES = ("candidate.", "node.", "pathway.")


@dataclass(frozen=True)
class LoadedRule:
    """A rule of the knowledge with the file it came from (for messages, lint and coverage).

    Examples
    --------
    >>> first = load_knowledge().rules[0]
    >>> first.file.startswith("knowledge/"), bool(first.rule.id)
    (True, True)
    """

    rule: Rule
    file: str
    recommendation: str | None = None


@dataclass(frozen=True)
class LoadedRecommendation:
    """A recommendation of the knowledge: its file and what it holds (see :mod:`cds.knowledge.layout`).

    Examples
    --------
    >>> kb = load_knowledge()
    >>> rec = next(iter(kb.recommendations.values()))
    >>> rec.file.endswith("/recommendation.yaml") and rec.folder.name == rec.spec.id
    True
    """

    spec: RecommendationSpec
    file: str
    folder: Path

    @property
    def id(self) -> str:
        """The recommendation's id (its folder's name)."""
        return self.spec.id


@dataclass
class KnowledgeBase:
    """Everything the engine, the linter and the renderers read; built once per process.

    Examples
    --------
    >>> kb = load_knowledge()
    >>> "prrt" in kb.options and kb.version.startswith(kb.manifest.version + "+")
    True
    """

    root: Path
    pathways_root: Path
    manifest: KnowledgeManifest
    content_hash: str
    sources: dict[str, Source]
    evidence_rank: dict[str, int]
    evidence_labels: dict[str, Any]
    options: dict[str, OptionSpec]
    alerts: dict[str, AlertSpec]
    derived: dict[str, DerivedSpec]
    settings: dict[str, Any]
    setting_specs: dict[str, Setting]
    rules: list[LoadedRule]
    pathways: list[Pathway]
    pathway_files: dict[str, str]
    vocabulary: Vocabulary
    # The recommendations (knowledge/recommendations/<area>/<id>/), by id, in path order; and who
    # owns each rule and pathway edge (rule or edge id -> recommendation id).
    recommendations: dict[str, LoadedRecommendation] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    # Surveillance (cds.surveillance): schedule catalogue, dose table, planner alert texts, and the
    # planner's words and policy (settings resolved); None without a surveillance catalogue.
    planner: SurveillancePlanner | None = None
    schedules: dict[str, Schedule] = field(default_factory=dict)
    modalities: dict[str, Modality] = field(default_factory=dict)
    dose_assumptions: list[Text] = field(default_factory=list)
    surveillance_principles: list[Text] = field(default_factory=list)
    planner_alerts: list[PlannerAlert] = field(default_factory=list)
    # The contraindication matrix (knowledge/catalogues/safety-matrix/*.yaml): its rows and statements; the
    # statements with a level are also in `rules`, compiled like any other safety rule.
    matrix_conditions: dict[str, MatrixCondition] = field(default_factory=dict)
    matrix_entries: list[tuple[MatrixEntry, str]] = field(default_factory=list)
    # Missing data that changes the answer (knowledge/catalogues/missing-data-scenarios.yaml).
    scenarios: list[ScenarioSpec] = field(default_factory=list)
    # The rules, edges, matrix rows and scenarios whose conditions read named settings, with their
    # texts (for the lint check of numbers written by hand: cds.knowledge.setting_refs).
    setting_uses: list[SettingUse] = field(default_factory=list)
    # The trial catalogue (knowledge/catalogues/trials/<id>/trial.yaml), by id, in folder order; empty without one.
    trials: dict[str, LoadedTrial] = field(default_factory=dict)
    # Results of pure functions of this knowledge (the compiler's translations, the
    # surveillance layouts: cds.surveillance.memo): the knowledge never changes once
    # loaded, so they stay valid for its lifetime.
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def version(self) -> str:
        """The knowledge version every output names: the manifest's version and a hash of the files."""
        return f"{self.manifest.version}+{self.content_hash}"



def load_knowledge(
    root: Path | None = None, pathways_root: Path | None = None
) -> KnowledgeBase:
    """Load and check the knowledge and the pathways, reporting every problem at once.

    Parameters
    ----------
    root
        The ``knowledge/`` folder (default: the bundled one, or ``NETCDS_CONTENT``).
    pathways_root
        The ``pathways/`` folder (default: the bundled one).

    Returns
    -------
    KnowledgeBase
        The validated knowledge: catalogues, settings, rules, pathways, matrix, follow-up schedules.

    Raises
    ------
    KnowledgeError
        Listing every problem found (file, rule id or clause, what is wrong, a suggestion).

    Examples
    --------
    >>> kb = load_knowledge()
    >>> len(kb.pathways) > 10, kb.settings["rapid_progression_months"]
    (True, 6)
    """
    root = (root or knowledge_dir()).resolve()
    pathways_root = (pathways_root or pathways_dir()).resolve()
    problems: list[Problem] = []
    loader = _Loader(root, pathways_root, problems)
    kb = loader.load()
    if problems or kb is None:
        raise KnowledgeError(problems)
    return kb


class _Loader:
    def __init__(self, root: Path, pathways_root: Path, problems: list[Problem]) -> None:
        self.patient_vocab = patient_vocabulary()
        self.root = root
        self.layout = Layout(root)
        self.pathways_root = pathways_root
        self.problems = problems
        # Fills {setting:NAME} in texts once the settings are known (cds.knowledge.setting_refs).
        self.resolve_text: Callable[[str, str], str] | None = None
        # (file, id) -> the settings its conditions name; matrix condition id -> its file.
        self.reads: dict[tuple[str, str], set[str]] = {}
        self.condition_files: dict[str, str] = {}

    # -------------------------------------------------------------- helpers

    def problem(self, code: str, file: str, loc: str, message: str) -> None:
        self.problems.append(Problem(code, file, loc, message))

    def rel(self, path: Path) -> str:
        for base in (self.root.parent, self.pathways_root.parent):
            try:
                return str(path.relative_to(base))
            except ValueError:
                continue
        return str(path)

    def read_yaml(self, path: Path) -> tuple[Any, bytes]:
        """The parsed data and the file's bytes (None and b"" when it cannot be read)."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            self.problem("missing_file", self.rel(path), "", "file not found")
            return None, b""
        cached = _parse_cache_get(raw)
        if cached is not _MISS:
            return cached, raw
        try:
            data = yaml.load(raw.decode("utf-8"), Loader=_YamlLoader)
        except yaml.YAMLError as exc:
            self.problem("yaml_syntax", self.rel(path), "", f"not valid YAML: {exc}")
            return None, raw
        _parse_cache_put(raw, data)
        return data, raw

    def parse(self, model: type[M], path: Path) -> M | None:
        data, raw = self.read_yaml(path)
        if data is None:
            return None
        # Texts are given the settings in force only in files that have a placeholder (fast path).
        context = (
            {TEXT_RESOLVER: self.resolve_text}
            if self.resolve_text is not None and _MARKER_BYTES in raw else None
        )
        try:
            return model.model_validate(data, context=context)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                loc = _friendly_loc(data, err["loc"]) or loc
                code = err["type"] if err["type"] in _TEXT_PROBLEMS else "schema"
                line = line_of(raw, err["loc"])  # the file is composed again only when it fails
                self.problems.append(Problem(code, self.rel(path), loc, err["msg"], line=line))
        return None

    def parse_split(self, model: type[M], name: str, list_field: str) -> M | None:
        """A folder catalogue (``catalogues/<name>/*.yaml``) as one, its files' lists joined."""
        files = self.layout.catalogue_files(name)
        if not files:
            self.problem("missing_file", self.rel(self.layout.catalogue_folder(name)), "",
                         "catalogue folder missing or empty (expected at least one .yaml file)")
            return None
        parts = [self.parse(model, path) for path in files]
        if any(p is None for p in parts):
            return None
        merged: list[Any] = []
        for part in parts:
            merged.extend(getattr(part, list_field))
        # The parts' items are already valid: passed as they are, they keep their texts as written.
        return model.model_validate({list_field: merged})

    # ----------------------------------------------------------------- load

    def load(self) -> KnowledgeBase | None:
        lay = self.layout
        # The settings first: the texts of every other file may name them ({setting:NAME}).
        config = self.parse_split(Config, "settings", "settings")
        if config is not None:
            self.resolve_text = resolver({s.name: s.value for s in config.settings})
        manifest = self.parse(KnowledgeManifest, lay.manifest)
        sources_cat = self.parse_split(SourceCatalogue, "sources", "sources")
        scale = self.parse(EvidenceScale, lay.evidence_scale)
        options_cat = self.parse(OptionCatalogue, lay.options)
        alerts_cat = self.parse_split(AlertCatalogue, "alerts", "alerts")
        derived_cat = self.parse_split(DerivedCatalogue, "derived-facts", "derived")
        scenario_cat = self.parse(ScenarioCatalogue, lay.scenarios) if lay.scenarios.exists() else None
        if lay.not_modelled.exists():  # read by people and `cds knowledge show`; checked for shape here
            self.parse(NotModelledCatalogue, lay.not_modelled)
        # The surveillance catalogue and dose table are optional (a knowledge base without them plans
        # no follow-up); when one is present, so must the other be.
        has_surveillance = lay.follow_up_schedules.exists() or lay.radiation_doses.exists()
        surveillance = self.parse(SurveillanceCatalogue, lay.follow_up_schedules) if has_surveillance else None
        dose_table = self.parse(DoseTable, lay.radiation_doses) if has_surveillance else None

        recommendation_files: list[tuple[str, RecommendationSpec, Path]] = []
        for path in lay.recommendation_files():
            parsed_rec = self.parse(RecommendationSpec, path)
            if parsed_rec is not None:
                recommendation_files.append((self.rel(path), parsed_rec, path.parent))
        matrix_files: list[tuple[str, SafetyMatrixFile]] = []
        for path in lay.matrix_files():
            parsed_matrix = self.parse(SafetyMatrixFile, path)
            if parsed_matrix is not None:
                matrix_files.append((self.rel(path), parsed_matrix))
        pathway_files: list[tuple[str, Pathway]] = []
        for path in sorted(self.pathways_root.glob("*.yaml")):
            parsed_pw = self.parse(Pathway, path)
            if parsed_pw is not None:
                pathway_files.append((self.rel(path), parsed_pw))

        if None in (manifest, sources_cat, scale, options_cat, alerts_cat, derived_cat, config):
            return None
        assert manifest and sources_cat and scale and options_cat and alerts_cat
        assert derived_cat and config

        sources = self.unique(sources_cat.sources, "catalogues/sources/", "source")
        options = self.unique(options_cat.options, "catalogues/options.yaml", "option")
        alerts = self.unique(alerts_cat.alerts, "catalogues/alerts/", "alert")
        derived = {d.key: d for d in derived_cat.derived}
        settings = {s.name: s.value for s in config.settings}
        evidence_rank = {k.kind: i + 1 for i, k in enumerate(scale.scale)}
        evidence_labels = {k.kind: k.label for k in scale.scale}

        patient_vocab = patient_vocabulary()
        for field_path in [*manifest.changeable.fixed, *manifest.changeable.one_way]:
            if field_path not in patient_vocab.fields:
                self.problem("unknown_field", "knowledge/knowledge.yaml", "changeable",
                             f"{field_path!r} is not an input field" + _close(field_path, patient_vocab.fields))
        for field_path, order in manifest.changeable.one_way.items():
            allowed = patient_vocab.fields[field_path].values if field_path in patient_vocab.fields else None
            for value in order:
                if allowed is not None and value not in allowed:
                    self.problem("unknown_value", "knowledge/knowledge.yaml", f"changeable.one_way.{field_path}",
                                 f"{value!r} is not a value of {field_path}" + _close(value, map(str, allowed)))
        for option in options.values():
            for dep in option.depends_on:
                if dep not in patient_vocab.fields:
                    hint = patient_vocab.suggest(dep)
                    self.problem(
                        "unknown_field", "knowledge/catalogues/options.yaml", option.id,
                        f"depends_on names unknown field {dep!r}"
                        + (f"; did you mean {hint!r}?" if hint else ""),
                    )

        derived_specs = [
            FieldSpec(
                f"derived.{d.key}",
                d.type,
                frozenset(d.values) if d.values is not None else None,
                d.description,
            )
            for d in derived.values()
        ]
        node_ids = [n.id for _, pw in pathway_files for n in pw.nodes]
        vocab = full_vocabulary(options, derived_specs, node_ids, [pw.id for _, pw in pathway_files])

        # Resolve named settings, then check every rule and edge.
        rules: list[LoadedRule] = []
        seen_ids: dict[str, str] = {}
        recommendations: dict[str, LoadedRecommendation] = {}
        owners: dict[str, str] = {}
        for fname, spec, folder in recommendation_files:
            if folder.name != spec.id:
                self.problem("recommendation_folder", fname, spec.id,
                             f"the folder of recommendation {spec.id!r} is named {folder.name!r}: rename one "
                             "so that they match")
            if spec.id in recommendations:
                self.problem("duplicate_id", fname, spec.id,
                             f"recommendation id already used in {recommendations[spec.id].file}")
                continue
            recommendations[spec.id] = LoadedRecommendation(spec, fname, folder)
            self.check_refs(spec.statement.sources, None, fname, f"{spec.id}.statement", sources, evidence_rank)
            for rule in spec.rules:
                owners[rule.id] = spec.id
                if spec.status == "retired":  # kept for the record; it no longer runs
                    continue
                resolved = rule.model_copy(
                    update={"when": self.resolve_settings(rule.when, settings, fname, rule.id)}
                )
                self.unique_id(rule.id, fname, seen_ids)
                self.check_rule(resolved, fname, vocab, sources, options, alerts, derived, evidence_rank)
                rules.append(LoadedRule(resolved, fname, spec.id))
        matrix_conditions, matrix_entries = self.load_matrix(
            matrix_files, settings, vocab, sources, options, alerts, evidence_rank
        )
        for entry, fname in matrix_entries:
            compiled = matrix_rule(entry, matrix_conditions)
            if compiled is None:
                continue
            self.unique_id(compiled.id, fname, seen_ids)
            self.check_rule(compiled, fname, vocab, sources, options, alerts, derived, evidence_rank)
            rules.append(LoadedRule(compiled, fname))

        scenarios = self.check_scenarios(scenario_cat, settings, vocab, sources)
        trials = self.load_trials(settings, vocab, options)

        pathways: list[Pathway] = []
        pw_files: dict[str, str] = {}
        pw_ids: set[str] = set()
        for fname, pw in pathway_files:
            if pw.id in pw_ids:
                self.problem("duplicate_id", fname, pw.id, "pathway id used twice")
            pw_ids.add(pw.id)
            edges = [
                e.model_copy(update={
                    "when": self.resolve_settings(e.when, settings, fname, e.id),
                    "track": e.track or (options[e.propose].tracks[0]
                                         if e.propose in options else None),
                })
                for e in pw.edges
            ]
            pw = pw.model_copy(update={
                "when": self.resolve_settings(pw.when, settings, fname, pw.id),
                "edges": edges,
            })
            for edge in pw.edges:
                self.unique_id(edge.id, fname, seen_ids)
            self.check_pathway(pw, fname, vocab, sources, options, evidence_rank)
            pathways.append(pw)
            pw_files[pw.id] = fname
        # Who owns each edge, matrix statement and planner alert: exactly one recommendation. An id that
        # exists nowhere is lint's to report (cds.lint.check_recommendations): the pathways may be
        # another folder's, and a catalogue that failed to parse is reported on its own.
        edge_ids = {e.id for pw in pathways for e in pw.edges}
        matrix_ids = {entry.id for entry, _ in matrix_entries if entry.level != "none"}
        situations = {pa.situation for pa in surveillance.planner_alerts} if surveillance else set()
        for rec in recommendations.values():
            owned = [*(("edge", e, e) for e in rec.spec.edges if e in edge_ids),
                     *(("matrix statement", m, m) for m in rec.spec.matrix if m in matrix_ids),
                     *(("planner alert", s, planner_rule_id(s)) for s in rec.spec.planner_alerts if s in situations)]
            for what, name, key in owned:
                if key in owners:
                    self.problem("owned_twice", rec.file, name,
                                 f"{what} {name!r} is already owned by recommendation {owners[key]!r}: it belongs "
                                 "to exactly one recommendation")
                else:
                    owners[key] = rec.id

        schedules, modalities = self.check_surveillance(
            surveillance, dose_table, rules, sources, options, alerts, settings, evidence_rank
        )
        planner = (
            self.check_planner(surveillance, modalities, settings, vocab, sources)
            if surveillance is not None else None
        )

        content_hash = _content_hash(
            [*lay.content_files(), *sorted(self.pathways_root.glob("*.yaml"))],
            self.root.parent,
        )
        return KnowledgeBase(
            root=self.root,
            pathways_root=self.pathways_root,
            manifest=manifest,
            content_hash=content_hash,
            sources=sources,
            evidence_rank=evidence_rank,
            evidence_labels=evidence_labels,
            options=options,
            alerts=alerts,
            derived=derived,
            settings=settings,
            setting_specs={s.name: s for s in config.settings},
            rules=rules,
            pathways=pathways,
            pathway_files=pw_files,
            vocabulary=vocab,
            recommendations=recommendations,
            owners=owners,
            planner=planner,
            schedules=schedules,
            modalities=modalities,
            dose_assumptions=list(dose_table.assumptions) if dose_table else [],
            surveillance_principles=list(surveillance.principles) if surveillance else [],
            planner_alerts=list(surveillance.planner_alerts) if surveillance else [],
            matrix_conditions=matrix_conditions,
            matrix_entries=matrix_entries,
            scenarios=scenarios,
            setting_uses=self.setting_uses(rules, matrix_conditions, matrix_entries, pathways, pw_files, scenarios,
                                           planner),
            trials=trials,
        )

    def load_trials(
        self, settings: Mapping[str, Any], vocab: Vocabulary, options: Mapping[str, OptionSpec]
    ) -> dict[str, LoadedTrial]:
        """The trial catalogue: each trial parsed, its conditions resolved and checked (cds.trials.loader)."""
        trials: dict[str, LoadedTrial] = {}
        for path in self.layout.trial_files():
            spec = self.parse(TrialSpec, path)
            if spec is None:
                continue
            fname = self.rel(path)
            for code, loc, message in trial_problems(spec, path.parent, options):
                self.problem(code, fname, loc, message)
            if spec.id in trials:
                self.problem("duplicate_id", fname, spec.id, f"trial id already used in {trials[spec.id].file}")
                continue
            criteria = []
            for c in spec.criteria:
                if c.when:
                    loc = f"{spec.id}.criteria[{c.id}]"
                    c = c.model_copy(update={"when": self.resolve_settings(c.when, settings, fname, loc)})
                    self.check_conditions(c.when or [], fname, loc, vocab, early=True)
                criteria.append(c)
            trials[spec.id] = LoadedTrial(spec.model_copy(update={"criteria": criteria}), fname, path.parent)
        return trials

    def setting_uses(
        self, rules: Sequence[LoadedRule], matrix_conditions: Mapping[str, MatrixCondition],
        matrix_entries: Sequence[tuple[MatrixEntry, str]], pathways: Sequence[Pathway],
        pathway_files: Mapping[str, str], scenarios: Sequence[ScenarioSpec],
        planner: SurveillancePlanner | None = None,
    ) -> list[SettingUse]:
        """Everything shown to people whose conditions read a named setting, with its texts."""
        reads = self.reads
        cond_reads = {cid: reads.get((fname, cid), set()) for cid, fname in self.condition_files.items()}
        items: list[tuple[str, str, set[str], BaseModel, tuple[str, ...]]] = []
        items += [(lr.file, lr.rule.id, reads.get((lr.file, lr.rule.id), set()), lr.rule, ())
                  for lr in rules]
        items += [(self.condition_files[cid], f"conditions[{cid}]", cond_reads[cid], c, ())
                  for cid, c in matrix_conditions.items()]
        items += [(fname, entry.id, set().union(*(cond_reads.get(c, set()) for c in entry.conditions)), entry, ())
                  for entry, fname in matrix_entries]
        for pw in pathways:
            fname = pathway_files.get(pw.id, "")
            items.append((fname, pw.id, reads.get((fname, pw.id), set()), pw, ("nodes", "edges")))
            items += [(fname, e.id, reads.get((fname, e.id), set()), e, ()) for e in pw.edges]
        items += [(SCENARIO_FILE, s.id, reads.get((SCENARIO_FILE, s.id), set()), s, ())
                  for s in scenarios]
        sfile = "knowledge/catalogues/follow-up-schedules.yaml"
        for kind, entries in (("preferences", planner.preferences if planner else []),
                              ("substitutions", planner.substitutions if planner else []),
                              ("ionising_windows", planner.ionising_windows if planner else [])):
            for entry in entries:
                loc = f"planner.{kind}[{entry.id}]"
                items.append((sfile, loc, reads.get((sfile, loc), set()), entry, ()))
        return [SettingUse(fname, loc, frozenset(names), tuple(texts_in(model, skip)))
                for fname, loc, names, model, skip in items if names]

    def check_scenarios(
        self, catalogue: ScenarioCatalogue | None, settings: Mapping[str, Any], vocab: Vocabulary,
        sources: Mapping[str, Source],
    ) -> list[ScenarioSpec]:
        if catalogue is None:
            return []
        fname = SCENARIO_FILE
        out: list[ScenarioSpec] = []
        for spec in self.unique(catalogue.scenarios, "catalogues/missing-data-scenarios.yaml", "scenario").values():
            when = self.resolve_settings(spec.when, settings, fname, spec.id)
            self.check_conditions(when, fname, spec.id, vocab, early=True)
            self.check_refs(spec.sources, None, fname, spec.id, sources, {})
            field_spec = self.patient_vocab.fields.get(spec.field)
            if field_spec is None:
                self.problem("unknown_field", fname, spec.id, f"unknown input field {spec.field!r}"
                             + _close(spec.field, self.patient_vocab.fields))
            else:
                for hyp in spec.hypotheses:
                    if field_spec.values is not None and hyp.value not in field_spec.values:
                        self.problem("scenario_value", fname, spec.id,
                                     f"{spec.field} = {hyp.value!r} is not allowed "
                                     f"({', '.join(sorted(map(str, field_spec.values)))})")
            out.append(spec.model_copy(update={"when": when}))
        return out

    def load_matrix(
        self, files: Sequence[tuple[str, SafetyMatrixFile]], settings: Mapping[str, Any],
        vocab: Vocabulary, sources: Mapping[str, Source], options: Mapping[str, OptionSpec],
        alerts: Mapping[str, AlertSpec], evidence_rank: Mapping[str, int],
    ) -> tuple[dict[str, MatrixCondition], list[tuple[MatrixEntry, str]]]:
        """Merge the matrix files, resolve settings, and check each row and statement.

        Whether every cell is stated is a lint check (cds.lint), so that a matrix
        being written still loads.
        """
        conditions: dict[str, MatrixCondition] = {}
        entries: list[tuple[MatrixEntry, str]] = []
        for fname, mf in files:
            for c in mf.conditions:
                if c.id in conditions:
                    self.problem("duplicate_id", fname, c.id, "matrix condition id used twice")
                    continue
                when = self.resolve_settings(c.when, settings, fname, c.id)
                self.condition_files[c.id] = fname
                self.check_conditions(when, fname, f"conditions[{c.id}]", vocab, early=True)
                conditions[c.id] = c.model_copy(update={"when": when})
            entries.extend((e, fname) for e in mf.entries)
        for entry, fname in entries:
            loc = entry.id
            for cid in entry.conditions:
                if cid not in conditions:
                    self.problem("unknown_condition", fname, loc,
                                 f"matrix condition {cid!r} is not defined" + _close(cid, conditions))
            for option in entry.options:
                if option not in options:
                    self.problem("unknown_option", fname, loc,
                                 f"option {option!r} is not in catalogues/options.yaml" + _close(option, options))
                elif entry.track and entry.track not in options[option].tracks:
                    self.problem("track", fname, loc, f"option {option!r} has no track {entry.track!r}")
            for alert in entry.alerts:
                if alert not in alerts:
                    self.problem("unknown_alert", fname, loc,
                                 f"alert {alert!r} is not in catalogues/alerts/" + _close(alert, alerts))
            if entry.level == "none" and entry.alerts:
                self.problem("matrix_entry", fname, loc, "a 'none' statement raises no alert; "
                             "write an alert rule in rules/ if one is needed")
            self.check_refs(entry.sources, entry.evidence.kind, fname, loc, sources, evidence_rank)
            if entry.section is None and any(
                sources[s].kind == "label" for s in entry.sources if s in sources
            ):
                self.problem("label_section", fname, loc,
                             "a statement citing a drug label must say where (section: 'SmPC 4.3', "
                             "'USPI 5.2' ...)")
        return conditions, entries

    def check_surveillance(
        self, surveillance: SurveillanceCatalogue | None, dose_table: DoseTable | None,
        rules: Sequence[LoadedRule], sources: Mapping[str, Source], options: Mapping[str, OptionSpec],
        alerts: Mapping[str, AlertSpec], settings: Mapping[str, Any], evidence_rank: Mapping[str, int],
    ) -> tuple[dict[str, Schedule], dict[str, Modality]]:
        """Cross-check the schedule catalogue, the dose table and the rules' surveil effects."""
        sfile, dfile = "knowledge/catalogues/follow-up-schedules.yaml", "knowledge/catalogues/radiation-doses.yaml"
        modalities: dict[str, Modality] = (
            self.unique(dose_table.modalities, "catalogues/radiation-doses.yaml", "modality") if dose_table else {}
        )
        schedules: dict[str, Schedule] = (
            self.unique(surveillance.schedules, "catalogues/follow-up-schedules.yaml", "schedule")
            if surveillance else {}
        )
        for m in modalities.values():
            self.check_refs([*m.sources, *(s for c in m.components for s in c.sources)], None,
                            dfile, m.id, sources, evidence_rank)
        for name in (SETTING_RADIATION_ALERT, SETTING_DEFAULT_HORIZON) if surveillance is not None else ():
            value = settings.get(name)
            if value is None:
                self.problem("unknown_setting", "knowledge/catalogues/settings/follow-up.yaml", name,
                             f"the surveillance planner needs the setting {name!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                self.problem("setting_value", "knowledge/catalogues/settings/follow-up.yaml", name,
                             f"the setting {name!r} must be a number above 0, not {value!r}")
        for sched in schedules.values():
            self.check_refs(sched.sources, sched.evidence.kind, sfile, sched.id, sources, evidence_rank)
            for alert in sched.alerts:
                if alert not in alerts:
                    self.problem("unknown_alert", sfile, sched.id,
                                 f"alert {alert!r} is not in catalogues/alerts/" + _close(alert, alerts))
            if not modalities:
                continue
            for i, period in enumerate(sched.periods):
                for slot in period.exams:
                    for mod in [slot.modality, *(slot.minimised or [])]:
                        if mod not in modalities:
                            self.problem("unknown_modality", sfile, f"{sched.id}.periods[{i}]",
                                         f"modality {mod!r} is not in catalogues/radiation-doses.yaml"
                                         + _close(mod, modalities))
        if surveillance is not None:
            situations = [*COMPUTED_SITUATIONS, *(p.id for p in surveillance.planner.preferences),
                          *(w.id for w in surveillance.planner.ionising_windows)]
            for pa in surveillance.planner_alerts:
                loc = f"planner_alerts[{pa.situation}]"
                self.check_refs(pa.sources, pa.evidence.kind, sfile, loc, sources, evidence_rank)
                if pa.alert not in alerts:
                    self.problem("unknown_alert", sfile, loc,
                                 f"alert {pa.alert!r} is not in catalogues/alerts/" + _close(pa.alert, alerts))
                if pa.situation not in situations:
                    self.problem("unknown_situation", sfile, loc,
                                 f"situation {pa.situation!r} is neither computed by the planner "
                                 f"({', '.join(COMPUTED_SITUATIONS)}) nor a plan preference or ionising window"
                                 + _close(pa.situation, situations))
                self.check_text(pa.because, sfile, f"{loc}.because", PLANNER_ALERT_FIELDS)
        # A catalogue that failed its schema is reported as such; the rules citing it are not.
        unparsed = surveillance is None and self.layout.follow_up_schedules.exists()
        for lr in rules if not unparsed else ():
            for i, eff in enumerate(lr.rule.then):
                if eff.surveil is None:
                    continue
                loc = f"{lr.rule.id}.then[{i}]"
                if eff.surveil.schedule not in schedules:
                    self.problem("unknown_schedule", lr.file, loc,
                                 f"schedule {eff.surveil.schedule!r} is not in catalogues/follow-up-schedules.yaml"
                                 + _close(eff.surveil.schedule, schedules))
                if eff.surveil.if_option is not None and eff.surveil.if_option not in options:
                    self.problem("unknown_option", lr.file, loc,
                                 f"if_option {eff.surveil.if_option!r} is not in catalogues/options.yaml"
                                 + _close(eff.surveil.if_option, options))
        return schedules, modalities

    def check_planner(
        self, surveillance: SurveillanceCatalogue, modalities: Mapping[str, Modality],
        settings: Mapping[str, Any], vocab: Vocabulary, sources: Mapping[str, Source],
    ) -> SurveillancePlanner:
        """Check the planner's words and policy; return it with its settings resolved.

        Its conditions read the patient like an early rule (no pathway namespaces); its exams
        are modalities of the dose table; its texts use only the placeholders the planner fills.
        """
        sfile = "knowledge/catalogues/follow-up-schedules.yaml"
        planner = surveillance.planner
        for name in type(planner.texts).model_fields:
            self.check_text(getattr(planner.texts, name), sfile, f"planner.texts.{name}",
                            PLANNER_TEXT_FIELDS.get(name, frozenset()))
        ids: dict[str, str] = {s: "the planner" for s in COMPUTED_SITUATIONS}
        regions = {r for m in modalities.values() for r in m.regions}

        def when(conds: list[dict[str, Any]], loc: str) -> list[dict[str, Any]]:
            resolved = self.resolve_settings(conds, settings, sfile, loc)
            self.check_conditions(resolved, sfile, loc, vocab, early=True)
            return resolved

        def unique(item_id: str, loc: str) -> None:
            if item_id in ids:
                self.problem("duplicate_id", sfile, loc, f"id {item_id!r} is already used by {ids[item_id]}")
            ids[item_id] = loc

        preferences = []
        for pref in planner.preferences:
            loc = f"planner.preferences[{pref.id}]"
            unique(pref.id, loc)
            self.check_refs(pref.sources, None, sfile, loc, sources, {})
            self.check_text(pref.because, sfile, f"{loc}.because", frozenset())
            preferences.append(pref.model_copy(update={"when": when(pref.when, loc)}))
        substitutions = []
        seen: set[str] = set()
        for sub in planner.substitutions:
            loc = f"planner.substitutions[{sub.id}]"
            if sub.id in seen:
                self.problem("duplicate_id", sfile, loc, "substitution id used twice")
            seen.add(sub.id)
            self.check_refs(sub.sources, None, sfile, loc, sources, {})
            self.check_text(sub.note, sfile, f"{loc}.note", frozenset())
            if modalities and sub.region not in regions:
                self.problem("unknown_region", sfile, loc, f"region {sub.region!r} is not a region of "
                             "catalogues/radiation-doses.yaml" + _close(sub.region, regions))
            exam = sub.add if sub.add is not None else sub.replace.by if sub.replace is not None else None
            if exam is not None and modalities:
                spec = modalities.get(exam)
                if spec is None:
                    self.problem("unknown_modality", sfile, loc,
                                 f"modality {exam!r} is not in catalogues/radiation-doses.yaml"
                                 + _close(exam, modalities))
                elif sub.region not in spec.regions and "whole_body" not in spec.regions:
                    self.problem("substitution", sfile, loc,
                                 f"{exam!r} does not cover the region {sub.region!r} it is put in for")
            substitutions.append(sub.model_copy(update={"when": when(sub.when, loc)}))
        windows = []
        for window in planner.ionising_windows:
            loc = f"planner.ionising_windows[{window.id}]"
            unique(window.id, loc)
            self.check_refs(window.sources, None, sfile, loc, sources, {})
            for name, allowed in (("substitute_note", {"exam"}), ("postpone_note", {"month"}),
                                  ("gadolinium_note", set())):
                self.check_text(getattr(window, name), sfile, f"{loc}.{name}", frozenset(allowed))
            months: Any = window.months
            if not isinstance(months, int):
                name = months.setting
                self.reads.setdefault((sfile, loc), set()).add(name)
                months = settings.get(name)
                if months is None:
                    self.problem("unknown_setting", sfile, f"{loc}.months",
                                 f"unknown setting {name!r}" + _close(name, settings))
            if months is not None and (isinstance(months, bool) or not isinstance(months, int) or months < 1):
                self.problem("setting_value", sfile, f"{loc}.months",
                             f"the window must be a whole number of months above 0, not {months!r}")
                months = None
            windows.append(window.model_copy(update={"when": when(window.when, loc),
                                                     **({"months": months} if months is not None else {})}))
        return planner.model_copy(update={
            "preferences": preferences, "substitutions": substitutions, "ionising_windows": windows,
        })

    def check_text(self, text: Text, fname: str, loc: str, allowed: frozenset[str]) -> None:
        """A text filled by the planner: valid braces and known {placeholders} (its {setting:NAME}
        were checked and filled as it was parsed)."""
        for lang in ("en", "fr"):
            try:
                fields = [name for _, name, _, _ in string.Formatter().parse(getattr(text, lang)) if name is not None]
            except ValueError as exc:
                self.problem("text", fname, f"{loc}.{lang}", f"not a valid text template: {exc}")
                continue
            for name in fields:
                if name not in allowed:
                    self.problem("text", fname, f"{loc}.{lang}", f"unknown placeholder {{{name}}}; allowed: "
                                 + ", ".join([*sorted(allowed), "setting:<name>"]))

    def unique(self, items: Sequence[Any], file: str, what: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in items:
            if item.id in out:
                self.problem("duplicate_id", f"knowledge/{file}", item.id, f"{what} id used twice")
            out[item.id] = item
        return out

    def unique_id(self, rid: str, fname: str, seen: dict[str, str]) -> None:
        if rid in seen:
            self.problem("duplicate_id", fname, rid, f"id already used in {seen[rid]}")
        else:
            seen[rid] = fname

    def resolve_settings(
        self, conds: list[dict[str, Any]], settings: Mapping[str, Any], fname: str, loc: str
    ) -> list[dict[str, Any]]:
        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                if set(node) == {"setting"}:
                    name = node["setting"]
                    self.reads.setdefault((fname, loc), set()).add(name)
                    if name not in settings:
                        self.problem("unknown_setting", fname, loc,
                                     f"unknown setting {name!r}; known: {', '.join(sorted(settings))}")
                        return node
                    return settings[name]
                return {k: walk(v) for k, v in node.items()}
            if isinstance(node, list):
                return [walk(v) for v in node]
            return node

        return [walk(c) for c in conds]

    def check_conditions(
        self, conds: Iterable[dict[str, Any]], fname: str, loc: str, vocab: Vocabulary,
        early: bool,
    ) -> None:
        for i, c in enumerate(conds):
            for msg in cond.check(c, vocab):
                self.problem("condition", fname, f"{loc}.when[{i}]", msg)
            if early:
                try:
                    late = [p for p in cond.paths([c]) if p.startswith(_LATE_NAMESPACES)]
                except cond.ConditionSyntaxError:
                    late = []
                for p in late:
                    self.problem("condition", fname, f"{loc}.when[{i}]",
                                 f"{p!r} is only known after the pathways ran; "
                                 "classification rules and pathway edges cannot test it")

    def check_classification_conditions(self, rule: Rule, fname: str) -> None:
        """Derived facts are separate facts in stage 1: one derived key per condition.

        A condition may not mix a derived key with another field or another
        derived key (they live in different facts), and may not test a derived
        key for (non-)existence: absence of a derived fact cannot be matched.
        """
        for i, c in enumerate(rule.when):
            try:
                found = list(cond.leaves(c))
            except cond.ConditionSyntaxError:
                continue
            derived_keys = {leaf.path for leaf in found if leaf.path.startswith("derived.")}
            loc = f"{rule.id}.when[{i}]"
            if derived_keys and (len(derived_keys) > 1 or len(derived_keys) != len(
                    {leaf.path for leaf in found})):
                self.problem("classification_condition", fname, loc,
                             "in a classification rule a condition on a derived fact may test "
                             "only that one derived key: split it into separate conditions")
            if any(leaf.path.startswith("derived.") and leaf.op in ("exists", "absent")
                   for leaf in found):
                self.problem("classification_condition", fname, loc,
                             "classification rules cannot test whether a derived fact exists; "
                             "derive an explicit 'unknown' value instead")

    def check_refs(
        self, sources_used: Sequence[str], evidence_kind: str | None, fname: str, loc: str,
        sources: Mapping[str, Source], evidence_rank: Mapping[str, int],
    ) -> None:
        for s in sources_used:
            if s not in sources:
                hint = _close(s, sources)
                self.problem("unknown_source", fname, loc,
                             f"source {s!r} is not in catalogues/sources/" + hint)
        if evidence_kind is not None and evidence_kind not in evidence_rank:
            self.problem("unknown_evidence", fname, loc,
                         f"evidence kind {evidence_kind!r} is not in catalogues/evidence-scale.yaml"
                         + _close(evidence_kind, evidence_rank))

    def check_rule(
        self, rule: Rule, fname: str, vocab: Vocabulary, sources: Mapping[str, Source],
        options: Mapping[str, OptionSpec], alerts: Mapping[str, AlertSpec],
        derived: Mapping[str, DerivedSpec], evidence_rank: Mapping[str, int],
    ) -> None:
        loc = rule.id
        kinds = {e.kind for e in rule.then}
        if kinds & CLASSIFICATION_EFFECTS and not kinds <= CLASSIFICATION_EFFECTS:
            self.problem("mixed_effects", fname, loc,
                         "a rule that derives facts or applies a definition (assume) may not also argue, "
                         "exclude or alert: split it")
        self.check_conditions(rule.when, fname, loc, vocab, early=rule.stage == "classification")
        if rule.stage == "classification":
            self.check_classification_conditions(rule, fname)
        self.check_refs(rule.sources, rule.evidence.kind, fname, loc, sources, evidence_rank)
        pvocab = self.patient_vocab
        for i, eff in enumerate(rule.then):
            eloc = f"{loc}.then[{i}]"
            target = eff.target
            if target is not None:
                if target.option not in options:
                    self.problem("unknown_option", fname, eloc,
                                 f"option {target.option!r} is not in catalogues/options.yaml"
                                 + _close(target.option, options))
                elif target.track and target.track not in options[target.option].tracks:
                    self.problem("track", fname, eloc,
                                 f"option {target.option!r} has no track {target.track!r}")
            excludes = eff.exclude is not None or (eff.safety is not None and eff.safety.level == "exclude")
            if excludes and rule.confirmation in ("U", "UNCONFIRMED"):
                self.problem("unconfirmed_exclusion", fname, eloc,
                             f"a rule tagged {rule.confirmation} may not exclude an option; "
                             "use `safety: {level: avoid}` or `caution` instead")
            if eff.assume is not None:
                field_spec = pvocab.fields.get(eff.assume.field)
                if field_spec is None:
                    hint = pvocab.suggest(eff.assume.field)
                    self.problem("unknown_field", fname, eloc,
                                 f"assume names unknown input field {eff.assume.field!r}"
                                 + (f"; did you mean {hint!r}?" if hint else ""))
                elif field_spec.values is not None and eff.assume.value not in field_spec.values:
                    self.problem("assume_value", fname, eloc,
                                 f"{eff.assume.field} = {eff.assume.value!r} is not allowed "
                                 f"({', '.join(sorted(map(str, field_spec.values)))})")
            if eff.alert is not None and eff.alert.id not in alerts:
                self.problem("unknown_alert", fname, eloc,
                             f"alert {eff.alert.id!r} is not in catalogues/alerts/"
                             + _close(eff.alert.id, alerts))
            if eff.missing is not None and eff.missing.field not in pvocab.fields:
                hint = pvocab.suggest(eff.missing.field)
                self.problem("unknown_field", fname, eloc,
                             f"missing names unknown input field {eff.missing.field!r}"
                             + (f"; did you mean {hint!r}?" if hint else ""))
            if eff.derive is not None:
                spec = derived.get(eff.derive.key)
                if spec is None:
                    self.problem("unknown_derived", fname, eloc,
                                 f"derived key {eff.derive.key!r} is not declared in catalogues/derived-facts/"
                                 + _close(eff.derive.key, derived))
                elif spec.values is not None and eff.derive.value not in spec.values:
                    self.problem("derived_value", fname, eloc,
                                 f"{eff.derive.key} = {eff.derive.value!r} is not allowed "
                                 f"({', '.join(map(str, spec.values))})")

    def check_pathway(
        self, pw: Pathway, fname: str, vocab: Vocabulary, sources: Mapping[str, Source],
        options: Mapping[str, OptionSpec], evidence_rank: Mapping[str, int],
    ) -> None:
        nodes = {n.id: n for n in pw.nodes}
        if len(nodes) != len(pw.nodes):
            self.problem("duplicate_id", fname, pw.id, "a node id is used twice")
        if pw.start not in nodes:
            self.problem("unknown_node", fname, pw.id, f"start node {pw.start!r} is not a node")
        elif nodes[pw.start].kind != "start":
            self.problem("start_kind", fname, pw.id, f"start node {pw.start!r} must have kind start")
        self.check_conditions(pw.when, fname, f"{pw.id}.when", vocab, early=True)
        for edge in pw.edges:
            loc = edge.id
            if edge.from_ not in nodes:
                self.problem("unknown_node", fname, loc, f"from {edge.from_!r} is not a node"
                             + _close(edge.from_, nodes))
            if edge.to is not None and edge.to not in nodes:
                self.problem("unknown_node", fname, loc, f"to {edge.to!r} is not a node"
                             + _close(edge.to, nodes))
            for dep in edge.depends_on:
                if dep not in self.patient_vocab.fields:
                    hint = self.patient_vocab.suggest(dep)
                    self.problem("unknown_field", fname, loc, f"depends_on names unknown field {dep!r}"
                                 + (f"; did you mean {hint!r}?" if hint else ""))
            if edge.propose is not None:
                if edge.propose not in options:
                    self.problem("unknown_option", fname, loc,
                                 f"proposes {edge.propose!r}, which is not in catalogues/options.yaml"
                                 + _close(edge.propose, options))
                elif edge.track not in options[edge.propose].tracks:
                    self.problem("track", fname, loc,
                                 f"option {edge.propose!r} has no track {edge.track!r}")
                self.check_refs(edge.sources, edge.evidence.kind if edge.evidence else None,
                                fname, loc, sources, evidence_rank)
            self.check_conditions(edge.when, fname, loc, vocab, early=True)


def planner_rule_id(situation: str) -> str:
    """The rule id the follow-up planner's alert for ``situation`` is reported under (in alerts' ``rules``).

    Parameters
    ----------
    situation
        A situation of ``planner_alerts`` in the follow-up schedules.

    Returns
    -------
    str
        The id, which recommendations own (``planner_alerts:``) like a rule's.

    Examples
    --------
    >>> planner_rule_id("radiation_above_threshold")
    'surveillance.planner.radiation_above_threshold'
    """
    return f"surveillance.planner.{situation}"


def matrix_rule(entry: MatrixEntry, conditions: Mapping[str, MatrixCondition]) -> Rule | None:
    """The safety rule a matrix statement compiles to (None for 'none' or unknown conditions).

    One condition gives its own ``when``; several give an ``$or`` of them, so the rule fires
    once whichever of them holds.

    Parameters
    ----------
    entry
        One statement of ``knowledge/catalogues/safety-matrix/*.yaml`` (option, conditions, level, sources).
    conditions
        The matrix rows by id (``KnowledgeBase.matrix_conditions``).

    Returns
    -------
    Rule | None
        The rule raising the statement's safety argument, or None when there is nothing to compile.

    Examples
    --------
    >>> kb = load_knowledge()
    >>> entry = next(e for e, _ in kb.matrix_entries if e.level != "none")
    >>> rule = matrix_rule(entry, kb.matrix_conditions)
    >>> rule is not None and rule.then[0].safety is not None
    True
    """
    if entry.level == "none" or any(c not in conditions for c in entry.conditions):
        return None
    rows = [conditions[c].when for c in entry.conditions]
    if len(rows) == 1:
        when = list(rows[0])
    else:
        when = [{"$or": [row[0] if len(row) == 1 else {"$and": list(row)} for row in rows]}]
    then: list[dict[str, Any]] = [
        {"safety": {"option": o, "level": entry.level, **({"track": entry.track} if entry.track else {})}}
        for o in entry.options
    ]
    then += [{"alert": {"id": a}} for a in entry.alerts]
    return Rule.model_validate({
        "id": entry.id,
        "when": when,
        "then": then,
        "because": entry.because,  # as it is: it keeps its text as written
        "sources": list(entry.sources),
        "evidence": entry.evidence.model_dump(),
        "confirmation": entry.confirmation,
        "note": entry.note,
    })


# ------------------------------------------------------------------ parse cache
# Building Python objects from YAML is most of a cold start (the knowledge is ~50,000 nodes); the
# same bytes always give the same data, so the parsed data is kept per content hash in a cache
# folder as marshal (plain data only: it cannot run code). Any problem just means parsing again.

_MISS = object()


def _parse_cache_dir() -> Path | None:
    if os.environ.get("NETCDS_NO_PARSE_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netcds" / f"yaml-{yaml.__version__}"


def _parse_cache_path(raw: bytes) -> Path | None:
    folder = _parse_cache_dir()
    return None if folder is None else folder / f"{hashlib.sha256(raw).hexdigest()}.marshal"


def _parse_cache_get(raw: bytes) -> Any:
    path = _parse_cache_path(raw)
    try:
        return marshal.loads(path.read_bytes()) if path is not None else _MISS
    except (OSError, EOFError, ValueError, TypeError):
        return _MISS


def _parse_cache_put(raw: bytes, data: Any) -> None:
    path = _parse_cache_path(raw)
    if path is None:
        return
    try:
        blob = marshal.dumps(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, blob)
    except (OSError, ValueError):
        pass  # a read-only home, or data marshal cannot hold (dates): parse again next time


def _close(name: str, known: Iterable[str]) -> str:
    from cds.suggest import did_you_mean

    return did_you_mean(name, known)


def _friendly_loc(data: Any, loc: Sequence[Any]) -> str | None:
    """Replace list indices by the item's id where it has one (rules[3] -> rules[pnet.x])."""
    parts: list[str] = []
    node = data
    for p in loc:
        if isinstance(p, int) and isinstance(node, list) and p < len(node):
            item = node[p]
            ident = item.get("id") if isinstance(item, dict) else None
            parts.append(f"[{ident}]" if ident else f"[{p}]")
            node = item
        else:
            parts.append(f".{p}" if parts else str(p))
            node = node.get(p) if isinstance(node, dict) else None
    return "".join(parts) or None


def _content_hash(paths: Iterable[Path], base: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if not path.exists():
            continue
        try:
            name = str(path.relative_to(base))
        except ValueError:
            name = path.name
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:12]
