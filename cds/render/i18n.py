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
from cds.model.units import fmt_number
from cds.resources import content_root, renderers_dir

if TYPE_CHECKING:
    from cds.knowledge.loader import KnowledgeBase

LANGS: tuple[Lang, ...] = ("en", "fr")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LangText(_Model):
    """One text of the catalogue in both report languages (neither may be empty).

    Examples
    --------
    >>> LangText(en="Alerts", fr="Alertes").fr
    'Alertes'
    """

    en: str = Field(min_length=1)
    fr: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        """The text in ``lang``; English for any language but French.

        Parameters
        ----------
        lang
            A language code (``en``, ``fr``).

        Returns
        -------
        str
            The French text for ``fr``, else the English one.

        Examples
        --------
        >>> text = LangText(en="yes", fr="oui")
        >>> text.get("fr"), text.get("de")
        ('oui', 'yes')
        """
        return self.fr if lang == "fr" else self.en


class FieldEntry(_Model):
    """How the reports name one patient field (or derived fact) and its values.

    ``label`` names the field; ``unit`` follows its numbers (text, or one per language);
    ``values`` name the values of an enumeration; ``item`` is the pattern of one value of
    a list or flag namespace (``{value} metastases``), whose values ``values`` names.

    Examples
    --------
    >>> entry = catalogue().fields["labs.egfr_ml_min"]
    >>> entry.label.fr, entry.unit
    ('DFG estimé', 'mL/min')
    """

    label: LangText
    unit: str | LangText | None = None
    item: LangText | None = None  # list fields: label of one value, e.g. "{value} metastases"
    values: dict[str, LangText] = Field(default_factory=dict)


class Catalogue(_Model):
    """The whole of ``renderers/i18n.yaml``: the fixed words and sentence templates (``ui``),
    the patient fields (``fields``, by context path) and the derived facts (``derived``).

    Examples
    --------
    >>> cat = catalogue()
    >>> cat.ui["alerts"].fr, cat.derived["category"].values["net_g1"].fr
    ('Alertes', 'TNE G1')
    """

    ui: dict[str, LangText]
    fields: dict[str, FieldEntry]
    derived: dict[str, FieldEntry]


def i18n_path() -> Path:
    """The bundled label catalogue, ``renderers/i18n.yaml``.

    Returns
    -------
    pathlib.Path
        ``i18n.yaml`` in :func:`cds.resources.renderers_dir`.

    Examples
    --------
    >>> i18n_path().name, i18n_path().parent.name
    ('i18n.yaml', 'renderers')
    """
    return renderers_dir() / "i18n.yaml"


def catalogue(path: Path | None = None) -> Catalogue:
    """The parsed and validated ``i18n.yaml`` (cached per path).

    Parameters
    ----------
    path
        Another catalogue file (default: :func:`i18n_path`).

    Returns
    -------
    Catalogue
        The same object for the same path on every call.

    Raises
    ------
    ValueError
        The file is not a valid catalogue (e.g. an entry lacks its French text).

    Examples
    --------
    >>> catalogue() is catalogue()
    True
    >>> catalogue().fields["tumour.ki67_percent"].label.en
    'Ki-67'
    """
    return _catalogue(str(path) if path else _default_path(content_root()))


