"""The vocabulary of paths a condition may read, derived from the Patient model.

Deriving it (rather than listing it) means a field added to the input contract
is immediately usable in knowledge, and a field renamed there makes every rule
that still uses the old name fail at load, with a suggestion.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from enum import Enum
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from cds.knowledge.conditions import FieldSpec, FieldType, Vocabulary
from cds.model.patient import BestResponse, Comorbidity, Patient, StopReason

_SKIP = {"id", "as_of", "prior_treatments"}


def unwrap_annotation(annotation: Any) -> Any:
    """Strip Optional/Annotated to the underlying type.

    Parameters
    ----------
    annotation
        A field's annotation as pydantic holds it (``FieldInfo.annotation``).

    Returns
    -------
    Any
        The type inside any ``Annotated[...]`` and ``X | None``; a union of several types, a
        ``list[...]`` or a ``Literal[...]`` is returned as it is.

    Examples
    --------
    >>> from typing import Annotated, Literal
    >>> unwrap_annotation(Annotated[int, "range"] | None)
    <class 'int'>
    >>> unwrap_annotation(Literal[1, 2] | None)
    typing.Literal[1, 2]
    """
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


def _spec(path: str, annotation: Any, description: str) -> FieldSpec | None:
    ann = unwrap_annotation(annotation)
    if isinstance(ann, type) and issubclass(ann, Enum):
        return FieldSpec(path, "string", frozenset(m.value for m in ann), description)
    if get_origin(ann) is Literal:
        values = get_args(ann)
        kind: FieldType = "integer" if all(isinstance(v, int) for v in values) else "string"
        return FieldSpec(path, kind, frozenset(values), description)
    if ann is bool:
        return FieldSpec(path, "boolean", None, description)
    if ann is int:
        return FieldSpec(path, "integer", None, description)
    if ann is float:
        return FieldSpec(path, "number", None, description)
    if ann is str:
        return FieldSpec(path, "string", None, description)
    return None


def _walk(model: type[BaseModel], prefix: str, vocab: Vocabulary) -> None:
    for name, info in model.model_fields.items():
        if not prefix and name in _SKIP:
            continue
        path = f"{prefix}{name}"
        ann = unwrap_annotation(info.annotation)
        desc = info.description or ""
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            _walk(ann, f"{path}.", vocab)
            continue
        if get_origin(ann) is list:
            (item,) = get_args(ann)
            item = unwrap_annotation(item)
            if isinstance(item, type) and issubclass(item, Enum):
                for member in item:
                    vocab.add(FieldSpec(f"{path}.{member.value}", "boolean", None, desc))
            continue
        spec = _spec(path, ann, desc)
        if spec is not None:
            vocab.add(spec)


def patient_vocabulary() -> Vocabulary:
    """The paths of the input contract a condition may read, with their types and allowed values.

    Every scalar field of :class:`~cds.model.patient.Patient` (nested models as dotted
    paths), except the bookkeeping ``id``, ``as_of`` and ``prior_treatments``; a list of an
    enumeration (``comorbidities``, ``disease.metastatic_sites``) becomes one boolean path per
    value, as :func:`cds.facts.build_context` lays it out.

    Returns
    -------
    Vocabulary
        A new vocabulary (the caller may add to it).

    Examples
    --------
    >>> vocab = patient_vocabulary()
    >>> vocab.fields["tumour.ki67_percent"].type, vocab.fields["comorbidities.cirrhosis"].type
    ('number', 'boolean')
    >>> sorted(vocab.fields["disease.stage"].values)
    ['localized', 'locoregional', 'metastatic']
    """
    vocab = Vocabulary()
    _walk(Patient, "", vocab)
    # Comorbidities are a top-level list of enums; _walk already mapped them.
    assert f"comorbidities.{next(iter(Comorbidity)).value}" in vocab.fields
    return vocab


def full_vocabulary(
    option_ids: Iterable[str],
    derived: Iterable[FieldSpec],
    node_ids: Iterable[str],
    pathway_ids: Iterable[str],
) -> Vocabulary:
    """Every path a knowledge condition may read: the patient's, and what the knowledge adds.

    Parameters
    ----------
    option_ids
        The option catalogue: each adds ``prior.<id>``, ``prior_response.<id>``,
        ``prior_line.<id>`` and ``candidate.<id>``.
    derived
        The derived facts of the classification stage (``derived.<key>``).
    node_ids
        The pathway nodes: each adds ``node.<id>`` (the node was reached).
    pathway_ids
        The pathways: each adds ``pathway.<id>`` (the pathway was entered).

    Returns
    -------
    Vocabulary
        :func:`patient_vocabulary` with those paths added.

    Examples
    --------
    >>> vocab = full_vocabulary(["prrt"], [FieldSpec("derived.category", "string", frozenset({"net_g1"}))],
    ...                         ["PNET_Start"], ["pnet"])
    >>> sorted(p for p in vocab.fields if p.endswith(".prrt"))
    ['candidate.prrt', 'prior.prrt', 'prior_line.prrt', 'prior_response.prrt']
    >>> all(p in vocab.fields for p in ("derived.category", "node.PNET_Start", "pathway.pnet", "tumour.ki67_percent"))
    True
    >>> sorted(vocab.fields["prior.prrt"].values)
    ['completed', 'ongoing', 'progression', 'toxicity']
    """
    vocab = patient_vocabulary()
    stops = frozenset(s.value for s in StopReason)
    responses = frozenset(r.value for r in BestResponse)
    for option in option_ids:
        vocab.add(FieldSpec(f"prior.{option}", "string", stops, "stop reason of the latest course"))
        vocab.add(FieldSpec(f"prior_response.{option}", "string", responses, "best response"))
        vocab.add(FieldSpec(f"prior_line.{option}", "integer", None, "line of the latest course"))
        vocab.add(FieldSpec(f"candidate.{option}", "boolean", None, "proposed by a pathway"))
    for spec in derived:
        vocab.add(spec)
    for node in node_ids:
        vocab.add(FieldSpec(f"node.{node}", "boolean", None, "pathway node reached"))
    for pathway in pathway_ids:
        vocab.add(FieldSpec(f"pathway.{pathway}", "boolean", None, "pathway entered"))
    return vocab
