"""The CDS Hooks service over real HTTP: uvicorn on 127.0.0.1, signed JWTs, golden request/response pairs.

The EHR is played by this file: it signs ES384 JWTs with a key it made, serves the patient's data
from a local FHIR endpoint (another uvicorn in a thread) for the no-prefetch path, and compares
the cards with ``tests/golden/hooks/*.cards.json`` (uuids included: they are deterministic; the
report link's random id and the port are masked). ``NETCDS_UPDATE_GOLDEN=1`` rewrites them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cds.hooks.app import HooksSettings, create_app
from cds.hooks.cards import SUMMARY_MAX
from cds.hooks.registry import SERVICES
from cds.hooks.security import TokenVerifier, load_trust
from cds.isolation import Evaluator
from cds.knowledge import load_knowledge
from cds.model.recommendation import DISCLAIMER
from cds.version import SOFTWARE_VERSION
from tests.support.ports import free_port
from tests.support.server import python_command, start_server

GOLDEN = Path(__file__).parent / "golden" / "hooks"
ISSUER = "https://ehr.test.invalid"
KID = "ehr-key-1"
AS_OF = dt.date(2026, 6, 1)
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"


# ------------------------------------------------------------------ the EHR's key and tokens

_PRIVATE = ec.generate_private_key(ec.SECP384R1())


def _jwks() -> dict[str, Any]:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(_PRIVATE.public_key()))
    return {"keys": [{**public, "kid": KID, "alg": "ES384", "use": "sig"}]}


def _trust_file(folder: Path) -> Path:
    """A trust file (cds.hooks.security.load_trust) naming the test EHR and its key inline."""
    path = folder / "trust.json"
    path.write_text(json.dumps({"issuers": [{"iss": ISSUER, "keys": _jwks()}]}), encoding="utf-8")
    return path


def _token(aud: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(payload, _PRIVATE, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})


def _auth(aud: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(aud)}"}


# ------------------------------------------------------------------ stand-ins for the branches not merged yet


# ------------------------------------------------------------------ FHIR data of the test patients


def _patient(pid: str = "pv1") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1961-03-14"}


def _condition(cid: str, pid: str, codings: list[dict[str, str]] | None = None, text: str | None = None
               ) -> dict[str, Any]:
    code: dict[str, Any] = {}
    if codings:
        code["coding"] = codings
    if text:
        code["text"] = text
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{pid}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "recordedDate": "2026-01-10", "code": code}


def _observation(oid: str, pid: str, loinc: str, value: float, unit: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": "2026-05-20", "code": {"coding": [{"system": LOINC, "code": loinc}]},
            "valueQuantity": {"value": value, "system": UCUM, "code": unit}}


def _searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"https://ehr.test.invalid/fhir/{r['resourceType']}/{r['id']}", "resource": r}
                      for r in resources]}


def _pnet_prefetch(pid: str = "pv1") -> dict[str, Any]:
    """A metastatic pancreatic NET, Ki-67 12 %, eGFR 20: PRRT and CAPTEM excluded, SSA with caution."""
    return {
        "patient": _patient(pid),
        "conditions": _searchset(
            _condition("c1", pid, [{"system": ICDO3, "code": "C25.4"}, {"system": ICDO3, "code": "8249/3"}]),
            _condition("c2", pid, [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "C78.7"}])),
        "observations": _searchset(_observation("o1", pid, "29593-1", 12, "%"),
                                   _observation("o2", pid, "98979-8", 20, "mL/min/{1.73_m2}")),
        "medications": None, "medicationStatements": None, "medicationAdministrations": None,
        "procedures": None, "diagnosticReports": None, "familyHistory": None,
    }


def _call(hook: str, prefetch: dict[str, Any] | None, pid: str = "pv1", **context: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"hook": hook, "hookInstance": "5e6d4b38-8a51-4a9c-9d43-6a2b1c0f7e21",
                            "context": {"userId": "Practitioner/dr-1", "patientId": pid, **context}}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def _draft(rid: str, text: str, pid: str = "pv1") -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
            "subject": {"reference": f"Patient/{pid}"}, "medicationCodeableConcept": {"text": text}}


def _drafts(*orders: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]}


# ------------------------------------------------------------------ servers in threads


class _Thread:
    """A real uvicorn server in a thread of this process, on a free port of 127.0.0.1."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> _Thread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@dataclass
