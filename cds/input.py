"""Read a patient file and explain, field by field, what is wrong with it.

Every failure becomes an :class:`~cds.errors.InputError` whose problems name
the field (dotted path) and, where the field is an enumeration, the allowed
values; unknown fields get a "did you mean" suggestion. The CLI prints these
and exits with code 2, without a traceback.

Hostile input is bad input too: JSON nested more than :data:`MAX_NESTING` levels
deep is refused before it reaches ``json``'s or pydantic's recursion, and every
value a message quotes goes through :func:`echo`, which cuts it to about
:data:`ECHO_LIMIT` characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from cds.errors import InputError, InputProblem
from cds.knowledge.vocabulary import unwrap_annotation
from cds.model.patient import Patient
from cds.suggest import did_you_mean


def read_patient_file(path: str | Path, known_options: Iterable[str] | None = None) -> Patient:
    """Read one patient from a JSON file (UTF-8, with or without a byte order mark).

    Parameters
    ----------
    path
        The patient file.
    known_options
        When given, the option ids that prior treatments may name (e.g. ``kb.options``).

    Returns
    -------
    Patient
        The validated patient.

    Raises
    ------
    InputError
        The file is missing, is a directory, cannot be read or is not UTF-8 text (the problem
        names no field), or its content is not a valid patient (see :func:`parse_patient`);
        the error's ``source`` is the path.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "p.json").write_text('{"tumour": {"primary_site": "rectum", "size_mm": 8}}', encoding="utf-8")
    >>> read_patient_file(folder / "p.json").tumour.size_mm
    8
    >>> try:
    ...     read_patient_file(folder / "absent.json")
    ... except InputError as exc:
    ...     print(exc.problems[0].message.replace(str(folder), "..."))
    file not found: .../absent.json
    """
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
    """Parse one patient from JSON text, or say field by field what is wrong with it.

    Parameters
    ----------
    text
        The JSON document (the input contract, ``cds schema patient``).
    source
        What to call the input in messages (a file name, ``<stdin>``, a form).
    known_options
        When given, the option ids that prior treatments may name (e.g. ``kb.options``).

    Returns
    -------
    Patient
        The validated patient.

    Raises
    ------
    InputError
        The text is empty, is not JSON (``NaN`` and ``Infinity`` included), is nested more
        than :data:`MAX_NESTING` levels deep, or is not a valid patient (see
        :func:`validate_patient`).

    Examples
    --------
    >>> from cds import InputError, parse_patient
    >>> parse_patient('{"tumour": {"primary_site": "pancreas", "ki67_percent": 12}}').tumour.ki67_percent
    12
    >>> try:
    ...     parse_patient('{"tumour": {"primary_site": "pancreas"},}', source="p.json")
    ... except InputError as exc:
    ...     print(exc)
    p.json is not a valid patient:
      - not valid JSON: Expecting property name enclosed in double quotes (line 1, column 41)
    """
    if not text.strip():
        raise InputError(
            [InputProblem("", "the file is empty; expected a JSON object describing one patient")],
            source,
        )
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise InputError([InputProblem("", _TOO_DEEP)], source) from None
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
    """Validate one patient given as plain data (parsed JSON), reporting every problem at once.

    Unlike :meth:`Patient.model_validate`, a failure is an :class:`~cds.errors.InputError`
    whose problems name the field (a dotted path such as ``tumour.primary_site``) and say
    what is allowed there, in words a person can act on.

    Parameters
    ----------
    data
        The patient: a dict as ``json.loads`` returns it (dates may also be ``datetime.date``).
    source
        What to call the input in messages (a file name, ``<stdin>``, a form).
    known_options
        When given, the option ids that prior treatments may name (e.g. ``kb.options``).

    Returns
    -------
    Patient
        The validated patient.

    Raises
    ------
    InputError
        ``data`` is not an object, is nested more than :data:`MAX_NESTING` levels deep, or
        breaks the input contract; ``problems`` holds one :class:`~cds.errors.InputProblem`
        (``field``, ``message``) per fault.

    Examples
    --------
    >>> from cds import InputError, validate_patient
    >>> validate_patient({"tumour": {"primary_site": "pancreas"}, "age": "60"}).age
    60
    >>> try:  # doctest: +ELLIPSIS
    ...     validate_patient({"tumour": {"primary_site": "liver", "ki67_percent": 150}}, source="form")
    ... except InputError as exc:
    ...     for problem in exc.problems:
    ...         print(problem.field, "->", problem.message)
    tumour.primary_site -> 'liver' is not allowed (allowed values: 'pancreas', 'small_intestine', ... or 'unknown')
    tumour.ki67_percent -> must be <= 100 (got 150)
    """
    if not isinstance(data, dict):
        raise InputError(
            [InputProblem("", f"expected a JSON object describing one patient, got {_kind(data)}")],
            source,
        )
    too_deep = _too_deep(data)
    if too_deep is not None:
        raise InputError([too_deep], source)
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

    Parameters
    ----------
    patient
        The validated patient.
    known_options
        The option ids of the knowledge (e.g. ``kb.options``).
    source
        What to call the input in messages.

    Raises
    ------
    InputError
        One problem per unknown option, at ``prior_treatments[i].option``, with a suggestion
        and the allowed ids.

    Examples
    --------
    >>> patient = validate_patient({"tumour": {"primary_site": "pancreas"}, "prior_treatments": ["everolimu"]})
    >>> try:
    ...     check_prior_options(patient, ["everolimus", "ssa"])
    ... except InputError as exc:
    ...     print(exc.problems[0])
    prior_treatments[0].option: 'everolimu' is not a known option; did you mean 'everolimus'? (allowed: everolimus, ssa)
    >>> check_prior_options(patient, ["everolimu"])  # known: nothing happens
    """
    options = sorted(known_options)
    problems: list[InputProblem] = []
    for i, course in enumerate(patient.prior_treatments):
        if course.option not in options:
            hint = did_you_mean(course.option, options)
            problems.append(
                InputProblem(
                    f"prior_treatments[{i}].option",
                    f"{echo(course.option)} is not a known option{hint} "
                    f"(allowed: {', '.join(options)})",
                )
            )
    if problems:
        raise InputError(problems, source)


