"""Run Graphviz ``dot``: DOT text in, an SVG or PNG picture out.

:func:`render` runs the ``dot`` program on DOT text (:mod:`cds.render.dot`);
:func:`render_svg` draws one pathway as an SVG element ready to inline in an HTML
page. When Graphviz is missing, :class:`GraphvizNotFound` says how to install it and
callers fall back to the DOT text, which needs no Graphviz.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Literal

from cds.errors import CdsError
from cds.knowledge.loader import KnowledgeBase
from cds.model.recommendation import Recommendation
from cds.render.dot import Lang, to_dot

ImageFormat = Literal["svg", "png"]
DOT_TIMEOUT_S = 120
INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; Fedora: sudo dnf install "
    "graphviz; macOS: brew install graphviz) so that the `dot` program is on PATH"
)


class GraphvizNotFound(CdsError):
    """The Graphviz ``dot`` program is not installed: only DOT text can be produced."""

    def __init__(self) -> None:
        super().__init__(f"Graphviz is missing: the `dot` program was not found; {INSTALL_HINT}")


class RenderError(CdsError):
    """``dot`` ran but failed (a bug in the DOT text or in Graphviz)."""


def dot_binary() -> str | None:
    """The path of Graphviz ``dot`` on PATH, or None when Graphviz is not installed."""
    return shutil.which("dot")


def render(dot_text: str, fmt: ImageFormat = "svg") -> bytes:
    """Run Graphviz ``dot -T<fmt>`` on DOT text.

    Raises
    ------
    GraphvizNotFound
        ``dot`` is not on PATH (the message says how to install it).
    RenderError
        ``dot`` failed or ran longer than two minutes.
    ValueError
        ``fmt`` is not svg or png.
    """
    if fmt not in ("svg", "png"):
        raise ValueError(f"unknown picture format {fmt!r}; use svg or png")
    binary = dot_binary()
    if binary is None:
        raise GraphvizNotFound()
    try:
        done = subprocess.run(
            [binary, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
            timeout=DOT_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        raise RenderError(f"Graphviz dot ran longer than {DOT_TIMEOUT_S} s") from None
    except OSError as exc:
        raise RenderError(f"cannot run Graphviz dot ({binary}): {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise RenderError(f"Graphviz dot failed (exit {done.returncode}): {message}")
    return done.stdout


def inline_svg(svg: str) -> str:
    """An SVG document without its XML prolog, doctype and generator comments.

    What remains starts with ``<svg`` and can go inside an HTML page.
    """
    start = svg.find("<svg")
    return svg[start:].strip() + "\n" if start >= 0 else svg


def render_svg(
    kb: KnowledgeBase, pathway_id: str, lang: Lang = "en", rec: Recommendation | None = None
) -> str:
    """The pathway as an inline SVG element (for the HTML report).

    Raises :class:`GraphvizNotFound` when Graphviz is missing; the caller may
    then fall back to :func:`to_dot`. Every element id is prefixed with the
    pathway id, so several pictures can share one page.
    """
    return inline_svg(render(to_dot(kb, pathway_id, lang, rec), "svg").decode("utf-8"))


#: What drawing a picture may raise besides a bug: a caller that can do without the
#: picture (a report) catches these and shows a note instead.
DRAWING_ERRORS: tuple[type[Exception], ...] = (GraphvizNotFound, RenderError, OSError, subprocess.SubprocessError)


__all__ = [
    "DOT_TIMEOUT_S",
    "DRAWING_ERRORS",
    "INSTALL_HINT",
    "GraphvizNotFound",
    "ImageFormat",
    "RenderError",
    "dot_binary",
    "inline_svg",
    "render",
    "render_svg",
]
