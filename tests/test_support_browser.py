"""The browser fixtures themselves, on a static HTML page (Debian's Chromium under Playwright).

The board's case screen must show its synopsis and top options without scrolling at 1920 x 1080;
``in_first_screen`` is how its tests say so. Screenshots are kept under pytest's temporary folder
for a human to look at; only their existence and size are checked, never their pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import in_first_screen
from tests.support.fixtures import Screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Page

STATIC = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Board screen</title>
<style>body { margin: 0; font: 20px sans-serif; } #synopsis { height: 100px; background: #dde; }
#spacer { height: 1200px; } #details { height: 50px; } #straddle { position: absolute; top: 1000px; height: 200px; }
#hidden { display: none; }</style></head>
<body><h1 id="synopsis">pNET G2, Ki-67 5 %, liver metastases: stable</h1>
<div id="straddle">cut by the bottom of the screen</div><p id="hidden">hidden</p>
<div id="spacer"></div><div id="details">all arguments with sources</div></body></html>
"""


@pytest.fixture
def static_page(page: Page, tmp_path: Path) -> Page:
    html = tmp_path / "screen.html"
    html.write_text(STATIC, encoding="utf-8")
    page.goto(html.as_uri())
    return page


def test_page_is_the_projector_size(static_page: Page) -> None:
    assert static_page.viewport_size == {"width": 1920, "height": 1080}
    assert static_page.evaluate("[window.innerWidth, window.innerHeight]") == [1920, 1080]
    assert static_page.title() == "Board screen"


def test_in_first_screen(static_page: Page) -> None:
    assert in_first_screen(static_page, "#synopsis")
    assert not in_first_screen(static_page, "#details")  # below the fold
    assert not in_first_screen(static_page, "#straddle")  # starts on screen, ends below it
    assert not in_first_screen(static_page, "#hidden")  # not visible at all
    static_page.evaluate("window.scrollTo(0, 1500)")  # measured as at scroll 0, whatever the scroll
    assert in_first_screen(static_page, "#synopsis")
    assert not in_first_screen(static_page, "#details")
    with pytest.raises(LookupError, match="#no-such-thing"):
        in_first_screen(static_page, "#no-such-thing")


def test_screenshot_is_kept(static_page: Page, screenshot: Screenshot, tmp_path: Path) -> None:
    png = screenshot(static_page, "case screen (first view)")
    assert png.parent == tmp_path / "screenshots" and png.name == "case-screen-first-view.png"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000
    full = screenshot(static_page, "whole", full_page=True)
    assert full.stat().st_size > 0