class _Service:
    url: str
    evaluator: Evaluator
    store: Any

    def post(self, path: str, body: Any, *, token: bool = True, **kw: Any) -> httpx.Response:
        headers = _auth(self.url + path) if token else {}
        return httpx.post(self.url + path, json=body, headers=headers, timeout=60, **kw)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Service]:
    from cds.board.store import Store

    folder = tmp_path_factory.mktemp("hooks")
    port = free_port()
    settings = HooksSettings(base_url=f"http://127.0.0.1:{port}", as_of=AS_OF, board_url="https://board.test.invalid/")
    store = Store(f"sqlite:///{folder / 'board.sqlite3'}")
    with Evaluator(isolated=True, workers=1, timeout=30) as evaluator:
        app = create_app(settings, TokenVerifier(load_trust(_trust_file(folder))), evaluator=evaluator, store=store)
        runner = _Thread(app)
        runner.port = port
        runner.server.config.port = port
        with runner:
            yield _Service(runner.url, evaluator, store)
    store.dispose()


# ------------------------------------------------------------------ golden pairs


def _normalised(cards: list[dict[str, Any]], base: str) -> list[dict[str, Any]]:
    """Cards without what changes from run to run or release to release: the port, report ids, versions."""
    text = json.dumps(cards).replace(base, "<service>")
    text = text.replace(f"netcds {SOFTWARE_VERSION} / knowledge {load_knowledge().version}",
                        "netcds <software> / knowledge <knowledge>")
    out: list[dict[str, Any]] = json.loads(text)
    for card in out:
        for link in card.get("links", []):
            if link["url"].startswith("<service>/reports/"):
                link["url"] = "<service>/reports/<id>"
    return out


