"""One result row per patient: what a cohort run keeps of each evaluation.

A row is flat enough for a table (JSON Lines or Parquet) and holds what a registry review or a
knowledge diff compares: the top options of each track (option, category, score), the excluded
options, the alert ids, the missing fields, the scenario ids, the follow-up schedule, the open
trials the patient is eligible or potentially eligible for (a registry screened for a trial), and
the knowledge and software versions. A patient that breaks the input contract is a row too
(``status: invalid``) with the field-named message of :class:`cds.errors.InputError`; an engine
failure is ``status: error``. The evaluation is the engine's (:meth:`cds.engine.Engine.evaluate`):
this module only reads its result.

Examples
--------
>>> from cds import default_engine
>>> row = evaluate_text(default_engine(), 0, "line 1", '{"tumour": {"primary_site": "appendix", "ki67_percent": 1, '
...                     '"size_mm": 8}, "disease": {"stage": "localized"}}', RunSettings(surveillance=False))
>>> row["status"], row["category"], row["anti_tumour"][0]["option"]
('ok', 'net_g1', 'surgery_curative')
>>> bad = evaluate_text(default_engine(), 1, "line 2", '{"tumour": {"primary_site": "liver"}}', RunSettings())
>>> bad["status"], bad["error_fields"]
('invalid', ['tumour.primary_site'])
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cds.errors import InputError
from cds.input import check_prior_options, parse_patient
from cds.surveillance import check_imaging_history
from cds.version import SOFTWARE_VERSION

if TYPE_CHECKING:
    from cds.engine import Engine
    from cds.model.recommendation import RankedOption

#: The columns of a result row, in order.
COLUMNS: tuple[str, ...] = (
    "position", "source", "id", "input_hash", "status", "error", "error_fields", "settings",
    "knowledge_version", "software_version", "site", "category", "anti_tumour", "antisecretory",
    "excluded", "alerts", "missing_data", "scenarios", "follow_up_schedule", "follow_up_msv", "trials",
)


@dataclass(frozen=True)
class RunSettings:
    """What a run asks of each evaluation; part of every row, so a resumed run never mixes settings.

    Parameters
    ----------
    lang
        Language of the texts (the rows hold ids, but the engine ranks in a language).
    surveillance
        Plan the follow-up too (the rows then name the schedule and its dose).
    top
        How many ranked options of each track a row keeps.
    knowledge
        Content folders (each holding ``knowledge/`` and ``pathways/``) to evaluate with; empty:
        the knowledge in use. With several, each patient gives one row per folder, in that order
        (``cds diff``). The rows name the knowledge version, so the fingerprint leaves them out.
    trace
        Rows also hold the rules that fired and the pathway edges taken (``fired_rules``, ``edges``).

    Examples
    --------
    >>> RunSettings().fingerprint
    'lang=en;surveillance=1;top=3'
    """

    lang: Literal["en", "fr"] = "en"
    surveillance: bool = True
    top: int = 3
    knowledge: tuple[str, ...] = ()
    trace: bool = False

    @property
    def fingerprint(self) -> str:
        """The settings as the ``settings`` column writes them."""
        return f"lang={self.lang};surveillance={int(self.surveillance)};top={self.top}"


_engines: dict[str, Engine] = {}


def engine_for(content: str | None) -> Engine:
    """The engine over the knowledge of a content folder, built once per process and folder.

    Parameters
    ----------
    content
        A folder holding ``knowledge/`` and ``pathways/``; None for the knowledge in use
        (:func:`cds.default_engine`).

    Returns
    -------
    Engine
        The same engine for the same folder on every call.

    Raises
    ------
    cds.errors.KnowledgeError
        The folder's knowledge does not load.

    Examples
    --------
    >>> from cds import default_engine
    >>> from cds.resources import content_root
    >>> engine_for(None) is default_engine()
    True
    >>> engine_for(str(content_root())).kb.version == default_engine().kb.version
    True
    """
    from cds import default_engine

    if content is None:
        return default_engine()
    engine = _engines.get(content)
    if engine is None:
        from cds.engine import Engine
        from cds.knowledge import load_knowledge

        root = Path(content)
        engine = _engines[content] = Engine(load_knowledge(root / "knowledge", root / "pathways"))
    return engine


def input_hash(text: str) -> str:
    """The SHA-256 of a patient's canonical JSON (sorted keys, compact), as the board computes it.

    Text that is not JSON is hashed as it is.

    Parameters
    ----------
    text
        The patient's JSON text.

    Returns
    -------
    str
        64 hexadecimal digits; the same for the same data however it is laid out.

    Examples
    --------
    >>> input_hash('{"b": 1, "a": 2}') == input_hash('{"a":2,"b":1}')
    True
    """
    try:
        data = json.loads(text)
    except ValueError:
        return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _ranked(options: list[RankedOption], top: int) -> list[dict[str, Any]]:
    return [{"option": o.option, "category": o.category, "score": o.score} for o in options[:top]]


def _base(position: int, source: str, text: str, settings: RunSettings, version: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(position=position, source=source, input_hash=input_hash(text), settings=settings.fingerprint,
               knowledge_version=version, software_version=SOFTWARE_VERSION, error_fields=[],
               anti_tumour=[], antisecretory=[], excluded=[], alerts=[], missing_data=[], scenarios=[], trials=[])
    return row


def evaluate_text(engine: Engine, position: int, source: str, text: str, settings: RunSettings) -> dict[str, Any]:
    """Validate and evaluate one patient given as JSON text, and return its result row.

    Parameters
    ----------
    engine
        The engine (one per process, built once).
    position
        The patient's position in the cohort (from 0).
    source
        Where it came from (``line 12``, a file name, ``row 5``).
    text
        The patient's JSON text.
    settings
        Language, follow-up plan, how many options per track.

    Returns
    -------
    dict
        The row, with the keys of :data:`COLUMNS` in that order. ``status`` is ``ok``,
        ``invalid`` (``error`` holds every problem as ``field: message``, ``error_fields`` the
        fields) or ``error`` (the engine failed; ``error`` says how).

    Examples
    --------
    >>> from cds import default_engine
    >>> row = evaluate_text(default_engine(), 3, "row 3", "{", RunSettings())
    >>> row["status"], row["error"]
    ('invalid', 'not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)')
    """
    row = _base(position, source, text, settings, engine.kb.version)
    try:
        patient = parse_patient(text, source=source)
        row["id"] = patient.id
        check_prior_options(patient, engine.kb.options, source)
        check_imaging_history(patient, engine.kb, source)
    except InputError as exc:
        row["status"] = "invalid"
        row["error"] = "; ".join(str(p) for p in exc.problems)
        row["error_fields"] = list(dict.fromkeys(p.field for p in exc.problems if p.field))
        return row
    try:
        rec = engine.evaluate(patient, settings.lang, settings.surveillance)
    except Exception as exc:  # a bug, not bad input: recorded, counted, never stopping the run
        row["status"] = "error"
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    plan = rec.surveillance
    row.update(
        status="ok",
        site=patient.tumour.primary_site.value,
        category=_str_or_none(rec.derived.get("category")),
        anti_tumour=_ranked(rec.anti_tumour, settings.top),
        antisecretory=_ranked(rec.antisecretory, settings.top),
        excluded=[e.option for e in rec.excluded],
        alerts=[a.id for a in rec.alerts],
        missing_data=[m.field for m in rec.missing_data],
        scenarios=[s.id for s in rec.scenarios],
        follow_up_schedule=plan.schedule if plan is not None else None,
        follow_up_msv=_plan_msv(rec) if plan is not None else None,
        trials=[{"trial": m.id, "verdict": m.verdict} for m in rec.trials
                if m.open and m.verdict != "ineligible"],
    )
    if settings.trace:
        row["fired_rules"] = list(rec.trace.fired_rules)
        row["edges"] = list(rec.trace.edges)
    return row


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _plan_msv(rec: Any) -> float | None:
    plan = rec.surveillance
    recommended = next((p for p in plan.plans if p.recommended), plan.plans[0] if plan.plans else None)
    return None if recommended is None else float(recommended.cumulative_msv)
