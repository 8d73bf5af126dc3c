"""Pathway graphs: one NetworkX graph per pathway, its checks, and its pictures.

A pathway file (``pathways/*.yaml``) is read once by the loader; this module
turns it into the single graph object that the linter, the pictures and the
reports all read (:func:`build_graph`), so the picture cannot say something
the engine does not run:

- :func:`build_graph` returns a :class:`networkx.MultiDiGraph` (a
  :class:`networkx.DiGraph` that keeps parallel edges: two edges of a pathway
  may join the same two nodes under different conditions). Its nodes are the
  pathway's nodes plus one ``option:<id>`` node per option the pathway
  proposes; each pathway edge is one graph edge, keyed by its id;
- :func:`check_graph` / :func:`check_graphs` run the graph checks of
  ``cds knowledge lint`` (reachability from the start, dead ends, unknown
  targets and options, cycles);
- :func:`to_dot` draws a pathway as DOT text in the one visual grammar of
  ``renderers/graphviz/style.yaml``, optionally with a patient's path
  highlighted; :func:`render` runs Graphviz ``dot`` on it (SVG or PNG) and
  :func:`render_svg` gives an SVG ready to inline in HTML;
- :func:`write_all` draws every pathway into a folder with an ``index.html``.

The DOT text is deterministic (file order, sorted attributes, no clock, no
absolute path), so golden files can compare it exactly.

Preconditions not checked here: the knowledge base passed in was built by
:func:`cds.knowledge.load_knowledge` (so every edge's condition is valid and
every proposal carries its track and strength); a recommendation passed as
``rec`` was computed with that same knowledge.
"""

from __future__ import annotations

import html
import itertools
import shutil
import subprocess
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import networkx as nx
import yaml
from pydantic import BaseModel, ConfigDict

from cds.errors import CdsError
from cds.files import write_file
from cds.knowledge import conditions
from cds.knowledge.loader import KnowledgeBase
from cds.knowledge.schema import Pathway, PathwayEdge
from cds.model.recommendation import Recommendation
from cds.resources import renderers_dir

if TYPE_CHECKING:
    from cds.knowledge.lint import Finding

Lang = Literal["en", "fr"]
ImageFormat = Literal["svg", "png"]
Status = Literal["recommended", "consider", "not_recommended", "excluded", "not_proposed"]

#: Patient's status of an option, best first: an option node proposed in two tracks
#: is filled with the better of its two statuses (each is also written in its label).
STATUS_ORDER: tuple[Status, ...] = (
    "recommended", "consider", "not_recommended", "excluded", "not_proposed",
)
TRACK_ORDER = ("anti_tumour", "antisecretory")
OPTION_PREFIX = "option:"
MAX_CYCLES_REPORTED = 20
DOT_TIMEOUT_S = 120
INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; Fedora: sudo dnf install "
    "graphviz; macOS: brew install graphviz) so that the `dot` program is on PATH"
)


# ------------------------------------------------------------------ errors


