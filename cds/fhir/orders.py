"""What a draft order could be: the catalogue options of a MedicationRequest, ServiceRequest or Procedure.

The CDS Hooks ``order-select`` / ``order-sign`` checks ask, for each draft order, which options
it may belong to, so that an order for an option that is excluded or above its safety ceiling for
this patient gets a card. A drug that belongs to combinations answers every combination it is part
of (temozolomide alone -> CAPTEM): the check must not miss an order because its partner drug is
ordered separately. The order's status is not judged here: draft orders are drafts by definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds.fhir.codes import FhirCodes, load_codes
from cds.fhir.treatments import codings, drugs_in, get, options_of_drugs, procedure_in


@dataclass(frozen=True)
class OrderOptions:
    """The options an order could be part of, the codings recognised, and what was ordered.

    Examples
    --------
    >>> OrderOptions(("ssa",), ("http://www.whocc.no/atc|H01CB03",), "Lanreotide 120 mg").options
    ('ssa',)
    """

    options: tuple[str, ...]
    codes: tuple[str, ...]
    label: str


def _label(concepts: list[Any]) -> str:
    for concept in concepts:
        text = get(concept, "text")
        if text:
            return str(text)
    for concept in concepts:
        for _, code, display in codings(concept):
            if display or code:
                return display or code
    return ""


def _contained(resource: Mapping[str, Any], reference: str | None) -> Mapping[str, Any] | None:
    if not reference or not reference.startswith("#"):
        return None
    for item in resource.get("contained") or []:
        if isinstance(item, Mapping) and item.get("id") == reference[1:]:
            return item
    return None


def options_of_order(resource: Mapping[str, Any], codes: FhirCodes | None = None) -> OrderOptions:
    """The catalogue options a draft MedicationRequest, ServiceRequest or Procedure could be part of.

    Parameters
    ----------
    resource
        The resource as raw JSON (a ``draftOrders`` Bundle entry's resource). A MedicationRequest's
        medication is read from ``medicationCodeableConcept`` or a contained Medication (its code and
        ingredients); a Medication elsewhere cannot be read from the order alone.
    codes
        The code catalogue (``knowledge/catalogues/fhir-codes.yaml`` by default).

    Returns
    -------
    OrderOptions
        Empty ``options`` when nothing in the order is recognised (or its type is another one).

    Examples
    --------
    >>> order = {"resourceType": "MedicationRequest", "status": "draft", "intent": "order",
    ...          "medicationCodeableConcept": {"text": "Temozolomide 150 mg/m2",
    ...              "coding": [{"system": "http://www.whocc.no/atc", "code": "L01AX03"}]}}
    >>> got = options_of_order(order)
    >>> got.options, got.codes, got.label
    (('capecitabine_temozolomide',), ('http://www.whocc.no/atc|L01AX03',), 'Temozolomide 150 mg/m2')
    >>> options_of_order({"resourceType": "ServiceRequest", "code": {"text": "Orthotopic liver transplant"}}).options
    ('liver_transplant',)
    """
    codes = codes or load_codes()
    if not isinstance(resource, Mapping):
        return OrderOptions((), (), "")
    rtype = resource.get("resourceType")
    if rtype == "MedicationRequest":
        concepts: list[Any] = []
        if resource.get("medicationCodeableConcept") is not None:
            concepts.append(resource["medicationCodeableConcept"])
        medication = _contained(resource, get(resource.get("medicationReference"), "reference"))
        if medication is not None:
            concepts.append(medication.get("code"))
            concepts += [get(i, "itemCodeableConcept") for i in medication.get("ingredient") or []]
        found = drugs_in([c for c in concepts if c is not None], codes)
        label = _label(concepts) or get(resource.get("medicationReference"), "display") or ""
        return OrderOptions(options_of_drugs(found.ids, codes), found.codes, label)
    if rtype in ("ServiceRequest", "Procedure"):
        concept = resource.get("code")
        row, found = procedure_in(concept, codes)
        return OrderOptions(tuple(row.options) if row else (), found.codes, _label([concept]))
    return OrderOptions((), (), "")
