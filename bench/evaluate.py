"""Benchmark: knowledge compile time, evaluation latency and throughput, the raw
durable_rules floor, and the cold start of ``cds evaluate``.

Run: ``.venv/bin/python bench/evaluate.py [--patients 10000]``. It prints figures
and asserts nothing (tests never assert on wall-clock time).

Latency is measured on patients the engine has not seen: it first evaluates
2,000 other random patients, so every population ruleset is built and the
surveillance memo holds what earlier patients left, as in a running service.
Two thirds of the random patients carry a decision date, which makes their
follow-up plan dated (and rarely memoised).

The *durable floor* replays, for the same patients, the same facts through the
same compiled rulesets with no-op actions: it is what durable_rules itself
costs (sessions, matching, action dispatch), without netcds' Python around it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds import Engine, Patient, load_knowledge  # noqa: E402
from cds.engine import compiler  # noqa: E402
from cds.engine.durable_host import CompiledRule, DurableHost, RuleSet  # noqa: E402
from cds.resources import examples_dir  # noqa: E402
from tests.strategies import random_patients  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:8.1f} µs"


def bench_compile(repeat: int = 5) -> tuple[float, float, float, int]:
    """Load, classification compile, and every population compiled and registered eagerly."""
    from cds.lint import populations

    loads, compiles, everything = [], [], []
    count = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        kb = load_knowledge()
        t1 = time.perf_counter()
        engine = Engine(kb)
        t2 = time.perf_counter()
        pops = populations(kb)
        for pop in pops:
            engine._stages(pop)
        t3 = time.perf_counter()
        engine.close()
        count = len(pops)
        loads.append(t1 - t0)
        compiles.append(t2 - t1)
        everything.append(t3 - t1)
    return (statistics.median(loads), statistics.median(compiles), statistics.median(everything),
            count)


class _Floor:
    """The engine's rulesets with no-op actions, fed the facts each stage saw."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.host = DurableHost()
        self.sets: dict[str, RuleSet] = {}

    def _noop(self, name: str, compiled: compiler.Compiled) -> RuleSet:
        if name not in self.sets:
            rules = [CompiledRule(r.name, r.definition) for r in compiled.rules]
            self.sets[name] = self.host.ruleset(f"floor.{name}", rules)
        return self.sets[name]

    def facts(self, patient: Patient) -> list[tuple[str, compiler.Compiled, list[dict[str, Any]]]]:
        detail = self.engine.evaluate_detail(patient)
        ctx = detail.context
        late = ("derived", "candidate", "node", "pathway")
        base = {k: v for k, v in ctx.items() if k not in late}
        classification = self.engine._classification.compiled
        pathways, knowledge = self.engine._stages(detail.population)
        # Each stage gets the facts the real run posted or derived, projected the same way.
        stage1 = compiler.context_facts(base, classification) + [
            {"t": "derived", k: v} for k, v in ctx.get("derived", {}).items()
        ]
        with_derived = {**base, "derived": ctx.get("derived", {})}
        carried = compiler.Carried(with_derived, pathways.compiled)
        stage2 = compiler.context_facts(with_derived, pathways.compiled) + [
            {"t": "at", "node": n, **carried[n]} for n in ctx.get("node", {})
        ]
        stage3 = compiler.context_facts(ctx, knowledge.compiled)
        pop = detail.population.name
        return [
            ("classification", classification, stage1),
            (f"pathways.{pop}", pathways.compiled, stage2),
            (f"knowledge.{pop}", knowledge.compiled, stage3),
        ]

    def run(self, plan: list[tuple[str, compiler.Compiled, list[dict[str, Any]]]]) -> None:
        for name, compiled, facts in plan:
            self._noop(name, compiled).run(facts)


