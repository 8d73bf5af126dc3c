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
    (without pictures); of a bare recommendation, its options, alerts and missing data.

    Parameters
    ----------
    source
        The patient's report, or a recommendation alone (e.g. read back from JSON), which
        shows ids where a report shows labels.

    Returns
    -------
    str
        The Markdown text (``markdown/recommendation.md.j2``), ending with one line break.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> patient = parse_patient('{"id": "demo-1", "fit_for_major_surgery": false, "tumour": {"primary_site": '
    ...     '"pancreas", "size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, '
    ...     '"disease": {"stage": "localized"}}')
    >>> report = build_report(default_engine(), patient)
    >>> for line in render_markdown(report).splitlines()[:7]:
    ...     print(line)
    # netcds recommendation — demo-1
    <BLANKLINE>
    | | |
    |---|---|
    | Patient | demo-1 |
    | Category | NET G1 (`net_g1`) |
    | Grade | G1 |
    >>> "| Category | `net_g1` |" in render_markdown(report.recommendation)
    True
    """
    view = view_of(source, board=True, pictures=False)
    return _tidy(environment().get_template("markdown/recommendation.md.j2").render(r=view, t=view.t))


def render_explanation_markdown(explanation: Explanation, kb: KnowledgeBase | None = None) -> str:
    """One why-not explanation on its own (``cds explain --format markdown``).

    Parameters
    ----------
    explanation
        The explanation (:func:`cds.explain.explain`); its language is the text's.
    kb
        The knowledge base, for the labels of options, pathways, steps and sources
        (ids without it).

    Returns
    -------
    str
        The Markdown text (``markdown/explanation.md.j2``), ending with one line break.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> patient = parse_patient('{"id": "demo-1", "fit_for_major_surgery": false, "tumour": {"primary_site": '
    ...     '"pancreas", "size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, '
    ...     '"disease": {"stage": "localized"}}')
    >>> report = build_report(default_engine(), patient)
    >>> print(render_explanation_markdown(report.explain("surgery_curative"), report.kb))
    # Why not Surgery with curative intent?
    <BLANKLINE>
    **Anti-tumour treatment** — Surgery with curative intent is ranked 3 in the anti-tumour track ...
    <BLANKLINE>
    *Arguments against*
    <BLANKLINE>
    - Judged unfit for major surgery: ... — `safety.major_surgery.unfit` (avoid · netcds policy · ...)
      - Fit for major surgery: no — would not apply otherwise
    <BLANKLINE>
    **What would change the result**
    <BLANKLINE>
    - Fit for major surgery: no — would not apply otherwise
    <BLANKLINE>
    """
    lab = labels(explanation.language, kb)
    view = why_not_view(explanation, lab)
    return _tidy(environment().get_template("markdown/explanation.md.j2").render(w=view, t=lab.t))


_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """One blank line between blocks (the templates' optional sections may leave two)."""
    return _BLANK_LINES.sub("\n\n", text).rstrip("\n") + "\n"


def render_index(rows: Sequence[Mapping[str, str]], lang: str = "en") -> str:
    """The index page of ``cds demo --output-dir``: one row per example patient.

    Parameters
    ----------
    rows
        The rows of :func:`cds.render.session.session_rows`.
    lang
        Language of the title and the column headings.

    Returns
    -------
    str
        ``index.md``: a table linking each patient to its Markdown report.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> patient = parse_patient('{"id": "demo-1", "fit_for_major_surgery": false, "tumour": {"primary_site": '
    ...     '"pancreas", "size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, '
    ...     '"disease": {"stage": "localized"}}')
    >>> report = build_report(default_engine(), patient)
    >>> from cds.render.session import session_rows
    >>> print(render_index(session_rows([("pnet-demo", report)])))
    # netcds demo
    <BLANKLINE>
    | Patient | Site | Category | Anti-tumour #1 | Antisecretory #1 | Alerts | Excl. |
    |---|---|---|---|---|---:|---:|
    | [demo-1](pnet-demo.md) | pancreas | NET G1 | Watchful waiting (active surveillance) (recommended) | - | 6 | 0 |
    <BLANKLINE>
    """
    return environment().get_template("markdown/index.md.j2").render(rows=rows, t=ui(lang))
