"""One error family for people: what was wrong, where, and how to fix it.

``KnowledgeError`` is raised at authoring time (a knowledge file is wrong) and
carries every problem found, not just the first. ``InputError`` is raised for a
bad patient file; the CLI prints it and exits with code 2. ``EngineError`` is an
internal failure of the rule engine and exits with code 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: How much a problem matters: an error stops the knowledge from loading (or fails
#: ``cds knowledge lint``), a warning fails ``lint --strict``, an info is for authors to read.
Level = Literal["error", "warning", "info"]


class CdsError(Exception):
    """Base class of every error netcds raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the knowledge, located as file -> rule id -> clause.

    The one problem type of the package: loading raises its errors together
    (:class:`KnowledgeError`), and ``cds knowledge lint`` (:mod:`cds.lint`) reports
    problems of every level.

    >>> p = Problem("dead_end", "pathways/si_net.yaml", "Stuck", "node leads nowhere", "warning")
    >>> str(p), p.level
    ('pathways/si_net.yaml: Stuck: node leads nowhere [dead_end]', 'warning')
    """

    code: str
    file: str
    loc: str
    message: str
    level: Level = "error"

    def __str__(self) -> str:
        where = f"{self.file}: {self.loc}" if self.loc else self.file
        return f"{where}: {self.message} [{self.code}]"


class KnowledgeError(CdsError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the knowledge:\n{lines}")


@dataclass(frozen=True)
class InputProblem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InputError(CdsError):
    def __init__(self, problems: list[InputProblem], source: str = "input") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is not a valid patient:\n{lines}")


class EngineError(CdsError):
    """The rule engine failed; this is a bug in netcds or its knowledge, not in the input."""
