"""cds.fhir: codes real EHR bundles use (issue 13): morphology, topography, secondary NETs."""

from __future__ import annotations

import pytest

from cds.fhir import Status, map_bundle
from cds.model.patient import Patient
from tests.test_fhir import AS_OF, ICD10, ICDO3, PNET_G2, SNOMED, bundle, condition, loinc, obs, patient, qty

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"


def _tumour(*codings: dict[str, str]) -> dict[str, object]:
    result = map_bundle(bundle(patient(), condition("c", list(codings))), AS_OF)
    return result.patient["tumour"]


# ----------------------------------------------------------------------------- morphology


@pytest.mark.parametrize(("code", "syndrome"), [
    ("8151/3", "insulinoma"), ("8153/3", "gastrinoma"), ("8155/3", "vipoma"), ("8156/3", "somatostatinoma"),
    ("8158/3", "other"),
])
def test_functioning_pnet_morphologies_give_well_and_a_derived_syndrome_to_confirm(code: str, syndrome: str) -> None:
    result = map_bundle(bundle(patient(), condition("c", [{"system": ICDO3, "code": "C25.4"},
                                                          {"system": ICDO3, "code": code}])), AS_OF)
    assert result.patient["tumour"]["differentiation"] == "well"
    assert result.patient["tumour"]["functional_syndrome"] == syndrome
    row = result.field("tumour.functional_syndrome")
    assert row.status is Status.derived and any("confirm the syndrome" in n for n in row.notes)
    Patient.model_validate(result.patient)


def test_8152_3_is_well_but_never_the_glucagonoma_syndrome_l_cell_tumours_share_it() -> None:
    result = map_bundle(bundle(patient(), condition("c", [{"system": ICDO3, "code": "C20.9"},
                                                          {"system": ICDO3, "code": "8152/3"}])), AS_OF)
    assert result.patient["tumour"] == {"primary_site": "rectum", "differentiation": "well"}
    assert any("L-cell" in n for n in result.field("tumour.differentiation").notes)


@pytest.mark.parametrize(("code", "expected"), [
    ("8150/3", {"differentiation": "well"}),
    ("8241/3", {"differentiation": "well"}),
    ("8242/3", {"differentiation": "well"}),
    ("8244/3", {"minen": True}),
    ("8045/3", {"differentiation": "poor", "nec_subtype": "small_cell"}),
])
def test_other_nen_morphologies(code: str, expected: dict[str, object]) -> None:
    tumour = _tumour({"system": ICDO3, "code": "C16.2"}, {"system": ICDO3, "code": code})
    assert tumour == {"primary_site": "stomach", **expected}


def test_icdo3_2000_codes_never_give_a_grade_snomed_grade_morphologies_do() -> None:
    assert "grade" not in _tumour({"system": ICDO3, "code": "C17.2"}, {"system": ICDO3, "code": "8240/3"})
    assert "grade" not in _tumour({"system": ICDO3, "code": "C17.2"}, {"system": ICDO3, "code": "8249/3"})
    result = map_bundle(bundle(patient(), condition("c", [{"system": ICDO3, "code": "C17.2"},
                                                          {"system": SNOMED, "code": "1286770005"}])), AS_OF)
    assert result.patient["tumour"]["grade"] == "G2"
    assert result.field("tumour.grade").status is Status.derived


def test_goblet_cell_carcinoid_is_outside_the_scope_and_never_a_net() -> None:
    result = map_bundle(bundle(patient(), condition("c", [{"system": ICDO3, "code": "C18.1"},
                                                          {"system": ICDO3, "code": "8243/3"}])), AS_OF)
    assert result.patient["tumour"] == {}
    assert result.field("tumour.primary_site").status is Status.missing
    assert any("goblet cell adenocarcinoma" in p and "outside netcds' scope" in p for p in result.problems)


