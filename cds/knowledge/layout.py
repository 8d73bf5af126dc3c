"""Where each kind of knowledge file lives: the one place that names the knowledge's folders.

The knowledge has two kinds of home (see ``docs/authoring``):

- **catalogues** (``knowledge/catalogues/``): what many recommendations share, each named for
  what it holds: options, sources, alerts, settings, derived facts, the evidence scale, the
  radiation doses, the follow-up schedules, the missing-data scenarios and the contraindication
  matrix. A catalogue that is a folder is the union of its files.
- **recommendations** (``knowledge/recommendations/<area>/<id>/``): one folder per guideline
  recommendation, holding its statement, the rules that encode it, the pathway edges it owns
  and its vignettes (``vignettes/*.yaml``).

Everything else (the loader, the linter, the vignette runner, the documentation) asks this
module for paths, so that moving a file is a change in one place.

Examples
--------
>>> layout = Layout(Path("knowledge"))
>>> layout.options.as_posix()
'knowledge/catalogues/options.yaml'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The file of a recommendation inside its folder.
RECOMMENDATION_FILE = "recommendation.yaml"
#: The folder of a recommendation's vignettes inside its folder.
VIGNETTE_FOLDER = "vignettes"
#: The file of a trial inside its folder (``catalogues/trials/<trial-id>/``).
TRIAL_FILE = "trial.yaml"
#: The probe patients of the contraindication matrix, inside the matrix's folder.
MATRIX_PROBES_FILE = "probes.yaml"


@dataclass(frozen=True)
class Layout:
    """The paths of every knowledge file kind under one knowledge folder.

    Parameters
    ----------
    root
        The ``knowledge/`` folder.

    Examples
    --------
    >>> layout = Layout(Path("/k"))
    >>> str(layout.catalogue_folder("alerts"))
    '/k/catalogues/alerts'
    """

    root: Path

    # ----------------------------------------------------------- single files

    @property
    def manifest(self) -> Path:
        """The knowledge version and the fields a patient cannot change (``knowledge.yaml``)."""
        return self.root / "knowledge.yaml"

    @property
    def catalogues(self) -> Path:
        """The folder of the catalogues."""
        return self.root / "catalogues"

    @property
    def options(self) -> Path:
        """The option catalogue, least to most invasive."""
        return self.catalogues / "options.yaml"

    @property
    def evidence_scale(self) -> Path:
        """The evidence scale, strongest kind first."""
        return self.catalogues / "evidence-scale.yaml"

    @property
    def radiation_doses(self) -> Path:
        """The effective dose of each examination."""
        return self.catalogues / "radiation-doses.yaml"

    @property
    def follow_up_schedules(self) -> Path:
        """The follow-up schedules and the planner's policy."""
        return self.catalogues / "follow-up-schedules.yaml"

    @property
    def scenarios(self) -> Path:
        """Missing data that changes the answer, and the hypotheses to rank under."""
        return self.catalogues / "missing-data-scenarios.yaml"

    @property
    def not_modelled(self) -> Path:
        """What the knowledge deliberately leaves out, by topic."""
        return self.catalogues / "not-modelled.yaml"

    @property
    def fhir_codes(self) -> Path:
        """The code tables the FHIR mapper reads (LOINC, ICD-10, ICD-O-3, SNOMED CT, ATC, RxNorm)."""
        return self.catalogues / "fhir-codes.yaml"

    @property
    def cohort_mix(self) -> Path:
        """The registry case mix synthetic cohorts are drawn from, each proportion with its source."""
        return self.catalogues / "cohort-mix.yaml"

    @property
    def matrix(self) -> Path:
        """The folder of the contraindication matrix (rows, statements, probe patients)."""
        return self.catalogues / "safety-matrix"

    @property
    def matrix_probes(self) -> Path:
        """The probe patients every matrix cell is checked on."""
        return self.matrix / MATRIX_PROBES_FILE

    @property
    def trials(self) -> Path:
        """The trial catalogue: one folder per trial (``<trial-id>/trial.yaml`` and ``vignettes/``)."""
        return self.catalogues / "trials"

    def trial_files(self) -> list[Path]:
        """Every ``trial.yaml`` of the trial catalogue, in folder order (empty without a catalogue).

        Returns
        -------
        list of Path
            ``catalogues/trials/<trial-id>/trial.yaml`` files.

        Examples
        --------
        >>> Layout(Path("/nowhere")).trial_files()
        []
        """
        return sorted(self.trials.glob(f"*/{TRIAL_FILE}"))

    def trial_vignette_files(self) -> list[Path]:
        """Every vignette of every trial (``catalogues/trials/<trial-id>/vignettes/*.yaml``), in path order.

        Returns
        -------
        list of Path
            The trial vignettes; empty without a catalogue.

        Examples
        --------
        >>> Layout(Path("/nowhere")).trial_vignette_files()
        []
        """
        return sorted(self.trials.glob(f"*/{VIGNETTE_FOLDER}/*.yaml"))

    @property
    def recommendations(self) -> Path:
        """The folder of the recommendations (``<area>/<id>/``)."""
        return self.root / "recommendations"

    @property
    def schemas(self) -> Path:
        """The JSON Schemas of every knowledge file kind, for editors (``cds schema knowledge``)."""
        return self.root / "schemas"

    # ------------------------------------------------------- folder catalogues

    def catalogue_folder(self, name: str) -> Path:
        """A catalogue kept as a folder of files: ``alerts``, ``sources``, ``settings``, ``derived-facts``.

        Parameters
        ----------
        name
            The catalogue's name.

        Returns
        -------
        Path
            ``catalogues/<name>/``.

        Examples
        --------
        >>> Layout(Path("k")).catalogue_folder("sources").as_posix()
        'k/catalogues/sources'
        """
        return self.catalogues / name

    def catalogue_files(self, name: str) -> list[Path]:
        """The files of a folder catalogue, in name order (their union is the catalogue).

        Parameters
        ----------
        name
            The catalogue's name (``alerts``, ``sources``, ``settings``, ``derived-facts``).

        Returns
        -------
        list of Path
            Its ``*.yaml`` files, sorted; empty when the folder is missing.

        Examples
        --------
        >>> from cds.resources import knowledge_dir
        >>> [p.name for p in Layout(knowledge_dir()).catalogue_files("settings")][:2]
        ['advanced-other-sites.yaml', 'follow-up.yaml']
        """
        return sorted(self.catalogue_folder(name).glob("*.yaml"))

    def matrix_files(self) -> list[Path]:
        """The matrix's rows and statements (every file of its folder but the probes).

        Returns
        -------
        list of Path
            Sorted by name.

        Examples
        --------
        >>> from cds.resources import knowledge_dir
        >>> MATRIX_PROBES_FILE in [p.name for p in Layout(knowledge_dir()).matrix_files()]
        False
        """
        return [p for p in sorted(self.matrix.glob("*.yaml")) if p.name != MATRIX_PROBES_FILE]

    # --------------------------------------------------------- recommendations

    def recommendation_files(self) -> list[Path]:
        """Every ``recommendation.yaml``, in path order (area, then id).

        Returns
        -------
        list of Path
            ``recommendations/<area>/<id>/recommendation.yaml`` files.

        Examples
        --------
        >>> from cds.resources import knowledge_dir
        >>> all(p.name == RECOMMENDATION_FILE for p in Layout(knowledge_dir()).recommendation_files())
        True
        """
        return sorted(self.recommendations.glob(f"*/*/{RECOMMENDATION_FILE}"))

    def vignette_files(self) -> list[Path]:
        """Every vignette of every recommendation, in path order.

        Returns
        -------
        list of Path
            ``recommendations/<area>/<id>/vignettes/*.yaml`` files.

        Examples
        --------
        >>> from cds.resources import knowledge_dir
        >>> len(Layout(knowledge_dir()).vignette_files()) > 100
        True
        """
        return sorted(self.recommendations.glob(f"*/*/{VIGNETTE_FOLDER}/*.yaml"))

    @staticmethod
    def recommendation_of_vignette(path: Path) -> Path:
        """The ``recommendation.yaml`` a vignette file belongs to (its folder's parent).

        Parameters
        ----------
        path
            A vignette file.

        Returns
        -------
        Path
            The recommendation file beside its ``vignettes/`` folder.

        Examples
        --------
        >>> Layout.recommendation_of_vignette(Path("r/a/x/vignettes/v.yaml")).as_posix()
        'r/a/x/recommendation.yaml'
        """
        return path.parent.parent / RECOMMENDATION_FILE

    def content_files(self) -> list[Path]:
        """Every file the knowledge's content hash covers (the pathways are added by the loader).

        Vignettes are tests, not knowledge: changing one does not change the knowledge version.

        Returns
        -------
        list of Path
            The manifest, the catalogues, the matrix, every recommendation file and every trial file.

        Examples
        --------
        >>> from cds.resources import knowledge_dir
        >>> Layout(knowledge_dir()).manifest in Layout(knowledge_dir()).content_files()
        True
        """
        files = [self.manifest, self.options, self.evidence_scale, self.radiation_doses,
                 self.follow_up_schedules, self.scenarios]
        for name in ("sources", "alerts", "settings", "derived-facts"):
            files += self.catalogue_files(name)
        return [*files, *self.matrix_files(), *self.recommendation_files(), *self.trial_files()]
