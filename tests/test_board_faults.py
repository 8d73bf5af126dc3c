"""The board under faults, at the server level: ``cds board serve`` as a subprocess, real HTTP clients.

- The server is killed with SIGKILL while several clients record decisions: after a restart on the
  same database, every decision whose answer arrived (303) is there, none is half-written (each has
  its evaluation and its audit row, each evaluation the board wrote has its decision), and
  ``cds board verify-audit`` exits 0.
- Two members save the same case at once: exactly one new version; the other is told the case was
  saved by someone else (409), and nothing is lost silently.
- A POST without the CSRF token, and a viewer's write, are refused (403) and write nothing.
- A changed audit row is found by ``cds board verify-audit`` (exit 1, the row named).

Each runs on SQLite and on PostgreSQL (when a server can be started here).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy import func, select, update

from cds.board.models import AuditEntry, CaseVersion, Decision, Evaluation
from cds.board.store import Store
from cds.board.store import create_user as store_create_user
from cds.render.i18n import labels
from tests.support.board import (
    PASSWORD,
    PNET_FORM,
    Board,
    board_env,
    create_user,
    new_case,
    serve_command,
    signed_in,
    verify_audit,
)

if TYPE_CHECKING:
    from tests.support.fixtures import ServerRunner

#: Exit codes of a server stopped on purpose: 0, or -15 when uvicorn leaves on SIGTERM itself.
CLEAN_STOP = (0, -15)
WRITERS = 4
#: Decisions acknowledged before the kill (so that the kill lands among writes in flight).
ACKNOWLEDGED_BEFORE_KILL = 24


@pytest.fixture
def board(server_runner: ServerRunner, database_url: str, tmp_path: Path) -> Iterator[Board]:
    """A board on a fresh database: a coordinator made by the CLI, two members and a viewer by the store."""
    env = board_env(tmp_path / "board-data")
    create_user(database_url, "cora", "coordinator", env)
    store = Store(database_url)
    try:
        with store.write() as s:
            for name, role in (("mel", "member"), ("max", "member"), ("vic", "viewer")):
                store_create_user(s, name, PASSWORD, role)
    finally:
        store.dispose()
    server = server_runner(serve_command(database_url), env=env, ready_path="/login", timeout=60)
    yield Board(server, database_url, env)


def _top_option(client: httpx.Client, case_id: str) -> str:
    """The first option offered by the case's decision form (the top-ranked anti-tumour option)."""
    page = client.get(f"/cases/{case_id}").text
    found = re.search(r'name="chosen\.anti_tumour" value="([^"]+)"', page)
    assert found, "no decision form on the case page"
    return found.group(1)


def _writer(base: str, name: str, case_id: str, acked: list[str], errors: list[str], stop: threading.Event,
            ready: threading.Barrier) -> None:
    """Post concordant decisions on ``case_id`` until the server goes; note the acknowledged ones."""
    client, token = signed_in(base, name)
    with closing(client):
        top = _top_option(client, case_id)
        ready.wait(timeout=120)
        n = 0
        while not stop.is_set():
            n += 1
            text = f"{name}/{case_id}/{n}"
            try:
                r = client.post(f"/cases/{case_id}/decisions",
                                data={"chosen.anti_tumour": top, "version": "1", "free_text": text,
                                      "participants": "Dr A\nDr B", "csrf_token": token})
            except httpx.TransportError:
                return  # the server is gone: this one was not acknowledged
            if r.status_code == 303:
                acked.append(text)
            else:
                errors.append(f"{text}: HTTP {r.status_code}")
                return


