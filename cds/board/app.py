"""The board's web application: ``create_app(config)`` gives the FastAPI app ``cds board serve`` runs.

Middleware, from the outside in: the signed session cookie (itsdangerous; HttpOnly,
SameSite=Lax, Secure unless the config says the server is plain http on 127.0.0.1), then
the CSRF check of every POST (:mod:`cds.board.web.csrf`). Static files (the vendored htmx,
the stylesheet) are served from ``renderers/board/static``; the pages are in
:mod:`cds.board.web.pages`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from cds.board.web.context import LoginRequired, Reports, render
from cds.board.web.csrf import CSRFMiddleware
from cds.resources import renderers_dir

if TYPE_CHECKING:
    from cds.board.store import Store
    from cds.engine import Engine

#: How long a session lasts without signing in again (seconds).
SESSION_MAX_AGE = 12 * 3600


@dataclass(frozen=True)
class BoardConfig:
    """How the board runs: its database, the key that signs session cookies, the cookie flags.

    ``secure_cookies`` is True except for plain http on 127.0.0.1 in development
    (``cds board serve --insecure-cookies``).
    """

    database_url: str
    secret_key: str
    secure_cookies: bool = True


#: The Content-Security-Policy of every page: same origin only, no framing, no plugins.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                           "script-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'self'")


def _default_engine() -> Engine:
    from cds import default_engine

    return default_engine()


def create_app(
    config: BoardConfig, *, store: Store | None = None, engine: Callable[[], Engine] | None = None,
) -> FastAPI:
    """The board's FastAPI application.

    Parameters
    ----------
    config
        Database URL, session secret, cookie flags.
    store
        An open store (tests); default: :class:`cds.board.store.Store` on ``config.database_url``.
    engine
        Makes the rule engine (default: :func:`cds.default_engine`, on first use).

    Returns
    -------
    FastAPI
        The application (``uvicorn`` serves it).
    """
    from cds.board.store import Store
    from cds.board.web.pages import router
    from cds.board.web.reports import router as reports_router

    app = FastAPI(title="netcds tumour board", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store if store is not None else Store(config.database_url)
    app.state.reports = Reports(engine or _default_engine)
    app.include_router(router)
    app.include_router(reports_router)
    app.mount("/static", StaticFiles(directory=renderers_dir() / "board" / "static"), name="static")
    app.add_middleware(CSRFMiddleware)  # inside the session middleware: it reads the session's token
    app.add_middleware(SessionMiddleware, secret_key=config.secret_key, session_cookie="netcds_board",
                       max_age=SESSION_MAX_AGE, same_site="lax", https_only=config.secure_cookies)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(HTTPException)
    async def _error(request: Request, exc: HTTPException) -> Response:
        return render(request, "error.html.j2", status_code=exc.status_code, message=str(exc.detail))

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], object]) -> Response:
        response: Response = await call_next(request)  # type: ignore[misc]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        # Nothing is loaded from elsewhere (no CDN; htmx is vendored). Inline styles and the small
        # zoom script of the pathway figures are the only inline code.
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    return app


__all__ = ["BoardConfig", "create_app"]
