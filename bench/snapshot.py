"""Snapshot every output of the command line, to prove a refactoring changed no byte.

Runs ``cds evaluate`` (json, text, markdown, html), ``cds explain`` (json, text,
markdown, one option per patient) and ``cds surveillance`` (json, text, and ics
for dated patients) in English and French on every vignette patient, every
example patient and N random patients (``tests.strategies``), in process through
Click's test runner, and writes one SHA-256 per output to a JSON file::

    python bench/snapshot.py --out /tmp/before.json            # on the old commit
    python bench/snapshot.py --out /tmp/after.json             # on the new one
    python bench/snapshot.py --compare /tmp/before.json /tmp/after.json

HTML reports draw their pathway pictures (Graphviz) for the vignette and
example patients only; for random patients ``dot`` is hidden so the report
carries its "picture unavailable" note (drawing 4,000 reports would take an
hour). ``--keep DIR`` also writes the outputs themselves, for a diff.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from typer.testing import CliRunner

from cds.cli import app
from cds.knowledge.layout import Layout
from tests.strategies import random_patients

ROOT = Path(__file__).resolve().parents[1]
LANGS = ("en", "fr")
EXPLAINED = ("prrt", "surgery_curative", "everolimus", "ssa", "capecitabine_temozolomide",
             "platinum_etoposide", "best_supportive_care", "liver_embolization")


def _patients(n: int) -> list[tuple[str, dict[str, Any], bool]]:
    """(name, patient, draw pictures) for vignettes, examples and ``n`` random patients."""
    out: list[tuple[str, dict[str, Any], bool]] = []
    for path in Layout(ROOT / "knowledge").vignette_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        out.append((f"vignette:{data['id']}", data["patient"], True))
    for path in sorted((ROOT / "examples").glob("*.json")):
        out.append((f"example:{path.name}", json.loads(path.read_text(encoding="utf-8")), True))
    for i, data in enumerate(random_patients(n, seed=23)):
        out.append((f"random:{i}", data, False))
    return out


def snapshot(n: int, keep: Path | None, only: tuple[str, ...] = ()) -> dict[str, str]:
    runner = CliRunner()
    hashes: dict[str, str] = {}
    empty_bin = tempfile.mkdtemp(prefix="nodot")
    path_with_dot = os.environ.get("PATH", "")
    with tempfile.TemporaryDirectory() as tmp:
        pfile = Path(tmp) / "patient.json"
        ofile = Path(tmp) / "out"
        patients = _patients(n)
        for count, (name, data, pictures) in enumerate(patients):
            os.environ["PATH"] = path_with_dot if pictures else empty_bin
            pfile.write_text(json.dumps(data), encoding="utf-8")
            option = EXPLAINED[count % len(EXPLAINED)]
            for lang in LANGS:
                runs: list[tuple[str, list[str]]] = [
                    (f"evaluate.{fmt}", ["evaluate", str(pfile), "-f", fmt, "-l", lang, "-o", str(ofile)])
                    for fmt in ("json", "text", "markdown", "html")
                ]
                runs += [
                    (f"explain.{option}.{fmt}",
                     ["explain", str(pfile), "--option", option, "-f", fmt, "-l", lang, "-o", str(ofile)])
                    for fmt in ("json", "text", "markdown")
                ]
                runs += [
                    (f"surveillance.{fmt}", ["surveillance", str(pfile), "-f", fmt, "-l", lang, "-o", str(ofile)])
                    for fmt in ("json", "text")
                ]
                if data.get("as_of"):
                    runs.append(("surveillance.ics",
                                 ["surveillance", str(pfile), "-f", "ics", "-l", lang, "-o", str(ofile)]))
                for key, args in runs:
                    if only and not key.startswith(only):
                        continue
                    if ofile.exists():
                        ofile.unlink()
                    result = runner.invoke(app, args)
                    body = ofile.read_bytes() if ofile.exists() else b""
                    blob = f"exit={result.exit_code}\n".encode() + result.output.encode() + b"\n--\n" + body
                    full = f"{name}|{lang}|{key}"
                    hashes[full] = hashlib.sha256(blob).hexdigest()
                    if keep is not None:
                        target = keep / hashlib.sha1(full.encode()).hexdigest()[:16]
                        target.write_bytes(full.encode() + b"\n" + blob)
            if count % 200 == 0:
                print(f"{count}/{len(patients)}", file=sys.stderr)
    os.environ["PATH"] = path_with_dot
    return hashes


def compare(before: Path, after: Path) -> int:
    a = json.loads(before.read_text())
    b = json.loads(after.read_text())
    common = set(a) & set(b)
    changed = sorted(k for k in common if a[k] != b[k])
    gone = sorted(set(a) - set(b)) if len(b) >= len(a) else []
    new = sorted(set(b) - set(a)) if len(a) >= len(b) else []
    kinds: dict[str, int] = {}
    for k in changed:
        kind = k.split("|")[2].split(".")[0] + "." + k.split("|")[2].split(".")[-1]
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"{len(a)} outputs before, {len(b)} after: {len(changed)} changed, {len(gone)} gone, {len(new)} new")
    for kind, count in sorted(kinds.items()):
        print(f"  {kind}: {count} changed")
    for k in changed[:20]:
        print(f"  {k}")
    return 1 if changed or gone or new else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--random", type=int, default=2000)
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path)
    parser.add_argument("--only", default="", help="comma-separated output kinds, e.g. surveillance,evaluate.html")
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    only = tuple(k for k in args.only.split(",") if k)
    hashes = snapshot(args.random, args.keep, only)
    args.out.write_text(json.dumps(hashes, indent=0, sort_keys=True))
    print(f"{len(hashes)} outputs hashed to {args.out}")


if __name__ == "__main__":
    main()
