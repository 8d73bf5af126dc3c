"""Board page figures: the case page's latency with 10,000 cases in the database, over real HTTP.

    python bench/board_pages.py [--cases 10000] [--sample 300] [--decisions 0] [--database URL] [--no-postgresql]

Fills a fresh database with ``--cases`` cases through the store (batched transactions, each case
audited), starts ``cds board serve`` on it as a subprocess, signs in with httpx and times
``GET /cases/<id>`` over ``--sample`` random cases: the first view of a case (cold: the rule engine
evaluates it, the page is rendered) and the view right after (warm: the report is kept by the
server, only the page is built). The engine's own start (first evaluation after the server
starts) is timed apart and left out. Runs on an SQLite file, then on PostgreSQL when a server can
be started here (the test suite's ``tests/support/postgres.py``) or ``--database`` names one.
Target: p95 <= 150 ms. With ``--decisions N`` it then adds N decisions and times the concordance
dashboard and its CSV export over HTTP (target: <= 300 ms with 100,000). Prints figures; asserts
nothing.

The patients are the bundled examples with age and tumour size varied, so that every case is a
different patient (a different input hash: nothing is cached between cases).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from cds.board import store as st
from cds.input import validate_patient
from cds.resources import examples_dir
from tests.support.server import ServerProcess, board_serve_command, start_server

PASSWORD = "bench password, long enough"
BATCH = 500


def patients(n: int, seed: int = 12) -> Iterator[dict[str, Any]]:
    """``n`` valid patients: the examples, each copy with its age and tumour size changed."""
    rng = random.Random(seed)
    examples = [json.loads(p.read_text("utf-8")) for p in sorted(examples_dir().glob("*.json"))]
    for i in range(n):
        p = json.loads(json.dumps(examples[i % len(examples)]))
        p.pop("id", None)
        p["age"] = rng.randint(25, 89)
        tumour = p.setdefault("tumour", {})
        if "size_mm" in tumour:
            tumour["size_mm"] = max(1, int(tumour["size_mm"]) + rng.randint(-3, 3))
        yield p


def fill(url: str, n: int) -> list[str]:
    """A fresh board database with a coordinator and ``n`` cases; their ids."""
    board = st.Store(url)
    try:
        with board.write() as s:
            user = st.create_user(s, "bench", PASSWORD, "coordinator")
        start, ids = time.perf_counter(), []
        checked = 0
        batch: list[dict[str, Any]] = []
        for p in patients(n):
            if checked < 200:  # the generator makes valid patients: check a few
                validate_patient(p, "bench")
                checked += 1
            batch.append(p)
            if len(batch) == BATCH:
                ids += _store(board, user.id, batch)
                batch = []
        ids += _store(board, user.id, batch)
        print(f"  {n} cases stored in {time.perf_counter() - start:.1f} s ({BATCH} per transaction)", flush=True)
        return ids
    finally:
        board.dispose()


SITES = ["pancreas", "small_intestine", "rectum", "stomach", "appendix", "duodenum", "colon"]
CATEGORIES = ["net_g1", "net_g2", "net_g3", "nec"]
OPTIONS = ["ssa", "everolimus", "prrt", "capecitabine_temozolomide", "surgery_curative", "watchful_waiting"]


def fill_decisions(url: str, n: int, ids: list[str], seed: int = 5) -> None:
    """``n`` decisions (each on its own evaluation) on random cases, 1,000 per transaction."""
    if n <= 0:
        return
    rng = random.Random(seed)
    board = st.Store(url)
    start = time.perf_counter()
    try:
        for first in range(0, n, 1000):
            with board.write() as s:
                by = st.get_user(s, 1)
                for _ in range(first, min(first + 1000, n)):
                    version = st.latest_version(s, rng.choice(ids))
                    top, chosen = rng.choice(OPTIONS), rng.choice(OPTIONS)
                    rec = json.dumps({"derived": {"category": rng.choice(CATEGORIES)},
                                      "anti_tumour": [{"option": top}], "antisecretory": []})
                    ev = st.record_evaluation(s, version, rec, knowledge_version="bench", software_version="bench",
                                              lang="en", by=by)
                    d = st.record_decision(
                        s, evaluation_id=ev.id, chosen={"anti_tumour": [chosen]}, free_text="", participants=[],
                        deviation_reason=None if chosen == top else "other",
                        deviation_text=None if chosen == top else "bench", by=by,
                        decided_on=dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(1000)))
                    d.site = rng.choice(SITES)
    finally:
        board.dispose()
    print(f"  {n} decisions stored in {time.perf_counter() - start:.1f} s (1,000 per transaction)", flush=True)


def time_dashboard(base: str, repeat: int = 10) -> None:
    """``GET /dashboard`` (four summaries, rendered) and ``GET /dashboard.csv`` (every row), signed in."""
    with closing(signed_in(base)) as client:
        for path in ("/dashboard", "/dashboard?start=2025-01-01&end=2025-06-30", "/dashboard.csv"):
            values = []
            for _ in range(repeat if not path.endswith(".csv") else 3):
                start = time.perf_counter()
                r = client.get(path)
                values.append(time.perf_counter() - start)
                assert r.status_code == 200, (path, r.status_code)
            print(f"  GET {path}: median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms "
                  f"over {len(values)} ({len(r.content) // 1024} KiB)", flush=True)


def _store(board: st.Store, user_id: int, batch: list[dict[str, Any]]) -> list[str]:
    if not batch:
        return []
    with board.write() as s:
        by = st.get_user(s, user_id)
        return [st.create_case(s, p, None, by).id for p in batch]


@contextmanager
def served(url: str, work: Path) -> Iterator[ServerProcess]:
    """``cds board serve`` on ``url`` (plain http on 127.0.0.1), stopped at the end."""
    env = {"NETCDS_BOARD_SECRET": "bench-session-key", "NETCDS_BOARD_DIR": str(work / "board-data")}
    server = start_server(board_serve_command(url, "--insecure-cookies"), work / "server", env=env,
                          ready_path="/login", timeout=60)
    try:
        yield server
    finally:
        server.stop()


def signed_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    r = client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)})
    assert r.status_code == 303, r.status_code
    return client


def ms(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1000


def time_pages(base: str, ids: list[str], sample: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    chosen = rng.sample(ids, min(sample, len(ids) - 1))
    spare = next(i for i in ids if i not in set(chosen))
    with closing(signed_in(base)) as client:
        start = time.perf_counter()
        r = client.get(f"/cases/{spare}")
        first = time.perf_counter() - start
        assert r.status_code == 200, r.status_code
        cold: list[float] = []
        warm: list[float] = []
        for case_id in chosen:
            for bucket in (cold, warm):
                start = time.perf_counter()
                r = client.get(f"/cases/{case_id}")
                bucket.append(time.perf_counter() - start)
                assert r.status_code == 200 and case_id in r.text, (case_id, r.status_code)
    print(f"  first page after start (engine compiled, then the case): {first * 1000:.0f} ms")
    for name, values in (("cold (first view: evaluate + render)", cold), ("warm (report kept: render)", warm)):
        print(f"  GET /cases/<id> {name}: p50 {ms(values, 0.5):.0f} ms, p95 {ms(values, 0.95):.0f} ms, "
              f"max {max(values) * 1000:.0f} ms, mean {statistics.fmean(values) * 1000:.0f} ms over {len(values)}")
    print(f"  target p95 <= 150 ms: cold {'met' if ms(cold, 0.95) <= 150 else 'NOT met'}, "
          f"warm {'met' if ms(warm, 0.95) <= 150 else 'NOT met'}", flush=True)


def run(url: str, cases: int, sample: int, decisions: int, work: Path) -> None:
    print(f"database: {url.split(':')[0].split('+')[0]}", flush=True)
    ids = fill(url, cases)
    with served(url, work) as server:
        time_pages(server.base_url, ids, sample)
    if decisions > 0:
        fill_decisions(url, decisions, ids)
        with served(url, work / "dashboard") as server:
            time_dashboard(server.base_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--decisions", type=int, default=0,
                        help="then add this many decisions (e.g. 100000) and time the dashboard and its CSV")
    parser.add_argument("--database", default=None, help="a fresh database's URL (default: SQLite, then PostgreSQL)")
    parser.add_argument("--no-postgresql", action="store_true", help="SQLite only")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU(s); {args.cases} cases; {args.sample} cases timed", flush=True)
    with tempfile.TemporaryDirectory(prefix="netcds-bench-pages-") as tmp:
        work = Path(tmp)
        if args.database:
            run(args.database, args.cases, args.sample, args.decisions, work / "given")
            return
        run(f"sqlite:///{work / 'board.sqlite3'}", args.cases, args.sample, args.decisions, work / "sqlite")
        if args.no_postgresql:
            return
        from tests.support.postgres import PostgresUnavailable, start_postgres

        try:
            pg = start_postgres()
        except PostgresUnavailable as exc:
            print(f"PostgreSQL: not run ({exc})")
            return
        try:
            run(pg.create_database(), args.cases, args.sample, args.decisions, work / "postgresql")
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