@pytest.mark.parametrize("behaviour", ["1", "2"])
def test_uncertain_or_in_situ_behaviour_is_reported_not_read_as_malignant(behaviour: str) -> None:
    result = map_bundle(bundle(patient(), condition("c", [{"system": ICDO3, "code": "C17.2"},
                                                          {"system": ICDO3, "code": f"8240/{behaviour}"}])), AS_OF)
    assert "differentiation" not in result.patient["tumour"]
    assert any(f"behaviour /{behaviour}" in p for p in result.problems)
    assert any(f"behaviour /{behaviour}" in n for n in result.field("tumour.differentiation").notes)


# ----------------------------------------------------------------------------- topography


def test_rectosigmoid_junction_is_ambiguous_between_colon_and_rectum_never_guessed() -> None:
    result = map_bundle(bundle(patient(), condition("c", [{"system": ICD10, "code": "C19"}])), AS_OF)
    row = result.field("tumour.primary_site")
    assert row.status is Status.ambiguous and row.value is None
    assert "colon or rectum" in row.notes[0]


def test_ampulla_of_vater_is_duodenum_and_ampullary() -> None:
    result = map_bundle(bundle(patient(), condition("c", [{"system": ICD10, "code": "C24.1"}])), AS_OF)
    assert result.patient["tumour"] == {"primary_site": "duodenum", "ampullary": True}
    Patient.model_validate(result.patient)


def test_icd10cm_benign_carcinoid_d3a_gives_site_and_well_and_says_benign_is_the_us_wording() -> None:
    result = map_bundle(bundle(patient(), condition("c", [{"system": ICD10CM, "code": "D3A.026"}])), AS_OF)
    assert result.patient["tumour"] == {"primary_site": "rectum", "differentiation": "well"}
    assert any("'benign'" in n for n in result.field("tumour.primary_site").notes)


@pytest.mark.parametrize(("code", "status"), [("C7A.00", Status.missing), ("C7A.095", Status.ambiguous),
                                              ("D3A.094", Status.ambiguous)])
def test_unspecified_site_and_gut_regions_are_not_sites(code: str, status: Status) -> None:
    result = map_bundle(bundle(patient(), condition("c", [{"system": ICD10CM, "code": code}])), AS_OF)
    row = result.field("tumour.primary_site")
    assert row.status is status and row.value is None and code in row.notes[0]


def test_a_region_code_beside_a_site_code_is_a_note_not_a_doubt() -> None:
    result = map_bundle(bundle(patient(), condition("c", [{"system": ICD10CM, "code": "C7A.095"},
                                                          {"system": ICD10CM, "code": "C7A.012"}])), AS_OF)
    row = result.field("tumour.primary_site")
    assert (row.value, row.status) == ("small_intestine", Status.found)
    assert any("midgut" in n for n in row.notes)


def test_poorly_differentiated_c7a1_and_secondary_nets_c7b() -> None:
    result = map_bundle(bundle(
        patient(), condition("c", [{"system": ICD10CM, "code": "C7A.1"}, {"system": ICDO3, "code": "C25.0"}]),
        condition("m1", [{"system": ICD10CM, "code": "C7B.02"}]),
        condition("m2", [{"system": ICD10CM, "code": "C7B.01"}]),
        condition("m3", [{"system": ICD10CM, "code": "C7B.03"}]),
        condition("m4", [{"system": ICD10CM, "code": "C7B.04"}]),
        condition("m5", [{"system": ICD10CM, "code": "C7B.09"}]),
    ), AS_OF)
    assert result.patient["tumour"] == {"primary_site": "pancreas", "differentiation": "poor"}
    assert result.patient["disease"] == {"metastatic_sites": ["liver", "lymph_nodes_distant", "bone", "peritoneum",
                                                              "other"], "stage": "metastatic"}
    Patient.model_validate(result.patient)


# ----------------------------------------------------------------------------- observations


