"""The exported JSON Schemas say what the models check, in standard keywords.

Defect: ``cds schema patient`` emitted pydantic's own ``ge``/``le``/``gt``/``lt`` keys for the
numeric fields (their range sat behind a validator), which JSON Schema validators ignore, so a
validator accepted ``"ki67_percent": 150``. The property test at the end checks that a JSON
Schema validator and :meth:`cds.model.Patient.model_validate` accept and reject the same
documents, apart from the two differences the schema's description states.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from annotated_types import MaxLen
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from cds.model import Patient
from cds.model.patient import Tumour
from cds.model.schema import CONTRACTS, json_schema
from cds.version import SOFTWARE_VERSION
from tests.strategies import patients

NAMES = sorted(CONTRACTS)

# Every keyword of JSON Schema draft 2020-12 (core, applicator, unevaluated, validation,
# meta-data, format-annotation, content).
STANDARD_KEYWORDS = {
    "$schema", "$id", "$ref", "$defs", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
    "$comment", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas",
    "prefixItems", "items", "contains", "properties", "patternProperties", "additionalProperties",
    "propertyNames", "unevaluatedItems", "unevaluatedProperties", "type", "enum", "const",
    "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
    "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains",
    "maxProperties", "minProperties", "required", "dependentRequired", "title", "description",
    "default", "deprecated", "readOnly", "writeOnly", "examples", "format", "contentEncoding",
    "contentMediaType", "contentSchema",
}
_SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "dependentSchemas"}
_SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}
_SCHEMAS = {"not", "if", "then", "else", "items", "contains", "additionalProperties", "propertyNames",
            "unevaluatedItems", "unevaluatedProperties", "contentSchema"}


def keywords(schema: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    """Every (location, keyword) of a schema, walking only into subschemas (not into data)."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        yield where, key
        if key in _SCHEMA_MAPS:
            for name, sub in value.items():
                yield from keywords(sub, f"{where}/{key}/{name}")
        elif key in _SCHEMA_LISTS:
            for i, sub in enumerate(value):
                yield from keywords(sub, f"{where}/{key}/{i}")
        elif key in _SCHEMAS:
            yield from keywords(value, f"{where}/{key}")


def validator(name: str = "patient") -> Draft202012Validator:
    return Draft202012Validator(json_schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER)


# ------------------------------------------------------------------ the schema itself


@pytest.mark.parametrize("name", NAMES)
def test_schema_uses_only_standard_keywords(name: str) -> None:
    odd = [f"{where}: {key}" for where, key in keywords(json_schema(name)) if key not in STANDARD_KEYWORDS]
    assert odd == []


@pytest.mark.parametrize("name", NAMES)
def test_schema_states_its_dialect_and_id(name: str) -> None:
    schema = json_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://netcds.org/schema/{name}/{SOFTWARE_VERSION}.json"
    Draft202012Validator.check_schema(schema)
    assert json.loads(json.dumps(schema)) == schema  # plain JSON data


def test_patient_schema_description_states_what_it_does_not_check() -> None:
    description = json_schema("patient")["description"]
    assert "contradictory facts" in description
    assert "format" in description  # dates need format assertion
    assert '"12"' in description  # the spellings netcds accepts besides the canonical ones


@pytest.mark.parametrize(
    ("path", "minimum", "maximum"),
    [
        ("Tumour.ki67_percent", {"minimum": 0}, {"maximum": 100}),
        ("Tumour.size_mm", {"exclusiveMinimum": 0}, {"maximum": 500}),
        ("Patient.age", {"minimum": 0}, {"maximum": 120}),
        ("PriorTreatment.line", {"minimum": 1}, {"maximum": 20}),
    ],
)
def test_ranges_are_minimum_and_maximum(path: str, minimum: dict[str, int], maximum: dict[str, int]) -> None:
    schema = json_schema("patient")
    model, field = path.split(".")
    node = schema if model == "Patient" else schema["$defs"][model]
    (number,) = [s for s in node["properties"][field]["anyOf"] if s != {"type": "null"}]
    assert minimum.items() <= number.items() and maximum.items() <= number.items()


