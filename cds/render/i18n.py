"""The words of the reports, in English and French (``renderers/i18n.yaml``).

:class:`Labels` is one report language: the fixed words and sentence
templates of the reports (``ui``), the labels of the patient fields and of
their values (``fields``), and of the derived facts (``derived``). Labels that
belong to the knowledge (options, alerts, evidence kinds, sources, pathway
titles and node labels) are read from the :class:`~cds.knowledge.KnowledgeBase`
when one is given; without it, the ids are shown.

The file is validated when it is first read: every entry must have both
languages, so a missing translation fails loudly instead of printing English
in a French report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cds.model.recommendation import Lang
from cds.resources import renderers_dir

if TYPE_CHECKING:
    from cds.knowledge.loader import KnowledgeBase

LANGS: tuple[Lang, ...] = ("en", "fr")

#: Namespaces of the context whose absence means "no", not "unknown".
FLAG_NAMESPACES = (
    "comorbidities.",
    "disease.metastatic_sites.",
    "prior.",
    "prior_response.",
    "prior_line.",
    "derived.",
    "candidate.",
    "node.",
    "pathway.",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LangText(_Model):
    en: str = Field(min_length=1)
    fr: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.fr if lang == "fr" else self.en


class FieldEntry(_Model):
    label: LangText
    unit: str | LangText | None = None
    item: LangText | None = None  # list fields: label of one value, e.g. "{value} metastases"
    values: dict[str, LangText] = Field(default_factory=dict)


class Catalogue(_Model):
    ui: dict[str, LangText]
    fields: dict[str, FieldEntry]
    derived: dict[str, FieldEntry]


def i18n_path() -> Path:
    return renderers_dir() / "i18n.yaml"


def catalogue(path: Path | None = None) -> Catalogue:
    """The parsed and validated ``i18n.yaml`` (cached per path)."""
    return _catalogue(str(path or i18n_path()))


@lru_cache(maxsize=4)
def _catalogue(path: str) -> Catalogue:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    try:
        return Catalogue.model_validate(_string_keys(data))
    except ValidationError as exc:
        raise ValueError(f"{path} is not a valid label catalogue:\n{exc}") from None


def _string_keys(data: Any) -> Any:
    """YAML reads ``1:`` as an int key; every key of the catalogue is text."""
    if isinstance(data, Mapping):
        return {str(k): _string_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_string_keys(v) for v in data]
    return data


def english_texts(path: Path | None = None) -> set[str]:
    """Every English text of the catalogue that differs from its French text (for tests)."""
    cat = catalogue(path)
    out: set[str] = set()

    def add(text: LangText | None) -> None:
        if text is not None and text.en != text.fr:
            out.add(text.en)

    for text in cat.ui.values():
        add(text)
    for entry in (*cat.fields.values(), *cat.derived.values()):
        add(entry.label)
        add(entry.unit if isinstance(entry.unit, LangText) else None)
        for value in entry.values.values():
            add(value)
    return out


@dataclass(frozen=True)
class Labels:
    """The words of one report language."""

    lang: Lang
    kb: KnowledgeBase | None = None
    cat: Catalogue | None = None

    @property
    def catalogue(self) -> Catalogue:
        return self.cat if self.cat is not None else catalogue()

    # ------------------------------------------------------------ fixed words

    @property
    def t(self) -> dict[str, str]:
        """Every ``ui`` entry in this language (what templates receive as ``t``)."""
        return _ui(self.catalogue, self.lang)

    def __getitem__(self, key: str) -> str:
        return self.catalogue.ui[key].get(self.lang)

    def fmt(self, key: str, **values: Any) -> str:
        return self[key].format(**values)

    # ----------------------------------------------------------------- values

    def number(self, value: float | int) -> str:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value)
        return text.replace(".", ",") if self.lang == "fr" else text

    def yes_no(self, value: bool) -> str:
        return self["answer_yes"] if value else self["answer_no"]

    def _entry(self, path: str) -> tuple[FieldEntry | None, str | None]:
        """The catalogue entry of a path, and the list value it names (``comorbidities.x``)."""
        cat = self.catalogue
        if path.startswith("derived."):
            return cat.derived.get(path.removeprefix("derived.")), None
        if path in cat.fields:
            return cat.fields[path], None
        parent, _, item = path.rpartition(".")
        entry = cat.fields.get(parent)
        if entry is not None and entry.item is not None:
            return entry, item
        return None, None

    def unit(self, path: str) -> str | None:
        entry, item = self._entry(path)
        if entry is None or item is not None or entry.unit is None:
            return None
        return entry.unit if isinstance(entry.unit, str) else entry.unit.get(self.lang)

    def field(self, path: str) -> str:
        """Label of a context path: ``tumour.ki67_percent`` -> ``Ki-67``."""
        entry, item = self._entry(path)
        if entry is not None:
            if item is None:
                return entry.label.get(self.lang)
            assert entry.item is not None
            value = entry.values.get(item)
            return entry.item.get(self.lang).format(value=value.get(self.lang) if value else item)
        head, _, rest = path.partition(".")
        if head == "prior":
            return self.fmt("prior_field", option=self.option(rest))
        if head == "prior_response":
            return self.fmt("prior_response_field", option=self.option(rest))
        if head == "prior_line":
            return self.fmt("prior_line_field", option=self.option(rest))
        if head == "candidate":
            return self.option(rest)
        if head == "node":
            return self.node(rest)
        if head == "pathway":
            return self.pathway(rest)
        return path

    def value(self, path: str, value: Any) -> str:
        """A value of a path as the report prints it (enumeration label, unit, yes/no)."""
        if isinstance(value, bool):
            return self.yes_no(value)
        if isinstance(value, (int, float)) and not _is_enum(self, path):
            unit = self.unit(path)
            number = self.number(value)
            if not unit:
                return number
            return f"{number}{unit}" if unit.startswith("/") else f"{number} {unit}"
        entry, item = self._entry(path)
        if entry is not None and item is None:
            label = entry.values.get(str(value))
            if label is not None:
                return label.get(self.lang)
        head = path.partition(".")[0]
        cat = self.catalogue
        if head == "prior":
            label = cat.fields["prior_treatments.stop_reason"].values.get(str(value))
            return label.get(self.lang) if label else str(value)
        if head == "prior_response":
            label = cat.fields["prior_treatments.best_response"].values.get(str(value))
            return label.get(self.lang) if label else str(value)
        return str(value)

    def derived_value(self, key: str, value: Any) -> str:
        return self.value(f"derived.{key}", value)

    # -------------------------------------------------------- knowledge labels

    def option(self, option: str) -> str:
        if self.kb is not None and option in self.kb.options:
            return str(getattr(self.kb.options[option].label, self.lang))
        return option

    def alert(self, alert: str) -> str:
        if self.kb is not None and alert in self.kb.alerts:
            return str(getattr(self.kb.alerts[alert].label, self.lang))
        return alert

    def evidence(self, kind: str, level: str | None = None) -> str:
        label = kind
        if self.kb is not None and kind in self.kb.evidence_labels:
            label = str(getattr(self.kb.evidence_labels[kind], self.lang))
        return f"{label} ({level})" if level else label

    def source(self, source: str) -> str:
        if self.kb is not None and source in self.kb.sources:
            return self.kb.sources[source].short
        return source

    @cached_property
    def _nodes(self) -> dict[str, str]:
        if self.kb is None:
            return {}
        return {n.id: str(getattr(n.label, self.lang)) for pw in self.kb.pathways for n in pw.nodes}

    @cached_property
    def _pathways(self) -> dict[str, str]:
        if self.kb is None:
            return {}
        return {pw.id: str(getattr(pw.title, self.lang)) for pw in self.kb.pathways}

    def node(self, node: str) -> str:
        return self._nodes.get(node, node)

    def pathway(self, pathway: str) -> str:
        return self._pathways.get(pathway, pathway)

    def track(self, track: str) -> str:
        """A track as a heading (``Anti-tumour treatment``)."""
        return self[track] if track in self.catalogue.ui else track

    def track_phrase(self, track: str) -> str:
        """A track inside a sentence (``the anti-tumour track``)."""
        key = f"track_{track}"
        return self[key] if key in self.catalogue.ui else track


def _is_enum(labels: Labels, path: str) -> bool:
    entry, item = labels._entry(path)
    return entry is not None and item is None and bool(entry.values)


def _ui(cat: Catalogue, lang: str) -> dict[str, str]:
    return {key: text.get(lang) for key, text in cat.ui.items()}


def labels(lang: str, kb: KnowledgeBase | None = None) -> Labels:
    """The labels of ``lang`` (English for any language the catalogue does not have)."""
    return Labels("fr" if lang == "fr" else "en", kb)
