"""Read a FHIR R4 Bundle with fhir.resources and resolve references inside it.

Bundle types ``collection``, ``transaction`` and ``searchset`` are read alike; references
resolve as ``Type/id``, as the entry's ``fullUrl`` (``urn:uuid:...``), or as an absolute URL
ending in ``Type/id``.

Each resource is parsed (and validated) with fhir.resources when the mapper first reads it, not
before: an EHR's record holds hundreds of resources netcds never reads (everyday labs, vital
signs, encounters), parsing is the costliest step of a mapping (about 0.3 ms a resource), and a
quirk in a resource netcds does not read must not cost the patient the rest of the mapping. A
resource the mapper reads and fhir.resources rejects raises :class:`InvalidResource`; the mapper
lists it among the resources that do not count, with the reason.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

#: Bundle types whose entries are read as a patient record.
READABLE_TYPES = frozenset({"collection", "transaction", "searchset", "batch", "document"})


class BundleError(ValueError):
    """The JSON is not a Bundle the mapper can read (say why, never guess).

    Examples
    --------
    >>> str(BundleError("expected a FHIR Bundle"))
    'expected a FHIR Bundle'
    """


class InvalidResource(BundleError):
    """One resource of the bundle is not valid FHIR R4 (the others may still be read).

    Parameters
    ----------
    label
        The resource's name in the report (``Type/id``), kept as :attr:`label`.
    reason
        What fhir.resources rejected (the element and why), kept as :attr:`reason`.

    Examples
    --------
    >>> InvalidResource("Observation/o1", "valueQuantity.value: not a number").label
    'Observation/o1'
    """

    def __init__(self, label: str, reason: str) -> None:
        self.label = label
        self.reason = reason
        super().__init__(f"{label} is not valid FHIR R4: {reason}")


@functools.cache
def _model(resource_type: str) -> Any:
    return get_fhir_model_class(resource_type)


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first.get('msg', '')}" if where else str(first.get("msg", ""))
    return str(exc).splitlines()[0]


@dataclass
class Entry:
    """One resource with the name the report uses for it (``Type/id`` or its fullUrl).

    Examples
    --------
    >>> ib = read_bundle({"resourceType": "Bundle", "type": "searchset", "entry": [
    ...     {"fullUrl": "urn:uuid:a1", "resource": {"resourceType": "Patient"}}]})
    >>> ib.entries[0].label, ib.entries[0].full_url
    ('urn:uuid:a1', 'urn:uuid:a1')
    """

    label: str
    raw: dict[str, Any]
    full_url: str | None
    _parsed: Resource | None = field(default=None, repr=False, compare=False)

    @property
    def resource_type(self) -> str:
        """The resource's type, read without parsing it."""
        return str(self.raw.get("resourceType", ""))

    @property
    def resource(self) -> Resource:
        """The resource parsed with fhir.resources (on first use, then kept).

        Raises
        ------
        InvalidResource
            fhir.resources rejects it (the reason names the element).
        """
        if self._parsed is None:
            try:
                self._parsed = _model(self.resource_type).model_validate(self.raw)
            except (ValueError, KeyError, LookupError) as exc:  # pydantic's ValidationError is a ValueError
                raise InvalidResource(self.label, _first_error(exc)) from None
        return self._parsed


