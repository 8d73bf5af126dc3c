"""The board's tables (SQLAlchemy 2 declarative), the same on SQLite and PostgreSQL.

Cases are pseudonymous and versioned: a :class:`CaseVersion` is never updated, an edit adds
the next version (the ``(case_id, version)`` pair is unique, which is what makes two members
saving the same case at once lose no update: the second one is told its base is stale). A
:class:`Decision` refers to the exact :class:`Evaluation` it was taken on (input hash,
knowledge and software versions). :class:`AuditEntry` rows are only ever appended; each holds
the hash of the previous one (:mod:`cds.board.audit`).

Examples
--------
>>> sorted(Base.metadata.tables)[:3]
['agenda_items', 'audit_entries', 'board_sessions']
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    """Now, in UTC, to the second (what every ``created_at`` records).

    Returns
    -------
    datetime.datetime
        A timezone-aware UTC time without microseconds.

    Examples
    --------
    >>> utcnow().tzinfo is not None and utcnow().microsecond == 0
    True
    """
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class Base(DeclarativeBase):
    """The declarative base of the board's tables (their metadata is what the migrations create)."""


class User(Base):
    """A person who logs in: a unique name, an argon2 hash, a role (coordinator, member, viewer)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BoardSession(Base):
    """A meeting of the tumour board: its date, title and participants, and its agenda."""

    __tablename__ = "board_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    agenda: Mapped[list[AgendaItem]] = relationship(
        back_populates="session", order_by="AgendaItem.position", cascade="all, delete-orphan"
    )


class Case(Base):
    """A pseudonymous case (``C-2026-0001``): a chain of immutable versions of the patient data."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    label: Mapped[str | None] = mapped_column(String(120), nullable=True)
    latest: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    versions: Mapped[list[CaseVersion]] = relationship(back_populates="case", order_by="CaseVersion.version")


class CaseVersion(Base):
    """One version of a case's patient data (the input contract, as canonical JSON); never updated."""

    __tablename__ = "case_versions"
    __table_args__ = (UniqueConstraint("case_id", "version", name="uq_case_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    version: Mapped[int] = mapped_column(Integer)
    patient_json: Mapped[str] = mapped_column(Text)
    input_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    case: Mapped[Case] = relationship(back_populates="versions")


class AgendaItem(Base):
    """A case on a session's agenda, at a position, discussed or not."""

    __tablename__ = "agenda_items"
    __table_args__ = (UniqueConstraint("session_id", "case_id", name="uq_agenda_case"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("board_sessions.id"))
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    position: Mapped[int] = mapped_column(Integer)
    discussed: Mapped[bool] = mapped_column(Boolean, default=False)
    session: Mapped[BoardSession] = relationship(back_populates="agenda")


class Evaluation(Base):
    """The recommendation netcds gave for one case version: what a decision refers to."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_version_id: Mapped[int] = mapped_column(ForeignKey("case_versions.id"))
    input_hash: Mapped[str] = mapped_column(String(64))
    knowledge_version: Mapped[str] = mapped_column(String(64))
    software_version: Mapped[str] = mapped_column(String(32))
    lang: Mapped[str] = mapped_column(String(2))
    recommendation_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Decision(Base):
    """The board's decision on a case, against the evaluation it was taken on.

    ``top`` and ``chosen`` map a track to option ids; ``site``, ``category`` and ``decided_on``
    are copied from the evaluation at the time of the decision so that the concordance
    dashboard reads one table.
    """

    __tablename__ = "decisions"
    # Covering indexes: the dashboard counts per group without reading the rows.
    __table_args__ = (
        Index("ix_decisions_site_concordant", "site", "concordant"),
        Index("ix_decisions_category_concordant", "category", "concordant"),
        Index("ix_decisions_decided_on_concordant", "decided_on", "concordant"),
        Index("ix_decisions_reason_concordant", "deviation_reason", "concordant"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"))
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    chosen: Mapped[dict[str, Any]] = mapped_column(JSON)
    top: Mapped[dict[str, Any]] = mapped_column(JSON)
    concordant: Mapped[bool] = mapped_column(Boolean)
    deviation_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    deviation_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    free_text: Mapped[str] = mapped_column(Text, default="")
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    site: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    decided_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class AuditEntry(Base):
    """One audit row: who did what to which object, the hash of the payload, chained to the previous row.

    ``prev_hash`` is unique: two rows can never claim the same predecessor, so the chain cannot
    fork even under concurrent writers.
    """

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(20))  # ISO 8601 UTC text: hashed as stored, on every database
    actor: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))
    object: Mapped[str] = mapped_column(String(80))
    payload_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class HookFeedback(Base):
    """What a clinician did with a card of the CDS Hooks service (accepted or overridden), as the EHR reported it.

    ``client`` is the verified issuer of the EHR's JWT; ``user_comment`` is the clinician's free text
    (kept here, never in the audit payload's clear text nor in a log).
    """

    __tablename__ = "hook_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(80))
    card: Mapped[str] = mapped_column(String(80), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON, default=list)
    override_system: Mapped[str | None] = mapped_column(String(200), nullable=True)
    override_code: Mapped[str | None] = mapped_column(String(80), nullable=True)
    override_display: Mapped[str | None] = mapped_column(String(200), nullable=True)
    user_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome_at: Mapped[str] = mapped_column(String(40))
    client: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
