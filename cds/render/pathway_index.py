"""A folder of pathway pictures: ``<id>.dot``, ``.svg``, ``.html`` and an ``index.html`` (``cds pathway --all``).

The index shows each pathway's overview (and a patient's route), fitted to a screen with
zoom and pan; ``<id>.html`` holds one page per decision, like the pages of a guideline's
algorithm; ``<id>.svg`` is the full picture.

:func:`write_all` draws every pathway (:mod:`cds.render.dot`, then Graphviz through
:mod:`cds.render.graphviz`) and writes each file whole (:func:`cds.files.write_file`);
:func:`render_index` writes the index page from ``renderers/html/pathways_index.html.j2``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cds.files import write_file
from cds.knowledge.loader import KnowledgeBase
from cds.model.recommendation import Recommendation
from cds.pathways import PatientPath, build_graph, pathway_ids
from cds.render import picture_views as pv
from cds.render.dot import Lang, to_dot
from cds.render.graphviz import dot_binary, render
from cds.render.i18n import labels
from cds.render.pictures import Figure, figure
from cds.render.templates import environment


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
    page: str | None = None  # the decision pages (file name), None when not rendered
    overview: Figure | None = None
    route: Figure | None = None
    decisions: list[tuple[str, Figure]] = field(default_factory=list)  # (heading, figure)


@dataclass(frozen=True)
class WrittenPictures:
    """What :func:`write_all` wrote: the folder, every file in writing order, and whether SVGs were drawn."""

    folder: Path
    files: list[Path]
    rendered: bool  # False when Graphviz was missing (DOT and index only)


def render_index(
    entries: Sequence[IndexEntry], lang: Lang = "en", patient: str | None = None,
    rendered: bool = True,
) -> str:
    """The ``index.html`` of a folder of pathway pictures (``renderers/html/pathways_index.html.j2``).

    Parameters
    ----------
    entries
        One per pathway, in the order to list them.
    lang
        Language of the page.
    patient
        The patient whose path the pictures highlight (their id), or None.
    rendered
        Whether the SVG pictures were drawn; ``False`` says that Graphviz is missing and
        links the DOT files only.

    Returns
    -------
    str
        One HTML page linking every picture and DOT file.

    Examples
    --------
    >>> import re
    >>> entry = IndexEntry(id="fitness", title="Fitness", description="", file="pathways/fitness.yaml",
    ...                    nodes=3, edges=5, options=3, svg=None, dot="fitness.dot", patient_state=None)
    >>> page = render_index([entry], "en", rendered=False)
    >>> re.findall('href="([^"]*)"', page), "Graphviz is missing" in page
    (['#fitness', 'fitness.dot'], True)
    """
    return environment().get_template("html/pathways_index.html.j2").render(
        lang=lang, t=labels(lang).t, entries=list(entries), patient=patient,
        rendered=rendered,
    )


def render_pathway_page(entry: IndexEntry, lang: Lang = "en") -> str:
    """The page of one pathway: its overview, then one picture per decision (``<id>.html``).

    Parameters
    ----------
    entry
        The pathway, with its overview and decision figures drawn.
    lang
        Language of the page.

    Returns
    -------
    str
        One HTML page (``renderers/html/pathway_page.html.j2``).

    Examples
    --------
    >>> entry = IndexEntry(id="fitness", title="Fitness", description="", file="pathways/fitness.yaml",
    ...                    nodes=3, edges=5, options=3, svg="fitness.svg", dot="fitness.dot", patient_state=None)
    >>> '<a href="fitness.svg">' in render_pathway_page(entry)
    True
    """
    return environment().get_template("html/pathway_page.html.j2").render(
        lang=lang, t=labels(lang).t, e=entry,
    )


def _figures(kb: KnowledgeBase, pid: str, lang: Lang, rec: Recommendation | None,
             ) -> tuple[Figure, Figure | None, list[tuple[str, Figure]]]:
    """The overview, the patient's route (when entered) and the decision pages of one pathway."""
    words = labels(lang, kb)
    graph = build_graph(kb, pid)
    pages = {n: pv.decision(graph, n) for n in pv.decision_nodes(graph)}
    links = {n: f"{pid}.html#{views[0].name}" for n, views in pages.items()}
    overview = figure(kb, pv.overview(graph), lang, links=links, full=f"{pid}.svg")
    route = None
    if rec is not None and pid in rec.trace.pathways:
        route = figure(kb, pv.route(graph, PatientPath.of(rec, graph)), lang, rec, full=f"{pid}.svg")
    decisions: list[tuple[str, Figure]] = []
    own_links = {n: f"#{views[0].name}" for n, views in pages.items()}
    for node, views in pages.items():
        for view in views:
            heading = words.node(node)
            if view.parts > 1:
                heading += " (" + words.fmt("pathways_index_part", part=view.part, parts=view.parts) + ")"
            targets = {n: own_links[n] for n in (view.nodes or ()) if n in own_links and n != node}
            decisions.append((heading, figure(kb, view, lang, links=targets)))
    return overview, route, decisions


