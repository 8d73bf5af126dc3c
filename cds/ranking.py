"""Turn the arguments collected for each candidate option into a ranked list.

The aggregation is deliberately simple so that a tumour board can redo it by
hand from the report. Arguments are of two kinds.

**Efficacy arguments weigh.** Each has a strength from 1 (weak) to 3 (strong);
a pathway's proposal is itself an argument *for*.

- **score** = sum of the strengths of the efficacy arguments *for* minus the sum
  of the strengths of the efficacy arguments *against*;
- **score category**: score >= 3 is ``recommended``, 1-2 is ``consider``, 0 or
  less is ``not_recommended``.

**Safety arguments do not weigh: they set a ceiling** that no argument for can
lift, whatever the score:

- ``exclude`` (absolute contraindication, or an option that no longer applies):
  the option leaves the ranked list and appears under ``excluded`` with its
  reasons;
- ``avoid`` (strong relative contraindication): the category is at most
  ``not_recommended`` and the option ranks after every option without an
  ``avoid``;
- ``caution``: the category is at most ``consider``; the caution is shown
  beside the option.

The **category** is the score category capped by the strongest safety level.

**Order** within a track: options without ``avoid`` first; then by category
(recommended, consider, not recommended); then by score; ties break by the
strongest evidence among the efficacy arguments for (lower rank on the scale
in knowledge/catalogues/evidence-scale.yaml first), then by the catalogue order of
knowledge/catalogues/options.yaml (least invasive or toxic first), then by option id.

The two tracks (anti-tumour and antisecretory) are ranked separately.

>>> category_for(4), category_for(2), category_for(0)
('recommended', 'consider', 'not_recommended')
>>> capped("recommended", "caution"), capped("consider", "avoid"), capped("consider", None)
('consider', 'not_recommended', 'consider')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cds.model.recommendation import TRACKS, Argument, Category, ExcludedOption, RankedOption, Track

#: The lowest score that is ``recommended`` on its own.
RECOMMENDED_MIN_SCORE = 3
#: The lowest score that is ``consider`` on its own (below: ``not_recommended``).
CONSIDER_MIN_SCORE = 1

#: A safety level that keeps the option ranked under a ceiling (``exclude`` removes it instead).
Ceiling = Literal["avoid", "caution"]
_CATEGORY_ORDER: dict[Category, int] = {"recommended": 0, "consider": 1, "not_recommended": 2}
#: The highest category each safety level allows.
CEILINGS: dict[Ceiling, Category] = {"caution": "consider", "avoid": "not_recommended"}


@dataclass
class Candidate:
    """An option a pathway proposed on one track, with everything argued about it.

    The engine fills one per proposed (track, option) while the rules fire; :func:`rank`
    turns them into the ranked and excluded options of the output.

    Attributes
    ----------
    option
        Option id from the catalogue (knowledge/catalogues/options.yaml).
    track
        The track it was proposed on.
    arguments
        Efficacy arguments (for and against) and safety arguments short of exclusion.
    exclusions
        Arguments that remove the option (``direction`` ``exclude``).
    depends_on
        Input fields the proposing pathway edges depend on.

    Examples
    --------
    >>> from cds.model.recommendation import Argument, Evidence
    >>> ev = Evidence(kind="rct_phase3", rank=1, confirmed=True)
    >>> def argue(direction, strength, level=None):
    ...     return Argument(direction=direction, kind="safety" if level else "efficacy", safety_level=level,
    ...                     rule="r", text="because", sources=["s"], evidence=ev, strength=strength)
    >>> cand = Candidate("prrt", "anti_tumour", [argue("for", 3), argue("against", 1), argue("against", 0, "caution")])
    >>> cand.score, cand.safety_level
    (2, 'caution')
    """

    option: str
    track: Track
    arguments: list[Argument] = field(default_factory=list)  # efficacy, and safety avoid/caution
    exclusions: list[Argument] = field(default_factory=list)
    depends_on: set[str] = field(default_factory=set)  # from the proposing edges

    @property
    def score(self) -> int:
        """Efficacy arguments only: safety is a ceiling, never a term in the sum."""
        total = 0
        for arg in self.arguments:
            if arg.kind != "efficacy":
                continue
            total += arg.strength if arg.direction == "for" else -arg.strength
        return total

    @property
    def safety_level(self) -> Ceiling | None:
        """The strongest safety flag short of exclusion (exclusions leave the ranking)."""
        levels = {a.safety_level for a in self.arguments if a.kind == "safety"}
        if "avoid" in levels:
            return "avoid"
        if "caution" in levels:
            return "caution"
        return None


def category_for(score: int) -> Category:
    """The category a score gives on its own, before any safety ceiling.

    Parameters
    ----------
    score
        Sum of the strengths of the efficacy arguments for, minus those against.

    Returns
    -------
    Category
        ``recommended`` from :data:`RECOMMENDED_MIN_SCORE`, ``consider`` from
        :data:`CONSIDER_MIN_SCORE`, else ``not_recommended``.

    Examples
    --------
    >>> category_for(3), category_for(1), category_for(-2)
    ('recommended', 'consider', 'not_recommended')
    """
    if score >= RECOMMENDED_MIN_SCORE:
        return "recommended"
    if score >= CONSIDER_MIN_SCORE:
        return "consider"
    return "not_recommended"


def capped(category: Category, level: Ceiling | None) -> Category:
    """The category after the safety ceiling: the lower of the two.

    Parameters
    ----------
    category
        The category of the score (:func:`category_for`).
    level
        The strongest safety level short of exclusion, or None when there is none.

    Returns
    -------
    Category
        ``category``, lowered to the ceiling of ``level`` (:data:`CEILINGS`) when it is higher.

    Examples
    --------
    >>> capped("recommended", "caution"), capped("not_recommended", "caution"), capped("recommended", None)
    ('consider', 'not_recommended', 'recommended')
    """
    if level is None:
        return category
    ceiling = CEILINGS[level]
    return category if _CATEGORY_ORDER[category] >= _CATEGORY_ORDER[ceiling] else ceiling


def _best_evidence(args: Sequence[Argument]) -> int:
    ranks = [a.evidence.rank for a in args if a.direction == "for"]
    return min(ranks) if ranks else 10_000


_DIRECTION_ORDER = {"exclude": 0, "for": 1, "against": 2}
_LEVEL_ORDER = {"exclude": 0, "avoid": 1, "caution": 2, None: 3}


def _argument_order(arg: Argument) -> tuple[int, int, int, int, str]:
    """Exclusions, then arguments for, then against (safety before efficacy, strongest first)."""
    return (_DIRECTION_ORDER[arg.direction], _LEVEL_ORDER[arg.safety_level], -arg.strength,
            arg.evidence.rank, arg.rule)


def rank(
    candidates: Sequence[Candidate],
    catalogue_order: Mapping[str, int],
    label: Callable[[str], str],
    conditional_on: Callable[[Candidate], list[str]],
) -> tuple[dict[Track, list[RankedOption]], list[ExcludedOption]]:
    """Rank the candidates of each track and list the excluded ones, as the module docstring says.

    Parameters
    ----------
    candidates
        Every proposed option with its arguments, both tracks mixed.
    catalogue_order
        Option id -> position in knowledge/catalogues/options.yaml (ties break by it; unknown ids last).
    label
        Option id -> its label in the output language.
    conditional_on
        A candidate -> the input fields it depends on that are missing.

    Returns
    -------
    tuple
        The ranked options per track (rank 1 first; every track present, maybe empty) and the
        excluded options (track by track, in catalogue order), each with its arguments sorted:
        exclusions, then for, then against; safety before efficacy, strongest first.

    Examples
    --------
    >>> from cds.model.recommendation import Argument, Evidence
    >>> ev = Evidence(kind="rct_phase3", rank=1, confirmed=True)
    >>> def argue(direction, strength, level=None):
    ...     return Argument(direction=direction, kind="safety" if level else "efficacy", safety_level=level,
    ...                     rule="r", text="because", sources=["s"], evidence=ev, strength=strength)
    >>> candidates = [Candidate("ssa", "anti_tumour", [argue("for", 2)]),
    ...               Candidate("prrt", "anti_tumour", [argue("for", 3), argue("against", 0, "avoid")]),
    ...               Candidate("everolimus", "anti_tumour", exclusions=[argue("exclude", 0, "exclude")])]
    >>> ranked, excluded = rank(candidates, {"ssa": 0, "everolimus": 1, "prrt": 2}, str.upper, lambda c: [])
    >>> [(o.rank, o.label, o.score, o.category) for o in ranked["anti_tumour"]], ranked["antisecretory"]
    ([(1, 'SSA', 2, 'consider'), (2, 'PRRT', 3, 'not_recommended')], [])
    >>> [e.option for e in excluded]
    ['everolimus']
    """
    ranked: dict[Track, list[RankedOption]] = {t: [] for t in TRACKS}
    excluded: list[ExcludedOption] = []
    for track in TRACKS:
        pool = [c for c in candidates if c.track == track]
        for cand in sorted(pool, key=lambda c: (catalogue_order.get(c.option, 10_000), c.option)):
            if cand.exclusions:
                excluded.append(
                    ExcludedOption(
                        option=cand.option,
                        label=label(cand.option),
                        track=track,
                        reasons=sorted(cand.exclusions, key=_argument_order),
                    )
                )
        scored = []
        for cand in pool:
            if cand.exclusions:
                continue
            score, level = cand.score, cand.safety_level
            scored.append((score, level, capped(category_for(score), level), cand))
        scored.sort(
            key=lambda item: (
                item[1] == "avoid",
                _CATEGORY_ORDER[item[2]],
                -item[0],
                _best_evidence(item[3].arguments),
                catalogue_order.get(item[3].option, 10_000),
                item[3].option,
            )
        )
        ranked[track] = [
            RankedOption(
                option=c.option,
                label=label(c.option),
                track=track,
                rank=i + 1,
                score=score,
                category=category,
                score_category=category_for(score),
                safety_level=level,
                arguments=sorted(c.arguments, key=_argument_order),
                conditional_on=conditional_on(c),
            )
            for i, (score, level, category, c) in enumerate(scored)
        ]
    return ranked, excluded
