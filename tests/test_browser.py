"""The demo session's HTML reports as a browser shows them (headless Chromium).

Skipped when Chromium is not installed (``./dev test`` installs Debian's
``chromium`` when it can). The screenshot is kept under pytest's temporary
folder for a human to look at; only its existence and size are checked, never
its pixels.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds.cli import app
from cds.render.views import ui
from cds.resources import examples_dir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

REPORT = "pnet-02-metastatic-g2-ki67-5"
SECTIONS = ('id="synopsis"', 'id="top-anti_tumour"', 'id="top-antisecretory"', 'id="critical"', 'id="alerts"',
            'id="track-anti_tumour"', 'id="excluded"', 'id="why-not"', 'id="missing"', 'id="patient"',
            'id="pathway"', 'id="about"')


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tumour-board session written by ``cds demo --output-dir``."""
    out = tmp_path_factory.mktemp("session")
    result = CliRunner().invoke(app, ["demo", "--output-dir", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return out


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=180, check=False)


def test_report_screenshot(session: Path, tmp_path: Path) -> None:
    report = session / f"{REPORT}.html"
    png = tmp_path / "report.png"
    proc = chromium(tmp_path / "profile", f"--screenshot={png}", "--window-size=1280,2000",
                    report.as_uri())
    assert png.is_file(), proc.stderr.decode("utf-8", "replace")[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000  # a blank page compresses to far less


def test_report_dom_has_every_section(session: Path, tmp_path: Path) -> None:
    proc = chromium(tmp_path / "profile", "--dump-dom", (session / f"{REPORT}.html").as_uri())
    dom = proc.stdout.decode("utf-8")
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-2000:]
    positions = [dom.find(anchor) for anchor in SECTIONS]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), positions
    t = ui("en")
    for heading in (t["alerts"], t["patient_summary"], t["anti_tumour"], t["why_not"],
                    t["pathway_section"], t["about"]):
        assert f">{heading}</h2>" in dom, heading
    assert "does not replace it" in dom
    if shutil.which("dot"):
        assert "<svg" in dom  # the pathway picture is inline
    else:
        assert t["picture_unavailable"] in dom


def test_session_index_links_every_report(session: Path, tmp_path: Path) -> None:
    proc = chromium(tmp_path / "profile", "--dump-dom", (session / "index.html").as_uri())
    dom = proc.stdout.decode("utf-8")
    for path in sorted(examples_dir().glob("*.json")):
        assert f'href="{path.stem}.html"' in dom, path.stem
        assert (session / f"{path.stem}.html").is_file()


def test_report_pictures_zoom_and_print(session: Path, tmp_path: Path) -> None:
    """The route picture is inline with its zoom buttons (the vendored script ran), and the page prints."""
    if not shutil.which("dot"):
        pytest.skip("Graphviz dot is not installed")
    page = (session / f"{REPORT}.html").as_uri()
    proc = chromium(tmp_path / "profile", "--dump-dom", page)
    dom = proc.stdout.decode("utf-8")
    assert 'class="zoomable zoom-ready"' in dom  # svg-zoom.js set up the figure
    assert 'data-zoom="in"' in dom and 'data-zoom="out"' in dom and 'data-zoom="reset"' in dom
    assert "<script src" not in dom and "http" not in dom.split("<script>", 1)[1].split("</script>", 1)[0]
    pdf = tmp_path / "report.pdf"
    chromium(tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page)
    assert pdf.is_file() and pdf.read_bytes()[:5] == b"%PDF-"
