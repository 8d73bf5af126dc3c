"""What every page of the board needs: the signed-in person, the language, the templates, the reports.

The person is kept in the signed session cookie as id, name and role (never a password or
patient data); :func:`need` is the dependency that enforces a right of
:mod:`cds.board.security` on the server. Reports are computed by the report service
(:func:`cds.report.build_report`) once per patient and language and kept in a small cache: a
case version never changes, so its evaluation does not either.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse

from cds.board.security import can
from cds.board.web.csrf import FIELD, csrf_token
from cds.render.i18n import labels
from cds.render.templates import environment

if TYPE_CHECKING:
    from cds.board.store import Store
    from cds.engine import Engine
    from cds.model.patient import Patient
    from cds.model.recommendation import Lang
    from cds.report import Report


@dataclass(frozen=True)
class SessionUser:
    """The signed-in person as the session cookie holds them."""

    id: int
    name: str
    role: str

    def can(self, right: str) -> bool:
        """Whether their role holds ``right`` (:func:`cds.board.security.can`)."""
        return can(self.role, right)


class LoginRequired(Exception):
    """Raised by :func:`need` when nobody is signed in (the app answers with the login page)."""


class Reports:
    """The report service for the board's pages: one evaluation per patient and language, kept.

    Parameters
    ----------
    engine
        Makes the engine on first use (:func:`cds.default_engine`), so that the app starts fast.
    size
        How many reports are kept.
    """

    def __init__(self, engine: Callable[[], Engine], size: int = 64) -> None:
        self._make = engine
        self._engine: Engine | None = None
        self._kept: OrderedDict[tuple[str, str], Report] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    @property
    def engine(self) -> Engine:
        """The compiled engine."""
        with self._lock:
            if self._engine is None:
                self._engine = self._make()
            return self._engine

    def report(self, patient: Patient, lang: Lang, key: str | None = None) -> Report:
        """The report of ``patient`` in ``lang`` (kept under ``key``, e.g. the version's input hash).

        Parameters
        ----------
        patient
            The validated patient.
        lang
            ``en`` or ``fr``.
        key
            What identifies the patient (None: not kept, e.g. a what-if).

        Returns
        -------
        Report
            The evaluation and what derives from it.
        """
        from cds.report import build_report

        if key is not None:
            with self._lock:
                found = self._kept.get((key, lang))
                if found is not None:
                    self._kept.move_to_end((key, lang))
                    return found
        report = build_report(self.engine, patient, lang)
        if key is not None:
            with self._lock:
                self._kept[(key, lang)] = report
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
        return report


def lang_of(request: Request) -> Lang:
    """The page language: ``?lang=`` (remembered in the session), else the session's, else English."""
    asked = request.query_params.get("lang")
    if asked in ("en", "fr"):
        request.session["lang"] = asked
        return "fr" if asked == "fr" else "en"
    return "fr" if request.session.get("lang") == "fr" else "en"


def current_user(request: Request) -> SessionUser | None:
    """The signed-in person, or None."""
    data = request.session.get("user")
    if not isinstance(data, Mapping):
        return None
    try:
        return SessionUser(int(data["id"]), str(data["name"]), str(data["role"]))
    except (KeyError, TypeError, ValueError):
        return None


def need(right: str) -> Callable[[Request], SessionUser]:
    """A dependency: the signed-in person holding ``right``; login page or 403 otherwise.

    Parameters
    ----------
    right
        ``read``, ``edit_cases``, ``decide``, ``manage_sessions`` or ``manage_users``.

    Returns
    -------
    Callable
        What ``Depends`` takes.
    """

    def dependency(request: Request) -> SessionUser:
        user = current_user(request)
        if user is None:
            raise LoginRequired
        if not user.can(right):
            raise HTTPException(status_code=403, detail=labels(lang_of(request))["board_forbidden"])
        return user

    return dependency


def store_of(request: Request) -> Store:
    """The app's store."""
    store: Store = request.app.state.store
    return store


def reports_of(request: Request) -> Reports:
    """The app's report service."""
    reports: Reports = request.app.state.reports
    return reports


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page or fragment from ``renderers/board/``, with what every template may use.

    Every template receives ``t`` (the words of the page language), ``lang``, ``user``,
    ``csrf`` (the token) and ``csrf_field`` (its form field name), ``url`` (the path of this
    page) and ``can`` (whether the person holds a right).
    """
    lang = lang_of(request)
    user = current_user(request)
    html = environment().get_template(f"board/{name}").render(
        t=labels(lang).t, lang=lang, user=user, csrf=csrf_token(request.session), csrf_field=FIELD,
        url=request.url.path, can=(lambda right: user is not None and user.can(right)), **context,
    )
    return HTMLResponse(html, status_code=status_code)


__all__ = ["LoginRequired", "Reports", "SessionUser", "current_user", "lang_of", "need", "render", "reports_of",
           "store_of"]
