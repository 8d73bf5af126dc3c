"""The pytest fixtures over the real parts (registered by ``tests/conftest.py``; see README.md).

Databases
    ``postgres_server`` (session): the PostgreSQL server, started once, stopped at the end;
    ``postgres_url`` (session): a database on it; ``database_url`` (per test, parametrised
    ``sqlite`` / ``postgresql``): a fresh empty database of each kind, so a storage test written
    once runs on both.
Servers
    ``server_runner`` (per test): ``server_runner(command)`` starts a server on a free port and
    waits for it; every server it started is stopped after the test.
Browser
    ``chromium_browser`` (per module), ``page`` (per test, 1920 x 1080), ``screenshot``.

Every fixture skips, saying why, when its part is missing on this machine.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from tests.support import browser as browser_support
from tests.support.postgres import (
    EXTERNAL_URL_VARIABLE,
    ExternalPostgres,
    LocalPostgres,
    PostgresUnavailable,
    start_postgres,
)
from tests.support.server import REPO_ROOT, ServerProcess, start_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres | ExternalPostgres]:
    """The session's PostgreSQL server: ``NETCDS_TEST_DATABASE_URL``'s when set, else one started here.

    A local server needs the PostgreSQL binaries (``initdb``, ``pg_ctl``, ``postgres``); under
    root it runs as the ``postgres`` user. Skips with the reason when neither is possible.
    """
    external = os.environ.get(EXTERNAL_URL_VARIABLE)
    if external:
        yield ExternalPostgres(external)
        return
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL server for the tests: {exc} (or set {EXTERNAL_URL_VARIABLE})")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: LocalPostgres | ExternalPostgres) -> str:
    """A ``postgresql+psycopg://`` URL of a database shared by the whole session."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test: a SQLite file, then a PostgreSQL database.

    The PostgreSQL case skips (the SQLite case still runs) when no server is available. The
    database is dropped after the test, closing any connection left open.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'board.sqlite3'}"
        return
    server: LocalPostgres | ExternalPostgres = request.getfixturevalue("postgres_server")
    from sqlalchemy.engine import make_url

    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(make_url(url).database or "")


class ServerRunner(Protocol):
    """``server_runner(command, *, env=None, ready_path="/", timeout=30.0) -> ServerProcess``."""

    def __call__(self, command: Sequence[str], *, env: Mapping[str, str] | None = None,
                 ready_path: str = "/", timeout: float = 30.0) -> ServerProcess: ...


@pytest.fixture
def server_runner(tmp_path: Path) -> Iterator[ServerRunner]:
    """Start servers (``{port}`` in the command is replaced by a free port); all stopped after the test.

    The server runs from this checkout (working directory and first on PYTHONPATH); its output
    is kept under ``tmp_path/server-<n>/`` and quoted when it fails to start.
    """
    started: list[ServerProcess] = []
    counter = itertools.count(1)

    def run(command: Sequence[str], *, env: Mapping[str, str] | None = None, ready_path: str = "/",
            timeout: float = 30.0) -> ServerProcess:
        server = start_server(command, tmp_path / f"server-{next(counter)}", env=env, cwd=REPO_ROOT,
                              ready_path=ready_path, timeout=timeout)
        started.append(server)
        return server

    yield run
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, headless, one per test module; skips when missing."""
    reason = browser_support.unavailable_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = browser_support.launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium_browser: Browser) -> Iterator[Page]:
    """A page at 1920 x 1080 in a fresh browser context (no cookies from other tests)."""
    page = browser_support.new_page(chromium_browser)
    try:
        yield page
    finally:
        page.context.close()


class Screenshot(Protocol):
    """``screenshot(page, name, *, full_page=False) -> Path`` (a PNG under the test's tmp_path)."""

    def __call__(self, page: Page, name: str, *, full_page: bool = False) -> Path: ...


@pytest.fixture
def screenshot(tmp_path: Path) -> Screenshot:
    """Save screenshots under ``tmp_path/screenshots/`` for a human to look at."""

    def take(page: Page, name: str, *, full_page: bool = False) -> Path:
        return browser_support.screenshot(page, tmp_path / "screenshots", name, full_page=full_page)

    return take


__all__ = ["chromium_browser", "database_url", "page", "postgres_server", "postgres_url", "screenshot",
           "server_runner"]
