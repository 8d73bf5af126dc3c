"""The follow-up plan as an iCalendar file (RFC 5545) for the care team's calendar.

Written by hand rather than with a library so that the file is deterministic: the same
plan always gives the same bytes (no clock, no random UIDs).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from cds.model.recommendation import Lang, PlannedExam, Surveillance
from cds.model.units import add_months, fmt_msv
from cds.render.i18n import labels
from cds.version import SOFTWARE_VERSION


def _ics_escape(text: str) -> str:
    r"""A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines escaped.

    >>> _ics_escape("a; b, c\nd")
    'a\\; b\\, c\\nd'
    """
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _ics_fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 character."""
    out: list[str] = []
    current = ""
    size = 0
    limit = 75
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def to_ics(
    surveillance: Surveillance, key: str, plan: Literal["recommended", "default", "minimised"] = "recommended",
    lang: Lang = "en", disclaimer: str | None = None,
) -> str:
    """The plan as an iCalendar file: one all-day event per visit, dated from as_of.

    Deterministic: UIDs derive from the patient key, plan, schedule and month; DTSTAMP is
    as_of at midnight UTC (never the clock).

    Parameters
    ----------
    surveillance
        A dated follow-up plan (the patient's ``as_of`` was known).
    key
        The patient's key for the UIDs (:func:`cds.surveillance.patient_key`).
    plan
        Which plan to export: the recommended one, or ``default`` / ``minimised``.
    lang
        Language of the words of the calendar (the plan's own texts are already in theirs).
    disclaimer
        Added to every event's description when given.

    Returns
    -------
    str
        The iCalendar file, CRLF line ends, lines folded at 75 octets.

    Raises
    ------
    ValueError
        For a plan without dates.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient(
    ...     '{"as_of": "2025-03-01", "tumour": {"primary_site": "pancreas", "differentiation": "well", '
    ...     '"ki67_percent": 4, "size_mm": 25, "functional_syndrome": "none", "primary_resected": true, '
    ...     '"lymph_nodes_positive": false, "resection_margin": "r0"}, "disease": {"stage": "localized"}}')
    >>> ics = to_ics(default_engine().evaluate(patient).surveillance, "p1")
    >>> ics.splitlines()[0], ics.count("BEGIN:VEVENT"), "UID:p1-default-pnet_resected_commnets-m012@netcds" in ics
    ('BEGIN:VCALENDAR', 6, True)
    """
    if not surveillance.dated or surveillance.as_of is None:
        raise ValueError("an iCalendar export needs dates: give the patient's as_of (or --as-of)")
    lab = labels(lang)
    wanted = surveillance.recommended_plan if plan == "recommended" else plan
    chosen = next(p for p in surveillance.plans if p.id == wanted)
    as_of = dt.date.fromisoformat(surveillance.as_of)
    stamp = f"{as_of:%Y%m%d}T000000Z"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:-//netcds//surveillance planner {SOFTWARE_VERSION}//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_ics_escape(lab.fmt('surveillance_title', label=surveillance.label or key))}",
    ]
    visits: dict[int, list[PlannedExam]] = {}
    for exam in chosen.exams:
        visits.setdefault(exam.offset_months, []).append(exam)
    for offset in sorted(visits):
        exams = visits[offset]
        day = dt.date.fromisoformat(exams[0].date) if exams[0].date else add_months(as_of, offset)
        schedules = "-".join(dict.fromkeys(e.schedule for e in exams))
        uid = f"{key}-{chosen.id}-{schedules}-m{offset:03d}@netcds"
        summary = lab.fmt("surveillance_event", exams=", ".join(e.short_label for e in exams))
        description = [
            lab.fmt("surveillance_event_plan", plan=chosen.label),
            lab.fmt("surveillance_event_schedule", label=surveillance.label or "-"),
            *(lab.fmt("surveillance_event_dose", exam=e.label, dose=fmt_msv(e.dose_msv, lab.lang))
              + (f" ({e.note})" if e.note else "") for e in exams),
            lab.fmt("surveillance_event_cumulative", msv=fmt_msv(exams[-1].cumulative_msv, lab.lang)),
        ]
        if disclaimer:
            description.append(disclaimer)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{_ics_escape(summary)}",
            f"DESCRIPTION:{_ics_escape(chr(10).join(description))}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_ics_fold(line) + "\r\n" for line in lines)
