"""The shape of the package: no import circles, no upward imports, no private names across modules.

Data flows one way (input -> facts -> rules -> arguments -> ranking -> report ->
renderers); these tests read every module under ``cds/`` with :mod:`ast`
(``tests/architecture.py``: imports at module level and inside functions, those under
``if TYPE_CHECKING:`` left out) and fail on:

- an import circle among cds modules;
- a module under ``cds/render/`` importing the engine (renderers present what was
  computed; they do not compute);
- a module below the renderers importing one (words and pictures for people are
  written under ``cds/render/``; only the command line and the report service sit above);
- a private name (``_x``) imported from another module;
- the board's storage (``cds.board`` but its web layer and app) importing the renderers, the
  report service or the web layer, or anything but the command line and the CDS Hooks app importing the board.

Each failure lists every violation with its file and line. ``python bench/imports.py``
prints the whole module map.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.architecture import (
    Import,
    ModuleMap,
    cycles,
    describe_cycle,
    engine_imports_from_render,
    format_map,
    private_imports,
    read_module_map,
    where,
)

ROOT = Path(__file__).resolve().parents[1]

#: Modules allowed to import the renderers: they sit above them (the CDS Hooks app serves a report page;
#: the cards present a recommendation to the EHR in the report's words, renderers/i18n.yaml).
ABOVE_RENDER = frozenset({"cds.cli", "cds.report", "cds.hooks.app", "cds.hooks.cards"})
#: The board's web layer and app sit above the report service and the renderers.
BOARD_WEB = ("cds.board.web", "cds.board.app")


def _is_board_web(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in BOARD_WEB)


def _is_board(module: str) -> bool:
    return module == "cds.board" or module.startswith("cds.board.")


@pytest.fixture(scope="module")
def mmap() -> ModuleMap:
    return read_module_map(ROOT)


def _is_render(module: str) -> bool:
    return module == "cds.render" or module.startswith("cds.render.")


def upward_render_imports(mmap: ModuleMap) -> list[Import]:
    """Imports of a renderer by a module that is neither a renderer nor above them."""
    return [
        i for i in mmap.imports
        if _is_render(i.imported) and not _is_render(i.importer) and i.importer not in ABOVE_RENDER
        and not _is_board_web(i.importer)
    ]


def _listing(mmap: ModuleMap, imports: list[Import]) -> str:
    return "\n".join(f"  {i.importer} imports {i.imported} ({where(mmap, i)})" for i in imports)


# ------------------------------------------------------------------ the rules


def test_no_import_circle(mmap: ModuleMap) -> None:
    found = cycles(mmap)
    assert not found, "import circles:\n" + "\n".join(describe_cycle(mmap, c) for c in found)


def test_renderers_do_not_import_the_engine(mmap: ModuleMap) -> None:
    found = engine_imports_from_render(mmap)
    assert not found, "renderers importing the engine:\n" + _listing(mmap, found)


def test_nothing_below_the_renderers_imports_them(mmap: ModuleMap) -> None:
    found = upward_render_imports(mmap)
    assert not found, "upward imports of the renderers:\n" + _listing(mmap, found)


def test_board_layers(mmap: ModuleMap) -> None:
    """The board's storage knows nothing of pages or evaluation; only the CLI and the hooks app (feedback) use it."""
    storage_up = [
        i for i in mmap.imports
        if _is_board(i.importer) and not _is_board_web(i.importer)
        and (_is_render(i.imported) or _is_board_web(i.imported) or i.imported == "cds.report")
    ]
    assert not storage_up, "the board's storage imports what sits above it:\n" + _listing(mmap, storage_up)
    outside = [i for i in mmap.imports if _is_board(i.imported) and not _is_board(i.importer)
               and i.importer not in ("cds.cli", "cds.hooks.app")]  # the hooks app records feedback there
    assert not outside, "modules outside the board importing it:\n" + _listing(mmap, outside)


def test_no_private_name_is_imported_across_modules(mmap: ModuleMap) -> None:
    found = private_imports(mmap)
    assert not found, "private names imported from another module:\n" + "\n".join(
        f"  {i.importer} takes {name} from {i.imported} ({where(mmap, i)})" for i, name in found
    )


def test_the_module_map_prints(mmap: ModuleMap) -> None:
    text = format_map(mmap)
    assert text.splitlines()[0].startswith("cds ")
    assert "cds.pathways" in text and "import circle(s)" in text


# ------------------------------------------------------------------ the reader itself


def _tree(root: Path, files: dict[str, str]) -> ModuleMap:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return read_module_map(root)


def test_reader_resolves_every_form_of_import(tmp_path: Path) -> None:
    mmap = _tree(tmp_path, {
        "cds/__init__.py": "from cds.a import thing\n",
        "cds/a.py": """\
            from typing import TYPE_CHECKING

            import cds.sub.b
            from cds.sub import c
            from . import errors

            if TYPE_CHECKING:
                from cds.render import view
            else:
                from cds.sub import helper

            thing = 1


            def later() -> None:
                from cds.render.html import page
            """,
        "cds/errors.py": "",
        "cds/sub/__init__.py": "helper = 1\n",
        "cds/sub/b.py": "from ..errors import _private\nfrom .c import name\n",
        "cds/sub/c.py": "name = 1\nimport os\n",
        "cds/render/__init__.py": "view = 1\n",
        "cds/render/html.py": "from cds.engine import run\n",
        "cds/engine.py": "from cds.render.html import page\n",
    })
    assert mmap.imported_by("cds") == ["cds.a"]
    # import x.y; from pkg import submodule; relative; else of TYPE_CHECKING; inside a function
    assert mmap.imported_by("cds.a") == ["cds.errors", "cds.render.html", "cds.sub", "cds.sub.b", "cds.sub.c"]
    assert mmap.imported_by("cds.sub.b") == ["cds.errors", "cds.sub.c"]
    assert mmap.imported_by("cds.sub.c") == []
    assert [(i.importer, name) for i, name in private_imports(mmap)] == [("cds.sub.b", "_private")]
    assert [i.importer for i in engine_imports_from_render(mmap)] == ["cds.render.html"]
    assert cycles(mmap) == [["cds.engine", "cds.render.html"]]
    assert "cds.engine -> cds.render.html (cds/engine.py:1)" in describe_cycle(mmap, cycles(mmap)[0])
    assert mmap.lines["cds.a"] == 16
