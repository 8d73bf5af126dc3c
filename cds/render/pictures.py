"""Pathway pictures for HTML pages: the figures of a report and of the pathway index.

A :class:`Figure` is one inline SVG picture of a view (:mod:`cds.render.picture_views`)
with what the page writes around it: the legend as HTML (shorter than any graph) and the
numbered notes of its edges. The tumour-board report shows the patient's route in each
pathway entered (:func:`pathway_pictures`), and the full pathway under it.

A picture is never worth a failed report: a pathway that cannot be drawn
(Graphviz missing, ``dot`` failing or timing out) maps to None and the report
shows a short note instead. Any other exception is a bug and is raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cds.pathways import STATUS_ORDER
from cds.render.dot import EdgeNote, Lang, Style, load_style

if TYPE_CHECKING:
    from cds.knowledge.loader import KnowledgeBase
    from cds.model.recommendation import Recommendation
    from cds.render.picture_views import PictureView


@dataclass(frozen=True)
class LegendItem:
    """One key of a picture's legend: a sample (text drawn with ``css``) and its meaning.

    Examples
    --------
    >>> [item.text for item in legend("en")][:2]
    ['start', 'decision']
    """

    sample: str
    text: str
    css: str = ""


@dataclass(frozen=True)
class Figure:
    """One picture on an HTML page: its anchor, inline SVG, legend, notes, and the full picture's address.

    Examples
    --------
    >>> Figure("fitness.overview", "<svg/>").notes
    []
    """

    anchor: str
    svg: Any  # markupsafe.Markup of an inline SVG (trusted: drawn by cds.render.dot, which escapes every label)
    legend: list[LegendItem] = field(default_factory=list)
    notes: list[EdgeNote] = field(default_factory=list)
    full: Any = None  # the full picture: an address, or inline SVG markup


@dataclass(frozen=True)
class PathwayPicture:
    """The pictures of one pathway in a patient's report: the route and the full pathway.

    Examples
    --------
    >>> PathwayPicture(Figure("x.route", "<svg/>"), "<svg/>").route.anchor
    'x.route'
    """

    route: Figure
    full: str  # inline SVG of the whole pathway, the patient's path highlighted


def _swatch(attrs: Mapping[str, str], dashed: bool = False) -> str:
    css = [f"background: {attrs['fillcolor']}" if "fillcolor" in attrs else "",
           f"color: {attrs['fontcolor']}" if "fontcolor" in attrs else "",
           f"border: {'3px' if 'penwidth' in attrs else '1px'} {'dashed' if dashed else 'solid'} "
           f"{attrs.get('color', '#4d4d4d')}"]
    return "; ".join(c for c in css if c)


#: How the legend names each node kind's shape (the compact views draw a decision as a hexagon).
_SHAPES = {"start": "⯃", "decision": "⬡", "situation": "▭", "option": "▯"}


def legend(lang: Lang, patient: bool = False, route: bool = False, style: Style | None = None) -> list[LegendItem]:
    """The legend of a compact picture, as HTML keys: node kinds, edge kinds, and the patient's colours.

    Parameters
    ----------
    lang
        Language of the words.
    patient
        Add the option colours (the patient's category) and the highlighted path.
    route
        Add the greyed branches of a route.
    style
        Another visual grammar (default: the bundled one).

    Returns
    -------
    list[LegendItem]
        In the order shown: node kinds, edge kinds, then the patient's keys.

    Examples
    --------
    >>> [item.text for item in legend("fr", patient=True, route=True)][4:8]
    ['mène à un nœud', 'propose une option', 'recommandé', 'à discuter']
    """
    style = style or load_style()
    words = style.words[lang]
    items = [LegendItem(_SHAPES[kind], words[kind], _swatch(style.kinds[kind]))
             for kind in ("start", "decision", "situation", "option")]
    arrows = style.legend.samples
    items += [LegendItem(arrows["transition"], words["transition"]),
              LegendItem(arrows["proposal"], words["proposal"])]
    if patient:
        items += [LegendItem("\u00a0", words[s], _swatch({**style.kinds["option"], **style.categories[s]}))
                  for s in STATUS_ORDER[:-1]]
        items.append(LegendItem(arrows["transition"], words["taken"],
                                f"color: {style.highlight['edge'].get('color', '#000000')}; font-weight: bold"))
    if route:
        from cds.render.i18n import labels

        items.append(LegendItem("\u00a0", labels(lang).t["picture_not_taken"],
                                _swatch({**style.kinds["situation"], **style.highlight["faded_node"]})))
    return items


def figure(kb: KnowledgeBase, view: PictureView, lang: Lang, rec: Recommendation | None = None,
           links: Mapping[str, str] | None = None, full: Any = None) -> Figure:
    """Draw one view as a :class:`Figure` (inline SVG, legend, notes).

    Parameters
    ----------
    kb
        Loaded knowledge.
    view
        What to draw (:mod:`cds.render.picture_views`).
    lang
        Language of the picture and its legend.
    rec
        The patient whose route or path is shown, if any.
    links
        Node id -> address of its decision page.
    full
        The full picture's address (or inline SVG), shown as a link or under the figure.

    Returns
    -------
    Figure
        The figure; its SVG has no title (the page's heading says it).

    Raises
    ------
    GraphvizNotFound, RenderError
        The picture cannot be drawn (see :data:`cds.render.graphviz.DRAWING_ERRORS`).
    """
    from markupsafe import Markup

    from cds.render import graphviz
    from cds.render.dot import draw

    svg = graphviz.render_svg(kb, view.pathway, lang, rec, view=view, links=links, title=False)
    notes = draw(kb, view.pathway, lang, rec, view=view, title=False).notes
    keys = legend(lang, patient=rec is not None, route=view.kind == "route")
    if view.kind == "overview":
        keys = keys[:4]
    return Figure(view.name, Markup(svg), keys, notes, full)


def pathway_pictures(kb: KnowledgeBase, rec: Recommendation) -> dict[str, PathwayPicture | None]:
    """The route and the full picture of every pathway the patient entered (``rec.trace.pathways``).

    Parameters
    ----------
    kb
        The knowledge the recommendation was computed with (the pathways to draw).
    rec
        The recommendation: its trace says which pathways to draw and what to highlight;
        its language is the pictures'.

    Returns
    -------
    dict[str, PathwayPicture | None]
        Pathway id -> its pictures, or None when they could not be drawn.
    """
    from markupsafe import Markup

    from cds.pathways import PatientPath, build_graph
    from cds.render import graphviz
    from cds.render.picture_views import route

    out: dict[str, PathwayPicture | None] = {}
    for pid in rec.trace.pathways:
        try:
            graph = build_graph(kb, pid)
            view = route(graph, PatientPath.of(rec, graph))
            full = Markup(graphviz.render_svg(kb, pid, rec.language, rec))
            out[pid] = PathwayPicture(figure(kb, view, rec.language, rec), full)
        except graphviz.DRAWING_ERRORS:  # a missing picture is never worth a failed report
            out[pid] = None
    return out


__all__ = ["Figure", "LegendItem", "PathwayPicture", "figure", "legend", "pathway_pictures"]
