"""The demo board: a session of the bundled example patients and a demo account, for ``./dev demo``.

:func:`seed` is idempotent: the first run creates the coordinator account ``demo``, one case per
bundled example (labelled with the example's name, never a person's) and a session whose agenda
holds them; later runs keep all of it and only give the account a new random password, which the
command prints (it is a demo on 127.0.0.1, not a shared installation).

Examples
--------
>>> from cds.board.store import Store
>>> store = Store("sqlite://")
>>> first = seed(store)
>>> again = seed(store)
>>> first.session_id == again.session_id and first.password != again.password and len(first.cases) > 5
True
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from cds.board import store as st
from cds.board.models import User
from cds.resources import examples_dir

#: The demo account's name.
DEMO_USER = "demo"
#: The demo session's title.
DEMO_TITLE = "Demo tumour board (bundled example patients)"


@dataclass(frozen=True)
class Demo:
    """What the demo command prints: the account, its password, the session and its cases."""

    user: str
    password: str
    session_id: int
    cases: list[str]


def seed(store: st.Store) -> Demo:
    """Create (or find) the demo account, cases and session; give the account a fresh password.

    Parameters
    ----------
    store
        The board's store (its own demo database).

    Returns
    -------
    Demo
        The account's name and new password, the session id and the case ids.
    """
    password = secrets.token_urlsafe(12)
    with store.write() as s:
        user = s.execute(select(User).where(User.name == DEMO_USER)).scalar_one_or_none()
        if user is None:
            user = st.create_user(s, DEMO_USER, password, "coordinator")
        else:
            st.set_password(s, DEMO_USER, password)
        existing = [b for b in st.list_sessions(s) if b.title == DEMO_TITLE]
        if existing:
            board = existing[0]
            return Demo(DEMO_USER, password, board.id, [i.case_id for i in board.agenda])
        board = st.create_session(s, date=dt.date.today(), title=DEMO_TITLE, participants=["demo"], by=user)
        cases = []
        for path in sorted(examples_dir().glob("*.json")):
            patient = json.loads(path.read_text(encoding="utf-8"))
            case = st.create_case(s, patient, path.stem, user)
            st.add_to_agenda(s, board.id, case.id, user)
            cases.append(case.id)
        return Demo(DEMO_USER, password, board.id, cases)
