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
    """The process-wide engine over the bundled knowledge, compiled on first use.

    Loading and compiling the knowledge takes a few tenths of a second, so every caller in
    the process shares one engine (thread-safe: the first call compiles, the others wait).

    Returns
    -------
    Engine
        The same engine on every call.

    Raises
    ------
    KnowledgeError
        The bundled knowledge (or the one ``NETCDS_CONTENT`` points at) does not load.

    Examples
    --------
    >>> engine = default_engine()
    >>> engine is default_engine()
    True
    >>> "prrt" in engine.kb.options
    True
    """
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Engine(load_knowledge())
    return _default


def evaluate(
    patient: Patient, lang: Literal["en", "fr"] = "en", surveillance: bool = True
) -> Recommendation:
    """Rank the options for one patient with the bundled knowledge (the :func:`default_engine`).

    Parameters
    ----------
    patient
        The validated patient (:func:`parse_patient`, :func:`validate_patient`).
    lang
        Language of the texts in the result (``en`` or ``fr``).
    surveillance
        ``False`` skips the follow-up plan (the ``surveillance`` section is then null), which
        costs about as much as the rules themselves.

    Returns
    -------
    Recommendation
        The ranked options of both tracks with their arguments, the excluded options, alerts,
        missing data and the trace (the output contract, ``cds schema recommendation``).

    Raises
    ------
    KnowledgeError
        The bundled knowledge does not load (first call only).
    EngineError
        The rule engine failed (a bug in netcds or its knowledge, not in the input).

    Examples
    --------
    >>> from cds import evaluate, parse_patient
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> rec = evaluate(patient, lang="fr", surveillance=False)
    >>> rec.anti_tumour[0].option, rec.derived["category"], rec.surveillance is None
    ('watchful_waiting', 'net_g1', True)
    """
    return default_engine().evaluate(patient, lang, surveillance)
