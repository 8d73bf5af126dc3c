"""The case-mix catalogue of synthetic cohorts (``knowledge/catalogues/cohort-mix.yaml``), read and checked.

The catalogue says how often each value of each patient field is drawn by ``cds synth``
(:mod:`cds.cohort.synth`), conditionally on the values drawn before it, and where each
proportion comes from: a registry publication (SEER, European registries, ENETS guidance) or an
explicit modelling choice. It is not guideline knowledge: it never changes an evaluation and is
outside the knowledge version's content hash.

The checks here are structural (sources exist, a ``when`` names only variables drawn before,
band values have a range, every variable ends with a default row). That every generated patient
passes the input contract is checked by drawing them (``tests/test_batch.py``).

Examples
--------
>>> mix = load_cohort_mix()
>>> list(mix.variables)[:2]
['site', 'category']
>>> mix.variables["site"].field
'tumour.primary_site'
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cds.knowledge.layout import Layout
from cds.resources import knowledge_dir

#: A drawn value as the catalogue writes it: text, a whole number, a boolean, or null (not stated).
Scalar = str | int | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MixSource(_Strict):
    """A publication a proportion comes from, and the figures taken from it.

    Examples
    --------
    >>> MixSource(citation="Dasari A et al. JAMA Oncol 2017.", figures="52.7 % women").doi is None
    True
    """

    citation: str
    doi: str | None = None
    url: str | None = None
    figures: str = Field(description="The figures taken from this source, as published.")


class MixRow(_Strict):
    """One row of a variable: the weights of its values when ``when`` matches what was drawn before.

    Examples
    --------
    >>> row = MixRow.model_validate({"when": {"site": ["pancreas"]}, "weights": {"G1": 3, None: 1},
    ...                              "modelling_choice": True})
    >>> row.matches({"site": "pancreas"}, set()), row.matches({"site": "rectum"}, set())
    (True, False)
    >>> MixRow.model_validate({"weights": {"F": 1}})
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for MixRow
      Value error, a row names its sources or says modelling_choice: true [...]
    ...
    """

    when: dict[str, list[Scalar]] = Field(default_factory=dict)
    weights: dict[Scalar, float]
    sources: list[str] = Field(default_factory=list)
    modelling_choice: bool = False
    note: str = ""

    @model_validator(mode="after")
    def _provenance(self) -> MixRow:
        if not self.sources and not self.modelling_choice:
            raise ValueError("a row names its sources or says modelling_choice: true")
        if not self.weights or any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("weights must be >= 0 and not all 0")
        return self

    def matches(self, drawn: dict[str, Scalar], lists: set[str]) -> bool:
        """Whether this row applies given the values drawn so far.

        Parameters
        ----------
        drawn
            The raw values drawn so far, by variable (a band's name, a list's ``+``-joined text).
        lists
            The names of the list variables (matched when the list holds any value given).

        Returns
        -------
        bool
            True when every condition of ``when`` holds (a row without ``when`` always applies).

        Examples
        --------
        >>> row = MixRow.model_validate({"when": {"sites": ["liver"]}, "weights": {"x": 1}, "sources": ["s"]})
        >>> row.matches({"sites": "bone+liver"}, {"sites"}), row.matches({"sites": "bone"}, {"sites"})
        (True, False)
        """
        for name, allowed in self.when.items():
            value = drawn.get(name)
            if name in lists and isinstance(value, str):
                if not any(item in allowed for item in value.split("+")):
                    return False
            elif value not in allowed:
                return False
        return True


class MixVariable(_Strict):
    """One variable of the draw: the patient field it fills, its kind, its rows.

    Examples
    --------
    >>> load_cohort_mix().variables["ki67"].ranges["g1"]
    (0.5, 2.9)
    """

    field: str | None = Field(description="Dotted path of the patient field; null for a conditioning variable.")
    kind: Literal["value", "band", "list"] = "value"
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)
    decimals: int = Field(default=0, ge=0, le=6)
    rows: list[MixRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _shape(self) -> MixVariable:
        if self.rows[-1].when:
            raise ValueError("the last row is the default: it has no `when`")
        if self.kind == "band":
            for row in self.rows:
                for value in row.weights:
                    if value is not None and value not in self.ranges:
                        raise ValueError(f"band {value!r} has no range (ranges: {', '.join(self.ranges)})")
        for name, (low, high) in self.ranges.items():
            if low > high:
                raise ValueError(f"range {name}: {low} > {high}")
        return self


class CohortMix(_Strict):
    """The whole catalogue: the decision date, the sources, the variables in drawing order.

    Examples
    --------
    >>> mix = load_cohort_mix()
    >>> mix.as_of.isoformat(), "man_2018_seer" in mix.sources
    ('2026-01-15', True)
    """

    version: int
    as_of: dt.date
    sources: dict[str, MixSource]
    variables: dict[str, MixVariable]

    @model_validator(mode="after")
    def _references(self) -> CohortMix:
        problems: list[str] = []
        seen: set[str] = set()
        for name, var in self.variables.items():
            for i, row in enumerate(var.rows):
                problems += [f"variables.{name}.rows[{i}]: unknown source {s!r}" for s in row.sources
                             if s not in self.sources]
                problems += [f"variables.{name}.rows[{i}].when: {w!r} is not drawn before {name!r}"
                             for w in row.when if w not in seen]
            seen.add(name)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def cohort_mix_path() -> Path:
    """Where the catalogue lives (under the knowledge folder, so ``NETCDS_CONTENT`` applies).

    Returns
    -------
    Path
        ``knowledge/catalogues/cohort-mix.yaml``.

    Examples
    --------
    >>> cohort_mix_path().name
    'cohort-mix.yaml'
    """
    return Layout(knowledge_dir()).cohort_mix


def load_cohort_mix(path: Path | None = None) -> CohortMix:
    """Read and check the case-mix catalogue.

    Parameters
    ----------
    path
        Another catalogue file (tests); the knowledge folder's by default.

    Returns
    -------
    CohortMix
        The validated catalogue.

    Raises
    ------
    pydantic.ValidationError
        The file breaks the catalogue's shape (an unknown source, a ``when`` on a variable drawn
        later, a band without a range ...).

    Examples
    --------
    >>> load_cohort_mix().variables["sex"].rows[0].sources
    ['dasari_2017_jama_oncol']
    """
    return _load_cohort_mix(path or cohort_mix_path())


@functools.cache
def _load_cohort_mix(path: Path) -> CohortMix:
    # cached per file: the default follows NETCDS_CONTENT, a test's own file is read once
    with path.open(encoding="utf-8") as handle:
        return CohortMix.model_validate(yaml.safe_load(handle))
