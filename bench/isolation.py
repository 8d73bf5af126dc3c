"""Benchmark: what isolation costs: worker start time, and latency per evaluation in process vs in a worker.

Run: ``.venv/bin/python bench/isolation.py [--rounds 20] [--workers 2]``. It prints figures and
asserts nothing. The bundled examples are evaluated ``rounds`` times each, one at a time, first
in process then through an isolated evaluator (both warmed by one pass), and then from as many
threads as workers, to show the pool's throughput; a worker is then killed and the time until
the pool is whole again is printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds.examples import bundled_examples  # noqa: E402
from cds.input import read_patient_file  # noqa: E402
from cds.isolation import Evaluator  # noqa: E402
from cds.model import Patient  # noqa: E402


def _latencies(evaluator: Evaluator, patients: list[Patient], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        for patient in patients:
            began = time.perf_counter()
            evaluator.evaluate(patient)
            times.append((time.perf_counter() - began) * 1000)
    return times


def _summary(name: str, times: list[float]) -> None:
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{name:<28} n={len(times):>5}  p50 {statistics.median(times):7.2f} ms  p99 {p99:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    began = time.perf_counter()
    local = Evaluator()
    print(f"in-process engine ready       {time.perf_counter() - began:7.2f} s")
    patients = [read_patient_file(e.path) for e in bundled_examples()]
    began = time.perf_counter()
    pool = Evaluator(isolated=True, workers=args.workers, timeout=30)
    print(f"{args.workers} workers ready (parallel)    {time.perf_counter() - began:7.2f} s"
          f"  (last worker {pool.worker_start_seconds:.2f} s)")

    _latencies(local, patients, 1)
    _latencies(pool, patients, 1)
    in_process = _latencies(local, patients, args.rounds)
    isolated = _latencies(pool, patients, args.rounds)
    _summary("in process", in_process)
    _summary("isolated, one at a time", isolated)
    print(f"overhead per evaluation (p50) {statistics.median(isolated) - statistics.median(in_process):7.2f} ms")

    work = patients * args.rounds
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.workers) as threads:
        list(threads.map(pool.evaluate, work))
    elapsed = time.perf_counter() - began
    print(f"isolated, {args.workers} threads            {len(work) / elapsed:7.1f} evaluations/s")
    began = time.perf_counter()
    for patient in work:
        local.evaluate(patient)
    print(f"in process, 1 thread          {len(work) / (time.perf_counter() - began):7.1f} evaluations/s")

    victim = pool.worker_pids()[0]
    began = time.perf_counter()
    os.kill(victim, signal.SIGKILL)
    while victim in pool.worker_pids():
        time.sleep(0.001)  # until the pool knows (a request handed to it before then gets a 503)
    print(f"pool knows the worker died    {time.perf_counter() - began:7.3f} s")
    for _ in range(args.workers):
        pool.evaluate(patients[0])  # the pool replaces a dead idle worker when it next hands it out
    while victim in pool.worker_pids() or len(pool.worker_pids()) < args.workers:
        time.sleep(0.01)
    print(f"killed idle worker replaced   {time.perf_counter() - began:7.2f} s"
          f"  (the new worker started in {pool.worker_start_seconds:.2f} s)")
    pool.close()
    local.close()


if __name__ == "__main__":
    main()
