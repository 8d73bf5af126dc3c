"""Terminal report: Rich tables built from :func:`cds.render.views.report_view`.

Every piece of text from the knowledge goes into a :class:`rich.text.Text`
object, never through Rich markup, so that a rule reason containing square
brackets cannot be mistaken for a style tag.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cds.model.recommendation import Recommendation, TrialsReport, disclaimer_in
from cds.render.i18n import labels
from cds.render.trials import trial_renderables, trial_views
from cds.render.views import ArgumentView, ReportView, TrackView, ui, view_of

if TYPE_CHECKING:
    from cds.explain import Explanation
    from cds.knowledge.loader import KnowledgeBase
    from cds.report import Report

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
CATEGORY_STYLE = {"recommended": "bold green", "consider": "yellow", "not_recommended": "red"}
DIRECTION_STYLE = {"for": "green", "against": "red", "exclude": "bold red"}
SAFETY_STYLE = {"avoid": "bold red", "caution": "bold yellow"}

#: Width used when the report goes to a file rather than a terminal (and COLUMNS is not set).
FILE_WIDTH = 120


def text_width(*, terminal: bool = True) -> int:
    """The width to lay text out for: ``COLUMNS`` when set, else the terminal's, else :data:`FILE_WIDTH`.

    ``terminal=False`` (output to a file) ignores the size of the terminal the command runs in.

    Parameters
    ----------
    terminal
        The text goes to the terminal (so its size counts when ``COLUMNS`` is not set).

    Returns
    -------
    int
        ``COLUMNS`` when it is a number of at least 40; else the terminal's width when the
        output is a terminal; else :data:`FILE_WIDTH`.

    Examples
    --------
    >>> import os
    >>> saved = os.environ.pop("COLUMNS", None)
    >>> os.environ["COLUMNS"] = "100"; text_width()
    100
    >>> os.environ["COLUMNS"] = "20"; text_width(terminal=False)   # too narrow to be meant
    120
    >>> del os.environ["COLUMNS"]; text_width(terminal=False)
    120
    >>> if saved is not None:
    ...     os.environ["COLUMNS"] = saved
    """
    value = os.environ.get("COLUMNS", "").strip()
    if value.isdigit() and int(value) >= 40:
        return int(value)
    if terminal and sys.stdout.isatty():
        return shutil.get_terminal_size((FILE_WIDTH, 24)).columns
    return FILE_WIDTH
#: Below this width, "conditional on" moves from its own column into the option cell.
WIDE = 110


def renderables(source: Report | Recommendation, width: int = FILE_WIDTH) -> list[RenderableType]:
    """The report as a list of Rich renderables, top to bottom, laid out for ``width``.

    From a :class:`~cds.report.Report`, alerts, sources, evidence and the
    classification show their labels (in the report language) instead of the ids
    a bare recommendation carries.

    Parameters
    ----------
    source
        The patient's report, or a recommendation alone (e.g. read back from JSON).
    width
        The width to lay out for; below :data:`WIDE`, "conditional on" moves into the
        option cell.

    Returns
    -------
    list[rich.console.RenderableType]
        The header panel, the synopsis (of a report), the top options of both tracks and the
        critical alerts; then every alert, one table per track, the excluded options, the missing
        data, the assumptions and scenarios when there are any, and the disclaimer.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> patient = parse_patient('{"id": "demo-1", "fit_for_major_surgery": false, "tumour": {"primary_site": '
    ...     '"pancreas", "size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, '
    ...     '"disease": {"stage": "localized"}}')
    >>> report = build_report(default_engine(), patient)
    >>> items = renderables(report, 80)
    >>> type(items[0]).__name__, items[1].plain[:25], items[2].plain, type(items[-1]).__name__
    ('Panel', 'Synopsis: Age: not stated', '\\nTop options', 'Panel')
    """
    view = view_of(source, board=False)
    wide = width >= WIDE
    t = view.t
    out: list[RenderableType] = [_header(view)]
    out += _first_screen(view)

    out.append(_heading(t["alerts"]))
    if view.alerts:
        alerts = Table(box=box.SIMPLE_HEAD, expand=True)
        alerts.add_column(t["severity"], no_wrap=True)
        alerts.add_column(t["alert"], ratio=1)
        for i, a in enumerate(view.alerts):
            style = SEVERITY_STYLE.get(a.severity, "")
            alerts.add_row(
                Text(a.severity_text.upper(), style=style),
                Group(Text(a.label or a.id, style=style),
                      *([Text(a.action)] if a.action else []),
                      *([Text(a.text, style="italic" if a.action else "")] if a.text else []),
                      _provenance(a.rule, a.sources_short or a.sources)),
                end_section=i < len(view.alerts) - 1,
            )
        out.append(alerts)
    else:
        out.append(Text(t["no_alert"], style="dim"))

    out += _track_tables(view.tracks, t, wide)
    out.append(Text(t["safety_legend"], style="dim"))

    out.append(_heading(t["excluded"]))
    if view.excluded:
        excluded = Table(box=box.SIMPLE_HEAD, expand=True)
        excluded.add_column(t["option"])
        excluded.add_column(t["reasons"], ratio=1)
        for i, e in enumerate(view.excluded):
            excluded.add_row(
                Group(Text(e.label, style="bold"), Text(f"{e.option} · {e.track}", style="dim")),
                _arguments(e.reasons, t),
                end_section=i < len(view.excluded) - 1,
            )
        out.append(excluded)
    else:
        out.append(Text(t["no_excluded"], style="dim"))

    out.append(_heading(t["missing_data"]))
    if view.missing:
        missing = Table(box=box.SIMPLE_HEAD, expand=True)
        missing.add_column(t["field"], style="bold")
        missing.add_column(t["why"], ratio=1)
        for m in view.missing:
            missing.add_row(Text(m.label or m.field),
                            Group(Text(m.why), *([Text(m.action)] if m.action else []), _provenance(m.rule, [])))
        out.append(missing)
    else:
        out.append(Text(t["no_missing"], style="dim"))

    if view.assumptions:
        out.append(_heading(t["assumptions"]))
        assumed = Table(box=box.SIMPLE_HEAD, expand=True)
        assumed.add_column(t["field"], style="bold")
        assumed.add_column(t["why"], ratio=1)
        for assumption in view.assumptions:
            assumed.add_row(Text(f"{assumption.field}: {assumption.value}"),
                            Group(Text(assumption.why), _provenance(assumption.rule, [])))
        out.append(assumed)

    if view.scenarios:
        out.append(_heading(t["scenarios"]))
        out.append(Text(t["scenarios_intro"], style="dim"))
        for sc in view.scenarios:
            out.append(Text.assemble("\n", (sc.assumption, "bold"), (f"  ({sc.category})", "dim")))
            out += _track_tables(sc.tracks, t, wide, headings=False)
            if sc.excluded:
                out.append(Text(f"{t['excluded']}{t['colon']} " + ", ".join(sc.excluded), style="red"))

    if view.trials:
        out += trial_renderables(view.trials, t)

    out.append(Text())
    out.append(Panel(Text(view.disclaimer), title=t["disclaimer"], border_style="dim"))
    return out


def _first_screen(view: ReportView) -> list[RenderableType]:
    """The synopsis, the top options of both tracks and the critical alerts: what is read first."""
    t = view.t
    out: list[RenderableType] = []
    if view.synopsis is not None:
        line = Text.assemble((f"{t['synopsis']}{t['colon']} ", "bold"))
        for i, item in enumerate(view.synopsis.items):
            if i:
                line.append(" · ")
            line.append(item.text, style="" if item.stated else "dim italic")
        out.append(line)
    out.append(_heading(t["top_options"]))
    table = Table(box=box.SIMPLE_HEAD, expand=True)
    table.add_column(t["option"], ratio=1)
    table.add_column(t["category"], no_wrap=True)
    table.add_column(t["score"], justify="right", no_wrap=True)
    for i, top in enumerate(view.top):
        o = top.option
        if o is None:
            table.add_row(Group(Text(top.title, style="underline"), Text(t["no_option"], style="dim")), "", "",
                          end_section=i < len(view.top) - 1)
            continue
        lines: list[RenderableType] = [Text(top.title, style="underline"),
                                       Text.assemble(("1. ", "bold"), (o.label, "bold"), (f"  {o.option}", "dim"))]
        if top.leading is not None:
            lines.append(Text.assemble((f"{t['leading_argument']}{t['colon']} ", "dim"), top.leading.text))
        if top.safety is not None and top.safety.safety_level:
            lines.append(Text(f"{top.safety.symbol} {top.safety.text}", style=SAFETY_STYLE[top.safety.safety_level]))
        if top.next:
            lines.append(Text(f"{t['next_options']}{t['colon']} " + "; ".join(
                f"{n.rank}. {n.label} ({n.category_text}{', ' + n.safety_text if n.safety_text else ''})"
                for n in top.next), style="dim"))
        category = Text(o.category_text, style=CATEGORY_STYLE.get(o.category, ""))
        if o.safety_level:
            category.append(f"\n({o.safety_text})", style=SAFETY_STYLE[o.safety_level])
        table.add_row(Group(*lines), category, Text(str(o.score)), end_section=i < len(view.top) - 1)
    out.append(table)
    out.append(_heading(t["critical_alerts"]))
    if view.critical_alerts:
        for a in view.critical_alerts:
            out.append(Text.assemble((a.label or a.id, SEVERITY_STYLE["critical"]),
                                     *([(f"{t['colon']} {a.action}", "")] if a.action else [])))
    else:
        out.append(Text(t["no_critical_alert"], style="dim"))
    return out


def _track_tables(
    tracks: Sequence[TrackView], t: dict[str, str], wide: bool, headings: bool = True
) -> list[RenderableType]:
    """One table per track: rank, option with its arguments, category (with its safety flag), score."""
    out: list[RenderableType] = []
    for track in tracks:
        if headings:
            out.append(_heading(track.title))
        else:
            out.append(Text(track.title, style="underline"))
        if not track.options:
            out.append(Text(t["no_option"], style="dim"))
            continue
        table = Table(box=box.SIMPLE_HEAD, expand=True, show_lines=False)
        table.add_column(t["rank"], justify="right", no_wrap=True)
        table.add_column(t["option"], ratio=1)
        table.add_column(t["category"], no_wrap=True)
        table.add_column(t["score"], justify="right", no_wrap=True)
        if wide:
            table.add_column(t["conditional_on"], max_width=30)
        for i, o in enumerate(track.options):
            conditional = Text(", ".join(o.conditional_labels or o.conditional_on), style="yellow")
            lines: list[RenderableType] = [
                Text.assemble((o.label, "bold"), (f"  {o.option}", "dim"))
            ]
            if o.conditional_on and not wide:
                lines.append(Text.assemble(f"{t['conditional_on']}{t['colon']} ", conditional))
            lines.append(_arguments(o.arguments, t))
            category = Text(o.category_text, style=CATEGORY_STYLE.get(o.category, ""))
            if o.safety_level:
                category.append(f"\n({o.safety_text})", style=SAFETY_STYLE[o.safety_level])
            cells: list[RenderableType] = [Text(str(o.rank), style="bold"), Group(*lines), category, Text(str(o.score))]
            if wide:
                cells.append(conditional)
            table.add_row(*cells, end_section=i < len(track.options) - 1)
        out.append(table)
    return out


def print_report(source: Report | Recommendation, console: Console) -> None:
    """The report on a terminal, in colour, laid out for the console's width.

    Parameters
    ----------
    source
        The patient's report, or a recommendation alone.
    console
        Where to print (its width sets the layout).

    Examples
    --------
    >>> import io
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> patient = parse_patient('{"id": "demo-1", "fit_for_major_surgery": false, "tumour": {"primary_site": '
    ...     '"pancreas", "size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, '
    ...     '"disease": {"stage": "localized"}}')
    >>> report = build_report(default_engine(), patient)
    >>> console = Console(file=io.StringIO(), width=80, color_system=None)
    >>> print_report(report, console)
    >>> console.file.getvalue().splitlines()[1]
    '│ Patient            demo-1                                                    │'
    """
    for item in renderables(source, console.width):
        console.print(item)


def render_trials_text(report: TrialsReport, width: int = FILE_WIDTH) -> str:
    """``cds trials PATIENT.json`` as text: the versions, the clinical-trials section and the disclaimer.

    Parameters
    ----------
    report
        The trials of one patient (:class:`~cds.model.recommendation.TrialsReport`).
    width
        The width to lay out for.

    Returns
    -------
    str
        Plain text (no colours), ending with one line break.

    Examples
    --------
    >>> from cds.model.recommendation import TrialsReport
    >>> text = render_trials_text(TrialsReport(knowledge_version="0.2.0+abc", trials=[]))
    >>> "Clinical trials" in text and "No trial in the catalogue." in text
    True
    """
    t = ui(report.language)
    head = Text.assemble((t["title"], "bold"), f"  {t['patient']}{t['colon']} {report.patient_id or '-'}",
                         f"\n{t['knowledge_version']}{t['colon']} {report.knowledge_version}",
                         f"  {t['software_version']}{t['colon']} {report.software_version or '-'}")
    views = trial_views(report.trials, labels(report.language))
    items: list[RenderableType] = [head, *trial_renderables(views, t), Text(),
                                   Panel(Text(disclaimer_in(report.disclaimer, report.language)),
                                         title=t["disclaimer"], border_style="dim")]
    return to_plain_text(items, width)


def render_text(source: Report | Recommendation, width: int = FILE_WIDTH) -> str:
    """The report as plain text (no colour), e.g. for ``--output FILE``.

    Parameters
    ----------
    source
        The patient's report, or a recommendation alone.
    width
        The width of the lines.

    Returns
    -------
    str
        What :func:`print_report` shows, without colour, each line at most ``width`` wide.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> patient = parse_patient('{"id": "demo-1", "fit_for_major_surgery": false, "tumour": {"primary_site": '
    ...     '"pancreas", "size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, '
    ...     '"disease": {"stage": "localized"}}')
    >>> report = build_report(default_engine(), patient)
    >>> text = render_text(report, width=80)
    >>> text.splitlines()[0]
    '╭─ netcds recommendation ─...─╮'
    >>> max(len(line) for line in text.splitlines()), "Surgery with curative intent" in text
    (80, True)
    """
    return to_plain_text(renderables(source, width), width)


def to_plain_text(items: Iterable[RenderableType], width: int = FILE_WIDTH) -> str:
    """Rich renderables as plain text: no colour, no terminal codes, the same on every machine.

    Parameters
    ----------
    items
        What to print, top to bottom.
    width
        The width of the lines.

    Returns
    -------
    str
        The text, one line break after each item.

    Examples
    --------
    >>> to_plain_text([Text("Alerts", style="bold"), Text("none")])
    'Alerts\\nnone\\n'
    """
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, color_system=None, force_terminal=False,
        force_jupyter=False, legacy_windows=False, highlight=False, soft_wrap=False,
    )
    for item in items:
        console.print(item)
    return buffer.getvalue()


def _heading(title: str) -> Text:
    return Text.assemble("\n", (title, "bold underline"))


def _header(view: ReportView) -> RenderableType:
    t = view.t
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row(t["patient"], Text(view.patient_id or "-"))
    if view.as_of:
        grid.add_row(t["as_of"], Text(view.as_of))
    grid.add_row(t["grade"], Text(view.grade))
    grid.add_row(t["category"], Text(view.category))
    grid.add_row(t["pathways"], Text(", ".join(view.pathways) or t["none"]))
    grid.add_row(t["knowledge_version"], Text(view.knowledge_version))
    if view.software_version:
        grid.add_row(t["software_version"], Text(view.software_version))
    return Panel(grid, title=Text(t["title"], style="bold"), title_align="left",
                 box=box.ROUNDED, expand=True)


def _provenance(rule: str, sources: Sequence[str]) -> Text:
    text = Text(rule, style="dim")
    if sources:
        text.append(" · " + ", ".join(sources))
    return text


def _arguments(args: Sequence[ArgumentView], t: dict[str, str]) -> Table:
    """One row per argument: its signed strength, then its text over its provenance."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(no_wrap=True, justify="right", min_width=4)
    grid.add_column(ratio=1)
    for a in args:
        style = SAFETY_STYLE.get(a.safety_level or "", "") or DIRECTION_STYLE.get(a.direction, "")
        detail = _provenance(a.rule, a.sources_short or a.sources)
        detail.append(" · " + (a.evidence_label or a.evidence))
        if a.unconfirmed:
            detail.append(" · ")
            detail.append(t["unconfirmed"].upper(), style="bold magenta")
        grid.add_row(Text(a.symbol, style=f"bold {style}"), Group(Text(a.text), detail))
    return grid


