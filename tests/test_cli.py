"""The ``cds`` command line: formats, languages, output files, demo, schema, knowledge commands.

Most tests run the Typer app in-process (CliRunner); a few run ``python -m cds.cli``
in a subprocess to prove the exit codes and the absence of tracebacks end to end.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Any, Literal

import pytest
from typer.testing import CliRunner

import cds
from cds.cli import app
from cds.input import read_patient_file
from cds.model import Patient, Recommendation
from cds.model.recommendation import (
    DISCLAIMER,
    DISCLAIMERS,
    Alert,
    Argument,
    Evidence,
    ExcludedOption,
    MissingData,
    RankedOption,
    Trace,
)
from cds.resources import examples_dir

runner = CliRunner()
WIDE = {"COLUMNS": "200"}

EXAMPLES = sorted(examples_dir().glob("*.json"))
PNET = examples_dir() / "pnet-02-metastatic-g2-ki67-5.json"
EXCLUSIONS = examples_dir() / "pnet-06-egfr-40-bilioenteric-anastomosis.json"


def library_json(path: Path, lang: str = "en") -> str:
    rec = cds.evaluate(read_patient_file(path, cds.default_engine().kb.options), lang)  # type: ignore[arg-type]
    return rec.model_dump_json(indent=2) + "\n"


def run_module(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("NETCDS_DEBUG", "NETCDS_CONTENT")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "cds.cli", *args],
        capture_output=True, text=True, env=full_env, timeout=120, check=False,
    )


# ------------------------------------------------------------------ examples


def test_examples_exist_and_validate() -> None:
    assert len(EXAMPLES) >= 10
    kb = cds.default_engine().kb
    ids = []
    for path in EXAMPLES:
        patient = read_patient_file(path, kb.options)
        assert patient.id and patient.id.startswith("demo-"), path
        ids.append(patient.id)
    assert len(set(ids)) == len(ids)


def test_examples_cover_the_demo_scenarios() -> None:
    patients = [Patient.model_validate_json(p.read_text(encoding="utf-8")) for p in EXAMPLES]

    def has(pred: Any) -> bool:
        return any(pred(p) for p in patients)

    pnet = [p for p in patients if p.tumour.primary_site.value == "pancreas"]
    si = [p for p in patients if p.tumour.primary_site.value == "small_intestine"]
    assert any(p.disease.stage.value == "localized" and (p.tumour.size_mm or 99) <= 20
               and p.tumour.functional_syndrome.value == "none" for p in pnet)
    assert any(p.disease.stage.value == "metastatic" and p.tumour.ki67_percent == 5 for p in pnet)
    assert any(p.disease.stage.value == "metastatic" and p.tumour.ki67_percent == 15 for p in pnet)
    assert any({t.option for t in p.prior_treatments} >= {"ssa", "everolimus"} for p in pnet)
    assert any(p.tumour.functional_syndrome.value == "insulinoma" for p in pnet)
    assert has(lambda p: p.tumour.functional_syndrome.value == "gastrinoma"
               and p.tumour.hereditary_syndrome is not None
               and p.tumour.hereditary_syndrome.value == "men1")
    assert any(p.disease.stage.value == "locoregional" and p.disease.resectable for p in si)
    assert any(p.tumour.functional_syndrome.value == "carcinoid_syndrome"
               and p.tumour.syndrome_controlled is False for p in si)
    assert any(p.disease.status.value == "progressive" and p.imaging.sstr.value == "positive"
               for p in si)
    assert any(p.tumour.ki67_percent is None and p.imaging.sstr.value == "not_done" for p in si)
    assert has(lambda p: p.labs.egfr_ml_min == 40
               and "bilioenteric_anastomosis" in {c.value for c in p.comorbidities})


def test_every_example_is_described_in_english_and_french() -> None:
    import yaml

    index = yaml.safe_load((examples_dir() / "index.yaml").read_text(encoding="utf-8"))["examples"]
    assert sorted(index) == [p.stem for p in EXAMPLES]
    for name, text in index.items():
        assert text["en"].strip() and text["fr"].strip(), name


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_examples_lists_each_bundled_patient_with_its_description(lang: str) -> None:
    import yaml

    index = yaml.safe_load((examples_dir() / "index.yaml").read_text(encoding="utf-8"))["examples"]
    result = runner.invoke(app, ["examples", "--lang", lang], env=WIDE)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(EXAMPLES)
    for line, path in zip(lines, EXAMPLES, strict=True):
        assert line.startswith(path.name + " ") and line.endswith(index[path.stem][lang])


def test_examples_copy_writes_every_example_and_never_overwrites_silently(tmp_path: Path) -> None:
    target = tmp_path / "new" / "patients"
    result = runner.invoke(app, ["examples", "copy", str(target)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in target.iterdir()) == [p.name for p in EXAMPLES]
    assert all((target / p.name).read_bytes() == p.read_bytes() for p in EXAMPLES)
    assert f"{len(EXAMPLES)} example patient(s) copied to {target}" in result.stdout

    edited = target / EXAMPLES[0].name
    edited.write_text("{}", encoding="utf-8")
    again = runner.invoke(app, ["examples", "copy", str(target)])
    assert again.exit_code == 2
    assert "already exists (--force replaces it); nothing was copied" in again.stderr
    assert edited.read_text(encoding="utf-8") == "{}"
    assert runner.invoke(app, ["examples", "copy", str(target), "--force"]).exit_code == 0
    assert edited.read_bytes() == EXAMPLES[0].read_bytes()

    a_file = tmp_path / "file"
    a_file.write_text("x", encoding="utf-8")
    assert runner.invoke(app, ["examples", "copy", str(a_file)]).exit_code == 2


def test_examples_come_from_the_content_folder(tmp_path: Path) -> None:
    """An installed wheel, or NETCDS_CONTENT, supplies them: the command reads cds.resources, not the checkout."""
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "only-one.json").write_text("{}", encoding="utf-8")
    proc = run_module("examples", env={"NETCDS_CONTENT": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "only-one.json\n"


# ------------------------------------------------------------------ evaluate


def test_evaluate_text() -> None:
    result = runner.invoke(app, ["evaluate", str(PNET)], env=WIDE)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "demo-pnet-02" in out
    assert "netcds recommendation" in out
    assert "Knowledge version" in out and cds.default_engine().kb.version in out
    assert "Anti-tumour treatment" in out
    assert "Excluded options" in out
    assert "does not replace it" in out
    assert result.stderr == ""


def test_evaluate_json_is_the_library_output() -> None:
    result = runner.invoke(app, ["evaluate", str(PNET), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert result.stdout == library_json(PNET)
    rec = Recommendation.model_validate_json(result.stdout)
    assert rec.patient_id == "demo-pnet-02"
    assert rec.derived["category"] == "net_g2"


def test_evaluate_markdown() -> None:
    result = runner.invoke(app, ["evaluate", str(PNET), "-f", "markdown"])
    assert result.exit_code == 0, result.output
    md = result.stdout
    assert md.startswith("# netcds recommendation — demo-pnet-02\n")
    for heading in ("## Alerts", "## Missing data", "## Anti-tumour treatment",
                    "## Excluded options"):
        assert f"\n{heading}\n" in md
    assert "`net_g2`" in md
    assert "does not replace it" in md
    assert md.endswith("\n") and not md.endswith("\n\n\n")


def test_output_file_is_written_and_stdout_is_empty(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["evaluate", str(PNET), "-f", "json", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert out.read_text(encoding="utf-8") == library_json(PNET)
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_output_file_other_formats(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    result = runner.invoke(app, ["evaluate", str(EXCLUSIONS), "-f", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "demo-pnet-06" in text
    assert "\x1b[" not in text  # no colour codes in files


def test_lang_fr() -> None:
    result = runner.invoke(app, ["evaluate", str(PNET), "-f", "json", "--lang", "fr"])
    assert result.exit_code == 0, result.output
    assert result.stdout == library_json(PNET, "fr")
    assert json.loads(result.stdout)["language"] == "fr"

    md = runner.invoke(app, ["evaluate", str(PNET), "-f", "markdown", "-l", "fr"])
    assert md.exit_code == 0, md.output
    assert md.stdout.startswith("# Recommandation netcds")
    assert "## Traitement antitumoral" in md.stdout
    assert "ne la remplace pas" in md.stdout

    text = runner.invoke(app, ["evaluate", str(PNET), "-l", "fr"], env=WIDE)
    assert text.exit_code == 0, text.output
    assert "Traitement antitumoral" in text.stdout
    assert "Version des connaissances" in text.stdout


# ------------------------------------------------------------------ surveillance report: language, version


def _surveillance(fmt: str, lang: str) -> str:
    result = runner.invoke(app, ["surveillance", str(PNET), "--as-of", "2026-12-01", "-f", fmt, "-l", lang],
                           env=WIDE)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes.decode("utf-8")


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_surveillance_json_has_the_disclaimer_in_its_language_and_the_software_version(lang: str) -> None:
    data = json.loads(_surveillance("json", lang))
    assert data["language"] == lang
    assert data["disclaimer"] == DISCLAIMERS[lang]
    assert data["software_version"] == cds.__version__


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_surveillance_ics_has_the_disclaimer_in_its_language_and_the_software_version(lang: str) -> None:
    import icalendar
    cal = icalendar.Calendar.from_ical(_surveillance("ics", lang))
    assert f"netcds//surveillance planner {cds.__version__}//" in str(cal["PRODID"])
    descriptions = [str(event["DESCRIPTION"]) for event in cal.walk("VEVENT")]
    assert descriptions and all(d.endswith(DISCLAIMERS[lang]) for d in descriptions)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_surveillance_text_ends_with_the_disclaimer_in_its_language(lang: str) -> None:
    text = " ".join(_surveillance("text", lang).split())
    assert text.endswith(DISCLAIMERS[lang])


def test_surveillance_report_gives_the_stock_disclaimer_in_the_report_language() -> None:
    """A French recommendation that carries the English stock disclaimer (built before the
    engine set it by language) gets the French one in its surveillance report."""
    from cds.surveillance import surveillance_report

    rec = cds.evaluate(read_patient_file(PNET), "fr").model_copy(update={"disclaimer": DISCLAIMER})
    report = surveillance_report(rec)
    assert report.disclaimer == DISCLAIMERS["fr"]
    assert report.software_version == cds.__version__
    custom = rec.model_copy(update={"disclaimer": "Site disclaimer."})
    assert surveillance_report(custom).disclaimer == "Site disclaimer."


# ------------------------------------------------------------------ output files


def _evaluate_to(target: Path | str) -> Any:
    return runner.invoke(app, ["evaluate", str(PNET), "-f", "json", "-o", str(target)])


def test_output_to_dev_null_keeps_the_device() -> None:
    """Regression: the output was written to a temporary file renamed over the target, which
    as root replaced /dev/null with a regular file (and as anyone else failed)."""
    result = _evaluate_to("/dev/null")
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert list(Path("/dev").glob(".null.*")) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_output_to_a_character_device_writes_through_it(tmp_path: Path) -> None:
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a second /dev/null
    result = _evaluate_to(device)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert sorted(tmp_path.iterdir()) == [device]


def test_output_to_a_fifo_writes_through_it(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = _evaluate_to(fifo)
    assert result.exit_code == 0, result.output
    reader.join(timeout=30)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received == [library_json(PNET).encode("utf-8")]


def test_output_over_a_regular_file_keeps_its_mode_and_its_link(tmp_path: Path) -> None:
    real = tmp_path / "report.json"
    real.write_text("old", encoding="utf-8")
    real.chmod(0o600)
    link = tmp_path / "latest.json"
    link.symlink_to(real.name)
    result = _evaluate_to(link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.read_text(encoding="utf-8") == library_json(PNET)
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "report.json"]


def test_one_function_writes_files_whole() -> None:
    """Every atomic write goes through cds.files.write_file (there were three copies)."""
    package = Path(cds.__file__).parent
    renaming = sorted(str(p.relative_to(package)) for p in package.rglob("*.py") if "os.replace(" in p.read_text())
    assert renaming == ["files.py"]


# ------------------------------------------------------------------ library API, software version


def test_validate_and_parse_patient_are_public_api() -> None:
    assert {"InputError", "parse_patient", "validate_patient"} <= set(cds.__all__)
    assert cds.parse_patient('{"tumour": {"primary_site": "pancreas", "ki67_percent": "12"}}').tumour.ki67_percent == 12
    with pytest.raises(cds.InputError) as caught:
        cds.validate_patient({"tumour": {"primary_site": "liver", "ki67_percent": 150}}, source="form")
    problems = {p.field: p.message for p in caught.value.problems}
    assert "'pancreas'" in problems["tumour.primary_site"] and "<= 100" in problems["tumour.ki67_percent"]
    for function in (cds.validate_patient, cds.parse_patient):
        assert function.__doc__ and ">>> " in function.__doc__ and "InputError" in function.__doc__


@pytest.mark.parametrize(("lang", "words"), [("en", "Software version"), ("fr", "Version du logiciel")])
def test_reports_show_the_software_version_beside_the_knowledge_version(lang: str, words: str) -> None:
    version = cds.__version__
    text = runner.invoke(app, ["evaluate", str(PNET), "-l", lang], env=WIDE)
    assert text.exit_code == 0, text.output
    line = next(line for line in text.stdout.splitlines() if words in line)
    assert version in line
    md = runner.invoke(app, ["evaluate", str(PNET), "-f", "markdown", "-l", lang]).stdout
    assert f"{words}{' :' if lang == 'fr' else ':'} `{version}`" in md
    assert md.index(f"{words}") - md.index("`" + cds.default_engine().kb.version) < 80
    page = runner.invoke(app, ["evaluate", str(PNET), "-f", "html", "-l", lang]).stdout
    assert f"<code>{version}</code>" in page
    assert f'<meta name="generator" content="netcds {version}' in page


def test_demo_session_index_shows_the_software_version(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--output-dir", str(tmp_path)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert f"<code>{cds.__version__}</code>" in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_evaluate_reads_stdin() -> None:
    result = runner.invoke(app, ["evaluate", "-", "-f", "json"],
                           input=PNET.read_text(encoding="utf-8"))
    assert result.exit_code == 0, result.output
    assert result.stdout == library_json(PNET)


def test_every_example_evaluates_in_every_format() -> None:
    for path in EXAMPLES:
        for fmt in ("text", "json", "markdown"):
            result = runner.invoke(app, ["evaluate", str(path), "-f", fmt], env=WIDE)
            assert result.exit_code == 0, (path.name, fmt, result.output)
            assert result.stdout


# ------------------------------------------------------------------ demo


def test_demo_summary_and_reports(tmp_path: Path) -> None:
    out_dir = tmp_path / "reports"
    result = runner.invoke(app, ["demo", "--output-dir", str(out_dir)], env=WIDE)
    assert result.exit_code == 0, result.output
    ids = [read_patient_file(p).id for p in EXAMPLES]
    shown = [i for i in ids if i and i in result.stdout]
    assert len(shown) >= 8 and len(shown) == len(ids)
    reports = sorted(p.name for p in out_dir.glob("*.md") if p.name != "index.md")
    assert reports == sorted(f"{p.stem}.md" for p in EXAMPLES)
    index = (out_dir / "index.md").read_text(encoding="utf-8")
    for path in EXAMPLES:
        assert f"]({path.stem}.md)" in index
    first = (out_dir / reports[0]).read_text(encoding="utf-8")
    assert first.startswith("# netcds recommendation")


def test_demo_custom_examples_folder(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(PNET.read_text(encoding="utf-8"), encoding="utf-8")
    result = runner.invoke(app, ["demo", "--examples", str(tmp_path)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "demo-pnet-02" in result.stdout
    assert "NET G2" in result.stdout and "net_g2" not in result.stdout  # labels, not ids
    assert "Somatostatin analogue" in result.stdout


def test_demo_table_is_translated_and_honours_columns(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(PNET.read_text(encoding="utf-8"), encoding="utf-8")
    result = runner.invoke(app, ["demo", "--examples", str(tmp_path), "--lang", "fr"], env={"COLUMNS": "90"})
    assert result.exit_code == 0, result.output
    assert "pancréas" in result.stdout and "Analogue de" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 90


def test_demo_bad_example_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(PNET.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "b.json").write_text('{"tumour": {}}', encoding="utf-8")
    out_dir = tmp_path / "out"
    result = runner.invoke(app, ["demo", "--examples", str(tmp_path), "--output-dir", str(out_dir)])
    assert result.exit_code == 2
    assert "b.json is not a valid patient" in result.stderr
    assert "tumour.primary_site" in result.stderr
    assert not out_dir.exists()


def test_demo_empty_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--examples", str(tmp_path)])
    assert result.exit_code == 2
    assert "no example patient" in result.stderr


# ------------------------------------------------------------------ schema, version


@pytest.mark.parametrize("name", ["patient", "recommendation", "surveillance"])
def test_schema(name: Literal["patient", "recommendation", "surveillance"]) -> None:
    from cds.model.schema import json_schema

    result = runner.invoke(app, ["schema", name])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema == json_schema(name)
    assert "properties" in schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_patient_rejects_out_of_range_values() -> None:
    """Regression: the schema said ``ge``/``le`` (pydantic's words), which validators ignore."""
    import jsonschema
    schema = json.loads(runner.invoke(app, ["schema", "patient"]).stdout)
    patient = json.loads(PNET.read_text(encoding="utf-8"))
    patient["tumour"]["ki67_percent"] = 150
    with pytest.raises(jsonschema.ValidationError, match="150 is greater than the maximum of 100"):
        jsonschema.validate(patient, schema, cls=jsonschema.Draft202012Validator)


def test_schema_patient_accepts_every_example() -> None:
    import jsonschema
    result = runner.invoke(app, ["schema", "patient"])
    schema = json.loads(result.stdout)
    for path in EXAMPLES:
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema)


