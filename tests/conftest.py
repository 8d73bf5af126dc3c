"""Shared fixtures: one engine over the bundled knowledge for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cds import Engine, load_knowledge
from cds.knowledge import KnowledgeBase

# The real parts (PostgreSQL, a server process, Chromium): tests/support/README.md.
pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="session")
def engine(kb: KnowledgeBase) -> Iterator[Engine]:
    eng = Engine(kb)
    yield eng
    eng.close()


def patient_dict(**overrides: Any) -> dict[str, Any]:
    """A minimal valid patient (metastatic well-differentiated pNET G2), to be tweaked."""
    base: dict[str, Any] = {
        "age": 60,
        "sex": "F",
        "ecog": 1,
        "tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": 5},
        "disease": {"stage": "metastatic", "metastatic_sites": ["liver"], "status": "stable"},
        "imaging": {"sstr": "positive"},
        "labs": {"egfr_ml_min": 90},
    }
    return with_overrides(base, overrides)


def with_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied; a dict override is merged into the section it names."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def pytest_addoption(parser: pytest.Parser) -> None:
    """``pytest --update-golden`` rewrites the golden files in tests/golden/ instead of comparing."""
    import contextlib

    with contextlib.suppress(ValueError):  # another conftest or plug-in may have added it
        parser.addoption(
            "--update-golden", action="store_true", default=False,
            help="Rewrite the golden files (tests/golden/) from the current output.",
        )


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run should rewrite golden files rather than compare with them."""
    return bool(request.config.getoption("--update-golden", default=False))
