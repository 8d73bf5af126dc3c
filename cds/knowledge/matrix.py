"""The contraindication matrix as a grid: option x patient condition -> the statement(s) for it.

The matrix is authored as statements (``knowledge/safety_matrix*.yaml``, each covering some
options under some conditions); this module lays them out cell by cell so that the linter can
find empty and twice-stated cells and ``cds knowledge matrix`` can print the table. A cell is
one option (on one of its tracks) under one condition; a statement without a track covers every
track of its options.

>>> from cds.knowledge import load_knowledge
>>> grid = matrix_grid(load_knowledge())
>>> sorted({c.level for c in grid.cells.values() if c is not None}) <= ["avoid", "caution", "exclude", "none"]
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from cds.knowledge.loader import KnowledgeBase
from cds.knowledge.schema import MatrixEntry

LEVEL_CODES = {"exclude": "X", "avoid": "A", "caution": "C", "none": "-"}
_LEVEL_ORDER = {"exclude": 0, "avoid": 1, "caution": 2, "none": 3}


@dataclass(frozen=True)
class Cell:
    """What the matrix says for one option, track and condition."""

    option: str
    track: str
    condition: str
    entry: MatrixEntry
    file: str

    @property
    def level(self) -> str:
        return self.entry.level


@dataclass
class Grid:
    options: list[str]
    conditions: list[str]
    tracks: dict[str, list[str]] = field(default_factory=dict)  # option -> its tracks
    # (option, track, condition) -> the cell, or None when no statement covers it
    cells: dict[tuple[str, str, str], Cell | None] = field(default_factory=dict)
    # cells stated more than once: key -> every (entry id, file)
    twice: dict[tuple[str, str, str], list[tuple[str, str]]] = field(default_factory=dict)

    def empty(self) -> Iterator[tuple[str, str, str]]:
        return (key for key, cell in self.cells.items() if cell is None)

    def level(self, option: str, condition: str) -> str | None:
        """The strictest level over the option's tracks (None if a track has no statement)."""
        cells = [self.cells[(option, track, condition)] for track in self.tracks[option]]
        if any(cell is None for cell in cells):
            return None
        return min((cell.level for cell in cells if cell is not None), key=_LEVEL_ORDER.__getitem__)


def matrix_grid(kb: KnowledgeBase) -> Grid:
    """Every cell of the matrix with the statement that fills it."""
    grid = Grid(options=list(kb.options), conditions=list(kb.matrix_conditions),
                tracks={option: list(spec.tracks) for option, spec in kb.options.items()})
    for option, spec in kb.options.items():
        for track in spec.tracks:
            for condition in kb.matrix_conditions:
                grid.cells[(option, track, condition)] = None
    for entry, file in kb.matrix_entries:
        for option in entry.options:
            known = kb.options.get(option)
            if known is None:
                continue
            tracks = [entry.track] if entry.track else list(known.tracks)
            for track in tracks:
                for condition in entry.conditions:
                    key = (option, track, condition)
                    if key not in grid.cells:
                        continue
                    previous = grid.cells[key]
                    if previous is not None:
                        grid.twice.setdefault(key, [(previous.entry.id, previous.file)]).append(
                            (entry.id, file)
                        )
                        continue
                    grid.cells[key] = Cell(option, track, condition, entry, file)
    return grid


def markdown_table(kb: KnowledgeBase, lang: str = "en") -> str:
    """Options (rows) x conditions (columns) with one-letter levels, and a legend."""
    grid = matrix_grid(kb)
    conds = grid.conditions
    head = "| option | " + " | ".join(f"{i + 1}" for i in range(len(conds))) + " |"
    rule = "|---|" + "---|" * len(conds)
    rows = [head, rule]
    for option in grid.options:
        codes = [LEVEL_CODES.get(grid.level(option, c) or "", "?") for c in conds]
        rows.append(f"| {option} | " + " | ".join(codes) + " |")
    legend = ", ".join(
        f"{i + 1} {getattr(kb.matrix_conditions[c].label, lang)}" for i, c in enumerate(conds)
    )
    return "\n".join(rows) + "\n\nX exclude, A avoid, C caution, - no concern, ? not stated.\n\n" + legend + "\n"
