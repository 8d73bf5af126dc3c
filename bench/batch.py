"""Throughput and memory of `cds batch`: 1 and 2 local worker processes, and a 2-worker Dask cluster (issue 14).

    python bench/batch.py --n 5000                   # a short run (the issue's target: 1,000,000 in <= 10 min)
    python bench/batch.py --n 5000 --no-surveillance
    python bench/batch.py --input cohort.parquet     # a cohort file instead of a synthetic one
    python bench/batch.py --n 20000 --workers 2 --dask-workers   # local pool only
    python bench/batch.py --dask tcp://host:8786     # a running scheduler instead of a LocalCluster

How it measures (all printed with the figures):
- the cohort: `--n` patients synthesised for the run by `cds synth` in another process, into a
  temporary JSON Lines file (untimed), or `--input`, read as `cds batch` reads it;
- each run is `run_batch` (what `cds batch` calls) into a fresh output file: `--workers 1` in this
  process, `--workers 2` a local process pool, `--dask local:N` a `LocalCluster` of N processes of
  one thread each, started by the run (its start and the engine builds are in the run's time);
- patients/s: the whole run (start of the pool or cluster and engine builds included), and the
  steady rate (rows written after the first chunk, over the time from the first chunk to the last:
  start-up excluded; slightly optimistic, since chunks already in flight at the first write count);
- memory, from /proc, sampled every 0.2 s: peak RSS (VmHWM) of each worker process (the largest
  descendants of this process; this process itself for 1 worker), their RSS (VmRSS) as each tenth of
  the rows is written and at the end (flat memory: the series stays level once the caches are warm),
  and this process's RSS before and after the run (it never holds the cohort or the results; with a
  LocalCluster it also hosts the scheduler).
  A remote scheduler's workers are not on this machine: their memory is not measured.
Ranked options plus the follow-up plan by default, as the issue asks.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])

from cds.cohort.dask_run import DaskTarget, parse_target  # noqa: E402
from cds.cohort.reader import count_records  # noqa: E402
from cds.cohort.rows import RunSettings  # noqa: E402
from cds.cohort.runner import run_batch  # noqa: E402
from tests.support.procs import descendants  # noqa: E402


def _status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Sampler(threading.Thread):
    """Every 0.2 s: VmHWM (peak RSS) and VmRSS of every descendant process (or of this one)."""

    def __init__(self, include_self: bool = False) -> None:
        super().__init__(daemon=True)
        self.include_self = include_self
        self.peaks: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.stop = threading.Event()

    def sample(self) -> None:
        pids = {os.getpid()} if self.include_self else descendants(os.getpid())
        for pid in pids:
            hwm, rss = _status_kb(pid, "VmHWM"), _status_kb(pid, "VmRSS")
            if hwm is None or rss is None:
                continue
            self.peaks[pid] = max(self.peaks.get(pid, 0), hwm)
            self.last[pid] = rss

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.sample()


def measure(source: Path, label: str, settings: RunSettings, *, workers: int = 1,
            dask: DaskTarget | None = None) -> dict[str, Any]:
    out = source.with_name(f"out-{label}-{time.monotonic_ns()}.jsonl")
    rss_start = _status_kb(os.getpid(), "VmRSS") or 0
    sampler = Sampler(include_self=workers == 1 and dask is None)
    sampler.start()
    marks: list[tuple[float, int]] = []
    total = count_records(source)
    tenths: list[dict[int, int]] = []  # the workers' VmRSS as each tenth of the rows is written
    written = 0

    def progress(n: int) -> None:
        nonlocal written
        marks.append((time.perf_counter(), n))
        written += n
        while len(tenths) < 10 and written >= total * (len(tenths) + 1) / 10:
            tenths.append(dict(sampler.last))

    summary = run_batch(source, out, workers=workers, settings=settings, dask=dask, progress=progress)
    sampler.sample()
    sampler.stop.set()
    sampler.join()
    rss_end = _status_kb(os.getpid(), "VmRSS") or 0
    out.unlink(missing_ok=True)
    n_workers = summary.workers
    biggest = sorted(sampler.peaks, key=lambda pid: sampler.peaks[pid], reverse=True)[:n_workers]
    steady = 0.0
    if len(marks) > 1 and marks[-1][0] > marks[0][0]:
        steady = sum(n for _, n in marks[1:]) / (marks[-1][0] - marks[0][0])
    return {
        "workers": n_workers, "rate": summary.rate, "steady": steady, "seconds": summary.seconds,
        "ok": summary.ok, "invalid": summary.invalid, "errors": summary.errors,
        "peak_mb": max((sampler.peaks[p] for p in biggest), default=0) / 1024,
        "last_mb": sum(sampler.last.get(p, 0) for p in biggest) / max(1, len(biggest)) / 1024,
        "main_start_mb": rss_start / 1024, "main_end_mb": rss_end / 1024,
        "measured": len(biggest) if dask is None or dask.address is None else 0,
        "tenths_mb": [sum(t.get(p, 0) for p in biggest) / max(1, len(biggest)) / 1024 for t in tenths],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="patients in the synthetic cohort")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--input", type=Path, help="a cohort file (.jsonl, .parquet) or folder instead of --n")
    parser.add_argument("--no-surveillance", action="store_true", help="ranked options only")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="local pool sizes to run")
    parser.add_argument("--dask-workers", type=int, nargs="*", default=[2],
                        help="LocalCluster sizes to run (none: no Dask run)")
    parser.add_argument("--dask", help="a running scheduler (tcp://HOST:PORT) to run on instead of LocalClusters")
    args = parser.parse_args()
    settings = RunSettings(surveillance=not args.no_surveillance)
    runs: list[tuple[str, int, DaskTarget | None]] = [(f"{w} local process(es)", w, None) for w in args.workers]
    if args.dask:
        runs.append((f"Dask at {args.dask}", 1, parse_target(args.dask)))
    else:
        runs += [(f"Dask LocalCluster, {w} worker(s)", 1, DaskTarget(None, w)) for w in args.dask_workers]
    with tempfile.TemporaryDirectory() as folder:
        if args.input is not None:
            source = args.input.resolve()
            what = f"{count_records(source)} patients from {source}"
        else:
            source = Path(folder) / "cohort.jsonl"
            subprocess.run([sys.executable, "-m", "cds.cli", "synth", "--n", str(args.n), "--seed", str(args.seed),
                            "--output", str(source)], check=True)
            what = f"{args.n} synthetic patients (seed {args.seed}, synthesised for the run, untimed)"
        load = os.getloadavg()
        print(f"{what}; {'ranked options only' if args.no_surveillance else 'ranked options + follow-up plan'}; "
              f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the start")
        print("  rate: whole run (pool/cluster start and engine builds included) | steady (after the first chunk)")
        rates: dict[str, float] = {}
        for label, workers, dask in runs:
            r = measure(source, label.split(",")[0].replace(" ", "-"), settings, workers=workers, dask=dask)
            rates[label] = r["steady"] or r["rate"]
            tenths = r["tenths_mb"] or [0.0]
            memory = (f"worker peak RSS {r['peak_mb']:.0f} MB, RSS {tenths[0]:.0f} -> {r['last_mb']:.0f} MB "
                      f"(a tenth of the rows -> end, mean of {r['measured']:.0f})" if r["measured"] else
                      "workers not on this machine")
            print(f"  {label}: {r['rate']:6.0f} | {r['steady']:6.0f} patients/s ({r['seconds']:.1f} s; "
                  f"{r['ok']:.0f} ok, {r['invalid']:.0f} invalid, {r['errors']:.0f} errors; "
                  f"{r['workers']:.0f} worker(s)); {memory}; "
                  f"main process RSS {r['main_start_mb']:.0f} -> {r['main_end_mb']:.0f} MB")
            if r["measured"] and r["tenths_mb"]:
                print("    worker RSS as each tenth of the rows is written (MB, mean of the workers): "
                      + " ".join(f"{mb:.0f}" for mb in r["tenths_mb"]))
        one, two = rates.get("1 local process(es)"), rates.get("2 local process(es)")
        dask2 = rates.get("Dask LocalCluster, 2 worker(s)")
        if one:
            if two:
                print(f"  scaling 1 -> 2 local processes: {two / one:.2f}x (steady rates; target >= 1.8x)")
            if dask2:
                print(f"  scaling 1 local process -> 2 Dask workers: {dask2 / one:.2f}x (steady rates)")
        if rates:
            best_label, best = max(rates.items(), key=lambda kv: kv[1])
            print(f"  1,000,000 patients at the best steady rate ({best_label}): {1_000_000 / best / 60:.1f} min "
                  "(target <= 10 min)")


if __name__ == "__main__":
    main()