#: Longest follow-up horizon accepted (years): a bound on the input, not a clinical figure.
MAX_HORIZON_YEARS = 50.0


def check_horizon(horizon_years: float) -> float:
    """The surveillance horizon asked for, checked against :data:`MAX_HORIZON_YEARS`.

    Parameters
    ----------
    horizon_years
        Years over which a follow-up plan is laid out.

    Returns
    -------
    float
        The horizon, as a float.

    Raises
    ------
    ValueError
        When the horizon is not more than 0 and at most :data:`MAX_HORIZON_YEARS` years.

    Examples
    --------
    >>> check_horizon(10)
    10.0
    >>> check_horizon(0)
    Traceback (most recent call last):
    ...
    ValueError: the horizon must be more than 0 and at most 50 years
    """
    if not 0 < horizon_years <= MAX_HORIZON_YEARS:
        raise ValueError(f"the horizon must be more than 0 and at most {MAX_HORIZON_YEARS:g} years")
    return float(horizon_years)


#: Deepest nesting of lists and objects accepted (a valid patient has 4 levels).
MAX_NESTING = 64
#: About how many characters of a value an error message quotes.
ECHO_LIMIT = 80

_TOO_DEEP = f"nested too deeply: more than {MAX_NESTING} levels of lists and objects"


def echo(value: Any, limit: int = ECHO_LIMIT) -> str:
    """A value as an error message quotes it: its ``repr``, cut to about ``limit`` characters.

    A patient file can hold a value of any size; a message that quotes it whole would bury
    the problem (and a 5 MB string would fill the terminal).

    Parameters
    ----------
    value
        The value to quote.
    limit
        About how many characters to keep.

    Returns
    -------
    str
        The ``repr`` of the value, or its first ``limit`` characters followed by the full length.

    Examples
    --------
    >>> echo("pancreas")
    "'pancreas'"
    >>> echo("x" * 5_000_000, limit=10)
    "'xxxxxxxxxx'... (5000000 characters)"
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _cut_name(name: str, limit: int = ECHO_LIMIT) -> str:
    """A field name as a message shows it (an unknown field's name can be any length)."""
    return name if len(name) <= limit else f"{name[:limit]}... ({len(name)} characters)"


def _too_deep(data: Any) -> InputProblem | None:
    """The problem with data nested deeper than MAX_NESTING levels (or nested in itself), if any.

    Iterative, so that the check itself cannot overflow the stack. Only objects and lists are
    stacked (a patient is mostly scalars), in the order they appear, so the same one is named.
    """
    if not isinstance(data, (dict, list)):
        return None
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(data, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_NESTING:
            return InputProblem(_dotted(path[:2]), _TOO_DEEP)
        children: Iterable[tuple[str | int, Any]] = node.items() if isinstance(node, dict) else enumerate(node)
        stack.extend(
            (child, depth + 1, (*path, key) if len(path) < 2 else path)
            for key, child in children if isinstance(child, (dict, list))
        )
    return None


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
            name = _cut_name(str(part))
            text += f".{name}" if text else name
    return text


def _message(err: Any, loc: Sequence[Any]) -> str:
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        allowed = _fields_at(loc[:-1])
        hint = did_you_mean(name, allowed)
        return f"unknown field{hint} (allowed here: {', '.join(allowed)})"
    if kind == "missing":
        return "required field is missing"
    if kind in ("enum", "literal_error"):
        expected = str(ctx.get("expected", ""))
        hint = did_you_mean(value, re.findall(r"'([^']*)'", expected)) if isinstance(value, str) else ""
        return f"{echo(value)} is not allowed{hint} (allowed values: {expected})"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": ">=", "greater_than": ">",
                 "less_than_equal": "<=", "less_than": "<"}[kind]
        limit = next(iter(ctx.values()), "?")
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)  # a float field's range is stored as 100.0; people write 100
        return f"must be {bound} {limit} (got {echo(value)})"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"expected a whole number, got {echo(value)}"
    if kind in ("float_parsing", "float_type"):
        return f"expected a number, got {echo(value)}"
    if kind in ("bool_parsing", "bool_type"):
        return f"expected true, false or null, got {echo(value)}"
    if kind in ("string_type",):
        return f"expected text, got {echo(value)}"
    if kind in ("list_type",):
        return f"expected a list, got {_kind(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected an object, got {_kind(value)}"
    if kind in ("date_parsing", "date_from_datetime_parsing", "date_type"):
        return f"expected a date as YYYY-MM-DD, got {echo(value)}"
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
