"""The report service: one patient, evaluated, explained and planned once.

Every output of netcds is a view of the same :class:`Report`: the terminal
table, the JSON contract, the Markdown and HTML tumour-board reports, the
why-not of one option, the follow-up plan and its calendar, the pathway
pictures, the demo session, and the web page and services that come next.
The renderers under :mod:`cds.render` receive a :class:`Report` (or a bare
:class:`~cds.model.Recommendation` read back from JSON) and never evaluate.

What is costly and not always shown (the explanation of every option, the
pathway pictures) is computed on first use and kept: a web page that shows
the report and then the why-not of three options evaluates the patient once.

Examples
--------
>>> from cds import default_engine, parse_patient
>>> engine = default_engine()
>>> patient = parse_patient('{"tumour": {"primary_site": "appendix", "size_mm": 8, '
...                         '"ki67_percent": 1, "differentiation": "well"}, '
...                         '"disease": {"stage": "localized"}}')
>>> report = build_report(engine, patient, "en")
>>> report.recommendation.anti_tumour[0].option   # not yet resected: appendectomy
'surgery_curative'
>>> report.explain("surgery_curative").option
'surgery_curative'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from cds.explain import Explanation, explain_all, explain_detail
from cds.model.recommendation import Lang, Recommendation, SurveillanceReport
from cds.surveillance import surveillance_report

if TYPE_CHECKING:
    from cds.engine import Engine, EvaluationDetail
    from cds.knowledge.loader import KnowledgeBase
    from cds.model.patient import Patient
    from cds.render.pictures import PathwayPicture


@dataclass(frozen=True, eq=False)
class Report:
    """One patient's evaluation and everything derived from it.

    Parameters
    ----------
    patient
        The patient as validated (the report's patient summary shows it).
    kb
        The knowledge base the evaluation ran on (labels, sources, pathways).
    detail
        The evaluation (:meth:`cds.engine.Engine.evaluate_detail`): the
        recommendation and the context the explanations are computed from.

    Examples
    --------
    Built by :func:`build_report`; what is costly is computed on first use and kept:

    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"fit_for_major_surgery": false, "tumour": {"primary_site": "pancreas", '
    ...     '"size_mm": 15, "ki67_percent": 1, "differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> report = build_report(default_engine(), patient, "fr")
    >>> report.lang, [o.option for o in report.recommendation.anti_tumour]
    ('fr', ['watchful_waiting', 'ablation', 'surgery_curative'])
    >>> [x.option for x in report.explanations]   # every option not ranked first
    ['ablation', 'surgery_curative']
    >>> report.explain("surgery_curative") is report.explanations[1]   # explained once
    True
    >>> report.surveillance.surveillance.schedule, report.timeline.startswith("<svg")
    ('ww_pnet_small', True)
    """

    patient: Patient
    kb: KnowledgeBase
    detail: EvaluationDetail
    _explained: dict[str, Explanation] = field(default_factory=dict, repr=False)

    @property
    def recommendation(self) -> Recommendation:
        """The output contract (what ``cds evaluate -f json`` prints)."""
        return self.detail.recommendation

    @property
    def lang(self) -> Lang:
        """The report language (the recommendation's texts are in it)."""
        return self.detail.recommendation.language

    @cached_property
    def explanations(self) -> list[Explanation]:
        """Why not, for every option not ranked first (:func:`cds.explain.explain_all`)."""
        found = explain_all(self.detail, self.kb)
        for x in found:
            self._explained.setdefault(x.option, x)
        return found

    def explain(self, option: str) -> Explanation:
        """Why ``option`` stands where it does (computed on first use, then kept).

        Parameters
        ----------
        option
            An option id of the catalogue (``knowledge/catalogues/options.yaml``), ranked or not.

        Returns
        -------
        cds.explain.Explanation
            The same object on every call for the same option, and the one in
            :attr:`explanations` when that was computed first.

        Raises
        ------
        cds.explain.UnknownOptionError
            When ``option`` is not in the option catalogue (the message suggests the closest ids).

        Examples
        --------
        >>> from cds import default_engine, parse_patient
        >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
        ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
        >>> report = build_report(default_engine(), patient)
        >>> [(tr.track, tr.status) for tr in report.explain("prrt").tracks]
        [('anti_tumour', 'not_proposed')]
        >>> report.explain("PRRT")
        Traceback (most recent call last):
        ...
        cds.explain.UnknownOptionError: unknown option 'PRRT'; did you mean 'prrt'? (allowed: watchful_waiting, ...)
        """
        found = self._explained.get(option)
        if found is None:
            found = self._explained[option] = explain_detail(self.kb, self.detail, option)
        return found

    @cached_property
    def surveillance(self) -> SurveillanceReport:
        """The follow-up plan as ``cds surveillance -f json`` prints it."""
        return surveillance_report(self.recommendation)

    @cached_property
    def pictures(self) -> Mapping[str, PathwayPicture | None]:
        """The pictures of every pathway the patient entered: the patient's route and the full pathway.

        A pathway that cannot be drawn (Graphviz missing or failing) maps to None:
        the report then says so instead of failing.
        """
        from cds.render.pictures import pathway_pictures

        return pathway_pictures(self.kb, self.recommendation)

    @cached_property
    def timeline(self) -> str | None:
        """The follow-up timeline (inline SVG), or None when there is no follow-up to draw."""
        plan = self.recommendation.surveillance
        if plan is None or plan.no_follow_up:
            return None
        from cds.render.timeline import timeline_svg

        return timeline_svg(plan, self.lang)


def build_report(
    engine: Engine, patient: Patient, lang: Lang = "en", *, horizon_years: float | None = None,
) -> Report:
    """Evaluate ``patient`` once and return the :class:`Report` every output is drawn from.

    Parameters
    ----------
    engine
        A compiled engine (:func:`cds.default_engine`).
    patient
        A validated patient (:func:`cds.parse_patient`, :func:`cds.validate_patient`).
    lang
        Report language, ``en`` or ``fr``.
    horizon_years
        Years over which the follow-up plan is laid out (default: the knowledge's setting).

    Returns
    -------
    Report
        The evaluation; explanations and pictures are computed on first use.

    Raises
    ------
    cds.errors.EngineError
        When the rule engine fails (a bug, not bad input).

    Examples
    --------
    >>> from cds import default_engine, parse_patient
    >>> patient = parse_patient('{"tumour": {"primary_site": "pancreas", "size_mm": 15, "ki67_percent": 1, '
    ...                         '"differentiation": "well"}, "disease": {"stage": "localized"}}')
    >>> report = build_report(default_engine(), patient, "en", horizon_years=5)
    >>> report.recommendation.anti_tumour[0].option, report.recommendation.surveillance.horizon_years
    ('watchful_waiting', 5.0)
    """
    detail = engine.evaluate_detail(patient, lang, horizon_years=horizon_years)
    return Report(patient=patient, kb=engine.kb, detail=detail)


