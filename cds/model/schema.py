"""The JSON Schemas of the contracts, as ``cds schema`` exports them.

pydantic writes each schema from the models; this module only states the dialect
(``$schema``, draft 2020-12), names the schema (``$id``, with the software version) and, for
the patient, says in its description what a JSON Schema validator cannot check. The
models put every range where pydantic exports it as a standard ``minimum``/``maximum``
keyword (see ``cds/model/patient.py``); ``tests/test_schema_contract.py`` checks that a
JSON Schema validator and :meth:`Patient.model_validate` give the same verdicts.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from cds.model.patient import Patient
from cds.model.recommendation import Recommendation, SurveillanceReport
from cds.version import SOFTWARE_VERSION

#: The contracts ``cds schema`` exports.
ContractName = Literal["patient", "recommendation", "surveillance"]

#: The model behind each exported schema.
CONTRACTS: dict[ContractName, type[BaseModel]] = {
    "patient": Patient,
    "recommendation": Recommendation,
    "surveillance": SurveillanceReport,
}

#: The JSON Schema dialect of every exported schema.
DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: Where the schemas are named (``$id``): ``SCHEMA_BASE/<contract>/<software version>.json``.
SCHEMA_BASE = "https://netcds.org/schema"

#: What the patient schema's description adds: what a JSON Schema validator cannot check.
PATIENT_SCHEMA_NOTE = (
    "A document this schema accepts is a valid netcds patient, and a document it rejects is "
    "rejected by netcds, with two exceptions. (1) netcds also rejects contradictory facts, which "
    "this schema cannot express because they relate two fields: for example metastatic sites "
    "with a stage other than metastatic, or a gastric type for a primary outside the stomach "
    "(the full list is Patient._contradictions in cds/model/patient.py). (2) For convenience, "
    "netcds also accepts a few spellings that this schema rejects and turns them into the "
    'canonical form: numbers written as text ("12"), booleans written as 0 or 1 or as text '
    '("true", "yes", "on" and their opposites), a grade in lower case or with spaces ("g2"), '
    "and text with surrounding spaces (trimmed before its length or pattern is checked). Dates "
    "are checked by the \"date\" format (YYYY-MM-DD): validate with format assertion switched on."
)


# A numpydoc section title: a line, then a line of dashes.
_SECTION = re.compile(r"^\S[^\n]*\n-{3,}[ \t]*$", re.MULTILINE)


class ContractJsonSchema(GenerateJsonSchema):
    """pydantic's generator, stating the dialect it writes (draft 2020-12).

    A model's description is its docstring up to its first numpydoc section (``Examples``,
    ``Notes``, ``See Also``): what is written for Python programmers stays out of the contract.

    Examples
    --------
    >>> schema = Patient.model_json_schema(schema_generator=ContractJsonSchema)
    >>> schema["$schema"] == DIALECT, schema["description"]
    (True, 'One patient at one decision point; the input contract.')
    """

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> JsonSchemaValue:
        """The JSON Schema of a core schema, with ``$schema`` first.

        Parameters
        ----------
        schema
            pydantic's core schema of a model (``Model.__pydantic_core_schema__``).
        mode
            ``validation`` (what is accepted) or ``serialization`` (what is written).

        Returns
        -------
        dict
            The schema, ``$schema`` first, then what pydantic generates.

        Examples
        --------
        >>> from cds.model.recommendation import Trace
        >>> next(iter(ContractJsonSchema().generate(Trace.__pydantic_core_schema__)))
        '$schema'
        """
        return {"$schema": DIALECT, **super().generate(schema, mode)}

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        """The JSON Schema of one model, described by its docstring without the numpydoc sections.

        Parameters
        ----------
        schema
            pydantic's core schema of the model.

        Returns
        -------
        dict
            pydantic's schema of the model, its ``description`` cut before the first section.

        Examples
        --------
        >>> from cds.model.recommendation import Trace
        >>> ContractJsonSchema().generate(Trace.__pydantic_core_schema__)["description"]
        'How the answer was reached: pathways entered, nodes reached, edges taken, rules fired.'
        """
        json_schema = super().model_schema(schema)
        description = json_schema.get("description")
        if isinstance(description, str) and (section := _SECTION.search(description)):
            json_schema["description"] = description[: section.start()].rstrip()
        return json_schema


def schema_id(name: ContractName) -> str:
    """The ``$id`` of a contract's schema: one address per contract and software version.

    Parameters
    ----------
    name
        The contract.

    Returns
    -------
    str
        ``SCHEMA_BASE/<name>/<software version>.json``.

    Examples
    --------
    >>> schema_id("patient").startswith("https://netcds.org/schema/patient/")
    True
    """
    return f"{SCHEMA_BASE}/{name}/{SOFTWARE_VERSION}.json"


def json_schema(name: ContractName) -> dict[str, Any]:
    """The JSON Schema of one contract, as ``cds schema NAME`` prints it.

    Parameters
    ----------
    name
        ``patient`` (the input), ``recommendation`` (the output) or ``surveillance`` (the
        report of ``cds surveillance --format json``).

    Returns
    -------
    dict
        A draft 2020-12 schema with ``$schema`` and ``$id`` first; plain JSON data.

    Examples
    --------
    >>> from jsonschema import Draft202012Validator
    >>> schema = json_schema("patient")
    >>> Draft202012Validator(schema).is_valid({"tumour": {"primary_site": "pancreas", "ki67_percent": 150}})
    False
    """
    model = CONTRACTS[name]
    generated = model.model_json_schema(schema_generator=ContractJsonSchema)
    schema: dict[str, Any] = {"$schema": generated.pop("$schema"), "$id": schema_id(name), **generated}
    if name == "patient":
        schema["description"] = f"{schema.get('description', '').rstrip('.')}. {PATIENT_SCHEMA_NOTE}".lstrip(". ")
    return schema


__all__ = ["CONTRACTS", "DIALECT", "PATIENT_SCHEMA_NOTE", "ContractJsonSchema", "ContractName", "json_schema",
           "schema_id"]