def bench_latency(n: int) -> None:
    engine = Engine(load_knowledge())
    patients = [Patient.model_validate(p) for p in random_patients(n)]
    # Warm up on *other* patients: every population ruleset gets registered, and the
    # surveillance memo holds only what a tumour board's earlier patients would leave.
    for p in random_patients(2_000, seed=11):
        engine.evaluate(Patient.model_validate(p))
    times: list[float] = []
    t_all = time.perf_counter()
    for patient in patients:
        t0 = time.perf_counter()
        engine.evaluate(patient)
        times.append(time.perf_counter() - t0)
    wall = time.perf_counter() - t_all
    print(f"patients                 {n}")
    print(f"latency p50              {fmt_us(percentile(times, 0.50))}   (full contract, "
          "surveillance plan included)")
    print(f"latency p99              {fmt_us(percentile(times, 0.99))}")
    print(f"latency max              {fmt_us(max(times))}")
    print(f"throughput               {n / wall:8.0f} evaluations/s (one process)")
    rules_only: list[float] = []
    complete: list[float] = []  # patients whose answer needs no scenario (no missing datum that changes it)
    for patient in patients:
        t0 = time.perf_counter()
        rec = engine.evaluate(patient, surveillance=False)
        rules_only.append(time.perf_counter() - t0)
        if not rec.scenarios and patient.disease.stage is not None and rec.derived.get("category") != "unknown":
            complete.append(rules_only[-1])
    print(f"without surveillance p50 {fmt_us(percentile(rules_only, 0.50))}"
          "   (ranked options only, no 10-year follow-up plan)")
    print(f"without surveillance p99 {fmt_us(percentile(rules_only, 0.99))}")
    print(f"  no scenario needed p50 {fmt_us(percentile(complete, 0.50))}   ({len(complete)} patients: stage and "
          "category known; the others are also ranked under each hypothesis)")

    floor = _Floor(engine)
    plans = [floor.facts(p) for p in patients]
    for plan in plans[:200]:
        floor.run(plan)
    floor_times: list[float] = []
    for plan in plans:
        t0 = time.perf_counter()
        floor.run(plan)
        floor_times.append(time.perf_counter() - t0)
    print(f"durable floor p50        {fmt_us(percentile(floor_times, 0.50))}"
          "   (same rules and facts, no-op actions)")
    print(f"durable floor p99        {fmt_us(percentile(floor_times, 0.99))}")
    sizes = sorted({(name, rs.size) for name, rs in floor.sets.items()}, key=lambda x: -x[1])
    print(f"rulesets built           {len(sizes)}; largest: "
          + ", ".join(f"{n} ({s} rules)" for n, s in sizes[:3]))
    # durable_rules allocates and initialises per-session memory for every rule of a ruleset
    # (durable-rules.md: about 11.7 KB per rule), used or not: this is what a patient pays for.
    per_patient = [sum(floor.sets[name].size for name, _, _ in plan) for plan in plans]
    print(f"rules per patient        {statistics.mean(per_patient):8.0f} (mean, three sessions)")
    engine.close()
    floor.host.close()


def bench_cold_start(repeat: int = 5) -> None:
    example = sorted(examples_dir().glob("*.json"))
    if not example:
        print("cold start               (no example patient found)")
        return
    cds = Path(sys.executable).with_name("cds")
    cmd = [str(cds), "evaluate", str(example[0]), "--format", "json"] if cds.exists() else \
        [sys.executable, "-m", "cds.cli", "evaluate", str(example[0]), "--format", "json"]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    print(f"cold start (cds evaluate) {statistics.median(times) * 1000:7.0f} ms median of {repeat}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()
    load, compile_, everything, populations = bench_compile()
    print(f"knowledge load           {load * 1000:7.1f} ms (parse + validate YAML)")
    print(f"knowledge compile        {compile_ * 1000:7.1f} ms (Engine(): classification ruleset; "
          "population rulesets are built on first use)")
    print(f"compile, all populations {everything * 1000:7.1f} ms ({populations} site x category "
          "rulesets, eagerly)")
    bench_latency(args.patients)
    bench_cold_start()


if __name__ == "__main__":
    main()
