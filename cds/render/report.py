"""Assemble the tumour-board report: recommendation, why-not, pathway pictures.

:func:`report_context` gathers what :func:`cds.render.report_view` needs
beyond the recommendation; :func:`render_report` renders it as Markdown or
HTML. The pathway pictures come from :mod:`cds.render.graphviz`; when the ``dot``
program is missing or fails, the report shows a short note instead of the picture
and never fails because of it (any other error is a bug, and is raised).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from cds.render import ReportContext

if TYPE_CHECKING:
    from cds.engine import Engine, EvaluationDetail
    from cds.knowledge.loader import KnowledgeBase
    from cds.model.patient import Patient
    from cds.model.recommendation import Recommendation

ReportFormat = Literal["markdown", "html"]


def pathway_pictures(kb: KnowledgeBase, rec: Recommendation) -> dict[str, str | None]:
    """Inline SVG of every pathway the patient entered, with the patient's path highlighted.

    A pathway that cannot be drawn maps to None (Graphviz missing or failing):
    the report then says so instead of failing.
    """
    from cds.render import graphviz

    out: dict[str, str | None] = {}
    for pid in rec.trace.pathways:
        try:
            out[pid] = graphviz.render_svg(kb, pid, rec.language, rec)
        except graphviz.DRAWING_ERRORS:  # a missing picture is never worth a failed report
            out[pid] = None
    return out


def report_context(
    kb: KnowledgeBase,
    detail: EvaluationDetail,
    patient: Patient | None = None,
    *,
    pictures: bool = True,
) -> ReportContext:
    """Everything the tumour-board report shows besides the recommendation.

    Parameters
    ----------
    kb
        The knowledge base the evaluation ran on (labels, sources, pathways).
    detail
        The evaluation (:meth:`cds.engine.Engine.evaluate_detail`).
    patient
        The patient, for the summary section (left out when None).
    pictures
        Draw the pathway pictures (needs Graphviz); False leaves them out, as
        the golden files and the Markdown report do.
    """
    from cds.explain import explain_all

    rec = detail.recommendation
    return ReportContext(
        kb=kb,
        patient=patient,
        explanations=explain_all(detail, kb),
        pictures=pathway_pictures(kb, rec) if pictures else None,
    )


def render_report(
    engine: Engine, patient: Patient, fmt: ReportFormat, lang: Literal["en", "fr"] = "en",
    *, pictures: bool = True,
) -> str:
    """Evaluate ``patient`` and render the tumour-board report as Markdown or HTML."""
    detail = engine.evaluate_detail(patient, lang)
    if fmt == "markdown":
        from cds.render.markdown import render_markdown

        return render_markdown(detail.recommendation,
                               report_context(engine.kb, detail, patient, pictures=False))
    from cds.render.html import render_html

    return render_html(detail.recommendation,
                       report_context(engine.kb, detail, patient, pictures=pictures))
