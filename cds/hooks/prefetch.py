"""The patient's FHIR data for one hook call: the prefetch the EHR sent, the rest read from its server.

Per the spec, a prefetch key the client could not satisfy is *absent* and one with no data is
*null* (not an empty Bundle, since a template may read a single resource): an absent key is read
from ``fhirServer`` with the ``fhirAuthorization`` bearer token; a null key means "no data" and is
not fetched again. When data cannot be obtained (no ``fhirServer``, a network error, a 4xx/5xx)
the call answers ``412 Precondition Failed`` (:class:`PrefetchFailed`). Search results are
followed through their ``next`` links on the same server only (never elsewhere), up to
:data:`MAX_PAGES` pages.

Spec: CDS Hooks ``docs/specification/current.md`` (github:cds-hooks/docs, commit 462a38f),
"Prefetch Template" (absent vs null keys, OperationOutcome entries, 412) and "FHIR Resource
Access" (the bearer token).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cds.hooks.registry import fill_template

#: Pages of one search followed at most.
MAX_PAGES = 20

#: The prefetch keys without which nothing can be said (the patient, and the conditions that hold
#: the tumour's primary site): when they cannot be obtained the call answers 412. Any other key
#: that cannot be obtained is named in a card instead (its fields are unknown, never guessed):
#: netcds asks for missing data rather than refusing the patient.
REQUIRED_KEYS = frozenset({"patient", "conditions"})


@dataclass(frozen=True)
class Gathered:
    """The patient's data as one Bundle, and the prefetch keys that could not be read (with why).

    Examples
    --------
    >>> Gathered({"resourceType": "Bundle", "type": "collection", "entry": []}, (("observations", "no server"),)).unread
    (('observations', 'no server'),)
    """

    bundle: dict[str, Any]
    unread: tuple[tuple[str, str], ...] = ()


class PrefetchFailed(Exception):
    """The FHIR data a template asks for could not be obtained: the call answers 412.

    Parameters
    ----------
    keys
        The prefetch keys that could not be obtained (kept as :attr:`keys`).
    reason
        Why, without patient data.

    Examples
    --------
    >>> PrefetchFailed(["observations"], "no fhirServer").keys
    ['observations']
    """

    def __init__(self, keys: list[str], reason: str) -> None:
        self.keys = keys
        self.reason = reason
        super().__init__(f"{', '.join(keys)}: {reason}")


@dataclass(frozen=True)
class FhirAccess:
    """Where and how to read the EHR's FHIR server.

    Examples
    --------
    >>> FhirAccess("https://ehr.example/fhir", "t").headers()["Authorization"]
    'Bearer t'
    """

    server: str
    token: str | None = None
    timeout: float = 5.0

    def headers(self) -> dict[str, str]:
        """The request headers: FHIR JSON, and the bearer token when there is one.

        Returns
        -------
        dict
            ``Accept`` and perhaps ``Authorization``.

        Examples
        --------
        >>> "Authorization" in FhirAccess("https://ehr.example/fhir").headers()
        False
        """
        headers = {"Accept": "application/fhir+json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def gather(templates: Mapping[str, str], prefetch: Mapping[str, Any] | None, context: Mapping[str, Any],
           access: FhirAccess | None, required: Collection[str] = REQUIRED_KEYS) -> Gathered:
    """One collection Bundle of every resource the templates ask for, and what could not be read.

    Parameters
    ----------
    templates
        The service's prefetch templates, by key.
    prefetch
        What the client sent (key -> resource, searchset Bundle, or null).
    context
        The hook's context (fills the templates' tokens when fetching).
    access
        The client's FHIR server, or None when it gave none.
    required
        The keys without which the call fails (412); the others are reported as unread.

    Returns
    -------
    Gathered
        A ``collection`` Bundle (OperationOutcome entries left for the reader to skip) and the
        optional keys that could not be read, with the reason.

    Raises
    ------
    PrefetchFailed
        A required key is absent and its data cannot be read from the server.

    Examples
    --------
    >>> patient = {"resourceType": "Patient", "id": "p"}
    >>> got = gather({"patient": "Patient/{{context.patientId}}", "conditions": "Condition?patient=x"},
    ...              {"patient": patient, "conditions": None}, {"patientId": "p"}, None)
    >>> [e["resource"]["id"] for e in got.bundle["entry"]], got.unread
    (['p'], ())
    >>> gather({"patient": "Patient/{{context.patientId}}"}, {}, {"patientId": "p"}, None)
    Traceback (most recent call last):
    ...
    cds.hooks.prefetch.PrefetchFailed: patient: the client sent no prefetch for it and no fhirServer to read it from
    >>> gather({"patient": "Patient/p", "observations": "Observation?patient=p"}, {"patient": patient},
    ...        {"patientId": "p"}, None).unread
    (('observations', 'the client sent no prefetch for it and no fhirServer to read it from'),)
    """
    given = dict(prefetch or {})
    absent = [key for key in templates if key not in given]
    if access is None:
        failed = [key for key in absent if key in required]
        if failed:
            raise PrefetchFailed(failed, "the client sent no prefetch for it and no fhirServer to read it from")
    entries: list[dict[str, Any]] = []
    unread: list[tuple[str, str]] = []
    for key in templates:
        if key in given:
            entries.extend(_entries(given[key]))
    if absent and access is None:
        unread = [(key, "the client sent no prefetch for it and no fhirServer to read it from") for key in absent]
    elif absent and access is not None:
        with httpx.Client(timeout=access.timeout, headers=access.headers(), follow_redirects=False) as client:
            for key in absent:
                try:
                    url = fill_template(templates[key], context)
                    if url is None:
                        raise PrefetchFailed([key], "the context lacks a field its template needs")
                    entries.extend(_fetch(client, access.server, url, key))
                except PrefetchFailed as exc:
                    if key in required:
                        raise
                    unread.append((key, exc.reason))
    return Gathered({"resourceType": "Bundle", "type": "collection", "entry": entries}, tuple(unread))


def _entries(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "Bundle":
        return [{"resource": e["resource"], **({"fullUrl": e["fullUrl"]} if "fullUrl" in e else {})}
                for e in value.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    return [{"resource": value}]


def _fetch(client: httpx.Client, server: str, relative: str, key: str) -> list[dict[str, Any]]:
    base = server.rstrip("/") + "/"
    url: str | None = base + relative
    entries: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        if url is None:
            break
        try:
            response = client.get(url)
        except httpx.HTTPError as exc:
            raise PrefetchFailed([key], f"the FHIR server could not be read ({type(exc).__name__})") from None
        if response.status_code == 404 and "?" not in relative:
            return []  # a read of a resource that is not there: no data, as a null prefetch
        if response.status_code >= 400:
            raise PrefetchFailed([key], f"the FHIR server answered {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise PrefetchFailed([key], "the FHIR server did not answer JSON") from None
        entries.extend(_entries(data))
        url = _next_link(data, base)
    return entries


def _next_link(data: Any, base: str) -> str | None:
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        return None
    for link in data.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            target = str(link.get("url") or "")
            return target if target.startswith(base) else None  # never follow a link off the server
    return None
