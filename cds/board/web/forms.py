"""The case form, generated from the patient contract's JSON Schema (``cds schema patient``).

The board does not keep a second description of the patient: every field of the form, its
kind, its allowed values and its bounds are read from :func:`cds.model.schema.json_schema`,
and every check is :func:`cds.input.validate_patient`, the one the command line runs. A
problem is shown beside the field it names, with the very message ``cds evaluate`` prints.

Field names in the HTML form are the dotted paths of the contract (``tumour.ki67_percent``);
an enumeration is a select, a list of enumerated values a group of checkboxes, a yes/no field
a three-way select (yes, no, not stated), a number an ``<input type=number>`` with the
schema's bounds. A list of objects (prior treatments, earlier imaging exams) is one JSON text
area: the contract's own spelling, checked by the same validation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

from cds.errors import InputError, InputProblem
from cds.input import validate_patient
from cds.model.patient import Patient
from cds.model.schema import json_schema
from cds.render.i18n import Labels, labels

#: How a field is entered.
Widget = Literal["select", "boolean", "number", "integer", "text", "date", "checkboxes", "json", "rows"]


@dataclass(frozen=True)
class Choice:
    """One allowed value of a select or a checkbox group: the value sent, and its label."""

    value: str
    label: str


@dataclass(frozen=True)
class FormField:
    """One field of the case form: its dotted path, how it is entered, and its bounds.

    ``value`` is the text shown in the field (``values`` the ticked boxes of a checkbox group),
    ``errors`` the messages of :func:`cds.input.validate_patient` about it.
    """

    name: str
    label: str
    widget: Widget
    required: bool = False
    choices: list[Choice] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    max_length: int | None = None
    unit: str | None = None
    help: str = ""
    value: str = ""
    values: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        """The HTML id of the field (dots are awkward in CSS selectors)."""
        return "f-" + self.name.replace(".", "-")

    @property
    def step(self) -> str:
        """The ``step`` of a number input: 1 for integers, any for decimals."""
        return "1" if self.widget == "integer" else "any"


@dataclass(frozen=True)
class FormSection:
    """One section of the form: the top-level fields, or one object of the contract (tumour ...)."""

    name: str
    title: str
    fields: list[FormField]


@dataclass(frozen=True)
class CaseForm:
    """The whole form: its sections, and the problems that name no field of it."""

    sections: list[FormSection]
    errors: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """No problem anywhere (the patient can be saved)."""
        return not self.errors and not any(f.errors for s in self.sections for f in s.fields)

    def field(self, name: str) -> FormField:
        """The field at a dotted path (KeyError when there is none)."""
        for s in self.sections:
            for f in s.fields:
                if f.name == name:
                    return f
        raise KeyError(name)


# ------------------------------------------------------------------ schema -> fields


@dataclass(frozen=True)
class _Spec:
    """A field as the schema describes it (no language, no value)."""

    name: str
    widget: Widget
    required: bool
    enum: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    max_length: int | None = None
    description: str = ""
    integer_enum: bool = False
    items: tuple[_Spec, ...] = ()  # a list of objects (``rows``): the fields of one item


#: Blank rows offered after the filled ones of a list of objects (one more appears once they are used).
BLANK_ROWS = 1


def _deref(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str):
        target: Mapping[str, Any] = schema["$defs"][ref.rsplit("/", 1)[-1]]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _non_null(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema of a value with ``null`` taken out of an ``anyOf`` (optional fields)."""
    node = _deref(schema, node)
    options = node.get("anyOf")
    if isinstance(options, list):
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            merged = {**_deref(schema, kept[0])}
            if "description" in node and "description" not in merged:
                merged["description"] = node["description"]
            return merged
    return node


