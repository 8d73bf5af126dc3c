"""Synthetic cohorts drawn from the case-mix catalogue (``cds synth``).

Each patient is drawn from ``knowledge/catalogues/cohort-mix.yaml`` (:mod:`cds.knowledge.cohort_mix`):
the variables in the catalogue's order, each from the first row whose conditions match the values
drawn before (a NEC gets a high Ki-67, a type 1 gastric NET is localized, an insulinoma is in the
pancreas). All clinical proportions are in the catalogue; this module only draws.

Patient ``i`` of seed ``s`` has its own random generator, seeded with ``"s:i"``: the cohort is
reproducible, and the first ``n`` patients of a larger cohort are the cohort of ``n`` (a benchmark
of 10,000 and one of 1,000,000 share their first 10,000 patients).

Examples
--------
>>> first = list(synth_patients(3, seed=7))
>>> first == list(synth_patients(3, seed=7)), [p["id"] for p in first]
(True, ['synth-7-0000000', 'synth-7-0000001', 'synth-7-0000002'])
>>> list(synth_patients(2, seed=7)) == first[:2]
True
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cds.knowledge.cohort_mix import CohortMix, MixRow, Scalar, load_cohort_mix


@dataclass(frozen=True)
class _Row:
    row: MixRow
    values: tuple[Scalar, ...]
    cumulative: tuple[float, ...]

    def draw(self, rng: random.Random) -> Scalar:
        point = rng.random() * self.cumulative[-1]
        return self.values[min(bisect.bisect_right(self.cumulative, point), len(self.values) - 1)]


def _compile(mix: CohortMix) -> list[tuple[str, list[_Row]]]:
    out: list[tuple[str, list[_Row]]] = []
    for name, var in mix.variables.items():
        rows = [_Row(row, tuple(row.weights), tuple(itertools.accumulate(row.weights.values()))) for row in var.rows]
        out.append((name, rows))
    return out


class Synthesizer:
    """Draws patients (plain data in the input contract) from a case-mix catalogue.

    Parameters
    ----------
    mix
        The catalogue (:func:`cds.knowledge.cohort_mix.load_cohort_mix` by default).
    as_of
        The decision date every patient carries (ISO); the catalogue's ``as_of`` by default.

    Examples
    --------
    >>> synth = Synthesizer()
    >>> patient = synth.patient(seed=1, index=0)
    >>> patient["as_of"], "primary_site" in patient["tumour"]
    ('2026-01-15', True)
    """

    def __init__(self, mix: CohortMix | None = None, as_of: str | None = None) -> None:
        self.mix = mix if mix is not None else load_cohort_mix()
        self.as_of = as_of if as_of is not None else self.mix.as_of.isoformat()
        self._plan = _compile(self.mix)
        self._lists = {name for name, var in self.mix.variables.items() if var.kind == "list"}

    def patient(self, seed: int, index: int) -> dict[str, Any]:
        """Draw patient ``index`` of the cohort of ``seed``.

        Parameters
        ----------
        seed
            The cohort's seed.
        index
            The patient's position in the cohort (from 0).

        Returns
        -------
        dict
            The patient as plain JSON data: ``id`` (``synth-<seed>-<index>``), ``as_of`` and the
            fields drawn; a field drawn as not stated is left out.

        Examples
        --------
        >>> synth = Synthesizer()
        >>> synth.patient(5, 42) == synth.patient(5, 42) != synth.patient(5, 43)
        True
        """
        rng = random.Random(f"{seed}:{index}")
        drawn: dict[str, Scalar] = {}
        data: dict[str, Any] = {"id": f"synth-{seed}-{index:07d}", "as_of": self.as_of}
        for name, rows in self._plan:
            var = self.mix.variables[name]
            row = next(r for r in rows if r.row.matches(drawn, self._lists))
            raw = row.draw(rng)
            drawn[name] = raw
            if var.field is None or raw is None:
                continue
            value: Any = raw
            if var.kind == "band":
                low, high = var.ranges[str(raw)]
                number = round(rng.uniform(low, high), var.decimals)
                value = int(number) if var.decimals == 0 else number
            elif var.kind == "list":
                value = [] if raw == "none" else str(raw).split("+")
            _put(data, var.field, value)
        return data


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def synth_patients(n: int, seed: int = 0, as_of: str | None = None, start: int = 0) -> Iterator[dict[str, Any]]:
    """The patients ``start`` to ``start + n - 1`` of the synthetic cohort of ``seed``.

    Parameters
    ----------
    n
        How many patients.
    seed
        The cohort's seed (the same seed gives the same patients).
    as_of
        The decision date (ISO); the catalogue's by default.
    start
        The index of the first patient.

    Yields
    ------
    dict
        One patient at a time, as plain JSON data in the input contract.

    Examples
    --------
    >>> [p["id"] for p in synth_patients(2, seed=3, start=10)]
    ['synth-3-0000010', 'synth-3-0000011']
    """
    synth = Synthesizer(as_of=as_of)
    for index in range(start, start + n):
        yield synth.patient(seed, index)
