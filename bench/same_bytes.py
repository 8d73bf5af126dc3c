"""Prove that a speed change changed no output byte: hash every output before and after.

Evaluates every bundled example patient, N synthetic patients (``cds synth``'s case mix, seed 7,
a third of them undated) and N/4 random patients of ``bench/evaluate.py`` (``tests.strategies``:
more missing data, so more scenarios) and hashes, per patient:

- the contract JSON (``cds evaluate -f json``) in English and French, with the follow-up plan;
- the contract JSON without the follow-up plan (``surveillance=False``), in English;
- the batch row (``cds batch``'s JSON Lines line, English, follow-up plan, top 3);
- for the example patients, and every 10th synthetic one: the why-not of every option not ranked
  first (``cds explain`` JSON), the follow-up report (``cds surveillance -f json``), and the text
  and Markdown reports, in English and French.

Usage::

    python bench/same_bytes.py --out /tmp/before.json           # on the old commit
    python bench/same_bytes.py --compare /tmp/before.json       # on the new one: exit 1 on any change

Everything runs in one process on one engine, warm, so later patients also see what earlier
ones left in the engine's caches (which is what a cache bug would break).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cds import Engine, load_knowledge
from cds.cohort.rows import RunSettings, evaluate_text
from cds.cohort.synth import synth_patients
from cds.input import parse_patient
from cds.render.markdown import render_markdown
from cds.render.text import render_text
from cds.report import build_report
from cds.resources import examples_dir
from tests.strategies import random_patients


def _patients(n: int) -> Iterator[tuple[str, str, bool]]:
    """(name, patient JSON text, full outputs too) for the examples and n synthetic patients."""
    for path in sorted(examples_dir().glob("*.json")):
        yield f"example:{path.name}", path.read_text(encoding="utf-8"), True
    for i, data in enumerate(synth_patients(n, seed=7)):
        if i % 3 == 0:
            data.pop("as_of", None)  # an undated follow-up plan
        yield f"synth:{i}", json.dumps(data), i % 10 == 0
    for i, data in enumerate(random_patients(n // 4, seed=5)):  # the bench's patients: more missing data
        yield f"random:{i}", json.dumps(data), i % 10 == 0


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def outputs(n: int) -> dict[str, str]:
    """Every output's SHA-256 by ``patient|what``."""
    engine = Engine(load_knowledge())
    settings = RunSettings()
    hashes: dict[str, str] = {}
    for name, text, full in _patients(n):
        patient = parse_patient(text, source=name)
        for lang in ("en", "fr"):
            report = build_report(engine, patient, lang)
            hashes[f"{name}|{lang}|contract"] = _digest(report.recommendation.model_dump_json(indent=2))
            if full:
                hashes[f"{name}|{lang}|explain"] = _digest(
                    "\n".join(x.model_dump_json(indent=2) for x in report.explanations))
                hashes[f"{name}|{lang}|surveillance"] = _digest(report.surveillance.model_dump_json(indent=2))
                hashes[f"{name}|{lang}|text"] = _digest(render_text(report))
                hashes[f"{name}|{lang}|markdown"] = _digest(render_markdown(report))
        bare = engine.evaluate(patient, "en", surveillance=False)
        hashes[f"{name}|en|options-only"] = _digest(bare.model_dump_json(indent=2))
        row = evaluate_text(engine, 0, name, text, settings)
        hashes[f"{name}|en|batch-row"] = _digest(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
    engine.close()
    return hashes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000, help="synthetic patients (default 2,000)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write the hashes here")
    group.add_argument("--compare", type=Path, help="compare with hashes written before")
    args = parser.parse_args()
    t0 = time.perf_counter()
    hashes = outputs(args.n)
    print(f"{len(hashes)} outputs hashed in {time.perf_counter() - t0:.0f} s")
    if args.out is not None:
        args.out.write_text(json.dumps(hashes, indent=0, sort_keys=True) + "\n", encoding="utf-8")
        return 0
    before = json.loads(args.compare.read_text(encoding="utf-8"))
    changed = sorted(k for k in before.keys() | hashes.keys() if before.get(k) != hashes.get(k))
    for key in changed[:40]:
        print(f"CHANGED {key}")
    print(f"{len(changed)} of {len(before)} outputs differ" if changed else "same bytes: every output identical")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
