"""Turn the arguments collected for each candidate option into a ranked list.

The aggregation is deliberately simple so that a tumour board can redo it by
hand from the report:

- each argument has a strength from 1 (weak) to 3 (strong); a pathway's
  proposal is itself an argument *for*;
- **score** = sum of the strengths *for* minus the sum of the strengths *against*;
- **category**: score >= 3 is ``recommended``, 1-2 is ``consider``, 0 or less
  is ``not_recommended``;
- an exclusion (contraindication) wins over everything: the option leaves the
  ranked list and appears under ``excluded`` with its reasons;
- **ties** break by the strongest evidence among the arguments for (lower rank
  on the scale in knowledge/evidence.yaml first), then by the catalogue order of
  knowledge/options.yaml (least invasive/toxic first), then by option id.

The two tracks (anti-tumour and antisecretory) are ranked separately.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cds.model.recommendation import Argument, Category, ExcludedOption, RankedOption, Track

RECOMMENDED_MIN_SCORE = 3
CONSIDER_MIN_SCORE = 1
TRACKS: tuple[Track, ...] = ("anti_tumour", "antisecretory")


@dataclass
class Candidate:
    option: str
    track: Track
    arguments: list[Argument] = field(default_factory=list)
    exclusions: list[Argument] = field(default_factory=list)
    depends_on: set[str] = field(default_factory=set)  # from the proposing edges

    @property
    def score(self) -> int:
        total = 0
        for arg in self.arguments:
            total += arg.strength if arg.direction == "for" else -arg.strength
        return total


def category_for(score: int) -> Category:
    if score >= RECOMMENDED_MIN_SCORE:
        return "recommended"
    if score >= CONSIDER_MIN_SCORE:
        return "consider"
    return "not_recommended"


def _best_evidence(args: Sequence[Argument]) -> int:
    ranks = [a.evidence.rank for a in args if a.direction == "for"]
    return min(ranks) if ranks else 10_000


_DIRECTION_ORDER = {"exclude": 0, "for": 1, "against": 2}


def _argument_order(arg: Argument) -> tuple[int, int, int, str]:
    return (_DIRECTION_ORDER[arg.direction], -arg.strength, arg.evidence.rank, arg.rule)


def rank(
    candidates: Sequence[Candidate],
    catalogue_order: Mapping[str, int],
    label: Callable[[str], str],
    conditional_on: Callable[[Candidate], list[str]],
) -> tuple[dict[Track, list[RankedOption]], list[ExcludedOption]]:
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
        scored = [(c.score, c) for c in pool if not c.exclusions]
        scored.sort(
            key=lambda sc: (
                -sc[0],
                _best_evidence(sc[1].arguments),
                catalogue_order.get(sc[1].option, 10_000),
                sc[1].option,
            )
        )
        ranked[track] = [
            RankedOption(
                option=c.option,
                label=label(c.option),
                track=track,
                rank=i + 1,
                score=score,
                category=category_for(score),
                arguments=sorted(c.arguments, key=_argument_order),
                conditional_on=conditional_on(c),
            )
            for i, (score, c) in enumerate(scored)
        ]
    return ranked, excluded
