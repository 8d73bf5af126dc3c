"""Pathway graphs: one NetworkX graph per pathway, and its checks.

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
- :class:`PatientPath` says what a recommendation did in a pathway (nodes
  reached, edges taken, each option's status), for a picture to highlight.

The pictures are drawn under :mod:`cds.render`: :mod:`cds.render.dot` writes
the DOT text, :mod:`cds.render.graphviz` runs Graphviz and
:mod:`cds.render.pathway_index` writes a folder of pictures with its index.

Preconditions not checked here: the knowledge base passed in was built by
:func:`cds.knowledge.load_knowledge` (so every edge's condition is valid and
every proposal carries its track and strength); a recommendation passed to
:meth:`PatientPath.of` was computed with that same knowledge.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import networkx as nx

from cds.errors import CdsError, Problem
from cds.knowledge.loader import KnowledgeBase
from cds.knowledge.schema import Pathway
from cds.model.recommendation import TRACKS, Recommendation
from cds.suggest import did_you_mean

#: A patient's status of an option in one track, as a picture shows it: the ranking category
#: of a ranked option, excluded, or not proposed.
Status = Literal["recommended", "consider", "not_recommended", "excluded", "not_proposed"]

#: Patient's status of an option, best first: an option node proposed in two tracks
#: is filled with the better of its two statuses (each is also written in its label).
STATUS_ORDER: tuple[Status, ...] = (
    "recommended", "consider", "not_recommended", "excluded", "not_proposed",
)
OPTION_PREFIX = "option:"
MAX_CYCLES_REPORTED = 20


# ------------------------------------------------------------------ errors


class UnknownPathway(CdsError, KeyError):
    """No pathway has this id; ``available`` lists the ids that exist.

    A :class:`KeyError` (a lookup that failed) and a :class:`~cds.errors.CdsError`; the
    message suggests the closest id.

    Parameters
    ----------
    pathway_id
        The id asked for; kept as :attr:`pathway_id`.
    available
        Every pathway id; kept as :attr:`available`.

    Examples
    --------
    >>> err = UnknownPathway("si-net", ["pnet_well_differentiated", "si_net"])
    >>> print(err)
    no pathway 'si-net'; did you mean 'si_net'? (available: pnet_well_differentiated, si_net)
    >>> isinstance(err, KeyError), err.available
    (True, ['pnet_well_differentiated', 'si_net'])
    """

    def __init__(self, pathway_id: str, available: Sequence[str]) -> None:
        self.pathway_id = pathway_id
        self.available = list(available)
        hint = did_you_mean(pathway_id, self.available)
        super().__init__(f"no pathway {pathway_id!r}{hint} (available: {', '.join(self.available) or 'none'})")

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


# ------------------------------------------------------------------ graph


def pathway_ids(kb: KnowledgeBase) -> list[str]:
    """Every pathway id, in load (file name) order.

    Parameters
    ----------
    kb
        Loaded knowledge.

    Returns
    -------
    list[str]
        The ids of ``kb.pathways``.

    Examples
    --------
    >>> from cds import default_engine
    >>> pathway_ids(default_engine().kb)[:3]
    ['appendix_net', 'carcinoid_heart_disease', 'carcinoid_syndrome']
    """
    return [pw.id for pw in kb.pathways]


def get_pathway(kb: KnowledgeBase, pathway_id: str) -> Pathway:
    """The pathway with this id; :class:`UnknownPathway` lists the others when there is none.

    Parameters
    ----------
    kb
        Loaded knowledge.
    pathway_id
        Id of one of ``kb.pathways``.

    Returns
    -------
    cds.knowledge.schema.Pathway
        The pathway as loaded from its file.

    Raises
    ------
    UnknownPathway
        No pathway has this id (the message suggests the closest one).

    Examples
    --------
    >>> from cds import default_engine
    >>> kb = default_engine().kb
    >>> pw = get_pathway(kb, "fitness")
    >>> pw.start, len(pw.edges) > 0
    ('FIT_Assess_Fitness', True)
    >>> get_pathway(kb, "si-net")
    Traceback (most recent call last):
    ...
    cds.pathways.UnknownPathway: no pathway 'si-net'; did you mean 'si_net'? (available: appendix_net, ...)
    """
    for pw in kb.pathways:
        if pw.id == pathway_id:
            return pw
    raise UnknownPathway(pathway_id, pathway_ids(kb))


def option_node(option: str) -> str:
    """The graph node of a proposed option: ``option:<id>``.

    Parameters
    ----------
    option
        An option id.

    Returns
    -------
    str
        The node name in :func:`build_graph`, apart from the pathway's own node ids.

    Examples
    --------
    >>> option_node("prrt")
    'option:prrt'
    """
    return f"{OPTION_PREFIX}{option}"


def graph_nodes(graph: nx.MultiDiGraph[str]) -> list[tuple[str, dict[str, Any]]]:
    """(node, attributes) in drawing order: pathway nodes in file order, then options in
    catalogue order.

    Parameters
    ----------
    graph
        A graph of :func:`build_graph`.

    Returns
    -------
    list[tuple[str, dict[str, Any]]]
        Each node with a copy of its attributes (see :func:`build_graph`).

    Examples
    --------
    >>> from cds import default_engine
    >>> graph = build_graph(default_engine().kb, "fitness")
    >>> [(node, data["kind"]) for node, data in graph_nodes(graph)][:4]
    [('FIT_Assess_Fitness', 'start'), ('FIT_Poor_Performance_Status', 'situation'), \
('FIT_Unfit_Localized_NET', 'situation'), ('option:watchful_waiting', 'option')]
    """
    items = [(node, dict(graph.nodes[node])) for node in graph.nodes]
    return sorted(items, key=lambda item: (item[1].get("kind") == "option",
                                           item[1].get("order", 0), item[0]))


def graph_edges(graph: nx.MultiDiGraph[str]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(source, target, edge id, attributes), by source node (file order) then number.

    Parameters
    ----------
    graph
        A graph of :func:`build_graph`.

    Returns
    -------
    list[tuple[str, str, str, dict[str, Any]]]
        Each edge with a copy of its attributes (see :func:`build_graph`).

    Examples
    --------
    >>> from cds import default_engine
    >>> graph = build_graph(default_engine().kb, "fitness")
    >>> [(u, v, data["number"]) for u, v, _, data in graph_edges(graph)][:2]
    [('FIT_Assess_Fitness', 'FIT_Poor_Performance_Status', 1), ('FIT_Assess_Fitness', 'FIT_Unfit_Localized_NET', 2)]
    """
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
        (Text from the option catalogue, None for an unknown option), ``tracks`` (the
        tracks this pathway proposes it in), ``order`` (catalogue position).
        Edges, keyed by the pathway edge id: ``id``, ``kind`` (transition |
        proposal), ``condition`` (the edge's ``when`` list), ``number`` (1, 2 ...
        among the edges leaving the same node, in file order), ``label``
        (the edge's own Text label, or None: :func:`cds.render.dot.edge_text`
        writes what an edge says for people), ``option``, ``track``,
        ``strength``, ``because``, ``sources``.

    Raises
    ------
    UnknownPathway
        No pathway has this id.

    Examples
    --------
    >>> from pathlib import Path
    >>> from cds import load_knowledge
    >>> mini = Path("tests/fixtures/mini")
    >>> kb = load_knowledge(mini / "knowledge", mini / "pathways")
    >>> g = build_graph(kb, "pnet_test")
    >>> sorted(g.successors("Metastatic"))
    ['option:everolimus', 'option:prrt', 'option:ssa']
    >>> g.nodes["option:ssa"]["kind"], g.nodes["option:ssa"]["tracks"]
    ('option', ['anti_tumour'])
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
                tracks.sort(key=TRACKS.index)
        else:
            assert edge.to is not None
            target = edge.to
        graph.add_edge(
            edge.from_, target, key=edge.id,
            id=edge.id,
            kind="proposal" if edge.propose is not None else "transition",
            condition=list(edge.when),
            number=numbers[edge.from_],
            label=edge.label,
            option=edge.propose,
            track=edge.track,
            strength=edge.strength,
            because=edge.because,
            sources=list(edge.sources),
        )
    return graph


# ------------------------------------------------------------------ checks


def check_graph(kb: KnowledgeBase, pathway_id: str) -> list[Problem]:
    """The graph checks of one pathway, as problems for ``cds knowledge lint`` (all errors).

    - ``unreachable_node``: a node no path from the start reaches
      (:func:`networkx.descendants`);
    - ``dead_end``: a reachable node with no edge out;
    - ``unknown_node``: an edge to a node the pathway does not declare;
    - ``unknown_option``: a proposal of an option not in catalogues/options.yaml;
    - ``cycle``: pathway graphs are acyclic (:func:`networkx.is_directed_acyclic_graph`,
      then at most 20 cycles from :func:`networkx.simple_cycles`, each written from its
      earliest node in the file).

    Parameters
    ----------
    kb
        Loaded knowledge.
    pathway_id
        Id of one of ``kb.pathways``.

    Returns
    -------
    list[cds.errors.Problem]
        The problems found, in a stable order; empty for a sound pathway.

    Raises
    ------
    UnknownPathway
        No pathway has this id.

    Examples
    --------
    >>> import dataclasses
    >>> from pathlib import Path
    >>> from cds import load_knowledge
    >>> mini = Path("tests/fixtures/mini")
    >>> kb = load_knowledge(mini / "knowledge", mini / "pathways")
    >>> check_graph(kb, "pnet_test")
    []
    >>> pw = get_pathway(kb, "pnet_test")
    >>> broken = pw.model_copy(update={"edges": pw.edges[:1]})   # "Metastatic" proposes nothing now
    >>> for problem in check_graph(dataclasses.replace(kb, pathways=[broken]), "pnet_test"):
    ...     print(problem)
    pathways/pnet_test.yaml: Metastatic: node leads nowhere: add an edge or a proposal [dead_end]
    """
    pw = get_pathway(kb, pathway_id)
    file = kb.pathway_files.get(pw.id, pw.id)
    graph = build_graph(kb, pw.id)
    out: list[Problem] = []
    for node, data in graph_nodes(graph):
        if "kind" not in data:
            sources = sorted(k for _, _, k in graph.in_edges(node, keys=True))
            out.append(Problem("unknown_node", file, ", ".join(sources),
                               f"edge leads to {node!r}, which is not a node of the pathway"))
        elif data["kind"] == "option" and data["option"] not in kb.options:
            out.append(Problem("unknown_option", file, node,
                               f"proposes {data['option']!r}, which is not in catalogues/options.yaml"))
    reachable = nx.descendants(graph, pw.start) | {pw.start} if pw.start in graph else set()
    for pnode in pw.nodes:
        if pnode.id not in reachable:
            out.append(Problem("unreachable_node", file, pnode.id,
                               f"node is not reachable from {pw.start!r}"))
        elif graph.out_degree(pnode.id) == 0:
            out.append(Problem("dead_end", file, pnode.id,
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
            out.append(Problem("cycle", file, " -> ".join(cycle),
                               "pathway graphs must be acyclic"))
    return out


def check_graphs(kb: KnowledgeBase) -> list[Problem]:
    """:func:`check_graph` for every pathway.

    Parameters
    ----------
    kb
        Loaded knowledge.

    Returns
    -------
    list[cds.errors.Problem]
        The problems of every pathway, pathway by pathway in load order.

    Examples
    --------
    >>> from cds import default_engine
    >>> check_graphs(default_engine().kb)   # the bundled pathways are sound
    []
    """
    return [f for pw in kb.pathways for f in check_graph(kb, pw.id)]


# ------------------------------------------------------------------ the patient


@dataclass(frozen=True)
class PatientPath:
    """What a recommendation says about one pathway: the data a picture highlights.

    ``entered`` (the patient entered the pathway), the pathway ``nodes`` reached and
    ``edges`` taken, each proposed option's ``status`` and ``rank`` per track, and the
    patient's id and decision date for the picture's title. Built by :meth:`of`.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> engine = default_engine()
    >>> rec = engine.evaluate(patient, surveillance=False)
    >>> path = PatientPath.of(rec, build_graph(engine.kb, "fitness"))
    >>> path.entered, sorted(path.nodes), sorted(path.edges)
    (True, ['FIT_Assess_Fitness'], [])
    >>> path.status[("anti_tumour", "watchful_waiting")], path.rank[("anti_tumour", "watchful_waiting")]
    ('recommended', 1)
    """

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
        """What ``rec`` did in the pathway ``graph`` (:func:`build_graph`).

        Parameters
        ----------
        rec
            A recommendation computed with the knowledge the graph was built from.
        graph
            One pathway's graph.

        Returns
        -------
        PatientPath
            The nodes and edges of this pathway in ``rec``'s trace, and the status and rank of
            every option ``rec`` ranked or excluded (whichever pathway proposed it).

        Examples
        --------
        >>> from cds import default_engine, parse_patient
        >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
        ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
        >>> engine = default_engine()
        >>> rec = engine.evaluate(patient, surveillance=False)
        >>> path = PatientPath.of(rec, build_graph(engine.kb, "pnet_well_differentiated"))
        >>> sorted(path.edges)
        ['pnet.nf_localized.to_small_low_risk', 'pnet.nf_small.propose_surgery', \
'pnet.nf_small.propose_watchful_waiting', 'pnet.to_nf_localized']
        >>> PatientPath.of(rec, build_graph(engine.kb, "si_net")).entered
        False
        """
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
        """(track, status) for each track the pathway proposes the option in.

        Parameters
        ----------
        option
            An option id.
        tracks
            The tracks a pathway proposes it in (the ``tracks`` attribute of its option node).

        Returns
        -------
        list[tuple[str, Status]]
            One pair per track, ``not_proposed`` where the patient has no status for it.

        Examples
        --------
        >>> path = PatientPath(entered=True, nodes=frozenset(), edges=frozenset(),
        ...                    status={("anti_tumour", "ssa"): "consider"})
        >>> path.option_status("ssa", ["anti_tumour", "antisecretory"])
        [('anti_tumour', 'consider'), ('antisecretory', 'not_proposed')]
        """
        return [(t, self.status.get((t, option), "not_proposed")) for t in tracks]


__all__ = [
    "OPTION_PREFIX",
    "STATUS_ORDER",
    "PatientPath",
    "Status",
    "UnknownPathway",
    "build_graph",
    "check_graph",
    "check_graphs",
    "get_pathway",
    "graph_edges",
    "graph_nodes",
    "option_node",
    "pathway_ids",
]
