"""`cds evaluate BUNDLE.json`: a FHIR Bundle is mapped, then evaluated; what the mapping left unknown is named."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import PNET, run_module

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
BUNDLE = FIXTURES / "pnet-metastatic.json"


def test_evaluate_a_bundle_maps_it_and_names_missing_and_ambiguous_fields_without_values() -> None:
    proc = run_module("evaluate", str(BUNDLE), "--as-of", "2025-03-01", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["as_of"] == "2025-03-01"
    assert "FHIR bundle mapped at decision date 2025-03-01" in proc.stderr
    assert "ambiguous (records disagree or are unclear; left unknown): prior_treatments" in proc.stderr
    assert "tumour.mitoses_per_2mm2" in proc.stderr.split("missing:")[1]
    # field names only: no values, no drug names, no identifiers on stderr
    for value in ("Lanreotide", "H01CB03", "temozolomide", "p1", "1960"):
        assert value not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_evaluate_a_bundle_defaults_to_today_and_says_so() -> None:
    proc = run_module("evaluate", str(BUNDLE), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "(today)" in proc.stderr


def test_a_bundle_without_a_primary_site_exits_2_with_the_reason() -> None:
    proc = run_module("evaluate", str(FIXTURES / "no-primary-site.json"))
    assert proc.returncode == 2
    assert "states no primary site (tumour.primary_site)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_as_of_is_refused_for_a_patient_file_and_a_bad_date_is_named() -> None:
    proc = run_module("evaluate", str(PNET), "--as-of", "2025-01-01")
    assert proc.returncode == 2 and "--as-of applies to a FHIR Bundle" in proc.stderr
    bad = run_module("evaluate", str(BUNDLE), "--as-of", "01/03/2025")
    assert bad.returncode == 2 and "--as-of: '01/03/2025' is not a date" in bad.stderr


def test_a_patient_file_is_evaluated_as_before_with_nothing_on_stderr() -> None:
    proc = run_module("evaluate", str(PNET), "--format", "json")
    assert proc.returncode == 0 and proc.stderr == ""
