"""Bring the board's database to the latest schema with Alembic, programmatically.

The migrations live in ``cds/board/migrations/`` (shipped in the wheel); no ``alembic.ini`` is
needed: :func:`upgrade` builds Alembic's configuration in code and runs on the store's own
connection. A new installation and an old one reach the same schema, and a test checks that
the migrations and :mod:`cds.board.models` agree.

Examples
--------
>>> from sqlalchemy import create_engine, inspect
>>> engine = create_engine("sqlite://")
>>> upgrade(engine)
>>> "decisions" in inspect(engine).get_table_names(), current(engine) == head()
(True, True)
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

#: Where the migration scripts are.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def config() -> Config:
    """Alembic's configuration for the board (no ini file).

    Returns
    -------
    alembic.config.Config
        With ``script_location`` set to :data:`MIGRATIONS`.

    Examples
    --------
    >>> config().get_main_option("script_location").endswith("migrations")
    True
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` (nothing when the database is already there).

    Parameters
    ----------
    engine
        The board's database.
    revision
        Target revision (default: the latest).
    """
    cfg = config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def head() -> str:
    """The latest revision of the migration scripts.

    Returns
    -------
    str
        Its id.
    """
    heads = ScriptDirectory.from_config(config()).get_heads()
    return heads[0]


def current(engine: Engine) -> str | None:
    """The revision a database is at (None before the first migration).

    Parameters
    ----------
    engine
        The database.

    Returns
    -------
    str or None
        Its revision.
    """
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
