"""The isolated evaluator: same answers as in process; a killed or hung worker fails one request only.

Each test that breaks a worker checks three things: the request at fault gets
:class:`EngineUnavailable` (with a ``retry_after``) well before any connection would hang,
a request running beside it still gets its answer, and the pool is back to full strength
with a new process afterwards.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import pytest

import cds
from cds.errors import EngineError
from cds.examples import bundled_examples
from cds.input import read_patient_file
from cds.isolation import EngineUnavailable, Evaluator
from cds.model import Patient

Lang = Literal["en", "fr"]


def _examples() -> list[Patient]:
    kb = cds.default_engine().kb
    return [read_patient_file(e.path, kb.options) for e in bundled_examples()]


@pytest.fixture(scope="module")
def pool() -> Iterator[Evaluator]:
    with Evaluator(isolated=True, workers=2, timeout=60, test_hooks=True) as evaluator:
        yield evaluator


def _wait_for(condition: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _busy(evaluator: Evaluator) -> int:
    _wait_for(lambda: len(evaluator.busy_worker_pids()) == 1)
    return evaluator.busy_worker_pids()[0]


def test_same_json_as_in_process_on_every_bundled_example(pool: Evaluator) -> None:
    engine = cds.default_engine()
    patients = _examples()
    assert len(patients) >= 10
    for patient in patients:
        for lang in ("en", "fr"):
            expected = engine.evaluate(patient, lang).model_dump_json()
            assert pool.evaluate(patient, lang).model_dump_json() == expected


def test_concurrent_requests_all_answered(pool: Evaluator) -> None:
    engine = cds.default_engine()
    patients = _examples()
    expected = [engine.evaluate(p, "en", surveillance=False).model_dump_json() for p in patients]
    with ThreadPoolExecutor(max_workers=6) as threads:
        got = list(threads.map(lambda p: pool.evaluate(p, "en", False).model_dump_json(), patients * 3))
    assert got == expected * 3


def test_killed_worker_fails_its_request_only_and_is_replaced(pool: Evaluator) -> None:
    patient = _examples()[0]
    before = set(pool.worker_pids())
    assert len(before) == 2
    outcome: list[BaseException | None] = []

    def hung() -> None:
        try:
            pool.sleep_in_worker(50)
            outcome.append(None)
        except BaseException as exc:  # kept for the assertion below
            outcome.append(exc)

    thread = threading.Thread(target=hung)
    thread.start()
    victim = _busy(pool)
    os.kill(victim, signal.SIGKILL)
    thread.join(10)
    assert not thread.is_alive()
    [error] = outcome
    assert "longer than" not in str(error)  # seen as a death at once, not waited out to the 60 s timeout
    assert isinstance(error, EngineUnavailable) and isinstance(error, EngineError)
    assert "stopped" in str(error) and error.retry_after >= 1
    assert pool.evaluate(patient).anti_tumour  # the other worker carries on
    _wait_for(lambda: len(pool.worker_pids()) == 2)
    after = set(pool.worker_pids())
    assert victim not in after and after - before
    assert pool.evaluate(patient).anti_tumour


def test_hang_past_timeout_fails_that_request_and_others_carry_on() -> None:
    patient = _examples()[0]
    expected = cds.default_engine().evaluate(patient).model_dump_json()
    with Evaluator(isolated=True, workers=2, timeout=1.5, test_hooks=True) as evaluator:
        before = set(evaluator.worker_pids())
        with ThreadPoolExecutor(max_workers=1) as side:
            hang = side.submit(evaluator.sleep_in_worker, 30)
            hung = _busy(evaluator)
            assert evaluator.evaluate(patient).model_dump_json() == expected
            with pytest.raises(EngineUnavailable, match=r"longer than 1\.5 s") as caught:
                hang.result(10)
            # cut off at the timeout, not after the 30 s sleep: the hung worker was killed (no clock read)
            assert hung not in evaluator.worker_pids() and not Path(f"/proc/{hung}").exists()
        assert caught.value.retry_after >= 1
        _wait_for(lambda: len(evaluator.worker_pids()) == 2 and set(evaluator.worker_pids()) != before)
        assert evaluator.evaluate(patient).model_dump_json() == expected


def test_test_hooks_are_off_unless_asked() -> None:
    with Evaluator(isolated=True, workers=1, timeout=30) as evaluator:
        with pytest.raises(RuntimeError, match="test_hooks"):
            evaluator.sleep_in_worker(1)
        assert evaluator.worker_start_seconds is not None and evaluator.worker_start_seconds > 0
    with pytest.raises(EngineError, match="closed"):
        evaluator.evaluate(_examples()[0])


def test_in_process_is_the_default() -> None:
    with Evaluator() as evaluator:
        assert not evaluator.isolated and evaluator.worker_pids() == []
        patient = _examples()[0]
        assert evaluator.evaluate(patient).model_dump_json() == cds.evaluate(patient).model_dump_json()
    with pytest.raises(EngineError, match="closed"):
        evaluator.evaluate(patient)


@pytest.mark.parametrize("workers, timeout", [(0, 1.0), (1, 0.0)])
def test_bad_settings_are_refused(workers: int, timeout: float) -> None:
    with pytest.raises(ValueError):
        Evaluator(isolated=True, workers=workers, timeout=timeout)


def test_worker_killed_while_idle_is_skipped_and_replaced() -> None:
    patient = _examples()[0]
    with Evaluator(isolated=True, workers=2, timeout=30) as evaluator:
        victim = evaluator.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        _wait_for(lambda: victim not in evaluator.worker_pids())  # the pool knows it is dead
        for _ in range(4):  # so it is never handed to a request: no error at all
            assert evaluator.evaluate(patient).anti_tumour
        _wait_for(lambda: len(evaluator.worker_pids()) == 2 and victim not in evaluator.worker_pids())



def test_a_fhir_bundle_is_mapped_and_evaluated_in_the_worker_as_in_process(pool: Evaluator) -> None:
    import datetime as dt
    import json
    from pathlib import Path

    from cds.fhir import BundleError

    bundle = json.loads((Path(__file__).parent / "fixtures" / "fhir" / "pnet-metastatic.json").read_text())
    day = dt.date(2026, 6, 1)
    isolated = pool.evaluate_bundle(bundle, day, "fr")
    with Evaluator() as local:
        here = local.evaluate_bundle(bundle, day, "fr")
    assert isolated.recommendation is not None and here.recommendation is not None
    assert isolated.recommendation.model_dump_json() == here.recommendation.model_dump_json()
    assert isolated.mapping == here.mapping and isolated.has_primary_site
    # a bundle netcds cannot read: the worker's BundleError reaches the caller as such, the worker lives on
    with pytest.raises(BundleError, match="history"):
        pool.evaluate_bundle({"resourceType": "Bundle", "type": "history"}, day)
    # no primary site: mapped, not evaluated, and said
    empty = pool.evaluate_bundle({"resourceType": "Bundle", "type": "collection"}, day)
    assert empty.recommendation is None and not empty.has_primary_site
    assert empty.knowledge_version == isolated.recommendation.knowledge_version  # named even when nothing ran
    assert len(pool.worker_pids()) == 2
