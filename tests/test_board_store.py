"""The board's storage: migrations, versions, decisions, concordance, the audit chain, crashes, concurrency.

Every test runs on a real database file (SQLite); the PostgreSQL runs use the same tests through
the ``database_url`` fixture when a server is available (tests/support).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cds.board import store as st
from cds.board.migrate import head
from cds.board.models import Base, User

PATIENT: dict[str, Any] = {"tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 5},
                           "disease": {"stage": "metastatic"}}
RECOMMENDATION = json.dumps({"derived": {"category": "net_g2"},
                             "anti_tumour": [{"option": "ssa"}, {"option": "everolimus"}],
                             "antisecretory": []})


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[st.Store]:
    board = st.Store(f"sqlite:///{tmp_path / 'board.sqlite3'}")
    yield board
    board.dispose()


def _user(board: st.Store, name: str = "ana", role: str = "coordinator") -> User:
    with board.write() as s:
        return st.create_user(s, name, "correct horse battery", role)


def _evaluated_case(board: st.Store, user: User) -> tuple[str, int]:
    with board.write() as s:
        case = st.create_case(s, PATIENT, "demo", user)
        version = st.latest_version(s, case.id)
        evaluation = st.record_evaluation(s, version, RECOMMENDATION, knowledge_version="k", software_version="v",
                                          lang="en", by=user)
        return case.id, evaluation.id


def test_migrations_match_the_models(store: st.Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    assert store.revision() == head()
    with store._write_engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_users_are_checked_and_every_login_is_audited(store: st.Store) -> None:
    _user(store)
    with pytest.raises(st.StoreError, match="already exists"), store.write() as s:
        st.create_user(s, "ana", "another long password", "member")
    with pytest.raises(st.StoreError, match="at least 10"), store.write() as s:
        st.create_user(s, "bob", "short", "member")
    with store.write() as s:
        assert st.authenticate(s, "ana", "nope nope nope") is None
        assert st.authenticate(s, "ana", "correct horse battery") is not None
        assert st.authenticate(s, "nobody", "correct horse battery") is None
    with store.read() as s:
        kinds = [k for (k,) in s.execute(text("SELECT kind FROM audit_entries ORDER BY seq"))]
        stored = s.execute(text("SELECT password_hash FROM users")).scalar_one()
    assert kinds == ["user_created", "login_failed", "login", "login_failed"]
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


def test_a_case_is_a_chain_of_versions_and_a_stale_edit_overwrites_nothing(store: st.Store) -> None:
    ana = _user(store)
    with store.write() as s:
        case_id = st.create_case(s, PATIENT, "first", ana).id
    edited = {**PATIENT, "age": 60}
    with store.write() as s:
        assert st.save_case_version(s, case_id, edited, 1, ana).version == 2
    with pytest.raises(st.StaleVersion, match="now version 2"), store.write() as s:
        st.save_case_version(s, case_id, {**PATIENT, "age": 70}, 1, ana)
    with store.read() as s:
        case = st.get_case(s, case_id)
        assert [v.version for v in case.versions] == [1, 2]
        assert st.patient_of(case.versions[0]) == PATIENT and st.patient_of(case.versions[1]) == edited
        assert case.versions[0].input_hash != case.versions[1].input_hash


def test_two_members_saving_the_same_case_at_once_lose_no_update(store: st.Store) -> None:
    ana, bob = _user(store), _user(store, "bob", "member")
    with store.write() as s:
        case_id = st.create_case(s, PATIENT, None, ana).id
    barrier = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def save(user: User, age: int) -> None:
        barrier.wait()
        try:
            with store.write() as s:
                st.save_case_version(s, case_id, {**PATIENT, "age": age}, 1, user)
            outcome[user.name] = "saved"
        except st.StaleVersion:
            outcome[user.name] = "stale"

    threads = [threading.Thread(target=save, args=(u, a)) for u, a in ((ana, 61), (bob, 62))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcome.values()) == ["saved", "stale"]
    with store.read() as s:
        versions = st.get_case(s, case_id).versions
    winner = next(name for name, result in outcome.items() if result == "saved")
    assert [v.version for v in versions] == [1, 2]
    assert st.patient_of(versions[1])["age"] == (61 if winner == "ana" else 62)
    assert store.verify_audit() == []


def test_a_decision_refers_to_its_evaluation_and_a_deviation_needs_a_reason(store: st.Store) -> None:
    ana = _user(store)
    case_id, evaluation_id = _evaluated_case(store, ana)
    with store.write() as s:
        agree = st.record_decision(s, evaluation_id=evaluation_id, chosen={"anti_tumour": ["ssa"]}, free_text="",
                                   participants=["ana"], deviation_reason=None, deviation_text=None, by=ana,
                                   decided_on=dt.date(2026, 12, 1))
        assert agree.concordant and agree.site == "pancreas" and agree.category == "net_g2"
    with pytest.raises(st.DeviationRequired, match="anti_tumour: ssa"), store.write() as s:
        st.record_decision(s, evaluation_id=evaluation_id, chosen={"anti_tumour": ["everolimus"]}, free_text="",
                           participants=[], deviation_reason=None, deviation_text=None, by=ana)
    with pytest.raises(st.StoreError, match="say what the other reason is"), store.write() as s:
        st.record_decision(s, evaluation_id=evaluation_id, chosen={"anti_tumour": ["everolimus"]}, free_text="",
                           participants=[], deviation_reason="other", deviation_text=" ", by=ana)
    with store.write() as s:
        deviate = st.record_decision(s, evaluation_id=evaluation_id, chosen={"anti_tumour": ["everolimus"]},
                                     free_text="trial", participants=[], deviation_reason="trial_inclusion",
                                     deviation_text=None, by=ana, decided_on=dt.date(2026, 12, 2))
        assert not deviate.concordant and deviate.top == {"anti_tumour": "ssa", "antisecretory": None}
    with store.read() as s:
        rows = list(st.concordance_rows(s))
        assert [(r.top, r.chosen, r.concordant, r.deviation_reason) for r in rows] == [
            ("ssa", ("ssa",), True, None), ("ssa", ("everolimus",), False, "trial_inclusion")]
        assert [r.decided_on for r in st.concordance_rows(s, start=dt.date(2026, 12, 2))] == [dt.date(2026, 12, 2)]
        assert len(st.decisions_of(s, case_id)) == 2


def test_the_agenda_keeps_its_order(store: st.Store) -> None:
    ana = _user(store)
    with store.write() as s:
        board = st.create_session(s, date=dt.date(2026, 12, 10), title="RCP", participants=["ana", " "], by=ana)
        first = st.create_case(s, PATIENT, None, ana).id
        second = st.create_case(s, PATIENT, None, ana).id
        st.add_to_agenda(s, board.id, first, ana)
        st.add_to_agenda(s, board.id, second, ana)
        st.add_to_agenda(s, board.id, first, ana)  # once only
        st.reorder_agenda(s, board.id, [second, first], ana)
        st.mark_discussed(s, board.id, second, True, ana)
    with pytest.raises(st.StoreError, match="exactly once"), store.write() as s:
        st.reorder_agenda(s, board.id, [first], ana)
    with store.read() as s:
        agenda = st.get_session(s, board.id).agenda
        assert [(i.case_id, i.discussed) for i in agenda] == [(second, True), (first, False)]
        assert st.get_session(s, board.id).participants == ["ana"]


@pytest.mark.parametrize("tamper", ["change", "delete", "insert"])
def test_a_tampered_audit_row_is_detected(store: st.Store, tamper: str) -> None:
    ana = _user(store)
    _evaluated_case(store, ana)
    assert store.verify_audit() == []
    with store._write_engine.begin() as connection:
        if tamper == "change":
            connection.execute(text("UPDATE audit_entries SET actor = 'eve' WHERE seq = 2"))
        elif tamper == "delete":
            connection.execute(text("DELETE FROM audit_entries WHERE seq = 2"))
        else:
            connection.execute(text("INSERT INTO audit_entries VALUES (99, 'x', 'eve', 'x', 'x', 'x', 'p', 'h')"))
    problems = store.verify_audit()
    assert problems and all(p.startswith("row ") for p in problems)


WRITER = """
import sys, json
from cds.board import store as st
board = st.Store(sys.argv[1])
with board.read() as s:
    user = s.query(st.User).one()
