"""The public API is documented, and every example in the documentation runs.

Two checks (issue 10, item 7):

- **examples run**: every module under ``cds/`` is found by walking the package (none is
  listed by hand, so a new module is covered the day it is added) and the examples of its
  docstrings run as doctests, one test per module;
- **docs lint**: in the modules of :data:`DOCUMENTED`, every public function, class and method
  has a numpydoc docstring: ``Parameters`` when it takes any, ``Returns`` (or ``Yields``) when it
  returns something, ``Raises`` when it raises on purpose, and ``Examples``. The lint reads the
  source with :mod:`ast` (nothing is imported or run), so it is cheap.

Public means a name without a leading underscore. Dunder methods are Python's protocols and are
not checked, except that a class whose ``__init__`` takes arguments says what they are in its own
``Parameters`` section. A property needs a docstring only (one line is enough); an enumeration
(``Enum``) a one-line docstring; a ``Literal``/``Annotated`` type alias a ``#:`` comment above it.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
import io
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import cds

#: Modules whose public API the docs lint checks. Extend it as modules are documented;
#: the goal is every module of :func:`all_modules`. To list what a module still lacks:
#: ``python -c "from tests.test_docs import module_gaps; print(*module_gaps('cds.cli'), sep=chr(10))"``.
DOCUMENTED: tuple[str, ...] = (
    "cds",
    "cds.version",
    "cds.resources",
    "cds.examples",
    "cds.errors",
    "cds.files",
    "cds.facts",
    "cds.suggest",
    "cds.ranking",
    "cds.input",
    "cds.model",
    "cds.model.patient",
    "cds.model.recommendation",
    "cds.model.schema",
    "cds.model.units",
    "cds.knowledge",
    "cds.knowledge.conditions",
    "cds.knowledge.vocabulary",
    "cds.knowledge.matrix",
    "cds.knowledge.schema",
    "cds.knowledge.layout",
    "cds.trials",
    "cds.trials.model",
    "cds.trials.loader",
    "cds.trials.match",
    "cds.trials.ctgov",
    "cds.render.trials",
    "cds.knowledge.recommendations",
    "cds.knowledge.json_schemas",
    "cds.knowledge.vignette_schema",
    "cds.render.recommendation_text",
    "cds.board",
    "cds.board.audit",
    "cds.board.security",
    "cds.hooks",
    "cds.hooks.registry",
    "cds.hooks.requests",
    "cds.hooks.prefetch",
    "cds.hooks.cards",
    "cds.hooks.reports",
    "cds.hooks.app",
    "cds.knowledge.loader",
    "cds.knowledge.yaml_lines",
    "cds.matrix_probes",
    "cds.vignettes",
    "cds.engine",
    "cds.engine.engine",
    "cds.engine.compiler",
    "cds.engine.durable_host",
    "cds.isolation",
    "cds.surveillance",
    "cds.fhir",
    "cds.fhir.bundle",
    "cds.fhir.codes",
    "cds.fhir.courses",
    "cds.fhir.mapper",
    "cds.fhir.orders",
    "cds.fhir.reports",
    "cds.fhir.treatments",
    "cds.hooks",
    "cds.hooks.security",
    "cds.knowledge.cohort_mix",
    "cds.cohort",
    "cds.cohort.files",
    "cds.cohort.synth",
    "cds.cohort.reader",
    "cds.cohort.rows",
    "cds.cohort.writer",
    "cds.cohort.runner",
    "cds.cohort.dask_run",
    "cds.cohort.knowledge_source",
    "cds.cohort.diff",
    "cds.render.diff",
    "cds.report",
    "cds.explain",
    "cds.pathways",
    "cds.render",
    "cds.render.i18n",
    "cds.render.templates",
    "cds.render.why_not",
    "cds.render.views",
    "cds.render.synopsis",
    "cds.render.session",
    "cds.render.text",
    "cds.render.markdown",
    "cds.render.html",
    "cds.render.pictures",
    "cds.render.picture_views",
    "cds.render.dot",
    "cds.render.graphviz",
    "cds.render.pathway_index",
    "cds.render.surveillance_text",
    "cds.render.ics",
    "cds.render.timeline",
)

#: Objects of documented modules that need no ``Examples`` section (qualified name -> why).
#: Everything else about their docstring is still checked.
NO_EXAMPLE: dict[str, str] = {
    "cds.vignettes.run_vignettes": "runs the whole vignette suite (seconds); tests/test_vignettes.py runs it",
    "cds.vignettes.run_matrix_probes": "evaluates every probe of the contraindication matrix (seconds); "
    "tests/test_vignettes.py runs it",
    "cds.vignettes.fired_by_vignettes": "runs the vignettes and the matrix probes (seconds); "
    "cds knowledge lint runs it for coverage",
    "cds.matrix_probes.check_cells": "evaluates every probe of the contraindication matrix (seconds); "
    "tests/test_vignettes.py runs it",
    "cds.render.why_not.ConditionView": "a view record built by why_not_view; see its example",
    "cds.render.why_not.ReasonView": "a view record built by why_not_view; see its example",
    "cds.render.why_not.GroupView": "a view record built by why_not_view; see its example",
    "cds.render.why_not.WhyTrackView": "a view record built by why_not_view; see its example",
    "cds.render.why_not.WhyNotView": "a view record built by why_not_view; see its example",
    "cds.render.views.ArgumentView": "a view record built by report_view; see its example",
    "cds.render.views.OptionView": "a view record built by report_view; see its example",
    "cds.render.views.TrackView": "a view record built by report_view; see its example",
    "cds.render.views.ExcludedView": "a view record built by report_view; see its example",
    "cds.render.views.ScenarioView": "a view record built by report_view; see its example",
    "cds.render.views.AssumptionView": "a view record built by report_view; see its example",
    "cds.render.views.AlertView": "a view record built by report_view; see its example",
    "cds.render.views.MissingView": "a view record built by report_view; see its example",
    "cds.render.views.RowView": "a view record built by report_view; see its example",
    "cds.render.views.SectionView": "a view record built by report_view; see its example",
    "cds.render.views.PathwayView": "a view record built by report_view; see its example",
    "cds.render.views.ReferenceView": "a view record built by report_view; see its example",
    "cds.render.views.ReportView": "a view record built by report_view; see its example",
    "cds.render.views.SurveillancePlanView": "a view record built by report_view; see its example",
    "cds.render.views.SurveillanceView": "a view record built by report_view; see its example",
    "cds.render.pictures.pathway_pictures": "runs Graphviz for every pathway the patient entered (not installed "
    "everywhere); tests/test_report.py runs it, with and without Graphviz",
    "cds.render.pictures.figure": "runs Graphviz (not installed everywhere); tests/test_pathways.py runs it "
    "through write_all",
    "cds.render.graphviz.render_svg": "runs Graphviz (not installed everywhere); tests/test_pathways.py runs it "
    "when it is",
    "cds.render.pathway_index.write_all": "runs Graphviz on every pathway and writes a folder of files; "
    "tests/test_pathways.py runs it with and without Graphviz",
    "cds.render.pathway_index.IndexEntry": "a view record built by write_all; render_index's example builds one",
    "cds.render.pathway_index.WrittenPictures": "what write_all returns (it runs Graphviz); "
    "tests/test_pathways.py checks it",
}

#: Modules whose doctests are not run because importing them has side effects (name -> why).
#: None today: importing any module under cds/ only defines names (cds.cli builds its Typer
#: apps, which run nothing until called).
IMPORT_SIDE_EFFECTS: dict[str, str] = {}

#: Modules whose examples are known to fail, each with why; the test is a strict xfail, so it
#: fails as soon as the examples pass again: then remove the entry.
KNOWN_FAILING: dict[str, str] = {}

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def all_modules() -> list[str]:
    """Every module of the cds package, the package itself included, found by walking it."""
    found = [m.name for m in pkgutil.walk_packages(cds.__path__, prefix="cds.")]
    return sorted(["cds", *found])


def _doctest_params() -> Iterator[object]:
    for name in all_modules():
        if name in IMPORT_SIDE_EFFECTS:
            continue
        if name in KNOWN_FAILING:
            yield pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_FAILING[name]))
        else:
            yield name


@pytest.mark.parametrize("name", list(_doctest_params()))
def test_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):
        runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, report.getvalue()


# ------------------------------------------------------------------------ docs lint


def _section(doc: str, *names: str) -> bool:
    """The docstring has a numpydoc section with one of these names (title, then dashes)."""
    return any(re.search(rf"^\s*{name}\n\s*-{{3,}}\s*$", doc, re.MULTILINE) for name in names)


def _decorators(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names = set()
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if isinstance(target, ast.Attribute):
            names.add(target.attr)
        elif isinstance(target, ast.Name):
            names.add(target.id)
    return names


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> list[str]:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    if method and "staticmethod" not in _decorators(node) and names and names[0] in ("self", "cls"):
        names = names[1:]
    return names


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function body, not descending into nested functions or classes."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        yield child
        yield from _own_nodes(child)


def _raises(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """The function raises an exception of its own (a bare re-raise does not count)."""
    return any(isinstance(n, ast.Raise) and n.exc is not None for n in _own_nodes(node))


def _returns(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    ann = node.returns
    return ann is not None and not (isinstance(ann, ast.Constant) and ann.value is None)


def _function_gaps(node: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str, method: bool) -> list[str]:
    doc = ast.get_docstring(node)
    if not doc:
        return [f"{qualname}: no docstring"]
    decorators = _decorators(node)
    if decorators & {"property", "cached_property"}:
        return []
    gaps = []
    if _parameters(node, method) and not _section(doc, "Parameters"):
        gaps.append(f"{qualname}: no Parameters section")
    if _returns(node) and not _section(doc, "Returns", "Yields"):
        gaps.append(f"{qualname}: no Returns (or Yields) section")
    if _raises(node) and not _section(doc, "Raises"):
        gaps.append(f"{qualname}: raises, but has no Raises section")
    if qualname not in NO_EXAMPLE and not _section(doc, "Examples"):
        gaps.append(f"{qualname}: no Examples section")
    return gaps


def _base_names(node: ast.ClassDef) -> set[str]:
    return {b.id if isinstance(b, ast.Name) else b.attr for b in node.bases if isinstance(b, (ast.Name, ast.Attribute))}


def _class_gaps(node: ast.ClassDef, qualname: str) -> list[str]:
    doc = ast.get_docstring(node)
    if not doc:
        return [f"{qualname}: no docstring"]
    if _base_names(node) & {"Enum", "IntEnum", "StrEnum"}:
        return []  # an enumeration: its members say the rest
    gaps = []
    if qualname not in NO_EXAMPLE and not _section(doc, "Examples"):
        gaps.append(f"{qualname}: no Examples section")
    for item in node.body:
        if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if item.name == "__init__" and _parameters(item, method=True) and not _section(doc, "Parameters"):
            gaps.append(f"{qualname}: __init__ takes arguments, but the class has no Parameters section")
        if not item.name.startswith("_"):
            gaps += _function_gaps(item, f"{qualname}.{item.name}", method=True)
    return gaps


def _is_type_alias(node: ast.stmt) -> str | None:
    """The name of a module-level ``X = Literal[...]`` or ``X = Annotated[...]`` alias, else None."""
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
        return None
    value = node.value
    if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name) and value.value.id in (
        "Literal", "Annotated"
    ):
        return node.targets[0].id
    return None


def module_gaps(name: str) -> list[str]:
    """Every documentation gap in the public API of one module, read from its source."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, name
    source = Path(spec.origin).read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    gaps = [] if ast.get_docstring(tree) else [f"{name}: no module docstring"]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            gaps += _function_gaps(node, f"{name}.{node.name}", method=False)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            gaps += _class_gaps(node, f"{name}.{node.name}")
        elif (alias := _is_type_alias(node)) and not alias.startswith("_"):
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            if not above.startswith("#:"):
                gaps.append(f"{name}.{alias}: type alias without a '#:' comment above it")
    return gaps


