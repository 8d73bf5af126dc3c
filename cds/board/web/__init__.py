"""The tumour board's web page: routes, forms and the view models of its pages.

The view models (:mod:`cds.board.web.case_view`, :mod:`cds.board.web.forms`) compute every
value a page shows from the report service (:mod:`cds.report`) and the report views
(:mod:`cds.render.views`); the templates under ``renderers/board/`` only lay them out.
"""
