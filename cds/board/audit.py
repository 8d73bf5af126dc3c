"""The append-only audit trail, chained by SHA-256 so that tampering is detectable.

Every write of the board (a login, a case version, an evaluation, a decision ...) appends one
row in the same transaction: who, what kind, which object, the SHA-256 of the payload (ids and
values, never shown), the previous row's hash and this row's hash, which covers all of these.
Changing, deleting or reordering a row breaks the chain at that row; :func:`verify` says where.
Writers are serialized by the store (one write transaction at a time), and ``prev_hash`` is
unique, so the chain cannot fork.

Examples
--------
>>> row = {"seq": 1, "at": "2026-12-07T10:00:00Z", "actor": "ana", "kind": "login", "object": "user:1",
...        "payload_hash": payload_hash({"ok": True}), "prev_hash": GENESIS}
>>> len(row_hash(row)), row_hash(row) == row_hash(dict(row))
(64, True)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cds.board.models import AuditEntry, utcnow

#: The hash the first row points to.
GENESIS = "0" * 64
#: The fields a row's hash covers, in this order.
HASHED_FIELDS = ("seq", "at", "actor", "kind", "object", "payload_hash", "prev_hash")


def canonical(data: Any) -> str:
    """The canonical JSON of ``data``: sorted keys, no spaces, UTF-8 kept (what every hash reads).

    Parameters
    ----------
    data
        JSON-serialisable data.

    Returns
    -------
    str
        The same text for the same data, whatever the key order.

    Examples
    --------
    >>> canonical({"b": 1, "a": [1, 2]})
    '{"a":[1,2],"b":1}'
    """
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def payload_hash(payload: Mapping[str, Any]) -> str:
    """The SHA-256 of a payload's canonical JSON.

    Parameters
    ----------
    payload
        What the write did (ids, values); stored only as this hash.

    Returns
    -------
    str
        64 hexadecimal characters.

    Examples
    --------
    >>> payload_hash({"a": 1}) == payload_hash({"a": 1})
    True
    """
    return hashlib.sha256(canonical(dict(payload)).encode("utf-8")).hexdigest()


def row_hash(row: Mapping[str, Any]) -> str:
    """The hash of one audit row: SHA-256 over its :data:`HASHED_FIELDS`.

    Parameters
    ----------
    row
        A mapping with every field of :data:`HASHED_FIELDS`.

    Returns
    -------
    str
        64 hexadecimal characters.

    Examples
    --------
    >>> row_hash({f: "x" for f in HASHED_FIELDS}) != row_hash({**{f: "x" for f in HASHED_FIELDS}, "seq": 2})
    True
    """
    return hashlib.sha256(canonical({f: row[f] for f in HASHED_FIELDS}).encode("utf-8")).hexdigest()


def append(session: Session, *, actor: str, kind: str, obj: str, payload: Mapping[str, Any]) -> AuditEntry:
    """Append one row to the chain, in the caller's (write) transaction.

    Parameters
    ----------
    session
        An open write transaction (the store serializes writers).
    actor
        Who: a user name, or ``system``.
    kind
        What: ``login``, ``login_failed``, ``case_version``, ``evaluation``, ``decision`` ...
    obj
        Which object, as ``type:id``.
    payload
        What changed (hashed, not stored).

    Returns
    -------
    AuditEntry
        The new row (flushed).

    Examples
    --------
    >>> from sqlalchemy import create_engine
    >>> from cds.board.models import Base
    >>> engine = create_engine("sqlite://")
    >>> Base.metadata.create_all(engine)
    >>> with Session(engine) as s:
    ...     first = append(s, actor="ana", kind="login", obj="user:1", payload={})
    ...     second = append(s, actor="ana", kind="logout", obj="user:1", payload={})
    ...     (first.seq, second.prev_hash == first.hash, verify(s))
    (1, True, [])
    """
    last = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one_or_none()
    row: dict[str, Any] = {
        "seq": (last.seq + 1) if last else 1,
        "at": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "actor": actor,
        "kind": kind,
        "object": obj,
        "payload_hash": payload_hash(payload),
        "prev_hash": last.hash if last else GENESIS,
    }
    entry = AuditEntry(**row, hash=row_hash(row))
    session.add(entry)
    session.flush()
    return entry


def verify(session: Session) -> list[str]:
    """Check the whole chain: every row's hash, every link, no gap in the sequence.

    Parameters
    ----------
    session
        A session on the board's database.

    Returns
    -------
    list of str
        What is wrong and where (row numbers); empty when the chain holds.

    Examples
    --------
    >>> from sqlalchemy import create_engine
    >>> from cds.board.models import Base
    >>> engine = create_engine("sqlite://")
    >>> Base.metadata.create_all(engine)
    >>> with Session(engine) as s:
    ...     row = append(s, actor="ana", kind="login", obj="user:1", payload={})
    ...     row.actor = "eve"
    ...     verify(s)
    ['row 1: its hash does not match its content (changed after it was written)']
    """
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        row = {f: getattr(entry, f) for f in HASHED_FIELDS}
        if entry.seq != expected_seq:
            problems.append(f"row {entry.seq}: expected row {expected_seq} (rows missing or renumbered)")
        if entry.prev_hash != prev:
            problems.append(f"row {entry.seq}: it does not follow row {entry.seq - 1} (a row was removed, "
                            "inserted or changed before it)")
        if row_hash(row) != entry.hash:
            problems.append(f"row {entry.seq}: its hash does not match its content (changed after it was written)")
        prev = entry.hash
        expected_seq = entry.seq + 1
    return problems
