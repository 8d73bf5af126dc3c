"""``cds knowledge show`` and ``list``: one recommendation, or all of them, for an author.

The data come from :mod:`cds.knowledge.recommendations`; this module only writes them, as
Markdown (which also reads well in a terminal) or as JSON for tools. The statement comes
first, as a guideline author reads an NCCN or ESMO page: what the guideline says, then how
the knowledge encodes it, then how it is tested.

Examples
--------
>>> from cds.knowledge.loader import load_knowledge
>>> from cds.knowledge.recommendations import detail, summaries
>>> kb = load_knowledge()
>>> rec_id = summaries(kb)[0].id
>>> render_recommendation_markdown(detail(kb, rec_id), kb, "en").startswith("# ")
True
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cds.render.i18n import Labels, labels

if TYPE_CHECKING:
    from cds.knowledge.loader import KnowledgeBase
    from cds.knowledge.recommendations import RecommendationDetail, RecommendationSummary


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_recommendation_markdown(rec: RecommendationDetail, kb: KnowledgeBase, lang: str) -> str:
    """Everything about one recommendation, statement first, as Markdown.

    Parameters
    ----------
    rec
        From :func:`cds.knowledge.recommendations.detail`.
    kb
        The knowledge (labels of options, alerts, evidence kinds and sources).
    lang
        ``en`` or ``fr`` (the knowledge's texts and the headings).

    Returns
    -------
    str
        The page, ending with a newline.

    Examples
    --------
    >>> from cds.knowledge.loader import load_knowledge
    >>> from cds.knowledge.recommendations import detail
    >>> kb = load_knowledge()
    >>> page = render_recommendation_markdown(detail(kb, "pnet-first-line-ssa-low-ki67"), kb, "fr")
    >>> "## Énoncé" in page and "## Règles (2)" in page
    True
    """
    lab = labels(lang, kb)
    c = " : " if lang == "fr" else ": "  # French puts a space before the colon
    spec = rec.spec
    st = spec.statement
    out = [f"# {getattr(spec.title, lang)}", "",
           f"`{spec.id}` · {lab['rec_area']}{c}{rec.area} · {lab['rec_status']}{c}**{spec.status}**"
           + (f" · {lab['rec_reviewer']}{c}{spec.reviewer} ({spec.reviewed_on})" if spec.reviewer else ""),
           f"{lab['rec_file']}{c}`{rec.file}`", ""]
    out += [f"## {lab['rec_statement']}", ""]
    text = st.text_fr if lang == "fr" and st.text_fr else st.text
    out += [f"> {text}", ""]
    when = f"{lab['rec_date']} {st.date}" if st.date else f"{lab['rec_undated']}{c}{st.undated}"
    meta = [lab[f"rec_kind_{st.kind}"], ", ".join(lab.source(s) for s in st.sources), when]
    if st.grade:
        meta.append(f"{lab['rec_grade']} {st.grade}")
    if spec.brief:
        meta.append(f"{lab['rec_brief']}{c}{', '.join(spec.brief)}")
    out += ["— " + " · ".join(meta), ""]
    if spec.no_patient_outside:
        out += [f"**{lab['rec_no_patient_outside']}**{c}{spec.no_patient_outside}", ""]
    if spec.note:
        out += [f"**{lab['rec_note']}**{c}{spec.note}", ""]
    if spec.not_modelled:
        out += [f"**{lab['rec_not_modelled']}**{c.rstrip()}", *[f"- {item}" for item in spec.not_modelled], ""]

    out += [f"## {lab['rec_edges']} ({len(rec.edges)})", ""]
    for ref in rec.edges:
        edge = ref.edge
        target = lab.option(edge.propose) if edge.propose else lab.node(edge.to or "")
        caption = f" — {getattr(edge.label, lang)}" if edge.label else ""
        out.append(f"- `{edge.id}` ({lab.pathway(ref.pathway)}){c}{lab.node(edge.from_)} → {target}{caption}")
        if edge.because:
            out.append(f"  - {getattr(edge.because, lang)}")
    out += [""] if rec.edges else [f"_{lab['rec_none']}_", ""]

    out += [f"## {lab['rec_rules']} ({len(rec.rules)})", ""]
    for rule in rec.rules:
        roles = ", ".join(lab[f"rec_role_{role}"] for role in rec.roles.get(rule.id, []))
        evidence = lab.evidence(rule.evidence.kind, rule.evidence.level)
        out.append(f"- `{rule.id}` ({roles}; {evidence}; {', '.join(lab.source(s) for s in rule.sources)})")
        out.append(f"  - {getattr(rule.because, lang)}")
        if rule.note:
            out.append(f"  - {lab['rec_note']}{c}{rule.note}")
    out += [""] if rec.rules else [f"_{lab['rec_none']}_", ""]

    if rec.cautions:
        out += [f"## {lab['rec_cautions']}", ""]
        out += [f"- {lab.option(ca.option)}{c}**{ca.level}** (`{ca.rule}`)" for ca in rec.cautions] + [""]
    if spec.planner_alerts:
        out += [f"## {lab['rec_planner_alerts']}", ""]
        out += [f"- `{situation}`" for situation in spec.planner_alerts] + [""]
    if rec.alerts:
        out += [f"## {lab['rec_alerts']}", ""]
        out += [f"- `{a.id}` ({a.severity}){c}{getattr(a.label, lang)}" for a in rec.alerts] + [""]
    if rec.settings:
        out += [f"## {lab['rec_settings']}", ""]
        for setting, value in rec.settings:
            unit = f" {setting.unit}" if setting.unit else ""
            out.append(f"- `{setting.name}` = {value}{unit}{c}{setting.description}")
        out.append("")

    out += [f"## {lab['rec_vignettes']} ({len(rec.vignettes)})", ""]
    for v in rec.vignettes:
        where = "" if v.own else f" ({lab['rec_borrowed']})"
        desc = f"{c}{v.description.strip()}" if v.description else ""
        out.append(f"- **{v.side}** `{v.id}`{where}{desc}")
    out += [""] if rec.vignettes else [f"_{lab['rec_none']}_", ""]

    out += [f"## {lab['rec_sources']}", ""]
    for source in rec.sources:
        link = f" <{source.link}>" if source.link else ""
        out.append(f"- **{source.short}**{c}{source.citation}{link}")
    return "\n".join(out).rstrip() + "\n"


def render_recommendation_json(rec: RecommendationDetail) -> str:
    """One recommendation as JSON: its file's content plus what the catalogues resolve.

    Parameters
    ----------
    rec
        From :func:`cds.knowledge.recommendations.detail`.

    Returns
    -------
    str
        Indented JSON, keys in a stable order, ending with a newline.

    Examples
    --------
    >>> from cds.knowledge.loader import load_knowledge
    >>> from cds.knowledge.recommendations import detail
    >>> data = json.loads(render_recommendation_json(detail(load_knowledge(), "pnet-first-line-ssa-low-ki67")))
    >>> data["recommendation"]["status"], len(data["edges"]) > 0
    ('draft', True)
    """
    data: dict[str, Any] = {
        "recommendation": rec.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        "area": rec.area,
        "file": rec.file,
        "edges": [{"pathway": ref.pathway, **ref.edge.model_dump(mode="json", by_alias=True, exclude_none=True)}
                  for ref in rec.edges],
        "cautions": [{"rule": c.rule, "option": c.option, "level": c.level} for c in rec.cautions],
        "alerts": [a.model_dump(mode="json", exclude_none=True) for a in rec.alerts],
        "settings": [{"name": s.name, "value": v, "unit": s.unit} for s, v in rec.settings],
        "sources": [{"id": s.id, "short": s.short, "link": s.link} for s in rec.sources],
        "vignettes": [{"id": v.id, "side": v.side, "file": v.file, "own": v.own} for v in rec.vignettes],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_recommendation_list(rows: list[RecommendationSummary], lang: str, version: str, fmt: str) -> str:
    """The list of recommendations: id, area, status, reviewer, what each holds, its title.

    Parameters
    ----------
    rows
        From :func:`cds.knowledge.recommendations.summaries`.
    lang
        ``en`` or ``fr`` (titles and headings).
    version
        The knowledge version (named in the last line).
    fmt
        ``markdown`` (a table), ``text`` (aligned columns) or ``json``.

    Returns
    -------
    str
        The list, ending with a newline.

    Examples
    --------
    >>> from cds.knowledge.recommendations import RecommendationSummary
    >>> row = RecommendationSummary("pnet-a", "pancreas", "Watch small pNET", "Surveiller", "draft", None,
    ...                             ("DP-027",), 2, 3, 1, 1, "pnet-a/recommendation.yaml")
    >>> print(render_recommendation_list([row], "en", "0.9.0+abc", "text"), end="")
    pnet-a  pancreas  draft  -  rules 2  edges 3  in 1 out 1  Watch small pNET
    1 recommendation(s), knowledge 0.9.0+abc
    """
    lab: Labels = labels(lang)
    if fmt == "json":
        return json.dumps([{
            "id": r.id, "area": r.area, "title": {"en": r.title_en, "fr": r.title_fr}, "status": r.status,
            "reviewer": r.reviewer, "brief": list(r.brief), "rules": r.rules, "edges": r.edges,
            "vignettes": {"in": r.vignettes_in, "out": r.vignettes_out}, "file": r.file,
        } for r in rows], indent=2, ensure_ascii=False) + "\n"

    def title(row: RecommendationSummary) -> str:
        return row.title_fr if lang == "fr" else row.title_en

    if fmt == "markdown":
        head = (f"| id | {lab['rec_area']} | {lab['rec_status']} | {lab['rec_reviewer']} | {lab['rec_rules']} | "
                f"{lab['rec_edges']} | in / out | {lab['rec_title']} |")
        lines = [head, "|" + "---|" * 8]
        lines += [f"| `{r.id}` | {r.area} | {r.status} | {_cell(r.reviewer or '-')} | {r.rules} | {r.edges} | "
                  f"{r.vignettes_in} / {r.vignettes_out} | {_cell(title(r))} |" for r in rows]
    else:
        wid = max((len(r.id) for r in rows), default=0)
        warea = max((len(r.area) for r in rows), default=0)
        wstat = max((len(r.status) for r in rows), default=0)
        wrev = max((len(r.reviewer or "-") for r in rows), default=0)
        lines = [f"{r.id:<{wid}}  {r.area:<{warea}}  {r.status:<{wstat}}  {(r.reviewer or '-'):<{wrev}}  "
                 f"rules {r.rules}  edges {r.edges}  in {r.vignettes_in} out {r.vignettes_out}  {title(r)}"
                 for r in rows]
    lines.append(lab.fmt("rec_count", n=len(rows), version=version))
    return "\n".join(lines) + "\n"
