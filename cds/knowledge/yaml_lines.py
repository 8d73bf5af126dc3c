"""The line of a YAML node, found from a validation error's location.

PyYAML's plain loading keeps no positions, and the loader should not pay for them on every
load: a knowledge file is composed again, with its marks, only when it failed validation.
:func:`line_of` then follows the error's ``loc`` path (mapping keys and list indices) down the
composed node tree and returns the 1-based line of the deepest node it reached, so an author is
sent to ``knowledge/recommendations/pancreas/pnet-x/recommendation.yaml:42`` rather than told "somewhere in this file".
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import yaml

_Composer: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose(text: str | bytes) -> yaml.Node | None:
    """The YAML document as a node tree with positions (``None`` when it does not parse).

    Parameters
    ----------
    text
        The file's text or bytes (UTF-8).

    Returns
    -------
    yaml.Node or None
        The root node of the first document, each node carrying its ``start_mark``; ``None``
        for an empty document or text that is not valid YAML (its syntax error has its own mark).

    Examples
    --------
    >>> compose("a: 1\\n").start_mark.line
    0
    >>> compose("a: [") is None
    True
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=_Composer)
    except yaml.YAMLError:
        return None
    return node


@lru_cache(maxsize=4)
def _composed(text: str | bytes) -> yaml.Node | None:
    # A file with many errors is composed once (the nodes are only read).
    return compose(text)


def line_of(text: str | bytes, loc: Sequence[str | int]) -> int | None:
    """The 1-based line where the node at ``loc`` is written, or its nearest written ancestor's.

    A key reached in a mapping gives the line of the key (for ``strength: 7`` that is also the
    value's line; for a missing field such as ``because.fr`` it is the ``because:`` line, where
    the field should be added). Parts of ``loc`` that name no node (pydantic adds the name of the
    union member it tried, e.g. ``function-after[...]``) are skipped.

    Parameters
    ----------
    text
        The file's text or bytes (UTF-8).
    loc
        The location of a pydantic error (``err["loc"]``): keys and list indices from the root.

    Returns
    -------
    int or None
        A line number counted from 1, or ``None`` when the text does not parse or is empty.

    Examples
    --------
    >>> doc = "rules:\\n  - id: a\\n    then:\\n      - argue: {option: ssa, strength: 7}\\n"
    >>> line_of(doc, ("rules", 0, "then", 0, "argue", "strength"))
    4
    >>> line_of(doc, ("rules", 0, "because", "fr"))  # missing: the rule's own line
    2
    >>> line_of(doc, ())
    1
    """
    node = _composed(text)
    if node is None:
        return None
    line: int = node.start_mark.line
    for part in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line
        elif isinstance(node, yaml.MappingNode):
            # The last of equal keys wins, as when the file is loaded.
            found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
            if not found:
                continue
            key, node = found[-1]
            line = key.start_mark.line
        # Anything else (an index into a scalar, a name pydantic added) names no node: skip it.
    return line + 1
