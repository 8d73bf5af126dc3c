"""Renderers: everything that writes words or pictures for people.

A renderer receives a :class:`cds.report.Report` (one patient evaluated,
explained and planned once by the report service) or a bare
:class:`~cds.model.Recommendation` read back from JSON, and formats it; it
never evaluates. :mod:`cds.render.views` computes every value a report shows,
in the report language, from ``renderers/i18n.yaml`` (:mod:`cds.render.i18n`);
the Rich tables (:mod:`cds.render.text`) and the Jinja2 templates
(:mod:`cds.render.markdown`, :mod:`cds.render.html`) only lay it out.
:mod:`cds.render.why_not` writes the sentences of an explanation.

This package imports nothing itself, so that ``import cds.render`` stays cheap.
"""
