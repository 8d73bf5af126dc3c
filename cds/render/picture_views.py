"""Which part of a pathway a picture shows: the whole graph, an overview, one decision, a patient's route.

A pathway drawn whole is a poster (the pNET pathway is about 3,900 x 5,700 px): fitted to
a screen its text is unreadable. Readers compare with NCCN algorithm pages, which show one
decision per page with short criteria on each branch. A :class:`PictureView` names the
nodes and edges one picture draws, so :func:`cds.render.dot.draw` can lay out any of these:

- :func:`whole`: every node and edge (``cds pathway NAME``, the full picture);
- :func:`overview`: the pathway's own nodes and the moves between them, no proposed option
  and no edge caption, each node a link to its decision page;
- :func:`decision`: one node, its outgoing edges and their targets, split into parts of at
  most ``max_branches`` targets so that every page stays readable (:data:`MAX_BRANCHES`);
- :func:`route`: a patient's route (nodes reached, edges taken, options proposed), with the
  alternatives at each decision point on the route drawn greyed.

Selecting is plain set arithmetic on the graph of :func:`cds.pathways.build_graph` and on
the trace a recommendation recorded (:class:`cds.pathways.PatientPath`); nothing is evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import networkx as nx

from cds.errors import CdsError
from cds.pathways import PatientPath, graph_edges, graph_nodes
from cds.suggest import did_you_mean

#: The views a picture can show.
ViewKind = Literal["whole", "overview", "decision", "route"]
VIEW_KINDS: tuple[ViewKind, ...] = ("whole", "overview", "decision", "route")
#: Most targets one decision page draws; a decision with more is split into parts.
#: Chosen so that every page passes the 10 px rule (tests/test_pathways.py measures it).
MAX_BRANCHES = 6


class UnknownNode(CdsError, KeyError):
    """No node of the pathway has this id, or it has no edge out (nothing to decide there).

    Parameters
    ----------
    node
        The node asked for; kept as :attr:`node`.
    pathway_id
        The pathway searched.
    available
        The pathway's decisions (:func:`decision_nodes`); kept as :attr:`available`.

    Examples
    --------
    >>> print(UnknownNode("FIT_Asses", "fitness", ["FIT_Assess_Fitness", "FIT_Unfit_Localized_NET"]))
    no decision 'FIT_Asses' in pathway fitness; did you mean 'FIT_Assess_Fitness'? \
