"""Read the trial catalogue: each ``catalogues/trials/<trial-id>/trial.yaml``, checked with the knowledge.

The knowledge loader (:mod:`cds.knowledge.loader`) parses each file with :class:`~cds.trials.model.TrialSpec`,
checks every ``when`` against the fact vocabulary like any rule's, and asks :func:`trial_problems`
for what is particular to a trial (its folder, its criterion ids, its option ids). An empty or
absent catalogue is a catalogue with no trial.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from cds.trials.model import TrialSpec


@dataclass(frozen=True)
class LoadedTrial:
    """A trial of the knowledge: its spec (settings resolved in ``when``), its file and its folder.

    Examples
    --------
    >>> spec = TrialSpec.model_validate({"id": "x", "acronym": "X", "registry": {"nct": "NCT00000001"},
    ...     "title": "T", "phase": "2", "status": "recruiting", "status_checked_on": "2026-01-02", "criteria": [],
    ...     "sources": [{"label": "CT.gov", "url": "https://clinicaltrials.gov/study/NCT00000001"}]})
    >>> LoadedTrial(spec, "knowledge/catalogues/trials/x/trial.yaml", Path("x")).id
    'x'
    """

    spec: TrialSpec
    file: str
    folder: Path

    @property
    def id(self) -> str:
        """The trial's id (its folder's name)."""
        return self.spec.id


def trial_problems(spec: TrialSpec, folder: Path, options: Collection[str]) -> list[tuple[str, str, str]]:
    """What is wrong with a trial beyond its schema and its conditions: (code, place, message) triples.

    Parameters
    ----------
    spec
        The parsed trial.
    folder
        Its folder (named after the trial's id).
    options
        The option ids of the catalogue (``catalogues/options.yaml``).

    Returns
    -------
    list of (str, str, str)
        One triple per problem: a code, where (trial id or criterion id), what to do.

    Examples
    --------
    >>> spec = TrialSpec.model_validate({"id": "x", "acronym": "X", "registry": {"nct": "NCT00000001"},
    ...     "title": "T", "phase": "2", "status": "recruiting", "status_checked_on": "2026-01-02",
    ...     "options": ["prrt", "prtt"], "sources": [{"label": "CT.gov", "url": "https://clinicaltrials.gov/"}],
    ...     "criteria": [{"id": "a", "kind": "inclusion", "text": "A"}, {"id": "a", "kind": "exclusion", "text": "B"}]})
    >>> for problem in trial_problems(spec, Path("y"), ["prrt"]):
    ...     print(problem)
    ('trial_folder', 'x', "the folder of trial 'x' is named 'y': rename one so that they match")
    ('unknown_option', 'x.options', "option 'prtt' is not in catalogues/options.yaml")
    ('duplicate_id', 'x.criteria[a]', "criterion id 'a' is used twice in this trial")
    """
    out: list[tuple[str, str, str]] = []
    if folder.name != spec.id:
        out.append(("trial_folder", spec.id,
                    f"the folder of trial {spec.id!r} is named {folder.name!r}: rename one so that they match"))
    named = [("options", o) for o in spec.options]
    named += [(f"arms[{i}].options", o) for i, arm in enumerate(spec.arms) for o in arm.options]
    for where, option in named:
        if option not in options:
            out.append(("unknown_option", f"{spec.id}.{where}", f"option {option!r} is not in catalogues/options.yaml"))
    seen: set[str] = set()
    for criterion in spec.criteria:
        if criterion.id in seen:
            out.append(("duplicate_id", f"{spec.id}.criteria[{criterion.id}]",
                        f"criterion id {criterion.id!r} is used twice in this trial"))
        seen.add(criterion.id)
    return out