def test_schema_unknown_name() -> None:
    result = runner.invoke(app, ["schema", "drug"])
    assert result.exit_code == 2
    assert "'drug'" in result.stderr
    assert "patient" in result.stderr and "recommendation" in result.stderr


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert cds.__version__ in result.stdout
    assert cds.default_engine().kb.version in result.stdout


# ------------------------------------------------------------------ knowledge commands

PASSING = """
id: cli-test-pass
side: in
cites: test
patient:
  tumour: {primary_site: pancreas, differentiation: well, ki67_percent: 5}
  disease: {stage: localized}
expect:
  derived: {category: net_g2}
"""

FAILING = PASSING.replace("cli-test-pass", "cli-test-fail").replace("net_g2", "nec")
BROKEN = PASSING.replace("cli-test-pass", "cli-test-broken").replace("ki67_percent: 5",
                                                                    "ki67_percent: 500")


def _vignettes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, texts: dict[str, str]) -> None:
    import cds.vignettes

    paths = []
    for name, text in texts.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    monkeypatch.setattr(cds.vignettes, "vignette_files", lambda root=None: sorted(paths))


def test_knowledge_test_all_pass(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _vignettes(monkeypatch, tmp_path, {"a": PASSING})
    result = runner.invoke(app, ["knowledge", "test", "--no-matrix"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "1 passed, 0 failed"


def test_knowledge_test_reports_failures(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _vignettes(monkeypatch, tmp_path, {"a": PASSING, "b": FAILING, "c": BROKEN})
    result = runner.invoke(app, ["knowledge", "test", "--no-matrix"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == "1 passed, 2 failed"
    assert any(line.startswith("FAIL  cli-test-fail") for line in lines)
    assert any("derived.category is 'net_g2', expected 'nec'" in line for line in lines)
    assert any(line.startswith("FAIL  c") for line in lines)
    assert any("tumour.ki67_percent" in line for line in lines)
    assert "Traceback" not in result.output


def _fake_lint(monkeypatch: pytest.MonkeyPatch, findings: list[tuple[str, str]]) -> None:
    module = types.ModuleType("cds.lint")

    def lint(*_: Any, **__: Any) -> list[Any]:
        return [
            types.SimpleNamespace(level=level, code=code, file="knowledge/rules/x.yaml",
                                  loc="x.rule", message=f"{code} happened")
            for level, code in findings
        ]

    module.lint = lint  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cds.lint", module)


def test_knowledge_lint_errors_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_lint(monkeypatch, [("error", "unknown_source"), ("warning", "no_vignette"),
                             ("info", "stat")])
    result = runner.invoke(app, ["knowledge", "lint"])
    assert result.exit_code == 1
    out = result.stdout
    assert "knowledge/rules/x.yaml: x.rule: unknown_source happened [unknown_source]" in out
    assert out.index("errors") < out.index("warnings") < out.index("infos")
    assert out.splitlines()[-1] == "1 error(s), 1 warning(s), 1 info"


def test_knowledge_lint_warnings_only(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_lint(monkeypatch, [("warning", "no_vignette")])
    assert runner.invoke(app, ["knowledge", "lint"]).exit_code == 0
    assert runner.invoke(app, ["knowledge", "lint", "--strict"]).exit_code == 1


def test_knowledge_lint_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_lint(monkeypatch, [])
    result = runner.invoke(app, ["knowledge", "lint", "--strict"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "0 error(s), 0 warning(s), 0 info"


def test_knowledge_commands_on_the_bundled_knowledge() -> None:
    """Smoke test on the real content: whatever it holds, the commands report and exit 0/1."""
    import re

    tested = runner.invoke(app, ["knowledge", "test", "--quiet"])
    summary = re.fullmatch(r"(\d+) passed, (\d+) failed", tested.stdout.splitlines()[-1])
    assert summary, tested.output
    assert tested.exit_code == (1 if int(summary.group(2)) or " 0 failed" not in tested.output else 0)

    linted = runner.invoke(app, ["knowledge", "lint", "--no-coverage"])
    assert linted.exit_code in (0, 1), linted.output
    assert re.fullmatch(r"\d+ error\(s\), \d+ warning\(s\), \d+ info",
                        linted.stdout.splitlines()[-1])
    assert "Traceback" not in tested.output + linted.output


# ------------------------------------------------------------------ renderers


def _synthetic() -> Recommendation:
    strong = Evidence(kind="rct_phase3", level="I, A", rank=2, confirmed=True)
    weak = Evidence(kind="expert_consensus", rank=9, confirmed=False)
    pro = Argument(direction="for", rule="t.pro", text="Prolongs PFS [CLARINET] *G1|G2*",
                   sources=["clarinet_2014"], evidence=strong, strength=3)
    con = Argument(direction="against", rule="t.con", text="Burden <b>high</b>",
                   sources=["esmo_2020"], evidence=weak, strength=1)
    excl = Argument(direction="exclude", rule="t.excl", text="eGFR too low",
                    sources=["enets_2017_soc_prrt"], evidence=strong, strength=0)
    return Recommendation(
        knowledge_version="9.9.9+test", patient_id="synthetic", as_of="2025-01-01",
        derived={"grade": "g2", "category": "net_g2"},
        anti_tumour=[RankedOption(option="ssa", label="SSA", track="anti_tumour", rank=1,
                                  score=2, category="consider", arguments=[pro, con],
                                  conditional_on=["imaging.sstr"])],
        antisecretory=[],
        excluded=[ExcludedOption(option="prrt", label="PRRT", track="anti_tumour",
                                 reasons=[excl])],
        alerts=[Alert(id="mdt_referral", severity="critical", text="Refer [now]",
                      rule="t.alert", sources=["esmo_2020"])],
        missing_data=[MissingData(field="tumour.ki67_percent", why="Needed", rule="t.miss")],
        trace=Trace(pathways=["p"], nodes=[], fired_rules=[]),
    )


def test_text_renderer_shows_everything_literally() -> None:
    from cds.render.text import render_text

    text = render_text(_synthetic(), width=160)
    for fragment in ("synthetic", "CRITICAL", "mdt_referral", "Refer [now]",
                     "Ki-67", "Prolongs PFS [CLARINET] *G1|G2*", "+3", "-1",
                     "t.pro", "clarinet_2014", "rct_phase3 (I, A)", "UNCONFIRMED",
                     "SSTR imaging", "PRRT", "eGFR too low", "t.excl", "does not replace"):
        assert fragment in text, fragment
    assert text.count("Antisecretory") == 1  # the empty track: one line among the top options, no table


def test_markdown_renderer_escapes_and_marks() -> None:
    from cds.render.markdown import render_markdown

    md = render_markdown(_synthetic())
    assert r"Prolongs PFS \[CLARINET\] \*G1\|G2\*" in md
    assert r"Burden \<b\>high\</b\>" in md
    assert "***UNCONFIRMED***" in md
    assert "| 1 | SSA (`ssa`) | consider | 2 | SSTR imaging |" in md
    assert "### PRRT (`prrt`, Anti-tumour treatment)" in md
    assert "- **x** eGFR too low" in md


# ------------------------------------------------------------------ end to end (subprocess)


def test_subprocess_evaluate_json_is_byte_identical() -> None:
    first = run_module("evaluate", str(PNET), "--format", "json")
    second = run_module("evaluate", str(PNET), "--format", "json")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout == library_json(PNET)
    assert first.stderr == ""


def test_subprocess_bad_input_exit_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"tumour": {"primary_site": "liver"}, "disease": {"stage": "metastatic"}}',
                   encoding="utf-8")
    out = tmp_path / "out.json"
    proc = run_module("evaluate", str(bad), "-o", str(out))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"error: {bad} is not a valid patient:" in proc.stderr
    assert "  - tumour.primary_site: 'liver' is not allowed" in proc.stderr
    assert not out.exists()

    usage = run_module("evaluate", str(PNET), "--format", "xml")
    assert usage.returncode == 2
    assert "'xml' is not one of" in usage.stderr and "Traceback" not in usage.stderr


def test_subprocess_missing_knowledge_is_a_knowledge_error_exit_2(tmp_path: Path) -> None:
    env = {"NETCDS_CONTENT": str(tmp_path)}
    proc = run_module("evaluate", str(PNET), env=env)
    assert proc.returncode == 2
    assert "knowledge error" in proc.stderr and "knowledge.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""

    debug = run_module("evaluate", str(PNET), env={**env, "NETCDS_DEBUG": "1"})
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr


def test_broken_knowledge_file_names_the_file_and_the_line(tmp_path: Path) -> None:
    """A copy of the content with one wrong value: exit 2, file:line, no traceback (issue 11, item 5)."""
    import shutil

    from cds.resources import knowledge_dir, pathways_dir

    shutil.copytree(knowledge_dir(), tmp_path / "knowledge")
    shutil.copytree(pathways_dir(), tmp_path / "pathways")
    broken = tmp_path / "pathways" / "pnet_well_differentiated.yaml"
    lines = broken.read_text(encoding="utf-8").splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines, 1) if line.strip() == "kind: decision")
    lines[number - 1] = lines[number - 1].replace("kind: decision", "kind: decisoin")
    broken.write_text("".join(lines), encoding="utf-8")

    proc = run_module("pathway", env={"NETCDS_CONTENT": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    assert "knowledge error" in proc.stderr
    assert f"pathways/pnet_well_differentiated.yaml:{number}: " in proc.stderr
    assert "decisoin" in proc.stderr or "'start', 'decision' or 'situation'" in proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_internal_error_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    import cds.report

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(cds.report, "build_report", boom)
    result = runner.invoke(app, ["evaluate", str(PNET)])
    assert result.exit_code == 1
    assert "internal error: RuntimeError: boom" in result.stderr
    assert "this is a bug" in result.stderr and "Traceback" not in result.output