def _spec(schema: Mapping[str, Any], name: str, node: Mapping[str, Any], required: bool) -> _Spec:
    node = _non_null(schema, node)
    desc = str(node.get("description", ""))
    if "enum" in node:
        values = node["enum"]
        return _Spec(name, "select", required, tuple(str(v) for v in values), description=desc,
                     integer_enum=all(isinstance(v, int) for v in values))
    kind = node.get("type")
    if kind == "boolean":
        return _Spec(name, "boolean", required, description=desc)
    if kind in ("number", "integer"):
        low = node.get("minimum", node.get("exclusiveMinimum"))
        return _Spec(name, "integer" if kind == "integer" else "number", required,
                     minimum=low, maximum=node.get("maximum"),
                     exclusive_minimum="exclusiveMinimum" in node, description=desc)
    if kind == "string":
        widget: Widget = "date" if node.get("format") == "date" else "text"
        return _Spec(name, widget, required, max_length=node.get("maxLength"), description=desc)
    if kind == "array":
        items = _deref(schema, node.get("items", {}))
        if "enum" in items:
            return _Spec(name, "checkboxes", required, tuple(str(v) for v in items["enum"]), description=desc)
        item = _object_item(schema, items)
        if item is not None:  # a list of objects (prior treatments): one row of fields per item
            req = set(item.get("required", ()))
            fields = tuple(_spec(schema, sub, subnode, sub in req) for sub, subnode in item["properties"].items())
            return _Spec(name, "rows", required, description=desc, items=fields)
    return _Spec(name, "json", required, description=desc)


