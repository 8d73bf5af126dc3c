"""The bundled example patients: what they are, and a copy to start from.

The examples ship with netcds (``examples/`` in a checkout, ``cds/_content/examples`` in an
installed wheel, or under ``$NETCDS_CONTENT``: see :mod:`cds.resources`), so a new user can run
``cds examples copy my-patients`` and edit a real input file instead of writing one from the
schema. ``examples/index.yaml`` gives each file a one-line description in English and French.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cds.resources import examples_dir

#: The file that describes the examples, beside them.
INDEX = "index.yaml"


@dataclass(frozen=True)
class Example:
    """One bundled example patient.

    Attributes
    ----------
    name
        The file name without ``.json`` (e.g. ``pnet-02-metastatic-g2-ki67-5``).
    path
        The JSON file (the input contract: ``cds schema patient``).
    description
        One line saying what the patient shows, in the language asked for; empty when
        ``index.yaml`` has no entry for it.

    Examples
    --------
    >>> Example("x", Path("x.json"), "A patient").name
    'x'
    """

    name: str
    path: Path
    description: str


def bundled_examples(lang: Literal["en", "fr"] = "en", folder: Path | None = None) -> list[Example]:
    """Every example patient of the folder, sorted by name, with its description.

    Parameters
    ----------
    lang
        Language of the descriptions.
    folder
        The folder to read; default :func:`cds.resources.examples_dir`.

    Returns
    -------
    list of Example
        One per ``*.json`` file.

    Examples
    --------
    >>> first = bundled_examples()[0]
    >>> first.name, first.path.suffix, bool(first.description)
    ('appendix-01-tip-small-resected', '.json', True)
    """
    import yaml

    root = folder if folder is not None else examples_dir()
    index_path = root / INDEX
    index = yaml.safe_load(index_path.read_text(encoding="utf-8")) if index_path.is_file() else None
    described: dict[str, dict[str, str]] = (index or {}).get("examples") or {}
    return [
        Example(path.stem, path, (described.get(path.stem) or {}).get(lang, ""))
        for path in sorted(root.glob("*.json"))
    ]


def copy_examples(destination: Path, overwrite: bool = False) -> list[Path]:
    """Copy every bundled example patient into ``destination`` (created if needed).

    Parameters
    ----------
    destination
        The folder to write into.
    overwrite
        Replace files of the same name; without it, nothing is written when any exists.

    Returns
    -------
    list of Path
        The files written, sorted.

    Raises
    ------
    FileExistsError
        When a file of the same name is already there and ``overwrite`` is false (its name is
        the error's ``filename``); nothing has been written then.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     written = copy_examples(Path(tmp) / "patients")
    ...     len(written) == len(bundled_examples())
    True
    """
    examples = bundled_examples()
    targets = [(e.path, destination / e.path.name) for e in examples]
    if not overwrite:
        for _, target in targets:
            if target.exists():
                raise FileExistsError(17, "already exists", str(target))
    destination.mkdir(parents=True, exist_ok=True)
    for source, target in targets:
        shutil.copyfile(source, target)
    return [target for _, target in targets]
