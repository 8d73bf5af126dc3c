"""Match one patient against the trial catalogue: three-valued, criterion by criterion, with reasons.

Each encoded criterion is read with the one reader of the condition language
(:mod:`cds.knowledge.conditions`), in three values: a test on a field the patient does not have
(absent, null, ``unknown``, ``not_done``) is *unknown*, not false. Fields whose absence means
"none" (prior treatments, comorbidities, metastatic sites: :data:`~cds.knowledge.conditions.NOT_ASKED`)
are read as absent, as the rules read them; derived facts that could not be derived are unknown.

- inclusion: ``when`` true -> met; false -> failed (ineligible); unknown -> potentially eligible;
- exclusion: ``when`` true -> failed (ineligible); false -> met; unknown -> potentially eligible;
- no ``when``: "to check", never decides.

A trial is ``ineligible`` when a criterion fails, else ``potentially_eligible`` when one is
unknown, else ``eligible``. ``$and`` and ``$or`` follow Kleene's logic: ``false and unknown`` is
false, ``true or unknown`` is true, so a field that cannot change the answer is not asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cds.knowledge import conditions as cond
from cds.model.recommendation import Lang, RankedOption, TrialCriterion, TrialMatch, TrialVerdict
from cds.trials.model import OPEN_STATUSES, TrialSpec

#: The order trials are listed in: eligible, then potentially eligible, then ineligible.
VERDICT_ORDER: dict[str, int] = {"eligible": 0, "potentially_eligible": 1, "ineligible": 2}
#: The option the ranking names the matching trials under.
TRIAL_OPTION = "clinical_trial"
# Absence of these is "none", not missing data (the prior treatments, comorbidities, metastatic sites).
_ABSENT_MEANS_NONE = tuple(p for p in cond.NOT_ASKED if not p.startswith(("derived.", "candidate.", "node.",
                                                                          "pathway.")))
_WORDS: dict[str, dict[str, str]] = {
    "en": {"eligible": "eligible", "potentially_eligible": "potentially eligible"},
    "fr": {"eligible": "éligible", "potentially_eligible": "potentiellement éligible"},
}

Truth = bool | None


def truth(condition: cond.Condition, ctx: Mapping[str, Any]) -> tuple[Truth, frozenset[str]]:
    """A condition in three values, with the unknown fields that leave it undecided.

    Parameters
    ----------
    condition
        One condition of the condition language.
    ctx
        The context the rules read (:func:`cds.facts.build_context`, plus derived facts).

    Returns
    -------
    (bool or None, frozenset of str)
        True, False, or None when missing data leave it undecided; with the fields that would
        decide (empty unless None).

    Examples
    --------
    >>> ctx = {"tumour": {"ki67_percent": 5}, "disease": {}}
    >>> truth({"$gte": {"tumour.ki67_percent": 10}}, ctx)
    (False, frozenset())
    >>> truth({"$lte": {"ecog": 1}}, ctx)
    (None, frozenset({'ecog'}))
    >>> truth({"$or": [{"$lt": {"tumour.ki67_percent": 10}}, {"$lte": {"ecog": 1}}]}, ctx)  # true or unknown
    (True, frozenset())
    >>> truth({"comorbidities.heart_failure": True}, ctx)  # no comorbidity listed: none
    (False, frozenset())
    """
    return _compile(condition)(ctx)


Verdict3 = tuple[Truth, frozenset[str]]
_DECIDED: frozenset[str] = frozenset()


def _compile(condition: cond.Condition) -> Callable[[Mapping[str, Any]], Verdict3]:
    ((key, body),) = condition.items()
    if key in ("$and", "$or"):
        parts = [_compile(c) for c in body]
        if len(parts) == 1:  # a criterion's single condition: no wrapper to call through
            return parts[0]
        decisive = key == "$or"  # True decides an $or, False an $and

        def logical(ctx: Mapping[str, Any]) -> Verdict3:
            unknown: list[frozenset[str]] = []
            for part in parts:
                value, fields = part(ctx)
                if value is decisive:
                    return decisive, _DECIDED
                if value is None:
                    unknown.append(fields)
            if unknown:
                return None, frozenset().union(*unknown)
            return not decisive, _DECIDED

        return logical
    (leaf,) = list(cond.leaves(condition))
    path = leaf.path
    asks = leaf.op not in ("exists", "absent") and not path.startswith(_ABSENT_MEANS_NONE)
    undecided = frozenset({path})

    holds = cond.predicate(leaf)
    lookup, is_unknown = cond.lookup, cond.is_unknown

    def test(ctx: Mapping[str, Any]) -> Verdict3:
        actual = lookup(ctx, path)
        if asks and is_unknown(actual):
            return None, undecided
        return holds(actual), _DECIDED

    return test


@dataclass(frozen=True)
class _Criterion:
    """An encoded criterion ready to test: its compiled test and what a failure shows."""

    id: str
    kind: Literal["inclusion", "exclusion"]
    text: str
    test: Callable[[Mapping[str, Any]], Verdict3]
    words: str
    failed: TrialCriterion
    unknown: dict[frozenset[str], TrialCriterion]  # per set of missing fields, built on first need


@dataclass(frozen=True)
class _Plan:
    """What matching a trial needs, worked out once per catalogue entry (the same for every patient).

    The criteria compiled into closures (walking the condition syntax for every patient cost more
    than the tests), the criteria kept as text, a criterion's condition in words and the fields it
    tests: built once, as immutable output models shared by every match. ``outcomes`` keeps one
    frozen match per outcome (the met, failed and unknown criteria): patients fall into few of them.
    """

    trial: TrialSpec
    criteria: tuple[_Criterion, ...]
    to_check: tuple[TrialCriterion, ...]
    header: dict[str, Any]
    outcomes: dict[tuple[tuple[Any, ...], ...], TrialMatch] = field(default_factory=dict)


#: Matches kept per trial (9 to 343 outcomes on 6,000 synthetic patients; bounded: ~1 kB each).
_OUTCOMES_MAX = 512


def _plan(trial: TrialSpec) -> _Plan:
    criteria: list[_Criterion] = []
    to_check: list[TrialCriterion] = []
    for c in trial.criteria:
        if not c.when:
            to_check.append(TrialCriterion(id=c.id, kind=c.kind, text=c.text))
            continue
        words = " and ".join(cond.describe(x) for x in c.when)
        tested = sorted(cond.paths(c.when))
        criteria.append(_Criterion(
            id=c.id, kind=c.kind, text=c.text, test=_compile({"$and": list(c.when)}), words=words,
            failed=TrialCriterion(id=c.id, kind=c.kind, text=c.text, condition=words, fields=tested), unknown={}))
    header: dict[str, Any] = {
        "id": trial.id, "acronym": trial.acronym, "nct": trial.registry.nct, "eu_ct": trial.registry.eu_ct,
        "title": trial.title, "phase": trial.phase, "status": trial.status,
        "status_checked_on": trial.status_checked_on.isoformat(), "open": trial.status in OPEN_STATUSES,
        "link": trial.sources[0].url,
    }
    return _Plan(trial, tuple(criteria), tuple(to_check), header)


def _unknown(criterion: _Criterion, fields: frozenset[str]) -> TrialCriterion:
    shown = criterion.unknown.get(fields)
    if shown is None:
        shown = criterion.unknown[fields] = TrialCriterion(
            id=criterion.id, kind=criterion.kind, text=criterion.text, condition=criterion.words,
            fields=sorted(fields))
    return shown


def match_trial(trial: TrialSpec, ctx: Mapping[str, Any]) -> TrialMatch:
    """One trial against one patient: the verdict and, criterion by criterion, the reasons.

    The trial is planned for this call only; :class:`TrialMatcher` plans a catalogue once for many
    patients.

    Parameters
    ----------
    trial
        The catalogue entry (settings resolved in its conditions).
    ctx
        The patient's context, derived facts included (the engine's).

    Returns
    -------
    TrialMatch
        The verdict with the failed, unknown and to-check criteria, in the trial's order.

    Examples
    --------
    >>> trial = TrialSpec.model_validate({"id": "t", "acronym": "T", "registry": {"nct": "NCT00000001"},
    ...     "title": "T", "phase": "2", "status": "recruiting", "status_checked_on": "2026-01-02",
    ...     "sources": [{"label": "CT.gov", "url": "https://clinicaltrials.gov/study/NCT00000001"}],
    ...     "criteria": [
    ...         {"id": "pancreas", "kind": "inclusion", "text": "pNET", "when": [{"tumour.primary_site": "pancreas"}]},
    ...         {"id": "ecog", "kind": "inclusion", "text": "ECOG 0-1", "when": [{"$lte": {"ecog": 1}}]},
    ...         {"id": "recist", "kind": "inclusion", "text": "Measurable disease"}]})
    >>> m = match_trial(trial, {"tumour": {"primary_site": "pancreas"}})
    >>> m.verdict, m.met, [(c.id, c.fields) for c in m.unknown], [c.id for c in m.to_check]
    ('potentially_eligible', ['pancreas'], [('ecog', ['ecog'])], ['recist'])
    >>> match_trial(trial, {"tumour": {"primary_site": "rectum"}, "ecog": 0}).failed[0].condition
    'tumour.primary_site == pancreas'
    """
    return _match(_plan(trial), ctx)


def _match(plan: _Plan, ctx: Mapping[str, Any]) -> TrialMatch:
    met: list[str] = []
    failed: list[TrialCriterion] = []
    unknown: list[TrialCriterion] = []
    for c in plan.criteria:
        value, fields = c.test(ctx)
        if value is (c.kind == "inclusion"):
            met.append(c.id)
        elif value is None:
            unknown.append(_unknown(c, fields))
        else:
            failed.append(c.failed)
    # Patients fall into few outcomes per trial: one frozen match per outcome, shared (the failed
    # and unknown criteria are the plan's own objects, so their ids name them while it lives).
    key = (tuple(met), tuple(map(id, failed)), tuple(map(id, unknown)))
    match = plan.outcomes.get(key)
    if match is None:
        if len(plan.outcomes) >= _OUTCOMES_MAX:
            plan.outcomes.clear()
        verdict: TrialVerdict = "ineligible" if failed else "potentially_eligible" if unknown else "eligible"
        match = plan.outcomes[key] = TrialMatch(
            **plan.header, verdict=verdict, options=list(plan.trial.options), countries=list(plan.trial.countries),
            french_centres=list(plan.trial.french_centres), met=met, failed=failed, unknown=unknown,
            to_check=list(plan.to_check))
    return match


class TrialMatcher:
    """The catalogue's trials planned once, matched against patient after patient.

    An engine builds one over its knowledge: the criteria are compiled and the outputs that do not
    depend on the patient built when the knowledge is, not on each evaluation.

    Parameters
    ----------
    trials
        The catalogue's trials (settings resolved in their conditions).

    Examples
    --------
    >>> TrialMatcher([]).match({})
    []
    """

    def __init__(self, trials: Iterable[TrialSpec]) -> None:
        self._plans = tuple(_plan(t) for t in trials)

    def __bool__(self) -> bool:
        return bool(self._plans)

    def match(self, ctx: Mapping[str, Any]) -> list[TrialMatch]:
        """Every trial against one patient, sorted: eligible, potentially eligible, ineligible; open first; by id.

        Parameters
        ----------
        ctx
            The patient's context, derived facts included (the engine's).

        Returns
        -------
        list of TrialMatch
            One per trial, in a fixed order (the output is byte-identical from run to run). Patients
            with the same outcome for a trial share one frozen match.

        Examples
        --------
        >>> trial = TrialSpec.model_validate({"id": "t", "acronym": "T", "registry": {"nct": "NCT00000001"},
        ...     "title": "T", "phase": "2", "status": "recruiting", "status_checked_on": "2026-01-02",
        ...     "sources": [{"label": "CT.gov", "url": "https://clinicaltrials.gov/study/NCT00000001"}],
        ...     "criteria": [{"id": "ecog", "kind": "inclusion", "text": "ECOG 0-1", "when": [{"$lte": {"ecog": 1}}]}]})
        >>> matcher = TrialMatcher([trial])
        >>> [(m.id, m.verdict) for m in matcher.match({"ecog": 3})]
        [('t', 'ineligible')]
        >>> matcher.match({"ecog": 0})[0] is matcher.match({"ecog": 1})[0]  # one outcome, one shared match
        True
        """
        matches = [_match(plan, ctx) for plan in self._plans]
        return sorted(matches, key=lambda m: (VERDICT_ORDER[m.verdict], not m.open, m.id))


def trial_label(label: str, matches: Sequence[TrialMatch], lang: Lang) -> str:
    """The ``clinical_trial`` option's label naming the open trials the patient may enter.

    Parameters
    ----------
    label
        The option's catalogue label in ``lang``.
    matches
        The sorted matches (:meth:`TrialMatcher.match`).
    lang
        The output language.

    Returns
    -------
    str
        ``label`` followed by the open eligible trials, then the open potentially eligible ones;
        ``label`` alone when there is none.

    Examples
    --------
    >>> m = TrialMatch(id="a", acronym="A-1", title="A", phase="2", status="recruiting",
    ...                status_checked_on="2026-01-02", open=True, verdict="potentially_eligible")
    >>> trial_label("Clinical trial", [m], "en")
    'Clinical trial — potentially eligible: A-1'
    >>> trial_label("Essai clinique", [m.model_copy(update={"verdict": "eligible"})], "fr")
    'Essai clinique — éligible : A-1'
    """
    words = _WORDS.get(lang, _WORDS["en"])
    colon = " : " if lang == "fr" else ": "
    parts = []
    for verdict in ("eligible", "potentially_eligible"):
        names = [m.acronym for m in matches if m.open and m.verdict == verdict]
        if names:
            parts.append(f"{words[verdict]}{colon}{', '.join(names)}")
    return f"{label} — {'; '.join(parts)}" if parts else label


def name_trials(options: Sequence[RankedOption], matches: Sequence[TrialMatch], lang: Lang) -> list[RankedOption]:
    """The ranked options with ``clinical_trial`` relabelled to name the matching open trials.

    Parameters
    ----------
    options
        One track's ranked options.
    matches
        The sorted matches.
    lang
        The output language.

    Returns
    -------
    list of RankedOption
        The same options; ``clinical_trial``'s label per :func:`trial_label`.

    Examples
    --------
    >>> name_trials([], [], "en")
    []
    """
    return [o.model_copy(update={"label": trial_label(o.label, matches, lang)}) if o.option == TRIAL_OPTION else o
            for o in options]
