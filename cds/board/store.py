"""Every read and write of the board, each write in one serialized, audited transaction.

The web layer calls only this module for data. A :class:`Store` opens the database (SQLite file
by default, PostgreSQL by URL), brings its schema to the latest migration, and hands out
transactions: :meth:`Store.read` for pages, :meth:`Store.write` for changes. Writes are
serialized (SQLite ``BEGIN IMMEDIATE``; a PostgreSQL transaction-scoped advisory lock), which
keeps the audit chain linear and makes the "latest version" check of a case exact; every write
function appends its audit row in the same transaction, so an acknowledged write and its audit
row are committed together or not at all.

Examples
--------
>>> store = Store("sqlite://")
>>> with store.write() as s:
...     ana = create_user(s, "ana", "correct horse battery", "coordinator")
...     case = create_case(s, {"tumour": {"primary_site": "pancreas"}}, None, ana)
>>> case.id.startswith("C-"), store.verify_audit()
(True, [])
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import Engine, Integer, create_engine, event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cds.board import audit
from cds.board.models import (
    AgendaItem,
    BoardSession,
    Case,
    CaseVersion,
    Decision,
    Evaluation,
    HookFeedback,
    User,
    utcnow,
)
from cds.board.security import ROLES, check_password, hash_password, password_problem
from cds.errors import CdsError

#: Why a board decided otherwise than the top-ranked option (required when it does).
DeviationReason = Literal["patient_preference", "comorbidity_or_frailty", "trial_inclusion",
                          "data_the_system_lacks", "disagreement_with_guideline", "other"]
DEVIATION_REASONS: tuple[str, ...] = get_args(DeviationReason)
#: The ranking tracks a decision chooses in.
TRACKS = ("anti_tumour", "antisecretory")
#: The key of the PostgreSQL advisory lock that serializes the board's writes.
WRITE_LOCK_KEY = 7_262_021


class StoreError(CdsError, ValueError):
    """A request the store refuses, with a sentence for the person (the web layer shows it)."""


class NotFound(StoreError):
    """No such case, session, evaluation or user."""


class StaleVersion(StoreError):
    """The case changed since the version the edit started from: nothing was overwritten."""


class DeviationRequired(StoreError):
    """The decision differs from the top-ranked option and gives no deviation reason."""


@dataclass(frozen=True)
class ConcordanceRow:
    """One decision on one track, for the concordance dashboard and its CSV export."""

    decision_id: int
    decided_on: dt.date
    case_id: str
    site: str
    category: str
    track: str
    top: str | None
    chosen: tuple[str, ...]
    concordant: bool
    deviation_reason: str | None


def canonical_patient(patient: Mapping[str, Any]) -> tuple[str, str]:
    """The patient as canonical JSON and its SHA-256 (the input hash a decision refers to).

    Parameters
    ----------
    patient
        The patient data (the input contract, as plain JSON data).

    Returns
    -------
    tuple of str
        (canonical JSON, hexadecimal SHA-256).

    Examples
    --------
    >>> canonical_patient({"b": 1, "a": 2})[0]
    '{"a":2,"b":1}'
    """
    data = audit.canonical(dict(patient))
    return data, hashlib.sha256(data.encode("utf-8")).hexdigest()


def default_database_url(folder: Path | None = None) -> str:
    """The embedded database: an SQLite file in the board's data folder.

    Parameters
    ----------
    folder
        Where to keep it; None for ``$NETCDS_BOARD_DIR`` or ``./netcds-board``.

    Returns
    -------
    str
        ``sqlite:///<folder>/board.sqlite3`` (the folder is created).

    Examples
    --------
    >>> import tempfile
    >>> default_database_url(Path(tempfile.mkdtemp())).endswith("/board.sqlite3")
    True
    """
    import os

    base = folder or Path(os.environ.get("NETCDS_BOARD_DIR") or "netcds-board")
    base.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(base / 'board.sqlite3').resolve()}"


class Store:
    """The board's database: migrated on opening, read and written in transactions.

    Parameters
    ----------
    url
        An SQLAlchemy URL: ``sqlite:///path.sqlite3`` (``sqlite://`` in memory, for tests) or
        ``postgresql+psycopg://user@host:port/db``.
    migrate
        Bring the schema to the latest migration (default); False only for tools that manage
        the schema themselves.

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> with store.read() as s:
    ...     list_sessions(s)
    []
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.postgresql = url.startswith("postgresql")
        self._read_engine = _engine(url, write=False)
        self._write_engine = self._read_engine if url == "sqlite://" else _engine(url, write=True)
        self._reads = sessionmaker(self._read_engine, expire_on_commit=False)
        self._writes = sessionmaker(self._write_engine, expire_on_commit=False)
        if migrate:
            from cds.board.migrate import upgrade

            upgrade(self._write_engine)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read transaction (what a page shows is consistent).

        Yields
        ------
        sqlalchemy.orm.Session
            Closed at the end of the block; nothing is written.
        """
        with self._reads() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, serialized with every other write, committed at the end of the block.

        Yields
        ------
        sqlalchemy.orm.Session
            Committed when the block ends normally, rolled back when it raises.
        """
        with self._writes() as session, session.begin():
            if self.postgresql:
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})
            yield session

    def verify_audit(self) -> list[str]:
        """What is wrong with the audit chain, row by row (empty when it holds).

        Returns
        -------
        list of str
            See :func:`cds.board.audit.verify`.
        """
        with self.read() as session:
            return audit.verify(session)

    def revision(self) -> str | None:
        """The migration the database is at.

        Returns
        -------
        str or None
            The Alembic revision id.
        """
        from cds.board.migrate import current

        return current(self._write_engine)

    def dispose(self) -> None:
        """Close every pooled connection (before a process exits or a test deletes the file)."""
        self._read_engine.dispose()
        self._write_engine.dispose()