def test_sigkill_while_recording_decisions(board: Board, server_runner: ServerRunner) -> None:
    base = board.url
    coordinator, token = signed_in(base, "cora")
    with closing(coordinator):
        cases = [new_case(coordinator, token) for _ in range(WRITERS)]
        for case_id in cases:  # the reports are computed once, before the writers start
            assert coordinator.get(f"/cases/{case_id}").status_code == 200
    acked: list[str] = []
    errors: list[str] = []
    stop = threading.Event()
    names = ["mel", "max", "mel", "max"]
    ready = threading.Barrier(WRITERS + 1)
    threads = [threading.Thread(target=_writer, args=(base, names[i], cases[i], acked, errors, stop, ready),
                                daemon=True) for i in range(WRITERS)]
    for t in threads:
        t.start()
    ready.wait(timeout=120)  # all signed in, all posting from now on
    deadline = time.monotonic() + 120
    while len(acked) < ACKNOWLEDGED_BEFORE_KILL and not errors and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not errors, errors
    assert len(acked) >= ACKNOWLEDGED_BEFORE_KILL, f"only {len(acked)} decisions in 120 s"
    assert board.server.kill() == -9  # SIGKILL, in the middle of the writers' posts
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    acknowledged = set(acked)

    # restart on the same database: the server starts, every acknowledged decision is there
    server = server_runner(serve_command(board.database_url), env=board.env, ready_path="/login", timeout=60)
    store = Store(board.database_url)
    try:
        with store.read() as s:
            decisions = list(s.execute(select(Decision)).scalars())
            texts = [d.free_text for d in decisions]
            assert acknowledged <= set(texts), sorted(acknowledged - set(texts))
            assert len(texts) == len(set(texts))  # none recorded twice
            assert len(texts) - len(acknowledged) <= WRITERS  # at most the one in flight per writer
            print(f"SIGKILL: {len(acknowledged)} decisions acknowledged, {len(texts)} recorded")
            # none half-written: each decision has its evaluation and its audit row, and each
            # evaluation the board wrote has its decision (they are written in one transaction)
            evaluations = set(s.execute(select(Evaluation.id)).scalars())
            assert {d.evaluation_id for d in decisions} == evaluations
            audited = set(s.execute(select(AuditEntry.object).where(AuditEntry.kind == "decision")).scalars())
            assert audited == {f"decision:{d.id}" for d in decisions}
            assert all(d.participants == ["Dr A", "Dr B"] and d.concordant for d in decisions)
        assert store.verify_audit() == []
    finally:
        store.dispose()
    done = verify_audit(board.database_url, board.env)
    assert done.returncode == 0, done.stderr
    # the restarted server shows them, and takes new ones
    client, token = signed_in(server.base_url, "mel")
    with closing(client):
        page = client.get(f"/cases/{cases[0]}").text
        assert all(text in page for text in acknowledged if text.split("/")[1] == cases[0])
        r = client.post(f"/cases/{cases[0]}/decisions", data={"chosen.anti_tumour": _top_option(client, cases[0]),
                                                              "version": "1", "csrf_token": token})
        assert r.status_code == 303
    assert server.stop() in CLEAN_STOP


