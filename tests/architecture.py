"""The import graph of the ``cds`` package, read from the source with :mod:`ast`.

Used by ``tests/test_architecture.py`` (no circles, no upward imports, no private names
imported across modules) and by ``bench/imports.py`` (the module map printed for an issue
note). Nothing is imported: a tree is read as text, so the map of an old commit can be
drawn from a checkout without running it.

Conventions (those of grimp / import-linter):

- a module is a ``.py`` file; a package's ``__init__.py`` is the module named after the
  package (``cds/render/__init__.py`` is ``cds.render``);
- ``import cds.x.y`` and ``from cds.x import y`` (``y`` a submodule) import ``cds.x.y``;
  ``from cds.x import name`` (``name`` defined in ``cds/x/__init__.py`` or
  ``cds/x.py``) imports ``cds.x``. The parent packages that Python also runs on the way
  are not counted, else every module would import ``cds/__init__`` and everything it
  re-exports;
- imports inside functions count (they run, only later); imports under
  ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

PACKAGE = "cds"


@dataclass(frozen=True)
class Import:
    """One import of a cds module by another, where it is written."""

    importer: str
    imported: str
    line: int
    names: tuple[str, ...] = ()  # the names a ``from`` import takes from ``imported``


@dataclass
class ModuleMap:
    """Every module of the package: its file, its length, and its imports of other cds modules."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    imports: list[Import] = field(default_factory=list)

    def graph(self) -> nx.DiGraph[str]:
        """importer -> imported, one edge per pair of modules (self-imports left out)."""
        g: nx.DiGraph[str] = nx.DiGraph()
        g.add_nodes_from(self.files)
        g.add_edges_from((i.importer, i.imported) for i in self.imports if i.importer != i.imported)
        return g

    def imported_by(self, module: str) -> list[str]:
        """The cds modules ``module`` imports, sorted."""
        return sorted({i.imported for i in self.imports if i.importer == module and i.imported != module})


def module_name(path: Path, root: Path) -> str:
    """``cds/render/html.py`` -> ``cds.render.html``; ``cds/render/__init__.py`` -> ``cds.render``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: anywhere but the body of ``if TYPE_CHECKING:``."""
    if isinstance(tree, ast.If) and _is_type_checking(tree.test):
        for child in tree.orelse:
            yield from _runtime_imports(child)
        return
    if isinstance(tree, (ast.Import, ast.ImportFrom)):
        yield tree
    for child in ast.iter_child_nodes(tree):
        yield from _runtime_imports(child)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from`` import names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def read_module_map(root: Path) -> ModuleMap:
    """The module map of the ``cds`` package found in ``root`` (a checkout of the project)."""
    package = root / PACKAGE
    mmap = ModuleMap(root=root)
    for path in sorted(package.rglob("*.py")):
        name = module_name(path, root)
        mmap.files[name] = path
        mmap.lines[name] = len(path.read_text(encoding="utf-8").splitlines())
    known = set(mmap.files)

    def owner(dotted: str) -> str | None:
        """The longest known module that ``dotted`` is or lies in."""
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in known:
                return candidate
        return None

    for name, path in mmap.files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in _runtime_imports(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = owner(alias.name) if alias.name.split(".")[0] == PACKAGE else None
                    if target is not None:
                        mmap.imports.append(Import(name, target, node.lineno))
                continue
            base = _resolve(name, is_package, node)
            if base.split(".")[0] != PACKAGE:
                continue
            from_names: list[str] = []
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in known:
                    mmap.imports.append(Import(name, submodule, node.lineno))
                else:
                    from_names.append(alias.name)
            target = owner(base)
            if from_names and target is not None:
                mmap.imports.append(Import(name, target, node.lineno, tuple(from_names)))
    return mmap


# ------------------------------------------------------------------ the rules


def cycles(mmap: ModuleMap) -> list[list[str]]:
    """Each import circle, as the modules of one strongly connected component, sorted."""
    return sorted(
        sorted(component) for component in nx.strongly_connected_components(mmap.graph())
        if len(component) > 1
    )


def engine_imports_from_render(mmap: ModuleMap) -> list[Import]:
    """Imports of ``cds.engine`` (or a module of it) by a module under ``cds/render/``."""
    return [
        i for i in mmap.imports
        if (i.importer == "cds.render" or i.importer.startswith("cds.render."))
        and (i.imported == "cds.engine" or i.imported.startswith("cds.engine."))
    ]


def private_imports(mmap: ModuleMap) -> list[tuple[Import, str]]:
    """(import, name) for each private name (``_x``, not ``__x__``) taken from another module."""
    return [
        (i, n) for i in mmap.imports for n in i.names
        if i.importer != i.imported and n.startswith("_") and not (n.startswith("__") and n.endswith("__"))
    ]


def where(mmap: ModuleMap, imp: Import) -> str:
    """``cds/x.py:12`` for an import, relative to the checkout."""
    return f"{mmap.files[imp.importer].relative_to(mmap.root)}:{imp.line}"


def describe_cycle(mmap: ModuleMap, component: list[str]) -> str:
    """One circle in words: its modules and each import inside it, with file and line."""
    members = set(component)
    inside = sorted(
        {(i.importer, i.imported, where(mmap, i)) for i in mmap.imports
         if i.importer in members and i.imported in members and i.importer != i.imported}
    )
    lines = [f"circle between {', '.join(component)}:"]
    lines += [f"    {a} -> {b} ({at})" for a, b, at in inside]
    return "\n".join(lines)


def format_map(mmap: ModuleMap) -> str:
    """The module map as text: one line per module with its length and the cds modules it imports."""
    width = max(len(name) for name in mmap.files)
    out = []
    for name in sorted(mmap.files):
        imports = ", ".join(mmap.imported_by(name)) or "-"
        out.append(f"{name:<{width}}  {mmap.lines[name]:>5}  {imports}")
    total = sum(mmap.lines.values())
    out.append(f"{len(mmap.files)} modules, {total} lines")
    circles = cycles(mmap)
    out.append(f"{len(circles)} import circle(s)" + ("" if not circles else ":"))
    out += [describe_cycle(mmap, c) for c in circles]
    return "\n".join(out) + "\n"
