"""The server runner itself, on a stand-in ASGI app (tests/support/echo_app.py), not the board.

The board's end-to-end and fault tests start ``cds board serve`` with ``server_runner``; these
tests show that the runner waits until the server answers, reports a server that never does
(with what it wrote on stderr), stops it cleanly, and kills it with SIGKILL mid-request.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.fixtures import ServerRunner
from tests.support.server import ServerFailed, ServerProcess, python_command, start_server

pytest.importorskip("uvicorn")

ECHO = python_command("-m", "uvicorn", "tests.support.echo_app:app", "--host", "127.0.0.1", "--port", "{port}")


def test_started_server_answers_and_stops_cleanly(server_runner: ServerRunner) -> None:
    server = server_runner(ECHO)
    answer = httpx.get(server.base_url + "/", timeout=5).json()
    assert answer == {"ok": True, "pid": server.pid}
    assert server.returncode is None
    code = server.stop()
    assert code in (0, -signal.SIGTERM)  # uvicorn >= 0.29 re-raises SIGTERM after shutting down
    assert "Application shutdown complete" in server.stderr_text()  # it shut down cleanly, not killed
    with pytest.raises(httpx.TransportError):
        httpx.get(server.base_url + "/", timeout=2)
    assert server.stop() == code  # a second stop does nothing


def test_kill_ends_the_server_mid_request(server_runner: ServerRunner) -> None:
    server = server_runner(ECHO)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        started = time.monotonic()

        failures: list[BaseException] = []

        def slow_request() -> None:
            try:
                client.get("/slow", params={"seconds": "5"})
            except BaseException as exc:
                failures.append(exc)

        thread = threading.Thread(target=slow_request)
        thread.start()
        time.sleep(0.5)  # the request is in flight
        assert server.kill() == -signal.SIGKILL
        thread.join(timeout=10)
    assert failures and isinstance(failures[0], httpx.TransportError), failures
    assert time.monotonic() - started < 5  # the request did not complete
    assert "Shutting down" not in server.stderr_text()  # no clean-up ran


def test_server_that_never_answers_times_out_with_its_stderr(tmp_path: Path) -> None:
    command = python_command("-c", "import sys, time; print('booting {port}', file=sys.stderr, flush=True); "
                                   "time.sleep(60)")
    started = time.monotonic()
    with pytest.raises(ServerFailed, match=r"(?s)did not answer HTTP.*within 1 s.*booting \d+"):
        start_server(command, tmp_path, timeout=1)
    assert time.monotonic() - started < 10


def test_server_that_exits_is_reported_with_its_stderr(server_runner: ServerRunner) -> None:
    command = python_command("-c", "import sys; sys.exit('no database at {port}')")
    with pytest.raises(ServerFailed, match=r"(?s)exited with code 1 before answering HTTP.*no database at \d+"):
        server_runner(command, timeout=20)


def test_stop_kills_a_server_that_ignores_sigterm(tmp_path: Path) -> None:
    command = python_command("-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                   "print('ready', flush=True); time.sleep(60)  # {port}")
    server = ServerProcess(command=command, port=0, log_dir=tmp_path).launch()
    deadline = time.monotonic() + 20
    while "ready" not in server.stdout_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.stop(grace=0.5) == -signal.SIGKILL


def test_command_must_say_where_the_port_goes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="port"):
        start_server(python_command("-m", "uvicorn", "tests.support.echo_app:app"), tmp_path)
