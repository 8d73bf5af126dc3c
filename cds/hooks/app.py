"""The CDS Hooks service: ``create_app(settings, verifier)`` gives the FastAPI app ``cds hooks serve`` runs.

Routes: ``GET /cds-services`` (discovery, from :mod:`cds.hooks.registry`), ``POST
/cds-services/{id}`` (a hook call), ``POST /cds-services/{id}/feedback`` and ``GET
/reports/{id}`` (the full report a card links to; the unguessable id is its only key). Every
``/cds-services`` request must carry the EHR's JWT (the spec asks it of "every single CDS Service
call", discovery included), checked by :class:`cds.hooks.security.TokenVerifier` with ``aud`` the
URL of the endpoint called; a failure is ``401`` with a generic body (the reason is logged, never
sent).

A hook call: the body (at most ``body_limit`` bytes, ``413`` beyond without reading the rest)
is validated (``400`` naming each field at fault), the patient's FHIR data gathered from the
prefetch or the EHR's FHIR server (``412`` when it cannot be), mapped to the patient contract
(:func:`cds.fhir.map_bundle`) and evaluated by an isolated :class:`cds.isolation.Evaluator`
(``503`` with ``Retry-After`` when the engine worker died or overran); the cards come from
:mod:`cds.hooks.cards`. A patient without a primary site gets a card saying which data are
missing, never an error.

Logs hold no patient data and no stack traces: no access log (as the board), failures logged by
their kind only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from cds.errors import EngineError
from cds.fhir import BundleError, MappingResult, Status
from cds.fhir.orders import options_of_order
from cds.hooks import cards as cardlib
from cds.hooks.prefetch import FhirAccess, PrefetchFailed, gather
from cds.hooks.registry import SERVICES, Service, discovery
from cds.hooks.reports import ReportStore
from cds.hooks.requests import FeedbackRequest, HookRequest, context_model, problems_of
from cds.hooks.security import AuthError
from cds.isolation import BundleEvaluation, EngineUnavailable, Evaluator
from cds.model import Recommendation
from cds.render.i18n import Labels, labels

if TYPE_CHECKING:
    from cds.board.store import Store

log = logging.getLogger("cds.hooks")

#: Default largest request body (bytes).
BODY_LIMIT = 1024 * 1024


class HooksSettings(BaseModel):
    """How the service runs.

    Examples
    --------
    >>> HooksSettings(base_url="https://cds.example.org/").base_url
    'https://cds.example.org'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(description="The service's public base URL: the JWT's aud is this + /cds-services[/id].")
    body_limit: int = Field(default=BODY_LIMIT, ge=1024, description="Largest request body, in bytes (413 beyond).")
    isolated: bool = Field(default=True, description="Evaluate in worker processes (cds.isolation).")
    workers: int = Field(default=2, ge=1)
    timeout: float = Field(default=10.0, gt=0, description="Seconds an evaluation may take, waiting included.")
    database_url: str | None = Field(default=None, description="Feedback database (the board's); None: the board's "
                                                               "default SQLite file.")
    board_url: str | None = Field(default=None, description="The tumour board's URL, linked from the cards.")
    lang: Literal["en", "fr"] = Field(default="en", description="Language of the recommendation and of the cards "
                                                                "(CDS Hooks 2.0 has no language: one per instance).")
    as_of: dt.date | None = Field(default=None, description="Decision date; None: today (a fixed date replays).")
    report_ttl: float = Field(default=3600.0, gt=0, description="Seconds a linked report stays available.")
    fhir_timeout: float = Field(default=5.0, gt=0, description="Seconds per request to the EHR's FHIR server.")
    cors_origins: tuple[str, ...] = Field(default=(), description="Browser origins allowed (CORS); none by default.")

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


