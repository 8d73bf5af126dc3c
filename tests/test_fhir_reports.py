"""cds.fhir: Ki-67 and mitoses from DiagnosticReport text, only when no structured value exists."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from cds.fhir import Status, map_bundle
from tests.test_fhir import AS_OF, PNET_G2, bundle, loinc, obs, patient, qty


def report(rid: str, conclusion: str | None = None, *, status: str = "final", when: str = "2025-01-20",
           plain: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "DiagnosticReport", "id": rid, "status": status,
                           "code": {"text": "Surgical pathology report"}, "subject": {"reference": "Patient/p1"},
                           "effectiveDateTime": when}
    if conclusion:
        res["conclusion"] = conclusion
    if plain:
        res["presentedForm"] = [{"contentType": "text/plain; charset=utf-8",
                                 "data": base64.b64encode(plain.encode()).decode()}]
    return res


def test_text_only_ki67_and_mitoses_are_derived_from_the_conclusion_and_quoted() -> None:
    result = map_bundle(bundle(patient(), PNET_G2, report(
        "dr", "Well-differentiated NET, G2. Ki-67 index: 12 % (hot spot). Mitotic count 3 per 2 mm2.")), AS_OF)
    assert result.patient["tumour"]["ki67_percent"] == 12.0
    assert result.patient["tumour"]["mitoses_per_2mm2"] == 3.0
    row = result.field("tumour.ki67_percent")
    assert row.status is Status.derived and row.sources == ("DiagnosticReport/dr",)
    assert "from report text: 'Ki-67 index: 12 %'" in row.notes


def test_presented_form_text_plain_is_read() -> None:
    result = map_bundle(bundle(patient(), report("dr", plain="MIB-1 labelling index 4%\n")), AS_OF)
    assert result.patient["tumour"]["ki67_percent"] == 4.0


def test_a_structured_observation_wins_over_report_text() -> None:
    result = map_bundle(bundle(patient(), obs("ki", loinc("29593-1"), **qty(18, "%")),
                               report("dr", "Ki-67 15 %")), AS_OF)
    row = result.field("tumour.ki67_percent")
    assert (row.value, row.status, row.sources) == (18.0, Status.found, ("Observation/ki",))


@pytest.mark.parametrize(("text", "field"), [
    ("Ki-67 3-5 %", "tumour.ki67_percent"), ("Ki-67 < 2 %", "tumour.ki67_percent"),
    ("4 mitoses per 10 HPF", "tumour.mitoses_per_2mm2"),
])
def test_ranges_bounds_and_hpf_counts_are_ambiguous(text: str, field: str) -> None:
    result = map_bundle(bundle(patient(), report("dr", text)), AS_OF)
    row = result.field(field)
    assert row.status is Status.ambiguous and row.value is None
    assert any(text in note for note in row.notes)


@pytest.mark.parametrize("status", ["preliminary", "cancelled", "entered-in-error", "registered"])
def test_never_from_a_preliminary_or_cancelled_report(status: str) -> None:
    result = map_bundle(bundle(patient(), report("dr", "Ki-67 30 %", status=status)), AS_OF)
    assert result.field("tumour.ki67_percent").status is Status.missing
    assert any("DiagnosticReport/dr" in line and status in line for line in result.ignored)


def test_a_report_after_the_decision_date_does_not_count() -> None:
    result = map_bundle(bundle(patient(), report("dr", "Ki-67 30 %", when="2025-05-01")), AS_OF)
    assert result.field("tumour.ki67_percent").status is Status.missing
