"""What the board's end-to-end and fault tests share: the CLI as a subprocess, a board server on a
fresh database, an httpx client signed in as a person, the CSRF token of a page.

Everything here talks to the real parts: ``python -m cds.cli`` run from this checkout, ``cds board
serve`` as a subprocess (:mod:`tests.support.server`), HTTP over 127.0.0.1.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.server import REPO_ROOT, ServerProcess, board_serve_command, python_command, server_environment

PASSWORD = "correct horse battery staple"
SECRET = "e2e-test-session-key-not-secret"

#: A small pancreatic NET, entered through the form (names are the form's fields).
PNET_FORM = {"fit_for_major_surgery": "false", "tumour.primary_site": "pancreas", "tumour.size_mm": "15",
             "tumour.ki67_percent": "1", "tumour.differentiation": "well", "disease.stage": "localized"}
#: The same patient as the JSON the CLI reads.
PNET_JSON = {"fit_for_major_surgery": False, "tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1,
                                                        "differentiation": "well"}, "disease": {"stage": "localized"}}


def board_env(data_dir: Path) -> dict[str, str]:
    """The environment of the board's CLI and server: a fixed session key, the data folder under the test's tmp."""
    return {"NETCDS_BOARD_SECRET": SECRET, "NETCDS_BOARD_DIR": str(data_dir)}


def cli(*args: str, stdin: str | None = None, env: Mapping[str, str] | None = None,
        timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cds.cli *args`` from this checkout, as a person at a terminal would (no check)."""
    return subprocess.run(python_command("-m", "cds.cli", *args), input=stdin, capture_output=True, text=True,
                          cwd=REPO_ROOT, env=server_environment(env), timeout=timeout, check=False)


def create_user(database_url: str, name: str, role: str, env: Mapping[str, str]) -> None:
    """``cds board create-user NAME --role ROLE --password-stdin`` (the password is :data:`PASSWORD`)."""
    done = cli("board", "create-user", name, "--role", role, "--password-stdin", "--database", database_url,
               stdin=PASSWORD + "\n", env=env)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr


def verify_audit(database_url: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``cds board verify-audit --database URL``."""
    return cli("board", "verify-audit", "--database", database_url, env=env)


@dataclass
class Board:
    """A running board: its server, its database, the environment both were started with."""

    server: ServerProcess
    database_url: str
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.base_url


def serve_command(database_url: str) -> list[str]:
    """``cds board serve`` on plain http at 127.0.0.1 (the tests' cookies are not Secure)."""
    return board_serve_command(database_url, "--insecure-cookies")


def token_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def signed_in(base_url: str, name: str, *, timeout: float = 60.0) -> tuple[httpx.Client, str]:
    """An httpx client signed in as ``name``, and the CSRF token of its session."""
    client = httpx.Client(base_url=base_url, timeout=timeout)
    token = token_of(client.get("/login").text)
    r = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text
    return client, token_of(client.get("/sessions").text)


def new_case(client: httpx.Client, token: str, fields: Mapping[str, str] | None = None) -> str:
    """Create a case through the form's POST; its id."""
    r = client.post("/cases", data={**(fields or PNET_FORM), "csrf_token": token})
    assert r.status_code == 303, r.text
    return str(r.headers["location"]).rsplit("/", 1)[-1]
