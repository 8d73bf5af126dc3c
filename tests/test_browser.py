"""The demo session's HTML reports as a browser shows them (headless Chromium).

Skipped when Chromium is not installed (``./dev test`` installs Debian's
``chromium`` when it can). The screenshot is kept under pytest's temporary
folder for a human to look at; only its existence and size are checked, never
its pixels. The first screen is checked by geometry: a copy of each report with
a small measuring script, laid out at 1920 x 1080, says where the synopsis and the
top option of each track are.
"""

from __future__ import annotations

import html
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


#: Measures, once the page has laid out, where the first-screen blocks are (viewport px), and writes
#: it into the DOM for ``--dump-dom`` to return. Added to a copy of the report, never to the report.
GEOMETRY_PROBE = """<script>
window.addEventListener('load', function () {
  var out = {viewport: [window.innerWidth, window.innerHeight]};
  ['synopsis', 'top-anti_tumour', 'top-antisecretory', 'critical', 'alerts'].forEach(function (id) {
    var e = document.getElementById(id);
    if (e) { var r = e.getBoundingClientRect(); out[id] = [r.left, r.top, r.right, r.bottom]; }
  });
  var pre = document.createElement('pre'); pre.id = 'netcds-geometry'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def geometry(report: Path, tmp_path: Path, width: int, height: int) -> dict[str, list[float]]:
    """Where the first-screen blocks of ``report`` lie in a ``width`` x ``height`` browser window."""
    import json
    import re

    probed = tmp_path / f"{report.stem}.{width}.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("</head>", GEOMETRY_PROBE + "</head>", 1),
                      encoding="utf-8")
    proc = chromium(tmp_path / "profile", f"--window-size={width},{height}", "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="netcds-geometry">(.*?)</pre>', proc.stdout.decode("utf-8"))
    assert found, proc.stderr.decode("utf-8", "replace")[-2000:]
    data: dict[str, list[float]] = json.loads(html.unescape(found.group(1)))
    return data


@pytest.mark.parametrize("name", [p.stem for p in sorted(examples_dir().glob("*.json"))])
def test_first_screen_shows_synopsis_and_top_options(session: Path, tmp_path: Path, name: str) -> None:
    """At 1920 x 1080 the synopsis and the top option of each track are on the first screen.

    The browser window's viewport is smaller than the screen (``innerHeight`` below 1080 in
    headless Chromium), so the check is stricter than the projector's full screen.
    """
    g = geometry(session / f"{name}.html", tmp_path, 1920, 1080)
    width, height = g["viewport"]
    screen_bottom = min(height, 1080)
    for block in ("synopsis", "top-anti_tumour", "top-antisecretory"):
        _, top, right, bottom = g[block]
        assert top >= 0 and bottom <= screen_bottom and right <= min(width, 1920), (block, g[block], g["viewport"])
    # the two tracks side by side: same row, the antisecretory one to the right
    assert g["top-anti_tumour"][1] == g["top-antisecretory"][1]
    assert g["top-anti_tumour"][2] <= g["top-antisecretory"][0]
    assert g["synopsis"][3] <= g["top-anti_tumour"][1] <= g["critical"][1] <= g["alerts"][1]


def test_first_screen_stacks_the_tracks_on_a_narrow_screen(session: Path, tmp_path: Path) -> None:
    g = geometry(session / f"{REPORT}.html", tmp_path, 700, 1000)
    assert g["top-antisecretory"][1] >= g["top-anti_tumour"][3]  # one column
    assert g["top-antisecretory"][0] == g["top-anti_tumour"][0]