def _golden(name: str, service: _Service, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    request_file, cards_file = GOLDEN / f"{name}.request.json", GOLDEN / f"{name}.cards.json"
    if os.environ.get("NETCDS_UPDATE_GOLDEN"):
        request_file.write_text(json.dumps({"path": path, "body": body}, indent=1) + "\n", encoding="utf-8")
    stored = json.loads(request_file.read_text(encoding="utf-8"))
    response = service.post(stored["path"], stored["body"])
    assert response.status_code == 200, response.text
    cards = _normalised(response.json()["cards"], service.url)
    if os.environ.get("NETCDS_UPDATE_GOLDEN"):
        cards_file.write_text(json.dumps(cards, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert cards == json.loads(cards_file.read_text(encoding="utf-8"))
    return cards


def _check_card(card: dict[str, Any]) -> None:
    assert len(card["summary"]) <= SUMMARY_MAX
    assert card["indicator"] in ("info", "warning", "critical")
    assert card["source"]["label"].startswith("netcds ") and " / knowledge " in card["source"]["label"]
    uuid.UUID(card["uuid"])
    for reason in card.get("overrideReasons", []):
        assert reason["display"]
    if "suggestions" in card:
        assert card["selectionBehavior"] == "at-most-one"


def test_patient_view_golden(service: _Service) -> None:
    cards = _golden("patient-view-pnet-metastatic-egfr20", service, "/cds-services/netcds-patient-view",
                    _call("patient-view", _pnet_prefetch()))
    for card in cards:
        _check_card(card)
        assert DISCLAIMER.split(";")[0] in card["detail"]
    indicators = [c["indicator"] for c in cards]
    assert indicators[0] == "critical" and "warning" in indicators and indicators[-1] == "info"
    tracks = [c for c in cards if c["source"]["topic"]["code"] == "anti_tumour"]
    assert len(tracks) == 1 and tracks[0]["summary"].startswith("Anti-tumour treatment: 1. ")
    assert [link["label"] for link in tracks[0]["links"]] == ["Full netcds report", "Open the tumour board"]
    again = service.post("/cds-services/netcds-patient-view", _call("patient-view", _pnet_prefetch())).json()
    assert [c["uuid"] for c in again["cards"]] == [c["uuid"] for c in cards]  # reproducible


def test_patient_without_primary_site_gets_a_missing_data_card(service: _Service) -> None:
    prefetch = {key: None for key in SERVICES["netcds-patient-view"].prefetch}
    prefetch["patient"] = _patient()
    [card] = _golden("patient-view-no-primary-site", service, "/cds-services/netcds-patient-view",
                     _call("patient-view", prefetch))
    assert card["indicator"] == "info" and "primary site" in card["summary"]
    assert "`tumour.primary_site`" in card["detail"]


def test_order_select_on_an_excluded_option(service: _Service) -> None:
    drafts = _drafts(_draft("mr-prrt", "Lutetium (177Lu) oxodotreotide"), _draft("mr-ssa", "Octreotide LAR"))
    cards = _golden("order-select-prrt-excluded", service, "/cds-services/netcds-order-select",
                    _call("order-select", _pnet_prefetch(), selections=["MedicationRequest/mr-prrt"],
                          draftOrders=drafts))
    [card] = cards  # only the selected order is checked
    _check_card(card)
    assert card["indicator"] == "critical" and card["summary"].startswith(
        "Lutetium (177Lu) oxodotreotide: contraindicated for this patient")
    [suggestion] = card["suggestions"]
    assert suggestion["actions"] == [{"type": "delete", "resourceId": "MedicationRequest/mr-prrt",
                                      "description": suggestion["actions"][0]["description"]}]
    assert "Creatinine clearance" in card["detail"]


def test_order_sign_checks_every_draft(service: _Service) -> None:
    drafts = _drafts(_draft("mr-captem", "Capecitabine + temozolomide"), _draft("mr-ssa", "Lanreotide autogel"),
                     _draft("mr-other", "Paracetamol"))
    cards = _golden("order-sign-captem-excluded-ssa-caution", service, "/cds-services/netcds-order-sign",
                    _call("order-sign", _pnet_prefetch(), draftOrders=drafts))
    assert [(c["indicator"], c["suggestions"][0]["actions"][0]["resourceId"] if "suggestions" in c else None)
            for c in cards] == [("critical", "MedicationRequest/mr-captem"), ("warning", None)]


def test_full_report_behind_the_card_link(service: _Service) -> None:
    cards = service.post("/cds-services/netcds-patient-view", _call("patient-view", _pnet_prefetch())).json()["cards"]
    link = next(link["url"] for c in cards for link in c.get("links", []) if "/reports/" in link["url"])
    page = httpx.get(link, timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "does not replace it" in page.text and "script-src" not in page.headers["content-security-policy"]
    assert httpx.get(service.url + "/reports/guessed-id", timeout=30).status_code == 404


# ------------------------------------------------------------------ the cards in French (--lang fr)


@pytest.fixture(scope="module")
def service_fr(service: _Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Service]:
    """The same service with ``lang="fr"``: a second instance sharing the engine workers and the store."""
    port = free_port()
    settings = HooksSettings(base_url=f"http://127.0.0.1:{port}", as_of=AS_OF, board_url="https://board.test.invalid/",
                             lang="fr")
    verifier = TokenVerifier(load_trust(_trust_file(tmp_path_factory.mktemp("hooks-fr"))))
    app = create_app(settings, verifier, evaluator=service.evaluator, store=service.store)
    runner = _Thread(app)
    runner.port = port
    runner.server.config.port = port
    with runner:
        yield _Service(runner.url, service.evaluator, service.store)


#: The cards' English framing: none of it may reach a French card (the hooks_* entries of renderers/i18n.yaml
#: are checked too, cut at their blanks).
ENGLISH_FRAMING = (
    "Anti-tumour treatment", "Antisecretory treatment", "the options netcds ranks first", "For:", "Against:",
    "Excluded", "Safety (", "capped by a safety rule", "to consider", "not recommended", "Depends on data",
    "more option(s)", "What to do", "Full netcds report", "Open the tumour board", "Alert for the tumour board",
    "Missing data", "Data to complete", "Safety of an order", "contraindicated for this patient",
    "according to netcds", "Remove the draft order", "Patient preference", "Other reason",
    "Decided by the tumour board", "netcds cannot rank", "not in the FHIR data", "not read (",
    "supports the decision of a multidisciplinary tumour board",
)


def _english_framing() -> set[str]:
    """Every English piece of the cards' own words (hooks_* and the track titles) that French writes otherwise."""
    import re

    from cds.render.i18n import catalogue

    texts = {k: t for k, t in catalogue().ui.items() if k.startswith("hooks_") or k in ("anti_tumour", "antisecretory")}
    pieces = set(ENGLISH_FRAMING)
    for text in texts.values():
        if text.en == text.fr:
            continue
        for piece in re.split(r"\{[a-z_]+\}", text.en):
            piece = piece.strip(" .:;,()")
            if sum(ch.isalpha() for ch in piece) >= 3 and piece not in text.fr:
                pieces.add(piece)
    return pieces


def _framing_left(card: dict[str, Any]) -> list[str]:
    """The English framing found in a card, once the recommendation's cited source labels and URLs are masked."""
    import re

    text = json.dumps(card, ensure_ascii=False)
    text = re.sub(r"\[[^\]]*\]\([^)]*\)", " ", text)  # cited sources: their own titles, in their own language
    text = re.sub(r"https?://[^\s\")]+", " ", text)
    return sorted(p for p in _english_framing() if re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", text))


def test_french_patient_view_has_no_english_framing(service: _Service, service_fr: _Service) -> None:
    from cds.model.recommendation import disclaimer

    body = _call("patient-view", _pnet_prefetch())
    cards = service_fr.post("/cds-services/netcds-patient-view", body).json()["cards"]
    english = service.post("/cds-services/netcds-patient-view", body).json()["cards"]
    for card in cards:
        _check_card(card)  # summaries still under 140 characters
        assert _framing_left(card) == [], card["summary"]
        assert disclaimer("fr").split(";")[0] in card["detail"] and DISCLAIMER.split(";")[0] not in card["detail"]
    # the same cards, only worded otherwise: uuids, indicators, topic and override codes do not depend on the language
    assert [c["uuid"] for c in cards] == [c["uuid"] for c in english]
    assert [(c["indicator"], c["source"]["topic"]["code"]) for c in cards] == [
        (c["indicator"], c["source"]["topic"]["code"]) for c in english]
    assert [[r["code"] for r in c.get("overrideReasons", [])] for c in cards] == [
        [r["code"] for r in c.get("overrideReasons", [])] for c in english]
    [track] = [c for c in cards if c["source"]["topic"]["code"] == "anti_tumour"]
    assert track["summary"].startswith("Traitement antitumoral : 1. ") and " ; 2. " in track["summary"]
    assert track["source"]["topic"]["display"] == "Traitement antitumoral"
    assert [link["label"] for link in track["links"]] == ["Compte rendu netcds complet", "Ouvrir l'application RCP"]
    assert {r["display"] for r in track["overrideReasons"]} >= {"Préférence du patient", "Autre motif"}
    gaps = cards[-1]
    assert gaps["summary"].startswith("Données à compléter pour un classement plus complet (")
    assert "**Données à compléter dans le dossier**" in gaps["detail"]
    page = httpx.get(track["links"][0]["url"], timeout=30)
    assert page.status_code == 200 and '<html lang="fr">' in page.text


def test_french_order_card(service: _Service, service_fr: _Service) -> None:
    drafts = _drafts(_draft("mr-prrt", "Lutetium (177Lu) oxodotreotide"), _draft("mr-ssa", "Octreotide LAR"))
    body = _call("order-sign", _pnet_prefetch(), draftOrders=drafts)
    cards = service_fr.post("/cds-services/netcds-order-sign", body).json()["cards"]
    english = service.post("/cds-services/netcds-order-sign", body).json()["cards"]
    assert [(c["uuid"], c["indicator"]) for c in cards] == [(c["uuid"], c["indicator"]) for c in english]
    excluded = next(c for c in cards if "suggestions" in c)
    _check_card(excluded)
    assert excluded["summary"].startswith("Lutetium (177Lu) oxodotreotide : contre-indiqué chez ce patient. ")
    assert "Sécurité (contre-indication) : " in excluded["detail"]
    assert excluded["source"]["topic"] == {"system": "urn:netcds:cds-hooks:topic", "code": "order_safety",
                                           "display": "Sécurité d'une prescription"}
    [suggestion] = excluded["suggestions"]
    assert suggestion["label"] == "Supprimer la prescription en cours de saisie : Lutetium (177Lu) oxodotreotide"
    assert [r["code"] for r in excluded["overrideReasons"]] == [
        "board_decision", "data_out_of_date", "benefit_outweighs_risk", "patient_informed_choice", "other"]
    assert excluded["overrideReasons"][0]["display"] == "Décision de la RCP en connaissance de ce risque"
    for card in cards:
        _check_card(card)
        assert _framing_left(card) == [], card["summary"]
    golden = json.loads((GOLDEN / "order-select-prrt-excluded.request.json").read_text(encoding="utf-8"))
    [selected] = service_fr.post(golden["path"], golden["body"]).json()["cards"]
    [english_card] = json.loads((GOLDEN / "order-select-prrt-excluded.cards.json").read_text(encoding="utf-8"))
    assert selected["uuid"] == english_card["uuid"]  # as docs/quickstart/cds-hooks.md says
    assert selected["suggestions"][0]["uuid"] == english_card["suggestions"][0]["uuid"]


def test_french_missing_data_card(service_fr: _Service) -> None:
    prefetch = {key: None for key in SERVICES["netcds-patient-view"].prefetch}
    prefetch["patient"] = _patient()
    [card] = service_fr.post("/cds-services/netcds-patient-view", _call("patient-view", prefetch)).json()["cards"]
    _check_card(card)
    assert card["summary"] == ("netcds ne peut pas classer les options : le site primitif de la tumeur est absent "
                               "des données FHIR")
    assert "- `tumour.primary_site` : " in card["detail"] and card["source"]["topic"]["code"] == "missing_data"
    assert _framing_left(card) == []


# ------------------------------------------------------------------ authentication


def test_discovery_needs_a_token_for_its_own_url(service: _Service) -> None:
    url = service.url + "/cds-services"
    assert httpx.get(url, timeout=30).status_code == 401
    wrong_aud = httpx.get(url, headers=_auth(url + "/netcds-patient-view"), timeout=30)
    assert wrong_aud.status_code == 401 and wrong_aud.json() == {
        "error": "unauthorized", "message": "a valid bearer token is required"}
    found = httpx.get(url, headers=_auth(url), timeout=30)
    assert found.status_code == 200
    services = found.json()["services"]
    assert [(s["id"], s["hook"]) for s in services] == [
        ("netcds-patient-view", "patient-view"), ("netcds-order-select", "order-select"),
        ("netcds-order-sign", "order-sign")]
    assert services[0]["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert all(s["description"] and s["title"] and s["usageRequirements"] for s in services)


def test_a_call_without_a_token_is_refused(service: _Service) -> None:
    r = service.post("/cds-services/netcds-patient-view", _call("patient-view", _pnet_prefetch()), token=False)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("change, fields", [
    ({"hookInstance": "not-a-uuid"}, ["hookInstance"]),
    ({"hook": "order-sign"}, ["hook"]),
    ({"context": {"userId": "Practitioner/1"}}, ["context.patientId"]),
    ({"fhirAuthorization": {"access_token": "t", "token_type": "MAC", "expires_in": 1, "scope": "s",
                            "subject": "netcds"}, "fhirServer": "http://127.0.0.1:9/fhir"},
     ["fhirAuthorization.token_type"]),
])
def test_malformed_requests_name_the_field(service: _Service, change: dict[str, Any], fields: list[str]) -> None:
    body = {**_call("patient-view", _pnet_prefetch()), **change}
    r = service.post("/cds-services/netcds-patient-view", body)
    assert r.status_code == 400, r.text
    problems = r.json()["problems"]
    assert [p["field"] for p in problems] == fields and all(p["message"] for p in problems)


def test_order_select_without_selections_is_400(service: _Service) -> None:
    r = service.post("/cds-services/netcds-order-select",
                     _call("order-select", _pnet_prefetch(), draftOrders=_drafts()))
    assert r.status_code == 400 and [p["field"] for p in r.json()["problems"]] == ["context.selections"]


def test_not_json_is_400(service: _Service) -> None:
    path = "/cds-services/netcds-patient-view"
    r = httpx.post(service.url + path, content=b"{not json", headers=_auth(service.url + path), timeout=30)
    assert r.status_code == 400 and r.json()["problems"][0]["message"] == "expected a JSON object"
    deep = b"[" * 200_000 + b"]" * 200_000  # under the size limit, deeper than the parser goes: 400, not 500
    r = httpx.post(service.url + path, content=deep, headers=_auth(service.url + path), timeout=30)
    assert r.status_code == 400 and "nested too deeply" in r.json()["message"]


def test_unknown_service_is_404(service: _Service) -> None:
    r = service.post("/cds-services/no-such-service", _call("patient-view", _pnet_prefetch()))
    assert r.status_code == 404 and "netcds-patient-view" in r.json()["services"]


def test_oversized_body_is_413_without_reading_it(service: _Service) -> None:
    path = "/cds-services/netcds-patient-view"
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    r = httpx.post(service.url + path, content=big, headers=_auth(service.url + path), timeout=30)
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
        for _ in range(40):
            yield b" " * 65536

    r = httpx.post(service.url + path, content=chunks(), headers=_auth(service.url + path), timeout=30)
    assert r.status_code == 413


def test_no_prefetch_and_no_fhir_server_is_412(service: _Service) -> None:
    prefetch = _pnet_prefetch()
    del prefetch["conditions"]  # the primary site lives there: nothing can be said without it
    r = service.post("/cds-services/netcds-patient-view", _call("patient-view", prefetch))
    assert r.status_code == 412 and r.json()["prefetch"] == ["conditions"]


def test_an_optional_key_that_cannot_be_read_is_named_in_a_card_not_refused(service: _Service) -> None:
    prefetch = _pnet_prefetch()
    del prefetch["observations"]  # Ki-67, ECOG, eGFR unknown: asked for, never guessed
    r = service.post("/cds-services/netcds-patient-view", _call("patient-view", prefetch))
    assert r.status_code == 200
    gap_card = next(c for c in r.json()["cards"] if "prefetch.observations" in c["detail"])
    assert "not read" in gap_card["detail"] and "unknown to netcds" in gap_card["detail"]


# ------------------------------------------------------------------ the EHR's FHIR server


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[tuple[str, list[str]]]:
    """A local FHIR endpoint with the test patient; it records the Authorization headers it gets."""
    data = _pnet_prefetch("pf1")
    seen: list[str] = []
    app = FastAPI()

    @app.get("/fhir/{rtype}/{rid}")
    async def read(rtype: str, rid: str, request: Request) -> JSONResponse:
        seen.append(request.headers.get("authorization", ""))
        if rtype == "Patient" and rid == "pf1":
            return JSONResponse(data["patient"])
        return JSONResponse({"resourceType": "OperationOutcome"}, status_code=404)

    @app.get("/fhir/{rtype}")
    async def search(rtype: str, request: Request) -> JSONResponse:
        seen.append(request.headers.get("authorization", ""))
        if request.query_params.get("patient") == "broken":
            return JSONResponse({"resourceType": "OperationOutcome"}, status_code=500)
        key = {"Condition": "conditions", "Observation": "observations"}.get(rtype)
        page = data.get(key) if key else None
        if request.query_params.get("patient") != "pf1" or page is None:
            return JSONResponse(_searchset())
        if rtype == "Observation" and "page" not in request.query_params:  # two pages, linked
            first = {**page, "entry": page["entry"][:1],
                     "link": [{"relation": "next", "url": f"{request.base_url}fhir/Observation?patient=pf1&page=2"}]}
            return JSONResponse(first)
        if rtype == "Observation":
            return JSONResponse({**page, "entry": page["entry"][1:]})
        return JSONResponse(page)

    with _Thread(app) as runner:
        yield runner.url + "/fhir", seen


def test_no_prefetch_reads_the_fhir_server_with_the_token(service: _Service,
                                                          fhir_server: tuple[str, list[str]]) -> None:
    base, seen = fhir_server
    body = _call("patient-view", None, pid="pf1")
    body["fhirServer"] = base
    body["fhirAuthorization"] = {"access_token": "ehr-access-token", "token_type": "Bearer", "expires_in": 300,
                                 "scope": "user/*.read", "subject": "netcds"}
    fetched = service.post("/cds-services/netcds-patient-view", body)
    assert fetched.status_code == 200, fetched.text
    prefetched = service.post("/cds-services/netcds-patient-view", _call("patient-view", _pnet_prefetch("pf1")))
    summaries = [c["summary"] for c in fetched.json()["cards"]]
    assert summaries == [c["summary"] for c in prefetched.json()["cards"]]  # the same data, the same cards
    assert len(seen) == 10 and set(seen) == {"Bearer ehr-access-token"}  # 9 templates, observations on 2 pages
    body["context"]["patientId"] = "broken"  # the server answers 500 to every search, 404 to the Patient read
    failed = service.post("/cds-services/netcds-patient-view", body)
    assert failed.status_code == 412 and failed.json()["prefetch"] == ["conditions"]
    assert "500" in failed.json()["message"]


# ------------------------------------------------------------------ feedback


def test_feedback_is_recorded_and_audited(service: _Service) -> None:
    from sqlalchemy import select

    from cds.board.models import AuditEntry, HookFeedback
    from cds.board.store import create_user

    with service.store.write() as s:  # the board wrote before: feedback joins the same chain
        create_user(s, "ana", "correct horse battery staple", "coordinator")
    path = "/cds-services/netcds-order-select/feedback"
    body = {"feedback": [
        {"card": "8d4f1f3e-0000-5000-8000-000000000001", "outcome": "overridden",
         "overrideReason": {"reason": {"system": "urn:netcds:cds-hooks:override-reason", "code": "board_decision",
                                       "display": "Decided by the tumour board knowing this risk"},
                            "userComment": "Discussed at the board on 2026-05-28."},
         "outcomeTimestamp": "2026-06-01T10:05:31Z"},
        {"card": "8d4f1f3e-0000-5000-8000-000000000002", "outcome": "accepted",
         "acceptedSuggestions": [{"id": "8d4f1f3e-0000-5000-8000-000000000003"}],
         "outcomeTimestamp": "2026-06-01T10:06:00Z"}]}
    r = service.post(path, body)
    assert r.status_code == 200 and r.json() == {"recorded": 2}
    with service.store.read() as s:
        rows = list(s.execute(select(HookFeedback).order_by(HookFeedback.id)).scalars())
        audit = list(s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
    assert [(row.outcome, row.override_code, row.client) for row in rows[-2:]] == [
        ("overridden", "board_decision", ISSUER), ("accepted", None, ISSUER)]
    assert rows[-1].accepted_suggestions == ["8d4f1f3e-0000-5000-8000-000000000003"]
    assert [a.kind for a in audit[-3:]] == ["user_created", "hook_feedback", "hook_feedback"]
    assert audit[-1].actor == ISSUER and service.store.verify_audit() == []
    bad = service.post(path, {"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "x"}]})
    assert bad.status_code == 400 and bad.json()["problems"][0]["field"] == "feedback[0]"
    assert service.post(path, body, token=False).status_code == 401


# ------------------------------------------------------------------ a dead engine worker


def test_killed_worker_gives_503_with_retry_after_then_recovers(service: _Service) -> None:
    [worker] = service.evaluator.worker_pids()
    os.kill(worker, signal.SIGSTOP)  # hung: the request reaches it and waits
    outcome: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: outcome.append(
        service.post("/cds-services/netcds-patient-view", _call("patient-view", _pnet_prefetch()))))
    thread.start()
    deadline = time.monotonic() + 30
    while service.evaluator.busy_worker_pids() != [worker]:
        assert time.monotonic() < deadline, "the request never reached the worker"
        time.sleep(0.02)
    os.kill(worker, signal.SIGKILL)
    thread.join(30)
    [r] = outcome
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
    assert r.json()["error"] == "unavailable" and "Traceback" not in r.text
    while len(service.evaluator.worker_pids()) != 1:  # replaced in the background
        assert time.monotonic() < deadline + 60, "the worker was not replaced"
        time.sleep(0.05)
    again = service.post("/cds-services/netcds-patient-view", _call("patient-view", _pnet_prefetch()))
    assert again.status_code == 200


# ------------------------------------------------------------------ the command


def test_cds_hooks_serve(tmp_path: Path) -> None:
    trust = _trust_file(tmp_path)
    command = python_command("-m", "cds.cli", "hooks", "serve", "--port", "{port}", "--trust", str(trust),
                             "--workers", "1", "--database", f"sqlite:///{tmp_path / 'board.sqlite3'}", "--lang", "fr")
    with start_server(command, tmp_path / "server", ready_path="/cds-services", timeout=90) as server:
        url = server.base_url + "/cds-services"
        assert httpx.get(url, timeout=30).status_code == 401
        found = httpx.get(url, headers=_auth(url), timeout=30)
        assert found.status_code == 200 and len(found.json()["services"]) == 3
        prefetch = _pnet_prefetch()
        r = httpx.post(url + "/netcds-patient-view", json=_call("patient-view", prefetch),
                       headers=_auth(url + "/netcds-patient-view"), timeout=60)
        assert r.status_code == 200 and r.json()["cards"]
        assert any(c["summary"].startswith("Traitement antitumoral : ") for c in r.json()["cards"])  # --lang fr
    log = server.stderr_text() + server.stdout_text()
    assert "pv1" not in log and "Traceback" not in log and "1961" not in log
