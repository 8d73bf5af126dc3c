"""The patient model and the context built from it: what durable_rules will see."""

from __future__ import annotations

import json

from cds import Patient
from cds.facts import build_context
from tests.conftest import patient_dict


def test_floats_never_reach_durable_in_exponent_form() -> None:
    p = Patient.model_validate(patient_dict(tumour={"ki67_percent": 0.00001, "size_mm": 1e-3}))
    ctx = build_context(p)
    text = json.dumps(ctx)
    assert "e-" not in text and "e+" not in text
    assert ctx["tumour"]["ki67_percent"] == 0


def test_numeric_strings_become_numbers() -> None:
    # durable_rules compares strings as text ("9" > 10 is true): never let one through.
    p = Patient.model_validate(patient_dict(tumour={"ki67_percent": "12", "size_mm": "20"}))
    ctx = build_context(p)
    assert ctx["tumour"]["ki67_percent"] == 12 and not isinstance(ctx["tumour"]["ki67_percent"], str)
    assert ctx["tumour"]["size_mm"] == 20 and not isinstance(ctx["tumour"]["size_mm"], str)


def test_unknown_values_are_absent_not_guessed() -> None:
    p = Patient.model_validate(patient_dict(tumour={"ki67_percent": None}, labs={"egfr_ml_min": None}))
    ctx = build_context(p)
    assert "ki67_percent" not in ctx["tumour"]
    assert "egfr_ml_min" not in ctx.get("labs", {})


def test_lists_become_maps_and_latest_course_wins() -> None:
    p = Patient.model_validate(patient_dict(
        comorbidities=["heart_failure", "heart_failure"],
        prior_treatments=[
            {"option": "prrt", "stop_reason": "completed", "best_response": "pr", "line": 2},
            "ssa",
            {"option": "prrt", "stop_reason": "progression", "line": 3},
        ],
    ))
    ctx = build_context(p)
    assert ctx["comorbidities"] == {"heart_failure": True}
    assert ctx["disease"]["metastatic_sites"] == {"liver": True}
    assert ctx["prior"] == {"ssa": "progression", "prrt": "progression"}
    assert ctx["prior_line"] == {"prrt": 3}
    assert "prrt" not in ctx.get("prior_response", {})  # the latest course had no response


def test_schemas_export() -> None:
    from cds import Recommendation

    patient_schema = Patient.model_json_schema()
    assert patient_schema["additionalProperties"] is False
    assert "tumour" in patient_schema["required"]
    assert "anti_tumour" in Recommendation.model_json_schema()["properties"]
