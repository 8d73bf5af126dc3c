"""A throwaway PostgreSQL server for the tests, started with ``initdb`` and ``pg_ctl``.

The board stores cases and decisions in SQLite or PostgreSQL; its storage tests run on both,
against a real server rather than a mock, because the two differ where it matters (locking,
transactions, types). :func:`start_postgres` makes a cluster in a fresh temporary directory,
starts it on 127.0.0.1 with a free port (its unix socket in the same directory, so no system
directory is touched) and trust authentication for the local superuser; :meth:`LocalPostgres.stop`
stops it with ``pg_ctl stop -m immediate`` and removes the directory.

PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres`` user
(``nobody`` when there is none) and its commands run through ``runuser``. Durability settings
are relaxed (``fsync=off``): committed data survives the death of a client, which is what the
fault tests kill, not the death of the machine.

Nothing here is imported by ``cds``; the pytest fixtures are in :mod:`tests.support.fixtures`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ports import free_port

SUPERUSER = "postgres"
"""The cluster's superuser (``initdb -U``), whatever the operating-system user running it."""

EXTERNAL_URL_VARIABLE = "NETCDS_TEST_DATABASE_URL"
"""An existing PostgreSQL database to use when no local server can be started (or to prefer one)."""

_BINARIES = ("initdb", "pg_ctl", "postgres")
_counter = itertools.count(1)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why (tests skip with it)."""


def find_bindir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None.

    Looked for on ``PATH`` (symbolic links resolved: Debian keeps the server binaries in
    ``/usr/lib/postgresql/<major>/bin``), then with ``pg_config --bindir``, then in
    ``/usr/lib/postgresql/*/bin``, newest major first.

    Examples
    --------
    >>> bindir = find_bindir()
    >>> bindir is None or (bindir / "pg_ctl").exists()
    True
    """
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidates.append(Path(out.stdout.strip()))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_major_of_path, reverse=True)
    candidates.extend(debian)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in _BINARIES):
            return bindir
    return None


def _major_of_path(path: Path) -> int:
    name = path.parent.name
    return int(name) if name.isdigit() else 0


def server_version(bindir: Path) -> str:
    """``postgres --version``'s number, e.g. ``"15.18"``."""
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=30,
                         check=True)
    match = re.search(r"(\d+(?:\.\d+)*)", out.stdout)
    return match.group(1) if match else out.stdout.strip()


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable("running as root and there is no 'postgres' or 'nobody' user to own the cluster")