(decisions: FIT_Assess_Fitness, FIT_Unfit_Localized_NET)
    """

    def __init__(self, node: str, pathway_id: str, available: list[str]) -> None:
        self.node = node
        self.available = available
        hint = did_you_mean(node, available)
        super().__init__(f"no decision {node!r} in pathway {pathway_id}{hint} (decisions: {', '.join(available)})")

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


@dataclass(frozen=True)
class PictureView:
    """The part of one pathway a picture draws.

    ``nodes`` and ``edges`` are the graph nodes and edge ids drawn (None: all of them);
    ``greyed`` the ones drawn greyed (a route's alternatives); ``node`` the decision of a
    decision page, ``part``/``parts`` its place when the decision is split.

    Examples
    --------
    >>> PictureView("whole", "fitness").name, PictureView("decision", "fitness", node="FIT_X", part=2, parts=3).name
    ('fitness', 'fitness.FIT_X.2')
    """

    kind: ViewKind
    pathway: str
    nodes: frozenset[str] | None = None
    edges: frozenset[str] | None = None
    greyed: frozenset[str] = frozenset()
    node: str | None = None
    part: int = 1
    parts: int = 1

    @property
    def name(self) -> str:
        """A name for the picture's file or HTML anchor: pathway id, then view, node and part."""
        if self.kind == "whole":
            return self.pathway
        if self.kind == "decision":
            return f"{self.pathway}.{self.node}" + (f".{self.part}" if self.parts > 1 else "")
        return f"{self.pathway}.{self.kind}"

    @property
    def compact(self) -> bool:
        """Whether the picture is one of the screen-sized views (no legend inside, no node ids)."""
        return self.kind != "whole"

    def shows_node(self, node: str) -> bool:
        """Whether the picture draws this graph node.

        Parameters
        ----------
        node
            A node of the pathway's graph (``option:<id>`` for an option).

        Returns
        -------
        bool
            True when the view has no node list or lists it.

        Examples
        --------
        >>> PictureView("whole", "x").shows_node("A"), PictureView("overview", "x", frozenset({"B"})).shows_node("A")
        (True, False)
        """
        return self.nodes is None or node in self.nodes

    def shows_edge(self, edge: str) -> bool:
        """Whether the picture draws this edge.

        Parameters
        ----------
        edge
            An edge id.

        Returns
        -------
        bool
            True when the view has no edge list or lists it.

        Examples
        --------
        >>> PictureView("overview", "x", edges=frozenset({"x.to_b"})).shows_edge("x.to_b")
        True
        """
        return self.edges is None or edge in self.edges


def whole(graph: nx.MultiDiGraph[str]) -> PictureView:
    """Every node and edge of the pathway.

    Parameters
    ----------
    graph
        A graph of :func:`cds.pathways.build_graph`.

    Returns
    -------
    PictureView
        The whole pathway.

    Examples
    --------
    >>> from cds import default_engine
    >>> from cds.pathways import build_graph
    >>> view = whole(build_graph(default_engine().kb, "fitness"))
    >>> view.kind, view.nodes, view.compact
    ('whole', None, False)
    """
    return PictureView("whole", graph.graph["id"])


def overview(graph: nx.MultiDiGraph[str]) -> PictureView:
    """The pathway's own nodes and the moves between them (no option, no proposal).

    Parameters
    ----------
    graph
        A graph of :func:`cds.pathways.build_graph`.

    Returns
    -------
    PictureView
        The skeleton of the pathway, for an index page.

    Examples
    --------
    >>> from cds import default_engine
    >>> from cds.pathways import build_graph
    >>> view = overview(build_graph(default_engine().kb, "fitness"))
    >>> sorted(view.nodes), sorted(view.edges)
    (['FIT_Assess_Fitness', 'FIT_Poor_Performance_Status', 'FIT_Unfit_Localized_NET'], \
['fitness.to_poor_performance_status', 'fitness.to_unfit_localized_net'])
    """
    nodes = frozenset(n for n, d in graph_nodes(graph) if d.get("kind") != "option")
    edges = frozenset(k for u, v, k, d in graph_edges(graph) if d["kind"] == "transition")
    return PictureView("overview", graph.graph["id"], nodes, edges)


def decision_nodes(graph: nx.MultiDiGraph[str]) -> list[str]:
    """The pathway's nodes that have an edge out (each is one decision page), in file order.

    Parameters
    ----------
    graph
        A graph of :func:`cds.pathways.build_graph`.

    Returns
    -------
    list[str]
        Node ids.

    Examples
    --------
    >>> from cds import default_engine
    >>> from cds.pathways import build_graph
    >>> decision_nodes(build_graph(default_engine().kb, "fitness"))
    ['FIT_Assess_Fitness', 'FIT_Poor_Performance_Status', 'FIT_Unfit_Localized_NET']
    """
    return [n for n, d in graph_nodes(graph) if d.get("kind") not in (None, "option") and graph.out_degree(n)]


def decision(graph: nx.MultiDiGraph[str], node: str, max_branches: int | None = MAX_BRANCHES) -> list[PictureView]:
    """One decision and its branches: the node, its edges out and their targets, in parts.

    Edges to the same target stay on the same part; parts follow the edges' file order.

    Parameters
    ----------
    graph
        A graph of :func:`cds.pathways.build_graph`.
    node
        One of :func:`decision_nodes`.
    max_branches
        Most targets on one part; None draws every branch on one page.

    Returns
    -------
    list[PictureView]
        One view per part (one when the decision has at most ``max_branches`` targets).

    Raises
    ------
    UnknownNode
        The pathway has no such node, or the node has no edge out.

    Examples
    --------
    >>> from cds import default_engine
    >>> from cds.pathways import build_graph
    >>> graph = build_graph(default_engine().kb, "fitness")
    >>> [sorted(v.nodes) for v in decision(graph, "FIT_Assess_Fitness", max_branches=1)]
    [['FIT_Assess_Fitness', 'FIT_Poor_Performance_Status'], ['FIT_Assess_Fitness', 'FIT_Unfit_Localized_NET']]
    """
    available = decision_nodes(graph)
    if node not in available:
        raise UnknownNode(node, graph.graph["id"], available)
    groups: dict[str, list[str]] = {}  # target -> edge ids, in the order of the first edge
    for u, v, key, _ in graph_edges(graph):
        if u == node:
            groups.setdefault(v, []).append(key)
    targets = list(groups)
    size = max_branches or len(targets)
    chunks = [targets[i:i + size] for i in range(0, len(targets), size)]
    return [
        PictureView("decision", graph.graph["id"], frozenset([node, *chunk]),
                    frozenset(k for t in chunk for k in groups[t]), node=node, part=i, parts=len(chunks))
        for i, chunk in enumerate(chunks, start=1)
    ]


def route(graph: nx.MultiDiGraph[str], path: PatientPath) -> PictureView:
    """A patient's route: nodes reached, edges taken, and the alternatives at each node reached, greyed.

    Parameters
    ----------
    graph
        A graph of :func:`cds.pathways.build_graph`.
    path
        What the patient's recommendation did in this pathway (:meth:`cds.pathways.PatientPath.of`).

    Returns
    -------
    PictureView
        Every edge out of a reached node and its target; the edges not taken and the targets
        only they lead to are ``greyed``.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.pathways import build_graph
    >>> engine = default_engine()
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> graph = build_graph(engine.kb, "fitness")
    >>> view = route(graph, PatientPath.of(engine.evaluate(patient, surveillance=False), graph))
    >>> sorted(view.nodes - view.greyed), sorted(view.greyed)[:1]
    (['FIT_Assess_Fitness'], ['FIT_Poor_Performance_Status'])
    """
    reached = set(path.nodes)
    nodes: set[str] = set(reached)
    edges: set[str] = set()
    live: set[str] = set(reached)
    for u, v, key, _ in graph_edges(graph):
        if u not in reached:
            continue
        nodes.add(v)
        edges.add(key)
        if key in path.edges:
            live.add(v)
    greyed = (nodes - live) | (edges - set(path.edges))
    return PictureView("route", graph.graph["id"], frozenset(nodes), frozenset(edges), frozenset(greyed))


__all__ = [
    "MAX_BRANCHES",
    "VIEW_KINDS",
    "PictureView",
    "UnknownNode",
    "ViewKind",
    "decision",
    "decision_nodes",
    "overview",
    "route",
    "whole",
]
