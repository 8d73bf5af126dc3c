"""Pathway graphs (cds.pathways) and their pictures (cds.render.dot, graphviz, pathway_index), ``cds pathway``.

The golden DOT files in tests/golden/pathways/ are drawn from a fixture pathway
(tests/golden/pathways/fixture/pnet_graph.yaml) over the mini knowledge
(tests/fixtures/mini/knowledge), so they do not churn when the real pathways
change; ``pytest --update-golden`` rewrites them. The real pathways get a smoke
test (they build, pass the graph checks and draw). SVG and PNG are only drawn
when Graphviz ``dot`` is installed.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import yaml
from typer.testing import CliRunner

import cds
from cds import Engine, load_knowledge
from cds import lint as lint_mod
from cds import pathways as pw
from cds.cli import app
from cds.input import read_patient_file
from cds.knowledge import KnowledgeBase, conditions
from cds.lint import MAX_EDGE_LABEL
from cds.model import Patient, Recommendation
from cds.render import dot as dots
from cds.render import graphviz, pathway_index
from cds.render import picture_views as pv
from cds.resources import examples_dir

HERE = Path(__file__).parent
MINI = HERE / "fixtures" / "mini"
GOLDEN = HERE / "golden" / "pathways"
FIXTURE = GOLDEN / "fixture"
PATHWAY = "pnet_graph"
EXAMPLE = examples_dir() / "pnet-02-metastatic-g2-ki67-5.json"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz `dot` is not installed")

runner = CliRunner()


# ------------------------------------------------------------------ fixtures


def _load_fixture(pathways: Path = FIXTURE) -> KnowledgeBase:
    return load_knowledge(MINI / "knowledge", pathways)


@pytest.fixture(scope="module")
def mini_kb() -> KnowledgeBase:
    return _load_fixture()


@pytest.fixture(scope="module")
def mini_engine(mini_kb: KnowledgeBase) -> Iterator[Engine]:
    eng = Engine(mini_kb)
    yield eng
    eng.close()


def _patient(**changes: Any) -> Patient:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    for key, value in changes.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    return Patient.model_validate(data)


@pytest.fixture(scope="module")
def mini_rec(mini_engine: Engine) -> Recommendation:
    return mini_engine.evaluate(read_patient_file(EXAMPLE))


def _pathway_copy(tmp_path: Path, edit: Any) -> Path:
    folder = tmp_path / "pathways"
    folder.mkdir()
    data = yaml.safe_load((FIXTURE / f"{PATHWAY}.yaml").read_text(encoding="utf-8"))
    edit(data)
    (folder / f"{PATHWAY}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                            encoding="utf-8")
    return folder


# ------------------------------------------------------------------ golden DOT

GOLDEN_CASES = [
    ("pnet_graph.en.dot", "en", False),
    ("pnet_graph.pnet-02.en.dot", "en", True),
    ("pnet_graph.fr.dot", "fr", False),
    ("pnet_graph.pnet-02.fr.dot", "fr", True),
]


@pytest.mark.parametrize(("name", "lang", "with_patient"), GOLDEN_CASES,
                         ids=[c[0] for c in GOLDEN_CASES])
def test_golden_dot(
    name: str, lang: dots.Lang, with_patient: bool, mini_kb: KnowledgeBase, mini_engine: Engine,
    update_golden: bool,
) -> None:
    rec = mini_engine.evaluate(read_patient_file(EXAMPLE), lang) if with_patient else None
    text = dots.to_dot(mini_kb, PATHWAY, lang, rec)
    golden = GOLDEN / name
    if update_golden:
        golden.write_text(text, encoding="utf-8", newline="\n")
        return
    assert golden.exists(), f"{golden} is missing: run pytest --update-golden"
    expected = golden.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file; if intended: pytest --update-golden"


def test_dot_is_deterministic_and_has_no_machine_paths(
    mini_kb: KnowledgeBase, mini_rec: Recommendation
) -> None:
    first = dots.to_dot(mini_kb, PATHWAY, "en", mini_rec)
    again = dots.to_dot(_load_fixture(), PATHWAY, "en", mini_rec)
    assert first == again
    assert str(HERE) not in first and str(Path.home()) not in first
    assert first.startswith("// netcds pathway pnet_graph (en), drawn from fixture/pnet_graph.yaml\n")


# ------------------------------------------------------------------ the graph


def test_graph_nodes_options_and_parallel_edges(mini_kb: KnowledgeBase) -> None:
    g = pw.build_graph(mini_kb, PATHWAY)
    assert isinstance(g, nx.DiGraph) and g.is_multigraph()
    assert g.graph["id"] == PATHWAY and g.graph["start"] == "Assess_Pancreatic_NET"
    assert g.nodes["Metastatic_Disease"]["kind"] == "decision"
    assert g.nodes["Metastatic_Disease"]["note"].fr == "Déjà traitée ?"
    ssa = g.nodes["option:ssa"]
    assert ssa["kind"] == "option" and ssa["option"] == "ssa" and ssa["label"].en == "SSA"
    assert ssa["tracks"] == ["anti_tumour", "antisecretory"]
    # three edges join First_Line to SSA: none is lost
    assert sorted(g["First_Line"]["option:ssa"]) == [
        "g.first_line.ssa", "g.first_line.ssa_antisecretory", "g.first_line.ssa_heterogeneous"]
    # one graph edge per pathway edge, keyed by its id
    pathway = pw.get_pathway(mini_kb, PATHWAY)
    assert sorted(k for _, _, k in g.edges(keys=True)) == sorted(e.id for e in pathway.edges)


def test_edge_attributes_numbering_and_labels(mini_kb: KnowledgeBase) -> None:
    g = pw.build_graph(mini_kb, PATHWAY)
    edges = {k: d for _, _, k, d in pw.graph_edges(g)}
    numbers = [edges[k]["number"] for k in
               ("g.first_line.ssa", "g.first_line.ssa_heterogeneous",
                "g.first_line.ssa_antisecretory", "g.first_line.sunitinib",
                "g.first_line.everolimus")]
    assert numbers == [1, 2, 3, 4, 5]
    watch = edges["g.localized.watch"]
    assert (watch["label"].en, watch["label"].fr) == ("tumour ≤ 20 mm", "tumeur ≤ 20 mm")  # its own label
    assert [dots.graph_edge_text(watch, lang) for lang in ("en", "fr")] == ["tumour ≤ 20 mm", "tumeur ≤ 20 mm"]
    assert watch["condition"] == [{"$lte": {"tumour.size_mm": 20}}]
    assert watch["kind"] == "proposal" and watch["track"] == "anti_tumour"
    assert watch["strength"] == 2 and watch["sources"] == ["esmo_2020"]
    sunitinib = edges["g.first_line.sunitinib"]
    assert sunitinib["label"] is None
    assert [dots.graph_edge_text(sunitinib, lang) for lang in ("en", "fr")] == ["always", "toujours"]
    first_line = edges["g.to_first_line"]
    assert first_line["kind"] == "transition" and first_line["option"] is None
    assert dots.graph_edge_text(first_line, "en") == (
        "prior.ssa is unknown\nand (disease.status == new_diagnosis or disease.status == stable)")
    assert dots.graph_edge_text(first_line, "fr") == (
        "prior.ssa est inconnu\net (disease.status == new_diagnosis ou disease.status == stable)")


def test_describe_in_english_matches_the_condition_reader(kb: KnowledgeBase) -> None:
    for pathway in kb.pathways:
        for edge in pathway.edges:
            for cond in edge.when:
                assert dots.describe(cond, "en") == conditions.describe(cond), edge.id


def test_describe_in_french_translates_only_the_joining_words() -> None:
    cond = {"$or": [{"$ex": {"tumour.size_mm": 1}},
                    {"$and": [{"$nex": {"tumour.ki67_percent": 1}}, {"$lt": {"age": 40}}]}]}
    assert dots.describe(cond, "fr") == (
        "(tumour.size_mm est connu ou (tumour.ki67_percent est inconnu et age < 40))")


def test_unknown_pathway_lists_the_others(mini_kb: KnowledgeBase) -> None:
    with pytest.raises(pw.UnknownPathway) as info:
        pw.build_graph(mini_kb, "pnet_grph")
    assert info.value.available == [PATHWAY]
    assert "did you mean 'pnet_graph'" in str(info.value)
    assert isinstance(info.value, cds.CdsError)


# ------------------------------------------------------------------ graph checks


def test_fixture_and_real_pathways_pass_the_graph_checks(
    mini_kb: KnowledgeBase, kb: KnowledgeBase
) -> None:
    assert pw.check_graphs(mini_kb) == []
    assert pw.check_graphs(kb) == []


def test_checks_find_unreachable_dead_end_and_cycle(tmp_path: Path) -> None:
    def damage(d: dict[str, Any]) -> None:
        d["nodes"].append({"id": "Orphan", "kind": "situation", "label": {"en": "o", "fr": "o"}})
        d["nodes"].append({"id": "Stuck", "kind": "situation", "label": {"en": "s", "fr": "s"}})
        d["edges"].append({"id": "g.to_stuck", "from": "First_Line", "to": "Stuck"})
        d["edges"].append({"id": "g.back", "from": "After_SSA", "to": "Metastatic_Disease"})

    kb = _load_fixture(_pathway_copy(tmp_path, damage))
    found = {(f.code, f.loc) for f in pw.check_graph(kb, PATHWAY)}
    assert found == {
        ("unreachable_node", "Orphan"),
        ("dead_end", "Stuck"),
        ("cycle", "Metastatic_Disease -> After_SSA"),
    }
    assert all(f.level == "error" and f.file.endswith("pnet_graph.yaml")
               for f in pw.check_graph(kb, PATHWAY))
    # lint runs the same checks
    assert lint_mod.check_pathway_graphs(kb) == pw.check_graphs(kb)
    assert {("unreachable_node", "Orphan")} <= {(f.code, f.loc) for f in lint_mod.lint(kb, coverage=False)}


def test_checks_find_unknown_options(mini_kb: KnowledgeBase) -> None:
    # the loader already rejects them; the graph check holds on its own
    options = {k: v for k, v in mini_kb.options.items() if k != "prrt"}
    kb = dataclasses.replace(mini_kb, options=options)
    found = [(f.code, f.loc) for f in pw.check_graph(kb, PATHWAY)]
    assert found == [("unknown_option", "option:prrt")]


# ------------------------------------------------------------------ highlighting


def _line(dot: str, start: str) -> str:
    (line,) = [x for x in dot.splitlines() if x.strip().startswith(start)]
    return line


def test_patient_path_and_categories_are_highlighted(
    mini_kb: KnowledgeBase, mini_rec: Recommendation
) -> None:
    dot = dots.to_dot(mini_kb, PATHWAY, "en", mini_rec)
    style = dots.load_style()
    blue = style.highlight["edge"]["color"]
    for node in ("Assess_Pancreatic_NET", "Metastatic_Disease", "First_Line"):
        assert "reached" in _line(dot, f'"{node}" [').split('class="')[1].split('"')[0]
    assert "reached" not in _line(dot, '"After_SSA" [')
    taken = _line(dot, '"Metastatic_Disease" -> "First_Line"')
    assert 'class="transition taken"' in taken and f'color="{blue}"' in taken
    assert "taken" not in _line(dot, '"Metastatic_Disease" -> "After_SSA"')
    ssa = _line(dot, '"option:ssa" [')
    assert f'fillcolor="{style.categories["recommended"]["fillcolor"]}"' in ssa
    assert "anti-tumour: recommended #1<br/>antisecretory: not proposed" in ssa
    assert 'class="option consider reached"' in _line(dot, '"option:sunitinib" [')
    assert 'class="option not_recommended reached"' in _line(dot, '"option:everolimus" [')
    assert 'class="option not_proposed"' in _line(dot, '"option:prrt" [')
    assert "Patient demo-pnet-02 (2025-02-03): path highlighted" in dot
    assert "<td align=\"left\">excluded</td>" in dot  # the legend explains the colours


def test_excluded_option_is_drawn_excluded(mini_kb: KnowledgeBase, mini_engine: Engine) -> None:
    patient = _patient(imaging={"sstr": "negative"}, prior_treatments=["ssa"],
                       disease={"status": "progressive"})
    rec = mini_engine.evaluate(patient)
    assert [(e.option, e.track) for e in rec.excluded] == [("prrt", "anti_tumour")]
    dot = dots.to_dot(mini_kb, PATHWAY, "en", rec)
    prrt = _line(dot, '"option:prrt" [')
    assert 'class="option excluded reached"' in prrt
    assert f'fillcolor="{dots.load_style().categories["excluded"]["fillcolor"]}"' in prrt
    assert "anti-tumour: excluded" in prrt


def test_patient_outside_the_pathway(mini_kb: KnowledgeBase, mini_engine: Engine) -> None:
    rec = mini_engine.evaluate(_patient(tumour={"primary_site": "small_intestine"}))
    dot = dots.to_dot(mini_kb, PATHWAY, "fr", rec)
    assert "n'entre pas dans ce parcours" in dot
    assert "reached" not in dot.split("// legend")[0]
    assert " taken" not in dot.split("// legend")[0]


def test_without_patient_there_is_no_status_legend(mini_kb: KnowledgeBase) -> None:
    dot = dots.to_dot(mini_kb, PATHWAY)
    assert '"legend:start"' in dot and "proposes an option" in dot
    assert ">recommended<" not in dot and "reached" not in dot


def test_french_labels(mini_kb: KnowledgeBase) -> None:
    dot = dots.to_dot(mini_kb, PATHWAY, "fr")
    for text in ("Légende", "TNE pancréatique bien", "Maladie métastatique", "ASS", "toujours",
                 "(antitumoral, poids 3)", "(antisécrétoire, poids 3)", "Metastatic_Disease · décision"):
        assert text in dot, text
    for english in ("Legend", "always", "strength", "Metastatic disease", "decision<"):
        assert english not in dot, english


def test_text_from_the_knowledge_is_escaped(tmp_path: Path) -> None:
    def odd_texts(d: dict[str, Any]) -> None:
        d["nodes"][1]["label"]["en"] = 'A <b>"2"</b> & \\ z'
        d["edges"][2]["label"]["en"] = 'say "hi" \\n'

    kb = _load_fixture(_pathway_copy(tmp_path, odd_texts))
    dot = dots.to_dot(kb, PATHWAY)
    assert '<b>A &lt;b&gt;"2"&lt;/b&gt; &amp; \\ z</b>' in dot  # HTML-like node label
    assert '. say \\"hi\\" \\\\n\\l(anti-tumour, strength 2)\\l"' in dot  # DOT string, numbered as its note
    if HAS_DOT:
        assert "<svg" in graphviz.render_svg(kb, PATHWAY)


# ------------------------------------------------------------------ rendering


def test_render_without_dot_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path, mini_kb: KnowledgeBase) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(graphviz.GraphvizNotFound, match="apt-get install graphviz"):
        graphviz.render(dots.to_dot(mini_kb, PATHWAY), "svg")


def test_render_rejects_unknown_formats() -> None:
    with pytest.raises(ValueError, match="svg or png"):
        graphviz.render("digraph {}", "pdf")  # type: ignore[arg-type]


@needs_dot
def test_render_reports_dot_failures() -> None:
    with pytest.raises(graphviz.RenderError, match="dot failed"):
        graphviz.render("digraph { this is not dot", "svg")


@needs_dot
def test_svg_inlines_with_prefixed_ids(mini_kb: KnowledgeBase, mini_rec: Recommendation) -> None:
    svg = graphviz.render_svg(mini_kb, PATHWAY, "en", mini_rec)
    assert svg.startswith("<svg") and "<?xml" not in svg and "<!DOCTYPE" not in svg
    assert 'id="pnet_graph:First_Line"' in svg and 'id="g.to_first_line"' in svg
    assert 'class="node situation reached"' in svg
    assert "Patient demo&#45;pnet&#45;02" in svg  # Graphviz writes - as &#45;


@needs_dot
def test_png(mini_kb: KnowledgeBase) -> None:
    assert graphviz.render(dots.to_dot(mini_kb, PATHWAY), "png").startswith(b"\x89PNG\r\n\x1a\n")


def test_real_pathways_build_check_and_draw(kb: KnowledgeBase, engine: Engine) -> None:
    rec = engine.evaluate(read_patient_file(EXAMPLE, kb.options))
    assert rec.trace.pathways, "the example patient should enter at least one pathway"
    for pid in pw.pathway_ids(kb):
        graph = pw.build_graph(kb, pid)
        assert graph.number_of_edges() == len(pw.get_pathway(kb, pid).edges)
        assert pw.check_graph(kb, pid) == []
        for lang in ("en", "fr"):
            dot = dots.to_dot(kb, pid, lang, rec if lang == "en" else None)
            assert dot.startswith(f"// netcds pathway {pid} ({lang})") and dot.endswith("}\n")
        if HAS_DOT:
            assert graphviz.render_svg(kb, pid, "en", rec).startswith("<svg"), pid


def test_write_all(tmp_path: Path, mini_kb: KnowledgeBase, mini_rec: Recommendation) -> None:
    result = pathway_index.write_all(mini_kb, tmp_path / "out", "fr", mini_rec)
    names = sorted(p.name for p in result.files)
    expected = ["index.html", "pnet_graph.dot"] + (["pnet_graph.svg", "pnet_graph.html"] if HAS_DOT else [])
    assert names == sorted(expected) and result.rendered is HAS_DOT
    index = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="fr">' in index
    assert "TNE pancréatique (fixture d&#39;image)" in index  # autoescaped
    assert 'href="pnet_graph.dot"' in index and "demo-pnet-02" in index
    assert ('<figure class="zoomable"' in index) is HAS_DOT  # the overview, inline, with zoom and pan
    assert ('href="pnet_graph.svg"' in index) is HAS_DOT  # and a link to the full picture
    if HAS_DOT:
        page = (tmp_path / "out" / "pnet_graph.html").read_text(encoding="utf-8")
        assert page.count('<figure class="zoomable"') == 1 + len(pv.decision_nodes(pw.build_graph(mini_kb, PATHWAY)))
        assert 'data-zoom="reset"' in page and "<script>" in page and "http" not in page.split("<script>")[1]
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_write_all_without_dot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                               mini_kb: KnowledgeBase) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = pathway_index.write_all(mini_kb, tmp_path / "out")
    assert not result.rendered
    assert sorted(p.name for p in result.files) == ["index.html", "pnet_graph.dot"]
    assert "Graphviz is missing" in (tmp_path / "out" / "index.html").read_text(encoding="utf-8")


def test_style_file_is_complete() -> None:
    style = dots.load_style()
    assert set(style.kinds) == {"start", "decision", "situation", "option"}
    assert set(style.categories) == set(pw.STATUS_ORDER)
    assert set(style.words["en"]) == set(style.words["fr"])


# ------------------------------------------------------------------ CLI


def _real_pathway() -> str:
    ids = pw.pathway_ids(cds.default_engine().kb)
    return "pnet_well_differentiated" if "pnet_well_differentiated" in ids else ids[0]


def test_cli_unknown_pathway_exits_2_and_lists_them() -> None:
    result = runner.invoke(app, ["pathway", "no_such_pathway"])
    assert result.exit_code == 2
    assert "no pathway 'no_such_pathway'" in result.stderr
    for pid in pw.pathway_ids(cds.default_engine().kb):
        assert pid in result.stderr


def test_cli_without_name_lists_pathways() -> None:
    kb = cds.default_engine().kb
    result = runner.invoke(app, ["pathway"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == pw.pathway_ids(kb)
    assert lines[pw.pathway_ids(kb).index("si_net")].endswith(pw.get_pathway(kb, "si_net").title.en)
    french = runner.invoke(app, ["pathway", "--lang", "fr"])
    assert french.exit_code == 0 and pw.get_pathway(kb, "si_net").title.fr in french.stdout
    with_patient = runner.invoke(app, ["pathway", "--patient", str(EXAMPLE)])
    assert with_patient.exit_code == 2 and "NAME" in with_patient.stderr


def test_pathway_files_are_named_after_their_pathway(kb: KnowledgeBase, tmp_path: Path) -> None:
    for pid, file in kb.pathway_files.items():
        assert Path(file).name == f"{pid}.yaml"
    assert lint_mod.check_pathway_files(kb) == []
    folder = tmp_path / "pathways"
    folder.mkdir()
    shutil.copy(FIXTURE / f"{PATHWAY}.yaml", folder / "graph.yaml")
    found = lint_mod.check_pathway_files(_load_fixture(folder))
    assert [(f.level, f.code, f.loc) for f in found] == [("error", "pathway_file_name", PATHWAY)]
    assert "rename it pnet_graph.yaml" in found[0].message


@pytest.mark.parametrize("module", ["cds.pathways", "cds.render.dot", "cds.render.templates", "cds.errors"])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_cli_bad_combinations_exit_2(tmp_path: Path) -> None:
    name = _real_pathway()
    png = runner.invoke(app, ["pathway", name, "--format", "png"])
    assert png.exit_code == 2 and "--output" in png.stderr
    both = runner.invoke(app, ["pathway", name, "--all", str(tmp_path)])
    assert both.exit_code == 2
    bad_patient = tmp_path / "p.json"
    bad_patient.write_text('{"age": "old"}', encoding="utf-8")
    patient = runner.invoke(app, ["pathway", name, "--patient", str(bad_patient)])
    assert patient.exit_code == 2 and "not a valid patient" in patient.stderr


def test_cli_dot_to_stdout_with_patient() -> None:
    name = _real_pathway()
    result = runner.invoke(app, ["pathway", name, "--format", "dot", "--patient", str(EXAMPLE),
                                 "--lang", "fr"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"// netcds pathway {name} (fr)")
    assert "Légende" in result.stdout and "parcours surligné" in result.stdout


def test_cli_format_follows_the_output_suffix(tmp_path: Path) -> None:
    out = tmp_path / "picture.dot"
    result = runner.invoke(app, ["pathway", _real_pathway(), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and out.read_text(encoding="utf-8").startswith("// netcds pathway")


@needs_dot
def test_cli_svg_and_png(tmp_path: Path) -> None:
    name = _real_pathway()
    svg = runner.invoke(app, ["pathway", name])
    assert svg.exit_code == 0 and "<svg" in svg.stdout
    out = tmp_path / "p.png"
    png = runner.invoke(app, ["pathway", name, "--format", "png", "--output", str(out)])
    assert png.exit_code == 0, png.output
    assert out.read_bytes().startswith(b"\x89PNG")


def test_cli_all(tmp_path: Path) -> None:
    out = tmp_path / "pictures"
    result = runner.invoke(app, ["pathway", "--all", str(out), "--patient", str(EXAMPLE)])
    assert result.exit_code == (0 if HAS_DOT else 1), result.output
    index = (out / "index.html").read_text(encoding="utf-8")
    for pid in pw.pathway_ids(cds.default_engine().kb):
        assert (out / f"{pid}.dot").exists() and f'id="{pid}"' in index
        assert (out / f"{pid}.svg").exists() is HAS_DOT


def test_cli_without_graphviz_still_writes_dot(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    name = _real_pathway()
    out = tmp_path / "picture.svg"
    result = runner.invoke(app, ["pathway", name, "--output", str(out)])
    assert result.exit_code == 1
    assert "Graphviz is missing" in result.stderr and "apt-get install graphviz" in result.stderr
    assert not out.exists()
    assert (tmp_path / "picture.dot").read_text(encoding="utf-8").startswith("// netcds pathway")

    to_stdout = runner.invoke(app, ["pathway", name])
    assert to_stdout.exit_code == 1
    assert to_stdout.stdout.startswith(f"// netcds pathway {name}")
    assert "written to stdout" in to_stdout.stderr

    folder = tmp_path / "all"
    all_result = runner.invoke(app, ["pathway", "--all", str(folder)])
    assert all_result.exit_code == 1 and "Graphviz is missing" in all_result.stderr
    assert (folder / "index.html").exists() and not list(folder.glob("*.svg"))


# ------------------------------------------------------------------ views and the 10 px rule

SCREEN = (1920, 1080)
MIN_TEXT_PX = 10.0
PX_PER_PT = 96 / 72


def smallest_text_px(svg: str) -> tuple[float, float, float]:
    """(smallest text in px once the picture is fitted to a 1920 x 1080 screen, width px, height px).

    Graphviz writes ``width="Wpt" height="Hpt" viewBox="0 0 W H"`` and each ``<text>`` with a
    ``font-size`` in viewBox units; the picture is shown at most at its natural size.
    """
    import re

    head = re.search(r"<svg\b[^>]*>", svg, re.S)
    assert head is not None
    attrs = dict(re.findall(r'(\w+)="([^"]*)"', head.group(0)))
    width = float(attrs["width"].removesuffix("pt")) * PX_PER_PT
    height = float(attrs["height"].removesuffix("pt")) * PX_PER_PT
    box = [float(x) for x in attrs["viewBox"].split()]
    unit = min(width / box[2], height / box[3])
    fit = min(SCREEN[0] / width, SCREEN[1] / height, 1.0)
    sizes = [float(x) for x in re.findall(r'<text\b[^>]*font-size="([\d.]+)"', svg)]
    assert sizes, "no text in the picture"
    return min(sizes) * unit * fit, width, height


def _compact_views(kb: KnowledgeBase, engine: Engine, lang: dots.Lang,
                   ) -> Iterator[tuple[str, pv.PictureView, Recommendation | None]]:
    """Every compact picture the index and the reports show: overviews, decision pages, routes of the examples."""
    for pid in pw.pathway_ids(kb):
        graph = pw.build_graph(kb, pid)
        yield pid, pv.overview(graph), None
        for node in pv.decision_nodes(graph):
            for view in pv.decision(graph, node):
                yield pid, view, None
    for path in sorted(examples_dir().glob("*.json")):
        rec = engine.evaluate(read_patient_file(path), lang)
        for pid in rec.trace.pathways:
            graph = pw.build_graph(kb, pid)
            yield pid, pv.route(graph, pw.PatientPath.of(rec, graph)), rec


@needs_dot
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_compact_pictures_keep_10_px_text_on_a_1920_x_1080_screen(
    lang: dots.Lang, kb: KnowledgeBase, engine: Engine
) -> None:
    worst: dict[tuple[str, str], tuple[float, str]] = {}
    for pid, view, rec in _compact_views(kb, engine, lang):
        svg = graphviz.render_svg(kb, pid, lang, rec, view=view, title=False)
        px, width, height = smallest_text_px(svg)
        label = f"{view.name} ({width:.0f} x {height:.0f} px)" + (f" for {rec.patient_id}" if rec else "")
        if (pid, view.kind) not in worst or px < worst[(pid, view.kind)][0]:
            worst[(pid, view.kind)] = (px, label)
    print("\n".join(f"{pid} {kind}: {px:.1f} px, {label}" for (pid, kind), (px, label) in sorted(worst.items())))
    small = {k: v for k, v in worst.items() if v[0] < MIN_TEXT_PX}
    assert not small, small


def test_smallest_text_px_reads_graphviz_svg() -> None:
    svg = ('<svg width="3840pt" height="540pt" viewBox="0.00 0.00 3840.00 540.00">'
           '<text font-size="10.00">a</text><text font-size="14.00">b</text></svg>')
    px, width, height = smallest_text_px(svg)
    assert (width, height) == (5120, 720) and px == pytest.approx(10 * PX_PER_PT * 1920 / 5120)


def test_views_select_nodes_and_edges(kb: KnowledgeBase, engine: Engine) -> None:
    graph = pw.build_graph(kb, "pnet_well_differentiated")
    start = graph.graph["start"]
    parts = pv.decision(graph, start)
    out_edges = {k for _, _, k in graph.out_edges(start, keys=True)}
    assert set().union(*(v.edges or set() for v in parts)) == out_edges
    assert all(start in (v.nodes or ()) and len((v.nodes or set()) - {start}) <= pv.MAX_BRANCHES for v in parts)
    assert [v.part for v in parts] == list(range(1, len(parts) + 1))
    overview = pv.overview(graph)
    assert not any(n.startswith(pw.OPTION_PREFIX) for n in overview.nodes or ())
    rec = engine.evaluate(read_patient_file(examples_dir() / "pnet-03-metastatic-g2-ki67-15.json"))
    path = pw.PatientPath.of(rec, graph)
    route = pv.route(graph, path)
    assert path.nodes <= (route.nodes or set()) and path.edges <= (route.edges or set())
    assert not (path.nodes | path.edges) & route.greyed
    assert route.greyed  # the branches not taken are there, greyed
    with pytest.raises(pv.UnknownNode, match="did you mean"):
        pv.decision(graph, start + "x")


def test_edge_caption_prefers_the_label_and_french_has_no_english_words(
    mini_kb: KnowledgeBase, kb: KnowledgeBase
) -> None:
    words = dots.load_style().words
    lab = dots.labels("fr", kb)
    for pid in pw.pathway_ids(kb):
        for _, _, _, data in pw.graph_edges(pw.build_graph(kb, pid)):
            text = dots.edge_condition(data, lab, words["fr"])
            for english in (" and ", " or ", " is known", " is unknown", "==", "true", "false"):
                assert english not in text, (data["id"], text)
            caption = dots.edge_caption(data, lab, words["fr"])
            if data["label"] is not None:  # authored: lint keeps it to MAX_EDGE_LABEL
                assert caption == data["label"].fr and len(caption) <= MAX_EDGE_LABEL
            else:  # the fallback is cut
                assert len(caption) <= dots.CAPTION_LIMIT
    (page,) = pv.decision(pw.build_graph(mini_kb, PATHWAY), "Localized_Disease")
    drawing = dots.draw(mini_kb, PATHWAY, "fr", view=page)
    assert [n.caption for n in drawing.notes][:1] == ["tumeur ≤ 20 mm"]  # the fixture's own label
    assert "petite tumeur" in drawing.dot  # its reason in the tooltip


def test_cli_views(tmp_path: Path) -> None:
    result = runner.invoke(app, ["pathway", "fitness", "--view", "decision", "--node", "FIT_Assess_Fitness",
                                 "-f", "dot"])
    assert result.exit_code == 0, result.output
    assert "view fitness.FIT_Assess_Fitness" in result.output and "cluster_legend" not in result.output
    result = runner.invoke(app, ["pathway", "fitness", "--view", "overview", "-f", "dot"])
    assert result.exit_code == 0 and "view fitness.overview" in result.output
    result = runner.invoke(app, ["pathway", "pnet_well_differentiated", "--view", "route", "-p", str(EXAMPLE),
                                 "-f", "dot", "-l", "fr"])
    assert result.exit_code == 0, result.output
    assert 'class="transition greyed"' in result.output and 'class="transition taken"' in result.output
    for args, message in [
        (["--view", "route"], "--patient"),
        (["--view", "decision", "--node", "FIT_Nope"], "no decision 'FIT_Nope'"),
        (["--node", "FIT_Assess_Fitness"], "--view decision"),
    ]:
        result = runner.invoke(app, ["pathway", "fitness", *args, "-f", "dot"])
        assert result.exit_code == 2 and message in result.output, (args, result.output)
