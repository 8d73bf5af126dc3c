"""Alembic environment of the board: runs on the connection :func:`cds.board.migrate.upgrade` passes."""

from __future__ import annotations

from alembic import context

from cds.board.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `cds board migrate` and the store call us
    raise RuntimeError("run the board's migrations through cds.board.migrate.upgrade (cds board migrate)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
