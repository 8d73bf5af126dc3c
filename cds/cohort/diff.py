"""``cds diff``: what a knowledge change does to a cohort, patient by patient, and which rules did it.

The cohort is evaluated with two knowledge versions (:mod:`cds.cohort.knowledge_source`) through
the batch machinery (:func:`cds.cohort.runner.evaluate_records`): every worker builds one engine
per version, evaluates each patient with both and sends back the two rows, with the rules that
fired and the pathway edges taken. Rows are compared as they arrive; only the changed patients and
the counts are kept, never the cohort.

A patient **changed** when, between the two versions, its status (ok, invalid, error), the top
option of either track or that option's category, the set of excluded options or the set of
alert ids changed. A patient whose top options stayed but whose ranked options below the top
moved is counted apart (``reordered``), a lesser change. The **cause** of a change is the
difference between the two traces: the rules and edges that fired with one version and not the
other, and the rules changed in the knowledge itself (edited, or reading a setting whose value
changed) that fired with both. Changed patients are grouped by cause, with counts by site and by
category (the patient's category, ``net_g2``; ``net_g2 -> net_g3`` when it moved).

An example is under :func:`run_diff`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cds.cohort.reader import iter_records
from cds.cohort.rows import RunSettings, engine_for
from cds.cohort.runner import CHUNK, default_workers, evaluate_records
from cds.errors import KnowledgeError
from cds.knowledge import load_knowledge
from cds.version import SOFTWARE_VERSION

if TYPE_CHECKING:
    from cds.cohort.dask_run import DaskTarget
    from cds.cohort.knowledge_source import KnowledgeSource
    from cds.knowledge import KnowledgeBase

#: The fields whose change makes a patient "changed", in report order.
FIELDS: tuple[str, ...] = ("status", "anti_tumour", "antisecretory", "excluded", "alerts")

#: Example patients kept per group (and for the reordered count).
EXAMPLES = 5

#: Ranked options kept per track for the comparison: all of them.
ALL_OPTIONS = 50


# ------------------------------------------------------------------ the knowledge itself


@dataclass(frozen=True)
class KnowledgeDelta:
    """How two knowledge versions differ as files: settings, rules and pathway edges.

    ``touched`` holds every rule or edge id added, removed or edited, or whose condition reads a
    setting whose value changed: the places a reviewer looks for the root of a patient's change.
    A rule that reads a changed setting is listed under ``reads_changed_setting`` only, not as
    edited (its texts, which may name the setting's value, change with it).

    Examples
    --------
    >>> KnowledgeDelta().touched
    frozenset()
    """

    settings: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    edited: tuple[str, ...] = ()
    reads_changed_setting: tuple[str, ...] = ()

    @property
    def touched(self) -> frozenset[str]:
        """Ids of the rules and edges the change reaches directly."""
        return frozenset(self.added + self.removed + self.edited + self.reads_changed_setting)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``diff.json``.

        Returns
        -------
        dict
            ``settings`` (name, before, after), then the rule and edge ids by kind of change, sorted.

        Examples
        --------
        >>> KnowledgeDelta(settings={"cut": (5, 4)}).to_dict()["settings"]
        [{'name': 'cut', 'before': 5, 'after': 4}]
        """
        return {
            "settings": [{"name": k, "before": a, "after": b} for k, (a, b) in sorted(self.settings.items())],
            "rules_added": list(self.added), "rules_removed": list(self.removed), "rules_edited": list(self.edited),
            "rules_reading_changed_settings": list(self.reads_changed_setting),
        }


def _items(kb: KnowledgeBase) -> dict[str, str]:
    """Every rule and pathway edge by id, as canonical JSON (to tell an edited one)."""
    out = {r.rule.id: json.dumps(r.rule.model_dump(mode="json", by_alias=True), sort_keys=True) for r in kb.rules}
    for pathway in kb.pathways:
        for edge in pathway.edges:
            out[edge.id] = json.dumps(edge.model_dump(mode="json", by_alias=True), sort_keys=True)
    return out


def knowledge_delta(before: KnowledgeBase, after: KnowledgeBase) -> KnowledgeDelta:
    """Compare two loaded knowledge versions: settings changed, rules and edges added, removed, edited.

    Parameters
    ----------
    before, after
        The two versions.

    Returns
    -------
    KnowledgeDelta
        Every list sorted; a setting missing from one side is None there.

    Examples
    --------
    >>> from cds import default_engine
    >>> kb = default_engine().kb
    >>> knowledge_delta(kb, kb).touched
    frozenset()
    """
    names = sorted(set(before.settings) | set(after.settings))
    settings = {n: (before.settings.get(n), after.settings.get(n)) for n in names
                if before.settings.get(n) != after.settings.get(n)}
    a, b = _items(before), _items(after)
    reads = {use.loc for kb in (before, after) for use in kb.setting_uses if use.settings & settings.keys()}
    return KnowledgeDelta(
        settings=settings,
        added=tuple(sorted(b.keys() - a.keys())),
        removed=tuple(sorted(a.keys() - b.keys())),
        edited=tuple(sorted(k for k in a.keys() & b.keys() if a[k] != b[k] and k not in reads)),
        reads_changed_setting=tuple(sorted(reads)),
    )


# ------------------------------------------------------------------ one patient


def _top(row: dict[str, Any], track: str) -> str | None:
    ranked = row[track]
    return f"{ranked[0]['option']} ({ranked[0]['category']})" if ranked else None


def _value(row: dict[str, Any], name: str) -> Any:
    if name == "status":
        return row["status"]
    if name in ("anti_tumour", "antisecretory"):
        return _top(row, name)
    return sorted(row[name])


def _category(before: dict[str, Any], after: dict[str, Any]) -> str:
    a, b = before.get("category") or "-", after.get("category") or "-"
    return a if a == b else f"{a} -> {b}"


def _order(row: dict[str, Any]) -> tuple[list[str], list[str]]:
    return [o["option"] for o in row["anti_tumour"]], [o["option"] for o in row["antisecretory"]]


@dataclass(frozen=True)
class PatientChange:
    """One changed patient: who, what changed (before -> after), and the cause (rules that differ).

    Examples
    --------
    >>> change = PatientChange(4, "line 5", "p4", "pancreas", "net_g2",
    ...                        (("anti_tumour", "watchful_waiting (recommended)", "surgery_curative (recommended)"),),
    ...                        (), ("pnet.nf_small.propose_watchful_waiting",), ())
    >>> change.cause
    ((), ('pnet.nf_small.propose_watchful_waiting',), ())
    """

    position: int
    source: str
    id: str | None
    site: str | None
    category: str
    changes: tuple[tuple[str, Any, Any], ...]
    appeared: tuple[str, ...]
    disappeared: tuple[str, ...]
    fired_both: tuple[str, ...]

    @property
    def cause(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """The group key: rules that appeared, disappeared, and changed rules that fired with both."""
        return self.appeared, self.disappeared, self.fired_both


def compare_rows(before: dict[str, Any], after: dict[str, Any], touched: frozenset[str] = frozenset()
                 ) -> PatientChange | None:
    """The change of one patient between two rows (evaluated with the trace), or None if it did not change.

    Parameters
    ----------
    before, after
        The patient's rows with each knowledge (:func:`cds.cohort.rows.evaluate_text`, ``trace=True``).
    touched
        Rules and edges the knowledge change reaches directly (:attr:`KnowledgeDelta.touched`); those
        that fired with both versions are part of the cause.

    Returns
    -------
    PatientChange or None
        None when status, top options, their categories, exclusions and alerts are all the same.

    Examples
    --------
    >>> row = {"status": "ok", "anti_tumour": [{"option": "ssa", "category": "recommended"}], "antisecretory": [],
    ...        "excluded": [], "alerts": ["mdt_referral"], "fired_rules": ["r1"], "edges": ["e1"],
    ...        "position": 0, "source": "line 1", "id": None, "site": "ileum", "category": "net_g1"}
    >>> compare_rows(row, dict(row)) is None
    True
    >>> later = dict(row, alerts=[], fired_rules=[])
    >>> change = compare_rows(row, later)
    >>> change.changes, change.disappeared
    ((('alerts', ['mdt_referral'], []),), ('r1',))
    """
    changes = tuple((name, _value(before, name), _value(after, name)) for name in FIELDS
                    if _value(before, name) != _value(after, name))
    if not changes:
        return None
    fired_a = set(before.get("fired_rules") or ()) | set(before.get("edges") or ())
    fired_b = set(after.get("fired_rules") or ()) | set(after.get("edges") or ())
    return PatientChange(
        position=before["position"], source=before["source"], id=after["id"] or before["id"],
        site=after["site"] or before["site"], category=_category(before, after), changes=changes,
        appeared=tuple(sorted(fired_b - fired_a)), disappeared=tuple(sorted(fired_a - fired_b)),
        fired_both=tuple(sorted(fired_a & fired_b & touched)),
    )


# ------------------------------------------------------------------ the cohort


@dataclass
class Group:
    """The changed patients that share a cause: counts by site and category, what moved, examples.

    Examples
    --------
    >>> group = Group(((), ("r1",), ()))
    >>> group.count
    0
    """

    cause: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
    count: int = 0
    by_site: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    moves: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[int, str | None]] = field(default_factory=list)

    def add(self, change: PatientChange) -> None:
        """Count one patient of this group.

        Parameters
        ----------
        change
            The patient's change (its cause is this group's).

        Examples
        --------
        >>> group = Group(((), ("r1",), ()))
        >>> group.add(PatientChange(0, "line 1", None, "ileum", "net_g1", (("alerts", ["a"], []),), (), ("r1",), ()))
        >>> group.count, dict(group.moves)
        (1, {'alerts: -a': 1})
        """
        self.count += 1
        self.by_site[change.site or "-"] += 1
        self.by_category[change.category] += 1
        for name, a, b in change.changes:
            self.moves[_move(name, a, b)] += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append((change.position, change.id))


def _move(name: str, before: Any, after: Any) -> str:
    """One change in words: ``anti_tumour: a (recommended) -> b (consider)``, ``alerts: +x, -y``."""
    if isinstance(before, list):
        return f"{name}: " + ", ".join([f"+{x}" for x in after if x not in before]
                                        + [f"-{x}" for x in before if x not in after])
    return f"{name}: {'none' if before is None else before} -> {'none' if after is None else after}"


def _counts(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass
class CohortDiff:
    """The result of a diff: versions, counts, groups by cause, and every changed patient.

    Examples
    --------
    >>> CohortDiff().to_dict()["counts"]["changed"]
    0
    """

    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    delta: KnowledgeDelta = field(default_factory=KnowledgeDelta)
    owners: dict[str, str] = field(default_factory=dict)
    lang: str = "en"
    total: int = 0
    compared: int = 0
    invalid: int = 0
    errors: int = 0
    changed: int = 0
    reordered: int = 0
    reordered_examples: list[tuple[int, str | None]] = field(default_factory=list)
    sites: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    changed_sites: Counter[str] = field(default_factory=Counter)
    changed_categories: Counter[str] = field(default_factory=Counter)
    fields: Counter[str] = field(default_factory=Counter)
    patients: list[PatientChange] = field(default_factory=list)
    _groups: dict[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], Group] = field(default_factory=dict)

    @property
    def groups(self) -> list[Group]:
        """The groups, largest first (ties by cause)."""
        return sorted(self._groups.values(), key=lambda g: (-g.count, g.cause))

    def add(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Compare one patient's two rows and count it (keeping it only if it changed).

        Parameters
        ----------
        before, after
            The patient's rows with each knowledge, with the trace (:func:`cds.cohort.rows.evaluate_text`).

        Examples
        --------
        >>> row = {"position": 0, "source": "line 1", "id": None, "site": "ileum", "category": "net_g1",
        ...        "status": "ok", "anti_tumour": [], "antisecretory": [], "excluded": [], "alerts": [],
        ...        "fired_rules": [], "edges": []}
        >>> diff = CohortDiff()
        >>> diff.add(row, dict(row, alerts=["mdt_referral"], fired_rules=["r9"]))
        >>> diff.changed, diff.groups[0].cause
        (1, (('r9',), (), ()))
        """
        self.total += 1
        site, category = after["site"] or before["site"] or "-", _category(before, after)
        statuses = {before["status"], after["status"]}
        if statuses == {"ok"}:
            self.compared += 1
            self.sites[site] += 1
            self.categories[category] += 1
        elif statuses == {"invalid"}:
            self.invalid += 1
            return
        elif statuses == {"error"}:
            self.errors += 1
            return
        change = compare_rows(before, after, self.delta.touched)
        if change is None:
            if _order(before) != _order(after):
                self.reordered += 1
                if len(self.reordered_examples) < EXAMPLES:
                    self.reordered_examples.append((before["position"], before["id"]))
            return
        self.changed += 1
        self.changed_sites[site] += 1
        self.changed_categories[category] += 1
        for name, _, _ in change.changes:
            self.fields[name] += 1
        self.patients.append(change)
        group = self._groups.get(change.cause)
        if group is None:
            group = self._groups[change.cause] = Group(change.cause)
        group.add(change)

    def _rule(self, rule: str, change: str) -> dict[str, Any]:
        d = self.delta
        how = ("added" if rule in d.added else "removed" if rule in d.removed
               else "reads a changed setting" if rule in d.reads_changed_setting
               else "edited" if rule in d.edited else None)
        return {"id": rule, "fired": change, "recommendation": self.owners.get(rule), "knowledge_change": how}

    def _roots(self) -> list[dict[str, Any]]:
        """The groups rolled up by the rules the knowledge change reaches directly (their root cause)."""
        roots: dict[tuple[str, ...], list[Group]] = {}
        for group in self.groups:
            key = tuple(sorted({r for part in group.cause for r in part} & self.delta.touched))
            roots.setdefault(key, []).append(group)
        names = {g.cause: f"G{i}" for i, g in enumerate(self.groups, 1)}
        out = [{"rules": [{"id": r, "recommendation": self.owners.get(r)} for r in key],
                "patients": sum(g.count for g in groups), "groups": [names[g.cause] for g in groups]}
               for key, groups in roots.items()]
        return sorted(out, key=lambda r: (-r["patients"], [x["id"] for x in r["rules"]]))

    def to_dict(self) -> dict[str, Any]:
        """Plain data, in a fixed order: what ``diff.json`` holds (the same inputs give the same data).

        Returns
        -------
        dict
            ``versions``, ``knowledge_changes``, ``counts``, ``by_site``, ``by_category``, ``root_causes``
            (the groups rolled up by the rules the knowledge change reaches directly), ``groups``,
            ``reordered_examples`` and ``patients`` (every changed patient, in cohort order).

        Examples
        --------
        >>> list(CohortDiff().to_dict())[:4]
        ['versions', 'software_version', 'lang', 'knowledge_changes']
        """
        groups = self.groups
        names = {g.cause: f"G{i}" for i, g in enumerate(groups, 1)}
        return {
            "versions": self.versions,
            "software_version": SOFTWARE_VERSION,
            "lang": self.lang,
            "knowledge_changes": self.delta.to_dict(),
            "counts": {"patients": self.total, "compared": self.compared, "changed": self.changed,
                       "reordered": self.reordered, "invalid": self.invalid, "errors": self.errors,
                       "by_field": {name: self.fields[name] for name in FIELDS if self.fields[name]}},
            "by_site": [{"site": s, "patients": n, "changed": self.changed_sites[s]}
                        for s, n in sorted(self.sites.items(), key=lambda kv: (-self.changed_sites[kv[0]], kv[0]))],
            "by_category": [{"category": c, "patients": n, "changed": self.changed_categories[c]}
                            for c, n in sorted(self.categories.items(),
                                               key=lambda kv: (-self.changed_categories[kv[0]], kv[0]))],
            "root_causes": self._roots(),
            "groups": [{
                "group": names[g.cause], "patients": g.count,
                "rules": ([self._rule(r, "appeared") for r in g.cause[0]]
                          + [self._rule(r, "disappeared") for r in g.cause[1]]
                          + [self._rule(r, "both") for r in g.cause[2]]),
                "by_site": _counts(g.by_site), "by_category": _counts(g.by_category),
                "changes": _counts(g.moves),
                "examples": [{"position": p, "id": i} for p, i in g.examples],
            } for g in groups],
            "reordered_examples": [{"position": p, "id": i} for p, i in self.reordered_examples],
            "patients": [{
                "position": c.position, "source": c.source, "id": c.id, "site": c.site, "category": c.category,
                "group": names[c.cause],
                "changes": [{"field": n, "before": a, "after": b} for n, a, b in c.changes],
                "appeared": list(c.appeared), "disappeared": list(c.disappeared),
                "changed_rules_fired": list(c.fired_both),
            } for c in self.patients],
        }


def _pairs(rows: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Consecutive rows two by two: a patient's row with each knowledge."""
    it = iter(rows)
    return zip(it, it, strict=True)


def _version(source: KnowledgeSource, kb: KnowledgeBase) -> dict[str, Any]:
    return {"source": source.spec, "commit": source.commit, "knowledge_version": kb.version}


def _load(source: KnowledgeSource, workers: int) -> KnowledgeBase:
    """Load a version's knowledge here; its problems name their files where this version keeps them."""
    try:
        if workers == 1:  # this process evaluates: its engines are the ones the run uses
            return engine_for(str(source.content)).kb
        # The workers evaluate: here only the knowledge is needed (versions, owners), not compiled engines.
        return load_knowledge(source.knowledge, source.pathways)
    except KnowledgeError as exc:
        where = f"{source.spec}:" if source.commit else f"{source.content}/"
        raise KnowledgeError([replace(p, file=where + p.file) for p in exc.problems]) from None


def run_diff(
    cohort: Path,
    before: KnowledgeSource,
    after: KnowledgeSource,
    *,
    workers: int | None = None,
    lang: str = "en",
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
    dask: DaskTarget | None = None,
) -> CohortDiff:
    """Evaluate a cohort with two knowledge versions and compare each patient as its rows arrive.

    Parameters
    ----------
    cohort
        JSON Lines, a folder of patient files or Parquet (as ``cds batch`` reads).
    before, after
        The two knowledge versions (:func:`cds.cohort.knowledge_source.open_knowledge_source`).
    workers
        Worker processes (default: the cores available); 1 evaluates in this process.
    lang
        Language of the evaluations (``en`` or ``fr``).
    chunk
        Patients per task.
    progress
        Called with the number of patients just compared.
    dask
        A Dask cluster to evaluate on (:func:`cds.cohort.dask_run.parse_target`) instead of local
        processes; its workers must read both knowledge folders at the same paths.

    Returns
    -------
    CohortDiff
        Counts, groups and the changed patients; :meth:`CohortDiff.to_dict` is ``diff.json``.

    Raises
    ------
    cds.errors.KnowledgeError
        A version's knowledge does not load (before any patient is evaluated).
    cds.cohort.files.CohortFileError
        The cohort cannot be read.

    Examples
    --------
    The same knowledge on both sides changes nobody:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from cds.cohort.knowledge_source import open_knowledge_source
    >>> from cds.resources import content_root
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "in.jsonl").write_text('{"tumour": {"primary_site": "rectum", "size_mm": 8, "ki67_percent": 1}, '
    ...     '"disease": {"stage": "localized"}}\\n', encoding="utf-8")
    >>> with open_knowledge_source(str(content_root())) as a, open_knowledge_source(str(content_root())) as b:
    ...     result = run_diff(folder / "in.jsonl", a, b, workers=1)
    >>> result.total, result.changed, result.groups
    (1, 0, [])
    """
    workers = workers or default_workers()
    kb_a, kb_b = _load(before, workers), _load(after, workers)
    owners = {**kb_a.owners, **kb_b.owners}
    owners.update({r.rule.id: r.recommendation for kb in (kb_a, kb_b) for r in kb.rules if r.recommendation})
    result = CohortDiff(versions={"before": _version(before, kb_a), "after": _version(after, kb_b)},
                        delta=knowledge_delta(kb_a, kb_b), owners=owners, lang=lang)
    settings = RunSettings(lang="fr" if lang == "fr" else "en", surveillance=False, top=ALL_OPTIONS,
                           knowledge=(str(before.content), str(after.content)), trace=True)
    chunks = evaluate_records(iter_records(cohort), workers, settings, chunk, dask, (kb_a.version, kb_b.version))
    for rows in chunks:
        for a, b in _pairs(rows):
            result.add(a, b)
        if progress is not None:
            progress(len(rows) // 2)
    return result


def dumps(data: dict[str, Any]) -> str:
    """``diff.json``'s text: indented, keys in the order built, UTF-8 as is, one final newline.

    Parameters
    ----------
    data
        :meth:`CohortDiff.to_dict`'s data.

    Returns
    -------
    str
        The same data give the same text.

    Examples
    --------
    >>> dumps({"b": 1, "a": [1, 2]})
    '{\\n "b": 1,\\n "a": [\\n  1,\\n  2\\n ]\\n}\\n'
    """
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"

