"""Properties that must hold for every valid patient, checked on >= 2,000 random ones.

The patients come from tests/strategies.py and lean on extreme and threshold
values. For each: no exception, every ranked option carries a sourced
argument, nothing excluded is also ranked in the same track, and evaluating
twice gives byte-identical output.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from cds import Engine, Patient
from tests.strategies import patients


@settings(
    max_examples=2000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(patients())
def test_every_valid_patient_gets_a_sound_answer(engine: Engine, data: dict[str, Any]) -> None:
    patient = Patient.model_validate(data)
    rec = engine.evaluate(patient)

    for option in rec.anti_tumour + rec.antisecretory:
        assert option.arguments, f"{option.option} ranked without any argument"
        assert any(a.sources and a.evidence.kind for a in option.arguments), option.option
        assert any(a.direction == "for" for a in option.arguments), option.option

    for excluded in rec.excluded:
        assert excluded.reasons and all(r.sources for r in excluded.reasons)
        ranked_same_track = rec.anti_tumour if excluded.track == "anti_tumour" else rec.antisecretory
        assert excluded.option not in {o.option for o in ranked_same_track}

    assert rec.knowledge_version and rec.disclaimer
    again = engine.evaluate(Patient.model_validate(data))
    assert again.model_dump_json() == rec.model_dump_json()
