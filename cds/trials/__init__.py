"""Clinical trials: the trial catalogue (``knowledge/catalogues/trials/``), patient matching, import.

- :mod:`cds.trials.model`: the schema of a ``trial.yaml`` (one folder per trial);
- :mod:`cds.trials.loader`: reads and checks the catalogue (called by the knowledge loader);
- :mod:`cds.trials.match`: three-valued matching of one patient against every trial;
- :mod:`cds.trials.ctgov`: a ClinicalTrials.gov API v2 study -> a catalogue entry (criteria as text).

This package module imports nothing, so that the knowledge loader can import the loader
without pulling the engine in.
"""
