"""Recognise drugs and procedures in FHIR codes, and the catalogue options they may stand for.

Shared by the Bundle mapper (prior treatments) and the CDS Hooks order checks
(:mod:`cds.fhir.orders`). It reads raw JSON and fhir.resources objects alike, because the hooks
request carries draft orders as raw resources. Codes come first (ATC, RxNorm, SNOMED CT); the
text of the code (``text``, ``display``) is read only when no code is recognised, word by word,
so that "rfa" never matches "surface".
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cds.fhir.codes import FhirCodes, ProcedureCodes


def get(obj: Any, name: str) -> Any:
    """An element of a raw JSON dict or of a fhir.resources object (None when absent).

    Parameters
    ----------
    obj
        A mapping, a pydantic FHIR model, or None.
    name
        The element's JSON name.

    Returns
    -------
    Any
        The element, or None.

    Examples
    --------
    >>> get({"text": "CAPTEM"}, "text"), get(None, "text")
    ('CAPTEM', None)
    """
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def as_date(value: Any) -> dt.date | None:
    """The calendar day of a FHIR date, dateTime or instant (parsed or still text); None when there is none.

    Parameters
    ----------
    value
        A ``date`` / ``datetime`` (fhir.resources gives those) or the JSON string (``2024-03-01``,
        ``2024-03-01T10:00:00+01:00``); a partial date (``2024-03``) has no day.

    Returns
    -------
    datetime.date or None
        The day, or None.

    Examples
    --------
    >>> as_date("2024-03-01T10:00:00+01:00"), as_date(dt.datetime(2024, 3, 1, 9)), as_date("2024-03")
    (datetime.date(2024, 3, 1), datetime.date(2024, 3, 1), None)
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def codings(concept: Any) -> list[tuple[str, str, str]]:
    """(system, code, display) of a CodeableConcept's codings.

    Parameters
    ----------
    concept
        A CodeableConcept (raw or parsed), or None.

    Returns
    -------
    list of tuple
        One triple per coding that has a code or a display.

    Examples
    --------
    >>> codings({"coding": [{"system": "http://www.whocc.no/atc", "code": "L01AX03"}]})
    [('http://www.whocc.no/atc', 'L01AX03', '')]
    """
    out = []
    for coding in get(concept, "coding") or []:
        code, display = get(coding, "code") or "", get(coding, "display") or ""
        if code or display:
            out.append((get(coding, "system") or "", code, display))
    return out


def texts(concept: Any) -> list[str]:
    """The words a person wrote for a concept: its ``text`` and its codings' displays, lower case.

    Parameters
    ----------
    concept
        A CodeableConcept (raw or parsed), or None.

    Returns
    -------
    list of str
        Non-empty texts.

    Examples
    --------
    >>> texts({"text": "Lanreotide 120 mg", "coding": [{"display": "Somatuline"}]})
    ['lanreotide 120 mg', 'somatuline']
    """
    found = [get(concept, "text") or ""] + [d for _, _, d in codings(concept)]
    return [t.lower() for t in found if t]


@functools.cache
def _word(pattern: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(pattern.lower()) + r"(?![a-z0-9])")


def mentions(text: str, patterns: Iterable[str]) -> str | None:
    """The first pattern found in the text as whole words (so "rfa" is not found in "surface").

    Parameters
    ----------
    text
        Lower-case text.
    patterns
        Words or phrases.

    Returns
    -------
    str or None
        The pattern found, or None.

    Examples
    --------
    >>> mentions("rfa of segment vi", ["rfa"]), mentions("surface", ["rfa"])
    ('rfa', None)
    """
    return next((p for p in patterns if _word(p).search(text)), None)


@dataclass(frozen=True)
class Found:
    """What a concept was recognised as, with the codes that said so.

    ``codes`` holds ``system|code`` of the recognised codings; ``how`` says it in words
    ("ATC L01AX03", "text 'temozolomide'") for the mapping report.

    Examples
    --------
    >>> Found(("temozolomide",), ("http://www.whocc.no/atc|L01AX03",), "ATC L01AX03").ids
    ('temozolomide',)
    """

    ids: tuple[str, ...]
    codes: tuple[str, ...]
    how: str


def drugs_in(concepts: Iterable[Any], codes: FhirCodes) -> Found:
    """The catalogue drugs named by some CodeableConcepts (a medication's code and its ingredients).

    Parameters
    ----------
    concepts
        CodeableConcepts, raw or parsed.
    codes
        The code catalogue.

    Returns
    -------
    Found
        Drug ids in catalogue order; empty when none is recognised.

    Examples
    --------
    >>> from cds.fhir.codes import load_codes
    >>> drugs_in([{"text": "Temodal 100 mg"}], load_codes())
    Found(ids=('temozolomide',), codes=(), how="text 'temodal'")
    """
    table = codes.treatments
    atc, rxnorm = set(table.systems.atc), set(table.systems.rxnorm)
    concepts = list(concepts)
    ids: dict[str, None] = {}
    seen: list[str] = []
    hows: list[str] = []
    for concept in concepts:
        for system, code, _ in codings(concept):
            for drug_id, drug in table.drugs.items():
                refs = drug.atc if system in atc else drug.rxnorm if system in rxnorm else []
                if any(r.code == code for r in refs):
                    ids[drug_id] = None
                    seen.append(f"{system}|{code}")
                    hows.append(f"{'ATC' if system in atc else 'RxNorm'} {code}")
    if not ids:
        for concept in concepts:
            for text in texts(concept):
                for drug_id, drug in table.drugs.items():
                    word = mentions(text, drug.names)
                    if word is not None and drug_id not in ids:
                        ids[drug_id] = None
                        hows.append(f"text {word!r}")
    order = list(table.drugs)
    return Found(tuple(sorted(ids, key=order.index)), tuple(dict.fromkeys(seen)), ", ".join(dict.fromkeys(hows)))


def procedure_in(concept: Any, codes: FhirCodes) -> tuple[ProcedureCodes | None, Found]:
    """The catalogue procedure a Procedure's or ServiceRequest's code names, if any.

    Codes win over text; among texts the first procedure listed in the catalogue wins (a "right
    hemicolectomy" is not read as any colectomy). Codes and words under ``not`` never match
    (a radiofrequency ablation for arrhythmia is not a liver ablation).

    Parameters
    ----------
    concept
        The CodeableConcept, raw or parsed.
    codes
        The code catalogue.

    Returns
    -------
    tuple
        The procedure row (or None) and what recognised it.

    Examples
    --------
    >>> from cds.fhir.codes import load_codes
    >>> row, found = procedure_in({"text": "TACE segment VII"}, load_codes())
    >>> row.id, found.how
    ('liver_embolization', "text 'tace'")
    >>> procedure_in({"text": "Radiofrequency ablation for atrial fibrillation"}, load_codes())[0] is None
    True
    """
    table = codes.treatments
    snomed = set(table.systems.snomed)
    coded = [(s, c) for s, c, _ in codings(concept) if s in snomed and c]
    words = texts(concept)
    for row in table.procedures:
        if any(c in {r.code for r in row.not_} for _, c in coded) or any(
                mentions(t, row.not_names) for t in words):
            continue
        hit = next(((s, c) for s, c in coded if c in {r.code for r in row.snomed}), None)
        if hit is not None:
            return row, Found((row.id,), (f"{hit[0]}|{hit[1]}",), f"SNOMED CT {hit[1]}")
    for row in table.procedures:
        if any(c in {r.code for r in row.not_} for _, c in coded) or any(
                mentions(t, row.not_names) for t in words):
            continue
        word = next((w for w in (mentions(t, row.names) for t in words) if w), None)
        if word is not None:
            return row, Found((row.id,), (), f"text {word!r}")
    return None, Found((), (), "")


def options_of_drugs(drug_ids: Iterable[str], codes: FhirCodes) -> tuple[str, ...]:
    """Every option a drug (or drugs ordered together) could be part of: its own, then its combinations'.

    Parameters
    ----------
    drug_ids
        Catalogue drug ids.
    codes
        The code catalogue.

    Returns
    -------
    tuple of str
        Option ids, without repeats.

    Examples
    --------
    >>> from cds.fhir.codes import load_codes
    >>> options_of_drugs(["temozolomide"], load_codes())
    ('capecitabine_temozolomide',)
    >>> options_of_drugs(["fluorouracil"], load_codes())
    ('streptozocin_5fu', 'folfiri', 'oxaliplatin_based')
    """
    table = codes.treatments
    out: dict[str, None] = {}
    for drug_id in drug_ids:
        for option in table.drugs[drug_id].options:
            out[option] = None
        for combo in table.combinations:
            if drug_id in combo.drugs:
                out[combo.option] = None
    return tuple(out)
