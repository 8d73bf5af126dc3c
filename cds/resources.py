"""Where the content folders (knowledge/, pathways/, renderers/, examples/) are.

An installed wheel carries them under ``cds/_content``; a source checkout has
them at the repository root. ``NETCDS_CONTENT`` overrides both (for authors
trying a knowledge branch without reinstalling).
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def content_root() -> Path:
    override = os.environ.get("NETCDS_CONTENT")
    if override:
        return Path(override).resolve()
    bundled = _PACKAGE / "_content"
    if (bundled / "knowledge").is_dir():
        return bundled
    return _PACKAGE.parent


def knowledge_dir() -> Path:
    return content_root() / "knowledge"


def pathways_dir() -> Path:
    return content_root() / "pathways"


def renderers_dir() -> Path:
    return content_root() / "renderers"


def examples_dir() -> Path:
    return content_root() / "examples"
