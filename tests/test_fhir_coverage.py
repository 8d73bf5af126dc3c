"""cds.fhir: codes real EHR bundles use (issue 13): morphology, topography, secondary NETs."""

from __future__ import annotations

import pytest

from cds.fhir import Status, map_bundle
from cds.model.patient import Patient
from tests.test_fhir import AS_OF, ICD10, ICDO3, SNOMED, bundle, condition, patient

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


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
