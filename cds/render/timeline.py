"""The follow-up plan as a picture: both plans on a time line and their cumulative dose curves.

Inline SVG for the HTML report, written by hand so that it is deterministic (the same plan
gives the same bytes) and needs no drawing library. Filled exam marks are ionising exams,
open ones are not; the alert threshold is drawn when the doses come near it.
"""

from __future__ import annotations

from xml.sax.saxutils import escape as _xml_escape

from cds.model.recommendation import Lang, Surveillance
from cds.model.units import fmt_msv
from cds.render.i18n import labels


def _nice_ceiling(value: float) -> float:
    """A round top for the dose axis, at least 10.

    >>> _nice_ceiling(3), _nice_ceiling(64), _nice_ceiling(230)
    (10.0, 70.0, 250.0)
    """
    if value <= 10:
        return 10.0
    for step in (10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if value <= step * 10:
            return float(-(-value // step) * step)
    return float(-(-value // 1000) * 1000)


def timeline_svg(surveillance: Surveillance, lang: Lang = "en") -> str:
    """Both plans on a time line and their cumulative dose curves, as inline SVG (deterministic).

    Without a schedule, the planner's reason (why there is none) stands as its title.

    Parameters
    ----------
    surveillance
        The follow-up plan.
    lang
        Language of the picture's words.

    Returns
    -------
    str
        An ``<svg>`` element, one line per mark.

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient(
    ...     '{"tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 4, "size_mm": 25, '
    ...     '"functional_syndrome": "none", "primary_resected": true, "lymph_nodes_positive": false, '
    ...     '"resection_margin": "r0"}, "disease": {"stage": "localized"}}')
    >>> svg = timeline_svg(default_engine().evaluate(patient, "fr").surveillance, "fr")
    >>> svg.startswith("<svg") and "Plan par défaut" in svg, svg.count("<circle")  # 6 visits a plan, 2 in the legend
    (True, 14)
    """
    lab = labels(lang)
    s = surveillance
    width, left, right = 760, 130, 20
    plot = width - left - right
    horizon = max(1, s.horizon_months)
    lane_y = {"default": 58, "minimised": 88}
    top, bottom = 130, 270
    height = 320

    def x(month: float) -> str:
        return f"{left + plot * month / horizon:.1f}"

    def esc(text: str) -> str:
        return _xml_escape(text, {'"': "&quot;"})

    totals = [p.total_msv for p in s.plans] + [s.prior_exposure_msv]
    show_threshold = max(totals) >= s.radiation_threshold_msv * 0.5
    y_max = _nice_ceiling(max([*totals, s.radiation_threshold_msv if show_threshold else 0.0, 1.0]))

    def y(dose: float) -> str:
        return f"{bottom - (bottom - top) * dose / y_max:.1f}"

    label = s.label or s.because or ""
    title = lab.fmt("surveillance_title", label=label)
    shown = label if len(label) <= 115 else label[:114] + "…"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}" '
        'font-family="sans-serif" font-size="11">',
        f"<title>{esc(title)}</title>",
        f'<text x="10" y="16" font-size="13" font-weight="bold">{esc(lab["surveillance_timeline"])}</text>',
        f'<text x="10" y="32">{esc(shown)}</text>',
    ]
    # time axis (years)
    years = max(1, horizon // 12)
    step = 1 if years <= 12 else (2 if years <= 24 else 5)
    for year in range(0, years + 1, step):
        month = year * 12
        if month > horizon:
            break
        out.append(f'<line x1="{x(month)}" y1="40" x2="{x(month)}" y2="{bottom}" stroke="#dddddd"/>')
        out.append(f'<text x="{x(month)}" y="{bottom + 16}" text-anchor="middle">{year}</text>')
    out.append(f'<text x="{left + plot}" y="{bottom + 32}" text-anchor="end">{esc(lab["surveillance_years"])}</text>')
    colours = {"default": "#b03a2e", "minimised": "#1f618d"}
    lanes = {"default": lab["surveillance_default_plan"], "minimised": lab["surveillance_minimised_plan"]}
    for plan in s.plans:
        lane = lane_y[plan.id]
        lane_label = lanes[plan.id]
        weight = ' font-weight="bold"' if plan.recommended else ""
        out.append(f'<text x="10" y="{lane + 4}" fill="{colours[plan.id]}"{weight}>{esc(lane_label)}</text>')
        if plan.recommended:
            out.append(f'<text x="10" y="{lane + 15}" font-size="9" fill="{colours[plan.id]}">'
                       f"{esc(lab['recommended'])}</text>")
        out.append(f'<line x1="{left}" y1="{lane}" x2="{left + plot}" y2="{lane}" stroke="#999999"/>')
        stacked: dict[int, int] = {}
        for exam in plan.exams:
            stack = stacked.get(exam.offset_months, 0)
            stacked[exam.offset_months] = stack + 1
            cy = lane - 6 * stack
            when = exam.date or lab.fmt("surveillance_month", m=exam.offset_months)
            tip = f"{when}: {exam.label} ({fmt_msv(exam.dose_msv, lab.lang)} mSv)"
            if exam.ionising:
                out.append(f'<circle cx="{x(exam.offset_months)}" cy="{cy}" r="4" fill="{colours[plan.id]}">'
                           f"<title>{esc(tip)}</title></circle>")
            else:
                out.append(f'<circle cx="{x(exam.offset_months)}" cy="{cy}" r="4" fill="white" '
                           f'stroke="{colours[plan.id]}"><title>{esc(tip)}</title></circle>')
    if s.no_follow_up or not any(p.exams for p in s.plans):
        out.append(f'<text x="{left + plot / 2:.1f}" y="76" text-anchor="middle" font-style="italic">'
                   f"{esc(lab['surveillance_no_visit'])}</text>")
    # legend
    legend = left + plot - 230
    out.append(f'<circle cx="{legend}" cy="112" r="4" fill="#555555"/>'
               f'<text x="{legend + 8}" y="116">{esc(lab["surveillance_ionising"])}</text>')
    out.append(f'<circle cx="{legend + 110}" cy="112" r="4" fill="white" stroke="#555555"/>'
               f'<text x="{legend + 118}" y="116">{esc(lab["surveillance_non_ionising"])}</text>')
    # dose axis
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#333333"/>')
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{left + plot}" y2="{bottom}" stroke="#333333"/>')
    for fraction in (0.0, 0.5, 1.0):
        dose = y_max * fraction
        tick = fmt_msv(dose, lab.lang)
        out.append(f'<text x="{left - 6}" y="{float(y(dose)) + 4:.1f}" text-anchor="end">{tick}</text>')
    out.append(f'<text x="10" y="116">{esc(lab["surveillance_dose_axis"])}</text>')
    if show_threshold:
        ty = y(s.radiation_threshold_msv)
        out.append(f'<line x1="{left}" y1="{ty}" x2="{left + plot}" y2="{ty}" stroke="#e67e22" '
                   'stroke-dasharray="2,3"/>')
        out.append(f'<text x="{left + plot}" y="{float(ty) - 4:.1f}" text-anchor="end" fill="#e67e22">'
                   f"{esc(lab.fmt('surveillance_threshold', msv=fmt_msv(s.radiation_threshold_msv, lab.lang)))}</text>")
    for plan in s.plans:
        level = plan.prior_msv
        points = [f"{x(0)},{y(level)}"]
        for exam in plan.exams:
            if exam.dose_msv <= 0:
                continue
            points.append(f"{x(exam.offset_months)},{y(level)}")
            level = plan.prior_msv + exam.cumulative_msv
            points.append(f"{x(exam.offset_months)},{y(level)}")
        points.append(f"{x(horizon)},{y(level)}")
        dash = ' stroke-dasharray="6,3"' if plan.id == "minimised" else ""
        out.append(f'<polyline fill="none" stroke="{colours[plan.id]}" stroke-width="2"{dash} '
                   f'points="{" ".join(points)}"/>')
        out.append(f'<text x="{left + plot + 2}" y="{float(y(level)) - 3:.1f}" text-anchor="end" '
                   f'fill="{colours[plan.id]}">{fmt_msv(plan.total_msv, lab.lang)} mSv</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
