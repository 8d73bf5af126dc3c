"""The summaries of a knowledge diff (``cds diff``): Markdown, HTML and the text printed on stdout.

They present ``diff.json``'s data (:meth:`cds.cohort.diff.CohortDiff.to_dict`) as it is, for a
guideline author reviewing a knowledge change before a release: the headline (``N of M patients
change``), the versions compared, what changed in the knowledge, the root causes, then each group
of changed patients with its rules (the recommendation each belongs to), its counts by site and
category, what moved and a few example patients. Nothing is evaluated here; the words are English
(the audience is the knowledge's authors, as for ``cds knowledge show``).

Examples
--------
>>> headline(EXAMPLE_DATA)
'0 of 1 patients change'
>>> "# Knowledge diff: 0 of 1 patients change" in render_markdown(EXAMPLE_DATA)
True
"""

from __future__ import annotations

from typing import Any

from cds.render.templates import environment

#: What each compared field is called in a summary.
FIELD_LABELS = {
    "status": "status (ok, invalid, error)",
    "anti_tumour": "top anti-tumour option",
    "antisecretory": "top antisecretory option",
    "excluded": "excluded options",
    "alerts": "alerts",
}


#: A minimal ``diff.json`` (one patient, nothing changed), for examples and tests.
EXAMPLE_DATA: dict[str, Any] = {
    "versions": {"before": {"source": "a", "commit": None, "knowledge_version": "1+x"},
                 "after": {"source": "b", "commit": None, "knowledge_version": "1+y"}},
    "software_version": "0.2.0", "lang": "en",
    "knowledge_changes": {"settings": [], "rules_added": [], "rules_removed": [], "rules_edited": [],
                          "rules_reading_changed_settings": []},
    "counts": {"patients": 1, "compared": 1, "changed": 0, "reordered": 0, "invalid": 0, "errors": 0, "by_field": {}},
    "by_site": [], "by_category": [], "root_causes": [], "groups": [], "reordered_examples": [], "patients": [],
}


def headline(data: dict[str, Any]) -> str:
    """The one line a reviewer reads first: ``N of M patients change``.

    Parameters
    ----------
    data
        ``diff.json``'s data.

    Returns
    -------
    str
        With thousands separators.

    Examples
    --------
    >>> headline({"counts": {"changed": 1200, "patients": 100000}})
    '1,200 of 100,000 patients change'
    """
    counts = data["counts"]
    return f"{counts['changed']:,} of {counts['patients']:,} patients change"


def _version(v: dict[str, Any]) -> str:
    commit = f" (commit {v['commit'][:12]})" if v.get("commit") else ""
    return f"{v['source']}{commit}: knowledge {v['knowledge_version']}"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _view(data: dict[str, Any]) -> dict[str, Any]:
    counts = data["counts"]
    kc = data["knowledge_changes"]
    knowledge = [f"setting {s['name']}: {s['before']} -> {s['after']}" for s in kc["settings"]]
    knowledge += [f"{label}: {', '.join(kc[key])}" for key, label in (
        ("rules_added", "rules or edges added"), ("rules_removed", "rules or edges removed"),
        ("rules_edited", "rules or edges edited"), ("rules_reading_changed_settings", "reading a changed setting"),
    ) if kc[key]]
    return {
        "headline": headline(data),
        "share": _percent(counts["changed"], counts["patients"]),
        "before": _version(data["versions"]["before"]),
        "after": _version(data["versions"]["after"]),
        "same": data["versions"]["before"]["knowledge_version"] == data["versions"]["after"]["knowledge_version"],
        "knowledge": knowledge,
        "counts": counts,
        "by_field": [(FIELD_LABELS.get(k, k), n) for k, n in counts["by_field"].items()],
        "by_site": [s for s in data["by_site"] if s["changed"]],
        "by_category": [c for c in data["by_category"] if c["changed"]],
        "roots": data["root_causes"],
        "groups": data["groups"],
        "reordered_examples": data["reordered_examples"],
        "software_version": data["software_version"],
    }


def render_markdown(data: dict[str, Any]) -> str:
    """``diff.md``: the review summary in Markdown.

    Parameters
    ----------
    data
        ``diff.json``'s data.

    Returns
    -------
    str
        The document (the same data give the same text).

    Examples
    --------
    >>> render_markdown(EXAMPLE_DATA).splitlines()[0]
    '# Knowledge diff: 0 of 1 patients change'
    """
    return environment().get_template("diff/diff.md.j2").render(v=_view(data))


def render_html(data: dict[str, Any]) -> str:
    """``diff.html``: the review summary as one self-contained HTML page.

    Parameters
    ----------
    data
        ``diff.json``'s data.

    Returns
    -------
    str
        The page (the same data give the same text).

    Examples
    --------
    >>> "<h1>Knowledge diff: 0 of 1 patients change</h1>" in render_html(EXAMPLE_DATA)
    True
    """
    return environment().get_template("diff/diff.html.j2").render(v=_view(data))


def render_text(data: dict[str, Any]) -> str:
    """The summary printed on stdout: headline, versions, and the groups in one line each.

    Parameters
    ----------
    data
        ``diff.json``'s data.

    Returns
    -------
    str
        A few lines of plain text.

    Examples
    --------
    >>> print(render_text(EXAMPLE_DATA), end="")
    0 of 1 patients change (0.0 %); 0 more only reordered below the top
    before: a: knowledge 1+x
    after:  b: knowledge 1+y
    """
    v = _view(data)
    counts = v["counts"]
    lines = [f"{v['headline']} ({v['share']}); {counts['reordered']:,} more only reordered below the top"
             + (f"; {counts['invalid']:,} invalid with both" if counts["invalid"] else "")
             + (f"; {counts['errors']:,} engine errors with both" if counts["errors"] else ""),
             f"before: {v['before']}", f"after:  {v['after']}"]
    lines += [f"knowledge: {k}" for k in v["knowledge"]]
    for g in v["groups"][:10]:
        roots = [r["id"] for r in g["rules"] if r["knowledge_change"]] or [r["id"] for r in g["rules"][:3]]
        sites = ", ".join(f"{s} {n}" for s, n in g["by_site"].items())
        lines.append(f"{g['group']}: {g['patients']:,} patient(s) [{sites}] caused by {', '.join(roots) or '-'}")
    if len(v["groups"]) > 10:
        lines.append(f"... and {len(v['groups']) - 10} more group(s) (see diff.md)")
    return "\n".join(lines) + "\n"
