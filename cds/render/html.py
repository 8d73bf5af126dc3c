"""Self-contained HTML reports from the Jinja2 templates in ``renderers/html/``.

One file per report: the CSS is inline and the pathway pictures are inline SVG,
so a report can be mailed or archived as it is, and printed (the stylesheet
has a print layout). Autoescaping is on; the only markup passed through
unescaped is the SVG drawn by :mod:`cds.pathways`. ``StrictUndefined`` makes a
template naming a value that does not exist fail loudly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from cds.model.recommendation import Recommendation, disclaimer
from cds.render.i18n import labels
from cds.render.views import view_of
from cds.resources import renderers_dir
from cds.version import SOFTWARE_VERSION

if TYPE_CHECKING:
    from cds.report import Report


def environment(root: Path | None = None) -> jinja2.Environment:
    """The HTML template environment (default: the bundled ``renderers/html``)."""
    return _environment(str(root or renderers_dir() / "html"))


@lru_cache(maxsize=4)
def _environment(root: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(root),
        autoescape=jinja2.select_autoescape(("html", "html.j2"), default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(source: Report | Recommendation, *, pictures: bool = True) -> str:
    """The HTML report: of a :class:`~cds.report.Report`, the full tumour-board report (with
    the pathway pictures and the follow-up timeline unless ``pictures=False``); of a bare
    recommendation, its options, alerts and missing data."""
    view = view_of(source, board=True, pictures=pictures)
    return environment().get_template("report.html.j2").render(r=view, t=view.t)


def render_session_index(
    rows: Sequence[Mapping[str, str]], lang: str = "en", knowledge_version: str = "",
    software_version: str = SOFTWARE_VERSION,
) -> str:
    """The ``index.html`` of a tumour-board session (``cds demo --output-dir``).

    Each row holds preformatted strings: ``html`` (report file), ``patient``,
    ``site_label``, ``category_label``, ``top_anti_tumour``,
    ``top_antisecretory``, ``alerts`` and ``excluded``.
    """
    lab = labels(lang)
    return environment().get_template("session_index.html.j2").render(
        rows=rows, t=lab.t, lang=lab.lang, knowledge_version=knowledge_version,
        software_version=software_version, disclaimer=disclaimer(lang),
    )