# ------------------------------------------------------------------ the same verdicts, by example

BASE: dict[str, Any] = {"tumour": {"primary_site": "stomach"}}


def model_accepts(document: Any) -> bool:
    try:
        Patient.model_validate(document)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("name", "document", "valid"),
    [
        ("ki67_150", {"tumour": {"primary_site": "pancreas", "ki67_percent": 150}}, False),
        ("ki67_100", {"tumour": {"primary_site": "pancreas", "ki67_percent": 100}}, True),
        ("ki67_just_below_0", {"tumour": {"primary_site": "pancreas", "ki67_percent": -1e-9}}, False),
        ("ki67_just_above_100", {"tumour": {"primary_site": "pancreas", "ki67_percent": 100.0000001}}, False),
        ("size_0", {"tumour": {"primary_site": "pancreas", "size_mm": 0}}, False),
        ("age_121", {**BASE, "age": 121}, False),
        ("age_60.0", {**BASE, "age": 60.0}, True),
        ("ecog_minus_1", {**BASE, "ecog": -1}, False),
        ("prior_line_0", {**BASE, "prior_treatments": [{"option": "ssa", "line": 0}]}, False),
        ("bare_prior_option", {**BASE, "prior_treatments": ["ssa"]}, True),
        ("bare_prior_number", {**BASE, "prior_treatments": [5]}, False),
        ("gastric_type_true", {"tumour": {"primary_site": "stomach", "gastric_type": True}}, False),
        ("gastric_type_1.0", {"tumour": {"primary_site": "stomach", "gastric_type": 1.0}}, True),
        ("as_of_number", {**BASE, "as_of": 0}, False),
        ("as_of_datetime", {**BASE, "as_of": "2025-01-01T00:00:00"}, False),
        ("as_of_impossible", {**BASE, "as_of": "2025-02-30"}, False),
        ("as_of_date", {**BASE, "as_of": "2025-02-28"}, True),
        ("exam_id_upper_case", {**BASE, "imaging_history": {"exams": [{"modality": "MRI", "date": "2020-01-01"}]}},
         False),
        ("exam_id", {**BASE, "imaging_history": {"exams": [{"modality": "mri_liver", "date": "2020-01-01"}]}}, True),
    ],
)
def test_schema_and_model_agree(name: str, document: dict[str, Any], valid: bool) -> None:
    assert validator().is_valid(document) is valid
    assert model_accepts(document) is valid


def test_list_longer_than_its_maximum() -> None:
    exams = [{"modality": "mri_liver", "date": "2020-01-01"}] * 2001
    document = {**BASE, "imaging_history": {"exams": exams}}
    assert not validator().is_valid(document)
    assert not model_accepts(document)
    document["imaging_history"]["exams"] = exams[:2000]
    assert validator().is_valid(document) and model_accepts(document)


@pytest.mark.parametrize(
    ("name", "lax", "canonical"),
    [
        ("number_as_text", {"tumour": {"primary_site": "pancreas", "ki67_percent": " 12 "}},
         {"tumour": {"primary_site": "pancreas", "ki67_percent": 12}}),
        ("integer_as_text", {**BASE, "age": "60"}, {**BASE, "age": 60}),
        ("boolean_as_word", {"tumour": {"primary_site": "stomach", "minen": "yes"}},
         {"tumour": {"primary_site": "stomach", "minen": True}}),
        ("boolean_as_0", {"tumour": {"primary_site": "stomach", "minen": 0}},
         {"tumour": {"primary_site": "stomach", "minen": False}}),
        ("grade_in_lower_case", {"tumour": {"primary_site": "stomach", "grade": " g2"}},
         {"tumour": {"primary_site": "stomach", "grade": "G2"}}),
        ("padded_text", {**BASE, "id": " " * 200 + "p1"}, {**BASE, "id": "p1"}),
    ],
)
def test_documented_conveniences(name: str, lax: dict[str, Any], canonical: dict[str, Any]) -> None:
    """The spellings the schema's description lists: netcds takes them as their canonical form.

    If one of these starts to fail, the model became stricter or the schema laxer: update
    PATIENT_SCHEMA_NOTE in cds/model/schema.py to match.
    """
    assert not validator().is_valid(lax)
    assert validator().is_valid(canonical)
    assert Patient.model_validate(lax) == Patient.model_validate(canonical)


