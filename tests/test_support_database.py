"""The database fixtures themselves: a real PostgreSQL server and SQLite, reached with SQLAlchemy 2.

The board's storage tests take ``database_url`` and run once per database kind; these tests
show that each kind really is there (a table created, a row written and read back, in a fresh
database), and how long the PostgreSQL server took to start (printed with ``-s``, not asserted).
"""

from __future__ import annotations

import pytest

from tests.support.postgres import ExternalPostgres, LocalPostgres

sqlalchemy = pytest.importorskip("sqlalchemy")
pytest.importorskip("psycopg")


def test_database_url_round_trip(database_url: str) -> None:
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.begin() as conn:
            assert not sqlalchemy.inspect(conn).get_table_names()  # a fresh, empty database
            conn.execute(sqlalchemy.text("CREATE TABLE decision (id INTEGER PRIMARY KEY, chosen TEXT NOT NULL)"))
            conn.execute(sqlalchemy.text("INSERT INTO decision (id, chosen) VALUES (1, :c)"), {"c": "PRRT été"})
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT chosen FROM decision WHERE id = 1")).scalar_one() == "PRRT été"
    finally:
        engine.dispose()
    assert engine.dialect.name == database_url.split(":", 1)[0].split("+", 1)[0]


def test_postgres_is_a_real_server(postgres_server: LocalPostgres | ExternalPostgres, postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            version_num = int(conn.execute(sqlalchemy.text("SHOW server_version_num")).scalar_one())
            encoding = conn.execute(sqlalchemy.text("SHOW server_encoding")).scalar_one()
    finally:
        engine.dispose()
    assert version_num >= 150000
    assert encoding == "UTF8"
    timings = ", ".join(f"{k} {v:.2f} s" for k, v in postgres_server.timings.items())
    print(f"PostgreSQL {postgres_server.version}: {timings or 'external server'}")


def test_fresh_databases_are_separate(postgres_server: LocalPostgres | ExternalPostgres) -> None:
    if isinstance(postgres_server, ExternalPostgres):
        pytest.skip("an external server may not let us create databases")
    first, second = postgres_server.create_database(), postgres_server.create_database()
    assert first != second
    engine = sqlalchemy.create_engine(first)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE only_in_first (id INTEGER)"))
        # an engine still holding a pooled connection does not stop the drop (WITH (FORCE))
        postgres_server.drop_database(first.rsplit("/", 1)[-1])
    finally:
        engine.dispose()
    other = sqlalchemy.create_engine(second)
    try:
        with other.connect() as conn:
            assert not sqlalchemy.inspect(conn).get_table_names()
    finally:
        other.dispose()
    postgres_server.drop_database(second.rsplit("/", 1)[-1])


def test_missing_binaries_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import postgres

    monkeypatch.setattr(postgres, "find_bindir", lambda: None)
    with pytest.raises(postgres.PostgresUnavailable, match=r"binaries .* are not installed"):
        postgres.start_postgres()
