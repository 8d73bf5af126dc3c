"""Read a FHIR R4 Bundle with fhir.resources and resolve references inside it.

Bundle types ``collection``, ``transaction`` and ``searchset`` are read alike; references
resolve as ``Type/id``, as the entry's ``fullUrl`` (``urn:uuid:...``), or as an absolute URL
ending in ``Type/id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    resource: Resource
    full_url: str | None


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
        return [e for e in self.entries if e.resource.get_resource_type() == resource_type]


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
    try:
        bundle = Bundle.model_validate(data)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise BundleError(f"the Bundle is not valid FHIR R4: {exc}") from exc
    if bundle.type not in READABLE_TYPES:
        raise BundleError(f"bundle type {bundle.type!r} is not read (expected one of {sorted(READABLE_TYPES)})")
    index = IndexedBundle()
    for number, raw in enumerate(bundle.entry or []):
        resource = raw.resource
        if resource is None:
            continue
        rtype = resource.get_resource_type()
        if rtype == "OperationOutcome":
            continue
        rid = getattr(resource, "id", None)
        label = f"{rtype}/{rid}" if rid else (raw.fullUrl or f"{rtype}#entry{number}")
        entry = Entry(label=label, resource=resource, full_url=raw.fullUrl)
        index.entries.append(entry)
        if rid:
            index.by_ref[f"{rtype}/{rid}"] = entry
        if raw.fullUrl:
            index.by_ref[raw.fullUrl] = entry
    return index
