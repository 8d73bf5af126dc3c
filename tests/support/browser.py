"""Debian's Chromium driven by Playwright (sync API), for the board's page tests.

The board's case screen is projected at 1920 x 1080 in the tumour-board room; its tests open the
page in a real browser at that size and check what the room sees without scrolling
(:func:`in_first_screen`), and keep screenshots for a human to look at (:func:`screenshot`).

Playwright's own browser builds are never downloaded (``playwright install`` is not run): the
browser is the system's ``chromium`` (Debian package ``chromium``), launched headless without
the sandbox (the tests may run as root, where Chromium's sandbox refuses to start).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Playwright is a test dependency; this module loads without it
    from playwright.sync_api import Browser, Page, Playwright

VIEWPORT = {"width": 1920, "height": 1080}
"""The projector's screen: the size the case screen is designed for."""

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_executable() -> str | None:
    """The system Chromium (``chromium`` or ``chromium-browser`` on PATH), or None.

    Examples
    --------
    >>> path = chromium_executable()
    >>> path is None or path.endswith(("chromium", "chromium-browser"))
    True
    """
    return shutil.which("chromium") or shutil.which("chromium-browser")


def unavailable_reason() -> str | None:
    """Why the browser tests cannot run here (they skip with it), or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (the 'dev' extra: pip install -e '.[dev]')"
    if chromium_executable() is None:
        return "chromium is not installed (Debian: apt-get install chromium; ./dev test installs it)"
    return None


def launch_chromium(playwright: Playwright) -> Browser:
    """Launch the system Chromium headless, without the sandbox."""
    executable = chromium_executable()
    if executable is None:
        raise RuntimeError(unavailable_reason() or "chromium is not installed")
    return playwright.chromium.launch(executable_path=executable, headless=True, args=LAUNCH_ARGS)


def new_page(browser: Browser, *, locale: str = "en-GB") -> Page:
    """A page in a fresh context (no cookies shared with other tests) at 1920 x 1080."""
    context = browser.new_context(viewport={"width": VIEWPORT["width"], "height": VIEWPORT["height"]},
                                  locale=locale)
    return context.new_page()


def in_first_screen(page: Page, selector: str) -> bool:
    """Whether the first element matching ``selector`` is seen whole without scrolling.

    True when the element is visible and its bounding box, measured from the top of the
    document (as at scroll 0, whatever the page's current scroll), starts at or below 0 and
    ends at or above the viewport's height (1080 px). The page is not scrolled. Raises
    LookupError when nothing matches, so that a mistyped selector cannot pass as "not seen".

    Examples
    --------
    >>> in_first_screen(page, "#synopsis")  # doctest: +SKIP
    True
    """
    locator = page.locator(selector)
    if locator.count() == 0:
        raise LookupError(f"no element matches {selector!r}")
    first = locator.first
    if not first.is_visible():
        return False
    top, bottom = first.evaluate(
        "el => { const r = el.getBoundingClientRect(); return [r.top + window.scrollY, r.bottom + window.scrollY]; }"
    )
    height = (page.viewport_size or VIEWPORT)["height"]
    return bool(top >= 0 and bottom <= height)


def screenshot(page: Page, directory: Path, name: str, *, full_page: bool = False) -> Path:
    """Save a PNG of the page as ``directory/<name>.png`` and return its path.

    ``name`` is made safe for a file name. Only the viewport is taken unless ``full_page``.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "page"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
