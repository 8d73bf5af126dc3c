"""netcds: clinical decision support for digestive neuroendocrine neoplasms.

>>> from cds import evaluate, Patient
>>> rec = evaluate(Patient.model_validate({...}))        # doctest: +SKIP

:func:`validate_patient` (plain data) and :func:`parse_patient` (JSON text) check a patient
the way ``cds evaluate`` does: a bad one raises :class:`InputError`, whose problems name each
field at fault and the values allowed there.

The result supports the decision of a multidisciplinary tumour board; it does
not replace it.
"""

from __future__ import annotations

import threading
from typing import Literal

from cds.engine import Engine
from cds.errors import CdsError, EngineError, InputError, KnowledgeError
from cds.input import parse_patient, validate_patient
from cds.knowledge import KnowledgeBase, load_knowledge
from cds.model import Patient, Recommendation
from cds.version import SOFTWARE_VERSION

__version__ = SOFTWARE_VERSION
__all__ = [
    "CdsError",
    "Engine",
    "EngineError",
    "InputError",
    "KnowledgeBase",
    "KnowledgeError",
    "Patient",
    "Recommendation",
    "__version__",
    "default_engine",
    "evaluate",
    "load_knowledge",
    "parse_patient",
    "validate_patient",
]

_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The process-wide engine over the bundled knowledge, compiled on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Engine(load_knowledge())
    return _default


def evaluate(
    patient: Patient, lang: Literal["en", "fr"] = "en", surveillance: bool = True
) -> Recommendation:
    """Rank the options for one patient with the bundled knowledge.

    ``surveillance=False`` skips the follow-up plan (the ``surveillance`` section is null).
    """
    return default_engine().evaluate(patient, lang, surveillance)
