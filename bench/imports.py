"""Print the module map of the ``cds`` package: each module, its length and the cds modules it imports.

Reads the source with :mod:`ast` (see ``tests/architecture.py``), so it can map any checkout,
an old commit included, without importing it::

    python bench/imports.py                      # this checkout
    python bench/imports.py --root ../other-checkout  # another one

Each line: module, number of lines, the cds modules it imports (at run time, ``if
TYPE_CHECKING:`` left out). The last lines count modules and lines and list the import
circles, if any.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.architecture import format_map, read_module_map


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the checkout whose cds/ package to map (default: this one)")
    args = parser.parse_args()
    sys.stdout.write(format_map(read_module_map(args.root.resolve())))


if __name__ == "__main__":
    main()
