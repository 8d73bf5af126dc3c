"""Markdown report from the Jinja2 templates in ``renderers/markdown/``.

The templates only format: every value is computed by
:func:`cds.render.views.report_view` and escaped for Markdown here. The environment
uses ``StrictUndefined`` so that a template naming a value that does not exist
fails loudly instead of printing nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from cds.model.recommendation import Recommendation
from cds.render.i18n import labels
from cds.render.views import ui, view_of
from cds.render.why_not import why_not_view
from cds.resources import renderers_dir

if TYPE_CHECKING:
    from cds.explain import Explanation
    from cds.knowledge.loader import KnowledgeBase
    from cds.report import Report

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md_escape(value: Any) -> str:
    """Escape text so that Markdown shows it literally (also safe inside table cells)."""
    text = " ".join(str(value).split())  # no newline may break a list item or a table row
    return _SPECIAL.sub(r"\\\1", text)


def md_code(value: Any) -> str:
    """An inline code span; the fence grows when the value itself holds backticks."""
    text = " ".join(str(value).split())
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def environment(root: Path | None = None) -> jinja2.Environment:
    """The Markdown template environment (default: the bundled ``renderers/markdown``)."""
    return _environment(str(root or renderers_dir() / "markdown"))


@lru_cache(maxsize=4)
def _environment(root: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(root),
        autoescape=False,  # Markdown, not HTML: values are escaped by md_escape instead
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["code"] = md_code
    return env


def render_markdown(source: Report | Recommendation) -> str:
    """The Markdown report: of a :class:`~cds.report.Report`, the full tumour-board report
    (without pictures); of a bare recommendation, its options, alerts and missing data."""
    view = view_of(source, board=True, pictures=False)
    return _tidy(environment().get_template("recommendation.md.j2").render(r=view, t=view.t))


def render_explanation_markdown(explanation: Explanation, kb: KnowledgeBase | None = None) -> str:
    """One why-not explanation on its own (``cds explain --format markdown``)."""
    lab = labels(explanation.language, kb)
    view = why_not_view(explanation, lab)
    return _tidy(environment().get_template("explanation.md.j2").render(w=view, t=lab.t))


_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """One blank line between blocks (the templates' optional sections may leave two)."""
    return _BLANK_LINES.sub("\n\n", text).rstrip("\n") + "\n"


def render_index(rows: Sequence[Mapping[str, str]], lang: str = "en") -> str:
    """The index page of ``cds demo --output-dir``: one row per example patient."""
    return environment().get_template("index.md.j2").render(rows=rows, t=ui(lang))
