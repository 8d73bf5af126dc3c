"""Throughput of `cds batch` with 1 and 2 worker processes over a synthetic cohort (issue 14).

    python bench/batch.py --n 5000            # a short run (the issue's target is 1,000,000 in <= 10 min)
    python bench/batch.py --n 5000 --no-surveillance

Prints, per worker count: patients per second (evaluation only: the cohort file is written
first by `cds synth` in another process), the scaling from 1 to 2 workers, the peak RSS of each
worker process (VmHWM from /proc, sampled while it runs) and of the main process at the start and
the end of the run (flat memory: the main process never holds the cohort or the results).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cds.cohort.rows import RunSettings  # noqa: E402
from cds.cohort.runner import run_batch  # noqa: E402


def _status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


class PeakSampler(threading.Thread):
    """Samples VmHWM (peak RSS) of every descendant process every 0.2 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[int, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for pid in _descendants(os.getpid()):
                hwm = _status_kb(pid, "VmHWM")
                if hwm is not None:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), hwm)


def measure(source: Path, workers: int, settings: RunSettings) -> dict[str, float]:
    out = source.with_name(f"out-{workers}-{time.monotonic_ns()}.jsonl")
    rss_start = _status_kb(os.getpid(), "VmRSS") or 0
    sampler = PeakSampler()
    sampler.start()
    summary = run_batch(source, out, workers=workers, settings=settings)
    sampler.stop.set()
    sampler.join()
    rss_end = _status_kb(os.getpid(), "VmRSS") or 0
    # The workers are the largest descendants (the fork server is small); in-process, the main process.
    worker_peaks = sorted(sampler.peaks.values(), reverse=True)[:workers] if workers > 1 else [
        _status_kb(os.getpid(), "VmHWM") or 0]
    out.unlink(missing_ok=True)
    return {"rate": summary.rate, "seconds": summary.seconds, "ok": summary.ok, "invalid": summary.invalid,
            "worker_peak_mb": max(worker_peaks) / 1024, "main_start_mb": rss_start / 1024,
            "main_end_mb": rss_end / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="patients in the synthetic cohort")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-surveillance", action="store_true", help="ranked options only")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    settings = RunSettings(surveillance=not args.no_surveillance)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "cohort.jsonl"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-m", "cds.cli", "synth", "--n", str(args.n), "--seed", str(args.seed),
                        "--output", str(source)], check=True, env=env)
        print(f"{args.n} synthetic patients (seed {args.seed}), "
              f"{'ranked options only' if args.no_surveillance else 'ranked options + follow-up plan'}, "
              f"{os.cpu_count()} cores")
        results: dict[int, dict[str, float]] = {}
        for workers in args.workers:
            r = results[workers] = measure(source, workers, settings)
            print(f"  {workers} worker(s): {r['rate']:7.0f} patients/s ({r['seconds']:.1f} s; {r['ok']:.0f} ok, "
                  f"{r['invalid']:.0f} invalid); peak RSS per worker {r['worker_peak_mb']:.0f} MB; main process "
                  f"{r['main_start_mb']:.0f} -> {r['main_end_mb']:.0f} MB")
        if 1 in results and 2 in results and results[1]["rate"] > 0:
            scaling = results[2]["rate"] / results[1]["rate"]
            best = max(r["rate"] for r in results.values())
            print(f"  scaling 1 -> 2 workers: {scaling:.2f}x (target >= 1.8x); "
                  f"1,000,000 patients at the best rate: {1_000_000 / best / 60:.1f} min (target <= 10 min)")


if __name__ == "__main__":
    main()