def _sct(code: str, display: str = "") -> dict[str, object]:
    return {"coding": [{"system": SNOMED, "code": code, **({"display": display} if display else {})}]}


def test_grade_from_loinc_text_and_mcode_codes_and_an_unknown_grade_is_refused() -> None:
    stated = map_bundle(bundle(patient(), PNET_G2, obs("g", loinc("33732-9"), valueString="G2")), AS_OF)
    assert stated.patient["tumour"]["grade"] == "G2"
    assert stated.field("tumour.grade").status is Status.found
    mcode = map_bundle(bundle(patient(), PNET_G2, obs("g", [{"system": NCIT, "code": "C18000"}],
                                                          valueCodeableConcept=_sct("1155708003"))), AS_OF)
    assert mcode.patient["tumour"]["grade"] == "G1"
    assert any("WHO G1" in n for n in mcode.field("tumour.grade").notes)
    g4 = map_bundle(bundle(patient(), PNET_G2, obs("g", text="Tumor grade", valueString="grade 4")), AS_OF)
    assert "grade" not in g4.patient["tumour"]
    assert any("not recognised" in n for n in g4.field("tumour.grade").notes)


def test_mcode_disease_status_only_explicit_values() -> None:
    worse = map_bundle(bundle(patient(), PNET_G2, obs("s", loinc("97509-4"), valueCodeableConcept=_sct("271299001"))),
                       AS_OF)
    assert worse.patient["disease"]["status"] == "progressive"
    better = map_bundle(bundle(patient(), PNET_G2, obs("s", loinc("97509-4"), valueCodeableConcept=_sct("268910001"))),
                        AS_OF)
    assert "disease" not in better.patient
    assert any("improved" in n for n in better.field("disease.status").notes)


def test_regional_nodes_from_n_category_and_count() -> None:
    pn1 = map_bundle(bundle(patient(), PNET_G2, obs("n", [{"system": SNOMED, "code": "371494008"}],
                                                        valueCodeableConcept=_sct(
                                                            "1229984001", "American Joint Committee on Cancer cN3"))),
                     AS_OF)
    assert pn1.patient["tumour"]["lymph_nodes_positive"] is True
    pn0 = map_bundle(bundle(patient(), PNET_G2, obs("n", loinc("21900-6"), valueCodeableConcept={"text": "pN0"})),
                     AS_OF)
    assert pn0.patient["tumour"]["lymph_nodes_positive"] is False
    nx = map_bundle(bundle(patient(), PNET_G2, obs("n", loinc("21900-6"), valueCodeableConcept={"text": "pNX"})), AS_OF)
    assert "lymph_nodes_positive" not in nx.patient["tumour"]
    count = map_bundle(bundle(patient(), PNET_G2, obs("n", loinc("21893-3"), valueInteger=3)), AS_OF)
    assert count.patient["tumour"]["lymph_nodes_positive"] is True


@pytest.mark.parametrize(("code", "unit", "value", "field", "expected"), [
    ("777-3", "10*3/uL", 182, "platelets_g_l", 182),
    ("26515-7", "K/uL", 95, "platelets_g_l", 95),
    ("751-8", "10*9/L", 1.4, "neutrophils_g_l", 1.4),
    ("26499-4", "10*3/uL", 2.2, "neutrophils_g_l", 2.2),
    ("1975-2", "mg/dL", 1.2, "bilirubin_umol_l", 20.52),
    ("14631-6", "umol/L", 15, "bilirubin_umol_l", 15),
    ("33762-6", "pg/mL", 420, "nt_probnp_pg_ml", 420),
    ("33762-6", "ng/L", 300, "nt_probnp_pg_ml", 300),
])
def test_labs_are_read_in_the_models_units(code: str, unit: str, value: float, field: str, expected: float) -> None:
    result = map_bundle(bundle(patient(), PNET_G2, obs("l", loinc(code), **qty(value, unit, None))), AS_OF)
    assert result.patient["labs"][field] == pytest.approx(expected)
    Patient.model_validate(result.patient)


