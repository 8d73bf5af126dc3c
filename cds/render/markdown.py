"""Markdown report from the Jinja2 templates in ``renderers/markdown/``.

The templates only format: every value is computed by
:func:`cds.render.views.report_view` and escaped for Markdown by the ``md`` and ``code``
filters of the one template environment (:mod:`cds.render.templates`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from cds.model.recommendation import Recommendation
from cds.render.i18n import labels
from cds.render.templates import environment
from cds.render.views import ui, view_of
from cds.render.why_not import why_not_view

if TYPE_CHECKING:
    from cds.explain import Explanation
    from cds.knowledge.loader import KnowledgeBase
    from cds.report import Report


def render_markdown(source: Report | Recommendation) -> str:
    """The Markdown report: of a :class:`~cds.report.Report`, the full tumour-board report
    (without pictures); of a bare recommendation, its options, alerts and missing data."""
    view = view_of(source, board=True, pictures=False)
    return _tidy(environment().get_template("markdown/recommendation.md.j2").render(r=view, t=view.t))


def render_explanation_markdown(explanation: Explanation, kb: KnowledgeBase | None = None) -> str:
    """One why-not explanation on its own (``cds explain --format markdown``)."""
    lab = labels(explanation.language, kb)
    view = why_not_view(explanation, lab)
    return _tidy(environment().get_template("markdown/explanation.md.j2").render(w=view, t=lab.t))


_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """One blank line between blocks (the templates' optional sections may leave two)."""
    return _BLANK_LINES.sub("\n\n", text).rstrip("\n") + "\n"


def render_index(rows: Sequence[Mapping[str, str]], lang: str = "en") -> str:
    """The index page of ``cds demo --output-dir``: one row per example patient."""
    return environment().get_template("markdown/index.md.j2").render(rows=rows, t=ui(lang))