@dataclass
class LocalPostgres:
    """A running cluster made by :func:`start_postgres`.

    Attributes
    ----------
    directory
        The temporary directory holding the data directory, the socket and ``server.log``.
    port
        The TCP port on 127.0.0.1.
    version
        The server's version, e.g. ``"15.18"``.
    timings
        Seconds spent in ``initdb`` and in ``pg_ctl start`` (reported, never asserted).
    """

    bindir: Path
    directory: Path
    port: int
    version: str
    run_as: str | None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"

    def url(self, database: str = "postgres", driver: str = "psycopg") -> str:
        """The SQLAlchemy URL of ``database`` on this server, ``postgresql+psycopg://`` by default."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        """The libpq connection string of ``database`` (for psycopg without SQLAlchemy)."""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a fresh name unless given) and return its SQLAlchemy URL."""
        name = name or f"t{os.getpid()}_{next(_counter)}"
        _execute_autocommit(self.conninfo(), f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, closing the connections still open on it (``WITH (FORCE)``)."""
        _execute_autocommit(self.conninfo(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server at once (``pg_ctl stop -m immediate``) and remove its directory."""
        try:
            if (self.data_dir / "postmaster.pid").exists():
                _run(self, [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate",
                            "-w", "-t", "30"], check=False)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class ExternalPostgres:
    """A PostgreSQL database given by ``NETCDS_TEST_DATABASE_URL`` (a CI service, a developer's server).

    :meth:`create_database` makes a fresh database beside it when the URL's user may
    (``CREATEDB``); otherwise every caller gets the given database itself, shared, so it should
    be a throwaway one.
    """

    base_url: str
    version: str = "external"
    timings: dict[str, float] = field(default_factory=dict)

    def url(self, database: str | None = None, driver: str = "psycopg") -> str:
        """The SQLAlchemy URL of ``database`` on the same server (the given database by default)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.base_url)
        url = url.set(drivername=f"postgresql+{driver}" if driver else "postgresql")
        if database:
            url = url.set(database=database)
        return url.render_as_string(hide_password=False)

    def conninfo(self, database: str | None = None) -> str:
        """A libpq URI for ``database`` (for psycopg without SQLAlchemy)."""
        return self.url(database, driver="")

    def create_database(self, name: str | None = None) -> str:
        """A fresh database's URL when allowed, else the given database's URL."""
        import psycopg

        name = name or f"t{os.getpid()}_{next(_counter)}"
        try:
            _execute_autocommit(self.conninfo(), f'CREATE DATABASE "{name}"')
        except psycopg.Error:
            return self.url()
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database made by :meth:`create_database` (never the given one)."""
        from sqlalchemy.engine import make_url

        if name != make_url(self.base_url).database:
            _execute_autocommit(self.conninfo(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""


def _execute_autocommit(conninfo: str, sql: str) -> None:
    import psycopg  # the board extra; imported here so that this module loads without it

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.encode())


def _run(server: LocalPostgres, command: list[str], *, check: bool = True,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    if server.run_as:
        command = ["runuser", "-u", server.run_as, "--", *command]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=server.directory, env={**os.environ, "LC_ALL": "C", "LANG": "C"})
    if check and proc.returncode != 0:
        log = server.log_file.read_text(errors="replace")[-3000:] if server.log_file.exists() else ""
        raise PostgresUnavailable(
            f"{' '.join(command)} exited with {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            + (f"\nserver.log:\n{log}" if log else "")
        )
    return proc


def start_postgres(*, attempts: int = 3) -> LocalPostgres:
    """Make a cluster in a new temporary directory and start it on 127.0.0.1 with a free port.

    Raises :class:`PostgresUnavailable` when the binaries are missing or the server does not
    start (the message carries the command's output and the end of the server log). A port
    taken between choosing and binding it is retried with another, ``attempts`` times in all.

    Examples
    --------
    >>> server = start_postgres()  # doctest: +SKIP
    >>> server.url()  # doctest: +SKIP
    'postgresql+psycopg://postgres@127.0.0.1:41234/postgres'
    >>> server.stop()  # doctest: +SKIP
    """
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable("the PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed "
                                  "(Debian: apt-get install postgresql)")
    version = server_version(bindir)
    owner = _unprivileged_user() if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="netcds-pg-"))
    server = LocalPostgres(bindir=bindir, directory=directory, port=0, version=version,
                           run_as=owner.pw_name if owner else None)
    try:
        if owner is not None:
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        started = time.perf_counter()
        _run(server, [str(bindir / "initdb"), "-D", str(server.data_dir), "-U", SUPERUSER, "--auth=trust",
                      "--encoding=UTF8", "--locale=C", "--no-sync"])
        server.timings["initdb"] = time.perf_counter() - started
        for attempt in range(1, attempts + 1):
            server.port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {server.port} -k {directory} "
                       "-c fsync=off -c full_page_writes=off -c max_connections=100")
            started = time.perf_counter()
            proc = _run(server, [str(bindir / "pg_ctl"), "start", "-D", str(server.data_dir), "-l",
                                 str(server.log_file), "-o", options, "-w", "-t", "60"], check=attempt == attempts)
            if proc.returncode == 0:
                server.timings["start"] = time.perf_counter() - started
                return server
    except BaseException:
        server.stop()
        raise
    raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover
