"""Ki-67 and mitoses read from a pathology report's words, when no structured value exists.

Pathology reports often carry the proliferation index only in the conclusion ("Ki-67 index 12 %").
The mapper reads it there as a last resort, says so (status ``derived``, the phrase quoted), and
never turns a range ("Ki-67 3-5 %"), a bound ("< 2 %") or a count per high-power fields (whose area
varies between microscopes) into a value: those make the field ambiguous.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from cds.fhir.treatments import get

_NUM = r"(\d+(?:[.,]\d+)?)"
_KI67 = re.compile(
    r"(?:ki[- ]?67|mib[- ]?1)[^0-9<>≤%\n]{0,40}?(?P<cmp>[<>≤≥]\s*)?" + _NUM
    + r"(?:\s*(?:-|–|to)\s*" + _NUM + r")?\s*%",
    re.IGNORECASE,
)
_AREA = r"(?P<area>2\s*mm(?:2|²|\^2)|mm(?:2|²|\^2)|\d*\s*hpf|\d*\s*high[- ]power fields?)"
_MITOSES = [
    re.compile(r"mito(?:sis|ses|tic)[a-z ]{0,20}?[:=]?\s*(?P<cmp>[<>≤≥]\s*)?" + _NUM
               + r"(?:\s*(?:-|–|to)\s*" + _NUM + r")?\s*(?:mitoses\s*)?(?:/|per)\s*" + _AREA, re.IGNORECASE),
    re.compile(r"(?P<cmp>[<>≤≥]\s*)?" + _NUM + r"(?:\s*(?:-|–|to)\s*" + _NUM + r")?\s*mito(?:ses|sis|tic figures)"
               + r"\s*(?:/|per)\s*" + _AREA, re.IGNORECASE),
]


@dataclass(frozen=True)
class Reading:
    """One value found in report text, or why the phrase found gives none.

    Examples
    --------
    >>> Reading("tumour.ki67_percent", 12.0, "Ki-67 12 %").value
    12.0
    """

    field: str
    value: float | None
    phrase: str
    why: str = ""


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def read_text(text: str) -> list[Reading]:
    """Ki-67 (%) and mitoses (per 2 mm²) stated in free text.

    Parameters
    ----------
    text
        A report's conclusion or its plain-text form.

    Returns
    -------
    list of Reading
        Values found; a range, a bound or an unconvertible area gives a reading without value and the reason.

    Examples
    --------
    >>> [(r.field, r.value) for r in read_text("NET G2, Ki-67 index: 12 %; 3 mitoses per 2 mm2.")]
    [('tumour.ki67_percent', 12.0), ('tumour.mitoses_per_2mm2', 3.0)]
    >>> read_text("Ki-67 3-5 %")[0].why
    'a range, not a value'
    """
    out: list[Reading] = []
    for match in _KI67.finditer(text):
        phrase = match.group(0).strip()
        if match.group("cmp"):
            out.append(Reading("tumour.ki67_percent", None, phrase, "a bound, not a value"))
        elif match.group(3):
            out.append(Reading("tumour.ki67_percent", None, phrase, "a range, not a value"))
        else:
            out.append(Reading("tumour.ki67_percent", _number(match.group(2)), phrase))
    seen: set[tuple[int, int]] = set()
    for pattern in _MITOSES:
        for match in pattern.finditer(text):
            if any(a <= match.start() < b or a < match.end() <= b for a, b in seen):
                continue
            seen.add(match.span())
            phrase = match.group(0).strip()
            area = re.sub(r"\s+", "", match.group("area").lower())
            if match.group("cmp"):
                out.append(Reading("tumour.mitoses_per_2mm2", None, phrase, "a bound, not a value"))
            elif match.group(3):
                out.append(Reading("tumour.mitoses_per_2mm2", None, phrase, "a range, not a value"))
            elif area.startswith("2mm"):
                out.append(Reading("tumour.mitoses_per_2mm2", _number(match.group(2)), phrase))
            elif area.startswith("mm"):
                out.append(Reading("tumour.mitoses_per_2mm2", _number(match.group(2)) * 2, phrase))
            else:
                out.append(Reading("tumour.mitoses_per_2mm2", None, phrase,
                                   "counted per high-power fields, whose area varies: not convertible to 2 mm²"))
    return out


def report_texts(resource: Any) -> list[str]:
    """The conclusion and the text/plain presented forms of a DiagnosticReport.

    Parameters
    ----------
    resource
        A DiagnosticReport (parsed or raw).

    Returns
    -------
    list of str
        Texts, conclusion first; an attachment that does not decode is skipped.

    Examples
    --------
    >>> report_texts({"conclusion": "Ki-67 4 %", "presentedForm": [
    ...     {"contentType": "text/plain", "data": "TWl0b3NlczogMSBwZXIgMiBtbTI="}]})
    ['Ki-67 4 %', 'Mitoses: 1 per 2 mm2']
    """
    out = [get(resource, "conclusion") or ""]
    for form in get(resource, "presentedForm") or []:
        kind = (get(form, "contentType") or "").split(";")[0].strip().lower()
        data = get(form, "data")
        if kind != "text/plain" or not data:
            continue
        try:
            raw = data if isinstance(data, bytes) else base64.b64decode(str(data), validate=True)
            out.append(raw.decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
    return [t for t in out if t]
