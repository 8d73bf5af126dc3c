"""What a CDS client sends, as pydantic models: a hook call and a feedback report.

A malformed body is refused with ``400`` and one problem per field (a dotted path such as
``context.patientId`` and what is allowed there): :func:`problems_of` turns pydantic's errors
into those. Fields the spec does not define are allowed (the spec lets clients extend them).

Spec: CDS Hooks ``docs/specification/current.md`` (github:cds-hooks/docs, commit 462a38f):
"Calling a CDS Service" (``hook``, ``hookInstance``, ``fhirServer``, ``fhirAuthorization``,
``context``, ``prefetch``), "Passing the Access Token" (``access_token``, ``token_type`` fixed
``Bearer``, ``expires_in``, ``scope``, ``subject``, ``patient``) and "Feedback" (``card``,
``outcome`` accepted / overridden, ``acceptedSuggestions``, ``overrideReason``,
``outcomeTimestamp``); the hook pages for the contexts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError, model_validator

from cds.hooks.registry import Hook


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class FhirAuthorization(_Open):
    """The bearer token the EHR grants netcds to read its FHIR server.

    Examples
    --------
    >>> FhirAuthorization(access_token="t", token_type="Bearer", expires_in=300, scope="user/*.read",
    ...                   subject="netcds").token_type
    'Bearer'
    """

    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=0)
    scope: str
    subject: str
    patient: str | None = None


class HookRequest(_Open):
    """A call of a CDS service; the context is checked per hook by :func:`context_model`.

    Examples
    --------
    >>> r = HookRequest.model_validate({"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    ...                                 "context": {"userId": "Practitioner/1", "patientId": "p"}})
    >>> r.prefetch is None, r.fhirServer is None
    (True, True)
    """

    hook: str
    hookInstance: uuid.UUID
    fhirServer: AnyHttpUrl | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, dict[str, Any] | None] | None = None

    @model_validator(mode="after")
    def _server_with_token(self) -> HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirServer is required when fhirAuthorization is given")
        return self


class PatientViewContext(_Open):
    """The context of ``patient-view``.

    Examples
    --------
    >>> PatientViewContext(userId="Practitioner/1", patientId="p").encounterId is None
    True
    """

    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1)
    encounterId: str | None = None


class OrderSignContext(PatientViewContext):
    """The context of ``order-sign``: the draft orders, a Bundle.

    Examples
    --------
    >>> OrderSignContext(userId="Practitioner/1", patientId="p",
    ...                  draftOrders={"resourceType": "Bundle"}).draftOrders["resourceType"]
    'Bundle'
    """

    draftOrders: dict[str, Any]

    @model_validator(mode="after")
    def _a_bundle(self) -> OrderSignContext:
        if self.draftOrders.get("resourceType") != "Bundle":
            raise ValueError("draftOrders must be a FHIR Bundle (resourceType 'Bundle')")
        return self


class OrderSelectContext(OrderSignContext):
    """The context of ``order-select``: the draft orders and the ones just selected.

    Examples
    --------
    >>> OrderSelectContext(userId="Practitioner/1", patientId="p", selections=["MedicationRequest/1"],
    ...                    draftOrders={"resourceType": "Bundle"}).selections
    ['MedicationRequest/1']
    """

    selections: list[str] = Field(min_length=1)


#: The context model of each hook.
CONTEXTS: dict[str, type[PatientViewContext]] = {
    "patient-view": PatientViewContext, "order-select": OrderSelectContext, "order-sign": OrderSignContext,
}


def context_model(hook: Hook) -> type[PatientViewContext]:
    """The model the context of ``hook`` must satisfy.

    Parameters
    ----------
    hook
        The hook.

    Returns
    -------
    type
        A subclass of :class:`PatientViewContext`.

    Examples
    --------
    >>> context_model("order-select").__name__
    'OrderSelectContext'
    """
    return CONTEXTS[hook]


class Coding(_Open):
    """A FHIR-style coding (system, code, display).

    Examples
    --------
    >>> Coding(code="x").system is None
    True
    """

    system: str | None = None
    code: str | None = None
    display: str | None = None


class OverrideReason(_Open):
    """Why the user overrode a card: a coded reason and/or a comment.

    Examples
    --------
    >>> OverrideReason(userComment="Decided at the board").reason is None
    True
    """

    reason: Coding | None = None
    userComment: str | None = Field(default=None, max_length=4000)


class AcceptedSuggestion(_Open):
    """A suggestion the user accepted, by its uuid.

    Examples
    --------
    >>> AcceptedSuggestion(id="s").id
    's'
    """

    id: str = Field(min_length=1, max_length=80)


class FeedbackItem(_Open):
    """What the user did with one card.

    Examples
    --------
    >>> FeedbackItem(card="c", outcome="overridden", outcomeTimestamp="2026-01-02T10:00:00Z").outcome
    'overridden'
    """

    card: str = Field(min_length=1, max_length=80)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] = Field(default_factory=list)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str = Field(min_length=1, max_length=40)

    @model_validator(mode="after")
    def _accepted_names_its_suggestions(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required when the outcome is 'accepted'")
        return self


class FeedbackRequest(_Open):
    """A feedback report: one or more cards.

    Examples
    --------
    >>> len(FeedbackRequest(feedback=[]).feedback)
    0
    """

    feedback: list[FeedbackItem] = Field(max_length=100)


def problems_of(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Pydantic's errors as ``{"field", "message"}`` pairs a person can act on (no input echoed).

    Parameters
    ----------
    exc
        The validation error.
    prefix
        Dotted prefix for the field names (``context`` for a context model).

    Returns
    -------
    list of dict
        One per fault; ``field`` is a dotted path (``context.selections``), empty for the body.

    Examples
    --------
    >>> try:
    ...     HookRequest.model_validate({"hook": "patient-view", "hookInstance": "x", "context": {}})
    ... except ValidationError as exc:
    ...     problems_of(exc)[0]["field"]
    'hookInstance'
    """
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc: Sequence[Any] = err.get("loc", ())
        parts = [prefix] if prefix else []
        for part in loc:
            if isinstance(part, int):
                parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
            else:
                parts.append(str(part))
        message = str(err.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        out.append({"field": ".".join(parts), "message": message})
    return out