def _object_item(schema: Mapping[str, Any], items: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The object schema of a list's items (directly, or the object branch of an ``anyOf``), or None."""
    for branch in (items, *items.get("anyOf", ())):
        node = _deref(schema, branch)
        if node.get("type") == "object" and "properties" in node:
            return node
    return None


@lru_cache(maxsize=1)
def _layout() -> tuple[tuple[str, tuple[_Spec, ...]], ...]:
    """The sections of the form, in the contract's order: general fields first, then each object."""
    schema = json_schema("patient")
    general: list[_Spec] = []
    objects: list[tuple[str, tuple[_Spec, ...]]] = []
    required = set(schema.get("required", ()))
    for name, node in schema["properties"].items():
        inner = _non_null(schema, node)
        if inner.get("type") == "object" and "properties" in inner:
            inner_required = set(inner.get("required", ()))
            specs = tuple(
                _spec(schema, f"{name}.{sub}", subnode, sub in inner_required)
                for sub, subnode in inner["properties"].items()
            )
            objects.append((name, specs))
        else:
            general.append(_spec(schema, name, node, name in required))
    return (("general", tuple(general)), *objects)


def _choice_label(lab: Labels, path: str, value: str) -> str:
    entry = lab.catalogue.fields.get(path)
    if entry is not None and value in entry.values:
        return entry.values[value].get(lab.lang)
    return value


def _section_title(lab: Labels, name: str) -> str:
    for key in (f"section_{name}", f"board_section_{name}"):
        if key in lab.catalogue.ui:
            return lab[key]
    return lab.field(name)


def case_form(
    lang: str, values: Mapping[str, Any] | None = None, problems: Sequence[InputProblem] = (),
    options: Mapping[str, str] | None = None,
) -> CaseForm:
    """The case form in ``lang``, filled with a patient's values and showing its problems.

    Parameters
    ----------
    lang
        ``en`` or ``fr`` (labels from ``renderers/i18n.yaml``).
    values
        The patient as plain data (a patient JSON document), or None for an empty form.
    problems
        What :func:`cds.input.validate_patient` found; each is shown beside the field its
        path names (a list item's problem beside the list), the others above the form.
    options
        The option catalogue (id -> label): the option of a prior-treatment row is then chosen from
        it; without it, the id is typed (and an unknown one named by the validation).

    Returns
    -------
    CaseForm
        The sections and fields, ready for ``board/_case_form.html.j2``.

    Examples
    --------
    >>> form = case_form("fr", {"tumour": {"primary_site": "pancreas", "ki67_percent": 12}})
    >>> f = form.field("tumour.ki67_percent")
    >>> f.label, f.widget, f.minimum, f.maximum, f.value
    ('Ki-67', 'number', 0, 100, '12')
    >>> form.field("tumour.primary_site").choices[0]
    Choice(value='pancreas', label='pancréas')
    >>> form.field("comorbidities").widget, form.field("prior_treatments.0.stop_reason").label
    ('checkboxes', "Motif d'arrêt")

    A list of objects (the prior treatments) is one row of fields per item, and one blank row:

    >>> form = case_form("en", {"tumour": {"primary_site": "pancreas"}, "prior_treatments": ["ssa"]})
    >>> [s.title for s in form.sections if s.name.startswith("prior_treatments")]
    ['Prior treatment 1', 'Prior treatment 2']
    >>> form.field("prior_treatments.0.option").value
    'ssa'
    """
    lab = labels("fr" if lang == "fr" else "en")
    flat = flatten(values or {})
    row_counts = {s.name: _row_count(flat.get(s.name)) for _, specs in _layout() for s in specs if s.widget == "rows"}
    names = [s.name for _, specs in _layout() for s in specs if s.widget != "rows"]
    names += [f"{s.name}.{i}.{sub.name}" for _, specs in _layout() for s in specs if s.widget == "rows"
              for i in range(row_counts[s.name]) for sub in s.items]
    by_field, general = problems_by_field(problems, names)
    sections = []
    rows: list[FormSection] = []
    for section, specs in _layout():
        fields = []
        for s in specs:
            if s.widget == "rows":
                listed = flat.get(s.name)
                items: list[Any] = listed if isinstance(listed, list) else []
                for i in range(row_counts[s.name]):
                    item = _item(items[i]) if i < len(items) else {}
                    # A row's fields are never `required` in the page: the blank row must not stop the
                    # form (the server checks a filled row, and names its missing fields).
                    fields_of_row = [
                        _field(lab, replace(sub, required=False), f"{s.name}.{i}.{sub.name}",
                               f"{s.name}.{sub.name}", item.get(sub.name), by_field) for sub in s.items]
                    if options and s.name == "prior_treatments":
                        fields_of_row = [replace(f, widget="select", choices=[Choice(k, v) for k, v in options.items()])
                                         if f.name.endswith(".option") else f for f in fields_of_row]
                    rows.append(FormSection(f"{s.name}.{i}", f"{lab.field(s.name)} {i + 1}", fields_of_row))
                continue
            fields.append(_field(lab, s, s.name, s.name, flat.get(s.name), by_field))
        sections.append(FormSection(section, _section_title(lab, section), fields))
    return CaseForm([*sections, *rows], general)


def _row_count(raw: Any) -> int:
    """How many rows a list of objects shows: its items and :data:`BLANK_ROWS` blank ones."""
    return (len(raw) if isinstance(raw, list) else 0) + BLANK_ROWS


def _item(raw: Any) -> dict[str, Any]:
    """One item of a list of objects as a mapping (an option id alone stands for ``{option: id}``)."""
    if isinstance(raw, Mapping):
        return dict(raw)
    return {"option": raw} if isinstance(raw, str) else {}


def _field(lab: Labels, s: _Spec, name: str, label_path: str, raw: Any,
           by_field: Mapping[str, list[str]]) -> FormField:
    """One form field of a spec, named ``name`` (a row's field carries its index), labelled by ``label_path``."""
    return FormField(
        name=name,
        label=lab.field(label_path) if name != "id" else lab["board_case_label"],
        widget=s.widget,
        required=s.required,
        choices=[Choice(v, _choice_label(lab, label_path, v)) for v in s.enum],
        minimum=s.minimum,
        maximum=s.maximum,
        exclusive_minimum=s.exclusive_minimum,
        max_length=s.max_length,
        unit=lab.unit(label_path),
        help=s.description,
        value=_shown(s, raw),
        values=[str(v) for v in raw] if s.widget == "checkboxes" and isinstance(raw, list) else [],
        errors=by_field.get(name, []),
    )


def _shown(spec: _Spec, raw: Any) -> str:
    if raw is None or spec.widget == "checkboxes":
        return ""
    if spec.widget == "json":
        return json.dumps(raw, ensure_ascii=False, indent=1)
    if spec.widget == "boolean" and isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """A patient document as one value per form field (dotted path -> value).

    Parameters
    ----------
    data
        A patient document.

    Returns
    -------
    dict[str, Any]
        The value of every field the form has (objects of the contract are opened one level).

    Examples
    --------
    >>> flatten({"age": 60, "tumour": {"primary_site": "rectum"}, "comorbidities": ["cirrhosis"]})
    {'age': 60, 'tumour.primary_site': 'rectum', 'comorbidities': ['cirrhosis']}
    """
    objects = {section for section, _ in _layout()}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in objects and isinstance(value, Mapping):
            for sub, item in value.items():
                out[f"{key}.{sub}"] = item
        else:
            out[key] = value
    return out


def problems_by_field(
    problems: Iterable[InputProblem], names: Sequence[str],
) -> tuple[dict[str, list[str]], list[str]]:
    """Each problem's message under the form field it names; the others apart.

    A problem names a dotted path that may go deeper than a form field (``comorbidities[2]``,
    ``prior_treatments[0].option``): it goes to the longest field that is its prefix.

    Parameters
    ----------
    problems
        The problems of an :class:`~cds.errors.InputError`.
    names
        The form's field names (dotted paths).

    Returns
    -------
    tuple[dict[str, list[str]], list[str]]
        The messages by field, and those of no field (``path: message`` when a path is given).

    Examples
    --------
    >>> by, rest = problems_by_field([InputProblem("comorbidities[0]", "bad"), InputProblem("", "odd")],
    ...                              ["age", "comorbidities"])
    >>> by, rest
    ({'comorbidities': ['bad']}, ['odd'])
    """
    ordered = sorted(names, key=len, reverse=True)
    by: dict[str, list[str]] = {}
    rest: list[str] = []
    for p in problems:
        path = re.sub(r"\[(\d+)\]", r".\1", p.field)  # prior_treatments[0].line -> prior_treatments.0.line
        target = next((n for n in ordered if path == n or path.startswith((n + ".", n + "["))), None)
        if target is None:
            rest.append(str(p) if p.field else p.message)
        else:
            by.setdefault(target, []).append(p.message)
    return by, rest


# ------------------------------------------------------------------ form data -> patient


def _specs() -> dict[str, _Spec]:
    return {s.name: s for _, specs in _layout() for s in specs}


def _number(text: str, integer: bool) -> Any:
    """A number when the text is one; else the text, for the validation to name the fault."""
    try:
        return int(text) if integer else (int(text) if text.lstrip("-").isdigit() else float(text))
    except ValueError:
        return text


def form_to_patient(form: Mapping[str, str | list[str]]) -> tuple[dict[str, Any], list[InputProblem]]:
    """The patient document a submitted form describes, and the problems of its JSON fields.

    Empty fields are left out (not stated); numbers become numbers, yes/no booleans, ticked
    boxes a list. What cannot be read is passed on as written, so that
    :func:`cds.input.validate_patient` names the fault in its own words.

    Parameters
    ----------
    form
        The submitted fields: name -> text, or -> the list of ticked values of a checkbox group.

    Returns
    -------
    tuple[dict[str, Any], list[InputProblem]]
        The patient document, and a problem per JSON text area that is not valid JSON.

    Examples
    --------
    >>> data, problems = form_to_patient({"age": "64", "tumour.primary_site": "pancreas", "sex": "",
    ...     "tumour.ki67_percent": "2.5", "fit_for_major_surgery": "false", "comorbidities": ["cirrhosis"]})
    >>> data["age"], data["fit_for_major_surgery"], data["comorbidities"], data["tumour"], "sex" in data, problems
    (64, False, ['cirrhosis'], {'primary_site': 'pancreas', 'ki67_percent': 2.5}, False, [])
    """
    data: dict[str, Any] = {}
    problems: list[InputProblem] = []
    for name, spec in _specs().items():
        if spec.widget == "rows":
            items = _rows(form, spec)
            if items:
                head, _, sub = name.partition(".")
                if sub:
                    data.setdefault(head, {})[sub] = items
                else:
                    data[name] = items
                continue
        raw = form.get(name)
        if raw is None:
            continue
        if spec.widget == "checkboxes":
            chosen = [raw] if isinstance(raw, str) else list(raw)
            chosen = [c for c in chosen if c]
            if not chosen:
                continue
            value: Any = chosen
        else:
            text = (raw if isinstance(raw, str) else (raw[-1] if raw else "")).strip()
            if not text:
                continue
            if spec.widget in ("json", "rows"):  # a JSON text area (or a list sent as JSON)
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    problems.append(InputProblem(
                        name, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"))
                    continue
            else:
                value = _value(spec, text)
        head, _, sub = name.partition(".")
        if sub:
            data.setdefault(head, {})[sub] = value
        else:
            data[name] = value
    return data, problems


def _value(spec: _Spec, text: str) -> Any:
    """The value of one filled field: a number, a yes/no, an integer choice, or the text as typed."""
    if spec.widget in ("number", "integer"):
        return _number(text, spec.widget == "integer")
    if spec.widget == "boolean":
        return {"true": True, "false": False}.get(text, text)
    if spec.widget == "select" and spec.integer_enum:
        return _number(text, True)
    return text


def _rows(form: Mapping[str, str | list[str]], spec: _Spec) -> list[dict[str, Any]]:
    """The items of a list of objects from its rows (``name.<i>.<field>``), blank rows left out, in row order."""
    found: dict[int, dict[str, Any]] = {}
    pattern = re.compile(rf"^{re.escape(spec.name)}\.(\d+)\.(\w+)$")
    subs = {sub.name: sub for sub in spec.items}
    for key, raw in form.items():
        match = pattern.match(key)
        if match is None or match.group(2) not in subs:
            continue
        text = (raw if isinstance(raw, str) else (raw[-1] if raw else "")).strip()
        if text:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = _value(subs[match.group(2)], text)
    return [found[i] for i in sorted(found)]


def check_form(
    form: Mapping[str, str | list[str]], known_options: Iterable[str] | None = None,
) -> tuple[dict[str, Any], Patient | None, list[InputProblem]]:
    """Read a submitted form and validate it as ``cds evaluate`` validates a patient file.

    Parameters
    ----------
    form
        The submitted fields (see :func:`form_to_patient`).
    known_options
        The option ids prior treatments may name (``kb.options``), as the CLI checks them.

    Returns
    -------
    tuple[dict[str, Any], Patient | None, list[InputProblem]]
        The patient document, the validated patient (None when there are problems), the problems.

    Examples
    --------
    >>> data, patient, problems = check_form({"tumour.primary_site": "liver", "tumour.ki67_percent": "150"})
    >>> patient is None, [(p.field, p.message) for p in problems][1]
    (True, ('tumour.ki67_percent', 'must be <= 100 (got 150)'))
    """
    data, problems = form_to_patient(form)
    if problems:
        return data, None, problems
    try:
        patient = validate_patient(data, "form", known_options)
    except InputError as exc:
        return data, None, list(exc.problems)
    return data, patient, []


__all__ = ["CaseForm", "Choice", "FormField", "FormSection", "case_form", "check_form", "flatten",
           "form_to_patient", "problems_by_field"]
