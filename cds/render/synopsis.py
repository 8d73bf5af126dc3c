"""The one-line synopsis of a case: who the patient is and what the tumour is, before any option.

A tumour board reads the case before it reads the ranking: age, sex, primary site, stage,
grade and Ki-67, differentiation, somatostatin-receptor imaging, how the disease behaves, and
the comorbidities that limit the treatments. The static reports (HTML, Markdown, text) put this
line first, and the board's case screen shows it above the options.

The synopsis is read, never inferred: each item comes from the patient as entered, except the
grade, which is the one the classification derived (``Recommendation.derived``, the grade every
other part of the report shows). A datum the patient file does not give is shown as not stated,
never filled with the input contract's default: an absent SSTR imaging is "not stated", only an
explicit ``"not_done"`` is "not done". Nothing here evaluates the patient.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cds.render.i18n import Labels, labels

if TYPE_CHECKING:
    from cds.knowledge.loader import KnowledgeBase
    from cds.model.patient import Patient
    from cds.model.recommendation import Recommendation

#: The items of a synopsis, in the order the line reads them.
SYNOPSIS_KEYS = ("age", "sex", "site", "stage", "grade", "differentiation", "sstr", "status", "comorbidities")


@dataclass(frozen=True)
class SynopsisItem:
    """One datum of the synopsis, in the report language.

    ``key`` is one of :data:`SYNOPSIS_KEYS`; ``label`` names the datum, ``value`` gives it in
    words (or "not stated"), ``stated`` says whether the patient file gave it, and ``text`` is
    how the one-line synopsis reads it (the value alone when it speaks for itself, e.g.
    "pancreas", else "label: value", e.g. "SSTR imaging: positive").

    Examples
    --------
    >>> SynopsisItem("sstr", "SSTR imaging", "not stated", False, "SSTR imaging: not stated").stated
    False
    """

    key: str
    label: str
    value: str
    stated: bool
    text: str


@dataclass(frozen=True)
class Synopsis:
    """A case in one line (:func:`synopsis`): its items, and the line they make.

    Examples
    --------
    >>> item = SynopsisItem("site", "Primary site", "pancreas", True, "pancreas")
    >>> Synopsis("en", (item,)).line, Synopsis("en", (item,)).not_stated
    ('pancreas', [])
    """

    lang: str
    items: tuple[SynopsisItem, ...]

    @property
    def line(self) -> str:
        """The items' texts joined by `` · ``: what the reports print first."""
        return " · ".join(item.text for item in self.items)

    @property
    def not_stated(self) -> list[str]:
        """The keys of the items the patient file does not give."""
        return [item.key for item in self.items if not item.stated]

    def __getitem__(self, key: str) -> SynopsisItem:
        for item in self.items:
            if item.key == key:
                return item
        raise KeyError(key)


def synopsis(patient: Patient, rec: Recommendation, kb: KnowledgeBase | None = None) -> Synopsis:
    """The synopsis of one case, in the recommendation's language.

    Parameters
    ----------
    patient
        The patient as validated (what was entered: a field left out is "not stated").
    rec
        The patient's recommendation: its language, the derived grade, and the safety arguments
        that tell which comorbidities limit a treatment.
    kb
        The knowledge base the recommendation was made with. With it, the comorbidities shown are
        the key ones: those of the patient that a safety statement of the contraindication matrix
        applied to this recommendation names (``knowledge/catalogues/safety-matrix``), i.e. those
        that set a safety level on an option; the others are only counted ("1 other(s) without
        safety effect"): the patient summary lists them. Without it, every comorbidity is shown.

    Returns
    -------
    Synopsis
        Age, sex, site, stage, grade and Ki-67, differentiation, SSTR imaging, disease status and
        key comorbidities, in this order (:data:`SYNOPSIS_KEYS`).

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> engine = default_engine()
    >>> patient = parse_patient('{"age": 71, "sex": "M", "tumour": {"primary_site": "pancreas", "ki67_percent": 12, '
    ...     '"differentiation": "well"}, "disease": {"stage": "metastatic", "metastatic_sites": ["liver"], '
    ...     '"status": "progressive"}, "comorbidities": ["bilioenteric_anastomosis"]}')
    >>> rec = engine.evaluate(patient, "en", surveillance=False)
    >>> print(synopsis(patient, rec, engine.kb).line)
    71 years · male · pancreas · metastatic (liver) · G2, Ki-67 12 % · well differentiated · SSTR imaging: not stated \
· Disease status: progressive · Comorbidities: bilioenteric anastomosis
    >>> fr = synopsis(patient, engine.evaluate(patient, "fr", surveillance=False), engine.kb)
    >>> fr["sstr"].text, fr["grade"].text, fr.not_stated
    ('Imagerie des récepteurs de la somatostatine : non renseigné', 'G2, Ki-67 12 %', ['sstr'])

    Nothing is guessed: a datum left out is not stated, even where the input has a default.

    >>> bare = parse_patient('{"tumour": {"primary_site": "rectum"}}')
    >>> print(synopsis(bare, engine.evaluate(bare, "en", surveillance=False)).line)
    Age: not stated · Sex: not stated · rectum · Stage: not stated · Grade: not stated, Ki-67: not stated \
· Differentiation: not stated · SSTR imaging: not stated · Disease status: not stated · Comorbidities: not stated
    """
    lab = labels(rec.language, kb)
    return Synopsis(lab.lang, tuple(_items(lab, patient, rec, kb)))


