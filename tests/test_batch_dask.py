"""`cds batch` on a Dask distributed cluster (issue 14): a real LocalCluster of 2 worker processes.

The output is the local run's, byte for byte (failure rows included), also when a worker process is
killed mid-run (the scheduler gives its chunks to another worker); an interrupted `--dask local:2`
run resumes to the result of one run and leaves no worker process behind; a bad `--dask` exits 2
with a message and writes nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cds.version
from cds.cohort.dask_run import DaskTarget
from cds.cohort.files import write_patients
from cds.cohort.rows import RunSettings
from cds.cohort.runner import run_batch
from cds.cohort.synth import synth_patients
from tests.support.procs import descendants

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, cwd: Path, session: bool = False) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "cds.cli", *args], cwd=cwd, env=env, start_new_session=session,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A LocalCluster of 2 worker processes of one thread each (workers import cds from this tree)."""
    import logging

    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                     silence_logs=logging.ERROR)
    try:
        yield local
    finally:
        local.close()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 synthetic patients with three bad ones, and the local run's output beside it."""
    folder = tmp_path_factory.mktemp("cohort")
    path = folder / "cohort.jsonl"
    write_patients(path, synth_patients(300, seed=31))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[10] = '{"tumour": {"primary_site": "liver", "ki67_percent": 150}, "age": 30}'
    lines[150] = '{"tumour": {"primary_site": "rectum"}, "prior_treatments": ["everolimu"]}'
    lines[290] = "{not json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_batch(path, folder / "local.jsonl", workers=1, settings=RunSettings(surveillance=False))
    return path


def test_a_dask_run_writes_the_bytes_of_a_local_run(cluster: Any, cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "dask.jsonl"
    summary = run_batch(cohort, out, dask=DaskTarget(cluster.scheduler_address), chunk=7,
                        settings=RunSettings(surveillance=False))
    assert (summary.total, summary.ok, summary.invalid, summary.workers) == (300, 297, 3, 2)
    assert summary.cluster == f"the Dask scheduler at {cluster.scheduler_address}"
    assert out.read_bytes() == (cohort.parent / "local.jsonl").read_bytes()
    # Resuming a finished run reaches no cluster at all.
    again = run_batch(cohort, out, dask=DaskTarget("tcp://127.0.0.1:1"), settings=RunSettings(surveillance=False))
    assert (again.skipped, again.evaluated) == (300, 0)


def test_each_worker_builds_its_engine_once(cluster: Any, cohort: Path, tmp_path: Path) -> None:
    import cds.cohort.runner as runner_module

    def engines(client: Any) -> dict[str, tuple[int, ...]]:
        return dict(client.run(lambda: tuple(id(e) for e in runner_module._engines)))

    settings = RunSettings(surveillance=False, top=2)
    target = DaskTarget(cluster.scheduler_address)
    with distributed.Client(cluster, set_as_default=False) as client:
        run_batch(cohort, tmp_path / "one.jsonl", dask=target, chunk=5, settings=settings)
        first = engines(client)
        run_batch(cohort, tmp_path / "two.jsonl", dask=target, chunk=5, settings=RunSettings(surveillance=False, top=2))
        second = engines(client)
    # One engine per worker process, built when the run starts; 60 tasks and a second run with the
    # same settings build none.
    assert len(set(first.values())) == 2 and all(len(ids) == 1 for ids in first.values())
    assert first == second


def test_workers_get_back_the_allocator_the_engine_needs(cluster: Any, cohort: Path, tmp_path: Path) -> None:
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which halved the engine's speed there."""
    from cds.cohort import dask_run

    run_batch(cohort, tmp_path / "out.jsonl", dask=DaskTarget(cluster.scheduler_address), chunk=50,
              settings=RunSettings(surveillance=False))
    with distributed.Client(cluster, set_as_default=False) as client:
        states = client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), dask_run.malloc_restored))
    assert sorted(states.values()) == [("65536", True), ("65536", True)]


def test_workers_that_cannot_serve_the_run_are_named(cluster: Any, cohort: Path, tmp_path: Path) -> None:
    import cds.cohort.dask_run as dask_run

    target = DaskTarget(cluster.scheduler_address)
    # The workers' initialiser fails (here: int("x")): the run stops before any task, naming the cluster.
    with pytest.raises(dask_run.DaskError, match=r"the workers of the Dask scheduler at .* cannot build the netcds "
                       r"engine \(ValueError: invalid literal"):
        list(dask_run.ordered_map([[1, 2]], target, init=int, initargs=("x",), evaluate=len))
    # Another netcds on the workers: refused, since its rows would never match a resume here.
    with distributed.Client(cluster, set_as_default=False) as client:
        client.run(lambda: setattr(dask_run, "SOFTWARE_VERSION", "0.0.0-elsewhere"))
        try:
            with pytest.raises(dask_run.DaskError, match=r"run netcds 0.0.0-elsewhere, this process"):
                run_batch(cohort, tmp_path / "out.jsonl", dask=target)
        finally:
            client.run(lambda: setattr(dask_run, "SOFTWARE_VERSION", cds.version.SOFTWARE_VERSION))
    assert (tmp_path / "out.jsonl").read_bytes() == b""


