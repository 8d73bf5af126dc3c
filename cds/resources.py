"""Where the content folders (knowledge/, pathways/, renderers/, examples/) are.

An installed wheel carries them under ``cds/_content``; a source checkout has
them at the repository root. ``NETCDS_CONTENT`` overrides both (for authors
trying a knowledge branch without reinstalling).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def content_root() -> Path:
    """The folder that holds the content folders, wherever netcds is installed.

    Returns
    -------
    Path
        ``$NETCDS_CONTENT`` when set (resolved), else ``cds/_content`` in an installed wheel,
        else the root of the source checkout.

    Examples
    --------
    >>> sorted(p.name for p in content_root().iterdir() if p.name in ("knowledge", "pathways"))
    ['knowledge', 'pathways']
    """
    return _content_root(os.environ.get("NETCDS_CONTENT") or "")


@functools.lru_cache(maxsize=16)
def _content_root(override: str) -> Path:
    # Worked out once per NETCDS_CONTENT value: every label lookup of a report or a card reaches
    # here, and the answer (a resolve and a stat) does not change while the process runs.
    if override:
        return Path(override).resolve()
    bundled = _PACKAGE / "_content"
    if (bundled / "knowledge").is_dir():
        return bundled
    return _PACKAGE.parent


def knowledge_dir() -> Path:
    """The knowledge folder (rules, catalogues, settings, vignettes): what the engine loads.

    Returns
    -------
    Path
        ``knowledge/`` under :func:`content_root`.

    Examples
    --------
    >>> (knowledge_dir() / "knowledge.yaml").is_file()
    True
    """
    return content_root() / "knowledge"


def pathways_dir() -> Path:
    """The pathways folder: one decision graph per file (``pathways/*.yaml``).

    Returns
    -------
    Path
        ``pathways/`` under :func:`content_root`.

    Examples
    --------
    >>> any(pathways_dir().glob("*.yaml"))
    True
    """
    return content_root() / "pathways"


def renderers_dir() -> Path:
    """The renderers folder: report templates (Markdown, HTML), the Graphviz style and the translations.

    Returns
    -------
    Path
        ``renderers/`` under :func:`content_root`.

    Examples
    --------
    >>> (renderers_dir() / "i18n.yaml").is_file()
    True
    """
    return content_root() / "renderers"


def examples_dir() -> Path:
    """The examples folder: demonstration patients (``cds demo``, the README).

    Returns
    -------
    Path
        ``examples/`` under :func:`content_root`.

    Examples
    --------
    >>> (examples_dir() / "pnet-01-localized-small-nf.json").is_file()
    True
    """
    return content_root() / "examples"
