"""FHIR R4 in: a Bundle mapped to the patient contract, with a report of where each field came from.

See ``cds/fhir/NOTES.md`` for what is mapped and what is next.
"""

from __future__ import annotations

from cds.fhir.bundle import BundleError, read_bundle
from cds.fhir.codes import FhirCodes, load_codes
from cds.fhir.mapper import FieldReport, MappingResult, Status, map_bundle
from cds.fhir.orders import OrderOptions, options_of_order

__all__ = ["BundleError", "FhirCodes", "FieldReport", "MappingResult", "OrderOptions", "Status", "load_codes",
           "map_bundle", "options_of_order", "read_bundle"]
