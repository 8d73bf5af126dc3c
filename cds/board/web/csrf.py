"""CSRF protection for every POST: a per-session token, sent back in a form field or an htmx header.

The token lives in the signed session cookie (:class:`starlette.middleware.sessions.SessionMiddleware`),
so a page of another site cannot read it; every form carries it as ``csrf_token`` and htmx
sends it as the ``X-CSRF-Token`` header (``hx-headers`` on the page's body). A POST without
the session's token is refused with 403 before any route runs. The middleware reads the body
of a form once and hands the same bytes on to the application.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The session key, form field and header that carry the token.
SESSION_KEY = "csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
#: Methods that change nothing, and so need no token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, made on first use.

    Parameters
    ----------
    session
        The request's session (``request.session``).

    Returns
    -------
    str
        The same token for the whole session.

    Examples
    --------
    >>> session = {}
    >>> token = csrf_token(session)
    >>> token == csrf_token(session) == session["csrf"], len(token) > 30
    (True, True)
    """
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return token


class CSRFMiddleware:
    """Refuse a state-changing request that does not carry the session's CSRF token.

    Must run inside the session middleware (added before it, so that it is nested in it).

    Parameters
    ----------
    app
        The application to protect.
    message
        What a refused request is told (plain text, 403).
    """

    def __init__(self, app: ASGIApp, message: str = "CSRF token missing or wrong") -> None:
        self.app = app
        self.message = message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        session = scope.get("session") or {}
        expected = session.get(SESSION_KEY)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        token: str | None = headers.get(HEADER)
        body = b""
        if token is None:
            body = await _read_body(receive)
            ctype = headers.get("content-type", "")
            if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                form = await Request(scope, _replay(body)).form()
                value = form.get(FIELD)
                token = value if isinstance(value, str) else None
                await form.close()
            receive = _replay(body, receive)
        if not (isinstance(expected, str) and expected and token and hmac.compare_digest(expected, token)):
            await PlainTextResponse(self.message, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, then: Receive | None = None) -> Receive:
    """A receive channel that gives ``body`` once, then what ``then`` gives (a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then() if then is not None else {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


__all__ = ["FIELD", "HEADER", "CSRFMiddleware", "csrf_token"]
