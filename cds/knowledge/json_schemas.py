"""JSON Schemas of every knowledge file kind, for editors (``cds schema knowledge``).

An author editing a recommendation, a pathway or a catalogue in an editor with a YAML
language server (VS Code's YAML extension, JetBrains IDEs, Neovim's yamlls) gets completion,
hover descriptions and validation from these schemas. They are written from the same pydantic
models the loader validates with, so the editor and ``cds knowledge lint`` agree on the
*shape* of a file; cross-references (a source id that exists, a field the patient contract
has) are still the loader's and the linter's to check.

The repository keeps a copy in ``knowledge/schemas/`` (a test checks it is current) and maps
the files to them in ``.vscode/settings.json``; every ``recommendation.yaml`` also names its
schema on its first line (``# yaml-language-server: $schema=...``).

Examples
--------
>>> schema = knowledge_schema("recommendation")
>>> schema["title"], "statement" in schema["properties"]
('RecommendationSpec', True)
>>> sorted(KINDS)[:3]
['alerts', 'cohort-mix', 'derived-facts']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from cds.fhir.codes import FhirCodes
from cds.knowledge.cohort_mix import CohortMix
from cds.knowledge.schema import (
    AlertCatalogue,
    Config,
    DerivedCatalogue,
    DoseTable,
    EvidenceScale,
    KnowledgeManifest,
    NotModelledCatalogue,
    OptionCatalogue,
    Pathway,
    RecommendationSpec,
    Rule,
    SafetyMatrixFile,
    ScenarioCatalogue,
    SourceCatalogue,
    SurveillanceCatalogue,
)
from cds.knowledge.vignette_schema import Vignette
from cds.trials.model import TrialSpec
from cds.version import SOFTWARE_VERSION

#: The JSON Schema dialect of the exported schemas.
DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class FileKind:
    """One kind of knowledge file: its schema model and where such files are (globs from the repository root).

    Examples
    --------
    >>> KINDS["pathway"].globs
    ('pathways/*.yaml',)
    """

    model: type[BaseModel]
    globs: tuple[str, ...]
    description: str


#: Every knowledge file kind, by the name of its schema file (``<name>.schema.json``).
KINDS: dict[str, FileKind] = {
    "recommendation": FileKind(RecommendationSpec, ("knowledge/recommendations/*/*/recommendation.yaml",),
                               "One recommendation: statement, status, rules, the pathway edges it owns."),
    "vignette": FileKind(Vignette, ("knowledge/recommendations/*/*/vignettes/*.yaml",
                                    "knowledge/catalogues/trials/*/vignettes/*.yaml"),
                         "A knowledge test: a patient, its side of the recommendation, what the board should see."),
    "rule": FileKind(Rule, (), "One rule (inside a recommendation's `rules:`)."),
    "pathway": FileKind(Pathway, ("pathways/*.yaml",), "A decision graph: nodes, edges with conditions, proposals."),
    "knowledge": FileKind(KnowledgeManifest, ("knowledge/knowledge.yaml",),
                          "The knowledge version and the fields a patient cannot change."),
    "options": FileKind(OptionCatalogue, ("knowledge/catalogues/options.yaml",), "The option catalogue."),
    "sources": FileKind(SourceCatalogue, ("knowledge/catalogues/sources/*.yaml",), "The sources catalogue."),
    "alerts": FileKind(AlertCatalogue, ("knowledge/catalogues/alerts/*.yaml",), "The alert catalogue."),
    "settings": FileKind(Config, ("knowledge/catalogues/settings/*.yaml",), "Named practice settings."),
    "derived-facts": FileKind(DerivedCatalogue, ("knowledge/catalogues/derived-facts/*.yaml",),
                              "Facts the classification rules may derive."),
    "evidence-scale": FileKind(EvidenceScale, ("knowledge/catalogues/evidence-scale.yaml",),
                               "The evidence scale, strongest kind first."),
    "radiation-doses": FileKind(DoseTable, ("knowledge/catalogues/radiation-doses.yaml",),
                                "Effective dose of each examination."),
    "fhir-codes": FileKind(FhirCodes, ("knowledge/catalogues/fhir-codes.yaml",),
                           "FHIR code tables: LOINC, ICD-10 / ICD-O-3, ATC, RxNorm, SNOMED CT -> patient fields."),
    "follow-up-schedules": FileKind(SurveillanceCatalogue, ("knowledge/catalogues/follow-up-schedules.yaml",),
                                    "Follow-up schedules and the planner's policy."),
    "missing-data-scenarios": FileKind(ScenarioCatalogue, ("knowledge/catalogues/missing-data-scenarios.yaml",),
                                       "Missing data that changes the answer, and the hypotheses to rank under."),
    "safety-matrix": FileKind(SafetyMatrixFile, ("knowledge/catalogues/safety-matrix/conditions.yaml",
                                                 "knowledge/catalogues/safety-matrix/systemic.yaml",
                                                 "knowledge/catalogues/safety-matrix/cytotoxic.yaml",
                                                 "knowledge/catalogues/safety-matrix/procedures.yaml"),
                              "The contraindication matrix: rows (conditions) and statements."),
    "not-modelled": FileKind(NotModelledCatalogue, ("knowledge/catalogues/not-modelled.yaml",),
                             "What the knowledge deliberately leaves out, by topic."),
    "trial": FileKind(TrialSpec, ("knowledge/catalogues/trials/*/trial.yaml",),
                      "One clinical trial: registry ids, status and the day it was checked, arms, criteria."),
    "cohort-mix": FileKind(CohortMix, ("knowledge/catalogues/cohort-mix.yaml",),
                           "The case mix of synthetic cohorts (`cds synth`), each proportion with its source."),
}


def knowledge_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one knowledge file kind.

    Parameters
    ----------
    kind
        A key of :data:`KINDS`, e.g. ``recommendation`` or ``sources``.

    Returns
    -------
    dict
        The schema, ``$schema`` and ``$id`` first, the kind's description at the top.

    Raises
    ------
    KeyError
        ``kind`` is not a knowledge file kind.

    Examples
    --------
    >>> knowledge_schema("vignette")["properties"]["side"]["enum"]
    ['in', 'out']
    """
    spec = KINDS[kind]
    generated = spec.model.model_json_schema()
    description = spec.description
    if generated.get("description"):
        description = f"{description}\n\n{generated.pop('description')}"
    return {"$schema": DIALECT, "$id": f"https://netcds.org/schema/knowledge/{kind}/{SOFTWARE_VERSION}.json",
            "description": description, **generated}


def editor_settings(schema_dir: str = "knowledge/schemas") -> dict[str, Any]:
    """The ``yaml.schemas`` mapping for VS Code's YAML extension: schema file -> the globs it validates.

    Parameters
    ----------
    schema_dir
        Where the schema files are, relative to the repository root.

    Returns
    -------
    dict
        ``{"yaml.schemas": {"<dir>/<kind>.schema.json": [globs...]}}`` for the kinds that are files.

    Examples
    --------
    >>> editor_settings()["yaml.schemas"]["knowledge/schemas/pathway.schema.json"]
    ['pathways/*.yaml']
    """
    return {"yaml.schemas": {f"{schema_dir}/{kind}.schema.json": list(spec.globs)
                             for kind, spec in KINDS.items() if spec.globs}}