def test_neutrophil_percent_is_never_an_absolute_count_and_a_molar_nt_probnp_is_refused() -> None:
    result = map_bundle(bundle(patient(), PNET_G2, obs("p", loinc("770-8"), **qty(60, "%")),
                               obs("b", loinc("33762-6"), **qty(40, "pmol/L"))), AS_OF)
    assert "labs" not in result.patient
    assert any("770-8" in i for i in result.ignored)
    assert any("pmol/L" in n for n in result.field("labs.nt_probnp_pg_ml").notes)


def test_mcode_tumor_size_reads_the_longest_dimension_component_only() -> None:
    size = obs("ts", loinc("21889-1"), component=[
        {"code": {"coding": loinc("33728-7")}, **qty(2.5, "cm")},
        {"code": {"coding": loinc("33729-5")}, **qty(1.1, "cm")},
    ])
    result = map_bundle(bundle(patient(), PNET_G2, size), AS_OF)
    assert result.patient["tumour"]["size_mm"] == 25.0
    assert not any("no usable value" in n for n in result.field("tumour.size_mm").notes)


# ----------------------------------------------------------------------------- imaging


def test_sstr_and_fdg_imaging_only_from_a_coded_result() -> None:
    result = map_bundle(bundle(
        patient(), PNET_G2,
        obs("pet", text="68Ga-DOTATATE PET/CT", interpretation=[{"coding": [{"code": "POS"}]}]),
        {"resourceType": "DiagnosticReport", "id": "fdg", "status": "final", "subject": {"reference": "Patient/p1"},
         "code": {"text": "FDG PET-CT whole body"}, "effectiveDateTime": "2025-01-05",
         "conclusionCode": [_sct("260385009", "Negative")]},
    ), AS_OF)
    assert result.patient["imaging"] == {"sstr": "positive", "fdg_pet": "negative"}
    assert any("liver" in n for n in result.field("imaging.sstr").notes)
    Patient.model_validate(result.patient)


def test_imaging_report_text_alone_is_quoted_never_decided() -> None:
    result = map_bundle(bundle(patient(), PNET_G2, {
        "resourceType": "DiagnosticReport", "id": "srs", "status": "final", "subject": {"reference": "Patient/p1"},
        "code": {"text": "Ga-68 DOTATOC PET"}, "effectiveDateTime": "2025-01-05",
        "conclusion": "Intense uptake in liver lesions, Krenning 3"}), AS_OF)
    assert "imaging" not in result.patient
    row = result.field("imaging.sstr")
    assert row.status is Status.missing and any("Krenning 3" in n and "to confirm" in n for n in row.notes)


# ----------------------------------------------------------------------------- primary resected


def _procedure(pid: str, code: str, status: str = "completed", when: str = "2024-12-01") -> dict[str, object]:
    return {"resourceType": "Procedure", "id": pid, "status": status, "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": SNOMED, "code": code}]}, "performedDateTime": when}


def test_a_completed_resection_of_the_primarys_organ_says_primary_resected() -> None:
    result = map_bundle(bundle(patient(), PNET_G2, _procedure("whipple", "116241004")), AS_OF)
    assert result.patient["tumour"]["primary_resected"] is True
    assert result.field("tumour.primary_resected").sources == ("Procedure/whipple",)


@pytest.mark.parametrize(("code", "status", "phrase"), [
    ("53442002", "completed", "not the primary's organ"),
    ("33149006", "in-progress", "not counted"),
])
def test_other_organs_and_unfinished_resections_stay_unresolved(code: str, status: str, phrase: str) -> None:
    result = map_bundle(bundle(patient(), PNET_G2, _procedure("s", code, status)), AS_OF)
    assert "primary_resected" not in result.patient["tumour"]
    row = result.field("tumour.primary_resected")
    assert row.status is Status.missing and any(phrase in n for n in row.notes)
