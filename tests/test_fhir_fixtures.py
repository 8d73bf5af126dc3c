"""`cds evaluate` on an mCODE-style and an Epic-style bundle (tests/fixtures/fhir/), end to end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from cds.fhir import Status, map_bundle
from cds.model.patient import Patient
from tests.test_cli import run_module

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
AS_OF = dt.date(2025, 3, 1)


def _load(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def test_mcode_style_bundle_maps_histology_extension_tumor_size_disease_status_and_tnm() -> None:
    result = map_bundle(_load("mcode-si-net.json"), AS_OF)
    tumour = result.patient["tumour"]
    assert tumour == {"primary_site": "small_intestine", "differentiation": "well", "ki67_percent": 8.0,
                      "size_mm": 21.0, "grade": "G2", "lymph_nodes_positive": True, "primary_resected": True}
    assert result.patient["disease"] == {"status": "progressive", "metastatic_sites": ["liver"],
                                         "stage": "metastatic"}
    assert result.field("tumour.grade").status is Status.derived  # from the SNOMED morphology, not stated apart
    Patient.model_validate(result.patient)


def test_epic_style_bundle_reads_local_codes_text_units_and_components() -> None:
    result = map_bundle(_load("epic-pnec.json"), AS_OF)
    assert result.patient["tumour"] == {"primary_site": "pancreas", "differentiation": "poor", "ki67_percent": 55.0,
                                        "grade": "G3"}
    assert result.patient["labs"] == {"platelets_g_l": 182.0, "neutrophils_g_l": 1.9, "bilirubin_umol_l": 13.68,
                                      "nt_probnp_pg_ml": 145.0}
    assert result.field("labs.neutrophils_g_l").notes == ("text-coded",)
    sstr = result.field("imaging.sstr")
    assert sstr.status is Status.missing and any("to confirm" in n for n in sstr.notes)
    Patient.model_validate(result.patient)


def test_both_fixtures_evaluate_end_to_end_and_stderr_names_fields_without_values() -> None:
    for name, secret in (("mcode-si-net.json", "1958"), ("epic-pnec.json", "eP123")):
        proc = run_module("evaluate", str(FIXTURES / name), "--as-of", "2025-03-01", "--format", "json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["as_of"] == "2025-03-01"
        assert "FHIR bundle mapped at decision date 2025-03-01" in proc.stderr
        assert secret not in proc.stderr and "Traceback" not in proc.stderr
