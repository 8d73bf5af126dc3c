"""Cohorts: synthetic cohorts (``cds synth``) and evaluation of a whole cohort (``cds batch``)."""
