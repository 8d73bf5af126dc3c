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
    """Base class of every error netcds raises on purpose.

    A caller that embeds netcds catches this one class to tell netcds' own verdicts (bad
    input, bad knowledge, engine failure) from everything else.

    Examples
    --------
    >>> from cds import parse_patient
    >>> try:
    ...     parse_patient("")
    ... except CdsError as exc:
    ...     print(type(exc).__name__)
    InputError
    """


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the knowledge, located as file -> rule id -> clause.

    The one problem type of the package: loading raises its errors together
    (:class:`KnowledgeError`), and ``cds knowledge lint`` (:mod:`cds.lint`) reports
    problems of every level.

    Attributes
    ----------
    code
        A stable short code for the kind of problem (e.g. ``condition``, ``unknown_option``), for tools.
    file
        The file, relative to the folder that holds ``knowledge/`` (or ``pathways/``).
    loc
        Where in the file (rule id, clause); empty for the file as a whole.
    message
        What is wrong and, where obvious, the fix.
    level
        ``error`` (the default), ``warning`` or ``info``.
    line
        The line in ``file`` (from 1) when it is known, e.g. for a field that fails validation;
        shown as ``file:line`` (the form editors and terminals open).

    Examples
    --------
    >>> print(Problem("condition", "knowledge/recommendations/classification/grading/recommendation.yaml",
    ...               "class.g1.when[0]", "unknown field"))
    knowledge/recommendations/classification/grading/recommendation.yaml: class.g1.when[0]: unknown field [condition]
    >>> Problem("dead_end", "pathways/si_net.yaml", "Stuck", "node leads nowhere", "warning").level
    'warning'
    >>> print(Problem("schema", "knowledge/catalogues/options.yaml", "options[ssa].label", "Field required", line=12))
    knowledge/catalogues/options.yaml:12: options[ssa].label: Field required [schema]
    """

    code: str
    file: str
    loc: str
    message: str
    level: Level = "error"
    line: int | None = None

    def __str__(self) -> str:
        file = f"{self.file}:{self.line}" if self.line is not None else self.file
        where = f"{file}: {self.loc}" if self.loc else file
        return f"{where}: {self.message} [{self.code}]"


class KnowledgeError(CdsError):
    """The knowledge does not load: every problem found, not just the first.

    Parameters
    ----------
    problems
        Every problem found (kept as :attr:`problems`); the message lists them one a line.

    Examples
    --------
    >>> error = KnowledgeError([Problem("missing_file", "knowledge/catalogues/options.yaml", "", "file not found")])
    >>> print(error)
    1 problem(s) in the knowledge:
      - knowledge/catalogues/options.yaml: file not found [missing_file]
    >>> error.problems[0].code
    'missing_file'
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the knowledge:\n{lines}")


@dataclass(frozen=True)
class InputProblem:
    """One thing wrong in a patient file: the field at fault (dotted path) and what to do.

    Attributes
    ----------
    field
        Dotted path such as ``tumour.ki67_percent`` or ``prior_treatments[0].option``; empty
        when the problem is the file as a whole.
    message
        What is wrong and what is allowed there.

    Examples
    --------
    >>> print(InputProblem("tumour.ki67_percent", "must be <= 100 (got 150)"))
    tumour.ki67_percent: must be <= 100 (got 150)
    >>> print(InputProblem("", "the file is empty"))
    the file is empty
    """

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InputError(CdsError):
    """A patient that is not valid, with every problem in it; the CLI exits with code 2.

    Parameters
    ----------
    problems
        One :class:`InputProblem` per fault (kept as :attr:`problems`).
    source
        What to call the input in the message: a file name, ``<stdin>``, a form (kept as
        :attr:`source`).

    Examples
    --------
    >>> print(InputError([InputProblem("age", "must be <= 120 (got 200)")], source="p.json"))
    p.json is not a valid patient:
      - age: must be <= 120 (got 200)
    """

    def __init__(self, problems: list[InputProblem], source: str = "input") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is not a valid patient:\n{lines}")


class EngineError(CdsError):
    """The rule engine failed; this is a bug in netcds or its knowledge, not in the input.

    The CLI exits with code 1 (an internal error), not 2 (an input the user can fix).

    Examples
    --------
    >>> issubclass(EngineError, CdsError), issubclass(EngineError, InputError)
    (True, False)
    """