def write_all(
    kb: KnowledgeBase, folder: Path, lang: Lang = "en", rec: Recommendation | None = None,
) -> WrittenPictures:
    """Draw every pathway into ``folder``: ``<id>.dot``, ``<id>.svg`` and ``index.html``.

    When Graphviz is missing the DOT files and the index are still written and
    ``rendered`` is False. Files are written whole (:func:`cds.files.write_file`).

    Parameters
    ----------
    kb
        Loaded knowledge: every pathway of it is drawn.
    folder
        Where to write (created when missing); existing files of the same names are replaced.
    lang
        Language of the pictures and the index.
    rec
        A patient's recommendation, whose path every picture highlights; the index says
        which pathways the patient entered.

    Returns
    -------
    WrittenPictures
        The folder, every file written (per pathway ``.dot`` then ``.svg``, ``index.html``
        last) and whether the SVGs were drawn.

    Raises
    ------
    RenderError
        Graphviz failed on a picture (nothing is written then).
    OSError
        A file cannot be written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    dots = {pid: to_dot(kb, pid, lang, rec) for pid in pathway_ids(kb)}
    svgs: dict[str, bytes] = {}
    rendered = dot_binary() is not None
    figures = {}
    if rendered:
        svgs = {pid: render(text, "svg") for pid, text in dots.items()}
        figures = {pid: _figures(kb, pid, lang, rec) for pid in dots}
    written: list[Path] = []
    entries: list[IndexEntry] = []
    words = labels(lang)
    for pw in kb.pathways:
        files = {f"{pw.id}.dot": dots[pw.id].encode("utf-8")}
        if pw.id in svgs:
            files[f"{pw.id}.svg"] = svgs[pw.id]
        for name, data in files.items():
            write_file(folder / name, data)
            written.append(folder / name)
        state = None
        if rec is not None:
            entered = pw.id in rec.trace.pathways
            state = words["pathways_index_entered" if entered else "pathways_index_not_entered"]
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
        if pw.id in figures:
            overview, route, decisions = figures[pw.id]
            entries[-1] = dataclasses.replace(entries[-1], page=f"{pw.id}.html", overview=overview,
                                              route=route, decisions=decisions)
            write_file(folder / f"{pw.id}.html", render_pathway_page(entries[-1], lang))
            written.append(folder / f"{pw.id}.html")
    patient = None
    if rec is not None:
        patient = rec.patient_id or words["patient"]
    write_file(folder / "index.html", render_index(entries, lang, patient, rendered))
    written.append(folder / "index.html")
    return WrittenPictures(folder, written, rendered)


__all__ = ["IndexEntry", "WrittenPictures", "render_index", "render_pathway_page", "write_all"]