@pytest.mark.parametrize("name", DOCUMENTED)
def test_public_api_is_documented(name: str) -> None:
    gaps = module_gaps(name)
    assert not gaps, "\n".join(gaps)


def test_documented_modules_and_exemptions_exist() -> None:
    modules = set(all_modules())
    assert set(DOCUMENTED) <= modules
    assert set(KNOWN_FAILING) <= modules and set(IMPORT_SIDE_EFFECTS) <= modules
    for qualname, reason in NO_EXAMPLE.items():
        module, _, attr = qualname.rpartition(".")
        while module not in modules:  # a method: cds.engine.engine.Engine.close
            module, _, outer = module.rpartition(".")
            attr = f"{outer}.{attr}"
        obj: object = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        assert reason.strip(), qualname


def test_the_lint_finds_gaps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lint itself: a module with every kind of gap is reported gap by gap."""
    (tmp_path / "undocumented_example.py").write_text(
        '"""A module."""\n'
        "from typing import Literal\n"
        "Colour = Literal['red']\n"
        "def f(x: int) -> int:\n"
        '    """One line."""\n'
        "    raise ValueError(x)\n"
        "class C:\n"
        '    """A class."""\n'
        "    def __init__(self, y: int) -> None: ...\n"
        "    def m(self) -> None: ...\n"
        "class D: ...\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert module_gaps("undocumented_example") == [
        "undocumented_example.Colour: type alias without a '#:' comment above it",
        "undocumented_example.f: no Parameters section",
        "undocumented_example.f: no Returns (or Yields) section",
        "undocumented_example.f: raises, but has no Raises section",
        "undocumented_example.f: no Examples section",
        "undocumented_example.C: no Examples section",
        "undocumented_example.C: __init__ takes arguments, but the class has no Parameters section",
        "undocumented_example.C.m: no docstring",
        "undocumented_example.D: no docstring",
    ]


# ------------------------------------------------------------------ everything in the repository

#: Pointers to files a reader of the repository does not have (issue 11, item 5).
OUTSIDE = re.compile(r"\.\./shared|\bDESIGN\.md\b|net-guidelines\.md|/work/")


def test_readme_docs_and_content_do_not_point_outside_the_repository() -> None:
    root = Path(__file__).resolve().parent.parent
    files = [root / "README.md", root / "mkdocs.yml"]
    for folder, pattern in (("docs", "*.md"), ("docs", "*.py"), ("knowledge", "*.yaml"), ("knowledge", "*.md"),
                            ("pathways", "*.yaml"), ("renderers", "*"), ("examples", "*"), ("cds", "*.py")):
        files += [p for p in sorted((root / folder).rglob(pattern)) if p.is_file()]
    found = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found)
