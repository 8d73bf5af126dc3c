"""The contraindication matrix as a grid: option x patient condition -> the statement(s) for it.

The matrix is authored as statements (``knowledge/catalogues/safety-matrix/*.yaml``, each covering some
options under some conditions); this module lays them out cell by cell so that the linter can
find empty and twice-stated cells and ``cds knowledge matrix`` can print the table. A cell is
one option (on one of its tracks) under one condition; a statement without a track covers every
track of its options.

>>> from cds import default_engine
>>> grid = matrix_grid(default_engine().kb)
>>> sorted({c.level for c in grid.cells.values() if c is not None}) <= ["avoid", "caution", "exclude", "none"]
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from cds.knowledge.loader import KnowledgeBase
from cds.knowledge.schema import MatrixEntry

#: The one-letter code of each level in the printed matrix.
LEVEL_CODES = {"exclude": "X", "avoid": "A", "caution": "C", "none": "-"}
_LEVEL_ORDER = {"exclude": 0, "avoid": 1, "caution": 2, "none": 3}


@dataclass(frozen=True)
class Cell:
    """What the matrix says for one option, track and condition.

    Attributes
    ----------
    option, track, condition
        The cell: option id, one of its tracks, matrix condition id.
    entry
        The statement that fills it.
    file
        The file of the statement (relative, as in problems).

    Examples
    --------
    >>> from cds.knowledge.schema import EvidenceRef, MatrixEntry, Text
    >>> entry = MatrixEntry(id="safety.prrt.pregnancy", conditions=["pregnancy"], options=["prrt"], level="exclude",
    ...                     because=Text(en="Contraindicated.", fr="Contre-indiqué."), sources=["lutathera_smpc"],
    ...                     evidence=EvidenceRef(kind="label"), confirmation="V")
    >>> Cell("prrt", "anti_tumour", "pregnancy", entry, "knowledge/catalogues/safety-matrix/conditions.yaml").level
    'exclude'
    """

    option: str
    track: str
    condition: str
    entry: MatrixEntry
    file: str

    @property
    def level(self) -> str:
        """The statement's level: exclude, avoid, caution or none (no concern)."""
        return self.entry.level


@dataclass
class Grid:
    """The matrix laid out cell by cell: which statement fills each cell, which are empty or stated twice.

    Attributes
    ----------
    options
        Option ids, in catalogue order (the rows).
    conditions
        Matrix condition ids, in file order (the columns).
    tracks
        Option id -> its tracks.
    cells
        (option, track, condition) -> the cell, or None when no statement covers it.
    twice
        Cells stated more than once -> every (statement id, file) that states them.

    Examples
    --------
    >>> grid = Grid(options=["prrt"], conditions=["pregnancy"], tracks={"prrt": ["anti_tumour"]},
    ...             cells={("prrt", "anti_tumour", "pregnancy"): None})
    >>> list(grid.empty()), grid.level("prrt", "pregnancy")
    ([('prrt', 'anti_tumour', 'pregnancy')], None)
    """

    options: list[str]
    conditions: list[str]
    tracks: dict[str, list[str]] = field(default_factory=dict)  # option -> its tracks
    # (option, track, condition) -> the cell, or None when no statement covers it
    cells: dict[tuple[str, str, str], Cell | None] = field(default_factory=dict)
    # cells stated more than once: key -> every (entry id, file)
    twice: dict[tuple[str, str, str], list[tuple[str, str]]] = field(default_factory=dict)

    def empty(self) -> Iterator[tuple[str, str, str]]:
        """The cells no statement covers (the linter fails on each).

        Returns
        -------
        Iterator of tuple
            (option, track, condition) of each empty cell, in grid order.

        Examples
        --------
        >>> from cds import default_engine
        >>> list(matrix_grid(default_engine().kb).empty())  # the bundled matrix is complete
        []
        """
        return (key for key, cell in self.cells.items() if cell is None)

    def level(self, option: str, condition: str) -> str | None:
        """The strictest level over the option's tracks (None if a track has no statement).

        Parameters
        ----------
        option
            Option id (a row).
        condition
            Matrix condition id (a column).

        Returns
        -------
        str or None
            exclude, avoid, caution or none; None when a track of the option has no statement.

        Examples
        --------
        >>> from cds import default_engine
        >>> grid = matrix_grid(default_engine().kb)
        >>> grid.level("prrt", "pregnancy"), grid.level("everolimus", "egfr_below_30")
        ('exclude', 'caution')
        """
        cells = [self.cells[(option, track, condition)] for track in self.tracks[option]]
        if any(cell is None for cell in cells):
            return None
        return min((cell.level for cell in cells if cell is not None), key=_LEVEL_ORDER.__getitem__)


def matrix_grid(kb: KnowledgeBase) -> Grid:
    """Every cell of the matrix with the statement that fills it.

    Parameters
    ----------
    kb
        The loaded knowledge.

    Returns
    -------
    Grid
        Every (option, track, condition) of the catalogue, filled by the first statement that
        covers it; later statements of the same cell are listed under ``twice``. Statements
        that name an unknown option or condition are left out (the loader reports them).

    Examples
    --------
    >>> from cds import default_engine
    >>> grid = matrix_grid(default_engine().kb)
    >>> cell = grid.cells[("prrt", "anti_tumour", "pregnancy")]
    >>> cell.level, cell.entry.id, grid.twice
    ('exclude', 'safety.prrt.pregnancy', {})
    """
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
    """Options (rows) x conditions (columns) with one-letter levels, and a legend.

    What ``cds knowledge matrix`` prints: conditions are numbered in the header and named in
    the legend, so that the table stays narrow.

    Parameters
    ----------
    kb
        The loaded knowledge.
    lang
        Language of the condition labels in the legend (``en``, ``fr``).

    Returns
    -------
    str
        A Markdown table (:data:`LEVEL_CODES`, ``?`` for an empty cell), the key to the codes
        and the numbered conditions.

    Examples
    --------
    >>> from cds import default_engine
    >>> table = markdown_table(default_engine().kb, "fr")
    >>> table.splitlines()[0][:18], table.splitlines()[-3]
    ('| option | 1 | 2 |', 'X exclude, A avoid, C caution, - no concern, ? not stated.')
    """
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
