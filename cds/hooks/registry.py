"""The CDS services netcds offers, in one registry from which discovery is generated.

Each :class:`Service` names its hook, its title and description, the prefetch templates it
asks the EHR to fill and what it needs to work (``usageRequirements``). ``GET /cds-services``
returns :func:`discovery`; ``POST /cds-services/{id}`` looks the service up with
:func:`service`.

Spec: CDS Hooks, ``docs/specification/current.md`` of github:cds-hooks/docs (commit 462a38f):
"Discovery" (fields ``hook``, ``title``, ``description``, ``id``, ``prefetch``,
``usageRequirements``), "Prefetch Template" (tokens ``{{context.patientId}}``, type-level searches
``Type?patient=...``) and the hook pages ``docs/hooks/patient-view.md``, ``order-select.md``,
``order-sign.md`` (context fields).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: The hooks netcds answers.
Hook = Literal["patient-view", "order-select", "order-sign"]

#: The FHIR data every service reads: the patient, and the searches the mapper draws facts from.
PATIENT_PREFETCH: Mapping[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "diagnosticReports": "DiagnosticReport?patient={{context.patientId}}",
    "familyHistory": "FamilyMemberHistory?patient={{context.patientId}}",
}

_USAGE = (
    "For digestive neuroendocrine neoplasms (NET, NEC, MiNEN). Needs the prefetch data listed, or "
    "fhirServer with fhirAuthorization so that netcds can read them itself; answers 412 otherwise. "
    "netcds supports the decision of a multidisciplinary tumour board; it does not replace it."
)


@dataclass(frozen=True)
class Service:
    """One CDS service: the hook it answers and what it asks for.

    Examples
    --------
    >>> service("netcds-patient-view").hook
    'patient-view'
    """

    id: str
    hook: Hook
    title: str
    description: str
    prefetch: Mapping[str, str] = field(default_factory=lambda: dict(PATIENT_PREFETCH))
    usage_requirements: str = _USAGE

    def describe(self) -> dict[str, Any]:
        """The service as discovery lists it.

        Returns
        -------
        dict
            ``hook``, ``title``, ``description``, ``id``, ``prefetch``, ``usageRequirements``.

        Examples
        --------
        >>> sorted(service("netcds-order-sign").describe())
        ['description', 'hook', 'id', 'prefetch', 'title', 'usageRequirements']
        """
        return {"hook": self.hook, "title": self.title, "description": self.description, "id": self.id,
                "prefetch": dict(self.prefetch), "usageRequirements": self.usage_requirements}


#: Every service, by id.
SERVICES: Mapping[str, Service] = {s.id: s for s in (
    Service(
        id="netcds-patient-view", hook="patient-view",
        title="netcds: treatment options for a digestive neuroendocrine neoplasm",
        description=("Ranks the anti-tumour and antisecretory options for the patient from the guidelines "
                     "(ESMO, ENETS, TNCD, NCCN), with critical alerts for the tumour board, the data still "
                     "missing and a link to the full report."),
    ),
    Service(
        id="netcds-order-select", hook="order-select",
        title="netcds: safety check of a selected neuroendocrine treatment order",
        description=("Warns when a selected draft MedicationRequest or ServiceRequest is for an option that "
                     "is contraindicated for this patient or capped by a safety rule, with the reason and "
                     "its source."),
    ),
    Service(
        id="netcds-order-sign", hook="order-sign",
        title="netcds: safety check of neuroendocrine treatment orders before signing",
        description=("Checks every draft order before it is signed: an option contraindicated for this patient "
                     "or capped by a safety rule gets a critical or warning card with the reason and its source."),
    ),
)}


def discovery() -> dict[str, Any]:
    """The discovery document (``GET /cds-services``).

    Returns
    -------
    dict
        ``{"services": [...]}``, one entry per :data:`SERVICES`.

    Examples
    --------
    >>> [s["id"] for s in discovery()["services"]]
    ['netcds-patient-view', 'netcds-order-select', 'netcds-order-sign']
    """
    return {"services": [s.describe() for s in SERVICES.values()]}


def service(service_id: str) -> Service:
    """The service with this id.

    Parameters
    ----------
    service_id
        The ``{id}`` of ``/cds-services/{id}``.

    Returns
    -------
    Service
        The service.

    Raises
    ------
    KeyError
        No service has this id.

    Examples
    --------
    >>> service("nope")
    Traceback (most recent call last):
    ...
    KeyError: 'nope'
    """
    return SERVICES[service_id]


_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z][A-Za-z0-9]*)\s*\}\}")


def fill_template(template: str, context: Mapping[str, Any]) -> str | None:
    """A prefetch template with its ``{{context.X}}`` tokens replaced (for fetching it ourselves).

    Parameters
    ----------
    template
        E.g. ``Observation?patient={{context.patientId}}``.
    context
        The hook's context.

    Returns
    -------
    str or None
        The relative FHIR URL, the values URL-quoted; None when a token's context field is absent
        or not a string.

    Examples
    --------
    >>> fill_template("Observation?patient={{context.patientId}}", {"patientId": "p 1"})
    'Observation?patient=p%201'
    >>> fill_template("Patient/{{context.patientId}}", {}) is None
    True
    """
    from urllib.parse import quote

    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        got = context.get(match.group(1))
        if not isinstance(got, str) or not got:
            missing = True
            return ""
        return quote(got, safe="")

    filled = _TOKEN.sub(value, template)
    return None if missing else filled
