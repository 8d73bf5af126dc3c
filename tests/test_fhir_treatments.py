"""cds.fhir prior treatments and order options: hand-built records with their traps."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cds.fhir import Status, load_codes, map_bundle
from cds.fhir.orders import options_of_order
from cds.model.patient import Patient
from cds.resources import knowledge_dir
from tests.test_fhir import AS_OF, PNET_G2, SNOMED, bundle, patient

ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def atc(code: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": ATC, "code": code}]}
    if text:
        concept["text"] = text
    return concept


def statement(sid: str, concept: dict[str, Any], *, status: str = "completed", start: str = "2024-01-10",
              end: str | None = "2024-06-10", reason: str | None = None) -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    res: dict[str, Any] = {"resourceType": "MedicationStatement", "id": sid, "status": status,
                           "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": concept,
                           "effectivePeriod": period}
    if reason:
        res["statusReason"] = [{"text": reason}]
    return res


def request(rid: str, concept: dict[str, Any], *, status: str = "active", intent: str = "order",
            authored: str = "2024-09-01", group: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "MedicationRequest", "id": rid, "status": status, "intent": intent,
                           "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": concept,
                           "authoredOn": authored}
    if group:
        res["groupIdentifier"] = {"value": group}
    return res


def procedure(pid: str, code: dict[str, Any], *, status: str = "completed", when: str = "2023-05-02",
              reason: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Procedure", "id": pid, "status": status, "code": code,
                           "subject": {"reference": "Patient/p1"}, "performedDateTime": when}
    if reason:
        res["statusReason"] = {"text": reason}
    return res


def mapped(*resources: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    result = map_bundle(bundle(patient(), PNET_G2, *resources), AS_OF)
    Patient.model_validate(result.patient)
    return result.patient.get("prior_treatments", []), result


# ----------------------------------------------------------------------------- the catalogue


def test_every_option_the_fhir_catalogue_names_is_in_the_option_catalogue() -> None:
    with (knowledge_dir() / "catalogues" / "options.yaml").open(encoding="utf-8") as handle:
        known = {o["id"] for o in yaml.safe_load(handle)["options"]}
    table = load_codes().treatments
    named = {o for d in table.drugs.values() for o in [*d.options, *d.forms]}
    named |= {c.option for c in table.combinations}
    named |= {o for p in table.procedures for o in [*p.options, *p.by_site.values()]}
    assert named <= known, named - known


# ----------------------------------------------------------------------------- medication courses


def test_a_stopped_course_with_a_reason_gives_its_stop_reason_and_duration() -> None:
    courses, result = mapped(statement("ev", atc("L01EG02"), status="stopped", reason="Disease progression on CT"))
    assert courses == [{"option": "everolimus", "stop_reason": "progression", "duration_months": 5.0}]
    row = result.field("prior_treatments")
    assert row.status is Status.found and row.sources == ("MedicationStatement/ev",)


def test_toxicity_completed_and_ongoing() -> None:
    courses, _ = mapped(
        statement("su", atc("L01XE04"), status="stopped", reason="grade 3 hand-foot toxicity"),
        statement("lan", atc("H01CB03"), status="active", start="2024-08-01", end=None),
        statement("tel", {"coding": [{"system": ATC, "code": "A16AX15"}]}, status="completed"),
    )
    by_option = {c["option"]: c for c in courses}
    assert by_option["sunitinib"]["stop_reason"] == "toxicity"
    assert by_option["ssa"]["stop_reason"] == "ongoing"
    assert by_option["ssa"]["duration_months"] == 7.0  # from 2024-08-01 to the decision date
    assert by_option["telotristat"]["stop_reason"] == "completed"


def test_a_stopped_course_without_a_reason_is_asked_not_guessed() -> None:
    courses, result = mapped(statement("ev", atc("L01EG02"), status="stopped"))
    assert courses == []
    row = result.field("prior_treatments")
    assert row.status is Status.ambiguous
    assert any("everolimus" in n and "unresolved" in n for n in row.notes)


def test_a_combination_given_together_is_recognised() -> None:
    courses, result = mapped(
        statement("cape", atc("L01BC06", "Capecitabine 750 mg/m2 bid d1-14"), status="stopped",
                  reason="progression", start="2024-02-01", end="2024-08-14"),
        statement("tmz", atc("L01AX03", "Temozolomide 200 mg/m2 d10-14"), status="stopped",
                  reason="progression", start="2024-02-10", end="2024-08-14"),
    )
    assert courses == [{"option": "capecitabine_temozolomide", "stop_reason": "progression",
                        "duration_months": 6.4}]
    assert result.field("prior_treatments").status is Status.found


def test_a_combination_in_one_request_group_and_rxnorm_codes() -> None:
    irino = {"coding": [{"system": RXNORM, "code": "51499"}]}
    fu = {"coding": [{"system": RXNORM, "code": "4492"}]}
    courses, _ = mapped(request("r1", irino, authored="2024-01-01", group="folfiri-1", status="completed"),
                        request("r2", fu, authored="2024-03-01", group="folfiri-1", status="completed"))
    assert courses == [{"option": "folfiri", "stop_reason": "completed", "duration_months": 2.0}]


def test_a_drug_given_only_in_combinations_given_alone_is_ambiguous() -> None:
    courses, result = mapped(statement("tmz", atc("L01AX03"), status="stopped", reason="progression"))
    assert courses == []
    row = result.field("prior_treatments")
    assert row.status is Status.ambiguous
    assert any("temozolomide" in n and "capecitabine_temozolomide" in n for n in row.notes)


def test_partner_drugs_given_years_apart_are_not_a_combination() -> None:
    _, result = mapped(statement("cape", atc("L01BC06"), start="2021-01-01", end="2021-03-01"),
                       statement("tmz", atc("L01AX03"), start="2024-01-01", end="2024-03-01"))
    assert result.field("prior_treatments").status is Status.ambiguous
    assert result.patient.get("prior_treatments") is None


def test_octreotide_is_ssa_only_when_the_record_says_long_acting() -> None:
    lar, _ = mapped(statement("o1", atc("H01CB02", "Sandostatin LAR 30 mg"), status="active", end=None))
    assert [c["option"] for c in lar] == ["ssa"]
    _, result = mapped(statement("o2", atc("H01CB02", "Octreotide"), status="active", end=None))
    assert result.field("prior_treatments").status is Status.ambiguous


@pytest.mark.parametrize(("status", "intent"), [
    ("draft", "order"), ("cancelled", "order"), ("entered-in-error", "order"),
    ("active", "proposal"), ("active", "plan"),
])
def test_orders_that_are_not_facts_never_count(status: str, intent: str) -> None:
    courses, result = mapped(request("r", atc("L01EG02"), status=status, intent=intent))
    assert courses == []
    assert result.field("prior_treatments").status is Status.missing
    assert any("MedicationRequest/r" in line and (status in line or intent in line) for line in result.ignored)


@pytest.mark.parametrize("status", ["not-taken", "entered-in-error", "intended"])
def test_statements_that_are_not_facts_never_count(status: str) -> None:
    courses, result = mapped(statement("s", atc("L01EG02"), status=status))
    assert courses == [] and any("MedicationStatement/s" in line for line in result.ignored)


def test_administrations_show_the_drug_was_given_but_not_why_it_stopped() -> None:
    admin = {"resourceType": "MedicationAdministration", "id": "a1", "status": "completed",
             "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-07-01",
             "medicationCodeableConcept": atc("V10XX04", "Lutathera 7.4 GBq")}
    _, result = mapped(admin)
    assert result.field("prior_treatments").status is Status.ambiguous
    done = procedure("prrt", {"text": "PRRT cycle 4 (177Lu-DOTATATE)"}, when="2024-09-01")
    courses, result = mapped(admin, done)
    assert courses == [{"option": "prrt", "stop_reason": "completed", "duration_months": 2.0}]


def test_medication_reference_to_a_medication_with_two_ingredients_is_a_combination() -> None:
    med = {"resourceType": "Medication", "id": "pe", "ingredient": [
        {"itemCodeableConcept": atc("L01XA02")}, {"itemCodeableConcept": atc("L01CB01")}]}
    stmt = statement("s", atc("L01XA02"), status="completed")
    del stmt["medicationCodeableConcept"]
    stmt["medicationReference"] = {"reference": "Medication/pe"}
    courses, _ = mapped(med, stmt)
    assert [c["option"] for c in courses] == ["platinum_etoposide"]


def test_future_and_unknown_drugs_do_not_count() -> None:
    courses, result = mapped(statement("late", atc("L01EG02"), start="2025-06-01", end=None, status="active"),
                             statement("para", {"text": "Paracetamol 1 g"}))
    assert courses == []
    assert any("after the decision date" in line for line in result.ignored)
    assert any("MedicationStatement/para: not a drug" in line for line in result.ignored)


# ----------------------------------------------------------------------------- procedures


def test_not_done_and_cardiac_ablation_procedures_never_count() -> None:
    courses, result = mapped(
        procedure("tx", {"coding": [{"system": SNOMED, "code": "18027006"}]}, status="not-done"),
        procedure("af", {"coding": [{"system": SNOMED, "code": "233163003",
                                     "display": "Radiofrequency ablation operation for arrhythmia"}]}),
    )
    assert courses == []
    assert any("Procedure/tx: status 'not-done'" in line for line in result.ignored)
    assert any("Procedure/af: not a procedure" in line for line in result.ignored)


def test_procedures_map_to_options_and_a_resection_of_unknown_intent_is_ambiguous() -> None:
    courses, result = mapped(
        procedure("tace", {"text": "TACE segment VII"}),
        procedure("rfa", {"text": "RFA liver metastasis"}, when="2023-08-01"),
        procedure("whipple", {"coding": [{"system": SNOMED, "code": "116241004"}]}, when="2022-01-10"),
    )
    assert {c["option"] for c in courses} == {"liver_embolization", "ablation"}
    row = result.field("prior_treatments")
    assert row.status is Status.ambiguous
    assert any("Procedure/whipple" in n and "surgery_curative or primary_tumour_resection" in n for n in row.notes)


def test_a_stopped_procedure_gives_its_reason() -> None:
    courses, _ = mapped(procedure("prrt", {"text": "Lutetium-177 PRRT"}, status="stopped",
                                  reason="renal toxicity after cycle 2"))
    assert courses == [{"option": "prrt", "stop_reason": "toxicity"}]


# ----------------------------------------------------------------------------- order options


def test_options_of_order_for_a_drug_given_only_in_combination() -> None:
    got = options_of_order(request("r", atc("L01AX03", "Temozolomide 150 mg/m2"), status="draft"))
    assert got.options == ("capecitabine_temozolomide",)
    assert got.codes == (f"{ATC}|L01AX03",)
    assert got.label == "Temozolomide 150 mg/m2"


def test_options_of_order_reads_a_contained_medication_and_service_requests() -> None:
    order = {"resourceType": "MedicationRequest", "status": "draft", "intent": "order",
             "contained": [{"resourceType": "Medication", "id": "m",
                            "code": {"coding": [{"system": RXNORM, "code": "2555", "display": "cisplatin"}]}}],
             "medicationReference": {"reference": "#m"}}
    assert options_of_order(order).options == ("platinum_etoposide",)
    service = {"resourceType": "ServiceRequest", "status": "draft", "intent": "order",
               "code": {"coding": [{"system": SNOMED, "code": "18027006", "display": "Transplantation of liver"}]}}
    got = options_of_order(service)
    assert (got.options, got.codes, got.label) == (("liver_transplant",), (f"{SNOMED}|18027006",),
                                                   "Transplantation of liver")
    assert options_of_order({"resourceType": "Observation"}).options == ()
    assert options_of_order(request("r", {"text": "Paracetamol"})).options == ()
