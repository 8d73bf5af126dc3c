"""The CDS Hooks 2.0 service: netcds answering an EHR's ``patient-view``, ``order-select`` and ``order-sign``.

:mod:`cds.hooks.registry` lists the services (discovery is generated from it),
:mod:`cds.hooks.requests` validates what the EHR sends, :mod:`cds.hooks.prefetch` gathers the
patient's FHIR data, :mod:`cds.hooks.cards` turns a recommendation into cards (no evaluation),
:mod:`cds.hooks.app` is the FastAPI application ``cds hooks serve`` runs and
:mod:`cds.hooks.security` checks the EHR's JWT.
"""
