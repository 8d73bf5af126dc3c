"""The board's web layer: the case form (from the JSON Schema, with the CLI's messages), the case
screen, sign-in, roles, CSRF, case versions, decisions, agenda and what-if, end to end on an
in-memory database through FastAPI's TestClient."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds import default_engine
from cds.board.app import BoardConfig, create_app
from cds.board.store import Store, create_user
from cds.board.web.case_view import case_screen
from cds.board.web.forms import case_form, check_form
from cds.engine import Engine
from cds.errors import InputError
from cds.input import validate_patient
from cds.render.i18n import catalogue, labels
from cds.report import build_report
from cds.resources import examples_dir

PASSWORD = "correct horse battery"
PNET = {"fit_for_major_surgery": False, "tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1,
                                                    "differentiation": "well"}, "disease": {"stage": "localized"}}
PNET_FORM = {"fit_for_major_surgery": "false", "tumour.primary_site": "pancreas", "tumour.size_mm": "15",
             "tumour.ki67_percent": "1", "tumour.differentiation": "well", "disease.stage": "localized"}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return default_engine()


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    st = Store("sqlite://")
    with st.write() as s:
        for name, role in (("cora", "coordinator"), ("mel", "member"), ("vic", "viewer")):
            create_user(s, name, PASSWORD, role)
    yield st
    st.dispose()


@pytest.fixture(scope="module")
def app(store: Store, engine: Engine) -> Any:
    return create_app(BoardConfig("sqlite://", "test-secret-key"), store=store, engine=lambda: engine)


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token in the page"
    return found.group(1)


def _client(app: Any, name: str | None = None) -> TestClient:
    client = TestClient(app, base_url="https://testserver")  # the session cookie is Secure
    if name is not None:
        token = _token(client.get("/login").text)
        r = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
    return client


def _csrf(client: TestClient) -> str:
    return _token(client.get("/sessions").text)


def _new_case(client: TestClient, fields: dict[str, str] | None = None) -> str:
    r = client.post("/cases", data={**(fields or PNET_FORM), "csrf_token": _csrf(client)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(r.headers["location"]).rsplit("/", 1)[-1]


# ------------------------------------------------------------------ the form, without the database


def test_form_follows_the_schema() -> None:
    form = case_form("en")
    site = form.field("tumour.primary_site")
    assert site.widget == "select" and site.required and [c.value for c in site.choices][:2] == ["pancreas",
                                                                                                  "small_intestine"]
    ki67 = form.field("tumour.ki67_percent")
    assert (ki67.widget, ki67.minimum, ki67.maximum) == ("number", 0, 100)
    assert form.field("age").widget == "integer" and form.field("fit_for_major_surgery").widget == "boolean"
    assert form.field("comorbidities").widget == "checkboxes" and form.field("as_of").widget == "date"
    assert [s.name for s in form.sections][:3] == ["general", "tumour", "disease"]
    assert case_form("fr").field("tumour.primary_site").choices[0].label == "pancréas"


def test_form_problems_are_the_cli_messages() -> None:
    fields = {"tumour.primary_site": "pancreas", "tumour.ki67_percent": "150", "age": "abc",
              "comorbidities": ["cirrhosis", "gout"], "disease.stage": "localized",
              "disease.metastatic_sites": ["liver"]}
    data, patient, problems = check_form(fields)
    assert patient is None
    with pytest.raises(InputError) as cli:
        validate_patient(data, "form")
    assert [(p.field, p.message) for p in problems] == [(p.field, p.message) for p in cli.value.problems]
    form = case_form("en", data, problems)
    assert form.field("tumour.ki67_percent").errors == ["must be <= 100 (got 150)"]
    assert form.field("comorbidities").errors and form.field("age").errors
    assert not form.valid


def test_form_round_trip_of_an_example() -> None:
    data = json.loads((examples_dir() / "pnet-04-progressive-after-ssa-everolimus.json").read_text("utf-8"))
    form = case_form("en", data)
    fields: dict[str, str | list[str]] = {}
    for section in form.sections:
        for f in section.fields:
            fields[f.name] = f.values if f.widget == "checkboxes" else f.value
    again, patient, problems = check_form(fields)
    assert problems == [] and patient is not None
    assert validate_patient(again) == validate_patient(data)


def test_case_screen_first_screen(engine: Engine) -> None:
    report = build_report(engine, validate_patient(PNET), "fr")
    screen = case_screen(report)
    assert screen.synopsis[2:5] == ["pancréas", "localisé", "G1, Ki-67 1 %"]  # the static report's synopsis
    assert screen.synopsis[0] == "Âge : non renseigné"  # not stated, never guessed
    top = screen.tracks[0].options[0]
    assert top.rank == 1 and top.lead is not None and top.category_text == "recommandé"
    assert len(screen.tracks[0].options) <= 3


# ------------------------------------------------------------------ sign-in, roles, CSRF


def test_login_required_and_login_failure(app: Any) -> None:
    client = _client(app)
    r = client.get("/sessions", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    token = _token(client.get("/login").text)
    r = client.post("/login", data={"username": "mel", "password": "wrong password", "csrf_token": token})
    assert r.status_code == 401 and "Unknown user or wrong password." in r.text


def test_cookie_flags(app: Any) -> None:
    r = _client(app).get("/login")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "http" not in csp


def test_french_pages_have_no_english_words(app: Any) -> None:
    """Every board page in French uses the French words of renderers/i18n.yaml, never the English ones."""
    client = _client(app, "cora")
    case_id = _new_case(client)
    english = {v.en for k, v in catalogue().ui.items() if k.startswith("board_") and v.en != v.fr and len(v.en) > 3}
    for url in ("/sessions", f"/cases/{case_id}", "/cases/new", f"/cases/{case_id}/whatif", "/dashboard"):
        page = re.sub(r"<script.*?</script>|<style.*?</style>", "", client.get(url + "?lang=fr").text, flags=re.S)
        page = re.sub(r'<span lang="en">.*?</span>', " ", page, flags=re.S)  # registry texts, quoted as registered
        text = re.sub(r"<[^>]+>", " ", page)
        found = sorted(w for w in english if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text))
        assert not found, (url, found[:5])


def test_post_without_csrf_token_is_refused(app: Any) -> None:
    client = _client(app, "mel")
    r = client.post("/cases", data=PNET_FORM)
    assert r.status_code == 403
    r = client.post("/cases", data={**PNET_FORM, "csrf_token": "forged"})
    assert r.status_code == 403
    r = client.post("/cases/validate", data=PNET_FORM, headers={"X-CSRF-Token": _csrf(client)})
    assert r.status_code == 200  # htmx sends the token as a header


def test_viewer_cannot_write(app: Any) -> None:
    client = _client(app, "vic")
    assert client.get("/cases/new").status_code == 403
    r = client.post("/sessions", data={"title": "x", "date": "2026-01-05", "csrf_token": _csrf(client)})
    assert r.status_code == 403


# ------------------------------------------------------------------ cases


def test_invalid_case_shows_messages_beside_fields(app: Any) -> None:
    client = _client(app, "mel")
    r = client.post("/cases", data={**PNET_FORM, "tumour.ki67_percent": "150", "csrf_token": _csrf(client)})
    assert r.status_code == 422
    field = re.search(r'data-field="tumour.ki67_percent">.*?</div>', r.text, re.S)
    assert field and "must be &lt;= 100 (got 150)" in field.group(0)


def test_validate_fragment(app: Any) -> None:
    client = _client(app, "mel")
    r = client.post("/cases/validate", data={**PNET_FORM, "csrf_token": _csrf(client)})
    assert r.status_code == 200 and r.text.lstrip().startswith("<div id=\"case-fields\"")
    assert "No problem found." in r.text


def test_upload_fills_the_form(app: Any) -> None:
    client = _client(app, "mel")
    body = json.dumps({"tumour": {"primary_site": "rectum", "size_mm": 8, "ki67_percent": 300}})
    r = client.post("/cases/upload", data={"csrf_token": _csrf(client)},
                    files={"patient": ("p.json", body.encode(), "application/json")})
    assert r.status_code == 200
    assert 'value="rectum" selected' in r.text and "must be &lt;= 100 (got 300)" in r.text


def test_upload_of_a_fhir_bundle_maps_it_and_shows_where_each_field_came_from(app: Any) -> None:
    loinc, icdo3 = "http://loinc.org", "http://terminology.hl7.org/CodeSystem/icd-o-3"
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1960-06-30"},
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
         "recordedDate": "2024-11-02", "code": {"coding": [{"system": icdo3, "code": "C25.4"}]}},
        {"resourceType": "Observation", "id": "k1", "status": "final", "subject": {"reference": "Patient/p1"},
         "effectiveDateTime": "2024-11-10", "code": {"coding": [{"system": loinc, "code": "29593-1"}]},
         "valueQuantity": {"value": 4, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}},
    ]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]}
    client = _client(app, "mel")
    r = client.post("/cases/upload", data={"csrf_token": _csrf(client)},
                    files={"patient": ("bundle.json", json.dumps(bundle).encode(), "application/fhir+json")})
    assert r.status_code == 200
    assert 'value="pancreas" selected' in r.text and 'value="4.0"' in r.text  # mapped into the form
    assert 'value="p1"' not in r.text  # the EHR's patient id does not become the pseudonymous label
    table = r.text[r.text.index('id="mapping"'):r.text.index("</section>", r.text.index('id="mapping"'))]
    assert "tumour.ki67_percent" in table and "Observation/k1" in table and "found" in table
    assert "tumour.differentiation" in table and "missing" in table  # the record lacks it: said, not guessed
    # a file that is a bundle but not a readable one: the reason, nothing saved
    history = b'{"resourceType": "Bundle", "type": "history"}'
    r = client.post("/cases/upload", data={"csrf_token": _csrf(client)},
                    files={"patient": ("bad.json", history, "application/json")})
    assert r.status_code == 200 and "the FHIR bundle cannot be read" in r.text


def test_case_screen_and_versions(app: Any) -> None:
    client = _client(app, "mel")
    case_id = _new_case(client)
    page = client.get(f"/cases/{case_id}").text
    trials = page[page.index('id="d-trials"'):page.index("</details>", page.index('id="d-trials"'))]
    assert "checked on" in trials and 'class="trial trial-' in trials  # one click away, with the dates
    first = page[page.index('id="first-screen"'):page.index('class="more"')]
    assert "pancreas" in first and "Watchful waiting" in first and "recommended" in first
    fr = client.get(f"/cases/{case_id}?lang=fr").text
    assert "Surveillance active" in fr and 'lang="fr"' in fr
    client.get("/sessions?lang=en")
    # an edit makes version 2; an edit from version 1 afterwards is stale and says so
    token = _csrf(client)
    r = client.post(f"/cases/{case_id}", data={**PNET_FORM, "tumour.size_mm": "25", "base_version": "1",
                                                "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/cases/{case_id}", data={**PNET_FORM, "tumour.size_mm": "30", "base_version": "1",
                                                "csrf_token": token})
    assert r.status_code == 409 and "now version 2" in r.text
    assert "version 2" in client.get(f"/cases/{case_id}").text


def test_decisions(app: Any, engine: Engine) -> None:
    client = _client(app, "mel")
    case_id = _new_case(client)
    report = build_report(engine, validate_patient(PNET))
    top = report.recommendation.anti_tumour[0].option
    other = report.recommendation.anti_tumour[1].option
    token = _csrf(client)
    r = client.post(f"/cases/{case_id}/decisions", data={"chosen.anti_tumour": other, "version": "1",
                                                         "csrf_token": token})
    assert r.status_code == 422 and labels("en")["board_deviation_required"] in r.text
    r = client.post(f"/cases/{case_id}/decisions", data={"chosen.anti_tumour": top, "version": "1",
                                                         "free_text": "As proposed.", "participants": "Dr A\nDr B",
                                                         "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/cases/{case_id}").text
    decisions = page[page.index('id="decisions"'):]
    assert "As proposed." in decisions and "Dr A, Dr B" in decisions
    assert report.recommendation.knowledge_version in decisions and "Input fingerprint" in decisions


def test_sessions_and_agenda(app: Any) -> None:
    member = _client(app, "mel")
    case_id = _new_case(member)
    client = _client(app, "cora")
    r = client.post("/sessions", data={"title": "RCP TNE", "date": "2026-01-05", "participants": "Dr A",
                                       "csrf_token": _csrf(client)}, follow_redirects=False)
    assert r.status_code == 303
    sid = str(r.headers["location"]).rsplit("/", 1)[-1]
    token = _csrf(client)
    r = client.post(f"/sessions/{sid}/agenda", data={"case_id": case_id}, headers={"HX-Request": "true",
                                                                                    "X-CSRF-Token": token})
    assert r.status_code == 200 and r.text.startswith('<div id="agenda">') and case_id in r.text
    r = client.post(f"/sessions/{sid}/agenda/discussed", data={"case_id": case_id, "discussed": "true",
                                                                "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert "discussed" in client.get(f"/sessions/{sid}").text
    assert "RCP TNE" in client.get("/sessions").text


def test_whatif(app: Any) -> None:
    client = _client(app, "mel")
    case_id = _new_case(client)
    assert client.get(f"/cases/{case_id}/whatif").status_code == 200
    fields = {**PNET_FORM, "fit_for_major_surgery": "true", "csrf_token": _csrf(client)}
    r = client.post(f"/cases/{case_id}/whatif", data=fields, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.text.startswith('<div id="whatif-result">')
    assert "What moved" in r.text and "Ranking with the changes" in r.text


def test_static_htmx_is_vendored(app: Any) -> None:
    r = _client(app).get("/static/htmx.min.js")
    assert r.status_code == 200 and r.text.startswith("var htmx=")


def test_pathway_pictures_on_demand(app: Any) -> None:
    client = _client(app, "mel")
    case_id = _new_case(client)
    page = client.get(f"/cases/{case_id}").text
    assert f'hx-get="/cases/{case_id}/pictures"' in page and "<svg" not in page  # not drawn until opened
    r = client.get(f"/cases/{case_id}/pictures")
    assert r.status_code == 200 and ("<svg" in r.text or "picture_unavailable" not in r.text)


def test_minutes_and_dashboard(app: Any, engine: Engine) -> None:
    """A decided case on a session's agenda: the minutes (HTML and PDF) and the concordance dashboard and CSV."""
    member = _client(app, "mel")
    case_id = _new_case(member)
    report = build_report(engine, validate_patient(PNET))
    other = report.recommendation.anti_tumour[1].option
    r = member.post(f"/cases/{case_id}/decisions", data={
        "chosen.anti_tumour": other, "version": "1", "deviation_reason": "patient_preference",
        "free_text": "Patient prefers it.", "participants": "Dr A", "csrf_token": _csrf(member)},
        follow_redirects=False)
    assert r.status_code == 303, r.text
    client = _client(app, "cora")
    r = client.post("/sessions", data={"title": "RCP minutes", "date": "2026-02-02", "participants": "Dr A",
                                       "csrf_token": _csrf(client)}, follow_redirects=False)
    sid = str(r.headers["location"]).rsplit("/", 1)[-1]
    client.post(f"/sessions/{sid}/agenda", data={"case_id": case_id, "csrf_token": _csrf(client)})
    html = client.get(f"/sessions/{sid}/minutes").text
    section = html[html.index(f'id="{case_id}"'):]
    assert "Patient prefers it." in section and labels("en")["board_dev_patient_preference"] in section
    assert report.recommendation.knowledge_version in section
    french = client.get(f"/sessions/{sid}/minutes?lang=fr").text
    assert labels("fr")["board_minutes_title"] in french
    client.get("/sessions?lang=en")
    pdf = client.get(f"/sessions/{sid}/minutes.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    dashboard = client.get("/dashboard").text
    en = labels("en")
    assert en["board_by_deviation_reason"] in dashboard and en["board_dev_patient_preference"] in dashboard
    rows = client.get("/dashboard.csv").text.splitlines()
    assert rows[0].startswith("decision_id,decided_on,case_id")
    assert any(case_id in row and ",no,patient_preference" in row for row in rows[1:])
    assert client.get("/dashboard?start=2026-13-01").status_code == 400
    viewer = _client(app, "vic")
    assert viewer.get("/dashboard").status_code == 200  # reading is every role's right


def test_board_demo_seeds_once_and_prints_a_new_password(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cds.cli import app as cli

    runner = CliRunner()
    first = runner.invoke(cli, ["board", "demo", "--no-serve", "--dir", str(tmp_path / "demo")])
    again = runner.invoke(cli, ["board", "demo", "--no-serve", "--dir", str(tmp_path / "demo")])
    assert first.exit_code == 0 and again.exit_code == 0, first.output
    assert "14 example cases on the agenda of session 1" in again.output
    passwords = [re.search(r"password (\S+)", out.output) for out in (first, again)]
    assert all(passwords) and passwords[0].group(1) != passwords[1].group(1)  # type: ignore[union-attr]
    store = Store(f"sqlite:///{tmp_path / 'demo' / 'board.sqlite3'}")
    try:
        assert store.verify_audit() == []
    finally:
        store.dispose()


def test_prior_treatments_are_rows_of_fields() -> None:
    """A list of objects of the contract is entered row by row; each problem shows beside its row's field."""
    fields = {"tumour.primary_site": "pancreas", "prior_treatments.0.option": "ssa",
              "prior_treatments.0.stop_reason": "progression", "prior_treatments.1.option": "everolimus",
              "prior_treatments.1.line": "30", "prior_treatments.2.option": ""}
    data, patient, problems = check_form(fields)
    assert data["prior_treatments"] == [{"option": "ssa", "stop_reason": "progression"},
                                        {"option": "everolimus", "line": 30}]
    assert patient is None and [(p.field, p.message) for p in problems] == [
        ("prior_treatments[1].line", "must be <= 20 (got 30)")]
    form = case_form("en", data, problems)
    assert form.field("prior_treatments.1.line").errors == ["must be <= 20 (got 30)"]
    assert form.field("prior_treatments.2.option").value == ""  # one blank row to add a course
    chosen = case_form("en", data, problems, options={"ssa": "Somatostatin analogue", "everolimus": "Everolimus"})
    assert chosen.field("prior_treatments.0.option").widget == "select"  # chosen from the catalogue
    assert [c.value for c in chosen.field("prior_treatments.0.option").choices] == ["ssa", "everolimus"]
    example = json.loads((examples_dir() / "pnet-04-progressive-after-ssa-everolimus.json").read_text(encoding="utf-8"))
    shown = case_form("fr", example)
    courses = [s for s in shown.sections if s.name.startswith("prior_treatments.")]
    assert len(courses) == len(example["prior_treatments"]) + 1
    assert courses[0].title == "Traitement antérieur 1"
