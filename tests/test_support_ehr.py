"""The stand-in EHR of tests/support/ehr.py: its FHIR server, its key set server, its client.

The client is exercised against a real local endpoint that checks every call with
:class:`cds.hooks.security.TokenVerifier` (``aud`` = the URL called), the way the CDS Hooks
service does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cds.hooks.security import AuthError, TokenVerifier, parse_trust
from tests.support.ehr import Answer, EhrClient, FhirServer, JwksServer, LocalServer, SigningKey, jwks

ISS = "https://ehr.example.org"
PATIENT_URN = "urn:uuid:0b7c1a52-0000-4000-8000-000000000001"


def _bundle() -> dict[str, Any]:
    """A collection Bundle that refers by urn:uuid, as a hand-built EHR export does."""
    def entry(n: int, resource: dict[str, Any]) -> dict[str, Any]:
        return {"fullUrl": f"urn:uuid:0b7c1a52-0000-4000-8000-00000000000{n}", "resource": resource}

    subject = {"reference": PATIENT_URN}
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": PATIENT_URN, "resource": {"resourceType": "Patient", "id": "p1", "gender": "female"}},
        entry(2, {"resourceType": "Condition", "subject": subject, "code": {"text": "pNET"}}),
        entry(3, {"resourceType": "Condition", "id": "c2", "subject": {"reference": "Patient/p1"}}),
        entry(4, {"resourceType": "Observation", "id": "o1", "subject": subject, "status": "final"}),
        entry(5, {"resourceType": "Condition", "id": "other", "subject": {"reference": "Patient/p2"}}),
        entry(6, {"resourceType": "FamilyMemberHistory", "id": "f1", "patient": subject, "status": "completed"}),
    ]}


@pytest.fixture
def fhir() -> Iterator[FhirServer]:
    with FhirServer(_bundle(), access_token="fhir-token") as server:
        yield server


def _get(server: FhirServer, path: str, token: str | None = "fhir-token") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.base_url}/{path}", headers=headers, trust_env=False)


def test_fhir_read_and_search_by_patient(fhir: FhirServer) -> None:
    patient = _get(fhir, "Patient/p1")
    assert patient.status_code == 200 and patient.json()["gender"] == "female"
    assert patient.headers["content-type"] == "application/fhir+json"
    found = _get(fhir, "Condition?patient=p1").json()
    assert (found["resourceType"], found["type"], found["total"]) == ("Bundle", "searchset", 2)
    assert {e["resource"]["subject"]["reference"] for e in found["entry"]} == {"Patient/p1"}, "urn:uuid rewritten"
    assert all(e["search"]["mode"] == "match" for e in found["entry"])
    assert _get(fhir, "Observation?subject=Patient/p1&status=final").json()["total"] == 1
    assert _get(fhir, "FamilyMemberHistory?patient=Patient/p1").json()["total"] == 1
    assert _get(fhir, "Condition?patient=p2").json()["total"] == 1
    assert _get(fhir, "MedicationStatement?patient=p1").json()["total"] == 0
    assert _get(fhir, "Patient?_id=p1").json()["total"] == 1
    assert fhir.request_count == 7
    assert fhir.search_paths()[1] == "/Condition?patient=p1"


def test_fhir_requires_the_bearer_token(fhir: FhirServer) -> None:
    assert _get(fhir, "Patient/p1", token=None).status_code == 401
    assert _get(fhir, "Condition?patient=p1", token="stolen").status_code == 401
    assert _get(fhir, "metadata", token=None).json()["fhirVersion"] == "4.0.1"
    missing = _get(fhir, "Patient/nobody")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"


def test_fhir_authorization_member(fhir: FhirServer) -> None:
    grant = fhir.fhir_authorization("p1")
    assert grant == {"access_token": "fhir-token", "token_type": "Bearer", "expires_in": 300,
                     "scope": "patient/*.read", "subject": "netcds", "patient": "p1"}


def test_jwks_server_serves_counts_and_can_misbehave() -> None:
    key = SigningKey.generate("ES384", "k1")
    with JwksServer(jwks(key)) as server:
        assert httpx.get(server.url, trust_env=False).json()["keys"][0]["kid"] == "k1"
        assert httpx.get(server.base_url + "/elsewhere", trust_env=False).status_code == 404
        server.override = Answer(503, b"")
        assert httpx.get(server.url, trust_env=False).status_code == 503
        assert server.request_count == 3
    assert "d" not in key.public_jwk() and key.public_jwk()["alg"] == "ES384"


class _GuardedService(LocalServer):
    """An endpoint that admits a call only with a token the verifier accepts for the URL called."""

    def __init__(self, verifier: TokenVerifier) -> None:
        super().__init__()
        self.verifier = verifier

    def answer(self, method: str, path: str, authorization: str | None) -> Answer:
        try:
            claims = self.verifier.verify(authorization, self.base_url + path)
        except AuthError as exc:
            return Answer(401, json.dumps({"code": exc.code}).encode())
        return Answer(200, json.dumps({"jti": claims["jti"], "aud": claims["aud"]}).encode())


def test_ehr_client_signs_a_fresh_token_per_request_for_the_url_called() -> None:
    key = SigningKey.generate("ES384", "ehr-1")
    with JwksServer(jwks(key)) as keys, httpx.Client(trust_env=False) as http:
        trust = parse_trust({"issuers": [{"iss": ISS, "jku_allow": [keys.url]}], "allow_http_loopback": True})
        with _GuardedService(TokenVerifier(trust, http=http)) as service:
            ehr = EhrClient(service.base_url, key, ISS, jku=keys.url)
            body = EhrClient.hook_request("patient-view", {"patientId": "p1", "userId": "Practitioner/1"},
                                          fhir_server="http://127.0.0.1:1", fhir_authorization={"access_token": "x"})
            first, second = ehr.call("netcds-patient-view", body), ehr.call("netcds-patient-view", body)
            assert first.status_code == second.status_code == 200
            assert first.json()["jti"] != second.json()["jti"]
            assert first.json()["aud"] == service.base_url + "/cds-services/netcds-patient-view"
            assert ehr.discovery().json()["aud"] == service.base_url + "/cds-services"
            assert ehr.feedback("netcds-patient-view", {"feedback": []}).status_code == 200
            wrong = ehr.call("netcds-patient-view", body, aud=service.base_url + "/cds-services")
            assert (wrong.status_code, wrong.json()["code"]) == (401, "aud")
            assert ehr.request("GET", "cds-services", authorization=None).json()["code"] == "header"
            assert ehr.tokens_sent == 5
            assert keys.request_count == 1
            ehr.close()
    assert body["hook"] == "patient-view" and len(body["hookInstance"]) == 36
