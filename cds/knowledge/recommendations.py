"""Everything about one recommendation, gathered from the knowledge (``cds knowledge show`` and ``list``).

A recommendation's home (:mod:`cds.knowledge.layout`) holds its statement, its rules and its
vignettes and names the pathway edges it owns; what it shares with others (sources, alerts,
settings, options) is in the catalogues. This module puts the pieces back together as data,
for an author reviewing one recommendation or the list of them; the words and the layout are
the renderers' (:mod:`cds.render.recommendation_text`).

Examples
--------
>>> from cds.knowledge.loader import load_knowledge
>>> kb = load_knowledge()
>>> first = summaries(kb)[0]
>>> first.status in ("draft", "reviewed", "retired") and first.vignettes_in + first.vignettes_out >= 0
True
>>> detail(kb, first.id).spec.id == first.id
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cds.errors import CdsError
from cds.knowledge.layout import Layout
from cds.knowledge.loader import KnowledgeBase, LoadedRecommendation
from cds.knowledge.schema import AlertSpec, PathwayEdge, RecommendationSpec, Rule, Setting, Source
from cds.knowledge.vignette_schema import load_vignette
from cds.suggest import did_you_mean

#: The role of a rule by the kind of its effects (the renderers word it: ``rec_role_<role>`` in i18n.yaml).
EFFECT_ROLES = {
    "argue": "argument",
    "safety": "caution",
    "exclude": "exclusion",
    "alert": "alert",
    "missing": "missing_data",
    "derive": "classification",
    "assume": "definition",
    "surveil": "follow_up",
}


class UnknownRecommendationError(CdsError, ValueError):
    """No recommendation has this id (the message suggests the closest).

    Examples
    --------
    >>> str(UnknownRecommendationError("no recommendation 'x'"))
    "no recommendation 'x'"
    """


@dataclass(frozen=True)
class VignetteRef:
    """A vignette that tests a recommendation: its own (in its folder) or borrowed from another home.

    Examples
    --------
    >>> VignetteRef("v1", "in", "knowledge/.../v1.yaml", None, "ESMO 2020", True).own
    True
    """

    id: str
    side: str
    file: str
    description: str | None
    cites: str | None
    own: bool


@dataclass(frozen=True)
class EdgeRef:
    """A pathway edge a recommendation owns, with the pathway it belongs to.

    Examples
    --------
    >>> from cds.knowledge.loader import load_knowledge
    >>> pw = load_knowledge().pathways[0]
    >>> EdgeRef(pw.id, pw.edges[0]).pathway == pw.id
    True
    """

    pathway: str
    edge: PathwayEdge


@dataclass(frozen=True)
class Caution:
    """A safety ceiling the recommendation puts on an option (from a rule or a matrix statement).

    Examples
    --------
    >>> Caution("safety.x", "prrt", "avoid").level
    'avoid'
    """

    rule: str
    option: str
    level: str


@dataclass(frozen=True)
class RecommendationSummary:
    """One line of ``cds knowledge list``.

    Examples
    --------
    >>> row = RecommendationSummary("pnet-a", "pancreas", "A", "A", "draft", None, ("DP-027",), 1, 2, 1, 1, "f")
    >>> row.vignettes_in, row.reviewer
    (1, None)
    """

    id: str
    area: str
    title_en: str
    title_fr: str
    status: str
    reviewer: str | None
    brief: tuple[str, ...]
    rules: int
    edges: int
    vignettes_in: int
    vignettes_out: int
    file: str


@dataclass(frozen=True)
class RecommendationDetail:
    """Everything about one recommendation (``cds knowledge show``).

    Examples
    --------
    >>> from cds.knowledge.loader import load_knowledge
    >>> kb = load_knowledge()
    >>> rec = detail(kb, next(iter(kb.recommendations)))
    >>> rec.file.endswith("recommendation.yaml"), rec.area in rec.file
    (True, True)
    """

    spec: RecommendationSpec
    area: str
    file: str
    rules: list[Rule]
    edges: list[EdgeRef]
    cautions: list[Caution]
    alerts: list[AlertSpec]
    settings: list[tuple[Setting, Any]]
    sources: list[Source]
    vignettes: list[VignetteRef]
    roles: dict[str, list[str]] = field(default_factory=dict)


def _vignettes(kb: KnowledgeBase) -> dict[str, list[VignetteRef]]:
    """Recommendation id -> the vignettes that test it (own first, then borrowed), read from the files."""
    layout = Layout(kb.root)
    by_id: dict[str, VignetteRef] = {}
    out: dict[str, list[VignetteRef]] = {rid: [] for rid in kb.recommendations}
    for path in layout.vignette_files():
        home = Layout.recommendation_of_vignette(path).parent.name
        try:
            vignette = load_vignette(path)
        except (ValidationError, yaml.YAMLError):  # lint names the file; here it shows with side "?"
            ref = VignetteRef(path.stem, "?", _rel(kb, path), None, None, True)
        else:
            ref = VignetteRef(vignette.id, vignette.side, _rel(kb, path), vignette.description, vignette.cites, True)
        by_id[ref.id] = ref
        if home in out:
            out[home].append(ref)
    for rec in kb.recommendations.values():
        for side, ids in rec.spec.also_tested_by.items():
            for vid in ids:
                if vid in by_id:
                    own = by_id[vid]
                    out[rec.id].append(VignetteRef(own.id, side, own.file, own.description, own.cites, False))
    return out


def _rel(kb: KnowledgeBase, path: Path) -> str:
    try:
        return path.relative_to(kb.root.parent).as_posix()
    except ValueError:
        return path.as_posix()


def _area(rec: LoadedRecommendation) -> str:
    return rec.folder.parent.name


def summaries(kb: KnowledgeBase) -> list[RecommendationSummary]:
    """Every recommendation with its status, reviewer and how much it holds, in area then id order.

    Parameters
    ----------
    kb
        The loaded knowledge.

    Returns
    -------
    list of RecommendationSummary
        One per recommendation.

    Examples
    --------
    >>> from cds.knowledge.loader import load_knowledge
    >>> rows = summaries(load_knowledge())
    >>> rows == sorted(rows, key=lambda r: (r.area, r.id))
    True
    """
    vignettes = _vignettes(kb)
    rows = []
    for rec in kb.recommendations.values():
        spec = rec.spec
        refs = vignettes[rec.id]
        rows.append(RecommendationSummary(
            id=spec.id, area=_area(rec), title_en=spec.title.en, title_fr=spec.title.fr, status=spec.status,
            reviewer=spec.reviewer, brief=tuple(spec.brief), rules=len(spec.rules), edges=len(spec.edges),
            vignettes_in=sum(1 for v in refs if v.side == "in"),
            vignettes_out=sum(1 for v in refs if v.side == "out"), file=rec.file,
        ))
    return sorted(rows, key=lambda r: (r.area, r.id))


def detail(kb: KnowledgeBase, rec_id: str) -> RecommendationDetail:
    """One recommendation with its rules, edges, cautions, alerts, settings, sources and vignettes.

    Parameters
    ----------
    kb
        The loaded knowledge.
    rec_id
        The recommendation's id.

    Returns
    -------
    RecommendationDetail
        The pieces, each resolved from its catalogue.

    Raises
    ------
    UnknownRecommendationError
        No recommendation has this id; the message names the closest.

    Examples
    --------
    >>> from cds.knowledge.loader import load_knowledge
    >>> kb = load_knowledge()
    >>> try:
    ...     detail(kb, "no-such-recommendation")
    ... except UnknownRecommendationError as exc:
    ...     print(str(exc).split(" (")[0])
    no recommendation 'no-such-recommendation'
    """
    rec = kb.recommendations.get(rec_id)
    if rec is None:
        raise UnknownRecommendationError(f"no recommendation {rec_id!r}" + did_you_mean(rec_id, kb.recommendations)
                                         + " (cds knowledge list shows them all)")
    spec = rec.spec
    edges = [EdgeRef(pw.id, e) for pw in kb.pathways for e in pw.edges if e.id in set(spec.edges)]
    order = {eid: i for i, eid in enumerate(spec.edges)}
    edges.sort(key=lambda ref: order[ref.edge.id])
    # The loaded rules carry the settings' values; a retired recommendation's rules are only in its file.
    loaded = {lr.rule.id: lr.rule for lr in kb.rules if lr.recommendation == rec_id}
    rules = [loaded.get(r.id, r) for r in spec.rules]
    cautions = [Caution(r.id, e.safety.option, e.safety.level) for r in rules for e in r.then if e.safety is not None]
    entries = {entry.id: entry for entry, _ in kb.matrix_entries}
    cautions += [Caution(eid, option, entries[eid].level) for eid in spec.matrix if eid in entries
                 for option in entries[eid].options]
    alert_ids = list(dict.fromkeys([*(e.alert.id for r in rules for e in r.then if e.alert is not None),
                                    *(a for eid in spec.matrix if eid in entries for a in entries[eid].alerts),
                                    *(pa.alert for pa in kb.planner_alerts if pa.situation in spec.planner_alerts)]))
    alerts = [kb.alerts[a] for a in alert_ids if a in kb.alerts]
    members = {r.id for r in rules} | set(spec.edges) | set(spec.matrix)
    names = sorted({name for use in kb.setting_uses if use.loc in members for name in use.settings})
    settings = [(kb.setting_specs[n], kb.settings[n]) for n in names if n in kb.setting_specs]
    source_ids = list(dict.fromkeys([*spec.statement.sources, *(s for r in rules for s in r.sources),
                                     *(s for ref in edges for s in ref.edge.sources),
                                     *(s for eid in spec.matrix if eid in entries for s in entries[eid].sources)]))
    roles: dict[str, list[str]] = {}
    for r in rules:
        roles[r.id] = list(dict.fromkeys(EFFECT_ROLES[e.kind] for e in r.then))
    return RecommendationDetail(
        spec=spec, area=_area(rec), file=rec.file, rules=rules, edges=edges, cautions=cautions, alerts=alerts,
        settings=settings, sources=[kb.sources[s] for s in source_ids if s in kb.sources],
        vignettes=_vignettes(kb)[rec_id], roles=roles,
    )