def demo_table(rows: Sequence[Sequence[str]], lang: str = "en") -> Table:
    """The summary table of ``cds demo``.

    Each row holds: patient, site, category, the top anti-tumour option and the
    top antisecretory option (each with its category), the number of alerts and
    the number of excluded options. Site and category share a cell so that the
    table fits an 80-column terminal.

    Parameters
    ----------
    rows
        Seven preformatted strings per patient, as above (from :func:`cds.render.session.session_rows`).
    lang
        Language of the title and the column headings.

    Returns
    -------
    rich.table.Table
        The table, to print on a console.

    Examples
    --------
    >>> table = demo_table([["demo-1", "pancreas", "NET G1", "Watchful waiting (recommended)", "-", "6", "0"]])
    >>> print(to_plain_text([table], 80).rstrip())
                                      netcds demo
    <BLANKLINE>
                                                   Antisecretory
     Patient   Site / Category   Anti-tumour #1    #1                Alerts   Excl.
     ──────────────────────────────────────────────────────────────────────────────
     demo-1    pancreas          Watchful          -                      6       0
               NET G1            waiting
                                 (recommended)
    """
    t = ui(lang)
    table = Table(title=t["demo_title"], box=box.SIMPLE_HEAD, expand=True, padding=(0, 1),
                  pad_edge=False)
    longest_id = max((len(row[0]) for row in rows), default=8)
    longest_site = max((len(cell) for row in rows for cell in row[1:3]), default=8)
    table.add_column(t["patient"], style="bold", overflow="fold", min_width=min(longest_id, 20))
    table.add_column(f"{t['site']} / {t['category']}", overflow="fold",
                     min_width=min(longest_site, 16))
    table.add_column(t["top_anti_tumour"], ratio=1, overflow="fold")
    table.add_column(t["top_antisecretory"], ratio=1, overflow="fold")
    table.add_column(t["alerts_count"], justify="right", no_wrap=True)
    table.add_column(t["excluded_count"], justify="right", no_wrap=True)
    for patient, site, category, top_anti, top_anti_sec, alerts, excluded in rows:
        table.add_row(
            Text(patient),
            Group(Text(site), Text(category, style="dim")),
            Text(top_anti),
            Text(top_anti_sec),
            Text(alerts),
            Text(excluded),
        )
    return table


