"""The board end to end in a real browser: Debian's Chromium under Playwright, against ``cds board serve``
run as a subprocess on a fresh database, the first account made by ``cds board create-user``.

The path a coordinator walks before and during a tumour board: sign in, create a session, enter a
case through the form (a typo'd Ki-67 first: the message beside the field is the CLI's), fix it,
see the ranking (synopsis and the top option of each track inside the first 1920 x 1080 screen, in
English and in French), put the case on the agenda, run a what-if, record a decision that departs
from the top option (refused without a reason, recorded with one), find it in the concordance
dashboard and its CSV export, and in the session's minutes (HTML in both languages, PDF).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cds.render.i18n import labels
from cds.resources import examples_dir
from tests.support.board import PASSWORD, PNET_FORM, PNET_JSON, Board, board_env, cli, create_user, serve_command
from tests.support.browser import in_first_screen

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.support.fixtures import Screenshot, ServerRunner

#: Where to keep the case-screen screenshots (docs/images takes them from there): $NETCDS_SCREENSHOT_DIR.
SCREENSHOT_DIR = os.environ.get("NETCDS_SCREENSHOT_DIR")
#: A patient with carcinoid syndrome: options in both tracks and a critical alert.
SI_02 = "si-02-carcinoid-syndrome-uncontrolled.json"


@pytest.fixture
def board(server_runner: ServerRunner, database_url: str, tmp_path: Path) -> Iterator[Board]:
    """A board server on a fresh database whose only account, ``cora``, is a coordinator made by the CLI."""
    env = board_env(tmp_path / "board-data")
    create_user(database_url, "cora", "coordinator", env)
    server = server_runner(serve_command(database_url), env=env, ready_path="/login", timeout=60)
    yield Board(server, database_url, env)


def cli_message(patient: dict[str, object], tmp_path: Path) -> dict[str, str]:
    """What ``cds evaluate`` says of each field of an invalid patient (``field: message`` lines)."""
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(patient), encoding="utf-8")
    done = cli("evaluate", str(path))
    assert done.returncode == 2, done.stdout + done.stderr
    return dict(re.findall(r"^\s+- ([\w.\[\]]+): (.+)$", done.stderr, re.M))


def _sign_in(page: Page, base: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", "cora")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.narrow button[type=submit]")
    page.wait_for_url(base + "/sessions")


def _fill_case(page: Page, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        selector = f'[name="{name}"]'
        if page.locator(f"select{selector}").count():
            page.select_option(f"select{selector}", value)
        else:
            page.fill(f"input{selector}", value)


def _check_form(page: Page) -> None:
    """Click "Check the form" and wait for the swapped fields (htmx, POST /cases/validate)."""
    with page.expect_response(lambda r: r.url.endswith("/cases/validate")):
        page.click("form.case-form button[type=button]")
    page.wait_for_load_state("networkidle")


def _first_screen(page: Page) -> None:
    for selector in ("#synopsis", "#top-anti_tumour li.rank-1", "#top-antisecretory li.rank-1", "#critical"):
        assert in_first_screen(page, selector), f"{selector} is not inside the first 1920 x 1080 screen"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_board_in_the_browser(board: Board, page: Page, screenshot: Screenshot, tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    base = board.url
    en = labels("en")
    _sign_in(page, base)

    # a session
    page.fill("form[action='/sessions'] input[name=title]", "RCP TNE digestives")
    page.fill("form[action='/sessions'] input[name=date]", "2026-12-07")
    page.fill("form[action='/sessions'] textarea[name=participants]", "Dr Martin\nDr Dupont")
    page.click("form[action='/sessions'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/sessions/\d+$"))
    session_url = page.url
    assert page.locator("h1").inner_text().startswith("RCP TNE digestives")

    # a case, first with a typo'd Ki-67: the message beside the field is the CLI's
    page.goto(base + "/cases/new")
    _fill_case(page, {k: v for k, v in PNET_FORM.items() if k != "tumour.ki67_percent"})
    # typed as a person types, while the live check of the field just left (size) is in flight:
    # what is typed is kept (the swapped fields once overwrote it: "150" became "15")
    page.click('input[name="tumour.ki67_percent"]')
    page.keyboard.type("150", delay=200)
    page.wait_for_load_state("networkidle")
    assert page.input_value('input[name="tumour.ki67_percent"]') == "150"
    _check_form(page)
    typo = {**PNET_JSON, "tumour": {**PNET_JSON["tumour"], "ki67_percent": 150}}  # type: ignore[dict-item]
    expected = cli_message(typo, tmp_path)
    assert expected == {"tumour.ki67_percent": "must be <= 100 (got 150)"}
    beside = page.locator('[data-field="tumour.ki67_percent"] .field-error')
    expect(beside).to_have_text([expected["tumour.ki67_percent"]])
    assert page.locator(".field-error").count() == 1  # no other field is blamed
    assert page.input_value('input[name="tumour.ki67_percent"]') == "150"  # what was typed is kept

    # fixed: no problem left, saved, the case screen
    page.fill('input[name="tumour.ki67_percent"]', "1")
    _check_form(page)
    expect(page.locator("#case-fields [role=status]")).to_have_text(en["board_form_ok"])
    assert page.locator(".field-error").count() == 0
    page.click("form.case-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/cases/C-[\w-]+$"))
    case_url = page.url
    case_id = case_url.rsplit("/", 1)[-1]

    # the ranking, in the first screen (no antisecretory track for this patient: nothing to treat)
    synopsis = page.locator("#synopsis").inner_text()
    assert "pancreas" in synopsis and "Ki-67 1" in synopsis
    assert page.locator("#top-anti_tumour li.rank-1 .top-line strong").inner_text()
    assert page.locator("#top-anti_tumour li.rank-1 .lead").count() == 1
    assert page.locator("#top-antisecretory").count() == 0
    for selector in ("#synopsis", "#top-anti_tumour li.rank-1"):
        assert in_first_screen(page, selector), selector

    # a second case from a patient JSON (upload, read into the form, saved): both tracks ranked,
    # a critical alert; the first screen in English, then in French
    page.goto(base + "/cases/new")
    page.set_input_files("form.upload input[type=file]", str(examples_dir() / SI_02))
    with page.expect_navigation():
        page.click("form.upload button[type=submit]")
    assert page.locator(".field-error").count() == 0
    with page.expect_navigation():
        page.click("form.case-form button[type=submit]")
    si_url = page.url
    assert re.search(r"/cases/C-[\w-]+$", si_url), si_url
    assert page.locator("#critical li.sev-critical").count() >= 1
    _first_screen(page)
    _keep(screenshot(page, "case-en"), "case-en.png")
    page.goto(si_url + "?lang=fr")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "intestin grêle" in page.locator("#synopsis").inner_text()
    _first_screen(page)
    _keep(screenshot(page, "case-fr"), "case-fr.png")
    page.goto(si_url + "?lang=en")

    # on the agenda of the session, then marked discussed (htmx swaps the agenda)
    page.goto(session_url)
    page.select_option("#agenda select[name=case_id]", case_id)
    page.click("#agenda > form button[type=submit]")
    expect(page.locator(f"#agenda ol.agenda a[href='/cases/{case_id}']")).to_have_count(1)
    page.click(f"#agenda li:has(a[href='/cases/{case_id}']) form[action$='/discussed'] button")
    expect(page.locator("#agenda li.discussed")).to_have_count(1)

    # what-if: fit for major surgery, the two rankings side by side, what moved
    page.goto(case_url)
    page.click(f"a[href='/cases/{case_id}/whatif']")
    page.wait_for_url(case_url + "/whatif")
    page.select_option('select[name="fit_for_major_surgery"]', "true")
    page.wait_for_load_state("networkidle")
    page.click(".whatif form > button[type=submit]")
    result = page.locator("#whatif-result")
    expect(result.locator("h2")).to_have_count(1)
    assert result.locator("h2").first.inner_text() == en["board_whatif_moved"]
    assert result.locator(".side-by-side > div").count() == 2
    assert result.locator("ul.moves li").count() >= 1  # surgery becomes possible: something moves

    # a decision that departs from the top option: refused without a reason, recorded with one
    page.goto(case_url)
    fingerprint = page.locator("form.decision-form .prov code").first.inner_text()
    options = page.locator("form.decision-form input[name='chosen.anti_tumour']")
    assert options.count() >= 2
    other_label = page.locator("form.decision-form label.check:has(input[name='chosen.anti_tumour'])").nth(1)
    other_label.locator("input").check()
    page.fill("form.decision-form textarea[name=free_text]", "Surgery preferred by the board.")
    page.fill("form.decision-form textarea[name=participants]", "Dr Martin\nDr Dupont")
    with page.expect_navigation():
        page.click("form.decision-form button[type=submit]")
    assert page.locator("#decision-error").inner_text() == en["board_deviation_required"]
    assert page.locator("#decisions .decision").count() == 0
    # what was entered is still there: only the reason is to add
    assert page.locator("form.decision-form input[name='chosen.anti_tumour']").nth(1).is_checked()
    assert page.input_value("form.decision-form textarea[name=free_text]") == "Surgery preferred by the board."
    page.select_option("form.decision-form select[name=deviation_reason]", "patient_preference")
    page.fill("form.decision-form input[name=deviation_text]", "Wishes a definitive treatment.")
    page.click("form.decision-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/cases/C-[\w-]+(#decisions)?$"))
    decision = page.locator("#decisions .decision.deviation")
    assert decision.count() == 1
    text = decision.inner_text()
    assert en["board_dev_patient_preference"] in text and "Wishes a definitive treatment." in text
    assert "Dr Martin, Dr Dupont" in text
    # it refers to the evaluation it was taken on: the case version's input fingerprint
    assert decision.locator(".prov code").first.inner_text() == fingerprint and len(fingerprint) == 16
    assert page.locator("#decision-error").count() == 0

    # the concordance dashboard counts it, by deviation reason; the CSV export has its row
    page.click("header nav a[href='/dashboard']")
    page.wait_for_url(base + "/dashboard")
    assert re.search(r"\b1\b", page.locator("#concordance-total").inner_text())
    assert en["board_dev_patient_preference"] in page.locator("#by-deviation_reason").inner_text()
    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    mine = [r for r in rows if r["case_id"] == case_id and r["track"] == "anti_tumour"]
    assert len(mine) == 1 and mine[0]["concordant"] == "no", rows
    assert mine[0]["deviation_reason"] == "patient_preference" and mine[0]["top_option"] != mine[0]["chosen"]

    # the minutes of the session, HTML in English and French, and the PDF
    page.goto(session_url)
    page.click("#minutes-html")
    page.wait_for_url(session_url + "/minutes")
    minutes = page.locator(f"section.case[id='{case_id}']")
    assert "Surgery preferred by the board." in minutes.inner_text()
    assert "Dr Martin, Dr Dupont" in minutes.inner_text()
    page.goto(session_url + "/minutes?lang=fr")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "pancréas" in page.locator(f"section.case[id='{case_id}'] .synopsis").inner_text()
    page.goto(session_url)
    with page.expect_download() as download:
        page.click("#minutes-pdf")
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000


def _keep(shot: Path, name: str) -> None:
    """Copy a screenshot to $NETCDS_SCREENSHOT_DIR when it is set (to refresh docs/images)."""
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(SCREENSHOT_DIR) / name)
