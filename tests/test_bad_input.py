"""Bad patient files: ``cds evaluate`` exits 2, names the field, writes nothing, no traceback.

Every case is data: the file content (text, bytes or a JSON-able value), the
texts stderr must contain (the offending field and, for enumerations and
ranges, the allowed values). Each is run with ``--output FILE`` to prove that
nothing is written when the input is bad.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cds.cli import app

runner = CliRunner()

DELETE = object()

VALID: dict[str, Any] = {
    "id": "bad-input-base",
    "age": 60,
    "sex": "F",
    "ecog": 1,
    "tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 5,
               "size_mm": 30},
    "disease": {"stage": "metastatic", "metastatic_sites": ["liver"], "status": "stable",
                "liver_tumour_burden_percent": 10},
    "imaging": {"sstr": "positive"},
    "labs": {"egfr_ml_min": 90},
    "prior_treatments": [{"option": "ssa", "stop_reason": "progression"}],
}


def variant(*changes: tuple[str, Any]) -> dict[str, Any]:
    """VALID with dotted paths set (or deleted with DELETE)."""
    data = copy.deepcopy(VALID)
    for path, value in changes:
        node: Any = data
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


def text(data: Any) -> str:
    return json.dumps(data)


LOCALIZED = [("disease.stage", "localized"), ("disease.metastatic_sites", []),
             ("disease.liver_tumour_burden_percent", DELETE)]

# (id, file content, texts stderr must contain). Content: str is written as UTF-8 text,
# bytes as is; None means "do not create the file".
CASES: list[tuple[str, str | bytes | None, list[str]]] = [
    # --- not JSON at all, or not an object
    ("json_trailing_comma", '{"tumour": {"primary_site": "pancreas"},}', ["not valid JSON", "line 1"]),
    ("json_unclosed_brace", '{"tumour": {"primary_site": "pancreas"}', ["not valid JSON"]),
    ("json_single_quotes", "{'tumour': {'primary_site': 'pancreas'}}", ["not valid JSON"]),
    ("json_comment", '{\n  // a comment\n  "age": 60\n}', ["not valid JSON", "line 2"]),
    ("json_truncated", text(VALID)[:40], ["not valid JSON"]),
    ("json_bare_word", "patient", ["not valid JSON"]),
    ("empty_file", "", ["empty"]),
    ("whitespace_only", "  \n\t\n   ", ["empty"]),
    ("top_level_array", text([VALID]), ["expected a JSON object", "a list"]),
    ("top_level_string", '"pancreas"', ["expected a JSON object", "a string"]),
    ("top_level_number", "42", ["expected a JSON object", "a number"]),
    ("top_level_null", "null", ["expected a JSON object", "null"]),
    ("nan_literal", text(VALID).replace('"ki67_percent": 5', '"ki67_percent": NaN'),
     ["NaN", "not a number"]),
    ("infinity_literal", text(VALID).replace('"size_mm": 30', '"size_mm": Infinity'),
     ["Infinity", "not a number"]),
    ("negative_infinity_literal", text(VALID).replace('"age": 60', '"age": -Infinity'),
     ["-Infinity"]),
    ("not_utf8", json.dumps(variant(("id", "patient-é")), ensure_ascii=False).encode("latin-1"),
     ["UTF-8"]),
    # --- required fields
    ("missing_tumour", text(variant(("tumour", DELETE))), ["tumour", "required"]),
    ("missing_primary_site", text(variant(("tumour.primary_site", DELETE))),
     ["tumour.primary_site", "required"]),
    ("missing_prior_option", text(variant(("prior_treatments.0.option", DELETE))),
     ["prior_treatments[0].option", "required"]),
    ("missing_exam_date", text(variant(("imaging_history", {"exams": [{"modality": "mri_liver"}]}))),
     ["imaging_history.exams[0].date", "required"]),
    # --- wrong types
    ("age_as_word", text(variant(("age", "sixty"))), ["age", "whole number", "sixty"]),
    ("age_fractional", text(variant(("age", 60.5))), ["age", "whole number"]),
    ("ecog_boolean", text(variant(("ecog", True))), ["ecog", "boolean"]),
    ("ki67_boolean", text(variant(("tumour.ki67_percent", False))),
     ["tumour.ki67_percent", "boolean"]),
    ("ki67_word", text(variant(("tumour.ki67_percent", "high"))),
     ["tumour.ki67_percent", "number"]),
    ("tumour_is_list", text(variant(("tumour", ["pancreas"]))), ["tumour", "expected an object"]),
    ("metastatic_sites_not_list", text(variant(("disease.metastatic_sites", "liver"))),
     ["disease.metastatic_sites", "expected a list"]),
    ("primary_resected_word", text(variant(("tumour.primary_resected", "maybe"))),
     ["tumour.primary_resected", "true, false or null"]),
    ("id_too_long", text(variant(("id", "x" * 200))), ["id", "at most 128"]),
    # --- out of range
    ("ki67_above_100", text(variant(("tumour.ki67_percent", 150))),
     ["tumour.ki67_percent", "<= 100", "150"]),
    ("ki67_negative", text(variant(("tumour.ki67_percent", -1))), ["tumour.ki67_percent", ">= 0"]),
    ("ecog_5", text(variant(("ecog", 5))), ["ecog", "<= 4"]),
    ("age_130", text(variant(("age", 130))), ["age", "<= 120"]),
    ("size_zero", text(variant(("tumour.size_mm", 0))), ["tumour.size_mm", "> 0"]),
    ("liver_burden_101", text(variant(("disease.liver_tumour_burden_percent", 101))),
     ["disease.liver_tumour_burden_percent", "<= 100"]),
    ("mitoses_negative", text(variant(("tumour.mitoses_per_2mm2", -3))),
     ["tumour.mitoses_per_2mm2", ">= 0"]),
    ("egfr_300", text(variant(("labs.egfr_ml_min", 300))), ["labs.egfr_ml_min", "<= 250"]),
    ("prior_line_zero", text(variant(("prior_treatments.0.line", 0))),
     ["prior_treatments[0].line", ">= 1"]),
    # --- unknown enumeration values: the allowed values are listed
    ("primary_site_liver", text(variant(("tumour.primary_site", "liver"))),
     ["tumour.primary_site", "'liver'", "pancreas", "small_intestine", "rectum"]),
    ("primary_site_typo", text(variant(("tumour.primary_site", "pancrease"))),
     ["tumour.primary_site", "'pancrease'", "did you mean 'pancreas'?", "small_intestine"]),
    ("sstr_yes", text(variant(("imaging.sstr", "yes"))),
     ["imaging.sstr", "'yes'", "positive", "negative", "not_done"]),
    ("sex_x", text(variant(("sex", "X"))), ["sex", "'X'", "'F'", "'M'"]),
    ("stop_reason_failure", text(variant(("prior_treatments.0.stop_reason", "failure"))),
     ["prior_treatments[0].stop_reason", "'failure'", "progression", "toxicity", "ongoing"]),
    ("differentiation_moderate", text(variant(("tumour.differentiation", "moderate"))),
     ["tumour.differentiation", "well", "poor"]),
    ("gastric_type_4", text(variant(("tumour.primary_site", "stomach"),
                                     ("tumour.gastric_type", 4))),
     ["tumour.gastric_type", "1", "2", "3"]),
    ("comorbidity_unknown", text(variant(("comorbidities", ["diabetes"]))),
     ["comorbidities[0]", "'diabetes'", "uncontrolled_diabetes"]),
    ("metastatic_site_unknown", text(variant(("disease.metastatic_sites", ["liver", "spleen"]))),
     ["disease.metastatic_sites[1]", "'spleen'", "peritoneum"]),
    # --- unknown fields, with a "did you mean"
    ("unknown_nested_ki67_pct", text(variant(("tumour.ki67_pct", 5))),
     ["tumour.ki67_pct", "unknown field", "did you mean 'ki67_percent'"]),
    ("unknown_nested_primary_sit",
     text(variant(("tumour.primary_site", DELETE), ("tumour.primary_sit", "pancreas"))),
     ["tumour.primary_sit", "did you mean 'primary_site'", "tumour.primary_site"]),
    ("unknown_top_level_imagng", text(variant(("imaging", DELETE), ("imagng", {"sstr": "positive"}))),
     ["imagng", "did you mean 'imaging'"]),
    ("unknown_top_level_unrelated", text(variant(("favourite_colour", "blue"))),
     ["favourite_colour", "unknown field", "allowed here"]),
    # --- prior treatments checked against the option catalogue
    ("unknown_prior_option", text(variant(("prior_treatments.0.option", "evero"))),
     ["prior_treatments[0].option", "'evero'", "did you mean 'everolimus'"]),
    ("unknown_prior_option_bare", text(variant(("prior_treatments", ["ssa", "sunitnib"]))),
     ["prior_treatments[1].option", "did you mean 'sunitinib'"]),
    # --- contradictory facts
    ("gastric_type_with_pancreas", text(variant(("tumour.gastric_type", 1))),
     ["- tumour.gastric_type: contradictory facts", "stomach"]),
    ("metastatic_sites_with_localized",
     text(variant(("disease.stage", "localized"), ("disease.liver_tumour_burden_percent", DELETE))),
     ["- disease.metastatic_sites: contradictory facts", "localized"]),
    ("lymph_nodes_with_localized", text(variant(*LOCALIZED, ("tumour.lymph_nodes_positive", True))),
     ["- tumour.lymph_nodes_positive: contradictory facts", "locoregional"]),
    ("pregnancy_with_male", text(variant(("sex", "M"), ("comorbidities", ["pregnancy"]))),
     ["- comorbidities: contradictory facts", "pregnancy", "sex"]),
    ("syndrome_controlled_without_syndrome",
     text(variant(("tumour.functional_syndrome", "none"), ("tumour.syndrome_controlled", True))),
     ["- tumour.syndrome_controlled: contradictory facts", "functional_syndrome"]),
    # --- dates
    ("as_of_impossible_date", text(variant(("as_of", "2025-13-45"))), ["as_of", "YYYY-MM-DD"]),
    ("as_of_word", text(variant(("as_of", "yesterday"))), ["as_of", "YYYY-MM-DD", "yesterday"]),
    # --- the path itself
    ("missing_file", None, ["file not found"]),
]

IDS = [c[0] for c in CASES]
assert len(set(IDS)) == len(IDS), "case ids must be unique"


@pytest.mark.parametrize(("name", "content", "expected"), CASES, ids=IDS)
def test_bad_patient_exits_2(
    tmp_path: Path, name: str, content: str | bytes | None, expected: list[str]
) -> None:
    patient = tmp_path / f"{name}.json"
    if isinstance(content, bytes):
        patient.write_bytes(content)
    elif isinstance(content, str):
        patient.write_text(content, encoding="utf-8")
    out = tmp_path / "report.json"

    result = runner.invoke(app, ["evaluate", str(patient), "--format", "json", "--output", str(out)])

    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    err = result.stderr
    assert err.startswith(f"error: {patient} is not a valid patient:\n"), err
    for fragment in expected:
        assert fragment in err, f"{fragment!r} not in stderr:\n{err}"
    assert not out.exists()
    assert list(tmp_path.iterdir()) == ([patient] if content is not None else [])


def test_at_least_30_cases() -> None:
    assert len(CASES) >= 30


def test_directory_instead_of_file(tmp_path: Path) -> None:
    out = tmp_path / "out.md"
    result = runner.invoke(app, ["evaluate", str(tmp_path), "-f", "markdown", "-o", str(out)])
    assert result.exit_code == 2
    assert "is a directory" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    patient = tmp_path / "p.json"
    patient.write_text(
        text(variant(("age", 130), ("imaging.sstr", "yes"), ("tumour.ki67_pct", 3))),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["evaluate", str(patient)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(lines) == 3, result.stderr
    assert any(line.startswith("  - age: ") for line in lines)
    assert any(line.startswith("  - imaging.sstr: ") for line in lines)
    assert any(line.startswith("  - tumour.ki67_pct: ") for line in lines)


def test_numeric_string_is_accepted_and_coerced(tmp_path: Path) -> None:
    """Pydantic's lax mode turns "12" into 12: the model stores a number, so durable_rules
    never compares text with numbers. The report shows the coerced value's consequences."""
    patient = tmp_path / "p.json"
    patient.write_text(
        text(variant(("tumour.ki67_percent", "12"), ("age", "60"), ("tumour.size_mm", " 30.0 "))),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["evaluate", str(patient), "-f", "json"])
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout)
    assert rec["derived"]["grade"] == "g2"  # 12 % is G2, which a text comparison could miss

    from cds.input import read_patient_file

    parsed = read_patient_file(patient)
    assert parsed.tumour.ki67_percent == 12 and isinstance(parsed.tumour.ki67_percent, int | float)
    assert parsed.age == 60 and isinstance(parsed.age, int)
    assert parsed.tumour.size_mm == 30


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--format", "xml"], ["--format", "'xml'", "text", "json", "markdown"]),
        (["--lang", "de"], ["--lang", "'de'", "en", "fr"]),
        (["--bogus"], ["No such option", "--bogus"]),
    ],
    ids=["format_xml", "lang_de", "unknown_option"],
)
def test_bad_option_values_exit_2(tmp_path: Path, args: list[str], expected: list[str]) -> None:
    patient = tmp_path / "p.json"
    patient.write_text(text(VALID), encoding="utf-8")
    out = tmp_path / "out.txt"
    result = runner.invoke(app, ["evaluate", str(patient), *args, "--output", str(out)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    for fragment in expected:
        assert fragment in result.stderr, result.stderr
    assert not out.exists()


def test_unwritable_output_is_bad_input(tmp_path: Path) -> None:
    patient = tmp_path / "p.json"
    patient.write_text(text(VALID), encoding="utf-8")
    out = tmp_path / "no-such-dir" / "out.json"
    result = runner.invoke(app, ["evaluate", str(patient), "-f", "json", "-o", str(out)])
    assert result.exit_code == 2
    assert "cannot write" in result.stderr
    assert not out.exists()
    assert "Traceback" not in result.output


# ------------------------------------------------------------------ hostile sizes


@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ('{"a": ', "}")], ids=["lists", "objects"])
@pytest.mark.parametrize("where", ["top", "field"])
def test_deeply_nested_json_is_bad_input(tmp_path: Path, opening: str, closing: str, where: str) -> None:
    """Regression: 100,000 nested lists made ``json.loads`` raise RecursionError (exit 1)."""
    deep = opening * 100_000 + "1" + closing * 100_000
    content = deep if where == "top" else text(VALID)[:-1] + f', "notes": {deep}}}'
    patient = tmp_path / "deep.json"
    patient.write_text(content, encoding="utf-8")
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["evaluate", str(patient), "-f", "json", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "nested too deeply" in result.stderr
    assert "Traceback" not in result.output and "RecursionError" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("depth", [40, 900])
def test_nesting_is_checked_wherever_json_is_parsed(depth: int) -> None:
    from cds.errors import InputError
    from cds.input import MAX_NESTING, parse_patient, validate_patient

    deep: Any = 1
    for _ in range(depth):
        deep = [deep]
    data = variant(("tumour.size_mm", deep))
    for call in (lambda: parse_patient(json.dumps(data)), lambda: validate_patient(data)):
        with pytest.raises(InputError) as caught:
            call()
        (problem,) = caught.value.problems
        if depth > MAX_NESTING:
            assert problem.field == "tumour.size_mm" and "nested too deeply" in problem.message
        else:
            assert problem.field == "tumour.size_mm" and "expected a number" in problem.message


def test_a_value_nested_in_itself_is_bad_input() -> None:
    from cds.errors import InputError
    from cds.input import validate_patient

    data = variant()
    data["tumour"]["notes"] = data["tumour"]
    with pytest.raises(InputError, match="nested too deeply"):
        validate_patient(data)


BIG = 5_000_000


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("enum_value", variant(("tumour.primary_site", "x" * BIG)), "tumour.primary_site"),
        ("number_as_text", variant(("tumour.ki67_percent", "1" * BIG)), "tumour.ki67_percent"),
        ("date", variant(("as_of", "2" * BIG)), "as_of"),
        ("prior_option", variant(("prior_treatments.0.option", "e" * BIG)), "prior_treatments[0].option"),
        ("unknown_field_name", variant(("tumour." + "k" * BIG, 1)), "tumour.kkkk"),
        ("unknown_field_value", variant(("favourite_colour", ["blue"] * (BIG // 8))), "favourite_colour"),
    ],
)
def test_huge_values_are_not_echoed_whole(tmp_path: Path, name: str, data: dict[str, Any], field: str) -> None:
    """Regression: a 5 MB string in a field was printed whole in the error message."""
    patient = tmp_path / f"{name}.json"
    patient.write_text(text(data), encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(patient), "-f", "json"])
    assert result.exit_code == 2, result.output[:2000]
    err = result.stderr
    assert len(err) < 3000, err[:3000]
    assert f"  - {field}" in err
    if name != "unknown_field_value":
        assert "characters)" in err, err


def test_a_float_fields_limit_is_written_as_people_write_it() -> None:
    from cds.errors import InputError
    from cds.input import validate_patient

    with pytest.raises(InputError) as caught:
        validate_patient(variant(("tumour.ki67_percent", 150), ("tumour.size_mm", 0)))
    messages = sorted(p.message for p in caught.value.problems)
    assert messages == ["must be <= 100 (got 150)", "must be > 0 (got 0)"]
