"""Cohorts (issue 14): `cds synth` is reproducible and valid; `cds batch` resumes, counts failures, is deterministic."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cds import default_engine, parse_patient
from cds.cohort.files import write_patients
from cds.cohort.runner import run_batch
from cds.cohort.synth import synth_patients
from cds.input import validate_patient
from cds.surveillance import check_imaging_history

ROOT = Path(__file__).resolve().parents[1]
pyarrow = pytest.importorskip("pyarrow")


def _cli(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "cds.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _rows(path: Path) -> list[dict[str, object]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_table(path).to_pylist())
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ------------------------------------------------------------------ synth


def test_synth_is_reproducible_by_seed_and_every_patient_is_valid() -> None:
    kb = default_engine().kb
    cohort = list(synth_patients(1500, seed=11))
    assert cohort == list(synth_patients(1500, seed=11))
    assert cohort != list(synth_patients(1500, seed=12))
    assert list(synth_patients(10, seed=11, start=100)) == cohort[100:110]
    for data in cohort:
        patient = validate_patient(data, source=data["id"], known_options=kb.options)
        check_imaging_history(patient, kb, data["id"])


def test_synth_keeps_the_clinical_structure_of_the_catalogue() -> None:
    cohort = list(synth_patients(3000, seed=5))
    sites = Counter(p["tumour"]["primary_site"] for p in cohort)
    assert set(sites) == {"pancreas", "small_intestine", "stomach", "duodenum", "appendix", "colon", "rectum",
                          "unknown"}
    assert sites.most_common(1)[0][0] == "small_intestine"
    insulinomas = [p for p in cohort if p["tumour"].get("functional_syndrome") == "insulinoma"]
    assert insulinomas and all(p["tumour"]["primary_site"] == "pancreas" for p in insulinomas)
    poor = [p["tumour"]["ki67_percent"] for p in cohort
            if p["tumour"].get("differentiation") == "poor" and "ki67_percent" in p["tumour"]]
    assert poor and all(k > 20 for k in poor) and sum(k >= 55 for k in poor) > len(poor) / 2
    appendix = [p["disease"].get("stage") for p in cohort if p["tumour"]["primary_site"] == "appendix"]
    assert Counter(appendix).most_common(1)[0][0] == "localized"
    # Missing data is part of the mix: some patients are unstaged, some have no Ki-67.
    assert any("stage" not in p["disease"] for p in cohort)
    assert any("ki67_percent" not in p["tumour"] for p in cohort)


def test_synth_command_writes_the_same_cohort_as_jsonl_and_parquet(tmp_path: Path) -> None:
    for name in ("c.jsonl", "c.parquet"):
        proc = _cli("synth", "--n", "40", "--seed", "3", "--output", name, cwd=tmp_path)
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    from cds.cohort.reader import iter_records

    assert ([json.loads(r.text) for r in iter_records(tmp_path / "c.jsonl")]
            == [json.loads(r.text) for r in iter_records(tmp_path / "c.parquet")]
            == list(synth_patients(40, seed=3)))


# ------------------------------------------------------------------ batch


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 synthetic patients with three bad ones in the middle."""
    folder = tmp_path_factory.mktemp("cohort")
    patients = list(synth_patients(120, seed=21))
    path = folder / "cohort.jsonl"
    write_patients(path, patients)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[10] = '{"tumour": {"primary_site": "liver", "ki67_percent": 150}, "age": 30}'
    lines[50] = '{"tumour": {"primary_site": "rectum"}, "prior_treatments": ["everolimu"]}'
    lines[90] = "{not json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_failures_are_rows_with_the_field_named_message_and_are_counted(cohort: Path, tmp_path: Path) -> None:
    summary = run_batch(cohort, tmp_path / "out.jsonl", workers=1)
    assert (summary.total, summary.ok, summary.invalid, summary.errors) == (120, 117, 3, 0)
    assert summary.failures == {"tumour.primary_site": 1, "tumour.ki67_percent": 1,
                                "prior_treatments[0].option": 1, "": 1}
    rows = _rows(tmp_path / "out.jsonl")
    assert [r["position"] for r in rows] == list(range(120))
    bad = {r["position"]: r for r in rows if r["status"] != "ok"}
    assert set(bad) == {10, 50, 90}
    assert bad[10]["error_fields"] == ["tumour.primary_site", "tumour.ki67_percent"]
    assert "'liver' is not allowed (allowed values: 'pancreas'" in str(bad[10]["error"])
    assert "did you mean 'everolimus'" in str(bad[50]["error"])
    assert str(bad[90]["error"]).startswith("not valid JSON")
    ok = rows[0]
    assert ok["knowledge_version"] == default_engine().kb.version and ok["anti_tumour"]
    assert set(ok["anti_tumour"][0]) == {"option", "category", "score"}  # type: ignore[index]


