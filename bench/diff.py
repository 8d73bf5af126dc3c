"""Throughput and memory of `cds diff` over a synthetic cohort: 1 and 2 worker processes, a 2-worker Dask cluster.

    python bench/diff.py --n 3000            # a short run
    python bench/diff.py --n 100000 --workers 2

The cohort is written first by `cds synth` (another process). The knowledge change is made here:
a copy of knowledge/ and pathways/ with the setting pnet_watchful_waiting_max_ki67_percent moved
from 5 to 4 (a few pancreatic patients change). Prints, per worker count: patients compared per
second (each patient is evaluated twice, once per knowledge version, ranked options without the
follow-up plan), the wall time including the start (both knowledge versions loaded and compiled
in every worker), the patients changed, the peak RSS of each worker process (VmHWM, sampled) and
the main process's RSS at the start and the end (flat: the main process keeps only the changed
patients).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.batch import Sampler, _status_kb  # noqa: E402
from cds.cohort.dask_run import DaskTarget  # noqa: E402
from cds.cohort.diff import run_diff  # noqa: E402
from cds.cohort.knowledge_source import open_knowledge_source  # noqa: E402

SETTING = "pnet_watchful_waiting_max_ki67_percent"


def moved_copy(folder: Path) -> Path:
    """A copy of the bundled knowledge with the watchful-waiting Ki-67 cut moved from 5 to 4 %."""
    for name in ("knowledge", "pathways"):
        shutil.copytree(ROOT / name, folder / name)
    path = folder / "knowledge" / "catalogues" / "settings" / "general.yaml"
    text, n = re.subn(rf"(- name: {SETTING}\n    value: )\d+", r"\g<1>4", path.read_text(encoding="utf-8"))
    assert n == 1, "the setting moved"
    path.write_text(text, encoding="utf-8")
    return folder


def measure(source: Path, after: Path, workers: int, dask: DaskTarget | None = None) -> dict[str, float]:
    rss_start = _status_kb(os.getpid(), "VmRSS") or 0
    sampler = Sampler()
    sampler.start()
    started = time.perf_counter()
    with open_knowledge_source(str(ROOT)) as a, open_knowledge_source(str(after)) as b:
        result = run_diff(source, a, b, workers=workers, dask=dask)
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    rss_end = _status_kb(os.getpid(), "VmRSS") or 0
    worker_peaks = sorted(sampler.peaks.values(), reverse=True)[:workers] if workers > 1 else [
        _status_kb(os.getpid(), "VmHWM") or 0]
    return {"rate": result.total / seconds, "seconds": seconds, "patients": result.total,
            "changed": result.changed, "reordered": result.reordered, "groups": len(result.groups),
            "worker_peak_mb": max(worker_peaks) / 1024, "main_start_mb": rss_start / 1024,
            "main_end_mb": rss_end / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000, help="patients in the synthetic cohort")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--dask-workers", type=int, nargs="*", default=[2],
                        help="LocalCluster sizes to run (none: no Dask run)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "cohort.jsonl"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-m", "cds.cli", "synth", "--n", str(args.n), "--seed", str(args.seed),
                        "--output", str(source)], check=True, env=env)
        after = moved_copy(Path(folder) / "after")
        print(f"{args.n} synthetic patients (seed {args.seed}), {SETTING} 5 -> 4, ranked options (no follow-up "
              f"plan), two evaluations per patient; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        results: dict[int, dict[str, float]] = {}
        runs: list[tuple[str, int, DaskTarget | None]] = [(f"{w} worker(s)", w, None) for w in args.workers]
        runs += [(f"Dask LocalCluster, {w} worker(s)", w, DaskTarget(None, w)) for w in args.dask_workers]
        for label, workers, dask in runs:
            r = measure(source, after, workers, dask)
            if dask is None:
                results[workers] = r
            print(f"  {label}: {r['rate']:7.0f} patients/s compared ({r['seconds']:.1f} s with the "
                  f"start; {r['changed']:.0f} changed in {r['groups']:.0f} group(s), {r['reordered']:.0f} "
                  f"reordered); peak RSS per worker {r['worker_peak_mb']:.0f} MB; main process "
                  f"{r['main_start_mb']:.0f} -> {r['main_end_mb']:.0f} MB")
        if 1 in results and 2 in results and results[1]["rate"] > 0:
            best = max(r["rate"] for r in results.values())
            print(f"  scaling 1 -> 2 workers: {results[2]['rate'] / results[1]['rate']:.2f}x; "
                  f"100,000 patients at the best rate: {100_000 / best / 60:.1f} min")


if __name__ == "__main__":
    main()
