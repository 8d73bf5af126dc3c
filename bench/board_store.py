"""Board storage figures: recording decisions, and the concordance dashboard over many decisions.

    python bench/board_store.py [--decisions 100000] [--database URL]

Fills a fresh database (an SQLite file in a temporary folder by default) with cases, evaluations
and decisions through the store (each in its own audited transaction for the first 1,000, then in
batches), then times the dashboard's summaries (per site, category, month, deviation reason) and
the CSV rows. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.orm import Session

from cds.board import store as st

SITES = ["pancreas", "small_intestine", "rectum", "stomach", "appendix", "duodenum", "colon", "unknown"]
CATEGORIES = ["net_g1", "net_g2", "net_g3", "nec", "minen"]
OPTIONS = ["ssa", "everolimus", "prrt", "capecitabine_temozolomide", "surgery_curative", "watchful_waiting"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    url = args.database or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    board = st.Store(url)
    rng = random.Random(7)
    with board.write() as s:
        user = st.create_user(s, "bench", "bench password long", "coordinator")
    singles = []
    t0 = time.perf_counter()
    with board.write() as s:
        case = st.create_case(s, {"tumour": {"primary_site": "pancreas"}}, None, user)
        version = st.latest_version(s, case.id)
    def record(s: Session, i: int) -> None:
        site, category = rng.choice(SITES), rng.choice(CATEGORIES)
        top, chosen = rng.choice(OPTIONS), rng.choice(OPTIONS)
        rec = json.dumps({"derived": {"category": category}, "anti_tumour": [{"option": top}], "antisecretory": []})
        ev = st.record_evaluation(s, version, rec, knowledge_version="k", software_version="v", lang="en", by=user)
        d = st.record_decision(s, evaluation_id=ev.id, chosen={"anti_tumour": [chosen]}, free_text="",
                               participants=[], deviation_reason=None if chosen == top else "other",
                               deviation_text=None if chosen == top else "bench", by=user,
                               decided_on=dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(1000)))
        d.site = site

    for i in range(min(1000, args.decisions)):  # one audited transaction each, as the web page does
        start = time.perf_counter()
        with board.write() as s:
            record(s, i)
        singles.append(time.perf_counter() - start)
    for first in range(1000, args.decisions, 1000):  # then in batches, to fill the table faster
        with board.write() as s:
            for i in range(first, min(first + 1000, args.decisions)):
                record(s, i)
        if first % 20_000 == 0:
            print(f"  {first} decisions recorded ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"database: {url.split(':')[0]}; {args.decisions} decisions recorded in {time.perf_counter() - t0:.1f} s")
    print(f"record one evaluation + decision (audited transaction): p50 {statistics.median(singles) * 1000:.1f} ms, "
          f"p95 {sorted(singles)[int(len(singles) * 0.95)] * 1000:.1f} ms (first 1,000)")
    for group in ("site", "category", "period", "deviation_reason"):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            with board.read() as s:
                groups = st.concordance_summary(s, group)
            times.append(time.perf_counter() - start)
        print(f"dashboard by {group}: {statistics.median(times) * 1000:.0f} ms over {args.decisions} decisions "
              f"({len(groups)} groups)")
    whole = []
    for _ in range(5):
        start = time.perf_counter()
        with board.read() as s:
            for group in ("site", "category", "period", "deviation_reason"):
                st.concordance_summary(s, group)
        whole.append(time.perf_counter() - start)
    print(f"the dashboard's four summaries together: {statistics.median(whole) * 1000:.0f} ms (target <= 300 ms)")
    start = time.perf_counter()
    with board.read() as s:
        rows = sum(1 for _ in st.concordance_rows(s))
    print(f"CSV rows: {rows} in {(time.perf_counter() - start) * 1000:.0f} ms")
    start = time.perf_counter()
    problems = board.verify_audit()
    print(f"verify-audit: {'ok' if not problems else problems[:1]} in {time.perf_counter() - start:.1f} s")
    board.dispose()


if __name__ == "__main__":
    main()
