"""CDS Hooks figures: ``patient-view`` over real HTTP, one client, open-loop load, saturation, a worker killed.

    python bench/hooks.py [--workers 2] [--duration 20] [--rates 20,50,100] [--clients 50] [--pin]

Starts ``cds hooks serve`` as a subprocess (uvicorn, isolated engine workers, feedback database
on a temporary SQLite file) trusting one EHR key made here, and calls ``netcds-patient-view``
with a realistic patient in prefetch: 112 FHIR resources (a metastatic pancreatic NET with liver
metastases, Ki-67 measured three times, ECOG, eGFR and blood counts over a year, everyday labs and
vital signs the mapper does not read, lanreotide ongoing and everolimus stopped for toxicity, a
pathology report, comorbidities, a family history). Every request carries a freshly signed ES384
JWT (signed before the clock starts), so the figures include the JWT check, the FHIR parsing
and mapping, the isolated evaluation and the cards.

1. one client, one request at a time: p50 / p99 (target p99 <= 50 ms);
2. open loop at each ``--rates`` (requests due at a fixed rate whatever the answers; latency
   from the due time, so queueing shows): p50 / p99 and errors (target p99 <= 100 ms at 50/s);
3. saturation: ``--clients`` clients back to back: answers per second;
4. a worker killed (SIGKILL) during an open-loop run at 20/s: what the EHR sees (503 with
   Retry-After for the request it held, the rest answered) and how long until both workers serve.

The load generator shares the 2 cores with the server: its own CPU (getrusage) is printed beside
the server's (the server's whole process tree, engine workers included, from /proc). With
``--pin`` the generator runs on CPU 1 and the server tree on CPU 0 as well, to see how much of the
latency the sharing explains. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.loadgen import Request, RunResult, closed_loop, open_loop, saturation
from tests.support.ehr import SigningKey, jwks, make_token
from tests.support.procs import descendants, parent_of
from tests.support.server import python_command, start_server

ISSUER = "https://ehr.bench.example"
SERVICE = "netcds-patient-view"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
ATC = "http://www.whocc.no/atc"


# ------------------------------------------------------------------ the patient's record


def _obs(oid: str, code: str, display: str, value: float, unit: str, when: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "laboratory"}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
            "subject": {"reference": "Patient/bench1"}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def _condition(cid: str, codings: list[dict[str, str]], text: str, recorded: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/bench1"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "code": {"coding": codings, "text": text}, "recordedDate": recorded}


def _medication(mid: str, atc: str, text: str, status: str, start: str, end: str | None = None,
                reason: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": mid, "status": status, "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": ATC, "code": atc}], "text": text},
        "subject": {"reference": "Patient/bench1"}, "authoredOn": start,
        "dispenseRequest": {"validityPeriod": {"start": start, **({"end": end} if end else {})}}}
    if reason:
        res["statusReason"] = {"text": reason}
    return res


def record() -> dict[str, list[dict[str, Any]]]:
    """The patient's resources by prefetch key (112 in all)."""
    dates = ["2025-12-02", "2026-03-03", "2026-06-09", "2026-09-15"]
    observations: list[dict[str, Any]] = []
    for i, (when, ki67) in enumerate(zip(dates[1:], (6, 8, 9), strict=True)):
        observations.append(_obs(f"ki67-{i}", "29593-1", "Ki-67", ki67, "%", when))
    observations.append(_obs("size", "21889-1", "Tumor size", 3.2, "cm", dates[0]))
    observations.append({"resourceType": "Observation", "id": "ecog", "status": "final",
                         "code": {"coding": [{"system": LOINC, "code": "89247-1"}]},
                         "subject": {"reference": "Patient/bench1"}, "effectiveDateTime": dates[-1],
                         "valueInteger": 1})
    read = [("98979-8", "eGFR CKD-EPI 2021", (78, 74, 71, 69), "mL/min/{1.73_m2}"),
            ("777-3", "Platelets", (231, 224, 198, 205), "10*3/uL"),
            ("751-8", "Neutrophils", (4.1, 3.8, 3.2, 3.5), "10*3/uL"),
            ("1975-2", "Bilirubin total", (0.6, 0.7, 0.6, 0.8), "mg/dL")]
    unread = [("718-7", "Hemoglobin", (13.1, 12.8, 12.4, 12.6), "g/dL"),
              ("6690-2", "Leukocytes", (6.8, 6.1, 5.9, 6.3), "10*3/uL"),
              ("2951-2", "Sodium", (139, 141, 138, 140), "mmol/L"),
              ("2823-3", "Potassium", (4.2, 4.0, 4.4, 4.1), "mmol/L"),
              ("2160-0", "Creatinine", (0.9, 0.95, 1.0, 1.02), "mg/dL"),
              ("2345-7", "Glucose", (132, 145, 151, 139), "mg/dL"),
              ("4548-4", "Hemoglobin A1c", (6.9, 7.1, 7.2, 7.0), "%"),
              ("1742-6", "ALT", (22, 25, 31, 27), "U/L"),
              ("1920-8", "AST", (24, 26, 29, 28), "U/L"),
              ("6768-6", "Alkaline phosphatase", (88, 92, 110, 104), "U/L"),
              ("1751-7", "Albumin", (4.1, 4.0, 3.9, 4.0), "g/dL"),
              ("2093-3", "Cholesterol", (182, 175, 169, 171), "mg/dL"),
              ("8867-4", "Heart rate", (72, 76, 70, 74), "/min"),
              ("29463-7", "Body weight", (71, 70.2, 69.5, 69.8), "kg"),
              ("8302-2", "Body height", (168, 168, 168, 168), "cm"),
              ("39156-5", "BMI", (25.2, 24.9, 24.6, 24.7), "kg/m2"),
              ("8310-5", "Body temperature", (36.7, 36.8, 36.6, 36.9), "Cel"),
              ("2708-6", "Oxygen saturation", (98, 97, 98, 98), "%"),
              ("3016-3", "TSH", (1.8, 2.1, 1.9, 2.0), "m[IU]/L")]
    for code, name, values, unit in read + unread:
        for when, value in zip(dates, values, strict=True):
            observations.append(_obs(f"{code}-{when}", code, name, value, unit, when))
    conditions = [
        _condition("pnet", [{"system": ICDO3, "code": "C25.4"}, {"system": ICDO3, "code": "8240/3"}],
                   "Neuroendocrine tumour of the pancreatic body", "2025-11-20"),
        _condition("liver", [{"system": ICD10, "code": "C78.7"}], "Liver metastases", "2025-11-25"),
        _condition("dm2", [{"system": ICD10, "code": "E11.9"}], "Type 2 diabetes", "2019-04-02"),
        _condition("htn", [{"system": ICD10, "code": "I10"}], "Hypertension", "2017-08-14"),
        _condition("gerd", [{"system": ICD10, "code": "K21.9"}], "Reflux", "2015-02-10"),
        _condition("oa", [{"system": ICD10, "code": "M17.1"}], "Knee osteoarthritis", "2020-10-01"),
    ]
    medications = [
        _medication("lan", "H01CB03", "Lanreotide 120 mg every 28 days", "active", "2025-12-15"),
        _medication("eve", "L01EG02", "Everolimus 10 mg daily", "stopped", "2026-03-10", "2026-06-01",
                    reason="stomatitis grade 3, not tolerated"),
        _medication("met", "A10BA02", "Metformin 1000 mg", "active", "2019-04-02"),
        _medication("aml", "C08CA01", "Amlodipine 5 mg", "active", "2017-08-14"),
        _medication("ome", "A02BC01", "Omeprazole 20 mg", "active", "2015-02-10"),
    ]
    procedures = [{"resourceType": "Procedure", "id": "biopsy", "status": "completed",
                   "code": {"text": "Percutaneous liver biopsy"}, "subject": {"reference": "Patient/bench1"},
                   "performedDateTime": "2025-11-24"},
                  {"resourceType": "Procedure", "id": "colono", "status": "completed",
                   "code": {"text": "Colonoscopy"}, "subject": {"reference": "Patient/bench1"},
                   "performedDateTime": "2022-05-03"}]
    reports = [{"resourceType": "DiagnosticReport", "id": "path", "status": "final",
                "code": {"text": "Surgical pathology report"}, "subject": {"reference": "Patient/bench1"},
                "effectiveDateTime": "2025-11-26",
                "conclusion": "Liver biopsy: metastasis of a well-differentiated neuroendocrine tumour, "
                              "Ki-67 6 % (hot spot), 2 mitoses per 2 mm2, consistent with a pancreatic primary."},
               {"resourceType": "DiagnosticReport", "id": "ct", "status": "final",
                "code": {"text": "CT chest abdomen pelvis"}, "subject": {"reference": "Patient/bench1"},
                "effectiveDateTime": "2026-09-10",
                "conclusion": "Stable hepatic metastases (RECIST 1.1: stable disease). No new lesion."}]
    family = [{"resourceType": "FamilyMemberHistory", "id": "father", "status": "completed",
               "patient": {"reference": "Patient/bench1"},
               "relationship": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                            "code": "FTH"}]},
               "condition": [{"code": {"text": "Colon cancer"}}]}]
    patient = {"resourceType": "Patient", "id": "bench1", "gender": "male", "birthDate": "1958-02-11"}
    return {"patient": [patient], "conditions": conditions, "observations": observations,
            "medications": medications, "procedures": procedures, "diagnosticReports": reports,
            "familyHistory": family}


