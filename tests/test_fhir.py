"""cds.fhir: FHIR R4 Bundles mapped to the patient contract, with hand-built bundles and their traps."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cds.fhir import BundleError, Status, load_codes, map_bundle
from cds.model.patient import Patient

AS_OF = dt.date(2025, 3, 1)
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"


def patient(pid: str = "p1", gender: str = "female", birth: str = "1960-06-30") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": gender, "birthDate": birth}


def obs(oid: str, coding: list[dict[str, str]] | None = None, *, text: str | None = None, status: str = "final",
        when: str = "2025-01-10", subject: str = "Patient/p1", **value: Any) -> dict[str, Any]:
    code: dict[str, Any] = {}
    if coding:
        code["coding"] = coding
    if text:
        code["text"] = text
    return {"resourceType": "Observation", "id": oid, "status": status, "code": code,
            "subject": {"reference": subject}, "effectiveDateTime": when, **value}


def qty(value: float, code: str, system: str | None = UCUM) -> dict[str, Any]:
    q: dict[str, Any] = {"value": value, "unit": code, "code": code}
    if system:
        q["system"] = system
    return {"valueQuantity": q}


def loinc(code: str) -> list[dict[str, str]]:
    return [{"system": LOINC, "code": code}]


def condition(cid: str, codings: list[dict[str, str]], *, recorded: str = "2024-11-02", clinical: str = "active",
              verification: str = "confirmed", subject: str = "Patient/p1") -> dict[str, Any]:
    return {
        "resourceType": "Condition", "id": cid, "recordedDate": recorded, "subject": {"reference": subject},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": clinical}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                           "code": verification}]},
        "code": {"coding": codings},
    }


def bundle(*resources: dict[str, Any], kind: str = "collection") -> dict[str, Any]:
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"fullUrl": f"http://ehr.example/fhir/{r['resourceType']}/{r['id']}", "resource": r}
        if kind == "transaction":
            entry["request"] = {"method": "POST", "url": r["resourceType"]}
        if kind == "searchset":
            entry["search"] = {"mode": "match"}
        entries.append(entry)
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


PNET_G2 = condition("c1", [{"system": ICDO3, "code": "C25.4"}, {"system": ICDO3, "code": "8249/3"}])


# ----------------------------------------------------------------------------- the happy path


def test_a_plain_bundle_maps_to_a_valid_patient_and_every_field_is_reported() -> None:
    result = map_bundle(bundle(
        patient(), PNET_G2,
        obs("ki", loinc("29593-1"), **qty(12, "%")),
        obs("size", loinc("21889-1"), **qty(2.3, "cm")),
        obs("ecog", loinc("89247-1"), valueInteger=1),
        obs("gfr", loinc("98979-8"), **qty(74, "mL/min/{1.73_m2}")),
    ), AS_OF)
    p = result.patient
    assert (p["age"], p["sex"], p["ecog"]) == (64, "F", 1)
    assert p["tumour"] == {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 12.0,
                           "size_mm": 23.0}
    assert p["labs"] == {"egfr_ml_min": 74.0}
    Patient.model_validate(p)  # the input contract accepts it
    assert result.field("age").status is Status.derived
    assert result.field("tumour.differentiation").status is Status.derived
    assert result.field("tumour.primary_site").status is Status.found
    assert result.field("tumour.primary_site").sources == ("Condition/c1",)
    assert result.field("tumour.mitoses_per_2mm2").status is Status.missing
    assert result.field("tumour.size_mm").sources == ("Observation/size",)


def test_age_is_counted_at_the_decision_date_not_today() -> None:
    on_the_eve = map_bundle(bundle(patient(birth="1960-03-02")), AS_OF)
    on_the_day = map_bundle(bundle(patient(birth="1960-03-01")), AS_OF)
    assert (on_the_eve.patient["age"], on_the_day.patient["age"]) == (64, 65)


@pytest.mark.parametrize("kind", ["collection", "transaction", "searchset"])
def test_bundle_types_are_read_alike(kind: str) -> None:
    result = map_bundle(bundle(patient(), PNET_G2, obs("ki", loinc("29593-1"), **qty(4, "%")), kind=kind), AS_OF)
    assert result.patient["tumour"]["ki67_percent"] == 4.0


def test_urn_uuid_references_resolve_and_other_patients_are_left_out() -> None:
    data: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6b2c1f8e-0000-4000-8000-000000000001",
         "resource": {"resourceType": "Patient", "gender": "male", "birthDate": "1970-01-01"},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:6b2c1f8e-0000-4000-8000-000000000002",
         "resource": obs("ki", loinc("29593-1"), subject="urn:uuid:6b2c1f8e-0000-4000-8000-000000000001",
                         **qty(25, "%")),
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:6b2c1f8e-0000-4000-8000-000000000003",
         "resource": {"resourceType": "Patient", "id": "someone-else"},
         "request": {"method": "POST", "url": "Patient"}},
    ]}
    with pytest.raises(ValueError, match="2 patients"):
        map_bundle(data, AS_OF)
    data["entry"].pop()
    data["entry"].append({"resource": obs("ki2", loinc("29593-1"), subject="Patient/someone-else", **qty(80, "%"))})
    result = map_bundle(data, AS_OF)
    assert result.patient["sex"] == "M"
    assert result.patient["tumour"]["ki67_percent"] == 25.0


def test_morphology_codes_give_differentiation_nec_subtype_and_minen() -> None:
    def mapped(*codings: dict[str, str]) -> dict[str, Any]:
        tumour: dict[str, Any] = map_bundle(bundle(patient(), condition("c", list(codings))), AS_OF).patient["tumour"]
        return tumour

    assert mapped({"system": ICDO3, "code": "8041/3"}) == {"differentiation": "poor", "nec_subtype": "small_cell"}
    assert mapped({"system": ICDO3, "code": "8013/3"}) == {"differentiation": "poor", "nec_subtype": "large_cell"}
    assert mapped({"system": ICDO3, "code": "8246/3"}) == {"differentiation": "poor"}
    assert mapped({"system": ICDO3, "code": "8240/3"}) == {"differentiation": "well"}
    assert mapped({"system": ICDO3, "code": "8154/3"}) == {"minen": True}
    assert mapped({"system": SNOMED, "code": "128628002"}) == {"differentiation": "poor", "nec_subtype": "large_cell"}
    assert mapped({"system": ICD10, "code": "C7A.010"}) == {"primary_site": "duodenum"}
    assert mapped({"system": ICD10, "code": "C17.2"}) == {"primary_site": "small_intestine"}
    # a 8240/3 says nothing about the grade: ICD-O-3 (2000) reads it as "carcinoid tumour"
    assert "grade" not in mapped({"system": ICDO3, "code": "8240/3"})


# ----------------------------------------------------------------------------- the traps


def test_her2_loinc_85319_2_is_never_read_as_ki67() -> None:
    result = map_bundle(bundle(patient(), obs("her2", loinc("85319-2"), text="Ki-67", **qty(30, "%"))), AS_OF)
    assert "ki67_percent" not in result.patient["tumour"]
    assert result.field("tumour.ki67_percent").status is Status.missing
    assert any("Observation/her2" in line and "HER2" in line and "not tumour.ki67_percent" in line
               for line in result.ignored)


def test_text_coded_ki67_and_mitoses_are_read_and_said_so() -> None:
    result = map_bundle(bundle(
        patient(),
        obs("ki", text="Ki-67 proliferation index (MIB-1)", **qty(7, "%", system=None)),
        obs("mit", text="Mitotic count", **qty(3, "/mm2")),
    ), AS_OF)
    assert result.patient["tumour"] == {"ki67_percent": 7.0, "mitoses_per_2mm2": 6.0}
    assert "text-coded" in result.field("tumour.ki67_percent").notes


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "preliminary", "registered"])
def test_observations_that_are_not_facts_never_count(status: str) -> None:
    result = map_bundle(bundle(patient(), obs("ki", loinc("29593-1"), status=status, **qty(40, "%"))), AS_OF)
    assert result.field("tumour.ki67_percent").status is Status.missing
    assert any(status in line for line in result.ignored)


@pytest.mark.parametrize(("clinical", "verification"), [
    ("active", "entered-in-error"), ("active", "refuted"), ("inactive", "confirmed"), ("resolved", "confirmed"),
])
def test_conditions_that_are_not_facts_never_count(clinical: str, verification: str) -> None:
    wrong = condition("c-wrong", [{"system": ICDO3, "code": "C16.0"}], clinical=clinical, verification=verification)
    result = map_bundle(bundle(patient(), wrong, PNET_G2), AS_OF)
    assert result.patient["tumour"]["primary_site"] == "pancreas"
    assert result.field("tumour.primary_site").sources == ("Condition/c1",)
    assert not any("conflict" in n for n in result.field("tumour.primary_site").notes)  # not a fact, no conflict
    assert any("Condition/c-wrong" in line for line in result.ignored)


def test_conflicting_records_the_newest_wins_and_the_conflict_is_reported() -> None:
    result = map_bundle(bundle(
        patient(),
        obs("ki-old", loinc("29593-1"), when="2024-06-01", **qty(8, "%")),
        obs("ki-new", loinc("29593-1"), when="2025-02-01", **qty(22, "%")),
    ), AS_OF)
    row = result.field("tumour.ki67_percent")
    assert row.value == 22.0
    assert row.status is Status.found
    assert row.sources == ("Observation/ki-new", "Observation/ki-old")
    assert any("conflict" in note and "Observation/ki-old" in note for note in row.notes)


def test_records_disagreeing_on_the_same_day_are_ambiguous_and_left_unknown() -> None:
    result = map_bundle(bundle(
        patient(),
        obs("a", loinc("89247-1"), when="2025-02-01", valueInteger=1),
        obs("b", loinc("89247-1"), when="2025-02-01", valueInteger=2),
    ), AS_OF)
    assert "ecog" not in result.patient
    assert result.field("ecog").status is Status.ambiguous
    assert set(result.field("ecog").sources) == {"Observation/a", "Observation/b"}


def test_duplicate_codes_and_duplicate_records_are_one_fact_not_a_conflict() -> None:
    twice = condition("c2", [{"system": ICDO3, "code": "C25.4"}, {"system": ICD10, "code": "C25.4"},
                             {"system": ICDO3, "code": "8249/3"}, {"system": ICDO3, "code": "8249/3"}])
    result = map_bundle(bundle(patient(), PNET_G2, twice), AS_OF)
    row = result.field("tumour.primary_site")
    assert (row.value, row.status, row.sources) == ("pancreas", Status.found, ("Condition/c1", "Condition/c2"))
    assert not any("conflict" in n for n in row.notes)


def test_non_ucum_and_unconvertible_units_are_refused_and_reported() -> None:
    result = map_bundle(bundle(
        patient(),
        obs("gfr", loinc("98979-8"), **qty(60, "ml/min", system="http://example.org/local-units")),
        obs("mit", text="mitoses", **qty(4, "/10.HPF")),
        obs("size", loinc("21889-1"), **qty(1.2, "[in_i]")),
    ), AS_OF)
    for name, why in (("labs.egfr_ml_min", "not UCUM"), ("tumour.mitoses_per_2mm2", "cannot be converted"),
                      ("tumour.size_mm", "cannot be converted")):
        row = result.field(name)
        assert row.status is Status.missing, name
        assert any(why in note for note in row.notes), (name, row.notes)


def test_a_bound_is_not_a_value() -> None:
    ki = obs("ki", loinc("29593-1"), valueQuantity={"value": 2, "comparator": "<", "system": UCUM, "code": "%"})
    row = map_bundle(bundle(patient(), ki), AS_OF).field("tumour.ki67_percent")
    assert row.status is Status.missing
    assert "bound" in row.notes[0]


def test_records_after_the_decision_date_do_not_count() -> None:
    result = map_bundle(bundle(patient(), obs("ki", loinc("29593-1"), when="2025-04-01", **qty(50, "%"))), AS_OF)
    assert result.field("tumour.ki67_percent").status is Status.missing
    assert any("after the decision date" in line for line in result.ignored)


def test_egfr_in_ml_per_second_is_converted() -> None:
    result = map_bundle(bundle(patient(), obs("g", loinc("98980-6"), **qty(1.5, "mL/s/{1.73_m2}"))), AS_OF)
    assert result.patient["labs"]["egfr_ml_min"] == 90.0


def test_coded_ecog_is_read() -> None:
    value: dict[str, Any] = {"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "2"}], "text": "2"}}
    assert map_bundle(bundle(patient(), obs("e", loinc("89247-1"), **value)), AS_OF).patient["ecog"] == 2


def test_gender_other_is_missing_sex_with_the_reason() -> None:
    row = map_bundle(bundle(patient(gender="other")), AS_OF).field("sex")
    assert row.status is Status.missing
    assert "does not map" in row.notes[0]


def test_what_is_not_a_bundle_is_refused_with_a_reason() -> None:
    with pytest.raises(BundleError, match="expected a FHIR Bundle"):
        map_bundle({"resourceType": "Patient"}, AS_OF)
    with pytest.raises(BundleError, match="not valid FHIR"):
        map_bundle({"resourceType": "Bundle", "type": "collection", "entry": {"resource": {}}}, AS_OF)
    with pytest.raises(BundleError, match="history"):
        map_bundle({"resourceType": "Bundle", "type": "history"}, AS_OF)


def test_a_resource_fhir_resources_rejects_is_not_read_and_the_rest_is() -> None:
    broken = obs("ki-bad", loinc("29593-1"), valueQuantity={"value": "twelve", "unit": "%"})
    result = map_bundle(bundle(patient(), PNET_G2, broken, obs("size", loinc("21889-1"), **qty(2.3, "cm"))), AS_OF)
    assert result.field("tumour.ki67_percent").status is Status.missing
    assert result.patient["tumour"]["size_mm"] == 23.0 and result.patient["tumour"]["primary_site"] == "pancreas"
    assert any(item.startswith("Observation/ki-bad: not valid FHIR R4 (valueQuantity.value") for item in result.ignored)


def test_observations_the_catalogue_cannot_name_are_never_parsed() -> None:
    # a haemoglobin with a value fhir.resources would reject: not one of netcds' fields, so not even parsed
    odd = obs("hb", [{"system": LOINC, "code": "718-7", "display": "Hemoglobin"}], valueQuantity={"value": "x"})
    result = map_bundle(bundle(patient(), PNET_G2, odd), AS_OF)
    assert result.patient["tumour"]["primary_site"] == "pancreas" and not any("hb" in i for i in result.ignored)


# ----------------------------------------------------------------------------- the catalogue


def test_every_catalogue_code_names_its_source() -> None:
    codes = load_codes()
    assert all(r.source for r in codes.topography)
    assert all(r.source for r in codes.morphology)
    assert all(r.source for t in codes.observations.values() for r in (*t.loinc, *t.not_))
    ki67 = codes.observations["tumour.ki67_percent"]
    assert "85319-2" not in {r.code for r in ki67.loinc}
    assert "85319-2" in {r.code for r in ki67.not_}


def test_components_of_a_pathology_panel_are_read() -> None:
    panel = obs("path", text="Neuroendocrine tumour pathology panel", component=[
        {"code": {"coding": loinc("29593-1")}, "valueQuantity": {"value": 3, "system": UCUM, "code": "%"}},
        {"code": {"text": "Mitotic count"}, "valueQuantity": {"value": 1, "system": UCUM, "code": "/(2.mm2)"}},
        {"code": {"coding": loinc("85319-2")}, "valueCodeableConcept": {"text": "negative"}},
    ])
    result = map_bundle(bundle(patient(), panel), AS_OF)
    assert result.patient["tumour"] == {"ki67_percent": 3.0, "mitoses_per_2mm2": 1.0}
    assert result.field("tumour.ki67_percent").sources == ("Observation/path component 1",)
    assert any("component 3" in line and "HER2" in line for line in result.ignored)


def test_a_value_the_input_contract_refuses_is_dropped_and_said() -> None:
    result = map_bundle(bundle(patient(), PNET_G2, obs("ki", loinc("29593-1"), **qty(150, "%"))), AS_OF)
    assert "ki67_percent" not in result.patient["tumour"]
    row = result.field("tumour.ki67_percent")
    assert row.status is Status.missing and row.sources == ("Observation/ki",)
    assert "refused by the input contract" in row.notes[-1]
    Patient.model_validate(result.patient)


def test_a_unitless_ecog_quantity_is_the_score() -> None:
    result = map_bundle(bundle(patient(), obs("e", loinc("89247-1"), valueQuantity={"value": 0})), AS_OF)
    assert result.patient["ecog"] == 0


def test_cds_fhir_map_prints_the_patient_and_the_report(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cds.cli import app

    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle(patient(), PNET_G2, obs("ki", loinc("29593-1"), **qty(12, "%")))),
                    encoding="utf-8")
    runner = CliRunner()
    done = runner.invoke(app, ["fhir", "map", str(path), "--as-of", AS_OF.isoformat(), "--format", "json"])
    assert done.exit_code == 0, done.output
    document = json.loads(done.output)
    assert document["patient"]["tumour"]["ki67_percent"] == 12.0
    (ki67,) = [row for row in document["report"] if row["field"] == "tumour.ki67_percent"]
    assert (ki67["value"], ki67["status"], ki67["sources"]) == (12.0, "found", ["Observation/ki"])
    text = runner.invoke(app, ["fhir", "map", str(path), "--as-of", AS_OF.isoformat()]).output
    assert "tumour.ki67_percent: found = 12.0  <- Observation/ki" in text
    path.write_text("{", encoding="utf-8")
    bad = runner.invoke(app, ["fhir", "map", str(path)])
    assert bad.exit_code == 2 and "not valid JSON" in bad.output
    path.write_text('{"resourceType": "Patient"}', encoding="utf-8")
    assert runner.invoke(app, ["fhir", "map", str(path)]).exit_code == 2
