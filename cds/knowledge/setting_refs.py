"""``{setting:NAME}`` in knowledge texts: the value of a named setting, written where the text needs it.

A rule that reads a practice setting (``{setting: rapid_progression_months}`` in its ``when``) and
states the threshold in its ``because`` text would repeat the number, and the text would go stale the
day the setting changes. Instead the author writes the placeholder (``Ki-67 <= {setting:x} %``) and
the loader puts in the value in force, formatted for the text's language, once, as the knowledge
loads: every reader (engine, explanations, matrix, pathway pictures) sees the final text, and the
text as written stays on :attr:`cds.knowledge.schema.Text.written`.

The placeholder holds only the number: the author writes the unit (``{setting:x} mL/min``).
Other braces in texts are left alone (the planner's alert texts carry ``{horizon_years}`` fields of
their own). This module holds the text functions and the lint check that finds a number written
by hand where a placeholder belongs (:func:`stale_setting_numbers`); it knows nothing of files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from cds.errors import Problem
from cds.knowledge.schema import Text
from cds.model.recommendation import Lang
from cds.model.units import fmt_number
from cds.suggest import closest

# Anything that starts like a placeholder; what does not then match PLACEHOLDER is malformed.
MARKER = "{setting"
PLACEHOLDER = re.compile(r"\{setting:([a-z][a-z0-9_]*)\}")
_STARTS = re.compile(re.escape(MARKER))
# A number as texts write it: 30, 1.5 (English), 1,5 (French). Not part of an identifier
# (G3, DP-123, Ki-67, NETTER-1) nor of a longer number; a range's ends (3-6) do count.
_NUMBER = re.compile(r"(?<![\w.,])(?<![A-Za-z]-)(\d+(?:[.,]\d+)?)(?![\w]|[.,]\d)")


class SettingRefError(ValueError):
    """A placeholder that cannot be filled; ``code`` is the problem code the loader reports."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def placeholders(text: str) -> list[str]:
    """The setting names the text refers to, in order; raise SettingRefError on a malformed one.

    >>> placeholders("eGFR < {setting:prrt_avoid_egfr_ml_min} mL/min, {horizon_years} years")
    ['prrt_avoid_egfr_ml_min']
    >>> try:
    ...     placeholders("Ki-67 <= {setting: x} %")
    ... except SettingRefError as exc:
    ...     print(exc.code, str(exc)[:36])
    setting_placeholder malformed placeholder '{setting: x}'
    """
    names: list[str] = []
    for start in _STARTS.finditer(text):
        match = PLACEHOLDER.match(text, start.start())
        if match is None:
            end = text.find("}", start.start())
            written = text[start.start(): end + 1 if end >= 0 else start.start() + 30]
            raise SettingRefError(
                "setting_placeholder",
                f"malformed placeholder {written!r}: write {{setting:NAME}}, "
                "NAME a setting name (lower case, digits, _)",
            )
        names.append(match.group(1))
    return names


def format_value(value: Any, lang: Lang) -> str:
    """A setting's value as a text writes it: integers without ``.0``, a decimal comma in French.

    >>> format_value(30.0, "en"), format_value(1.5, "en"), format_value(1.5, "fr"), format_value(100, "fr")
    ('30', '1.5', '1,5', '100')
    """
    if isinstance(value, bool):
        return str(value).lower()
    if not isinstance(value, (int, float)):
        return str(value)
    return fmt_number(value, lang)


def substitute(text: str, settings: Mapping[str, Any], lang: Lang) -> str:
    """The text with each ``{setting:NAME}`` replaced by the value in force.

    Raise SettingRefError for a malformed placeholder or an unknown setting (with the closest names).

    >>> substitute("eGFR < {setting:a} mL/min ({b})", {"a": 30.0}, "en")
    'eGFR < 30 mL/min ({b})'
    >>> try:
    ...     substitute("{setting:prrt_avoid_egfr}", {"prrt_avoid_egfr_ml_min": 30}, "fr")
    ... except SettingRefError as exc:
    ...     print(exc)
    unknown setting 'prrt_avoid_egfr' in {setting:prrt_avoid_egfr}; did you mean 'prrt_avoid_egfr_ml_min'?
    """
    if MARKER not in text:
        return text
    for name in placeholders(text):
        if name not in settings:
            close = closest(name, settings, n=3)
            hint = (
                "; did you mean " + " or ".join(repr(c) for c in close) + "?"
                if close else f"; known settings: {', '.join(sorted(settings))}"
            )
            raise SettingRefError("unknown_setting", f"unknown setting {name!r} in {{setting:{name}}}{hint}")
    return PLACEHOLDER.sub(lambda m: format_value(settings[m.group(1)], lang), text)


def resolver(settings: Mapping[str, Any]) -> Callable[[str, str], str]:
    """What the loader hands to :class:`~cds.knowledge.schema.Text` validation: (text, lang) -> final text."""

    def resolve(text: str, lang: str) -> str:
        try:
            return substitute(text, settings, "fr" if lang == "fr" else "en")
        except SettingRefError as exc:  # say which of the two texts
            raise SettingRefError(exc.code, f"{lang} text: {exc}") from None

    return resolve


# ------------------------------------------------------------------ lint: numbers written by hand


def numbers_in(text: str) -> list[tuple[str, float]]:
    """The numbers a text states, outside placeholders: each as written and as a value.

    Identifiers are not numbers (G3, DP-123, Ki-67, NETTER-1, N0); both ends of a range are.

    >>> numbers_in("Ki-67 10-55 %, G3, ECOG <= 2, {setting:x} %, 1,5 mg")
    [('10', 10.0), ('55', 55.0), ('2', 2.0), ('1,5', 1.5)]
    """
    text = PLACEHOLDER.sub(" ", text)
    return [(m.group(1), float(m.group(1).replace(",", "."))) for m in _NUMBER.finditer(text)]


def bare_numbers(text: str, value: Any) -> list[str]:
    """The numbers in ``text``, outside placeholders, equal to ``value`` (as written: ``30``, ``1,5``).

    >>> bare_numbers("eGFR < 30 mL/min (DP-30, 30.5, G30); {setting:x} % of 3-30", 30)
    ['30', '30']
    >>> bare_numbers("1,5 mg", 1.5), bare_numbers("Ki-67 > 67", 67)
    (['1,5'], ['67'])
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return []
    return [written for written, number in numbers_in(text) if number == value]


@dataclass(frozen=True)
class SettingUse:
    """Something shown to people (a rule, an edge, a matrix row) whose condition reads named settings."""

    file: str
    loc: str
    settings: frozenset[str]
    texts: tuple[tuple[str, Text], ...]  # (where in the item, e.g. "because", the text)


def texts_in(model: BaseModel, skip: Collection[str] = ()) -> Iterator[tuple[str, Text]]:
    """Every bilingual text of a knowledge item, with its place (``because``, ``hypotheses[1].label``).

    ``skip`` names fields not to enter (a pathway's edges, which are items of their own).
    """
    for name in type(model).model_fields:
        if name in skip:
            continue
        yield from _texts(getattr(model, name), name)


def _texts(value: Any, where: str) -> Iterator[tuple[str, Text]]:
    if isinstance(value, Text):
        yield where, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _texts(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _texts(item, f"{where}[{i}]")


def stale_setting_numbers(uses: Iterable[SettingUse], settings: Mapping[str, Any]) -> list[Problem]:
    """Texts that state, as a bare number, the value of a setting their item reads.

    Such a number goes stale when the setting changes: write ``{setting:NAME}`` instead. (A number
    that means something else and happens to be equal is reworded, e.g. in words.)
    """
    out: list[Problem] = []
    for use in uses:
        for name in sorted(use.settings):
            if name not in settings:
                continue
            value = settings[name]
            for where, text in use.texts:
                for lang in ("en", "fr"):
                    written = getattr(text.written, lang)
                    found = bare_numbers(written, value)
                    if found:
                        out.append(Problem(
                            "stale_setting_number", use.file, f"{use.loc}.{where}.{lang}",
                            f"states {found[0]}, the value of the setting {name} this item reads: "
                            f"write {{setting:{name}}} so the text follows the setting",
                        ))
    return out
