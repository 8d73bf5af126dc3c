"""The board's pages: sign-in, sessions and agenda, cases (form, screen, versions), decisions.

Each route reads or writes through :mod:`cds.board.store` in one transaction, evaluates only
through the report service (:class:`cds.board.web.context.Reports`) and hands a view model to a
template of ``renderers/board/``. Rights are checked on the server (:func:`need`); every POST
carries the CSRF token (:mod:`cds.board.web.csrf`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from cds.board import store as st
from cds.board.web.case_view import case_screen
from cds.board.web.context import SessionUser, lang_of, need, render, reports_of, store_of
from cds.board.web.forms import CaseForm, case_form, check_form
from cds.board.web.whatif import whatif_view
from cds.errors import InputError, InputProblem
from cds.input import parse_patient, validate_patient
from cds.render.i18n import labels

router = APIRouter()

Reader = Annotated[SessionUser, Depends(need("read"))]
Editor = Annotated[SessionUser, Depends(need("edit_cases"))]
Decider = Annotated[SessionUser, Depends(need("decide"))]
Coordinator = Annotated[SessionUser, Depends(need("manage_sessions"))]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _form_fields(form: FormData) -> dict[str, str | list[str]]:
    """The submitted fields: one text each, a list for a field sent more than once (checkboxes)."""
    out: dict[str, str | list[str]] = {}
    for key in form:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = values if len(values) > 1 or key in _LIST_FIELDS else (values[0] if values else "")
    return out


_LIST_FIELDS = frozenset({"comorbidities", "disease.metastatic_sites"})


# ------------------------------------------------------------------ sign in


@router.get("/", response_class=HTMLResponse)
def home(user: Reader) -> Response:
    return _see_other("/sessions")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return render(request, "login.html.j2", error=None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]) -> Response:
    with store_of(request).write() as s:
        user = st.authenticate(s, username, password)
        found = None if user is None else {"id": user.id, "name": user.name, "role": user.role}
    if found is None:
        return render(request, "login.html.j2", status_code=401, error=labels(lang_of(request))["board_login_failed"])
    lang = request.session.get("lang")
    request.session.clear()  # a new session on sign-in (no fixation); the CSRF token is renewed
    request.session["user"] = found
    if lang:
        request.session["lang"] = lang
    return _see_other("/sessions")


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return _see_other("/login")


# ------------------------------------------------------------------ sessions and agenda


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, user: Reader) -> Response:
    with store_of(request).read() as s:
        rows = [{"id": b.id, "date": b.date.isoformat(), "title": b.title, "cases": len(b.agenda)}
                for b in st.list_sessions(s)]
    return render(request, "sessions.html.j2", sessions=rows, today=dt.date.today().isoformat())


@router.post("/sessions")
def create_session(
    request: Request, user: Coordinator, title: Annotated[str, Form()], date: Annotated[dt.date, Form()],
    participants: Annotated[str, Form()] = "",
) -> Response:
    with store_of(request).write() as s:
        created = st.create_session(s, date=date, title=title.strip(), by=st.get_user(s, user.id),
                                    participants=[p.strip() for p in participants.splitlines() if p.strip()])
        sid = created.id
    return _see_other(f"/sessions/{sid}")


def _agenda(request: Request, session_id: int) -> dict[str, Any]:
    with store_of(request).read() as s:
        try:
            board = st.get_session(s, session_id)
        except st.NotFound:
            raise HTTPException(404, labels(lang_of(request))["board_not_found"]) from None
        items = [{"case_id": i.case_id, "position": i.position, "discussed": i.discussed,
                  "label": st.get_case(s, i.case_id).label or ""} for i in board.agenda]
        cases = [{"id": c.id, "label": c.label or ""} for c in st.list_cases(s)]
        return {"board": {"id": board.id, "date": board.date.isoformat(), "title": board.title,
                          "participants": list(board.participants)}, "items": items, "cases": cases}


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def session_page(request: Request, session_id: int, user: Reader) -> Response:
    return render(request, "session.html.j2", **_agenda(request, session_id))


@router.post("/sessions/{session_id}/agenda")
def add_to_agenda(request: Request, session_id: int, user: Coordinator, case_id: Annotated[str, Form()]) -> Response:
    with store_of(request).write() as s:
        st.add_to_agenda(s, session_id, case_id, st.get_user(s, user.id))
    return _agenda_response(request, session_id)


@router.post("/sessions/{session_id}/agenda/move")
def move_on_agenda(
    request: Request, session_id: int, user: Coordinator, case_id: Annotated[str, Form()],
    step: Annotated[int, Form()],
) -> Response:
    with store_of(request).write() as s:
        order = [i.case_id for i in st.get_session(s, session_id).agenda]
        if case_id in order:
            i = order.index(case_id)
            j = max(0, min(len(order) - 1, i + (1 if step > 0 else -1)))
            order[i], order[j] = order[j], order[i]
            st.reorder_agenda(s, session_id, order, st.get_user(s, user.id))
    return _agenda_response(request, session_id)


@router.post("/sessions/{session_id}/agenda/discussed")
def mark_discussed(
    request: Request, session_id: int, user: Decider, case_id: Annotated[str, Form()],
    discussed: Annotated[bool, Form()],
) -> Response:
    with store_of(request).write() as s:
        st.mark_discussed(s, session_id, case_id, discussed, st.get_user(s, user.id))
    return _agenda_response(request, session_id)


def _agenda_response(request: Request, session_id: int) -> Response:
    """The agenda fragment for htmx, the whole page otherwise (after a redirect)."""
    if request.headers.get("hx-request"):
        return render(request, "_agenda.html.j2", **_agenda(request, session_id))
    return _see_other(f"/sessions/{session_id}")


# ------------------------------------------------------------------ case form


def _form(request: Request, values: Any = None, problems: Any = ()) -> CaseForm:
    """The case form in the page language, the option of a prior treatment chosen from the catalogue."""
    kb = reports_of(request).engine.kb
    lab = labels(lang_of(request), kb)
    return case_form(lang_of(request), values, problems, options={o: lab.option(o) for o in kb.options})


def _known_options(request: Request) -> list[str]:
    return list(reports_of(request).engine.kb.options)


@router.get("/cases/new", response_class=HTMLResponse)
def new_case_page(request: Request, user: Editor) -> Response:
    return render(request, "case_form.html.j2", form=_form(request), case=None, checked=False,
                  stale=None)


@router.post("/cases/validate", response_class=HTMLResponse)
async def validate_case_form(request: Request, user: Reader) -> Response:
    """The form again with each problem beside its field (htmx swaps it in as the person types).

    Open to every signed-in role: it writes nothing, and the what-if page (which a viewer may
    use) checks its fields through it too.
    """
    fields = _form_fields(await request.form())
    data, _, problems = check_form(fields, _known_options(request))
    return render(request, "_case_form.html.j2", form=_form(request, data, problems), checked=True)


@router.post("/cases/upload", response_class=HTMLResponse)
async def upload_case(request: Request, user: Editor, patient: UploadFile) -> Response:
    """A patient file read into the form (not saved): its problems shown as the CLI words them.

    The file is a patient JSON (the input contract) or a FHIR R4 Bundle from the EHR: a bundle
    is mapped first (:func:`cds.fhir.map_bundle`, decision date today) and the mapping report
    (each field found, missing, ambiguous or derived, with the resources it came from) is shown
    above the form, so the member completes what the record lacks before saving. The EHR's
    patient id is left out: a case carries a pseudonymous label only.
    """
    raw = await patient.read()
    name = patient.filename or "upload"
    data: Any = {}
    problems: list[InputProblem] = []
    mapping: list[dict[str, Any]] | None = None
    try:
        text = raw.decode("utf-8-sig")
        data = json.loads(text)
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            data, mapping, problems = _map_bundle(data)
            text = json.dumps(data)
        parse_patient(text, source=name, known_options=_known_options(request))
    except UnicodeDecodeError:
        problems = [InputProblem("", "the file is not UTF-8 text")]
    except json.JSONDecodeError:
        try:
            parse_patient(raw.decode("utf-8-sig"), source=name)
        except InputError as exc:
            problems = list(exc.problems)
    except InputError as exc:
        problems = problems + list(exc.problems)
    values = data if isinstance(data, dict) else {}
    return render(request, "case_form.html.j2", form=_form(request, values, problems), case=None,
                  checked=True, stale=None, mapping=mapping)


def _map_bundle(bundle: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], list[InputProblem]]:
    """A FHIR bundle as patient data, its mapping report rows, and what could not be read."""
    from cds.fhir import BundleError, map_bundle

    try:
        result = map_bundle(bundle, dt.date.today())
    except BundleError as exc:
        return {}, [], [InputProblem("", f"the FHIR bundle cannot be read: {exc}")]
    rows = [row.as_dict() for row in result.report]
    data = {key: value for key, value in result.patient.items() if key != "id"}  # the EHR's id is not pseudonymous
    return data, rows, [InputProblem("", problem) for problem in result.problems]


@router.post("/cases", response_class=HTMLResponse)
async def create_case(request: Request, user: Editor) -> Response:
    fields = _form_fields(await request.form())
    data, patient, problems = check_form(fields, _known_options(request))
    if patient is None:
        return render(request, "case_form.html.j2", status_code=422, case=None, checked=True, stale=None,
                      form=_form(request, data, problems))
    with store_of(request).write() as s:
        case = st.create_case(s, data, data.get("id"), st.get_user(s, user.id))
        case_id = case.id
    return _see_other(f"/cases/{case_id}")


@router.get("/cases/{case_id}/edit", response_class=HTMLResponse)
def edit_case_page(request: Request, case_id: str, user: Editor) -> Response:
    with store_of(request).read() as s:
        version = _latest(request, s, case_id)
        data, number = st.patient_of(version), version.version
    return render(request, "case_form.html.j2", form=_form(request, data), checked=False,
                  case={"id": case_id, "version": number}, stale=None)


@router.post("/cases/{case_id}", response_class=HTMLResponse)
async def save_case(request: Request, case_id: str, user: Editor) -> Response:
    form = await request.form()
    base = int(str(form.get("base_version") or 0))
    fields = _form_fields(form)
    data, patient, problems = check_form(fields, _known_options(request))
    case = {"id": case_id, "version": base}
    if patient is None:
        return render(request, "case_form.html.j2", status_code=422, case=case, checked=True, stale=None,
                      form=_form(request, data, problems))
    try:
        with store_of(request).write() as s:
            st.save_case_version(s, case_id, data, base, st.get_user(s, user.id))
    except st.StaleVersion:
        with store_of(request).read() as s:
            latest = st.get_case(s, case_id).latest
        stale = labels(lang_of(request)).fmt("board_stale", latest=latest, base=base)
        return render(request, "case_form.html.j2", status_code=409, case=case, checked=True, stale=stale,
                      form=_form(request, data))
    return _see_other(f"/cases/{case_id}")


# ------------------------------------------------------------------ case screen


def _latest(request: Request, s: Any, case_id: str) -> Any:
    try:
        return st.latest_version(s, case_id)
    except st.NotFound:
        raise HTTPException(404, labels(lang_of(request))["board_not_found"]) from None


def _case_report(request: Request, case_id: str) -> tuple[dict[str, Any], Any]:
    with store_of(request).read() as s:
        version = _latest(request, s, case_id)
        case = st.get_case(s, case_id)
        info = {"id": case_id, "label": case.label or "", "version": version.version,
                "input_hash": version.input_hash}
        data = st.patient_of(version)
        decisions = [{"id": d.id, "evaluation_id": d.evaluation_id, "chosen": d.chosen, "concordant": d.concordant,
                      "deviation_reason": d.deviation_reason, "deviation_text": d.deviation_text or "",
                      "free_text": d.free_text, "participants": list(d.participants),
                      "decided_on": d.decided_on.isoformat(), "evaluation": _evaluation_info(s, d.evaluation_id)}
                     for d in st.decisions_of(s, case_id)]
    info["decisions"] = decisions
    patient = validate_patient(data, f"case {case_id}")
    report = reports_of(request).report(patient, lang_of(request), key=info["input_hash"])
    return info, report


def _evaluation_info(s: Any, evaluation_id: int) -> dict[str, Any]:
    e = st.get_evaluation(s, evaluation_id)
    return {"id": e.id, "input_hash": e.input_hash, "knowledge_version": e.knowledge_version,
            "software_version": e.software_version}


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: str, user: Reader) -> Response:
    info, report = _case_report(request, case_id)
    return render(request, "case.html.j2", case=info, s=case_screen(report), reasons=st.DEVIATION_REASONS,
                  error=None)


@router.get("/cases/{case_id}/pictures", response_class=HTMLResponse)
def case_pictures(request: Request, case_id: str, user: Reader) -> Response:
    """The pathway pictures (route with zoom, full pathway) and the follow-up timeline, drawn on demand."""
    from cds.render.views import view_of

    _, report = _case_report(request, case_id)
    return render(request, "_pictures.html.j2", r=view_of(report, board=True, pictures=True))


# ------------------------------------------------------------------ decisions


@router.post("/cases/{case_id}/decisions", response_class=HTMLResponse)
async def record_decision(request: Request, case_id: str, user: Decider) -> Response:
    form = await request.form()
    chosen = {track: [v for v in form.getlist(f"chosen.{track}") if isinstance(v, str) and v]
              for track in st.TRACKS}
    reason = str(form.get("deviation_reason") or "") or None
    # what was entered, shown again when the decision is refused (nothing typed is lost)
    entered = {"chosen": chosen, "free_text": str(form.get("free_text") or ""),
               "participants": str(form.get("participants") or ""), "deviation_reason": reason or "",
               "deviation_text": str(form.get("deviation_text") or "")}
    info, report = _case_report(request, case_id)
    if int(str(form.get("version") or 0)) != info["version"]:
        error = labels(lang_of(request)).fmt("board_stale", latest=info["version"], base=form.get("version"))
        return render(request, "case.html.j2", status_code=409, case=info, s=case_screen(report),
                      reasons=st.DEVIATION_REASONS, error=error, entered=entered)
    rec = report.recommendation
    try:
        with store_of(request).write() as s:
            by = st.get_user(s, user.id)
            version = st.latest_version(s, case_id)
            evaluation = st.record_evaluation(
                s, version, rec.model_dump_json(), knowledge_version=rec.knowledge_version,
                software_version=rec.software_version or "", lang=report.lang, by=by)
            st.record_decision(
                s, evaluation_id=evaluation.id, chosen=chosen, free_text=str(form.get("free_text") or ""),
                participants=str(form.get("participants") or "").splitlines(), deviation_reason=reason,
                deviation_text=str(form.get("deviation_text") or "") or None, by=by)
    except st.DeviationRequired:
        error = labels(lang_of(request))["board_deviation_required"]
        return render(request, "case.html.j2", status_code=422, case=info, s=case_screen(report),
                      reasons=st.DEVIATION_REASONS, error=error, entered=entered)
    except st.StoreError as exc:
        return render(request, "case.html.j2", status_code=422, case=info, s=case_screen(report),
                      reasons=st.DEVIATION_REASONS, error=str(exc), entered=entered)
    return _see_other(f"/cases/{case_id}#decisions")


# ------------------------------------------------------------------ what if


@router.get("/cases/{case_id}/whatif", response_class=HTMLResponse)
def whatif_page(request: Request, case_id: str, user: Reader) -> Response:
    info, report = _case_report(request, case_id)
    data = report.patient.model_dump(mode="json", exclude_none=True)
    return render(request, "whatif.html.j2", case=info, form=_form(request, data), w=None)


@router.post("/cases/{case_id}/whatif", response_class=HTMLResponse)
async def whatif_run(request: Request, case_id: str, user: Reader) -> Response:
    info, report = _case_report(request, case_id)
    fields = _form_fields(await request.form())
    data, patient, problems = check_form(fields, _known_options(request))
    w = None
    if patient is not None:
        w = whatif_view(report, reports_of(request).report(patient, lang_of(request)))
    form = _form(request, data, problems)
    name = "_whatif_result.html.j2" if request.headers.get("hx-request") else "whatif.html.j2"
    return render(request, name, case=info, form=form, w=w)


__all__ = ["router"]
