"""The schema of a trial catalogue entry: ``knowledge/catalogues/trials/<trial-id>/trial.yaml``.

A trial names its registry records, its phase, its status **and the day that status was read**
(a status is not knowledge that stays true), where it runs, its arms and the catalogue options it
studies, and its eligibility criteria: each criterion is kept as registered (``text``) and, when
the condition language can say it, encoded (``when``). A criterion without ``when`` is shown to
the board as "to check"; it never decides.

Examples
--------
>>> trial = TrialSpec.model_validate({
...     "id": "demo-1", "acronym": "DEMO-1", "registry": {"nct": "NCT00000000"}, "title": "A demo trial",
...     "phase": "2", "status": "recruiting", "status_checked_on": "2026-12-07",
...     "criteria": [{"id": "site", "kind": "inclusion", "text": "Pancreatic NET",
...                   "when": [{"tumour.primary_site": "pancreas"}]},
...                  {"id": "measurable", "kind": "inclusion", "text": "Measurable disease (RECIST 1.1)"}],
...     "sources": [{"label": "ClinicalTrials.gov NCT00000000", "url": "https://clinicaltrials.gov/study/NCT00000000"}]})
>>> [c.encoded for c in trial.criteria], trial.status_checked_on.isoformat()
([True, False], '2026-12-07')
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: A trial's recruitment status, as ClinicalTrials.gov's ``overallStatus`` in lower snake case.
TrialStatus = Literal[
    "not_yet_recruiting", "recruiting", "active_not_recruiting", "completed", "terminated", "suspended",
    "withdrawn", "unknown",
]
#: The statuses under which a patient can still be enrolled (named by ``clinical_trial``).
OPEN_STATUSES: tuple[str, ...] = ("recruiting", "not_yet_recruiting")
#: A trial's phase as registered.
Phase = Literal["1", "1/2", "2", "2/3", "3", "4"]
#: Whether a criterion must hold (inclusion) or excludes when it holds (exclusion).
CriterionKind = Literal["inclusion", "exclusion"]

_SLUG = r"^[a-z0-9][a-z0-9_-]*$"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Registry(_Spec):
    """The registry records of a trial: its NCT number and/or its EU CT (or EudraCT) number.

    Examples
    --------
    >>> Registry(nct="NCT03972488").eu_ct is None
    True
    """

    nct: str | None = Field(default=None, pattern=r"^NCT\d{8}$", description="ClinicalTrials.gov identifier.")
    eu_ct: str | None = Field(
        default=None, pattern=r"^(\d{4}-\d{6}-\d{2}-\d{2}|\d{4}-\d{6}-\d{2})$",
        description="EU CT number (2023-501234-12-00) or EudraCT number (2019-001234-12).",
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> Registry:
        if self.nct is None and self.eu_ct is None:
            raise ValueError("a trial needs at least one registry id (nct or eu_ct)")
        return self


class Arm(_Spec):
    """One arm of a trial: its label as registered and the catalogue options it gives.

    Examples
    --------
    >>> Arm(label="177Lu-DOTATATE + octreotide LAR 30 mg", options=["prrt"]).options
    ['prrt']
    """

    label: str
    options: list[str] = Field(default_factory=list, description="Option ids (catalogues/options.yaml).")


class Criterion(_Spec):
    """One eligibility criterion: the registered text and, when it can be said, the condition.

    Examples
    --------
    >>> Criterion(id="ecog", kind="inclusion", text="ECOG 0-2", when=[{"$lte": {"ecog": 2}}]).encoded
    True
    """

    id: str = Field(pattern=_SLUG, description="Unique within the trial.")
    kind: CriterionKind = Field(
        description="inclusion: the patient must meet `when`; exclusion: `when` describes who is excluded."
    )
    text: str = Field(min_length=1, description="The criterion as registered (a faithful paraphrase is allowed).")
    when: list[dict[str, Any]] | None = Field(
        default=None,
        description="Condition language (all must hold); omitted when the criterion cannot be encoded "
                    "(it is then shown as 'to check').",
    )

    @property
    def encoded(self) -> bool:
        """True when the criterion has a condition (it can decide); False when it is text only."""
        return bool(self.when)


class TrialSource(_Spec):
    """Where the trial's facts were read: the registry record, a publication.

    Examples
    --------
    >>> TrialSource(label="ClinicalTrials.gov NCT03972488", url="https://clinicaltrials.gov/study/NCT03972488").url
    'https://clinicaltrials.gov/study/NCT03972488'
    """

    label: str
    url: str = Field(pattern=r"^https?://")


class TrialSpec(_Spec):
    """A trial of the catalogue (``trial.yaml``).

    Examples
    --------
    >>> spec = TrialSpec.model_validate({"id": "x", "acronym": "X", "registry": {"eu_ct": "2019-001234-12"},
    ...     "title": "T", "phase": "3", "status": "completed", "status_checked_on": "2026-01-02",
    ...     "criteria": [], "sources": [{"label": "EU CTR", "url": "https://euclinicaltrials.eu/"}]})
    >>> spec.status, spec.countries, spec.options
    ('completed', [], [])
    """

    id: str = Field(pattern=_SLUG, description="Lower-case slug, the name of the trial's folder.")
    acronym: str
    registry: Registry
    title: str = Field(description="Official title as registered.")
    phase: Phase
    status: TrialStatus
    status_checked_on: dt.date = Field(description="The day the status was read from the registry record.")
    countries: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = Field(
        default_factory=list, description="ISO 3166 alpha-2 codes, where known."
    )
    french_centres: list[str] = Field(default_factory=list, description="Names of French sites, where known.")
    arms: list[Arm] = Field(default_factory=list)
    options: list[str] = Field(default_factory=list, description="The catalogue options the trial studies.")
    criteria: list[Criterion]
    sources: list[TrialSource] = Field(min_length=1)
    note: str = Field(default="", description="What was left out and why.")
