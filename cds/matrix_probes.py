"""Check every stated cell of the contraindication matrix on real evaluations.

For each matrix statement with a level (exclude, avoid, caution), each of its options and
each of its conditions, a *probe* patient for whom the pathways propose the option (listed per
option in ``knowledge/catalogues/safety-matrix/probes.yaml`` by vignette id) is evaluated twice:

- **just inside** the condition (the row's ``inside`` patch added to the patient): the option
  must respect the level: not ranked in the statement's tracks (exclude), ranked not
  recommended and after every option without ``avoid`` (avoid), not recommended above consider
  (caution); and the statement must be among its reasons unless a stronger one already holds;
- **just outside** it (the row's ``outside`` patch, where the row has one): the statement must
  not act on the option.

When no probe still proposes the option once the condition holds (PRRT after a course stopped
for toxicity), the pathways withhold it there, which is stricter than the ceiling: the cell holds.

So each cell is tested on the engine exactly as a board would see it, and a change to a row, a
statement, a pathway or the ranking that breaks a ceiling fails here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cds.engine import Engine
from cds.engine.engine import EvaluationDetail
from cds.knowledge import conditions as cond
from cds.knowledge.layout import Layout
from cds.knowledge.schema import MatrixEntry
from cds.model.patient import Patient
from cds.model.recommendation import Recommendation, Track

_MERGED_LISTS = ("comorbidities", "prior_treatments")


@dataclass(frozen=True)
class CellResult:
    """The check of one option under one condition for one statement.

    Attributes
    ----------
    entry
        The matrix statement (its rule id).
    option
        The option checked.
    condition
        The matrix condition (row) checked.
    level
        The statement's level: exclude, avoid or caution.
    probe
        The vignette whose patient served as the probe; None when no probe proposes the option.
    failures
        What went wrong, in words; empty when the cell holds.
    fired
        Rules and edges fired on the probe's evaluations (for the coverage of the knowledge).

    Examples
    --------
    >>> result = CellResult("safety.prrt.pregnancy", "prrt", "pregnancy", "exclude", "pnet-met-g2-prrt", ())
    >>> result.ok
    True
    """

    entry: str
    option: str
    condition: str
    level: str
    probe: str | None
    failures: tuple[str, ...]
    fired: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        """True when the cell holds (no failure)."""
        return not self.failures


def probes_path(engine: Engine) -> Path:
    """Where the probe list of the engine's knowledge is: ``vignettes/matrix/probes.yaml``.

    Parameters
    ----------
    engine
        The engine whose knowledge holds the matrix.

    Returns
    -------
    Path
        The file (which may not exist: then no option has a probe).

    Examples
    --------
    >>> from cds import default_engine
    >>> probes_path(default_engine()).relative_to(default_engine().kb.root).as_posix()
    'catalogues/safety-matrix/probes.yaml'
    """
    return Layout(engine.kb.root).matrix_probes


def load_probes(engine: Engine) -> dict[str, list[str]]:
    """Option -> ids of the vignettes whose patient serves as a probe for it.

    Parameters
    ----------
    engine
        The engine whose knowledge holds the probe list (:func:`probes_path`).

    Returns
    -------
    dict
        Option id -> vignette ids, in file order; empty when there is no probe list.

    Examples
    --------
    >>> from cds import default_engine
    >>> probes = load_probes(default_engine())
    >>> all(isinstance(v, str) for v in probes["prrt"])
    True
    """
    path = probes_path(engine)
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): [str(v) for v in vs] for k, vs in (data.get("probes") or {}).items()}


def with_patch(patient: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The patient with the patch applied: nested objects merged, comorbidities and prior
    treatments appended, anything else replaced.

    Parameters
    ----------
    patient
        A patient as plain data (the input contract); not modified.
    patch
        Fields to apply, nested the same way (a matrix row's ``inside`` or ``outside``).

    Returns
    -------
    dict
        A new patient (deep copy) with the patch applied.

    Examples
    --------
    >>> with_patch({"labs": {"egfr_ml_min": 90}, "comorbidities": ["cirrhosis"]},
    ...            {"labs": {"egfr_ml_min": 29}, "comorbidities": ["pregnancy"]})
    {'labs': {'egfr_ml_min': 29}, 'comorbidities': ['cirrhosis', 'pregnancy']}
    """
    out = copy.deepcopy(dict(patient))
    for key, value in patch.items():
        if key in _MERGED_LISTS:
            out[key] = [*out.get(key, []), *[v for v in value if v not in out.get(key, [])]]
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = with_patch(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def check_cells(
    engine: Engine, patients: Mapping[str, Mapping[str, Any]], options: Iterable[str] | None = None
) -> list[CellResult]:
    """Check every stated cell; ``patients`` maps vignette ids to their patient.

    Parameters
    ----------
    engine
        The engine to evaluate the probes with (its knowledge holds the matrix).
    patients
        Vignette id -> its patient as plain data (:func:`cds.vignettes.vignette_patients`).
    options
        Check only the cells of these options; None for every option.

    Returns
    -------
    list of CellResult
        One per (statement with a level, option, condition), in the order of the statements.
    """
    kb = engine.kb
    probes = load_probes(engine)
    wanted = set(options) if options is not None else None
    evaluate = _Evaluations(engine, patients)
    results: list[CellResult] = []
    for entry, _ in kb.matrix_entries:
        if entry.level == "none":
            continue
        for option in entry.options:
            if wanted is not None and option not in wanted:
                continue
            tracks: list[Track] = [entry.track] if entry.track else list(kb.options[option].tracks)
            for condition in entry.conditions:
                results.append(_check_cell(evaluate, entry, option, condition, tracks,
                                           probes.get(option, [])))
    return results


class _Evaluations:
    """The probes' evaluations, each made once: a probe with a row's ``inside`` or ``outside``
    patch, or as it is. (Cells of options that share a probe reuse them: about 8 % of the calls.)"""

    def __init__(self, engine: Engine, patients: Mapping[str, Mapping[str, Any]]) -> None:
        self.engine = engine
        self.patients = patients
        self._done: dict[tuple[str, str, str], EvaluationDetail | None] = {}

    def __call__(self, probe: str, condition: str | None, side: str) -> EvaluationDetail | None:
        """The probe as it is (``condition`` None), or with the row's ``inside``/``outside`` patch."""
        key = (probe, condition or "", side)
        if key not in self._done:
            base = self.patients.get(probe)
            patch = None if condition is None else getattr(self.engine.kb.matrix_conditions[condition], side)
            self._done[key] = None if base is None else _evaluate(
                self.engine, base if patch is None else with_patch(base, patch))
        return self._done[key]


def _evaluate(engine: Engine, data: Mapping[str, Any]) -> EvaluationDetail | None:
    try:
        patient = Patient.model_validate(data)
    except ValidationError:
        return None
    return engine.evaluate_detail(patient, surveillance=False)


def _proposed(rec: Recommendation, option: str, tracks: list[Track]) -> bool:
    ranked = {(o.track, o.option) for o in rec.anti_tumour + rec.antisecretory}
    excluded = {(e.track, e.option) for e in rec.excluded}
    return any((t, option) in ranked or (t, option) in excluded for t in tracks)


def _check_cell(
    evaluate: _Evaluations, entry: MatrixEntry, option: str, condition: str, tracks: list[Track],
    probe_ids: list[str],
) -> CellResult:
    rows = evaluate.engine.kb.matrix_conditions
    row = rows[condition]
    for probe in probe_ids:
        in_detail = evaluate(probe, condition, "inside")
        if in_detail is None or not _proposed(in_detail.recommendation, option, tracks):
            continue
        inside = in_detail.recommendation
        failures = _inside_failures(inside, entry, option, tracks)
        fired = set(inside.trace.fired_rules)
        if row.outside is not None:
            out_detail = evaluate(probe, condition, "outside")
            if out_detail is None:
                failures.append(f"the probe {probe} with the 'outside' patch is not a valid patient")
            else:
                outside = out_detail.recommendation
                fired |= set(outside.trace.fired_rules)
                # Just outside this row may be inside another row of the same statement (ECOG 3
                # next to ECOG 4): the statement is then right to act.
                still_in = any(cond.evaluate_all(rows[c].when, out_detail.context) for c in entry.conditions)
                if not still_in and _acted(outside, entry.id, option, tracks):
                    failures.append(f"{entry.id} acts on {option} just outside {condition} "
                                    f"({row.outside})")
        return CellResult(entry.id, option, condition, entry.level, probe, tuple(failures),
                          frozenset(fired))
    # No probe proposes the option under the condition: if one proposes it without the
    # condition, the pathways themselves withhold it there, which is stricter than any ceiling.
    for probe in probe_ids:
        plain = evaluate(probe, None, "plain")
        if plain is not None and _proposed(plain.recommendation, option, tracks):
            return CellResult(entry.id, option, condition, entry.level, probe, (),
                              frozenset(plain.recommendation.trace.fired_rules))
    return CellResult(entry.id, option, condition, entry.level, None, (
        f"no probe patient proposes {option}: add a vignette id to vignettes/matrix/probes.yaml for {option}",))


def _acted(rec: Recommendation, rule: str, option: str, tracks: list[Track]) -> bool:
    for ranked in rec.anti_tumour + rec.antisecretory:
        if ranked.option == option and ranked.track in tracks and any(a.rule == rule for a in ranked.arguments):
            return True
    return any(e.option == option and e.track in tracks and any(a.rule == rule for a in e.reasons)
               for e in rec.excluded)


def _inside_failures(rec: Recommendation, entry: MatrixEntry, option: str, tracks: list[Track]) -> list[str]:
    failures: list[str] = []
    excluded = {(e.track, e.option) for e in rec.excluded}
    for track in tracks:
        ranked = rec.anti_tumour if track == "anti_tumour" else rec.antisecretory
        mine = next((o for o in ranked if o.option == option), None)
        if mine is None:
            continue  # excluded (by this statement or another), or not proposed on this track
        if entry.level == "exclude":
            failures.append(f"{option} ({track}) is ranked {mine.rank} although {entry.id} excludes it")
            continue
        if not any(a.rule == entry.id for a in mine.arguments):
            failures.append(f"{option} ({track}) does not carry {entry.id}")
        if entry.level == "avoid":
            if mine.category != "not_recommended" or mine.safety_level != "avoid":
                failures.append(f"{option} ({track}) is {mine.category} (flag {mine.safety_level}) under "
                                f"avoid")
            later = [o.option for o in ranked if o.rank > mine.rank and o.safety_level != "avoid"]
            if later:
                failures.append(f"{option} ({track}) avoided but ranked before {later}")
        elif entry.level == "caution" and mine.category == "recommended":
            failures.append(f"{option} ({track}) is recommended under a caution")
    if entry.level == "exclude" and not any((t, option) in excluded for t in tracks):
        failures.append(f"{option} is not listed as excluded under {entry.id}")
    return failures
