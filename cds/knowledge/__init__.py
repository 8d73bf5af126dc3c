"""Knowledge as data: schemas, the condition language, loading and linting."""

from cds.knowledge.loader import KnowledgeBase, load_knowledge

__all__ = ["KnowledgeBase", "is_valid", "load_knowledge"]


def is_valid(root: str | None = None) -> bool:
    """True when the knowledge at ``root`` (default: the bundled one) loads cleanly.

    Parameters
    ----------
    root
        A knowledge folder (the one holding ``knowledge.yaml``); None for the bundled one. The
        pathways are read from the bundled pathways folder.

    Returns
    -------
    bool
        False when loading raises :class:`~cds.errors.KnowledgeError` (``load_knowledge``
        says why).

    Examples
    --------
    >>> import tempfile
    >>> is_valid(tempfile.mkdtemp())  # an empty folder: knowledge.yaml and the catalogues are missing
    False
    """
    from pathlib import Path

    from cds.errors import KnowledgeError

    try:
        load_knowledge(Path(root) if root else None)
    except KnowledgeError:
        return False
    return True