def prefetch(resources: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The prefetch member: the Patient itself, a searchset Bundle for each search."""
    out: dict[str, Any] = {"patient": resources["patient"][0], "medicationStatements": None,
                           "medicationAdministrations": None}  # the EHR has none: null, as the spec says
    for key, items in resources.items():
        if key == "patient":
            continue
        out[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(items),
                    "entry": [{"fullUrl": f"https://ehr.bench.example/fhir/{r['resourceType']}/{r['id']}",
                               "resource": r, "search": {"mode": "match"}} for r in items]}
    return out


# ------------------------------------------------------------------ requests


class Requests:
    """Prepared patient-view calls, each with its own freshly signed token (signed before the clock)."""

    def __init__(self, key: SigningKey, base_url: str) -> None:
        self.key = key
        self.url = f"{base_url}/cds-services/{SERVICE}"
        self.body_prefix = prefetch(record())

    def make(self, _i: int = 0) -> Request:
        body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
                "context": {"userId": "Practitioner/bench", "patientId": "bench1"},
                "prefetch": self.body_prefix}
        token = make_token(self.key, iss=ISSUER, aud=self.url, lifetime=290)
        return Request(f"/cds-services/{SERVICE}", {"Authorization": f"Bearer {token}",
                                                   "Content-Type": "application/json"},
                       json.dumps(body).encode())


# ------------------------------------------------------------------ the server


def engine_workers(server_pid: int) -> list[int]:
    """The pids of the engine workers: the fork server's children among the server's descendants."""
    found = []
    for pid in descendants(server_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"forkserver" in cmdline and parent_of(pid) != server_pid:  # not the fork server itself
            found.append(pid)
    return sorted(found)


def _pin(pids: list[int], cpu: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            os.sched_setaffinity(pid, {cpu})


def _report(result: RunResult) -> None:
    print("  " + result.line(), flush=True)


def kill_during_load(base_url: str, requests: Requests, server_pid: int, rate: float, duration: float) -> None:
    """Open loop at ``rate``; after a third of it, SIGKILL the busiest engine worker."""
    workers = engine_workers(server_pid)
    if not workers:
        print("  worker kill: no engine worker found under the server; skipped")
        return
    victim: list[int] = []

    def running(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat[stat.rindex(")") + 2] == "R"

    def killer() -> None:
        time.sleep(duration / 3)
        before = set(engine_workers(server_pid))
        deadline = time.perf_counter() + duration / 3
        target = None
        while target is None and time.perf_counter() < deadline:  # a worker caught evaluating
            target = next((pid for pid in before if running(pid)), None)
            time.sleep(0.001)
        if target:
            os.kill(target, signal.SIGKILL)
            victim.append(target)
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 30:
                now = set(engine_workers(server_pid))
                if len(now) >= len(before) and target not in now:
                    victim.append(int((time.perf_counter() - t0) * 1000))
                    break
                time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    result = open_loop(base_url, rate, requests.make, duration, server_pid=server_pid)
    thread.join()
    result.name = f"open loop {rate:g}/s, one worker SIGKILLed at {duration / 3:.0f} s"
    _report(result)
    replaced = f"a new worker process within {victim[1]} ms" if len(victim) > 1 else "not seen replaced within 30 s"
    print(f"  killed worker {victim[0] if victim else '-'}: {replaced}; statuses {dict(result.statuses)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="engine worker processes of the service")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per open-loop / saturation run")
    parser.add_argument("--rates", default="20,50,100", help="open-loop rates, requests per second")
    parser.add_argument("--clients", type=int, default=50, help="clients of the saturation run")
    parser.add_argument("--single", type=int, default=300, help="requests of the one-client run")
    parser.add_argument("--pin", action="store_true", help="generator on CPU 1, server tree on CPU 0")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="netcds-bench-hooks-"))
    key = SigningKey.generate("ES384", kid="bench")
    trust = folder / "trust.json"
    trust.write_text(json.dumps({"issuers": [{"iss": ISSUER, "keys": jwks(key)}]}), encoding="utf-8")
    command = python_command("-m", "cds.cli", "hooks", "serve", "--port", "{port}", "--trust", str(trust),
                             "--workers", str(args.workers), "--timeout", "10",
                             "--database", f"sqlite:///{folder / 'feedback.sqlite3'}")
    resources = record()
    print(f"patient-view, prefetch of {sum(len(v) for v in resources.values())} FHIR resources "
          f"({len(json.dumps(prefetch(resources))) // 1024} KiB), {args.workers} engine worker(s), "
          f"{os.cpu_count()} CPUs", flush=True)
    with start_server(command, folder / "server", ready_path="/cds-services", timeout=120) as server:
        pid = server.pid
        requests = Requests(key, server.base_url)
        first = requests.make()
        warm = httpx.post(requests.url, headers=first.headers, content=first.body, timeout=60)
        cards = warm.json().get("cards", []) if warm.status_code == 200 else []
        print(f"warm-up: {warm.status_code}, {len(cards)} cards: "
              + "; ".join(c["summary"][:60] for c in cards[:3]), flush=True)
        if args.pin:
            _pin([pid, *descendants(pid)], 0)
            os.sched_setaffinity(0, {1})
            print("pinned: server tree on CPU 0, generator on CPU 1", flush=True)
        for _ in range(20):  # both workers warm (their first evaluation compiles nothing, but fills caches)
            r = requests.make()
            httpx.post(requests.url, headers=r.headers, content=r.body, timeout=60)

        print("1. one client at a time", flush=True)
        _report(closed_loop(server.base_url, [requests.make() for _ in range(args.single + 1)], server_pid=pid))
        print("2. open loop", flush=True)
        for rate in (float(x) for x in args.rates.split(",")):
            _report(open_loop(server.base_url, rate, requests.make, args.duration, server_pid=pid))
        print(f"3. saturation, {args.clients} clients", flush=True)
        _report(saturation(server.base_url, args.clients, requests.make, args.duration, server_pid=pid))
        print("4. a worker killed under load", flush=True)
        kill_during_load(server.base_url, requests, pid, 20.0, args.duration)
        log = server.stderr_text() + server.stdout_text()
        print(f"server log: {len(log.splitlines())} lines; patient id in it: {'bench1' in log}; "
              f"traceback in it: {'Traceback' in log}")


if __name__ == "__main__":
    main()
