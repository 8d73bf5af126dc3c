"""A web server run as a real subprocess: started on a free port, stopped, or killed on demand.

The board's end-to-end and fault tests talk to ``cds board serve`` over HTTP exactly as a browser
does, and some kill it with SIGKILL in the middle of a write to show that nothing half-written
remains. :class:`ServerProcess` starts the command (``{port}`` in its arguments is replaced by a
free port), waits until something answers HTTP on 127.0.0.1, and stops it with SIGTERM then
SIGKILL; :meth:`ServerProcess.kill` sends SIGKILL at once. The process runs in its own process
group (so a server that forks workers dies whole) and writes its output to files, so a chatty
server never blocks on a full pipe and a failure can quote what it printed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout these tests belong to: the server's working directory and first on its PYTHONPATH."""

PORT_PLACEHOLDER = "{port}"


class ServerFailed(RuntimeError):
    """The server exited or did not answer in time; the message ends with what it wrote on stderr."""


@dataclass
class ServerProcess:
    """One server subprocess.

    Attributes
    ----------
    command
        The command as given, ``{port}`` not yet replaced.
    port
        The TCP port on 127.0.0.1 the server was told to listen on.
    log_dir
        Where ``stdout.log`` and ``stderr.log`` are written.
    """

    command: Sequence[str]
    port: int
    log_dir: Path
    env: Mapping[str, str] | None = None
    cwd: Path = REPO_ROOT
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def argv(self) -> list[str]:
        """The command with ``{port}`` replaced by :attr:`port`."""
        return [arg.replace(PORT_PLACEHOLDER, str(self.port)) for arg in self.command]

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server was never launched"
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """None while running; the exit code, or minus the signal number that ended it."""
        return None if self.process is None else self.process.poll()

    def stderr_text(self) -> str:
        """Everything the server wrote on stderr so far."""
        path = self.log_dir / "stderr.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stdout_text(self) -> str:
        """Everything the server wrote on stdout so far."""
        path = self.log_dir / "stdout.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def launch(self) -> ServerProcess:
        """Start the process without waiting for it to answer."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = server_environment(self.env)
        with open(self.log_dir / "stdout.log", "wb") as out, open(self.log_dir / "stderr.log", "wb") as err:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                            cwd=self.cwd, env=env, start_new_session=True)
        return self

    def wait_ready(self, *, timeout: float = 30.0, path: str = "/") -> ServerProcess:
        """Poll ``GET path`` until the server answers with any HTTP status.

        Raises :class:`ServerFailed` (and kills the process) when it exits first or when
        ``timeout`` seconds pass; the message quotes the command, the exit code and stderr.
        """
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while True:
                if self.returncode is not None:
                    raise ServerFailed(self._failure(f"exited with code {self.returncode} before answering HTTP"))
                with contextlib.suppress(httpx.TransportError):
                    client.get(path)
                    return self
                if time.monotonic() > deadline:
                    self.kill()
                    raise ServerFailed(self._failure(f"did not answer HTTP on {self.base_url}{path} "
                                                     f"within {timeout:g} s (killed)"))
                time.sleep(0.05)

    def stop(self, *, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL when the server is still there after ``grace`` seconds.

        Returns the exit code (minus the signal number when a signal ended it), None when the
        server was never launched. Stopping a stopped server does nothing.
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=30)
        return self.process.returncode

    def kill(self) -> int | None:
        """SIGKILL now (no clean-up runs in the server), and wait for the process to go."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        return self.process.returncode

    def _signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        # start_new_session made the server the leader of its own group, so the group is only its
        # own; it is signalled only while the leader is not reaped, so the id cannot be reused.
        if self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def _failure(self, what: str) -> str:
        stderr = self.stderr_text()[-4000:] or "(nothing)"
        return f"server {self.argv!r} {what}\n--- stderr ---\n{stderr}"

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process's environment: ours, this checkout first on PYTHONPATH, unbuffered output, ``extra``."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def start_server(command: Sequence[str], log_dir: Path, *, env: Mapping[str, str] | None = None,
                 cwd: Path = REPO_ROOT, ready_path: str = "/", timeout: float = 30.0,
                 attempts: int = 3) -> ServerProcess:
    """Start ``command`` on a free port and return it once it answers HTTP.

    ``{port}`` in ``command`` is replaced by the port. When the server exits saying the address
    is in use (another process took the port between choosing and binding it), a new port is
    tried, ``attempts`` times in all. Each attempt logs under ``log_dir/attempt-<n>``.

    Examples
    --------
    >>> import sys, tempfile
    >>> command = [sys.executable, "-m", "uvicorn", "tests.support.echo_app:app", "--port", "{port}"]
    >>> with start_server(command, Path(tempfile.mkdtemp())) as server:  # doctest: +SKIP
    ...     httpx.get(server.base_url).json()["ok"]
    True
    """
    if not any(PORT_PLACEHOLDER in arg for arg in command):
        raise ValueError(f"the command must say where the port goes ({PORT_PLACEHOLDER!r}): {list(command)!r}")
    for attempt in range(1, attempts + 1):
        server = ServerProcess(command=list(command), port=free_port(), log_dir=log_dir / f"attempt-{attempt}",
                               env=env, cwd=cwd)
        try:
            return server.launch().wait_ready(timeout=timeout, path=ready_path)
        except ServerFailed:
            server.stop(grace=1)
            if attempt == attempts or "address already in use" not in server.stderr_text().lower():
                raise
    raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover


def python_command(*args: str) -> list[str]:
    """``[sys.executable, *args]``: run with the Python running the tests (the project's venv)."""
    return [sys.executable, *args]


def board_serve_command(database_url: str, *extra: str) -> list[str]:
    """``cds board serve`` on ``{port}`` with ``database_url``, run from this checkout.

    Examples
    --------
    >>> board_serve_command("sqlite:///board.sqlite3")[-6:]
    ['board', 'serve', '--port', '{port}', '--database', 'sqlite:///board.sqlite3']
    """
    return python_command("-m", "cds.cli", "board", "serve", "--port", PORT_PLACEHOLDER,
                          "--database", database_url, *extra)