class UnknownPathway(CdsError, KeyError):
    """No pathway has this id; ``available`` lists the ids that exist."""

    def __init__(self, pathway_id: str, available: Sequence[str]) -> None:
        import difflib

        self.pathway_id = pathway_id
        self.available = list(available)
        close = difflib.get_close_matches(pathway_id, self.available, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        super().__init__(
            f"no pathway {pathway_id!r}{hint} (available: {', '.join(self.available) or 'none'})"
        )

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


class GraphvizNotFound(CdsError):
    """The Graphviz ``dot`` program is not installed: only DOT text can be produced."""

    def __init__(self) -> None:
        super().__init__(f"Graphviz is missing: the `dot` program was not found; {INSTALL_HINT}")


class RenderError(CdsError):
    """``dot`` ran but failed (a bug in the DOT text or in Graphviz)."""


# ------------------------------------------------------------------ style


class _Legend(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: dict[str, str]
    samples: dict[Literal["transition", "proposal"], str]


class _Style(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    graph: dict[str, str]
    node: dict[str, str]
    edge: dict[str, str]
    kinds: dict[Literal["start", "decision", "situation", "option"], dict[str, str]]
    edges: dict[Literal["transition", "proposal"], dict[str, str]]
    categories: dict[Status, dict[str, str]]
    highlight: dict[Literal["node", "edge", "faded_node", "faded_edge"], dict[str, str]]
    detail: dict[str, str]
    wrap: dict[Literal["node", "edge"], int]
    legend: _Legend
    words: dict[Lang, dict[str, str]]


Style = _Style

_WORDS = (
    "legend", "start", "decision", "situation", "option", "transition", "proposal",
    "recommended", "consider", "not_recommended", "excluded", "not_proposed", "anti_tumour",
    "antisecretory", "strength", "always", "and", "or", "is_known", "is_unknown", "reached",
    "not_reached", "taken", "patient", "unnamed_patient", "path_highlighted", "not_entered",
)


def style_path() -> Path:
    return renderers_dir() / "graphviz" / "style.yaml"


def load_style(path: Path | None = None) -> Style:
    """The visual grammar (``renderers/graphviz/style.yaml``), validated; cached per file."""
    return _load_style(str(path or style_path()))


@lru_cache(maxsize=4)
def _load_style(path: str) -> Style:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    style = _Style.model_validate(data)
    for lang in ("en", "fr"):
        missing = [w for w in _WORDS if w not in style.words.get(lang, {})]
        if missing:
            raise ValueError(f"{path}: words.{lang} lacks {', '.join(missing)}")
    return style


# ------------------------------------------------------------------ graph


def pathway_ids(kb: KnowledgeBase) -> list[str]:
    """Every pathway id, in load (file name) order."""
    return [pw.id for pw in kb.pathways]


def get_pathway(kb: KnowledgeBase, pathway_id: str) -> Pathway:
    """The pathway with this id; :class:`UnknownPathway` lists the others when there is none."""
    for pw in kb.pathways:
        if pw.id == pathway_id:
            return pw
    raise UnknownPathway(pathway_id, pathway_ids(kb))


def option_node(option: str) -> str:
    """The graph node of a proposed option: ``option:<id>``."""
    return f"{OPTION_PREFIX}{option}"


def graph_nodes(graph: nx.MultiDiGraph[str]) -> list[tuple[str, dict[str, Any]]]:
    """(node, attributes) in drawing order: pathway nodes in file order, then options in
    catalogue order."""
    items = [(node, dict(graph.nodes[node])) for node in graph.nodes]
    return sorted(items, key=lambda item: (item[1].get("kind") == "option",
                                           item[1].get("order", 0), item[0]))


def graph_edges(graph: nx.MultiDiGraph[str]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(source, target, edge id, attributes), by source node (file order) then number."""
    items: list[tuple[str, str, str, dict[str, Any]]] = [
        (u, v, k, dict(graph.edges[u, v, k])) for u, v, k in graph.edges(keys=True)
    ]
    return sorted(items, key=lambda e: (graph.nodes[e[0]].get("order", 0), e[3]["number"]))


def build_graph(kb: KnowledgeBase, pathway_id: str) -> nx.MultiDiGraph[str]:
    """The pathway as a graph: the one object the linter, the pictures and the reports read.

    Parameters
    ----------
    kb : KnowledgeBase
        Loaded knowledge.
    pathway_id : str
        Id of one of ``kb.pathways``.

    Returns
    -------
    networkx.MultiDiGraph
        Graph attributes: ``id``, ``title`` (Text), ``start``, ``file``.
        Pathway nodes: ``kind`` (start | decision | situation), ``label`` and
        ``note`` (Text or None), ``order`` (position in the file).
        Option nodes ``option:<id>``: ``kind`` = option, ``option``, ``label``
        (Text from options.yaml, None for an unknown option), ``tracks`` (the
        tracks this pathway proposes it in), ``order`` (catalogue position).
        Edges, keyed by the pathway edge id: ``id``, ``kind`` (transition |
        proposal), ``condition`` (the edge's ``when`` list), ``number`` (1, 2 ...
        among the edges leaving the same node, in file order), ``label``
        ({lang: text}: the edge's own label, else its conditions described,
        else "always"), ``option``, ``track``, ``strength``, ``because``,
        ``sources``.

    Raises
    ------
    UnknownPathway
        No pathway has this id.

    Examples
    --------
    >>> from pathlib import Path
    >>> from cds import load_knowledge
    >>> mini = Path("tests/fixtures/mini")
    >>> kb = load_knowledge(mini / "knowledge", mini / "pathways")   # doctest: +SKIP
    >>> g = build_graph(kb, "pnet_test")                              # doctest: +SKIP
    >>> sorted(g.successors("Metastatic"))                            # doctest: +SKIP
    ['option:everolimus', 'option:prrt', 'option:ssa']
    """
    pw = get_pathway(kb, pathway_id)
    graph: nx.MultiDiGraph[str] = nx.MultiDiGraph(
        id=pw.id, title=pw.title, start=pw.start, file=kb.pathway_files.get(pw.id, "")
    )
    for i, node in enumerate(pw.nodes):
        graph.add_node(node.id, kind=node.kind, label=node.label, note=node.note, order=i)
    catalogue = list(kb.options)
    numbers: dict[str, int] = {}
    for edge in pw.edges:
        numbers[edge.from_] = numbers.get(edge.from_, 0) + 1
        if edge.propose is not None:
            target = option_node(edge.propose)
            if target not in graph:
                spec = kb.options.get(edge.propose)
                order = catalogue.index(edge.propose) if spec else len(catalogue)
                graph.add_node(target, kind="option", option=edge.propose,
                               label=spec.label if spec else None, tracks=[], order=order)
            tracks: list[str] = graph.nodes[target]["tracks"]
            if edge.track and edge.track not in tracks:
                tracks.append(edge.track)
                tracks.sort(key=TRACK_ORDER.index)
        else:
            assert edge.to is not None
            target = edge.to
        graph.add_edge(
            edge.from_, target, key=edge.id,
            id=edge.id,
            kind="proposal" if edge.propose is not None else "transition",
            condition=list(edge.when),
            number=numbers[edge.from_],
            label={lang: edge_text(edge, lang) for lang in ("en", "fr")},
            option=edge.propose,
            track=edge.track,
            strength=edge.strength,
            because=edge.because,
            sources=list(edge.sources),
        )
    return graph


def describe(cond: conditions.Condition, lang: Lang = "en") -> str:
    """A condition in words, like :func:`cds.knowledge.conditions.describe`, in ``lang``.

    Field paths, operators and values stay as written; only the joining words
    (and, or, is known, is unknown) are translated.

    >>> describe({"$nex": {"tumour.ki67_percent": 1}}, "fr")
    'tumour.ki67_percent est inconnu'
    """
    words = load_style().words[lang]
    ((key, body),) = cond.items()
    if key in conditions.LOGICAL:
        joiner = f" {words['and']} " if key == "$and" else f" {words['or']} "
        inner = [describe(c, lang) for c in body]
        return "(" + joiner.join(inner) + ")" if len(inner) > 1 else inner[0]
    (leaf,) = list(conditions.leaves(cond))
    if leaf.op == "exists":
        return f"{leaf.path} {words['is_known']}"
    if leaf.op == "absent":
        return f"{leaf.path} {words['is_unknown']}"
    return leaf.describe()


def edge_text(edge: PathwayEdge, lang: Lang = "en") -> str:
    """What an edge says, without its number: its own label, its conditions, or "always".

    Conditions go one per line, the second and later ones starting with "and".
    """
    if edge.label is not None:
        return getattr(edge.label, lang)  # type: ignore[no-any-return]
    words = load_style().words[lang]
    if not edge.when:
        return words["always"]
    parts = [describe(c, lang) for c in edge.when]
    return "\n".join([parts[0], *(f"{words['and']} {p}" for p in parts[1:])])


# ------------------------------------------------------------------ checks


def check_graph(kb: KnowledgeBase, pathway_id: str) -> list[Finding]:
    """The graph checks of one pathway, as lint findings (all errors).

    - ``unreachable_node``: a node no path from the start reaches
      (:func:`networkx.descendants`);
    - ``dead_end``: a reachable node with no edge out;
    - ``unknown_node``: an edge to a node the pathway does not declare;
    - ``unknown_option``: a proposal of an option not in options.yaml;
    - ``cycle``: pathway graphs are acyclic (:func:`networkx.is_directed_acyclic_graph`,
      then at most 20 cycles from :func:`networkx.simple_cycles`, each written from its
      earliest node in the file).
    """
    from cds.knowledge.lint import Finding

    pw = get_pathway(kb, pathway_id)
    file = kb.pathway_files.get(pw.id, pw.id)
    graph = build_graph(kb, pw.id)
    out: list[Finding] = []
    for node, data in graph_nodes(graph):
        if "kind" not in data:
            sources = sorted(k for _, _, k in graph.in_edges(node, keys=True))
            out.append(Finding("error", "unknown_node", file, ", ".join(sources),
                               f"edge leads to {node!r}, which is not a node of the pathway"))
        elif data["kind"] == "option" and data["option"] not in kb.options:
            out.append(Finding("error", "unknown_option", file, node,
                               f"proposes {data['option']!r}, which is not in options.yaml"))
    reachable = nx.descendants(graph, pw.start) | {pw.start} if pw.start in graph else set()
    for pnode in pw.nodes:
        if pnode.id not in reachable:
            out.append(Finding("error", "unreachable_node", file, pnode.id,
                               f"node is not reachable from {pw.start!r}"))
        elif graph.out_degree(pnode.id) == 0:
            out.append(Finding("error", "dead_end", file, pnode.id,
                               "node leads nowhere: add an edge or a proposal"))
    if not nx.is_directed_acyclic_graph(graph):
        # networkx yields cycles in an order (and from a node) that varies between runs:
        # start each at its earliest node in the file and sort them, so lint output is stable.
        order = {n.id: i for i, n in enumerate(pw.nodes)}
        cycles: list[list[str]] = []
        for cycle in itertools.islice(nx.simple_cycles(graph), 1000):
            first = min(range(len(cycle)), key=lambda i: (order.get(cycle[i], len(order)), cycle[i]))
            cycles.append(cycle[first:] + cycle[:first])
        for cycle in sorted(cycles, key=lambda c: [order.get(n, len(order)) for n in c]
                            )[:MAX_CYCLES_REPORTED]:
            out.append(Finding("error", "cycle", file, " -> ".join(cycle),
                               "pathway graphs must be acyclic"))
    return out


def check_graphs(kb: KnowledgeBase) -> list[Finding]:
    """:func:`check_graph` for every pathway."""
    return [f for pw in kb.pathways for f in check_graph(kb, pw.id)]


# ------------------------------------------------------------------ the patient


@dataclass(frozen=True)
class PatientPath:
    """What a recommendation says about one pathway, for highlighting."""

    entered: bool
    nodes: frozenset[str]
    edges: frozenset[str]
    # (track, option) -> status; absent means not proposed in that track
    status: Mapping[tuple[str, str], Status] = field(default_factory=dict)
    rank: Mapping[tuple[str, str], int] = field(default_factory=dict)
    patient: str | None = None
    as_of: str | None = None

    @classmethod
    def of(cls, rec: Recommendation, graph: nx.MultiDiGraph[str]) -> PatientPath:
        edge_ids = {k for _, _, k in graph.edges(keys=True)}
        status: dict[tuple[str, str], Status] = {}
        rank: dict[tuple[str, str], int] = {}
        for opt in (*rec.anti_tumour, *rec.antisecretory):
            status[(opt.track, opt.option)] = opt.category
            rank[(opt.track, opt.option)] = opt.rank
        for ex in rec.excluded:
            status[(ex.track, ex.option)] = "excluded"
        return cls(
            entered=graph.graph["id"] in rec.trace.pathways,
            nodes=frozenset(n for n in rec.trace.nodes if n in graph),
            edges=frozenset(e for e in rec.trace.edges if e in edge_ids),
            status=status,
            rank=rank,
            patient=rec.patient_id,
            as_of=rec.as_of,
        )

    def option_status(self, option: str, tracks: Sequence[str]) -> list[tuple[str, Status]]:
        """(track, status) for each track the pathway proposes the option in."""
        return [(t, self.status.get((t, option), "not_proposed")) for t in tracks]


# ------------------------------------------------------------------ DOT


class _Html(str):
    """A Graphviz HTML-like label: written between < > instead of quotes."""


class _Escaped(str):
    """DOT string content already escaped (it may hold Graphviz escapes such as ``\\l``)."""


def _esc(text: str) -> str:
    """Escape text for a DOT double-quoted string; Graphviz shows it literally."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _q(text: str) -> str:
    return f'"{_esc(text)}"'


def _value(value: str) -> str:
    if isinstance(value, _Html):
        return f"<{value}>"
    if isinstance(value, _Escaped):
        return f'"{value}"'
    return _q(value)


def _attrs(attrs: Mapping[str, str]) -> str:
    return "[" + ", ".join(f"{k}={_value(v)}" for k, v in sorted(attrs.items())) + "]"


def _h(text: str) -> str:
    """Escape text for an HTML-like label."""
    return html.escape(text, quote=False)


def _ha(value: str) -> str:
    """Escape an attribute value inside an HTML-like label."""
    return html.escape(value, quote=True)


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for para in text.split("\n"):
        lines += textwrap.wrap(para, width, break_long_words=False, break_on_hyphens=False) or [""]
    return lines


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _node_label(style: Style, title: str, detail: str, extra: Sequence[str] = ()) -> _Html:
    lines = [f"<b>{_h(line)}</b>" for line in _wrap(title, style.wrap["node"])]
    font = " ".join(f'{k}="{_ha(v)}"' for k, v in sorted(style.detail.items()))
    lines.append(f"<font {font}>{_h(detail)}</font>")
    lines += [_h(line) for line in extra]
    return _Html("<br/>".join(lines))


def to_dot(
    kb: KnowledgeBase,
    pathway_id: str,
    lang: Lang = "en",
    rec: Recommendation | None = None,
    style: Style | None = None,
) -> str:
    """The pathway as DOT text, in the visual grammar of ``renderers/graphviz/style.yaml``.

    Parameters
    ----------
    kb, pathway_id
        The knowledge and the pathway to draw.
    lang : "en" | "fr"
        Language of node, option and edge labels and of the legend; field paths
        and values in conditions stay as written.
    rec : Recommendation, optional
        A patient's recommendation: the nodes it reached and the edges it took
        are highlighted, each option node is filled by the patient's category
        for it (recommended, consider, not recommended, excluded; grey when not
        proposed), and the rest is faded.
    style : Style, optional
        Another visual grammar (default: the bundled one).

    Returns
    -------
    str
        DOT text, identical for identical input (no clock, no absolute path).

    Raises
    ------
    UnknownPathway
        No pathway has this id.
    """
    style = style or load_style()
    words = style.words[lang]
    graph = build_graph(kb, pathway_id)
    pid: str = graph.graph["id"]
    path = PatientPath.of(rec, graph) if rec is not None else None

    out: list[str] = [
        f"// netcds pathway {pid} ({lang}), drawn from {graph.graph['file']}",
        "// Generated by cds.pathways.to_dot; do not edit.",
        f"digraph {_q(pid)} {{",
    ]
    title = [f"<b>{_h(getattr(graph.graph['title'], lang))}</b>", _h(pid)]
    if path is not None:
        who = path.patient or words["unnamed_patient"]
        when = f" ({path.as_of})" if path.as_of else ""
        state = words["path_highlighted"] if path.entered else words["not_entered"]
        title.append(_h(f"{words['patient']} {who}{when}: {state}"))
    out.append(f"  graph {_attrs({**style.graph, 'id': pid, 'label': _Html('<br/>'.join(title))})};")
    out.append(f"  node {_attrs(style.node)};")
    out.append(f"  edge {_attrs(style.edge)};")

    out.append("")
    out.append("  // pathway nodes, in file order")
    nodes = graph_nodes(graph)
    for node, data in nodes:
        kind = data.get("kind")
        if kind is None or kind == "option":
            continue
        attrs = dict(style.kinds[kind])
        classes = [kind]  # Graphviz adds "node" itself
        if path is not None:
            if node in path.nodes:
                attrs.update(style.highlight["node"])
                classes.append("reached")
            else:
                attrs.update(style.highlight["faded_node"])
        label = getattr(data["label"], lang)
        note = data["note"]
        tooltip = label + (f" ({getattr(note, lang)})" if note is not None else "")
        attrs.update({
            "id": f"{pid}:{node}",
            "class": " ".join(classes),
            "label": _node_label(style, label, f"{node} · {words[kind]}",
                                 [getattr(note, lang)] if note is not None else []),
            "tooltip": _one_line(tooltip),
        })
        out.append(f"  {_q(node)} {_attrs(attrs)};")

    out.append("")
    out.append("  // proposed options, in catalogue order")
    reached_options = {
        v for _, v, k in graph.edges(keys=True) if path is not None and k in path.edges
    }
    for node, data in nodes:
        if data.get("kind") != "option":
            continue
        option: str = data["option"]
        attrs = dict(style.kinds["option"])
        classes = ["option"]
        extra: list[str] = []
        if path is not None:
            statuses = path.option_status(option, data["tracks"])
            best: Status = min((s for _, s in statuses), key=STATUS_ORDER.index,
                               default="not_proposed")
            attrs.update(style.categories[best])
            classes.append(best)
            for track, status in statuses:
                rank = path.rank.get((track, option))
                extra.append(f"{words[track]}: {words[status]}" + (f" #{rank}" if rank else ""))
            if node in reached_options:
                attrs.update({k: v for k, v in style.highlight["node"].items() if k != "fontcolor"})
                classes.append("reached")
        label = getattr(data["label"], lang) if data["label"] is not None else option
        attrs.update({
            "id": f"{pid}:{node}",
            "class": " ".join(classes),
            "label": _node_label(style, label, f"{option} · {words['option']}", extra),
            "tooltip": _one_line(" · ".join([label, *extra])),
        })
        out.append(f"  {_q(node)} {_attrs(attrs)};")

    out.append("")
    out.append("  // edges, in file order; numbered per source node")
    for u, v, key, data in graph_edges(graph):
        attrs = dict(style.edges[data["kind"]])
        classes = [data["kind"]]  # Graphviz adds "edge" itself
        lines = _wrap(f"{data['number']}. {data['label'][lang]}", style.wrap["edge"])
        if data["kind"] == "proposal":
            lines.append(f"({words[data['track']]}, {words['strength']} {data['strength']})")
        if path is not None:
            if key in path.edges:
                attrs.update(style.highlight["edge"])
                classes.append("taken")
            else:
                attrs.update(style.highlight["faded_edge"])
        because = data["because"]
        tooltip = f"{key}: " + (getattr(because, lang) if because is not None
                                else data["label"][lang])
        attrs.update({
            "id": key,
            "class": " ".join(classes),
            "label": _Escaped("".join(f"{_esc(line)}\\l" for line in lines)),
            "tooltip": _one_line(tooltip),
        })
        out.append(f"  {_q(u)} -> {_q(v)} {_attrs(attrs)};")

    out.append("")
    out += _legend(style, lang, pid, path is not None)
    out.append("}")
    return "\n".join(out) + "\n"


def _legend(style: Style, lang: Lang, pid: str, patient: bool) -> list[str]:
    """The legend: a cluster with one sample node per node kind and a key table.

    The key (one HTML-like table) explains the edge styles and, with a patient,
    the option colours and the highlighted path. Everything sits in one rank,
    so the legend is a short column beside the start node (rankdir LR) or a
    row above it (TB).
    """
    words = style.words[lang]
    samples: list[tuple[str, dict[str, str]]] = [
        (f"legend:{kind}", {**style.kinds[kind], "label": words[kind], "tooltip": words[kind]})
        for kind in ("start", "decision", "situation", "option")
    ]
    arrows = style.legend.samples
    rows = [
        _key_row(_h(arrows["transition"]), words["transition"]),
        _key_row(_h(arrows["proposal"]), words["proposal"]),
    ]
    if patient:
        rows += [_key_row("", words[status], {**style.kinds["option"], **style.categories[status]})
                 for status in STATUS_ORDER]
        rows += [
            _key_row("", words["reached"], {**style.kinds["situation"], **style.highlight["node"]}),
            _key_row("", words["not_reached"],
                     {**style.kinds["situation"], **style.highlight["faded_node"]}),
            _key_row(_h(arrows["transition"]), words["taken"],
                     {"fontcolor": style.highlight["edge"].get("color", "#000000")}),
        ]
    table = _Html('<table border="0" cellborder="0" cellspacing="2" cellpadding="2">'
                  + "".join(rows) + "</table>")
    samples.append(("legend:key", {"shape": "plain", "label": table, "tooltip": words["legend"]}))
    cluster = {**style.legend.cluster, "id": f"{pid}:legend", "label": words["legend"]}
    out = ["  // legend", f"  subgraph {_q('cluster_legend')} {{", f"    graph {_attrs(cluster)};",
           "    { rank=same;"]
    for name, attrs in samples:
        out.append(f"      {_q(name)} {_attrs({**attrs, 'id': f'{pid}:{name}'})};")
    out.append("    }")
    # Invisible flat edges keep the samples in order.
    names = [name for name, _ in samples]
    if style.graph.get("rankdir", "TB") in ("LR", "RL"):
        names.reverse()  # flat edges run bottom to top once the layout is turned
    for first, second in itertools.pairwise(names):
        out.append(f'    {_q(first)} -> {_q(second)} [style="invis"];')
    out.append("  }")
    return out


def _key_row(sample: str, text: str, swatch: Mapping[str, str] | None = None) -> str:
    """One row of the legend's key: a sample (text, or a cell styled like a node) and its meaning."""
    if swatch is None:
        cell = f'<td align="center">{sample}</td>'
    else:
        width = "3" if "penwidth" in swatch else "1"
        cell = (f'<td bgcolor="{_ha(swatch.get("fillcolor", "white"))}" border="{width}" '
                f'color="{_ha(swatch.get("color", "#4d4d4d"))}" width="28"> </td>')
        if "fontcolor" in swatch and sample:
            cell = f'<td align="center"><font color="{_ha(swatch["fontcolor"])}">{sample}</font></td>'
    return f'<tr>{cell}<td align="left">{_h(text)}</td></tr>'


# ------------------------------------------------------------------ rendering


def dot_binary() -> str | None:
    """The path of Graphviz ``dot`` on PATH, or None when Graphviz is not installed."""
    return shutil.which("dot")


def render(dot_text: str, fmt: ImageFormat = "svg") -> bytes:
    """Run Graphviz ``dot -T<fmt>`` on DOT text.

    Raises
    ------
    GraphvizNotFound
        ``dot`` is not on PATH (the message says how to install it).
    RenderError
        ``dot`` failed or ran longer than two minutes.
    ValueError
        ``fmt`` is not svg or png.
    """
    if fmt not in ("svg", "png"):
        raise ValueError(f"unknown picture format {fmt!r}; use svg or png")
    binary = dot_binary()
    if binary is None:
        raise GraphvizNotFound()
    try:
        done = subprocess.run(
            [binary, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
            timeout=DOT_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        raise RenderError(f"Graphviz dot ran longer than {DOT_TIMEOUT_S} s") from None
    except OSError as exc:
        raise RenderError(f"cannot run Graphviz dot ({binary}): {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise RenderError(f"Graphviz dot failed (exit {done.returncode}): {message}")
    return done.stdout


def inline_svg(svg: str) -> str:
    """An SVG document without its XML prolog, doctype and generator comments.

    What remains starts with ``<svg`` and can go inside an HTML page.
    """
    start = svg.find("<svg")
    return svg[start:].strip() + "\n" if start >= 0 else svg


def render_svg(
    kb: KnowledgeBase, pathway_id: str, lang: Lang = "en", rec: Recommendation | None = None
) -> str:
    """The pathway as an inline SVG element (for the HTML report).

    Raises :class:`GraphvizNotFound` when Graphviz is missing; the caller may
    then fall back to :func:`to_dot`. Every element id is prefixed with the
    pathway id, so several pictures can share one page.
    """
    return inline_svg(render(to_dot(kb, pathway_id, lang, rec), "svg").decode("utf-8"))


# ------------------------------------------------------------------ a folder of pictures

_INDEX_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "netcds pathways",
        "intro": "Every pathway the engine runs, drawn from the same graph.",
        "patient": "Patient",
        "picture": "picture (SVG)",
        "dot": "DOT source",
        "nodes": "nodes",
        "edges": "edges",
        "options": "options proposed",
        "no_picture": "Graphviz is missing: only the DOT source was written.",
        "not_entered": "did not enter this pathway",
        "entered": "entered this pathway",
    },
    "fr": {
        "title": "Parcours netcds",
        "intro": "Chaque parcours que le moteur exécute, dessiné à partir du même graphe.",
        "patient": "Patient",
        "picture": "image (SVG)",
        "dot": "source DOT",
        "nodes": "nœuds",
        "edges": "transitions",
        "options": "options proposées",
        "no_picture": "Graphviz est absent : seule la source DOT a été écrite.",
        "not_entered": "n'entre pas dans ce parcours",
        "entered": "entre dans ce parcours",
    },
}


@dataclass(frozen=True)
class IndexEntry:
    """One row of ``index.html``: values already formatted for the template."""

    id: str
    title: str
    description: str
    file: str
    nodes: int
    edges: int
    options: int
    svg: str | None  # file name, None when not rendered
    dot: str
    patient_state: str | None


@dataclass(frozen=True)
class WrittenPictures:
    folder: Path
    files: list[Path]
    rendered: bool  # False when Graphviz was missing (DOT and index only)


def render_index(
    entries: Sequence[IndexEntry], lang: Lang = "en", patient: str | None = None,
    rendered: bool = True,
) -> str:
    """The ``index.html`` of a folder of pathway pictures (``renderers/html/pathways_index.html.j2``)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(renderers_dir() / "html")),
        autoescape=jinja2.select_autoescape(("html", "html.j2"), default_for_string=True,
                                            default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template("pathways_index.html.j2").render(
        lang=lang, t=_INDEX_WORDS[lang], entries=list(entries), patient=patient,
        rendered=rendered,
    )


def write_all(
    kb: KnowledgeBase, folder: Path, lang: Lang = "en", rec: Recommendation | None = None,
) -> WrittenPictures:
    """Draw every pathway into ``folder``: ``<id>.dot``, ``<id>.svg`` and ``index.html``.

    When Graphviz is missing the DOT files and the index are still written and
    ``rendered`` is False. Files are written whole (temporary file, then rename).
    """
    folder.mkdir(parents=True, exist_ok=True)
    dots = {pid: to_dot(kb, pid, lang, rec) for pid in pathway_ids(kb)}
    svgs: dict[str, bytes] = {}
    rendered = dot_binary() is not None
    if rendered:
        svgs = {pid: render(text, "svg") for pid, text in dots.items()}
    written: list[Path] = []
    entries: list[IndexEntry] = []
    words = _INDEX_WORDS[lang]
    for pw in kb.pathways:
        written.append(_write(folder / f"{pw.id}.dot", dots[pw.id].encode("utf-8")))
        if pw.id in svgs:
            written.append(_write(folder / f"{pw.id}.svg", svgs[pw.id]))
        state = None
        if rec is not None:
            state = words["entered"] if pw.id in rec.trace.pathways else words["not_entered"]
        entries.append(IndexEntry(
            id=pw.id,
            title=getattr(pw.title, lang),
            description=getattr(pw.description, lang) if pw.description else "",
            file=kb.pathway_files.get(pw.id, ""),
            nodes=len(pw.nodes),
            edges=len(pw.edges),
            options=len({e.propose for e in pw.edges if e.propose}),
            svg=f"{pw.id}.svg" if pw.id in svgs else None,
            dot=f"{pw.id}.dot",
            patient_state=state,
        ))
    patient = None
    if rec is not None:
        patient = rec.patient_id or _INDEX_WORDS[lang]["patient"]
    index = render_index(entries, lang, patient, rendered)
    written.append(_write(folder / "index.html", index.encode("utf-8")))
    return WrittenPictures(folder, written, rendered)


def _write(path: Path, data: bytes) -> Path:
    write_file(path, data)
    return path


__all__ = [
    "GraphvizNotFound",
    "IndexEntry",
    "PatientPath",
    "RenderError",
    "Style",
    "UnknownPathway",
    "WrittenPictures",
    "build_graph",
    "check_graph",
    "check_graphs",
    "describe",
    "dot_binary",
    "edge_text",
    "get_pathway",
    "graph_edges",
    "graph_nodes",
    "inline_svg",
    "load_style",
    "option_node",
    "pathway_ids",
    "render",
    "render_index",
    "render_svg",
    "to_dot",
    "write_all",
]