class Verifier(Protocol):
    """What checks the EHR's JWT (:class:`cds.hooks.security.TokenVerifier`).

    Examples
    --------
    :class:`cds.hooks.security.TokenVerifier` is one; a test may pass its own.
    """

    def verify(self, authorization: str | None, audience: str) -> Mapping[str, Any]:
        """The verified claims of the request's token.

        Parameters
        ----------
        authorization
            The ``Authorization`` header (``Bearer <JWT>``), or None.
        audience
            The URL of the endpoint called (the ``aud`` the token must name).

        Returns
        -------
        Mapping
            The claims (``iss`` names the EHR in the feedback's audit row).

        Raises
        ------
        cds.hooks.security.AuthError
            The token is missing or not valid for this audience.

        Examples
        --------
        >>> from cds.hooks.security import AuthError, TokenVerifier, parse_trust
        >>> verifier = TokenVerifier(parse_trust({"issuers": [{"iss": "https://ehr.example.org",
        ...                                                    "jku_allow": ["https://ehr.example.org/"]}]}))
        >>> try:
        ...     verifier.verify(None, "https://cds.example.org/cds-services")
        ... except AuthError as refused:
        ...     print(refused.code)
        header
        """
        ...


class _Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def create_app(
    settings: HooksSettings, verifier: Verifier, *, evaluator: Evaluator | None = None, store: Store | None = None,
) -> FastAPI:
    """The service's FastAPI application.

    Parameters
    ----------
    settings
        Base URL, limits, evaluator options, database, board URL.
    verifier
        Checks the EHR's JWT.
    evaluator
        An open evaluator (tests); default: one built from ``settings`` at start-up, closed at shutdown.
    store
        The board's store for feedback (tests); default: opened on ``settings.database_url`` at start-up.

    Returns
    -------
    FastAPI
        The application (``uvicorn`` serves it).

    Examples
    --------
    >>> from cds.hooks.security import TokenVerifier, parse_trust
    >>> trust = parse_trust({"issuers": [{"iss": "https://ehr.example.org", "jku_allow": ["https://ehr.example.org/"]}]})
    >>> app = create_app(HooksSettings(base_url="https://cds.example.org"), TokenVerifier(trust))
    >>> sorted(r.path for r in app.routes)[:2]
    ['/cds-services', '/cds-services/{service_id}']
    """
    state: dict[str, Any] = {"evaluator": evaluator, "store": store}
    reports = ReportStore(ttl=settings.report_ttl)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        own_evaluator = state["evaluator"] is None
        if own_evaluator:
            state["evaluator"] = await run_in_threadpool(
                Evaluator, settings.isolated, settings.workers, settings.timeout)
        try:
            yield
        finally:
            if own_evaluator:
                await run_in_threadpool(state["evaluator"].close)
            if state["store"] is not None and store is None:
                state["store"].dispose()

    app = FastAPI(title="netcds CDS Hooks service", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)

    def _store() -> Store:
        if state["store"] is None:
            from cds.board.store import Store, default_database_url

            state["store"] = Store(settings.database_url or default_database_url())
        found: Store = state["store"]
        return found

    async def _authenticate(request: Request, audience: str) -> Mapping[str, Any]:
        # in a thread: the verifier may fetch the EHR's key set over HTTP (never on the event loop)
        try:
            return await run_in_threadpool(verifier.verify, request.headers.get("authorization"), audience)
        except AuthError as exc:
            log.warning("authentication refused (%s): %s", exc.code, exc.reason)
            raise _Refused(401, {"error": "unauthorized", "message": "a valid bearer token is required"},
                           {"WWW-Authenticate": "Bearer"}) from None

    def _service(service_id: str) -> Service:
        found = SERVICES.get(service_id)
        if found is None:
            raise _Refused(404, {"error": "not_found", "message": "no such CDS service",
                                 "services": list(SERVICES)})
        return found

    async def _json_body(request: Request) -> Any:
        limit = settings.body_limit
        too_large = _Refused(413, {"error": "payload_too_large",
                                   "message": f"the request body must be at most {limit} bytes"},
                             {"Connection": "close"})
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks))
        except (ValueError, UnicodeDecodeError):
            raise _Refused(400, {"error": "bad_request", "message": "the body is not JSON",
                                 "problems": [{"field": "", "message": "expected a JSON object"}]}) from None
        except RecursionError:  # nested deeper than Python's parser goes: not a FHIR request either
            raise _Refused(400, {"error": "bad_request", "message": "the body is nested too deeply",
                                 "problems": [{"field": "", "message": "expected a JSON object nested at most "
                                               "a few hundred levels"}]}) from None

    @app.exception_handler(_Refused)
    async def _refused(_request: Request, exc: _Refused) -> Response:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.middleware("http")
    async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        try:
            response = await call_next(request)
        except Exception as exc:  # logged by kind only: no stack trace, no patient data
            log.error("internal error while serving a request: %s", type(exc).__name__)
            response = JSONResponse({"error": "internal", "message": "netcds failed on this request"},
                                    status_code=500)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.get("/cds-services")
    async def _discovery(request: Request) -> Response:
        await _authenticate(request, f"{settings.base_url}/cds-services")
        return JSONResponse(discovery())

    @app.post("/cds-services/{service_id}")
    async def _call(service_id: str, request: Request) -> Response:
        await _authenticate(request, f"{settings.base_url}/cds-services/{service_id}")
        service = _service(service_id)
        body = await _json_body(request)
        call = _validate_call(service, body)
        as_of = settings.as_of or dt.date.today()
        access = None
        if call.fhirServer is not None:
            token = call.fhirAuthorization.access_token if call.fhirAuthorization else None
            access = FhirAccess(str(call.fhirServer), token, settings.fhir_timeout)
        try:
            gathered = await run_in_threadpool(gather, service.prefetch, call.prefetch, call.context, access)
        except PrefetchFailed as exc:
            raise _Refused(412, {"error": "precondition_failed", "prefetch": exc.keys,
                                 "message": f"required FHIR data could not be obtained: {exc.reason}"}) from None
        result = await _evaluate(gathered.bundle, as_of)
        words = labels(settings.lang)
        rec, blocked, gaps = _outcome(result, words)
        gaps = [cardlib.DataGap(f"prefetch.{key}", words.fmt("hooks_gap_not_read", why=why))
                for key, why in gathered.unread] + gaps
        patient_hash = hashlib.sha256(
            json.dumps(result.mapping.patient, sort_keys=True, default=str).encode()).hexdigest()
        report_url = f"{settings.base_url}/reports/{reports.put(rec)}" if rec is not None else None
        ctx = cardlib.CardContext(service.id, patient_hash, report_url, settings.board_url, settings.lang)
        if rec is None:
            from cds.model.recommendation import disclaimer

            card = cardlib.gaps_card(gaps, ctx, result.knowledge_version, disclaimer(settings.lang), blocked=blocked)
            return JSONResponse({"cards": [card] if card else []})
        if service.hook == "patient-view":
            return JSONResponse({"cards": cardlib.patient_view_cards(rec, gaps, ctx)})
        return JSONResponse({"cards": _order_cards(service, call, rec, ctx)})

    async def _evaluate(bundle: dict[str, Any], as_of: dt.date) -> BundleEvaluation:
        """Map and evaluate in an engine worker (the mapping is the costlier half: not on the event loop)."""
        evaluator: Evaluator = state["evaluator"]
        try:
            return await run_in_threadpool(evaluator.evaluate_bundle, bundle, as_of, settings.lang, False)
        except BundleError as exc:
            raise _Refused(400, {"error": "bad_request", "message": "the FHIR data cannot be read",
                                 "problems": [{"field": "prefetch", "message": str(exc)}]}) from None
        except EngineUnavailable as exc:
            log.warning("engine unavailable: %s", exc)
            retry = str(max(1, math.ceil(exc.retry_after)))
            raise _Refused(503, {"error": "unavailable", "message": "the rule engine is restarting; try again"},
                           {"Retry-After": retry}) from None
        except EngineError:
            log.error("the rule engine failed on a request")
            raise _Refused(500, {"error": "internal", "message": "netcds failed on this request"}) from None

    def _order_cards(service: Service, call: HookRequest, rec: Recommendation,
                     ctx: cardlib.CardContext) -> list[dict[str, Any]]:
        drafts = call.context["draftOrders"].get("entry") or []
        selected = set(call.context.get("selections") or []) if service.hook == "order-select" else None
        orders = []
        for entry in drafts:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            reference = f"{resource.get('resourceType')}/{resource.get('id')}"
            if selected is not None and reference not in selected:
                continue
            read = options_of_order(resource)
            if read.options:
                orders.append(cardlib.DraftOrder(reference, read.label or reference, tuple(read.options)))
        return cardlib.order_cards(rec, orders, ctx)

    @app.post("/cds-services/{service_id}/feedback")
    async def _feedback(service_id: str, request: Request) -> Response:
        claims = await _authenticate(request, f"{settings.base_url}/cds-services/{service_id}/feedback")
        _service(service_id)
        body = await _json_body(request)
        try:
            feedback = FeedbackRequest.model_validate(body)
        except ValidationError as exc:
            raise _Refused(400, {"error": "bad_request", "message": "the feedback is not valid",
                                 "problems": problems_of(exc)}) from None
        client = str(claims.get("iss") or "unknown client")
        count = await run_in_threadpool(_record, service_id, feedback, client)
        return JSONResponse({"recorded": count})

    def _record(service_id: str, feedback: FeedbackRequest, client: str) -> int:
        from cds.board.store import record_hook_feedback

        with _store().write() as s:
            for item in feedback.feedback:
                reason = item.overrideReason.reason if item.overrideReason else None
                record_hook_feedback(
                    s, service=service_id, card=item.card, outcome=item.outcome,
                    accepted=[a.id for a in item.acceptedSuggestions],
                    reason=reason.model_dump(exclude_none=True) if reason else None,
                    comment=item.overrideReason.userComment if item.overrideReason else None,
                    outcome_at=item.outcomeTimestamp, client=client)
        return len(feedback.feedback)

    @app.get("/reports/{report_id}")
    async def _report(report_id: str) -> Response:
        rec = reports.get(report_id)
        if rec is None:
            return HTMLResponse("<!doctype html><title>netcds</title><p>This report has expired or does not exist.",
                                status_code=404)
        from cds.render.html import render_html

        page = await run_in_threadpool(render_html, rec, pictures=False)
        return HTMLResponse(page, headers={"Content-Security-Policy": REPORT_CSP})

    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], allow_credentials=False, max_age=600)
    return app


