"""cds.fhir: metastatic sites, stage, hereditary and functional syndromes, comorbidities."""

from __future__ import annotations

from cds.fhir import Status, map_bundle
from cds.model.patient import Patient
from tests.test_fhir import AS_OF, ICD10, PNET_G2, bundle, condition, patient


def test_metastatic_sites_give_stage_metastatic_and_each_has_its_row() -> None:
    result = map_bundle(bundle(
        patient(), PNET_G2,
        condition("m1", [{"system": ICD10, "code": "C78.7"}]),
        condition("m2", [{"system": ICD10, "code": "C79.51"}]),
        condition("m3", [{"system": ICD10, "code": "C78.7"}]),  # a duplicate code is one fact
    ), AS_OF)
    Patient.model_validate(result.patient)
    assert result.patient["disease"] == {"metastatic_sites": ["liver", "bone"], "stage": "metastatic"}
    assert result.field("disease.metastatic_sites").sources == ("Condition/m1", "Condition/m3", "Condition/m2")
    assert result.field("disease.stage").status is Status.derived


def test_stage_is_never_localized_from_absent_metastases_and_nodes_are_not_guessed_distant() -> None:
    result = map_bundle(bundle(patient(), PNET_G2, condition("n", [{"system": ICD10, "code": "C77.2"}])), AS_OF)
    assert "disease" not in result.patient
    assert result.field("disease.stage").status is Status.missing
    assert result.field("disease.metastatic_sites").status is Status.missing


def test_syndromes_and_comorbidities_from_codes_and_words() -> None:
    result = map_bundle(bundle(
        patient(), PNET_G2,
        condition("men", [{"system": ICD10, "code": "E31.21"}]),
        condition("cs", [{"system": ICD10, "code": "E34.0"}]),
        condition("hf", [{"system": ICD10, "code": "I50.9"}]),
        {**condition("dpd", []), "code": {"text": "DPD deficiency (heterozygous DPYD*2A)"}},
    ), AS_OF)
    Patient.model_validate(result.patient)
    assert result.patient["tumour"]["hereditary_syndrome"] == "men1"
    assert result.patient["tumour"]["functional_syndrome"] == "carcinoid_syndrome"
    assert result.patient["comorbidities"] == ["heart_failure", "dpd_deficiency"]


def test_a_relatives_men1_is_never_the_patients() -> None:
    history = {"resourceType": "FamilyMemberHistory", "id": "fh", "status": "completed",
               "patient": {"reference": "Patient/p1"},
               "relationship": {"text": "Mother"},
               "condition": [{"code": {"coding": [{"system": ICD10, "code": "E31.21"}]}}]}
    result = map_bundle(bundle(patient(), PNET_G2, history), AS_OF)
    assert "hereditary_syndrome" not in result.patient["tumour"]
    row = result.field("tumour.hereditary_syndrome")
    assert row.status is Status.missing
    assert any("men1 in mother" in note and "ask" in note for note in row.notes)


def test_hypergastrinaemia_e16_4_is_not_read_as_a_gastrinoma() -> None:
    # E16.4 covers hypergastrinaemia, which in a NET patient is mostly atrophic gastritis (type 1) or a PPI
    high_gastrin = condition("g", [{"system": ICD10, "code": "E16.4", "display": "Hypergastrinemia"}])
    result = map_bundle(bundle(patient(), PNET_G2, high_gastrin), AS_OF)
    assert result.field("tumour.functional_syndrome").value is None


def test_icd_codes_without_their_dot_are_read() -> None:
    cm = "http://hl7.org/fhir/sid/icd-10-cm"
    duodenal = condition("d", [{"system": cm, "code": "C7A010"}])
    assert map_bundle(bundle(patient(), duodenal), AS_OF).patient["tumour"]["primary_site"] == "duodenum"
    liver = condition("m", [{"system": ICD10, "code": "C787"}])
    assert map_bundle(bundle(patient(), PNET_G2, liver), AS_OF).patient["disease"]["metastatic_sites"] == ["liver"]
