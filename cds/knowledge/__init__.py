"""Knowledge as data: schemas, the condition language, loading and linting."""

from cds.knowledge.loader import KnowledgeBase, load_knowledge

__all__ = ["KnowledgeBase", "is_valid", "load_knowledge"]


def is_valid(root: str | None = None) -> bool:
    """True when the knowledge at ``root`` (default: the bundled one) loads cleanly."""
    from pathlib import Path

    from cds.errors import KnowledgeError

    try:
        load_knowledge(Path(root) if root else None)
    except KnowledgeError:
        return False
    return True