for i in range(10_000):
    with board.write() as s:
        version = st.latest_version(s, sys.argv[2])
        ev = st.record_evaluation(s, version, sys.argv[3], knowledge_version="k", software_version="v", lang="en",
                                  by=user)
        d = st.record_decision(s, evaluation_id=ev.id, chosen={"anti_tumour": ["ssa"]}, free_text=str(i),
                               participants=[], deviation_reason=None, deviation_text=None, by=user)
    print(d.id, flush=True)  # acknowledged: committed
"""


def test_a_killed_writer_loses_no_acknowledged_decision_and_leaves_the_chain_whole(tmp_path: Path) -> None:
    """SIGKILL while decisions are being recorded: every acknowledged one is there, none half-written."""
    url = f"sqlite:///{tmp_path / 'board.sqlite3'}"
    board = st.Store(url)
    ana = _user(board)
    with board.write() as s:
        case_id = st.create_case(s, PATIENT, None, ana).id
    board.dispose()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url, case_id, RECOMMENDATION], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None
    acknowledged = [int(proc.stdout.readline()) for _ in range(25)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    acknowledged += [int(line) for line in proc.stdout.read().split()]
    board = st.Store(url)
    try:
        with board.read() as s:
            stored = {d.id for d in st.decisions_of(s, case_id)}
            evaluations = s.execute(text("SELECT count(*) FROM evaluations")).scalar_one()
        assert set(acknowledged) <= stored
        assert evaluations == len(stored)  # no evaluation without its decision: one transaction each
        assert board.verify_audit() == []
    finally:
        board.dispose()