def test_two_members_save_the_same_case_at_once(board: Board) -> None:
    base = board.url
    mel, mel_token = signed_in(base, "mel")
    max_, max_token = signed_in(base, "max")
    with closing(mel), closing(max_):
        case_id = new_case(mel, mel_token)
        # both open the edit form of version 1
        for client in (mel, max_):
            assert 'name="base_version" value="1"' in client.get(f"/cases/{case_id}/edit").text
        barrier = threading.Barrier(2)
        answers: dict[str, httpx.Response] = {}

        def save(who: str, client: httpx.Client, token: str, size: str) -> None:
            barrier.wait()
            answers[who] = client.post(f"/cases/{case_id}", data={**PNET_FORM, "tumour.size_mm": size,
                                                                   "base_version": "1", "csrf_token": token})

        threads = [threading.Thread(target=save, args=("mel", mel, mel_token, "18")),
                   threading.Thread(target=save, args=("max", max_, max_token, "22"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        codes = sorted(r.status_code for r in answers.values())
        assert codes == [303, 409], {w: (r.status_code, r.text[:300]) for w, r in answers.items()}
        winner = next(w for w, r in answers.items() if r.status_code == 303)
        loser = answers["max" if winner == "mel" else "mel"]
        stale = labels("en").fmt("board_stale", latest=2, base=1)
        assert stale.replace("'", "&#39;") in loser.text or stale in loser.text
        # the loser's values are still in the form it got back (to enter again), not saved
        size = "22" if winner == "mel" else "18"
        assert re.search(rf'name="tumour\.size_mm"[^>]*value="{size}"', loser.text)
        page = mel.get(f"/cases/{case_id}").text
        assert "version 2" in page
    store = Store(board.database_url)
    try:
        with store.read() as s:
            versions = list(s.execute(select(CaseVersion).where(CaseVersion.case_id == case_id)
                                      .order_by(CaseVersion.version)).scalars())
            assert [v.version for v in versions] == [1, 2]
            assert '"size_mm":' + ("18" if winner == "mel" else "22") in versions[1].patient_json.replace(" ", "")
        assert store.verify_audit() == []
    finally:
        store.dispose()


def _count(database_url: str) -> tuple[int, int, int]:
    store = Store(database_url)
    try:
        with store.read() as s:
            return (s.scalar(select(func.count()).select_from(Decision)) or 0,
                    s.scalar(select(func.count()).select_from(CaseVersion)) or 0,
                    s.scalar(select(func.count()).select_from(AuditEntry)) or 0)
    finally:
        store.dispose()


def test_refused_without_csrf_token_or_right(board: Board) -> None:
    base = board.url
    mel, token = signed_in(base, "mel")
    vic, vic_token = signed_in(base, "vic")
    with closing(mel), closing(vic):
        case_id = new_case(mel, token)
        top = _top_option(mel, case_id)
        before = _count(board.database_url)
        decision = {"chosen.anti_tumour": top, "version": "1"}
        # no token, a wrong one, a token of another session: 403, before any route runs
        assert mel.post(f"/cases/{case_id}/decisions", data=decision).status_code == 403
        assert mel.post(f"/cases/{case_id}/decisions", data={**decision, "csrf_token": "forged"}).status_code == 403
        assert mel.post(f"/cases/{case_id}/decisions", data={**decision, "csrf_token": vic_token}).status_code == 403
        assert mel.post("/cases", data=PNET_FORM).status_code == 403
        # a cross-site form post from a browser that holds the cookie but cannot read the token
        assert httpx.post(f"{base}/cases/{case_id}/decisions", data=decision,
                          cookies=mel.cookies).status_code == 403
        # a viewer, with a valid token: reads, but every write is refused
        assert vic.get(f"/cases/{case_id}").status_code == 200
        assert "decision-form" not in vic.get(f"/cases/{case_id}").text
        assert vic.post(f"/cases/{case_id}/decisions", data={**decision, "csrf_token": vic_token}).status_code == 403
        assert vic.post("/cases", data={**PNET_FORM, "csrf_token": vic_token}).status_code == 403
        assert vic.post(f"/cases/{case_id}", data={**PNET_FORM, "base_version": "1",
                                                   "csrf_token": vic_token}).status_code == 403
        assert vic.post("/sessions", data={"title": "x", "date": "2026-12-07",
                                           "csrf_token": vic_token}).status_code == 403
        # checking fields writes nothing: a viewer may (the what-if page does it as they type)
        assert vic.post("/cases/validate", data={**PNET_FORM, "csrf_token": vic_token}).status_code == 200
        # a member may not manage sessions
        assert mel.post("/sessions", data={"title": "x", "date": "2026-12-07",
                                           "csrf_token": token}).status_code == 403
        assert _count(board.database_url) == before  # nothing written, not even an audit row


def test_tampered_audit_row_is_detected(board: Board) -> None:
    mel, token = signed_in(board.url, "mel")
    with closing(mel):
        case_id = new_case(mel, token)
        top = _top_option(mel, case_id)
        r = mel.post(f"/cases/{case_id}/decisions", data={"chosen.anti_tumour": top, "version": "1",
                                                          "csrf_token": token})
        assert r.status_code == 303
    assert board.server.stop() in CLEAN_STOP
    done = verify_audit(board.database_url, board.env)
    assert done.returncode == 0, done.stderr
    store = Store(board.database_url)
    try:
        with store.write() as s:
            seq = s.scalar(select(AuditEntry.seq).where(AuditEntry.kind == "decision"))
            assert seq is not None
            s.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(actor="eve"))
    finally:
        store.dispose()
    done = verify_audit(board.database_url, board.env)
    assert done.returncode == 1
    assert f"row {seq}:" in done.stderr and "changed after it was written" in done.stderr
