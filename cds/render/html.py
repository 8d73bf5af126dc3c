"""Self-contained HTML reports from the Jinja2 templates in ``renderers/html/``.

One file per report: the CSS is inline and the pathway pictures are inline SVG,
so a report can be mailed or archived as it is, and printed (the stylesheet
has a print layout). Autoescaping is on (:mod:`cds.render.templates`); the only
markup passed through unescaped is the SVG drawn by :mod:`cds.render.graphviz`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from cds.model.recommendation import Recommendation, disclaimer
from cds.render.i18n import labels
from cds.render.templates import environment
from cds.render.views import view_of
from cds.version import SOFTWARE_VERSION

if TYPE_CHECKING:
    from cds.report import Report


def render_html(source: Report | Recommendation, *, pictures: bool = True) -> str:
    """The HTML report: of a :class:`~cds.report.Report`, the full tumour-board report (with
    the pathway pictures and the follow-up timeline unless ``pictures=False``); of a bare
    recommendation, its options, alerts and missing data.

    Parameters
    ----------
    source
        The patient's report, or a recommendation alone (e.g. read back from JSON).
    pictures
        Draw the pathway pictures (Graphviz) and the follow-up timeline; ``False`` puts a
        note in their place.

    Returns
    -------
    str
        One self-contained HTML page (``html/report.html.j2``).

    Examples
    --------
    >>> import re
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> patient = parse_patient('{"id": "demo-1", "fit_for_major_surgery": false, "tumour": {"primary_site": '
    ...     '"pancreas", "size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, '
    ...     '"disease": {"stage": "localized"}}')
    >>> report = build_report(default_engine(), patient)
    >>> page = render_html(report, pictures=False)
    >>> re.search("<title>(.*)</title>", page).group(1)
    'netcds recommendation — demo-1'
    >>> re.search('<p class="synopsis" id="synopsis"><strong>(.*?)</strong>', page).group(1)
    'Synopsis:'
    >>> re.findall("<h2[^>]*>(.*?)</h2>", page)[:5]   # the head of both tracks, then the alerts
    ['Anti-tumour treatment', 'Antisecretory treatment', 'Critical alerts', 'Alerts', 'Anti-tumour treatment']
    """
    view = view_of(source, board=True, pictures=pictures)
    return environment().get_template("html/report.html.j2").render(r=view, t=view.t)


def render_session_index(
    rows: Sequence[Mapping[str, str]], lang: str = "en", knowledge_version: str = "",
    software_version: str = SOFTWARE_VERSION,
) -> str:
    """The ``index.html`` of a tumour-board session (``cds demo --output-dir``).

    Each row holds preformatted strings: ``html`` (report file), ``patient``,
    ``site_label``, ``category_label``, ``top_anti_tumour``,
    ``top_antisecretory``, ``alerts`` and ``excluded``.

    Parameters
    ----------
    rows
        The rows of :func:`cds.render.session.session_rows`.
    lang
        Language of the page.
    knowledge_version
        The knowledge version, shown with the disclaimer.
    software_version
        The netcds version, shown with it.

    Returns
    -------
    str
        One self-contained HTML page (``html/session_index.html.j2``).

    Examples
    --------
    >>> import re
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> patient = parse_patient('{"id": "demo-1", "fit_for_major_surgery": false, "tumour": {"primary_site": '
    ...     '"pancreas", "size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, '
    ...     '"disease": {"stage": "localized"}}')
    >>> report = build_report(default_engine(), patient, "fr")
    >>> from cds.render.session import session_rows
    >>> page = render_session_index(session_rows([("pnet-demo", report)], "fr"), "fr", report.kb.version)
    >>> re.search("<title>(.*)</title>", page).group(1)
    'Séance de RCP — netcds'
    >>> re.findall("<td[^>]*>(.*?)</td>", page)[:3]
    ['<a href="pnet-demo.html">demo-1</a>', 'pancréas', 'TNE G1']
    """
    lab = labels(lang)
    return environment().get_template("html/session_index.html.j2").render(
        rows=rows, t=lab.t, lang=lab.lang, knowledge_version=knowledge_version,
        software_version=software_version, disclaimer=disclaimer(lang),
    )