def test_workers_with_other_knowledge_are_refused_before_any_row(cluster: Any, cohort: Path, tmp_path: Path) -> None:
    """A remote cluster may hold another knowledge version: its rows would be wrong here, for a resume and a diff."""
    import cds.cohort.dask_run as dask_run
    import cds.cohort.runner as runner_module

    def other_knowledge() -> None:  # runs on each worker: keeps the real reader beside the stand-in
        runner_module._real_versions = runner_module._knowledge_versions  # type: ignore[attr-defined]
        runner_module._knowledge_versions = lambda: ("0.1.0+elsewhere",)

    def restore() -> None:
        runner_module._knowledge_versions = runner_module._real_versions  # type: ignore[attr-defined]

    with distributed.Client(cluster, set_as_default=False) as client:
        client.run(other_knowledge)
        try:
            with pytest.raises(dask_run.DaskError, match=r"evaluate with knowledge 0\.1\.0\+elsewhere, this process "
                               r"with \d"):
                run_batch(cohort, tmp_path / "out.jsonl", dask=DaskTarget(cluster.scheduler_address))
        finally:
            client.run(restore)
    assert (tmp_path / "out.jsonl").read_bytes() == b""
    # The same workers with the same knowledge: the run goes through.
    summary = run_batch(cohort, tmp_path / "again.jsonl", dask=DaskTarget(cluster.scheduler_address),
                        settings=RunSettings(surveillance=False))
    assert summary.total == 300


def test_a_worker_killed_mid_run_costs_nothing_but_time(cluster: Any, cohort: Path, tmp_path: Path) -> None:
    with distributed.Client(cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)
        victim = sorted(pids.values())[0]
        killed: list[int] = []

        def kill_once(_: int) -> None:
            if not killed:  # after the first rows are written, with chunks queued on both workers
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        out = tmp_path / "dask.jsonl"
        summary = run_batch(cohort, out, dask=DaskTarget(cluster.scheduler_address), chunk=3,
                            settings=RunSettings(surveillance=False), progress=kill_once)
        client.wait_for_workers(2, timeout=60)  # the nanny restarts the worker
        assert killed and victim not in client.run(os.getpid).values()
    assert summary.evaluated == 300
    assert out.read_bytes() == (cohort.parent / "local.jsonl").read_bytes()


def _running(pids: set[int]) -> list[int]:
    """The processes of ``pids`` still running (a zombie waiting for its reaper is not)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive


@pytest.mark.parametrize("how", ["ctrl-c", pytest.param("kill", marks=pytest.mark.slow)])
def test_an_interrupted_local_cluster_run_resumes_and_leaves_no_worker(tmp_path: Path, how: str) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it): exit 130, the message, no
    traceback from any worker. SIGKILL of the main process: the orphaned workers exit by themselves."""
    n = 400
    write_patients(tmp_path / "in.jsonl", synth_patients(n, seed=9))
    out = tmp_path / "out.jsonl"
    proc = _cli("batch", "in.jsonl", "--output", out.name, "--dask", "local:2", "--no-surveillance", cwd=tmp_path,
                session=True)
    deadline = time.monotonic() + 300
    workers: set[int] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        workers |= descendants(proc.pid)
        if out.is_file() and out.stat().st_size > 20_000:  # a first chunk of rows
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    if how == "kill":
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    else:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130
        err = proc.stderr.read().decode() if proc.stderr else ""
        assert "interrupted: the rows written so far are kept" in err and "Traceback" not in err, err
    partial = len(out.read_text(encoding="utf-8").splitlines())
    assert 0 < partial < n
    # The worker processes notice that their parent is gone and exit.
    assert len(workers) >= 2
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _running(workers):
        time.sleep(0.2)
    alive = _running(workers)
    assert not alive, f"worker processes left behind: {alive}"

    again = _cli("batch", "in.jsonl", "--output", out.name, "--dask", "local:2", "--no-surveillance", cwd=tmp_path)
    assert again.wait(timeout=600) == 0
    err = again.stderr.read().decode() if again.stderr else ""
    assert "already written" in err and "of a local Dask cluster of 2 worker processes" in err, err
    once = tmp_path / "once.jsonl"
    run_batch(tmp_path / "in.jsonl", once, workers=1, settings=RunSettings(surveillance=False))
    assert out.read_bytes() == once.read_bytes()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["position"] for r in rows] == list(range(n))


@pytest.mark.parametrize(("option", "message"), [
    (["--dask", "tcp://127.0.0.1:1"], "--dask: cannot reach a Dask scheduler at tcp://127.0.0.1:1 (connection "
     "refused)"),
    (["--dask", "tcp://no-such-host.invalid:8786"], "(unknown host)"),
    (["--dask", "udp://10.0.0.1:8786"], "--dask: 'udp://10.0.0.1:8786' is not a scheduler address; expected "
     "tcp://HOST:PORT"),
    (["--dask", "local:0"], "--dask: 'local:0' asks for no worker"),
    (["--dask", "local:2", "--workers", "2"], "--workers and --dask cannot be combined"),
])
def test_a_bad_dask_option_exits_2_and_writes_nothing(tmp_path: Path, option: list[str], message: str) -> None:
    write_patients(tmp_path / "in.jsonl", synth_patients(3, seed=1))
    proc = _cli("batch", "in.jsonl", "--output", "out.jsonl", *option, cwd=tmp_path)
    assert proc.wait(timeout=120) == 2
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "out.jsonl").exists()
