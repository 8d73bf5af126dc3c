"""The tumour board's application: board sessions, cases, the ranked options on screen, decisions, concordance.

Layers, from the bottom: :mod:`cds.board.models` (the tables), :mod:`cds.board.audit` (the
hash-chained audit trail), :mod:`cds.board.security` (passwords and roles),
:mod:`cds.board.store` (every read and write the web layer may do, each in one transaction,
each write audited), then the web layer. The board evaluates patients only through the report
service (:mod:`cds.report`); it adds storage, people and time around it.
"""
