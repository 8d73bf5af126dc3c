"""Read a patient file and explain, field by field, what is wrong with it.

Every failure becomes an :class:`~cds.errors.InputError` whose problems name
the field (dotted path) and, where the field is an enumeration, the allowed
values; unknown fields get a "did you mean" suggestion. The CLI prints these
and exits with code 2, without a traceback.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from cds.errors import InputError, InputProblem
from cds.knowledge.vocabulary import unwrap_annotation
from cds.model.patient import Patient


def read_patient_file(path: str | Path, known_options: Iterable[str] | None = None) -> Patient:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError([InputProblem("", f"file not found: {p}")], str(p)) from None
    except IsADirectoryError:
        raise InputError([InputProblem("", f"{p} is a directory, not a patient file")], str(p)) from None
    except OSError as exc:
        raise InputError([InputProblem("", f"cannot read {p}: {exc.strerror}")], str(p)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError([InputProblem("", "the file is not UTF-8 text")], str(p)) from None
    return parse_patient(text, source=str(p), known_options=known_options)


def parse_patient(
    text: str, source: str = "input", known_options: Iterable[str] | None = None
) -> Patient:
    if not text.strip():
        raise InputError(
            [InputProblem("", "the file is empty; expected a JSON object describing one patient")],
            source,
        )
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            [InputProblem("", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")],
            source,
        ) from None
    except ValueError as exc:
        raise InputError([InputProblem("", str(exc))], source) from None
    return validate_patient(data, source, known_options)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not valid JSON: {name} is not a number (use null for unknown values)")


def validate_patient(
    data: Any, source: str = "input", known_options: Iterable[str] | None = None
) -> Patient:
    if not isinstance(data, dict):
        raise InputError(
            [InputProblem("", f"expected a JSON object describing one patient, got {_kind(data)}")],
            source,
        )
    try:
        patient = Patient.model_validate(data)
    except ValidationError as exc:
        raise InputError(_problems(exc, data), source) from None
    if known_options is not None:
        check_prior_options(patient, known_options, source)
    return patient


def check_prior_options(
    patient: Patient, known_options: Iterable[str], source: str = "input"
) -> None:
    """Raise InputError if a prior treatment names an option the knowledge does not know.

    Separate from :func:`validate_patient` so that a caller can report the
    structural problems of a file before the knowledge is loaded.
    """
    options = sorted(known_options)
    problems: list[InputProblem] = []
    for i, course in enumerate(patient.prior_treatments):
        if course.option not in options:
            close = difflib.get_close_matches(course.option, options, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                InputProblem(
                    f"prior_treatments[{i}].option",
                    f"{course.option!r} is not a known option{hint} "
                    f"(allowed: {', '.join(options)})",
                )
            )
    if problems:
        raise InputError(problems, source)


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", type(None): "null"}.get(type(value), type(value).__name__)


def _problems(exc: ValidationError, data: Any) -> list[InputProblem]:
    problems: list[InputProblem] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc = _clean_loc(err["loc"])
        for field, message in _split_contradictions(_dotted(loc), _message(err, loc)):
            if (field, message) in seen:
                continue
            seen.add((field, message))
            problems.append(InputProblem(field, message))
    return problems


_CONTRADICTION = "contradictory facts: "
_FIELD_WORD = re.compile(r"^[a-z_]+(\.[a-z0-9_]+)*$")


def _split_contradictions(field: str, message: str) -> list[tuple[str, str]]:
    """One problem per contradiction, located at the field it names first.

    The patient model reports every contradiction in one message
    (``contradictory facts: a ...; b ...``), each part starting with the field
    at fault; a form or a script can then point at that field.
    """
    if field or not message.startswith(_CONTRADICTION):
        return [(field, message)]
    out: list[tuple[str, str]] = []
    for part in message[len(_CONTRADICTION):].split("; "):
        first = part.split(" ", 1)[0]
        out.append((first if _FIELD_WORD.match(first) else "", _CONTRADICTION + part))
    return out


def _clean_loc(loc: Sequence[Any]) -> list[Any]:
    # pydantic adds the function name of BeforeValidator/union members to the loc; drop them.
    out: list[Any] = []
    for part in loc:
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        out.append(part)
    return out


def _dotted(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _message(err: Any, loc: Sequence[Any]) -> str:
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        allowed = _fields_at(loc[:-1])
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown field{hint} (allowed here: {', '.join(allowed)})"
    if kind == "missing":
        return "required field is missing"
    if kind == "enum":
        return f"{value!r} is not allowed; allowed values: {ctx.get('expected', '')}"
    if kind == "literal_error":
        return f"{value!r} is not allowed; allowed values: {ctx.get('expected', '')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": ">=", "greater_than": ">",
                 "less_than_equal": "<=", "less_than": "<"}[kind]
        limit = next(iter(ctx.values()), "?")
        return f"must be {bound} {limit} (got {value!r})"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"expected a whole number, got {value!r}"
    if kind in ("float_parsing", "float_type"):
        return f"expected a number, got {value!r}"
    if kind in ("bool_parsing", "bool_type"):
        return f"expected true, false or null, got {value!r}"
    if kind in ("string_type",):
        return f"expected text, got {value!r}"
    if kind in ("list_type",):
        return f"expected a list, got {_kind(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected an object, got {_kind(value)}"
    if kind in ("date_parsing", "date_from_datetime_parsing", "date_type"):
        return f"expected a date as YYYY-MM-DD, got {value!r}"
    if kind == "string_too_long":
        return f"too long (at most {ctx.get('max_length')} characters)"
    if kind == "value_error":
        msg = str(ctx.get("error", err.get("msg", "")))
        return msg
    return str(err.get("msg", kind))


def _item_model(annotation: Any) -> Any:
    ann = unwrap_annotation(annotation)
    if get_origin(ann) is list:
        (ann,) = get_args(ann)
        ann = unwrap_annotation(ann)
    return ann


def _fields_at(loc: Sequence[Any]) -> list[str]:
    model: Any = Patient
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        info = model.model_fields.get(str(part))
        if info is None:
            return []
        model = _item_model(info.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []
