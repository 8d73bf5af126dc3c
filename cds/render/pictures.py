"""The pathway pictures of a tumour-board report, drawn once per report.

A picture is never worth a failed report: a pathway that cannot be drawn
(Graphviz missing, ``dot`` failing or timing out) maps to None and the report
shows a short note instead. Any other exception is a bug and is raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cds.knowledge.loader import KnowledgeBase
    from cds.model.recommendation import Recommendation


def pathway_pictures(kb: KnowledgeBase, rec: Recommendation) -> dict[str, str | None]:
    """Inline SVG of every pathway the patient entered (``rec.trace.pathways``), path highlighted.

    Parameters
    ----------
    kb
        The knowledge the recommendation was computed with (the pathways to draw).
    rec
        The recommendation: its trace says which pathways to draw and what to highlight;
        its language is the pictures'.

    Returns
    -------
    dict[str, str | None]
        Pathway id -> SVG text, or None when it could not be drawn.
    """
    from cds.render import graphviz

    out: dict[str, str | None] = {}
    for pid in rec.trace.pathways:
        try:
            out[pid] = graphviz.render_svg(kb, pid, rec.language, rec)
        except graphviz.DRAWING_ERRORS:  # a missing picture is never worth a failed report
            out[pid] = None
    return out
