"""The follow-up plan for the terminal or a text file (``cds surveillance``): Rich tables.

Both plans side by side, visit by visit, with their doses; then the totals, the reason for
the recommended plan, the monitoring and alternative schedules, the instructions, what the
sources do not confirm, the sources and the disclaimer. The words are the report's
(``renderers/i18n.yaml``); the sentences of the plan come with it, in its language.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from cds.model.recommendation import Lang, PlannedExam, Surveillance, SurveillancePlan
from cds.model.units import fmt_msv, fmt_number
from cds.render.i18n import Labels, labels

if TYPE_CHECKING:
    from rich.console import Console


def _duration_text(plan: SurveillancePlan, lab: Labels) -> str:
    if plan.lifelong:
        return lab["surveillance_lifelong"]
    if plan.open_ended:
        return lab["surveillance_open_ended"]
    if plan.duration_months is None:
        return "-"
    key = "surveillance_at_least" if plan.at_least else "surveillance_months"
    return lab.fmt(key, months=lab.number(plan.duration_months))


def _when(exam: PlannedExam, lab: Labels) -> str:
    month = lab.fmt("surveillance_month", m=exam.offset_months)
    return f"{exam.date} ({month})" if exam.date else month


def print_surveillance(
    surveillance: Surveillance, console: Console, lang: Lang = "en", disclaimer: str | None = None
) -> None:
    """The plan as rich tables: both plans side by side, visit by visit, with their doses.

    Without a schedule, the planner's reason (why there is none) stands as its title.

    Parameters
    ----------
    surveillance
        The follow-up plan.
    console
        Where to print (a terminal, or a file: :func:`render_surveillance_text`).
    lang
        Language of the headings (the plan's own texts are already in theirs).
    disclaimer
        The report's disclaimer, in ``lang``, printed last when given.

    Examples
    --------
    >>> import io
    >>> from rich.console import Console
    >>> from cds import default_engine, parse_patient
    >>> rec = default_engine().evaluate(parse_patient('{"tumour": {"primary_site": "pancreas"}}'))
    >>> out = io.StringIO()
    >>> print_surveillance(rec.surveillance, Console(file=out, width=100), "en")
    >>> out.getvalue().startswith("Schedule:")
    True
    """
    from rich.table import Table

    lab = labels(lang)
    s = surveillance
    title = s.label or s.because or ""
    colon = " :" if lang == "fr" else ":"
    console.print(f"[bold]{lab['surveillance_schedule']}{colon}[/bold] {title}", highlight=False)
    if s.because:
        console.print(s.because, markup=False, highlight=False)
    if s.no_follow_up:
        console.print(f"[bold green]{lab['surveillance_no_follow_up']}[/bold green]")
    elif s.individual:
        console.print(f"[bold]{lab['surveillance_individual']}[/bold]")
    default, minimised = s.plans[0], s.plans[1]
    if default.exams or minimised.exams:
        table = Table(show_lines=False, expand=False)
        table.add_column(lab["surveillance_when"])
        rec = f" ({lab['recommended']})"
        table.add_column(lab["surveillance_default_plan"] + (rec if default.recommended else ""))
        table.add_column(lab["surveillance_cumulative"], justify="right")
        table.add_column(lab["surveillance_minimised_plan"] + (rec if minimised.recommended else ""))
        table.add_column(lab["surveillance_cumulative"], justify="right")
        by_offset: dict[int, tuple[list[PlannedExam], list[PlannedExam]]] = {}
        for exam in default.exams:
            by_offset.setdefault(exam.offset_months, ([], []))[0].append(exam)
        for exam in minimised.exams:
            by_offset.setdefault(exam.offset_months, ([], []))[1].append(exam)
        for offset in sorted(by_offset):
            left, right = by_offset[offset]
            when = _when((left or right)[0], lab)

            def cell(exams: list[PlannedExam]) -> tuple[str, str]:
                if not exams:
                    return "", ""
                text = "\n".join(
                    e.short_label + (f" ({fmt_msv(e.dose_msv, lab.lang)} mSv)" if e.ionising else "") for e in exams
                )
                return text, fmt_msv(exams[-1].cumulative_msv, lab.lang)

            lt, lc = cell(left)
            rt, rc = cell(right)
            table.add_row(when, lt, lc, rt, rc)
        console.print(table)
    totals = Table(title=lab.fmt("surveillance_totals", years=fmt_number(s.horizon_years, lab.lang)), show_header=True)
    totals.add_column("")
    totals.add_column(lab["surveillance_default_plan"], justify="right")
    totals.add_column(lab["surveillance_minimised_plan"], justify="right")
    totals.add_row(lab["surveillance_plan_msv"], fmt_msv(default.cumulative_msv, lab.lang),
                   fmt_msv(minimised.cumulative_msv, lab.lang))
    totals.add_row(lab.fmt("surveillance_total_msv", prior=fmt_msv(s.prior_exposure_msv, lab.lang)),
                   fmt_msv(default.total_msv, lab.lang), fmt_msv(minimised.total_msv, lab.lang))
    totals.add_row(lab["surveillance_duration"], _duration_text(default, lab), _duration_text(minimised, lab))
    console.print(totals)
    recommended = next(p.label for p in s.plans if p.recommended)
    console.print(lab.fmt("surveillance_summary", saved=fmt_msv(s.dose_saved_msv, lab.lang), plan=recommended),
                  markup=False, highlight=False)
    console.print(s.recommended_reason, markup=False, highlight=False)
    for key, refs in (("surveillance_monitoring", s.monitoring), ("surveillance_alternatives", s.alternatives)):
        if refs:
            console.print(f"[bold]{lab[key]}{colon}[/bold]")
            for ref in refs:
                dose = ""
                if ref.default_msv is not None and ref.kind == "imaging":
                    dose = f" ({fmt_msv(ref.default_msv, lab.lang)} / {fmt_msv(ref.minimised_msv or 0, lab.lang)} mSv)"
                console.print(f"  - {ref.label}{dose} [{ref.rule}]", markup=False, highlight=False)
    if s.instructions:
        console.print(f"[bold]{lab['surveillance_instructions']}{colon}[/bold]")
        for line in s.instructions:
            console.print(f"  - {line}", markup=False, highlight=False)
    if s.unconfirmed:
        console.print(f"[bold yellow]{lab['surveillance_unconfirmed']}{colon}[/bold yellow]")
        for line in s.unconfirmed:
            console.print(f"  - {line}", markup=False, highlight=False)
    console.print(f"{lab['sources']}{colon} {', '.join(s.sources)}", markup=False, highlight=False)
    if disclaimer:
        console.print(f"{lab['disclaimer']}{colon} {disclaimer}", markup=False, highlight=False)


def render_surveillance_text(
    surveillance: Surveillance, lang: Lang = "en", width: int = 110, disclaimer: str | None = None
) -> str:
    """:func:`print_surveillance` into a string ``width`` columns wide, without colours (for a file).

    Parameters
    ----------
    surveillance
        The follow-up plan.
    lang
        Language of the headings.
    width
        Columns.
    disclaimer
        The report's disclaimer, printed last when given.

    Returns
    -------
    str
        The text, one line per row of the tables.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> rec = default_engine().evaluate(parse_patient('{"tumour": {"primary_site": "pancreas"}}'), "fr")
    >>> render_surveillance_text(rec.surveillance, "fr").startswith("Schéma :")
    True
    """
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False, force_terminal=False)
    print_surveillance(surveillance, console, lang, disclaimer)
    return buffer.getvalue()