# ------------------------------------------------------------------ why not


def render_explanation_text(explanation: Explanation, kb: KnowledgeBase | None = None) -> str:
    """A why-not explanation as plain indented text (``cds explain``).

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
        The title, per track a summary and the reasons with their tests, what would change
        the result and the missing data.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> from cds.report import build_report
    >>> patient = parse_patient('{"id": "demo-1", "fit_for_major_surgery": false, "tumour": {"primary_site": '
    ...     '"pancreas", "size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, '
    ...     '"disease": {"stage": "localized"}}')
    >>> report = build_report(default_engine(), patient)
    >>> print(render_explanation_text(report.explain("surgery_curative"), report.kb))
    Why not Surgery with curative intent?
    =====================================
    <BLANKLINE>
    Anti-tumour treatment: Surgery with curative intent is ranked 3 in the anti-tumour track ...
    <BLANKLINE>
      Arguments against
      - Judged unfit for major surgery: ... [safety.major_surgery.unfit] (avoid · netcds policy · ...)
        * Fit for major surgery: no — would not apply otherwise
    <BLANKLINE>
    What would change the result
      - Fit for major surgery: no — would not apply otherwise
    <BLANKLINE>
    """
    from cds.render.i18n import labels
    from cds.render.why_not import ReasonView, why_not_view

    lab = labels(explanation.language, kb)
    view = why_not_view(explanation, lab)
    colon = lab["colon"]
    lines = [view.title, "=" * len(view.title), ""]

    def reason(r: ReasonView, indent: str) -> None:
        head = f"{r.text} " if r.text else ""
        detail = f" ({r.detail})" if r.detail else ""
        lines.append(f"{indent}- {head}[{r.id}]{detail}")
        if r.status:
            lines.append(f"{indent}  {r.status}")
        for c in r.conditions:
            if c.hint:
                lines.append(f"{indent}  * {c.hint}{colon}")
                lines.extend(f"{indent}      {test}" for test in c.tests)
            else:
                lines.extend(f"{indent}  * {test}" for test in c.tests)
        if r.blocked_by:
            lines.append(f"{indent}  {lab['route_blocked']}{colon}")
            for b in r.blocked_by:
                reason(b, indent + "    ")

    for tr in view.tracks:
        lines.append(f"{tr.title}{colon} {tr.summary}")
        for g in tr.groups:
            lines.extend(["", f"  {g.title}"])
            for r in g.reasons:
                reason(r, "  ")
        lines.append("")
    if view.note:
        lines.extend([view.note, ""])
    if view.changes:
        lines.append(lab["what_would_change"])
        lines.extend(f"  - {c}" for c in view.changes)
        lines.append("")
    if view.missing:
        lines.extend([f"{lab['missing_data']}{colon} {', '.join(view.missing)}", ""])
    return "\n".join(lines).rstrip("\n") + "\n"
