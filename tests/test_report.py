"""The tumour-board report (Markdown and HTML, English and French).

- Golden files (tests/golden/reports/) for two patients on the fixture
  knowledge (tests/fixtures/mini), which does not change as guidelines are
  encoded; pathway pictures are left out so they do not depend on Graphviz.
  Refresh them with ``pytest --update-golden`` and review the diff.
- Smoke tests on the bundled knowledge for every example patient in both
  languages: no exception, every section present and in order, and no English
  label of renderers/i18n.yaml left in a French report.
- The label catalogue covers every patient field, value and derived fact.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterator
from pathlib import Path

import markupsafe
import pytest
from typer.testing import CliRunner

from cds import Engine, load_knowledge
from cds.cli import app
from cds.input import read_patient_file
from cds.knowledge import KnowledgeBase
from cds.knowledge.vocabulary import patient_vocabulary
from cds.model.recommendation import disclaimer
from cds.render.html import render_html
from cds.render.i18n import catalogue, english_texts, labels
from cds.render.markdown import render_markdown
from cds.render.templates import md_escape
from cds.render.views import ui
from cds.report import build_report
from cds.resources import examples_dir
from cds.version import SOFTWARE_VERSION

MINI = Path(__file__).parent / "fixtures" / "mini"
GOLDEN = Path(__file__).parent / "golden" / "reports"
EXAMPLES = sorted(examples_dir().glob("*.json"))
PNET_KI67_5 = examples_dir() / "pnet-02-metastatic-g2-ki67-5.json"

runner = CliRunner()

#: Section anchors of the HTML report, in the order the report must show them: first what a tumour
#: board reads first (synopsis, top options of both tracks, critical alerts), then the details.
HTML_SECTIONS = ('id="synopsis"', 'id="top-anti_tumour"', 'id="top-antisecretory"', 'id="critical"',
                 'id="alerts"', 'id="track-anti_tumour"', 'id="excluded"', 'id="why-not"', 'id="missing"',
                 'id="patient"', 'id="pathway"', 'id="about"')
#: Keys of the Markdown section headings, in order (the synopsis line comes before the first).
MD_SECTIONS = ("top_options", "critical_alerts", "alerts", "anti_tumour", "excluded", "why_not", "missing_data",
               "patient_summary", "pathway_section", "about")


@pytest.fixture(scope="module")
def mini_engine() -> Iterator[Engine]:
    eng = Engine(load_knowledge(MINI / "knowledge", MINI / "pathways"))
    yield eng
    eng.close()


def render(engine: Engine, patient_file: Path, lang: str, fmt: str, *, pictures: bool = False) -> str:
    report = build_report(engine, read_patient_file(patient_file), lang)  # type: ignore[arg-type]
    if fmt == "md":
        return render_markdown(report)
    return render_html(report, pictures=pictures)


# ------------------------------------------------------------------ golden files


@pytest.mark.parametrize("fmt", ["md", "html"])
@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("name", ["patient-a", "patient-b"])
def test_golden_report(mini_engine: Engine, update_golden: bool, name: str, lang: str, fmt: str) -> None:
    # The fixture's content hash is not the report's business: a file added to the fixture for
    # another feature must not invalidate these files.
    got = render(mini_engine, GOLDEN / f"{name}.json", lang, fmt).replace(
        mini_engine.kb.version, "KNOWLEDGE-VERSION").replace(SOFTWARE_VERSION, "SOFTWARE-VERSION")
    golden = GOLDEN / f"{name}.{lang}.{fmt}"
    if update_golden:
        golden.write_text(got, encoding="utf-8", newline="\n")
        return
    assert golden.exists(), f"{golden} is missing: run pytest --update-golden"
    assert got == golden.read_text(encoding="utf-8"), (
        f"{golden.name} differs from the output; if the change is intended, run "
        "pytest --update-golden and review the diff"
    )


def test_golden_reports_cover_the_report(mini_engine: Engine) -> None:
    """The two golden patients exercise every section: why-not, exclusion, missing data."""
    a = render(mini_engine, GOLDEN / "patient-a.json", "en", "md")
    b = render(mini_engine, GOLDEN / "patient-b.json", "en", "md")
    assert "Ki-67: 5 % (\\< 10 %) — would not apply at Ki-67 \\>= 10 %" in a
    assert "## Why not the other options" in a and "### Why not Eve?" in a
    assert "### PRRT (`prrt`, Anti-tumour treatment)" in b  # excluded
    assert "Contraindications that apply" in b
    assert "Same score: the tie is broken" in b
    assert "`tumour.ki67_percent`" in b  # missing data
    assert "<svg" not in render(mini_engine, GOLDEN / "patient-a.json", "en", "html")


# ------------------------------------------------------------------ bundled knowledge


def knowledge_texts(kb: KnowledgeBase, lang: str) -> set[str]:
    """Every text of the knowledge in one language (they are translated in the knowledge)."""
    out: set[str] = set()
    for lr in kb.rules:
        out.add(getattr(lr.rule.because, lang))
    for pw in kb.pathways:
        out.add(getattr(pw.title, lang))
        out.update(getattr(n.label, lang) for n in pw.nodes)
        out.update(getattr(e.because, lang) for e in pw.edges if e.because)
    for opt in kb.options.values():
        out.add(getattr(opt.label, lang))
    for alert in kb.alerts.values():
        out.add(getattr(alert.label, lang))
        if alert.action is not None:
            out.add(getattr(alert.action, lang))
    out.update(getattr(label, lang) for label in kb.evidence_labels.values())
    for src in kb.sources.values():
        out.update({src.short, src.citation})
    for trial in kb.trials.values():  # registry texts, quoted in the registry's language (as citations are)
        out.update({trial.spec.title, trial.spec.acronym, *(c.text for c in trial.spec.criteria)})
    return out


def untranslated(text: str, kb: KnowledgeBase) -> list[str]:
    """English labels of renderers/i18n.yaml found in a French report.

    The knowledge's own texts, code spans, tags and ids are masked first: they
    are not labels of the report (a French rule reason may cite an English
    trial name; ``unknown`` may be an id).
    """
    masked = re.sub(r"<style>.*?</style>|<script>.*?</script>", " ", text, flags=re.S)  # code, not words
    for piece in sorted(knowledge_texts(kb, "fr"), key=len, reverse=True):
        for form in {piece, str(markupsafe.escape(piece)), md_escape(piece)}:
            masked = masked.replace(form, " ")
    masked = re.sub(r"`[^`]*`", " ", masked)
    masked = re.sub(r"<code[^>]*>.*?</code>|<span class=\"rule\">.*?</span>", " ", masked, flags=re.S)
    masked = re.sub(r"<[^>]+>", " ", masked)
    masked = re.sub(r"https?://\S+", " ", masked)
    masked = re.sub(r"[A-Za-z0-9_\\-]+(?:\.[A-Za-z0-9_\\-]+)+", " ", masked)  # ids, paths, versions
    found = []
    for english in sorted(english_texts()):
        if sum(ch.isalpha() for ch in english) < 2:
            continue
        if re.search(rf"(?<![\w-]){re.escape(english)}(?![\w-])", masked):
            found.append(english)
    return found


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_report_smoke(engine: Engine, kb: KnowledgeBase, path: Path, lang: str) -> None:
    t = ui(lang)
    md = render(engine, path, lang, "md")
    page = render(engine, path, lang, "html")
    positions = [md.find(f"\n## {t[key]}\n") for key in MD_SECTIONS]
    assert all(p >= 0 for p in positions), (path.name, positions)
    assert positions == sorted(positions)
    html_positions = [page.find(anchor) for anchor in HTML_SECTIONS]
    assert all(p >= 0 for p in html_positions) and html_positions == sorted(html_positions)
    assert page.startswith("<!DOCTYPE html>") and f'<html lang="{lang}">' in page
    assert str(markupsafe.escape(disclaimer(lang))) in page
    for text in (md, page):
        assert not re.search(r"\{[a-z_]+\}", text), "a sentence template kept a placeholder"
        assert "None" not in re.sub(r"`[^`]*`", "", text).split()
    if lang == "fr":
        assert untranslated(md, kb) == [], path.name
        assert untranslated(page, kb) == [], path.name


def test_french_check_catches_english(engine: Engine, kb: KnowledgeBase) -> None:
    """The untranslated-label check does find an English label left in a French report."""
    page = render(engine, PNET_KI67_5, "fr", "html")
    assert untranslated(page, kb) == []
    assert "Why not the other options" in untranslated(page + "<h2>Why not the other options</h2>", kb)


def test_report_pictures(engine: Engine) -> None:
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz dot is not installed")
    page = render(engine, PNET_KI67_5, "en", "html", pictures=True)
    assert page.count("<svg") >= 1
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page


def test_report_without_graphviz(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Graphviz: a short note, never a failure."""
    from cds.render import graphviz

    monkeypatch.setattr(graphviz, "dot_binary", lambda: None)
    page = render(engine, PNET_KI67_5, "en", "html", pictures=True)
    pathway_section = page.split('<section id="pathway">', 1)[1].split("</section>", 1)[0]
    assert "<svg" not in pathway_section
    assert html.escape(labels("en")["picture_unavailable"]) in page


