"""The rows of a tumour-board session: one line per patient (``cds demo``).

The summary table on the terminal, ``index.md`` and ``index.html`` all show
the same rows, built here from the patients' reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from cds.render.i18n import labels
from cds.render.views import top_option_text

if TYPE_CHECKING:
    from cds.report import Report


def session_rows(reports: Sequence[tuple[str, Report]], lang: str = "en") -> list[dict[str, str]]:
    """One row of preformatted strings per ``(file stem, report)``.

    Keys: ``file`` and ``html`` (the report files), ``patient``, ``site`` and
    ``site_label``, ``category`` and ``category_label``, ``top_anti_tumour`` and
    ``top_antisecretory`` (labels) with their ``_id`` variants, ``alerts`` and
    ``excluded`` (counts).

    Parameters
    ----------
    reports
        ``(file stem, report)`` per patient, in the order of the session.
    lang
        Language of the labels (site, category, options' categories).

    Returns
    -------
    list[dict[str, str]]
        One row per report, every value a string ready to print (file names URL-quoted).

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> patient = parse_patient('{"id": "demo-1", "fit_for_major_surgery": false, "tumour": {"primary_site": '
    ...     '"pancreas", "size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, '
    ...     '"disease": {"stage": "localized"}}')
    >>> report = build_report(default_engine(), patient, "fr")
    >>> row = session_rows([("pnet demo", report)], "fr")[0]
    >>> row["file"], row["patient"], row["site_label"], row["category_label"]
    ('pnet%20demo.md', 'demo-1', 'pancréas', 'TNE G1')
    >>> row["top_anti_tumour"], row["top_antisecretory"], row["alerts"], row["excluded"]
    ('Surveillance active (recommandé)', '-', '6', '0')
    """
    words = labels(lang)
    rows: list[dict[str, str]] = []
    for stem, report in reports:
        rec = report.recommendation
        pat = report.patient
        category = rec.derived.get("category")
        rows.append({
            "file": quote(f"{stem}.md"),
            "html": quote(f"{stem}.html"),
            "patient": pat.id or stem,
            "site": pat.tumour.primary_site.value,
            "site_label": words.value("tumour.primary_site", pat.tumour.primary_site.value),
            "category": str(rec.derived.get("category", "-")),
            "category_label": "-" if category is None else words.derived_value("category", category),
            "top_anti_tumour": top_option_text(rec, "anti_tumour"),
            "top_antisecretory": top_option_text(rec, "antisecretory"),
            "top_anti_tumour_id": top_option_text(rec, "anti_tumour", label=False),
            "top_antisecretory_id": top_option_text(rec, "antisecretory", label=False),
            "alerts": str(len(rec.alerts)),
            "excluded": str(len(rec.excluded)),
        })
    return rows
