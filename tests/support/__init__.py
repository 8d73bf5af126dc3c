"""Real parts for the tests: a PostgreSQL server, a server process, a headless browser.

The tumour board's tests exercise the real things rather than mocks: a PostgreSQL 15 server
started in a temporary directory (:mod:`tests.support.postgres`), the web server run as a
subprocess that can be stopped or killed (:mod:`tests.support.server`), and Debian's Chromium
driven by Playwright (:mod:`tests.support.browser`). The pytest fixtures that wrap them live in
:mod:`tests.support.fixtures` and are registered by ``tests/conftest.py``; README.md says how to
use them.
"""