def test_report_when_drawing_fails(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from cds.render import graphviz

    def broken(*args: object, **kwargs: object) -> str:
        raise graphviz.RenderError("dot crashed")

    monkeypatch.setattr(graphviz, "render_svg", broken)
    page = render(engine, PNET_KI67_5, "fr", "html", pictures=True)
    assert html.escape(labels("fr")["picture_unavailable"]) in page


def test_report_does_not_hide_bugs_in_drawing(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only drawing errors (Graphviz missing or failing) become a note; a bug is raised."""
    from cds.render import graphviz

    def buggy(*args: object, **kwargs: object) -> str:
        raise KeyError("no such style")

    monkeypatch.setattr(graphviz, "render_svg", buggy)
    with pytest.raises(KeyError, match="no such style"):
        render(engine, PNET_KI67_5, "en", "html", pictures=True)


# ------------------------------------------------------------------ label catalogue


def test_catalogue_templates_have_the_same_placeholders() -> None:
    fields = string.Formatter()
    for key, text in catalogue().ui.items():
        en = {name for _, name, _, _ in fields.parse(text.en) if name}
        fr = {name for _, name, _, _ in fields.parse(text.fr) if name}
        assert en == fr, key


def test_every_patient_field_and_value_has_a_label() -> None:
    cat = catalogue()
    problems = []
    for path, spec in patient_vocabulary().fields.items():
        entry = cat.fields.get(path)
        if entry is None:
            parent, _, item = path.rpartition(".")
            entry = cat.fields.get(parent)
            if entry is None or entry.item is None or item not in entry.values:
                problems.append(f"{path}: no label")
            continue
        for value in spec.values or ():
            if str(value) not in entry.values:
                problems.append(f"{path}: no label for value {value!r}")
    for enum_path in ("prior_treatments.stop_reason", "prior_treatments.best_response"):
        assert enum_path in cat.fields
    assert problems == [], "add them to renderers/i18n.yaml:\n" + "\n".join(problems)


def test_every_derived_fact_has_a_label(kb: KnowledgeBase) -> None:
    cat = catalogue()
    problems = []
    for key, spec in kb.derived.items():
        entry = cat.derived.get(key)
        if entry is None:
            problems.append(f"derived.{key}: no label")
            continue
        if spec.type == "string":
            problems.extend(f"derived.{key}: no label for value {v!r}"
                            for v in spec.values or () if str(v) not in entry.values)
    assert problems == [], "add them to renderers/i18n.yaml (derived):\n" + "\n".join(problems)


# ------------------------------------------------------------------ command line


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_cli_evaluate_html(tmp_path: Path, lang: str) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["evaluate", str(PNET_KI67_5), "--format", "html", "--lang", lang,
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and f'<html lang="{lang}">' in page
    assert all(anchor in page for anchor in HTML_SECTIONS)
    assert ("ne la remplace pas" if lang == "fr" else "does not replace it") in page
    assert "<style>" in page and "<link" not in page and "<script src" not in page  # self-contained


def test_cli_evaluate_markdown_is_the_tumour_board_report() -> None:
    result = runner.invoke(app, ["evaluate", str(PNET_KI67_5), "--format", "markdown", "-l", "fr"])
    assert result.exit_code == 0, result.output
    md = result.stdout
    for key in ("patient_summary", "why_not", "pathway_section", "about"):
        assert f"\n## {ui('fr')[key]}\n" in md
    assert "TNE G2 (`net_g2`)" in md


def test_cli_demo_writes_a_session(tmp_path: Path) -> None:
    out_dir = tmp_path / "session"
    result = runner.invoke(app, ["demo", "--output-dir", str(out_dir), "--lang", "fr"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    index = (out_dir / "index.html").read_text(encoding="utf-8")
    assert '<html lang="fr">' in index and "Séance de RCP" in index
    for path in EXAMPLES:
        assert (out_dir / f"{path.stem}.html").is_file()
        assert (out_dir / f"{path.stem}.md").is_file()
        assert f'href="{path.stem}.html"' in index
    assert (out_dir / "index.md").is_file()


def test_html_escapes_knowledge_text() -> None:
    """Texts from the knowledge are text, never markup (autoescape is on)."""
    from cds.model.recommendation import Argument, Evidence, RankedOption, Recommendation, Trace

    arg = Argument(direction="for", rule="t.pro", text="Burden <b>high</b> & \"rising\"",
                   sources=["x"], evidence=Evidence(kind="rct_phase3", rank=1, confirmed=False),
                   strength=2)
    rec = Recommendation(
        knowledge_version="9.9.9+test", patient_id="<script>alert(1)</script>", derived={},
        anti_tumour=[RankedOption(option="ssa", label="SSA", track="anti_tumour", rank=1, score=2,
                                  category="consider", arguments=[arg])],
        antisecretory=[], excluded=[], alerts=[], missing_data=[],
        trace=Trace(pathways=[], nodes=[], fired_rules=[]),
    )
    page = render_html(rec)
    assert "Burden &lt;b&gt;high&lt;/b&gt; &amp; &#34;rising&#34;" in page
    assert "<script>" not in page
    assert "UNCONFIRMED" in page
