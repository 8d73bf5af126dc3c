"""The EHR harness end to end: a real `cds hooks serve` (uvicorn subprocess) called as an EHR calls it.

The EHR here publishes its key set on a local JWKS server (the trust file allows that ``jku``
prefix, plain http to 127.0.0.1 only), signs a fresh ES384 token per request, and serves the
patient's record from a local FHIR endpoint for the no-prefetch path (tests/support/ehr.py).
Each attack is sent to the running service and must get a 401 (or 413) with nothing leaked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ehr import DROP, EhrClient, FhirServer, JwksServer, SigningKey, forge_token, jwks, make_token
from tests.support.server import ServerProcess, python_command, start_server

ISS = "https://ehr.harness.example"
FIXTURE = Path(__file__).parent / "fixtures" / "fhir" / "pnet-metastatic.json"
SERVICE = "netcds-patient-view"


@dataclass
class Ehr:
    server: ServerProcess
    keys: JwksServer
    key: SigningKey
    client: EhrClient

    def url(self, path: str = f"cds-services/{SERVICE}") -> str:
        return self.client.url(path)

    def post(self, token: str, body: Any = None, path: str = f"cds-services/{SERVICE}") -> httpx.Response:
        return self.client.http.post(self.url(path), json=body if body is not None else _body(),
                                     headers={"Authorization": f"Bearer {token}"})


def _record() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return data


def _patient_id() -> str:
    return next(e["resource"]["id"] for e in _record()["entry"] if e["resource"]["resourceType"] == "Patient")


def _prefetch() -> dict[str, Any]:
    """The fixture's resources as the service's prefetch keys (searchset Bundles)."""
    keys = {"Patient": "patient", "Condition": "conditions", "Observation": "observations",
            "MedicationRequest": "medications", "MedicationStatement": "medicationStatements",
            "MedicationAdministration": "medicationAdministrations", "Procedure": "procedures",
            "DiagnosticReport": "diagnosticReports", "FamilyMemberHistory": "familyHistory"}
    out: dict[str, Any] = {key: {"resourceType": "Bundle", "type": "searchset", "entry": []}
                           for key in set(keys.values()) if key != "patient"}
    for entry in _record()["entry"]:
        resource = entry["resource"]
        key = keys[resource["resourceType"]]
        if key == "patient":
            out["patient"] = resource
        else:
            out[key]["entry"].append({"resource": resource})
    return out


def _body(prefetch: dict[str, Any] | None = None) -> dict[str, Any]:
    return EhrClient.hook_request("patient-view", {"patientId": _patient_id(), "userId": "Practitioner/1"},
                                  prefetch=prefetch if prefetch is not None else _prefetch())


@pytest.fixture(scope="module")
def ehr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ehr]:
    folder = tmp_path_factory.mktemp("ehr")
    key = SigningKey.generate("ES384", "ehr-harness-1")
    with JwksServer(jwks(key)) as keys:
        trust = folder / "trust.json"
        trust.write_text(json.dumps({"issuers": [{"iss": ISS, "jku_allow": [keys.base_url + "/.well-known/"]}],
                                     "allow_http_loopback": True}), encoding="utf-8")
        command = python_command("-m", "cds.cli", "hooks", "serve", "--port", "{port}", "--trust", str(trust),
                                 "--workers", "1", "--database", f"sqlite:///{folder / 'board.sqlite3'}")
        with start_server(command, folder / "server", ready_path="/cds-services", timeout=90) as server:
            client = EhrClient(server.base_url, key, ISS, jku=keys.url)
            yield Ehr(server, keys, key, client)
            client.close()


def test_a_good_call_answers_cards_and_the_key_set_is_fetched_once(ehr: Ehr) -> None:
    first = ehr.client.call(SERVICE, _body())
    second = ehr.client.call(SERVICE, _body())
    assert first.status_code == second.status_code == 200, first.text
    def without_links(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:  # the report link is a fresh id
        return [{k: v for k, v in card.items() if k != "links"} for card in cards]

    assert first.json()["cards"]
    assert without_links(first.json()["cards"]) == without_links(second.json()["cards"])  # uuids included
    assert ehr.client.discovery().status_code == 200
    assert ehr.keys.request_count == 1  # cached: one fetch for three calls


@pytest.mark.parametrize("attack", ["alg_none", "hs256_with_the_public_key", "wrong_key", "wrong_aud", "expired",
                                    "no_exp", "unknown_issuer", "jku_elsewhere", "no_token", "garbage"])
def test_attacks_are_refused_with_401_and_nothing_leaked(ehr: Ehr, attack: str) -> None:
    url = ehr.url()
    if attack == "alg_none":
        header = {"alg": "none", "typ": "JWT", "kid": ehr.key.kid, "jku": ehr.keys.url}
        payload = {"iss": ISS, "aud": url, "exp": 4102444800, "iat": 1700000000, "jti": "none-1"}
        token = forge_token(header, payload)
    elif attack == "hs256_with_the_public_key":
        import hashlib
        import hmac

        secret = ehr.key.public_pem()
        header = {"alg": "HS256", "typ": "JWT", "kid": ehr.key.kid, "jku": ehr.keys.url}
        payload = {"iss": ISS, "aud": url, "exp": 4102444800, "iat": 1700000000, "jti": "hs-1"}
        token = forge_token(header, payload, lambda data: hmac.new(secret, data, hashlib.sha256).digest())
    elif attack == "wrong_key":  # a valid signature by another key claiming the same kid
        other = SigningKey("ES384", ehr.key.kid, SigningKey.generate("ES384").private)
        token = make_token(other, iss=ISS, aud=url, jku=ehr.keys.url)
    elif attack == "wrong_aud":
        token = make_token(ehr.key, iss=ISS, aud=ehr.url("cds-services"), jku=ehr.keys.url)
    elif attack == "expired":
        token = make_token(ehr.key, iss=ISS, aud=url, jku=ehr.keys.url, now=1_700_000_000)
    elif attack == "no_exp":
        token = make_token(ehr.key, iss=ISS, aud=url, jku=ehr.keys.url, claims={"exp": DROP})
    elif attack == "unknown_issuer":
        token = make_token(ehr.key, iss="https://intruder.example", aud=url, jku=ehr.keys.url)
    elif attack == "jku_elsewhere":
        token = make_token(ehr.key, iss=ISS, aud=url, jku="https://intruder.example/.well-known/jwks.json")
    elif attack == "no_token":
        token = ""
    else:
        token = "not.a.jwt"
    before = ehr.keys.request_count
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = ehr.client.http.post(url, json=_body(), headers=headers)
    assert response.status_code == 401 and response.headers.get("www-authenticate") == "Bearer"
    assert response.json() == {"error": "unauthorized", "message": "a valid bearer token is required"}
    if attack in ("unknown_issuer", "jku_elsewhere"):
        assert ehr.keys.request_count == before  # refused before any key was fetched


def test_a_replayed_token_is_refused(ehr: Ehr) -> None:
    token = make_token(ehr.key, iss=ISS, aud=ehr.url(), jku=ehr.keys.url)
    assert ehr.post(token).status_code == 200
    replay = ehr.post(token)
    assert replay.status_code == 401


def test_an_oversized_body_is_413(ehr: Ehr) -> None:
    token = make_token(ehr.key, iss=ISS, aud=ehr.url(), jku=ehr.keys.url)
    response = ehr.client.http.post(ehr.url(), content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert response.status_code == 413


def test_no_prefetch_the_service_reads_the_ehr_fhir_server_with_its_token(ehr: Ehr) -> None:
    with FhirServer(_record()) as fhir:
        body = EhrClient.hook_request("patient-view", {"patientId": _patient_id(), "userId": "Practitioner/1"},
                                      fhir_server=fhir.base_url, fhir_authorization=fhir.fhir_authorization())
        fetched = ehr.client.call(SERVICE, body)
        assert fetched.status_code == 200, fetched.text
        prefetched = ehr.client.call(SERVICE, _body())
        assert [c["summary"] for c in fetched.json()["cards"]] == [c["summary"] for c in prefetched.json()["cards"]]
        assert fhir.request_count >= 7
        assert {r.authorization for r in fhir.requests} == {f"Bearer {fhir.access_token}"}


def test_the_service_log_holds_no_patient_data(ehr: Ehr) -> None:
    log = ehr.server.stderr_text() + ehr.server.stdout_text()
    patient = next(e["resource"] for e in _record()["entry"] if e["resource"]["resourceType"] == "Patient")
    assert log.strip(), "the service wrote nothing: the check below would be empty"
    assert "Traceback" not in log and "birthDate" not in log
    assert not re.search(rf"\b{re.escape(patient['id'])}\b", log) and patient["birthDate"] not in log