#: The report page loads nothing from elsewhere and runs no script.
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'")


def _validate_call(service: Service, body: Any) -> HookRequest:
    if not isinstance(body, dict):
        raise _Refused(400, {"error": "bad_request", "message": "the body must be a JSON object",
                             "problems": [{"field": "", "message": "expected a JSON object"}]})
    try:
        call = HookRequest.model_validate(body)
    except ValidationError as exc:
        raise _Refused(400, {"error": "bad_request", "message": "the hook request is not valid",
                             "problems": problems_of(exc)}) from None
    if call.hook != service.hook:
        raise _Refused(400, {"error": "bad_request", "message": "the hook request is not valid", "problems": [
            {"field": "hook", "message": f"this service answers the hook '{service.hook}' (got '{call.hook}')"}]})
    try:
        context_model(service.hook).model_validate(call.context)
    except ValidationError as exc:
        raise _Refused(400, {"error": "bad_request", "message": "the hook context is not valid",
                             "problems": problems_of(exc, "context")}) from None
    return call


def _why_missing(notes: tuple[str, ...], words: Labels) -> str:
    return "; ".join(notes) if notes else words["hooks_gap_not_found"]


def _outcome(result: BundleEvaluation, words: Labels
             ) -> tuple[Recommendation | None, str | None, list[cardlib.DataGap]]:
    """The recommendation, or why there is none, and the data gaps the cards list (framed in ``words``)."""
    mapped = result.mapping
    if not result.has_primary_site:
        missing = [cardlib.DataGap(r.field, _why_missing(r.notes, words)) for r in mapped.report
                   if r.status in (Status.missing, Status.ambiguous)]
        return None, words["hooks_no_primary_site"], missing
    if result.recommendation is None:
        problems = [cardlib.DataGap(p.field or "(record)", p.message) for p in result.problems]
        return None, words["hooks_contract_broken"], problems
    return result.recommendation, None, _mapping_gaps(mapped, words)


def _mapping_gaps(mapped: MappingResult, words: Labels) -> list[cardlib.DataGap]:
    """Fields the mapper found ambiguous or refused (with its notes), and contract problems."""
    gaps = [cardlib.DataGap(r.field, words.fmt("hooks_gap_disagree", notes=_why_missing(r.notes, words)))
            for r in mapped.report if r.status == Status.ambiguous]
    gaps += [cardlib.DataGap(r.field, _why_missing(r.notes, words))
             for r in mapped.report if r.status == Status.missing and r.notes]
    gaps += [cardlib.DataGap("(record)", problem) for problem in mapped.problems]
    return gaps


__all__ = ["BODY_LIMIT", "HooksSettings", "create_app"]