def _items(lab: Labels, patient: Patient, rec: Recommendation, kb: KnowledgeBase | None) -> Iterator[SynopsisItem]:
    tumour, disease, imaging = patient.tumour, patient.disease, patient.imaging
    yield _plain(lab, "age", "age", patient.age)
    yield _plain(lab, "sex", "sex", patient.sex)
    yield _plain(lab, "site", "tumour.primary_site", tumour.primary_site.value)
    stage = None if disease.stage is None else disease.stage.value
    item = _plain(lab, "stage", "disease.stage", stage)
    if stage is not None and disease.metastatic_sites:
        sites = ", ".join(lab.value("disease.metastatic_sites", s.value) for s in disease.metastatic_sites)
        item = SynopsisItem(item.key, item.label, f"{item.value} ({sites})", True, f"{item.value} ({sites})")
    yield item
    yield _grade(lab, patient, rec)
    differentiation = None if tumour.differentiation is None else tumour.differentiation.value
    yield _plain(lab, "differentiation", "tumour.differentiation", differentiation)
    sstr = imaging.sstr.value if "sstr" in imaging.model_fields_set else None
    yield _labelled(lab, "sstr", "imaging.sstr", sstr)
    status = disease.status.value if "status" in disease.model_fields_set else None
    yield _labelled(lab, "status", "disease.status", None if status == "unknown" else status)
    yield _comorbidities(lab, patient, rec, kb)


def _not_stated(lab: Labels, key: str, label: str) -> SynopsisItem:
    return SynopsisItem(key, label, lab["not_stated"], False, f"{label}{lab['colon']} {lab['not_stated']}")


def _plain(lab: Labels, key: str, path: str, value: object) -> SynopsisItem:
    """A datum whose value speaks for itself ("pancreas", "71 years")."""
    label = lab.field(path)
    if value is None:
        return _not_stated(lab, key, label)
    shown = lab.value(path, value)
    return SynopsisItem(key, label, shown, True, shown)


def _labelled(lab: Labels, key: str, path: str, value: object) -> SynopsisItem:
    """A datum read with its name ("SSTR imaging: positive")."""
    label = lab.field(path)
    if value is None:
        return _not_stated(lab, key, label)
    shown = lab.value(path, value)
    return SynopsisItem(key, label, shown, True, f"{label}{lab['colon']} {shown}")


def _grade(lab: Labels, patient: Patient, rec: Recommendation) -> SynopsisItem:
    """The derived grade with the count it rests on: Ki-67, else the mitotic count."""
    c = lab["colon"]
    grade = rec.derived.get("grade")
    known = grade is not None and grade != "unknown"
    parts = [lab.derived_value("grade", grade) if known else f"{lab['grade']}{c} {lab['not_stated']}"]
    tumour = patient.tumour
    if tumour.ki67_percent is not None:
        parts.append(f"{lab.field('tumour.ki67_percent')} {lab.value('tumour.ki67_percent', tumour.ki67_percent)}")
    elif tumour.mitoses_per_2mm2 is not None:
        parts.append(f"{lab.field('tumour.mitoses_per_2mm2')} "
                     f"{lab.value('tumour.mitoses_per_2mm2', tumour.mitoses_per_2mm2)}")
    else:
        parts.append(f"{lab.field('tumour.ki67_percent')}{c} {lab['not_stated']}")
    text = ", ".join(parts)
    return SynopsisItem("grade", lab["synopsis_grade"], text, known, text)


def _comorbidities(lab: Labels, patient: Patient, rec: Recommendation, kb: KnowledgeBase | None) -> SynopsisItem:
    """The comorbidities that set a safety level (all of them without the knowledge base)."""
    label = lab.field("comorbidities")
    # An empty list is "none" only when the file gives the list: the contract's default is empty too.
    if "comorbidities" not in patient.model_fields_set and not patient.carcinoid_heart_disease:
        return _not_stated(lab, "comorbidities", label)
    held = [c.value for c in patient.comorbidities]
    names = {c: lab.value("comorbidities", c) for c in held}
    if patient.carcinoid_heart_disease:
        held.append("carcinoid_heart_disease")
        names["carcinoid_heart_disease"] = lab.field("carcinoid_heart_disease")
    key = held if kb is None else [c for c in held if c in _limiting(rec, kb)]
    shown = [names[c].lower() if c == "carcinoid_heart_disease" else names[c] for c in key]
    others = len(held) - len(key)
    if others:
        shown.append(lab.fmt("synopsis_other_comorbidities", n=others))
    value = ", ".join(shown) or lab["none"]
    return SynopsisItem("comorbidities", label, value, True, f"{label}{lab['colon']} {value}")


def _limiting(rec: Recommendation, kb: KnowledgeBase) -> set[str]:
    """Comorbidities (and ``carcinoid_heart_disease``) named by a safety statement the recommendation applied."""
    applied = {
        arg.rule
        for options in (rec.anti_tumour, rec.antisecretory)
        for option in options
        for arg in option.arguments
        if arg.kind == "safety" and arg.safety_level is not None
    }
    applied.update(arg.rule for e in rec.excluded for arg in e.reasons)
    out: set[str] = set()
    for entry, _ in kb.matrix_entries:
        if entry.level == "none" or entry.id not in applied:
            continue
        for cid in entry.conditions:
            inside = kb.matrix_conditions[cid].inside if cid in kb.matrix_conditions else {}
            out.update(str(c) for c in inside.get("comorbidities", []))
            if inside.get("carcinoid_heart_disease") is True:
                out.add("carcinoid_heart_disease")
    return out