def test_rows_name_the_open_trials_each_patient_may_enter(cohort: Path, tmp_path: Path) -> None:
    """A registry screened for trials: the row lists the open trials not ruled out, as the contract matches them."""
    run_batch(cohort, tmp_path / "out.jsonl", workers=1)
    rows = [r for r in _rows(tmp_path / "out.jsonl") if r["status"] == "ok"]
    lines = cohort.read_text(encoding="utf-8").splitlines()
    for row in rows:
        rec = default_engine().evaluate(parse_patient(lines[int(row["position"])]))  # type: ignore[call-overload]
        assert row["trials"] == [{"trial": m.id, "verdict": m.verdict} for m in rec.trials
                                 if m.open and m.verdict in ("eligible", "potentially_eligible")]
    assert any(row["trials"] for row in rows)
    invalid = [r for r in _rows(tmp_path / "out.jsonl") if r["status"] == "invalid"]
    assert invalid and all(r["trials"] == [] for r in invalid)


def test_one_and_two_workers_write_byte_identical_output(cohort: Path, tmp_path: Path) -> None:
    run_batch(cohort, tmp_path / "one.jsonl", workers=1, chunk=7)
    run_batch(cohort, tmp_path / "two.jsonl", workers=2, chunk=7)
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()


def test_parquet_holds_the_same_rows_as_json_lines(cohort: Path, tmp_path: Path) -> None:
    run_batch(cohort, tmp_path / "out.jsonl", workers=1)
    run_batch(cohort, tmp_path / "out.parquet", workers=1)
    assert _rows(tmp_path / "out.parquet") == _rows(tmp_path / "out.jsonl")
    assert not (tmp_path / "out.parquet.parts").exists()


def test_a_changed_patient_is_evaluated_again_and_the_rows_before_it_are_kept(cohort: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(cohort.read_bytes())
    out = tmp_path / "out.jsonl"
    run_batch(source, out, workers=1)
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[60] = ('{"tumour": {"primary_site": "appendix", "size_mm": 8, "ki67_percent": 1}, '
                 '"disease": {"stage": "localized"}}')
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = run_batch(source, out, workers=1)
    assert (summary.skipped, summary.evaluated) == (60, 60)
    fresh = tmp_path / "fresh.jsonl"
    run_batch(source, fresh, workers=1)
    assert out.read_bytes() == fresh.read_bytes()


@pytest.mark.parametrize("suffix", [".jsonl", pytest.param(".parquet", marks=pytest.mark.slow)])
def test_an_interrupted_run_resumes_to_the_result_of_one_run(tmp_path: Path, suffix: str) -> None:
    import cds.cohort.writer as writer_module

    n = 1500 if suffix == ".jsonl" else writer_module.PART_ROWS + 300
    write_patients(tmp_path / "in.jsonl", synth_patients(n, seed=8))
    out = tmp_path / f"out{suffix}"
    proc = _cli("batch", "in.jsonl", "--output", out.name, "--workers", "1", "--no-surveillance", cwd=tmp_path)
    # Kill the run once some rows are on disk (a whole Parquet part, or a few JSON lines).
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if suffix == ".jsonl" and out.is_file() and out.stat().st_size > 50_000:
            break
        if suffix == ".parquet" and list((tmp_path / f"{out.name}.parts").glob("part-*.parquet")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    partial = len(_rows(out)) if suffix == ".jsonl" else writer_module.PART_ROWS
    assert 0 < partial < n

    again = _cli("batch", "in.jsonl", "--output", out.name, "--workers", "1", "--no-surveillance", cwd=tmp_path)
    assert again.wait(timeout=600) == 0
    err = again.stderr.read().decode() if again.stderr else ""
    assert f"{partial} already written" in err or (suffix == ".jsonl" and "already written" in err), err

    once = tmp_path / f"once{suffix}"
    from cds.cohort.rows import RunSettings

    run_batch(tmp_path / "in.jsonl", once, workers=1, settings=RunSettings(surveillance=False))
    if suffix == ".jsonl":
        assert out.read_bytes() == once.read_bytes()
    else:
        assert _rows(out) == _rows(once)