# ------------------------------------------------------------------ the same verdicts, by property
#
# Documents are drawn from the models' own fields (not from the schema, so that a field or a
# range the schema left out still gets drawn), with valid values, values at and just beyond
# each range, wrong enumeration values, wrong types, unknown fields and whole sections of the
# wrong type. They use canonical spellings only: the conveniences of PATIENT_SCHEMA_NOTE (2)
# are drawn by ``lax_documents`` and checked to mean their canonical form.

_CASE_INSENSITIVE = {(Tumour, "grade")}
_WRONG_TEXT = st.sampled_from(["", "high", "unknown", "n/a", "12 %", "1,5", "twelve", "null", "-"])
_JSON_LEAF = (st.none() | st.booleans() | st.integers(-10**6, 10**6)
              | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
_ANY_JSON = st.recursive(
    _JSON_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def unknown_key(known: dict[str, Any]) -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=12).filter(lambda key: key not in known)


@dataclass(frozen=True)
class FieldShape:
    """What the generator knows of one model field: its kind, bounds and values."""

    kind: str  # number, integer, boolean, string, enum, date, list, model
    bounds: tuple[tuple[str, float], ...] = ()  # (ge|gt|le|lt, limit)
    max_length: int | None = None
    values: tuple[Any, ...] = ()
    item: FieldShape | None = None
    model: type[BaseModel] | None = None


def shape(annotation: Any, metadata: list[Any]) -> FieldShape:
    """Read a field's annotation (Optional, Annotated, list, Literal, Enum, model) into a FieldShape."""
    constraints = list(metadata)
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            for extra in annotation.__metadata__:
                constraints.extend(getattr(extra, "metadata", []))
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            (annotation,) = [a for a in get_args(annotation) if a is not type(None)]
        else:
            break
    bounds = tuple((name, float(getattr(c, name))) for c in constraints for name in ("ge", "gt", "le", "lt")
                   if hasattr(c, name))
    max_length = next((c.max_length for c in constraints if isinstance(c, MaxLen)), None)
    common: dict[str, Any] = {"bounds": bounds, "max_length": max_length}
    if get_origin(annotation) is list:
        return FieldShape("list", item=shape(get_args(annotation)[0], []), **common)
    if get_origin(annotation) is Literal:
        return FieldShape("enum", values=get_args(annotation), **common)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return FieldShape("enum", values=tuple(m.value for m in annotation), **common)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return FieldShape("model", model=annotation, **common)
    kinds = {float: "number", int: "integer", bool: "boolean", str: "string", dt.date: "date"}
    return FieldShape(kinds[annotation], **common)


def fields_of(model: type[BaseModel]) -> dict[str, tuple[FieldShape, bool]]:
    return {name: (shape(info.annotation, list(info.metadata)), info.is_required())
            for name, info in model.model_fields.items()}


def edges(bounds: tuple[tuple[str, float], ...]) -> list[float]:
    """Each limit, and numbers just inside and just outside it."""
    out: list[float] = []
    for _, limit in bounds:
        for delta in (0, 1e-9, 1e-5, 0.5, 1):
            out += [limit - delta, limit + delta]
    return out


def value(s: FieldShape, owner: type[BaseModel], name: str) -> st.SearchStrategy[Any]:
    """A value for one field, right or wrong (null included), but never in a convenience spelling.

    Booleans avoid 0, 1 and pydantic's words (true, yes, on...); numbers avoid numeric text;
    text has no surrounding spaces; the grade avoids lower case.
    """
    wrong_type = st.sampled_from([[], {}, [1], {"a": 1}]) | _WRONG_TEXT
    null = st.none()
    if s.kind == "number":
        numbers = (st.sampled_from(edges(s.bounds)) | st.floats(allow_nan=False, allow_infinity=False)
                   | st.integers(-10**4, 10**6) | st.just(10**400))
        return numbers | null | wrong_type | st.booleans()
    if s.kind == "integer":
        ints = [int(x) for x in edges(s.bounds) if float(x).is_integer()]
        integers = st.sampled_from(ints) | st.integers(-1000, 1000) | st.integers().map(float).filter(
            lambda x: abs(x) < 1e300)
        return integers | st.sampled_from([0.5, 60.5, -1.5, 1e20, 10**30]) | null | wrong_type | st.booleans()
    if s.kind == "boolean":
        return st.booleans() | null | st.sampled_from([2, -1, 0.5, "maybe", "", "si", "vrai"]) | wrong_type
    if s.kind == "string":
        limit = s.max_length or 40
        text = st.text(max_size=limit + 2).filter(lambda t: t == t.strip())
        exact = st.sampled_from(["x" * limit, "x" * (limit + 1)])
        ids = st.from_regex(r"[a-z0-9][a-z0-9_]{0,70}", fullmatch=True)
        return text | exact | ids | st.sampled_from(["MRI", "mri liver", "_x", "ct-abdomen"]) | null | st.integers() \
            | st.booleans() | st.sampled_from([[], {}])
    if s.kind == "enum":
        good = st.sampled_from(s.values)
        variants = st.sampled_from([str(v).upper() for v in s.values] + [f" {v}" for v in s.values] + ["", "other!"])
        if (owner, name) in _CASE_INSENSITIVE:
            variants = variants.filter(lambda v: v.strip().upper() not in s.values)
        numbers = st.sampled_from([0, 1.0, 4, 2.5, True, "1"])
        return good | good | variants | numbers | null | st.sampled_from([[], {}])
    if s.kind == "date":
        return (st.dates().map(dt.date.isoformat) | null | st.integers(-10**10, 10**10)
                | st.sampled_from(["2025-02-30", "2025-1-1", "20250101", "2025-01-01T00:00:00", "yesterday",
                                   "01/02/2025", "0000-01-01", " 2025-01-01", True, 86400]))
    if s.kind == "list":
        assert s.item is not None
        return st.lists(value(s.item, owner, name), max_size=3) | null | wrong_type | st.sampled_from(["liver", 3])
    assert s.model is not None
    return section(s.model) | null | wrong_type | st.just("ssa")


@st.composite
def section(draw: st.DrawFn, model: type[BaseModel]) -> dict[str, Any]:
    """An object for one model: its required fields (mostly), a few others, sometimes an unknown one."""
    fields = fields_of(model)
    names = sorted(fields)
    chosen = draw(st.lists(st.sampled_from(names), max_size=4, unique=True))
    out: dict[str, Any] = {}
    for name in names:
        s, required = fields[name]
        if (required and draw(st.integers(0, 19)) > 0) or name in chosen:
            out[name] = draw(value(s, model, name))
    if draw(st.integers(0, 9)) == 0:
        out[draw(unknown_key(fields))] = draw(_ANY_JSON)
    return out


@st.composite
def one_change(draw: st.DrawFn) -> dict[str, Any]:
    """A valid patient (tests/strategies.py) with one field replaced, removed or added."""
    document = copy.deepcopy(draw(patients()))
    node: dict[str, Any] = document
    model: type[BaseModel] = Patient
    while True:
        fields = fields_of(model)
        name = draw(st.sampled_from(sorted(fields)))
        s, _ = fields[name]
        if s.kind == "model" and s.model is not None and isinstance(node.get(name), dict) and draw(st.booleans()):
            node, model = node[name], s.model
            continue
        action = draw(st.integers(0, 9))
        if action == 0:
            node.pop(name, None)
        elif action == 1:
            node[draw(unknown_key(fields))] = draw(_ANY_JSON)
        else:
            node[name] = draw(value(s, model, name))
        return document


def documents() -> st.SearchStrategy[Any]:
    return one_change() | section(Patient) | st.sampled_from([[], "patient", 42, None])


def model_verdict(document: Any) -> tuple[bool, bool]:
    """(accepted, rejected only for contradictory facts) by Patient.model_validate."""
    try:
        Patient.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors()
        contradictions = all(e["loc"] == () and "contradictory facts" in e["msg"] for e in errors)
        return False, contradictions
    return True, False


_VALIDATOR = validator()


@settings(max_examples=2000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents())
def test_schema_and_model_give_the_same_verdict(document: Any) -> None:
    schema_ok = _VALIDATOR.is_valid(document)
    model_ok, contradictions_only = model_verdict(document)
    event(f"schema {'accepts' if schema_ok else 'rejects'}; model "
          f"{'accepts' if model_ok else 'rejects contradictions' if contradictions_only else 'rejects'}")
    if contradictions_only:
        # The one thing the schema cannot say (its description states it).
        assert schema_ok, "the model found contradictions only, so every field was valid"
        return
    if schema_ok != model_ok:
        first = next(iter(_VALIDATOR.iter_errors(document)), None)
        pytest.fail(f"schema {'accepts' if schema_ok else 'rejects'} ({first.message if first else ''}), "
                    f"model {'accepts' if model_ok else 'rejects'}: {json.dumps(document)[:500]}")


_LAX_BOOLEANS = {
    True: ["true", "True", "yes", "on", "1", "t", "Y", 1, 1.0],
    False: ["false", "NO", "off", "0", "f", "n", 0, 0.0],
}


def respell(draw: st.DrawFn, data: Any, s: FieldShape, owner: type[BaseModel], name: str) -> Any:
    """``data`` (valid, canonical) with some values written in a convenience spelling."""
    if s.kind == "model" and isinstance(data, dict) and s.model is not None:
        fields = fields_of(s.model)
        return {k: respell(draw, v, fields[k][0], s.model, k) if k in fields else v for k, v in data.items()}
    if s.kind == "list" and isinstance(data, list) and s.item is not None:
        return [respell(draw, v, s.item, owner, name) for v in data]
    if data is None or not draw(st.booleans()):
        return data
    if s.kind in ("number", "integer") and not isinstance(data, bool):
        return draw(st.sampled_from([str(data), f" {data} "]))
    if s.kind == "boolean":
        return draw(st.sampled_from(_LAX_BOOLEANS[data]))
    if (owner, name) in _CASE_INSENSITIVE:
        return draw(st.sampled_from([str(data).lower(), f" {data}", f"{str(data).lower()}  "]))
    if s.kind == "string":
        return draw(st.sampled_from([f" {data}", f"{data}\t", f"  {data}  "]))
    return data


@st.composite
def lax_documents(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    canonical = copy.deepcopy(draw(patients()))
    canonical["tumour"]["grade"] = draw(st.sampled_from([None, "G1", "G2", "G3"]))
    return respell(draw, canonical, FieldShape("model", model=Patient), Patient, ""), canonical


@settings(max_examples=500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lax_documents())
def test_conveniences_mean_their_canonical_form(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    lax, canonical = pair
    assert _VALIDATOR.is_valid(canonical)
    assert Patient.model_validate(lax) == Patient.model_validate(canonical)