@lru_cache(maxsize=16)
def _default_path(root: Path) -> str:
    # one path per content root: a report or a card looks up dozens of labels
    return str(i18n_path())


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
    """Every English text of the catalogue that differs from its French text (for tests).

    A French report that contains one of them shows an untranslated word.

    Parameters
    ----------
    path
        Another catalogue file (default: :func:`i18n_path`).

    Returns
    -------
    set[str]
        The English texts of ``ui``, field and derived labels, units and values.

    Examples
    --------
    >>> texts = english_texts()
    >>> "Alerts" in texts, "Ki-67" in texts   # Ki-67 is the same in French
    (True, False)
    """
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
    """The words of one report language.

    Built by :func:`labels`. The fixed words come from the catalogue (``cat``, default: the
    bundled one); the labels of options, alerts, evidence kinds, sources, pathways and
    their nodes come from the knowledge base ``kb`` when one is given, else ids are shown.

    Parameters
    ----------
    lang
        ``en`` or ``fr``.
    kb
        The knowledge base whose labels to use, or None to show ids.
    cat
        Another label catalogue (default: :func:`catalogue`).

    Examples
    --------
    >>> from cds import default_engine
    >>> lab = Labels("fr", default_engine().kb)
    >>> lab["alerts"], lab.field("tumour.ki67_percent"), lab.value("labs.egfr_ml_min", 85.5)
    ('Alertes', 'Ki-67', '85,5 mL/min')
    >>> lab.option("prrt"), Labels("fr").option("prrt")
    ('Radiothérapie interne vectorisée (177Lu-DOTATATE, 177Lu-édotréotide)', 'prrt')
    """

    lang: Lang
    kb: KnowledgeBase | None = None
    cat: Catalogue | None = None

    @property
    def catalogue(self) -> Catalogue:
        """The label catalogue in use (``cat``, else the bundled one)."""
        return self.cat if self.cat is not None else catalogue()

    # ------------------------------------------------------------ fixed words

    @property
    def t(self) -> dict[str, str]:
        """Every ``ui`` entry in this language (what templates receive as ``t``)."""
        return _ui(self.catalogue, self.lang)

    def __getitem__(self, key: str) -> str:
        return self.catalogue.ui[key].get(self.lang)

    def fmt(self, key: str, **values: Any) -> str:
        """A sentence template of ``ui`` with its blanks filled in.

        Parameters
        ----------
        key
            A ``ui`` entry, e.g. ``explain_title``.
        **values
            The value of each ``{blank}`` of the template.

        Returns
        -------
        str
            The sentence in this language.

        Raises
        ------
        KeyError
            No such entry, or a blank without a value.

        Examples
        --------
        >>> labels("fr").fmt("explain_title", option="TRRP")
        'Pourquoi pas « TRRP » ?'
        """
        return self[key].format(**values)

    # ----------------------------------------------------------------- values

    def number(self, value: float | int) -> str:
        """A number as this language writes it: a decimal comma in French, no ``.0``.

        Parameters
        ----------
        value
            The number.

        Returns
        -------
        str
            The number as text.

        Examples
        --------
        >>> labels("fr").number(22.8), labels("en").number(22.8), labels("fr").number(3.0)
        ('22,8', '22.8', '3')
        """
        return fmt_number(value, self.lang)

    def yes_no(self, value: bool) -> str:
        """``yes`` or ``no`` in this language.

        Parameters
        ----------
        value
            The answer.

        Returns
        -------
        str
            The word for it.

        Examples
        --------
        >>> labels("fr").yes_no(True), labels("en").yes_no(False)
        ('oui', 'no')
        """
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
        """The unit of a numeric field, in this language.

        Parameters
        ----------
        path
            A context path (``labs.egfr_ml_min``, ``derived.x``).

        Returns
        -------
        str or None
            The unit, or None when the field has none (or is not in the catalogue).

        Examples
        --------
        >>> lab = labels("en")
        >>> lab.unit("labs.egfr_ml_min"), lab.unit("tumour.primary_site")
        ('mL/min', None)
        """
        entry, item = self._entry(path)
        if entry is None or item is not None or entry.unit is None:
            return None
        return entry.unit if isinstance(entry.unit, str) else entry.unit.get(self.lang)

    def field(self, path: str) -> str:
        """Label of a context path: ``tumour.ki67_percent`` -> ``Ki-67``.

        A value of a list field gets its item label (``disease.metastatic_sites.liver`` ->
        ``liver metastases``); a previous course of an option, a proposed option, a pathway
        step or a pathway gets the knowledge's label; anything else is shown as it is.

        Parameters
        ----------
        path
            A context path, as conditions and missing data name it.

        Returns
        -------
        str
            The label in this language.

        Examples
        --------
        >>> from cds import default_engine
        >>> lab = labels("en", default_engine().kb)
        >>> lab.field("tumour.ki67_percent"), lab.field("disease.metastatic_sites.liver")
        ('Ki-67', 'liver metastases')
        >>> labels("fr").field("labs.egfr_ml_min"), lab.field("tumour.unheard_of")
        ('DFG estimé', 'tumour.unheard_of')
        """
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
        """A value of a path as the report prints it (enumeration label, unit, yes/no).

        Parameters
        ----------
        path
            The context path the value belongs to.
        value
            The value, as in the patient or the context.

        Returns
        -------
        str
            The value in this language; as it is when the catalogue has no label for it.

        Examples
        --------
        >>> lab = labels("fr")
        >>> lab.value("labs.egfr_ml_min", 85.5), lab.value("tumour.primary_site", "pancreas")
        ('85,5 mL/min', 'pancréas')
        >>> lab.value("fit_for_major_surgery", False), lab.value("tumour.ki67_percent", 5)
        ('non', '5 %')
        """
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
        """A value of a derived fact as the report prints it (:meth:`value` of ``derived.<key>``).

        Parameters
        ----------
        key
            The derived fact, e.g. ``category``.
        value
            Its value.

        Returns
        -------
        str
            The value in this language.

        Examples
        --------
        >>> labels("fr").derived_value("category", "net_g1")
        'TNE G1'
        """
        return self.value(f"derived.{key}", value)

    # -------------------------------------------------------- knowledge labels

    def option(self, option: str) -> str:
        """The label of an option (``catalogues/options.yaml``), or its id without a knowledge base.

        Parameters
        ----------
        option
            An option id.

        Returns
        -------
        str
            The label in this language, or the id when the option is unknown.

        Examples
        --------
        >>> from cds import default_engine
        >>> labels("en", default_engine().kb).option("ssa"), labels("en").option("ssa")
        ('Somatostatin analogue (octreotide LAR, lanreotide)', 'ssa')
        """
        if self.kb is not None and option in self.kb.options:
            return str(getattr(self.kb.options[option].label, self.lang))
        return option

    def alert(self, alert: str) -> str:
        """The label of an alert (``catalogues/alerts/``), or its id without a knowledge base.

        Parameters
        ----------
        alert
            An alert id.

        Returns
        -------
        str
            The label in this language, or the id when the alert is unknown.

        Examples
        --------
        >>> from cds import default_engine
        >>> labels("en", default_engine().kb).alert("mdt_referral")
        'Refer to an expert NET tumour board (e.g. RENATEN in France)'
        """
        if self.kb is not None and alert in self.kb.alerts:
            return str(getattr(self.kb.alerts[alert].label, self.lang))
        return alert

    def evidence(self, kind: str, level: str | None = None) -> str:
        """An evidence kind with its level, e.g. ``Randomised phase III trial (I)``.

        Parameters
        ----------
        kind
            An evidence kind of the evidence scale (``knowledge/catalogues/evidence-scale.yaml``).
        level
            The guideline's level of evidence, if any.

        Returns
        -------
        str
            The label (the kind itself without a knowledge base), then the level in brackets.

        Examples
        --------
        >>> from cds import default_engine
        >>> labels("fr", default_engine().kb).evidence("rct_phase3", "I")
        'Essai randomisé de phase III (I)'
        >>> labels("en").evidence("rct_phase3")
        'rct_phase3'
        """
        label = kind
        if self.kb is not None and kind in self.kb.evidence_labels:
            label = str(getattr(self.kb.evidence_labels[kind], self.lang))
        return f"{label} ({level})" if level else label

    def source(self, source: str) -> str:
        """The short name of a source (``catalogues/sources/``), or its id without a knowledge base.

        Parameters
        ----------
        source
            A source id.

        Returns
        -------
        str
            The short name (the same in every language), or the id when the source is unknown.

        Examples
        --------
        >>> from cds import default_engine
        >>> labels("en", default_engine().kb).source("clarinet_2014")
        'CLARINET'
        """
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
        """The label of a pathway step, or its id when no pathway of the knowledge has it.

        Parameters
        ----------
        node
            A pathway node id.

        Returns
        -------
        str
            The label in this language.

        Examples
        --------
        >>> from cds import default_engine
        >>> labels("fr", default_engine().kb).node("FIT_Assess_Fitness")
        'État général et aptitude à la chirurgie'
        """
        return self._nodes.get(node, node)

    def pathway(self, pathway: str) -> str:
        """The title of a pathway, or its id when the knowledge has no such pathway.

        Parameters
        ----------
        pathway
            A pathway id.

        Returns
        -------
        str
            The title in this language.

        Examples
        --------
        >>> from cds import default_engine
        >>> labels("fr", default_engine().kb).pathway("fitness")
        'État général et aptitude à une chirurgie majeure'
        """
        return self._pathways.get(pathway, pathway)

    def track(self, track: str) -> str:
        """A track as a heading (``Anti-tumour treatment``).

        Parameters
        ----------
        track
            ``anti_tumour`` or ``antisecretory``.

        Returns
        -------
        str
            The heading in this language; the id for an unknown track.

        Examples
        --------
        >>> labels("en").track("anti_tumour"), labels("fr").track("antisecretory")
        ('Anti-tumour treatment', 'Traitement antisécrétoire')
        """
        return self[track] if track in self.catalogue.ui else track

    def track_phrase(self, track: str) -> str:
        """A track inside a sentence (``the anti-tumour track``).

        Parameters
        ----------
        track
            ``anti_tumour`` or ``antisecretory``.

        Returns
        -------
        str
            The phrase in this language; the id for an unknown track.

        Examples
        --------
        >>> labels("en").track_phrase("anti_tumour"), labels("fr").track_phrase("antisecretory")
        ('the anti-tumour track', 'volet antisécrétoire')
        """
        key = f"track_{track}"
        return self[key] if key in self.catalogue.ui else track


def _is_enum(labels: Labels, path: str) -> bool:
    entry, item = labels._entry(path)
    return entry is not None and item is None and bool(entry.values)


def _ui(cat: Catalogue, lang: str) -> dict[str, str]:
    return {key: text.get(lang) for key, text in cat.ui.items()}


def labels(lang: str, kb: KnowledgeBase | None = None) -> Labels:
    """The labels of ``lang`` (English for any language the catalogue does not have).

    Parameters
    ----------
    lang
        The report language.
    kb
        The knowledge base whose labels to use (options, alerts, sources ...); None shows ids.

    Returns
    -------
    Labels
        The words of that language, over the bundled catalogue.

    Examples
    --------
    >>> labels("fr")["alerts"], labels("de").lang
    ('Alertes', 'en')
    """
    return Labels("fr" if lang == "fr" else "en", kb)
