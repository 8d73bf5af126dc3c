"""The one Jinja2 environment of every template under ``renderers/`` (HTML and Markdown).

Templates are named from the ``renderers/`` folder (``html/report.html.j2``,
``markdown/recommendation.md.j2``). The file suffix decides escaping: HTML templates
(``.html``, ``.html.j2``) are autoescaped, Markdown templates (``.md``, ``.md.j2``) are
not (their values go through the ``md`` and ``code`` filters instead), and anything
else is escaped, to be safe. ``StrictUndefined`` makes a template naming a value that
does not exist fail loudly instead of printing nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from cds.resources import renderers_dir

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md_escape(value: Any) -> str:
    """Escape text so that Markdown shows it literally (also safe inside table cells).

    Parameters
    ----------
    value
        Any value; it is shown as ``str(value)``.

    Returns
    -------
    str
        The text on one line (whitespace runs become one space), with every character that
        Markdown could read as markup (``\\ ` * _ [ ] < > | #``) escaped by a backslash.

    Examples
    --------
    >>> md_escape("Ki-67 *5* %\\n| G2")
    'Ki-67 \\\\*5\\\\* % \\\\| G2'
    """
    text = " ".join(str(value).split())  # no newline may break a list item or a table row
    return _SPECIAL.sub(r"\\\1", text)


def md_code(value: Any) -> str:
    """An inline code span; the fence grows when the value itself holds backticks.

    Parameters
    ----------
    value
        Any value; it is shown as ``str(value)``, on one line.

    Returns
    -------
    str
        The value between backtick fences one longer than its longest run of backticks
        (padded with a space when it starts or ends with one).

    Examples
    --------
    >>> md_code("tumour.ki67_percent"), md_code("a`b")
    ('`tumour.ki67_percent`', '``a`b``')
    """
    text = " ".join(str(value).split())
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def environment(root: Path | None = None) -> jinja2.Environment:
    """The template environment over ``root`` (default: the bundled ``renderers/``); one per folder.

    Parameters
    ----------
    root
        The folder the template names are relative to (default:
        :func:`cds.resources.renderers_dir`).

    Returns
    -------
    jinja2.Environment
        The same environment for the same folder on every call (up to four folders are kept).

    Examples
    --------
    >>> env = environment()
    >>> env.from_string("{{ x }}").render(x="<b>")   # a string template is escaped
    '&lt;b&gt;'
    >>> env.autoescape("markdown/index.md.j2"), env.autoescape("html/report.html.j2")
    (False, True)
    """
    return _environment(str(root or renderers_dir()))


@lru_cache(maxsize=4)
def _environment(root: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(root),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"),
            disabled_extensions=("md", "md.j2"),  # Markdown: values are escaped by md_escape instead
            default_for_string=True,
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["code"] = md_code
    return env


__all__ = ["environment", "md_code", "md_escape"]
