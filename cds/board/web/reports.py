"""The board's documents: the minutes of a session (HTML and PDF) and the concordance dashboard (and CSV).

The minutes list each case of the agenda on its own page: the synopsis and the top options the
board saw (from the report service, as on the case screen), and the decision recorded against
that evaluation (chosen options, deviation and its reason, the board's words, who took part,
the input hash and the knowledge and software versions it refers to). The dashboard counts
decisions against the system's top option by site, category, month and deviation reason (the
compliance analysis OncoDoc2 ran); its CSV has one row per decision and track.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from cds.board import store as st
from cds.board.web.case_view import case_screen
from cds.board.web.context import SessionUser, lang_of, need, render, reports_of, store_of
from cds.input import validate_patient
from cds.model.recommendation import DISCLAIMER
from cds.render.i18n import labels
from cds.render.templates import environment
from cds.version import SOFTWARE_VERSION

router = APIRouter()
Reader = Annotated[SessionUser, Depends(need("read"))]

#: The columns of the concordance CSV.
CSV_COLUMNS = ("decision_id", "decided_on", "case_id", "site", "category", "track", "top_option", "chosen",
               "concordant", "deviation_reason")


@dataclass(frozen=True)
class MinutesDecision:
    """The decision recorded on a case, as the minutes print it."""

    decided_on: str
    chosen: dict[str, list[str]]
    concordant: bool
    deviation_reason: str | None
    deviation_text: str | None
    free_text: str
    participants: list[str]
    input_hash: str
    knowledge_version: str
    software_version: str


@dataclass(frozen=True)
class MinutesCase:
    """One case of the agenda: what the board saw and what it decided."""

    position: int
    case_id: str
    label: str
    discussed: bool
    version: int
    synopsis: list[str]
    top: dict[str, list[str]]
    decisions: list[MinutesDecision] = field(default_factory=list)


@dataclass(frozen=True)
class Minutes:
    """The minutes of one session."""

    title: str
    date: str
    participants: list[str]
    lang: str
    cases: list[MinutesCase]
    knowledge_version: str
    software_version: str = SOFTWARE_VERSION
    disclaimer: str = DISCLAIMER


def minutes(request: Request, session_id: int) -> Minutes:
    """Gather the minutes of a session from the store and the report service.

    Parameters
    ----------
    request
        The request (the app's store and reports, the page language).
    session_id
        The session.

    Returns
    -------
    Minutes
        One entry per agenda item, in agenda order.

    Raises
    ------
    fastapi.HTTPException
        404 when there is no such session.
    """
    lang = lang_of(request)
    lab = labels(lang)
    reports = reports_of(request)
    engine = reports.engine
    cases: list[MinutesCase] = []
    with store_of(request).read() as s:
        try:
            board = st.get_session(s, session_id)
        except st.NotFound:
            raise HTTPException(404, lab["board_not_found"]) from None
        for item in board.agenda:
            case = st.get_case(s, item.case_id)
            version = st.latest_version(s, item.case_id)
            patient = validate_patient(st.patient_of(version), item.case_id, engine.kb.options)
            screen = case_screen(reports.report(patient, lang, key=version.input_hash))
            top = {track.id: [o.label for o in track.options[:1]] for track in screen.tracks}
            decided = []
            for d in st.decisions_of(s, item.case_id):
                ev = st.get_evaluation(s, d.evaluation_id)
                names = {t: [lab.option(o) for o in opts] for t, opts in d.chosen.items() if opts}
                decided.append(MinutesDecision(
                    decided_on=d.decided_on.isoformat(), chosen=names, concordant=d.concordant,
                    deviation_reason=(lab[f"board_dev_{d.deviation_reason}"] if d.deviation_reason else None),
                    deviation_text=d.deviation_text, free_text=d.free_text, participants=list(d.participants),
                    input_hash=ev.input_hash, knowledge_version=ev.knowledge_version,
                    software_version=ev.software_version))
            cases.append(MinutesCase(item.position, item.case_id, case.label or "", item.discussed, version.version,
                                     list(screen.synopsis), top, decided))
        return Minutes(board.title, board.date.isoformat(), list(board.participants), lang, cases,
                       engine.kb.version)


def minutes_html(record: Minutes) -> str:
    """The minutes as a self-contained, printable HTML page (one case per page).

    Parameters
    ----------
    record
        From :func:`minutes`.

    Returns
    -------
    str
        The page.
    """
    lab = labels(record.lang)
    return environment().get_template("board/minutes.html.j2").render(
        m=record, t=lab.t, lang=record.lang, colon=" : " if record.lang == "fr" else ": ")


def minutes_pdf(record: Minutes) -> bytes:
    """The minutes as PDF (WeasyPrint, A4), from the same HTML.

    Parameters
    ----------
    record
        From :func:`minutes`.

    Returns
    -------
    bytes
        The PDF.
    """
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf: bytes = HTML(string=minutes_html(record)).write_pdf()
    return pdf


@router.get("/sessions/{session_id}/minutes", response_class=HTMLResponse)
def minutes_page(request: Request, session_id: int, user: Reader) -> Response:
    """The minutes of a session, as a page to read or print."""
    return HTMLResponse(minutes_html(minutes(request, session_id)))


@router.get("/sessions/{session_id}/minutes.pdf")
def minutes_pdf_file(request: Request, session_id: int, user: Reader) -> Response:
    """The minutes of a session as a PDF download."""
    record = minutes(request, session_id)
    name = f"minutes-{record.date}-session-{session_id}-{record.lang}.pdf"
    return Response(minutes_pdf(record), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ------------------------------------------------------------------ concordance


def _period(request: Request) -> tuple[dt.date | None, dt.date | None]:
    def day(name: str) -> dt.date | None:
        text = request.query_params.get(name) or ""
        try:
            return dt.date.fromisoformat(text) if text else None
        except ValueError:
            raise HTTPException(400, labels(lang_of(request)).fmt("board_bad_date", field=name, value=text)) from None

    return day("start"), day("end")


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, user: Reader) -> Response:
    """Concordance of the board's decisions with the top-ranked option, by site, category, month and reason."""
    start, end = _period(request)
    lab = labels(lang_of(request))
    with store_of(request).read() as s:
        groups = {by: st.concordance_summary(s, by, start=start, end=end)
                  for by in ("site", "category", "period", "deviation_reason")}
    total = sum(g.decisions for g in groups["site"])
    concordant = sum(g.concordant for g in groups["site"])

    def name(by: str, key: str) -> str:
        if by == "site":
            return lab.value("tumour.primary_site", key)
        if by == "category":
            return lab.derived_value("category", key)
        if by == "deviation_reason":
            return lab[f"board_dev_{key}"] if key != "none" else lab["board_concordant"]
        return key

    tables = {by: [{"key": name(by, g.key), "decisions": g.decisions, "concordant": g.concordant,
                    "rate": f"{g.rate * 100:.0f} %"} for g in rows] for by, rows in groups.items()}
    query = "&".join(f"{k}={v}" for k, v in (("start", start), ("end", end)) if v)
    return render(request, "dashboard.html.j2", tables=tables, total=total, concordant=concordant,
                  rate=(f"{concordant / total * 100:.0f} %" if total else "-"), start=start or "", end=end or "",
                  csv_url="/dashboard.csv" + (f"?{query}" if query else ""))


def concordance_csv(rows: Iterator[st.ConcordanceRow]) -> Iterator[str]:
    """The CSV text of concordance rows, line by line (header first).

    Parameters
    ----------
    rows
        From :func:`cds.board.store.concordance_rows`.

    Yields
    ------
    str
        One CSV line each.

    Examples
    --------
    >>> row = st.ConcordanceRow(1, dt.date(2026, 12, 1), "C-2026-0001", "pancreas", "net_g2", "anti_tumour", "ssa",
    ...                         ("ssa",), True, None)
    >>> print("".join(concordance_csv(iter([row]))), end="")
    decision_id,decided_on,case_id,site,category,track,top_option,chosen,concordant,deviation_reason
    1,2026-12-01,C-2026-0001,pancreas,net_g2,anti_tumour,ssa,ssa,yes,
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    for r in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([r.decision_id, r.decided_on.isoformat(), r.case_id, r.site, r.category, r.track,
                         r.top or "", "+".join(r.chosen), "yes" if r.concordant else "no", r.deviation_reason or ""])
        yield buffer.getvalue()


@router.get("/dashboard.csv")
def dashboard_csv(request: Request, user: Reader) -> Response:
    """Every decision and track as CSV (ids and codes only, no patient data beyond the case id)."""
    start, end = _period(request)
    with store_of(request).read() as s:
        body = "".join(concordance_csv(st.concordance_rows(s, start=start, end=end)))
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="concordance.csv"'})


__all__ = ["CSV_COLUMNS", "Minutes", "MinutesCase", "MinutesDecision", "concordance_csv", "minutes",
           "minutes_html", "minutes_pdf", "router"]