def _engine(url: str, *, write: bool) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    memory = url == "sqlite://"
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30},
        **({"poolclass": __import__("sqlalchemy.pool", fromlist=["StaticPool"]).StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
            cursor.execute("PRAGMA synchronous=FULL")  # a committed decision survives a crash
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A write takes the write lock at its start: its reads (the latest case version, the last
        # audit row) cannot be overtaken by another writer before it commits.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write or memory else "BEGIN")

    return engine


def _audit(s: Session, by: User | None, kind: str, obj: str, **payload: Any) -> None:
    audit.append(s, actor=by.name if by else "system", kind=kind, obj=obj, payload=payload)


# ------------------------------------------------------------------ users


def create_user(s: Session, name: str, password: str, role: str, by: User | None = None) -> User:
    """Create an account (``cds board create-user`` or a coordinator).

    Parameters
    ----------
    s
        A write transaction.
    name
        A unique login name.
    password
        At least :data:`cds.board.security.MIN_PASSWORD_LENGTH` characters; stored as argon2id.
    role
        coordinator, member or viewer.
    by
        Who creates it (None for the command line).

    Returns
    -------
    User
        The new account.

    Raises
    ------
    StoreError
        Unknown role, weak password or name taken.

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> with store.write() as s:
    ...     create_user(s, "ana", "correct horse battery", "chief")
    Traceback (most recent call last):
    ...
    cds.board.store.StoreError: unknown role 'chief' (allowed: coordinator, member, viewer)
    """
    if role not in ROLES:
        raise StoreError(f"unknown role {role!r} (allowed: {', '.join(ROLES)})")
    problem = password_problem(password)
    if problem:
        raise StoreError(problem)
    if not name or len(name) > 80:
        raise StoreError("the user name must have 1 to 80 characters")
    if s.execute(select(User).where(User.name == name)).scalar_one_or_none() is not None:
        raise StoreError(f"a user named {name!r} already exists")
    user = User(name=name, password_hash=hash_password(password), role=role, active=True)
    s.add(user)
    s.flush()
    _audit(s, by, "user_created", f"user:{user.id}", name=name, role=role)
    return user


def authenticate(s: Session, name: str, password: str) -> User | None:
    """The user with this name and password, or None; every attempt is audited (never the password).

    Parameters
    ----------
    s
        A write transaction (the attempt is audited).
    name
        The login name typed.
    password
        The password typed.

    Returns
    -------
    User or None
        The active user, or None when the name is unknown, the password wrong or the account off.

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> with store.write() as s:
    ...     _ = create_user(s, "ana", "correct horse battery", "member")
    ...     wrong, right = authenticate(s, "ana", "wrong password"), authenticate(s, "ana", "correct horse battery")
    >>> wrong is None, right.name
    (True, 'ana')
    """
    user = s.execute(select(User).where(User.name == name)).scalar_one_or_none()
    ok = user is not None and user.active and check_password(user.password_hash, password)
    _audit(s, user if ok else None, "login" if ok else "login_failed",
           f"user:{user.id}" if user else "user:?", name=name)
    return user if ok else None


def get_user(s: Session, user_id: int) -> User:
    """One user by id.

    Parameters
    ----------
    s
        A transaction.
    user_id
        The id.

    Returns
    -------
    User
        The user.

    Raises
    ------
    NotFound
        No such user.
    """
    user = s.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


# ------------------------------------------------------------------ sessions and agenda


def create_session(s: Session, *, date: dt.date, title: str, participants: Sequence[str], by: User) -> BoardSession:
    """Plan a board meeting.

    Parameters
    ----------
    s
        A write transaction.
    date
        The meeting's date.
    title
        Its title (e.g. "RCP RENATEN digestive NET").
    participants
        Who attends (names or roles).
    by
        Who plans it.

    Returns
    -------
    BoardSession
        The new session, with an empty agenda.
    """
    if not title.strip():
        raise StoreError("a session needs a title")
    board = BoardSession(date=date, title=title.strip(), participants=[p.strip() for p in participants if p.strip()],
                         created_by=by.id)
    s.add(board)
    s.flush()
    _audit(s, by, "session_created", f"session:{board.id}", date=date.isoformat(), title=board.title)
    return board


def list_sessions(s: Session) -> list[BoardSession]:
    """Every session, the latest date first.

    Parameters
    ----------
    s
        A transaction.

    Returns
    -------
    list of BoardSession
        Sorted by date then id, descending.
    """
    return list(s.execute(select(BoardSession).order_by(BoardSession.date.desc(), BoardSession.id.desc())).scalars())


def get_session(s: Session, session_id: int) -> BoardSession:
    """One session with its agenda.

    Parameters
    ----------
    s
        A transaction.
    session_id
        Its id.

    Returns
    -------
    BoardSession
        The session.

    Raises
    ------
    NotFound
        No such session.
    """
    board = s.get(BoardSession, session_id)
    if board is None:
        raise NotFound(f"no board session {session_id}")
    return board


def add_to_agenda(s: Session, session_id: int, case_id: str, by: User) -> AgendaItem:
    """Put a case at the end of a session's agenda (once).

    Parameters
    ----------
    s
        A write transaction.
    session_id
        The session.
    case_id
        The case.
    by
        Who adds it.

    Returns
    -------
    AgendaItem
        The new item, or the existing one when the case is already on the agenda.
    """
    board = get_session(s, session_id)
    get_case(s, case_id)
    for item in board.agenda:
        if item.case_id == case_id:
            return item
    item = AgendaItem(case_id=case_id, position=len(board.agenda) + 1, discussed=False)
    board.agenda.append(item)  # through the relationship, so the loaded agenda stays current
    s.flush()
    _audit(s, by, "agenda_added", f"session:{session_id}", case=case_id)
    return item


def reorder_agenda(s: Session, session_id: int, case_ids: Sequence[str], by: User) -> None:
    """Set the agenda's order.

    Parameters
    ----------
    s
        A write transaction.
    session_id
        The session.
    case_ids
        Every case of the agenda, once each, in the new order.
    by
        Who reorders it.

    Raises
    ------
    StoreError
        The list is not exactly the agenda's cases.
    """
    board = get_session(s, session_id)
    items = {item.case_id: item for item in board.agenda}
    if sorted(case_ids) != sorted(items):
        raise StoreError("the new order must list every case of the agenda exactly once")
    for position, case_id in enumerate(case_ids, start=1):
        items[case_id].position = position
    s.flush()
    _audit(s, by, "agenda_reordered", f"session:{session_id}", order=list(case_ids))


def mark_discussed(s: Session, session_id: int, case_id: str, discussed: bool, by: User) -> None:
    """Mark an agenda item discussed (or not).

    Parameters
    ----------
    s
        A write transaction.
    session_id
        The session.
    case_id
        The case on its agenda.
    discussed
        The new state.
    by
        Who marks it.

    Raises
    ------
    NotFound
        The case is not on the agenda.
    """
    board = get_session(s, session_id)
    item = next((i for i in board.agenda if i.case_id == case_id), None)
    if item is None:
        raise NotFound(f"case {case_id} is not on the agenda of session {session_id}")
    item.discussed = discussed
    _audit(s, by, "agenda_discussed", f"session:{session_id}", case=case_id, discussed=discussed)


# ------------------------------------------------------------------ cases


def create_case(s: Session, patient: Mapping[str, Any], label: str | None, by: User) -> Case:
    """A new pseudonymous case with its first version.

    Parameters
    ----------
    s
        A write transaction.
    patient
        The patient data (already validated against the input contract by the caller).
    label
        A pseudonymous label (never a name); optional.
    by
        Who enters it.

    Returns
    -------
    Case
        The case, id ``C-<year>-<number>``.
    """
    year = utcnow().year
    count = s.execute(select(func.count()).select_from(Case).where(Case.id.like(f"C-{year}-%"))).scalar_one()
    case = Case(id=f"C-{year}-{count + 1:04d}", label=(label or "").strip() or None, latest=1, created_by=by.id)
    s.add(case)
    s.flush()
    data, digest = canonical_patient(patient)
    s.add(CaseVersion(case_id=case.id, version=1, patient_json=data, input_hash=digest, created_by=by.id))
    s.flush()
    _audit(s, by, "case_created", f"case:{case.id}", version=1, input_hash=digest)
    return case


def get_case(s: Session, case_id: str) -> Case:
    """One case.

    Parameters
    ----------
    s
        A transaction.
    case_id
        Its id.

    Returns
    -------
    Case
        The case (its versions in order).

    Raises
    ------
    NotFound
        No such case.
    """
    case = s.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def list_cases(s: Session, limit: int = 200) -> list[Case]:
    """The most recent cases.

    Parameters
    ----------
    s
        A transaction.
    limit
        How many.

    Returns
    -------
    list of Case
        Newest first.
    """
    return list(s.execute(select(Case).order_by(Case.created_at.desc(), Case.id.desc()).limit(limit)).scalars())


def latest_version(s: Session, case_id: str) -> CaseVersion:
    """The latest version of a case.

    Parameters
    ----------
    s
        A transaction.
    case_id
        The case.

    Returns
    -------
    CaseVersion
        Its latest version.
    """
    case = get_case(s, case_id)
    return s.execute(select(CaseVersion).where(CaseVersion.case_id == case_id,
                                               CaseVersion.version == case.latest)).scalar_one()


def save_case_version(s: Session, case_id: str, patient: Mapping[str, Any], base_version: int, by: User) -> CaseVersion:
    """Record an edit as the next version; the earlier versions stay as they were.

    Parameters
    ----------
    s
        A write transaction.
    case_id
        The case.
    patient
        The edited patient data (validated by the caller).
    base_version
        The version the edit started from.
    by
        Who edits.

    Returns
    -------
    CaseVersion
        The new version (``base_version + 1``).

    Raises
    ------
    StaleVersion
        Someone saved another version since ``base_version``: reload and redo the edit.

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> with store.write() as s:
    ...     ana = create_user(s, "ana", "correct horse battery", "member")
    ...     case = create_case(s, {"tumour": {"primary_site": "pancreas"}}, None, ana)
    ...     v2 = save_case_version(s, case.id, {"tumour": {"primary_site": "pancreas", "size_mm": 12}}, 1, ana)
    ...     save_case_version(s, case.id, {"tumour": {"primary_site": "pancreas"}}, 1, ana)
    Traceback (most recent call last):
    ...
    cds.board.store.StaleVersion: case C-... was changed (now version 2) since version 1 ...
    """
    case = get_case(s, case_id)
    if case.latest != base_version:
        raise StaleVersion(f"case {case_id} was changed (now version {case.latest}) since version {base_version} "
                           "that this edit started from: reload it and redo the edit")
    data, digest = canonical_patient(patient)
    version = CaseVersion(case_id=case_id, version=base_version + 1, patient_json=data, input_hash=digest,
                          created_by=by.id)
    s.add(version)
    case.latest = base_version + 1
    try:
        s.flush()
    except IntegrityError as exc:  # a concurrent writer won the (case_id, version) pair
        raise StaleVersion(f"case {case_id} was changed since version {base_version}: reload it") from exc
    _audit(s, by, "case_version", f"case:{case_id}", version=version.version, input_hash=digest)
    return version


def patient_of(version: CaseVersion) -> dict[str, Any]:
    """The patient data of a version.

    Parameters
    ----------
    version
        A case version.

    Returns
    -------
    dict
        The input contract's data.
    """
    data: dict[str, Any] = json.loads(version.patient_json)
    return data


# ------------------------------------------------------------------ evaluations and decisions


def record_evaluation(s: Session, version: CaseVersion, recommendation_json: str, *, knowledge_version: str,
                      software_version: str, lang: str, by: User) -> Evaluation:
    """Keep the recommendation shown for a case version (what a decision will refer to).

    Parameters
    ----------
    s
        A write transaction.
    version
        The case version evaluated.
    recommendation_json
        The output contract, as the report service wrote it.
    knowledge_version
        The knowledge version it names.
    software_version
        The software version it names.
    lang
        The language it was written in.
    by
        Who looked at it.

    Returns
    -------
    Evaluation
        The new evaluation (its input hash is the version's).
    """
    evaluation = Evaluation(case_version_id=version.id, input_hash=version.input_hash,
                            knowledge_version=knowledge_version, software_version=software_version, lang=lang,
                            recommendation_json=recommendation_json, created_by=by.id)
    s.add(evaluation)
    s.flush()
    _audit(s, by, "evaluation", f"evaluation:{evaluation.id}", case=version.case_id, version=version.version,
           input_hash=version.input_hash, knowledge=knowledge_version, software=software_version)
    return evaluation


def get_evaluation(s: Session, evaluation_id: int) -> Evaluation:
    """One evaluation.

    Parameters
    ----------
    s
        A transaction.
    evaluation_id
        Its id.

    Returns
    -------
    Evaluation
        The evaluation.

    Raises
    ------
    NotFound
        No such evaluation.
    """
    evaluation = s.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise NotFound(f"no evaluation {evaluation_id}")
    return evaluation


def top_options(recommendation: Mapping[str, Any]) -> dict[str, str | None]:
    """The top-ranked option of each track of an output contract.

    Parameters
    ----------
    recommendation
        The output contract as data.

    Returns
    -------
    dict
        Track -> option id (None when the track ranks nothing).

    Examples
    --------
    >>> top_options({"anti_tumour": [{"option": "ssa"}], "antisecretory": []})
    {'anti_tumour': 'ssa', 'antisecretory': None}
    """
    out: dict[str, str | None] = {}
    for track in TRACKS:
        ranked = recommendation.get(track) or []
        out[track] = ranked[0]["option"] if ranked else None
    return out


def record_decision(s: Session, *, evaluation_id: int, chosen: Mapping[str, Sequence[str]], free_text: str,
                    participants: Sequence[str], deviation_reason: str | None, deviation_text: str | None,
                    by: User, decided_on: dt.date | None = None) -> Decision:
    """Record the board's decision on the evaluation it was taken on.

    Parameters
    ----------
    s
        A write transaction.
    evaluation_id
        The evaluation shown when the board decided.
    chosen
        Track -> the option(s) chosen (a track may be left empty).
    free_text
        The board's words.
    participants
        Who took part.
    deviation_reason
        Required when a chosen option is not the track's top-ranked option (one of
        :data:`DEVIATION_REASONS`).
    deviation_text
        Details of the deviation (required with ``other``).
    by
        Who records it.
    decided_on
        The date of the decision (default: today, UTC).

    Returns
    -------
    Decision
        The decision, with whether it is concordant.

    Raises
    ------
    DeviationRequired
        A chosen option differs from the top-ranked one and no reason is given.
    StoreError
        Unknown track or reason, nothing chosen, or ``other`` without text.
    """
    evaluation = get_evaluation(s, evaluation_id)
    recommendation = json.loads(evaluation.recommendation_json)
    top = top_options(recommendation)
    picked = {track: [o for o in dict.fromkeys(chosen.get(track) or []) if o] for track in TRACKS}
    unknown = sorted(set(chosen) - set(TRACKS))
    if unknown:
        raise StoreError(f"unknown track(s) {', '.join(unknown)} (allowed: {', '.join(TRACKS)})")
    if not any(picked.values()):
        raise StoreError("choose at least one option (in either track)")
    concordant = all(track_concordant(top[t], picked[t]) for t in TRACKS if picked[t])
    if deviation_reason is not None and deviation_reason not in DEVIATION_REASONS:
        raise StoreError(f"unknown deviation reason {deviation_reason!r} (allowed: {', '.join(DEVIATION_REASONS)})")
    if not concordant and deviation_reason is None:
        tops = ", ".join(f"{t}: {top[t] or 'none'}" for t in TRACKS if picked[t])
        raise DeviationRequired(f"the decision differs from the top-ranked option ({tops}): give a deviation reason")
    if deviation_reason == "other" and not (deviation_text or "").strip():
        raise StoreError("say what the other reason is (deviation text)")
    version = s.get(CaseVersion, evaluation.case_version_id)
    assert version is not None
    patient = patient_of(version)
    decision = Decision(
        evaluation_id=evaluation.id, case_id=version.case_id, chosen=picked, top=top, concordant=concordant,
        deviation_reason=None if concordant else deviation_reason,
        deviation_text=(deviation_text or None) if not concordant else None, free_text=free_text or "",
        participants=[p.strip() for p in participants if p.strip()],
        site=str((patient.get("tumour") or {}).get("primary_site") or "unknown"),
        category=str((recommendation.get("derived") or {}).get("category") or "unknown"),
        decided_on=decided_on or utcnow().date(), created_by=by.id,
    )
    s.add(decision)
    s.flush()
    _audit(s, by, "decision", f"decision:{decision.id}", case=version.case_id, evaluation=evaluation.id,
           chosen=picked, concordant=concordant, reason=decision.deviation_reason)
    return decision


def decisions_of(s: Session, case_id: str) -> list[Decision]:
    """The decisions recorded on a case, oldest first.

    Parameters
    ----------
    s
        A transaction.
    case_id
        The case.

    Returns
    -------
    list of Decision
        In the order they were recorded.
    """
    return list(s.execute(select(Decision).where(Decision.case_id == case_id).order_by(Decision.id)).scalars())


def track_concordant(top: str | None, chosen: Sequence[str]) -> bool:
    """Whether the board chose, in one track, exactly the option ranked first: the one rule of concordance.

    A decision is concordant when this holds in every track where the board chose; the stored
    flag and the per-track CSV rows both come from here.

    Parameters
    ----------
    top
        The option ranked first in that track (None when the track had none).
    chosen
        The options the board chose in that track.

    Returns
    -------
    bool
        True only for the top option, alone.

    Examples
    --------
    >>> track_concordant("ssa", ["ssa"]), track_concordant("ssa", ["ssa", "prrt"]), track_concordant("ssa", ["prrt"])
    (True, False, False)
    """
    return top is not None and len(chosen) == 1 and chosen[0] == top


def concordance_rows(
    s: Session, *, start: dt.date | None = None, end: dt.date | None = None
) -> Iterator[ConcordanceRow]:
    """One row per decision and track it chose in, between two dates (inclusive).

    Parameters
    ----------
    s
        A transaction.
    start, end
        The period (None: unbounded).

    Yields
    ------
    ConcordanceRow
        In date, then decision order.
    """
    # Plain columns, not ORM objects: the CSV of 100,000 decisions reads them in about a second.
    query = select(Decision.id, Decision.decided_on, Decision.case_id, Decision.site, Decision.category,
                   Decision.chosen, Decision.top, Decision.deviation_reason).order_by(Decision.decided_on, Decision.id)
    if start is not None:
        query = query.where(Decision.decided_on >= start)
    if end is not None:
        query = query.where(Decision.decided_on <= end)
    for did, decided_on, case_id, site, category, chosen, top_of, reason in s.execute(
            query.execution_options(yield_per=5000)):
        for track in TRACKS:
            picked = tuple(chosen.get(track) or ())
            if not picked:
                continue
            top = top_of.get(track)
            yield ConcordanceRow(did, decided_on, case_id, site, category, track, top, picked,
                                 track_concordant(top, picked), reason)


#: What the concordance dashboard groups decisions by.
GroupBy = Literal["site", "category", "period", "deviation_reason"]


@dataclass(frozen=True)
class ConcordanceGroup:
    """Decisions of one group: how many, how many concordant, and the rate."""

    key: str
    decisions: int
    concordant: int

    @property
    def rate(self) -> float:
        """The share of concordant decisions (0 when the group is empty)."""
        return self.concordant / self.decisions if self.decisions else 0.0


def concordance_summary(s: Session, group_by: str, *, start: dt.date | None = None,
                        end: dt.date | None = None) -> list[ConcordanceGroup]:
    """Board decisions against the system's top option, counted per group by the database.

    A decision is concordant when, in every track where the board chose, it chose exactly the
    top-ranked option. Periods are calendar months (``2026-12``).

    Parameters
    ----------
    s
        A transaction.
    group_by
        ``site``, ``category``, ``period`` or ``deviation_reason`` (concordant decisions have none:
        their group is ``none``).
    start, end
        The period (inclusive; None: unbounded).

    Returns
    -------
    list of ConcordanceGroup
        Sorted by key.

    Raises
    ------
    StoreError
        Unknown grouping.

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> with store.read() as s:
    ...     concordance_summary(s, "site")
    []
    """
    if group_by not in get_args(GroupBy):
        raise StoreError(f"unknown grouping {group_by!r} (allowed: {', '.join(get_args(GroupBy))})")
    # Group by the plain column, which its covering index answers (a computed key, a month or a
    # COALESCE, would read every row); months and "none" are folded here, over a few hundred groups.
    column: Any = Decision.decided_on if group_by == "period" else getattr(Decision, group_by)
    concordant = func.sum(func.cast(Decision.concordant, Integer))
    query = select(column, func.count(), concordant).group_by(column)
    if start is not None:
        query = query.where(Decision.decided_on >= start)
    if end is not None:
        query = query.where(Decision.decided_on <= end)
    folded: dict[str, list[int]] = {}
    for value, n, c in s.execute(query):
        if group_by == "period":
            key = value.strftime("%Y-%m") if isinstance(value, dt.date) else str(value)[:7]
        else:
            key = "none" if value is None else str(value)
        counts = folded.setdefault(key, [0, 0])
        counts[0] += int(n)
        counts[1] += int(c or 0)
    return [ConcordanceGroup(k, n, c) for k, (n, c) in sorted(folded.items())]


def set_password(s: Session, name: str, password: str, by: User | None = None) -> User:
    """Give an account a new password (audited; the password itself never stored or logged).

    Parameters
    ----------
    s
        A write transaction.
    name
        The account.
    password
        The new password (see :func:`cds.board.security.password_problem`).
    by
        Who changes it (None for the command line).

    Returns
    -------
    User
        The account.

    Raises
    ------
    NotFound
        No such account.
    StoreError
        A weak password.
    """
    user = s.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user named {name!r}")
    problem = password_problem(password)
    if problem:
        raise StoreError(problem)
    user.password_hash = hash_password(password)
    _audit(s, by, "password_set", f"user:{user.id}")
    return user


# ------------------------------------------------------------------ CDS Hooks feedback


def record_hook_feedback(s: Session, *, service: str, card: str, outcome: str, accepted: Sequence[str],
                         reason: Mapping[str, str] | None, comment: str | None, outcome_at: str,
                         client: str) -> HookFeedback:
    """Record what a clinician did with a CDS Hooks card, audited in the same transaction.

    Parameters
    ----------
    s
        A write transaction.
    service
        The CDS service id whose card it was.
    card
        The card's uuid.
    outcome
        ``accepted`` or ``overridden``.
    accepted
        The uuids of the suggestions accepted.
    reason
        The override reason's coding (``system``, ``code``, ``display``), when one was chosen.
    comment
        The clinician's comment, when given.
    outcome_at
        When the clinician acted (the EHR's ISO 8601 time).
    client
        Who reported it: the verified issuer of the EHR's JWT (the audit row's actor).

    Returns
    -------
    HookFeedback
        The new row.

    Raises
    ------
    StoreError
        An outcome other than accepted or overridden.

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> with store.write() as s:
    ...     row = record_hook_feedback(s, service="netcds-patient-view", card="c-1", outcome="overridden",
    ...                                accepted=[], reason={"code": "patient_preference"}, comment=None,
    ...                                outcome_at="2026-12-09T10:00:00Z", client="https://ehr.example")
    >>> row.override_code, store.verify_audit()
    ('patient_preference', [])
    """
    if outcome not in ("accepted", "overridden"):
        raise StoreError(f"unknown feedback outcome {outcome!r} (allowed: accepted, overridden)")
    reason = reason or {}
    row = HookFeedback(service=service, card=card, outcome=outcome, accepted_suggestions=list(accepted),
                       override_system=reason.get("system"), override_code=reason.get("code"),
                       override_display=reason.get("display"), user_comment=comment, outcome_at=outcome_at,
                       client=client[:200])
    s.add(row)
    s.flush()
    audit.append(s, actor=client[:80], kind="hook_feedback", obj=f"hook_feedback:{row.id}",
                 payload={"service": service, "card": card, "outcome": outcome, "accepted": list(accepted),
                          "reason": dict(reason), "comment": comment, "outcome_at": outcome_at})
    return row