@dataclass
class IndexedBundle:
    """The bundle's resources, with a lookup from every name a reference may use.

    Examples
    --------
    >>> ib = read_bundle({"resourceType": "Bundle", "type": "collection", "entry": [
    ...     {"resource": {"resourceType": "Patient", "id": "p1"}}]})
    >>> sorted(ib.by_ref)
    ['Patient/p1']
    """

    entries: list[Entry] = field(default_factory=list)
    by_ref: dict[str, Entry] = field(default_factory=dict)

    def resolve(self, reference: str | None) -> Entry | None:
        """The entry a reference names, or None.

        Parameters
        ----------
        reference
            ``Type/id``, a fullUrl (``urn:uuid:...``) or an absolute URL ending in ``Type/id``.

        Returns
        -------
        Entry or None
            The entry, or None when the bundle does not hold it.

        Examples
        --------
        >>> ib = read_bundle({"resourceType": "Bundle", "type": "collection", "entry": [
        ...     {"fullUrl": "urn:uuid:a1", "resource": {"resourceType": "Patient", "id": "p1"}}]})
        >>> ib.resolve("urn:uuid:a1").label, ib.resolve("Patient/p1").label, ib.resolve("Patient/x")
        ('Patient/p1', 'Patient/p1', None)
        """
        if not reference:
            return None
        if reference in self.by_ref:
            return self.by_ref[reference]
        parts = reference.rstrip("/").split("/")
        if len(parts) >= 2:
            return self.by_ref.get("/".join(parts[-2:]))
        return None

    def of_type(self, resource_type: str) -> list[Entry]:
        """The entries of one resource type, in bundle order.

        Parameters
        ----------
        resource_type
            A FHIR resource type, e.g. ``Observation``.

        Returns
        -------
        list of Entry
            Possibly empty.

        Examples
        --------
        >>> ib = read_bundle({"resourceType": "Bundle", "type": "collection", "entry": [
        ...     {"resource": {"resourceType": "Patient", "id": "p1"}}]})
        >>> [e.label for e in ib.of_type("Patient")], ib.of_type("Condition")
        (['Patient/p1'], [])
        """
        return [e for e in self.entries if e.resource_type == resource_type]


def read_bundle(data: dict[str, Any]) -> IndexedBundle:
    """Parse a Bundle (a dict of JSON) and index its resources.

    Parameters
    ----------
    data
        The Bundle as parsed JSON.

    Returns
    -------
    IndexedBundle
        Entries with labels; OperationOutcome entries of a searchset are left out.

    Raises
    ------
    BundleError
        Not a Bundle, an unreadable type, or a resource fhir.resources rejects.

    Examples
    --------
    >>> read_bundle({"resourceType": "Patient"})
    Traceback (most recent call last):
    ...
    cds.fhir.bundle.BundleError: expected a FHIR Bundle, got resourceType 'Patient'
    """
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        got = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise BundleError(f"expected a FHIR Bundle, got resourceType {got!r}")
    raw_entries = data.get("entry") or []
    if not isinstance(raw_entries, list):
        raise BundleError("the Bundle is not valid FHIR R4: entry must be a list")
    try:  # the Bundle's own elements (type, total, links); its resources are parsed when read
        bundle = Bundle.model_validate({key: value for key, value in data.items() if key != "entry"})
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise BundleError(f"the Bundle is not valid FHIR R4: {exc}") from exc
    if bundle.type not in READABLE_TYPES:
        raise BundleError(f"bundle type {bundle.type!r} is not read (expected one of {sorted(READABLE_TYPES)})")
    index = IndexedBundle()
    for number, raw in enumerate(raw_entries):
        if not isinstance(raw, dict):
            raise BundleError(f"the Bundle is not valid FHIR R4: entry {number} is not an object")
        resource = raw.get("resource")
        if resource is None:
            continue
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise BundleError(f"the Bundle is not valid FHIR R4: entry {number} has no resource type")
        rtype = resource["resourceType"]
        if rtype == "OperationOutcome":
            continue
        rid = resource.get("id")
        full_url = raw.get("fullUrl") if isinstance(raw.get("fullUrl"), str) else None
        label = f"{rtype}/{rid}" if rid else (full_url or f"{rtype}#entry{number}")
        entry = Entry(label=label, raw=resource, full_url=full_url)
        index.entries.append(entry)
        if rid:
            index.by_ref[f"{rtype}/{rid}"] = entry
        if full_url:
            index.by_ref[full_url] = entry
    return index
