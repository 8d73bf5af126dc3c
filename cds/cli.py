"""The ``cds`` command line.

Exit codes: 0 success, 2 bad input (a patient file, an argument or an option
value the user can fix, or knowledge files that do not load: each problem with
its file and line), 1 internal error (the engine failed, a bug). Bad input is
reported field by field on stderr, without a traceback; internal errors give a
short message, and the traceback only when ``NETCDS_DEBUG=1``. Output files are
written only after everything succeeded.

Cold start matters (one ``cds evaluate`` per patient in a script): heavy
modules (rich, jinja2, yaml, the engine) are imported inside the commands
that need them, never at import time of this module.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from cds.cohort.dask_run import DaskTarget
    from cds.engine import Engine
    from cds.errors import InputError
    from cds.model import Patient
    from cds.report import Report

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2

DEBUG_ENV = "NETCDS_DEBUG"


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    html = "html"


class ExplainFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


class Language(str, Enum):
    en = "en"
    fr = "fr"


class SchemaName(str, Enum):
    patient = "patient"
    recommendation = "recommendation"
    surveillance = "surveillance"
    knowledge = "knowledge"


class SurveillanceFormat(str, Enum):
    text = "text"
    json = "json"
    ics = "ics"


class SurveillancePlanChoice(str, Enum):
    recommended = "recommended"
    default = "default"
    minimised = "minimised"


LangOption = Annotated[
    Language, typer.Option("--lang", "-l", case_sensitive=False, help="Report language.")
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write to this file instead of stdout.",
                 show_default=False),
]
PatientArgument = Annotated[Path, typer.Argument(
    metavar="PATIENT.json", help="Patient file (JSON, input contract); - reads stdin.",
    show_default=False,
)]

app = typer.Typer(
    name="cds",
    help=(
        "netcds: clinical decision support for digestive neuroendocrine neoplasms. "
        "It supports the decision of a multidisciplinary tumour board; it does not replace it."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click error messages: one line naming the option and its allowed values,
    # never wrapped inside a box (scripts and tests read them).
    rich_markup_mode=None,
)


def _sub_app(help_text: str, *, no_args_is_help: bool = False) -> typer.Typer:
    """A command group with the main app's settings (plain click messages, no tracebacks, no completion)."""
    return typer.Typer(help=help_text, no_args_is_help=no_args_is_help, add_completion=False,
                       pretty_exceptions_enable=False, rich_markup_mode=None)


knowledge_app = _sub_app("Check the guideline knowledge: lint the files, run the vignettes.", no_args_is_help=True)
app.add_typer(knowledge_app, name="knowledge")
examples_app = _sub_app("The bundled example patients: list them, or copy them to a folder to start from.")
app.add_typer(examples_app, name="examples")
board_app = _sub_app("The tumour board's web application: serve it, manage its accounts, check its audit trail.",
                     no_args_is_help=True)
app.add_typer(board_app, name="board")
fhir_app = _sub_app("FHIR R4: read a Bundle as a patient of the input contract, with a report of where each field came "
                    "from.", no_args_is_help=True)
app.add_typer(fhir_app, name="fhir")
hooks_app = _sub_app("The CDS Hooks 2.0 service an EHR calls: patient-view, order-select and order-sign.",
                     no_args_is_help=True)
app.add_typer(hooks_app, name="hooks")


# ------------------------------------------------------------------ errors


class _BadInput(Exception):
    """A problem with the command's arguments that is the user's to fix (exit 2)."""


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _print_input_error(exc: InputError) -> None:
    _err(f"error: {exc.source} is not a valid patient:")
    for problem in exc.problems:
        _err(f"  - {problem}")


@contextmanager
def _guard() -> Iterator[None]:
    """Map every failure of a command to its exit code and a message on stderr."""
    from cds.errors import EngineError, InputError, KnowledgeError

    try:
        yield
    except (typer.Exit, typer.Abort, typer.BadParameter, SystemExit, KeyboardInterrupt,
            BrokenPipeError):
        raise  # typer handles these (a closed pipe, e.g. `cds ... | head`, exits quietly)
    except InputError as exc:
        _print_input_error(exc)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except _BadInput as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except KnowledgeError as exc:
        if _debug():
            traceback.print_exc()
        # The knowledge is content an author edits (NETCDS_CONTENT): its faults are theirs to fix.
        problems = exc.problems
        _err(f"knowledge error: the knowledge does not load ({len(problems)} problem(s)):")
        for p in problems[:10]:
            _err(f"  - {p}")
        if len(problems) > 10:
            _err(f"  ... and {len(problems) - 10} more; run `cds knowledge lint` for all of them")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except EngineError as exc:
        if _debug():
            traceback.print_exc()
        _err(f"internal error: the rule engine failed: {exc}")
        _err(f"(set {DEBUG_ENV}=1 for the traceback)")
        raise typer.Exit(EXIT_INTERNAL) from None
    except Exception as exc:
        if _debug():
            traceback.print_exc()
        _err(f"internal error: {type(exc).__name__}: {exc}")
        _err(f"(this is a bug in netcds; set {DEBUG_ENV}=1 for the traceback)")
        raise typer.Exit(EXIT_INTERNAL) from None


# ------------------------------------------------------------------ helpers


def _engine() -> Engine:
    from cds import default_engine

    return default_engine()


def _read_patient(path: Path) -> tuple[Patient, str]:
    """Read and validate one patient file (``-`` reads stdin); return it and its name.

    Only the file's own problems (syntax, types, ranges, contradictions) are
    checked here, so they are reported even when the knowledge does not load;
    :func:`_check_options` then checks the prior treatments against the catalogue.
    """
    from cds.errors import InputError, InputProblem
    from cds.input import parse_patient, read_patient_file

    if str(path) == "-":
        source = "<stdin>"
        try:
            text = sys.stdin.buffer.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError([InputProblem("", "the input is not UTF-8 text")], source) from None
        return parse_patient(text, source=source), source
    return read_patient_file(path), str(path)


def _load_patient(path: Path, output: Path | None) -> tuple[Patient, Engine]:
    """Check the output path, read and validate the patient, and check its option ids."""
    _check_output(output)
    pat, source = _read_patient(path)
    engine = _engine()
    _check_options(pat, source, engine)
    return pat, engine


def _fhir_bundle(path: Path) -> dict[str, Any] | None:
    """The file's JSON when it is a FHIR Bundle; None otherwise (the patient reader then reports its faults)."""
    import json

    if str(path) == "-":
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
        # a patient file never says "Bundle": it is parsed once, by the patient reader
        data = json.loads(text) if '"Bundle"' in text else None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):  # the patient reader names the fault
        return None
    return data if isinstance(data, dict) and data.get("resourceType") == "Bundle" else None


def _patient_of_bundle(path: Path, data: dict[str, Any], as_of: str | None) -> Patient:
    """Map a FHIR Bundle to the patient contract; say on stderr which fields it left missing or ambiguous.

    Only field names are printed, never values (no patient data on stderr, which ends up in logs).
    """
    import datetime as dt
    import json

    from cds.fhir import BundleError, Status, map_bundle
    from cds.input import parse_patient

    try:
        day = dt.date.fromisoformat(as_of.strip()) if as_of else dt.date.today()
    except ValueError:
        raise _BadInput(f"--as-of: {as_of!r} is not a date (expected YYYY-MM-DD)") from None
    try:
        result = map_bundle(data, day)
    except (BundleError, ValueError) as exc:
        raise _BadInput(f"{path}: {exc}") from None
    if "primary_site" not in result.patient.get("tumour", {}):
        raise _BadInput(f"{path}: the bundle states no primary site (tumour.primary_site): no Condition with an "
                        "ICD-10 / ICD-O-3 topography code the catalogue knows; run `cds fhir map` to see what was read")
    missing = [row.field for row in result.report if row.status is Status.missing]
    ambiguous = [row.field for row in result.report if row.status is Status.ambiguous]
    _err(f"FHIR bundle mapped at decision date {day.isoformat()}" + ("" if as_of else " (today)")
         + "; `cds fhir map` shows the full mapping report")
    if missing:
        _err(f"  missing: {', '.join(missing)}")
    if ambiguous:
        _err(f"  ambiguous (records disagree or are unclear; left unknown): {', '.join(ambiguous)}")
    if result.problems:
        _err(f"  {len(result.problems)} contract problem(s); see `cds fhir map`")
    return parse_patient(json.dumps(result.patient), source=str(path))


def _check_options(patient: Patient, source: str, engine: Engine) -> None:
    from cds.input import check_prior_options
    from cds.surveillance import check_imaging_history

    check_prior_options(patient, engine.kb.options, source)
    check_imaging_history(patient, engine.kb, source)


def _write_output(path: Path, text: str) -> None:
    """Write the whole file at once, or nothing (UTF-8, ``\\n`` line ends)."""
    if path.expanduser().is_dir():
        raise _BadInput(f"cannot write {path}: it is a directory")
    _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    """Write a file whole, or nothing (:func:`cds.files.write_file`: devices and FIFOs directly)."""
    from cds.files import write_file

    try:
        write_file(path, data)
    except OSError as exc:
        raise _BadInput(f"cannot write {path}: {exc.strerror or exc}") from None


def _check_output(path: Path | None) -> None:
    """Fail early, before any work, when the output file obviously cannot be written."""
    if path is None:
        return
    target = path.expanduser()
    if target.is_dir():
        raise _BadInput(f"cannot write {path}: it is a directory")
    if not target.parent.is_dir():
        raise _BadInput(f"cannot write {path}: folder {target.parent} does not exist")


def _emit(text: str, output: Path | None) -> None:
    if output is not None:
        _write_output(output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def render(report: Report, fmt: OutputFormat) -> str:
    """The report in one of the output formats, as a string (text: laid out for a file)."""
    if fmt is OutputFormat.json:
        return report.recommendation.model_dump_json(indent=2) + "\n"
    if fmt is OutputFormat.markdown:
        from cds.render.markdown import render_markdown

        return render_markdown(report)
    if fmt is OutputFormat.html:
        from cds.render.html import render_html

        return render_html(report)
    from cds.render.text import render_text, text_width

    return render_text(report, text_width(terminal=False))


# ------------------------------------------------------------------ root


def _version_callback(value: bool) -> None:
    if not value:
        return
    import cds

    typer.echo(f"netcds {cds.__version__}")
    with _guard():
        kb = _engine().kb
        typer.echo(f"knowledge {kb.version}")
    raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version_callback, is_eager=True,
        help="Print the package and knowledge versions and exit.",
    )] = False,
) -> None:
    """netcds command line."""


# ------------------------------------------------------------------ evaluate


@app.command()
def evaluate(
    patient: PatientArgument,
    fmt: Annotated[OutputFormat, typer.Option(
        "--format", "-f", case_sensitive=False, help="Output format."
    )] = OutputFormat.text,
    lang: LangOption = Language.en,
    output: OutputOption = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", metavar="YYYY-MM-DD",
        help="Decision date for a FHIR Bundle (age, what counts as past); default: today.", show_default=False,
    )] = None,
) -> None:
    """Rank the options for one patient and show them with their arguments.

    PATIENT may also be a FHIR R4 Bundle (JSON with resourceType Bundle): it is mapped first
    (`cds fhir map` shows how), and the fields the mapping found missing or ambiguous are named on stderr.
    """
    with _guard():
        from cds.report import build_report

        bundle = _fhir_bundle(patient)
        if bundle is None and as_of is not None:
            raise _BadInput("--as-of applies to a FHIR Bundle; a patient file carries its own as_of")
        if bundle is not None:
            _check_output(output)
            engine = _engine()
            pat = _patient_of_bundle(patient, bundle, as_of)
            _check_options(pat, str(patient), engine)
        else:
            pat, engine = _load_patient(patient, output)
        report = build_report(engine, pat, lang.value)
        if fmt is OutputFormat.text and output is None:
            from rich.console import Console

            from cds.render.text import print_report

            print_report(report, Console(highlight=False))
            return
        _emit(render(report, fmt), output)


# ------------------------------------------------------------------ trials


@app.command()
def trials(
    target: Annotated[str, typer.Argument(
        metavar="PATIENT.json | import",
        help="A patient file (every catalogue trial matched against it), or `import` followed by a "
             "ClinicalTrials.gov API v2 JSON file.", show_default=False,
    )],
    study: Annotated[Path | None, typer.Argument(
        metavar="[CTGOV_V2.json]", help="With `import`: the saved API v2 study (or {\"studies\": [...]}) export.",
        show_default=False,
    )] = None,
    fmt: Annotated[ExplainFormat, typer.Option(
        "--format", "-f", case_sensitive=False, help="Output format (matching: text or json).",
    )] = ExplainFormat.text,
    lang: LangOption = Language.en,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", show_default=False,
        help="Matching: write to this file. Import: the trial catalogue folder; each study is written to "
             "DIR/<trial-id>/trial.yaml (default: print the YAML).",
    )] = None,
    checked_on: Annotated[str | None, typer.Option(
        "--checked-on", metavar="YYYY-MM-DD", show_default=False,
        help="Import: the day the record was downloaded (status_checked_on); default: the record's last update posted.",
    )] = None,
) -> None:
    """Match one patient against every catalogue trial (eligible, potentially eligible, ineligible, with
    the reasons and the date each status was checked), or import a ClinicalTrials.gov record.

    `cds trials import CTGOV_V2.json [--output DIR]` writes a catalogue entry with the metadata filled
    and every eligibility criterion as text, for an author to encode (knowledge/catalogues/trials/).
    """
    with _guard():
        if target == "import":
            _import_trials(study, output, checked_on)
            return
        if study is not None or checked_on is not None:
            raise _BadInput("a second file and --checked-on go with `cds trials import`")
        if fmt is ExplainFormat.markdown:
            raise _BadInput("--format: `cds trials` prints text or json (the Markdown report has the trials section)")
        from cds.model.recommendation import TrialsReport

        pat, engine = _load_patient(Path(target), output)
        rec = engine.evaluate(pat, lang.value, surveillance=False)
        report = TrialsReport(knowledge_version=rec.knowledge_version, software_version=rec.software_version,
                              patient_id=rec.patient_id, as_of=rec.as_of, language=rec.language, trials=rec.trials,
                              disclaimer=rec.disclaimer)
        if fmt is ExplainFormat.json:
            _emit(report.model_dump_json(indent=2) + "\n", output)
            return
        from cds.render.text import render_trials_text

        _emit(render_trials_text(report), output)


def _import_trials(study: Path | None, output: Path | None, checked_on: str | None) -> None:
    """``cds trials import``: each study of the file as a trial.yaml (stdout, or DIR/<trial-id>/trial.yaml)."""
    import datetime as dt
    import json

    from cds.trials.ctgov import StudyError, studies_of, trial_from_study, trial_yaml

    if study is None:
        raise _BadInput("`cds trials import` needs the ClinicalTrials.gov API v2 JSON file")
    try:
        day = dt.date.fromisoformat(checked_on.strip()) if checked_on else None
    except ValueError:
        raise _BadInput(f"--checked-on: {checked_on!r} is not a date (expected YYYY-MM-DD)") from None
    try:
        data = json.loads(study.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise _BadInput(f"cannot read {study}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _BadInput(f"{study}: not JSON: {exc}") from None
    try:
        entries = [trial_from_study(s, day) for s in studies_of(data)]
    except StudyError as exc:
        raise _BadInput(f"{study}: {exc}") from None
    if output is None:
        _emit("---\n".join(trial_yaml(e) for e in entries), None)
        return
    if output.exists() and not output.is_dir():
        raise _BadInput(f"--output: {output} is not a folder")
    for entry in entries:
        target = output / entry.id / "trial.yaml"
        if target.exists():
            raise _BadInput(f"{target} exists: the import never overwrites a catalogue entry (move it first)")
    for entry in entries:
        folder = output / entry.id
        folder.mkdir(parents=True, exist_ok=True)
        _write_bytes(folder / "trial.yaml", trial_yaml(entry).encode("utf-8"))
        typer.echo(f"{folder / 'trial.yaml'}: {len(entry.criteria)} criteria as text; encode them, add the options "
                   "and an eligible and an ineligible vignette")


# ------------------------------------------------------------------ explain


@app.command()
def explain(
    patient: PatientArgument,
    option: Annotated[str, typer.Option(
        "--option", metavar="ID", help="Option id from the catalogue (knowledge/catalogues/options.yaml).",
        show_default=False,
    )],
    fmt: Annotated[ExplainFormat, typer.Option(
        "--format", "-f", case_sensitive=False, help="Output format."
    )] = ExplainFormat.text,
    lang: LangOption = Language.en,
    output: OutputOption = None,
) -> None:
    """Why an option is not ranked first (or not proposed), and what would change it."""
    with _guard():
        from cds.explain import UnknownOptionError
        from cds.report import build_report

        pat, engine = _load_patient(patient, output)
        try:
            explanation = build_report(engine, pat, lang.value).explain(option)
        except UnknownOptionError as exc:
            raise _BadInput(f"--option: {exc}") from None
        if fmt is ExplainFormat.json:
            text = explanation.model_dump_json(indent=2) + "\n"
        elif fmt is ExplainFormat.markdown:
            from cds.render.markdown import render_explanation_markdown

            text = render_explanation_markdown(explanation, engine.kb)
        else:
            from cds.render.text import render_explanation_text

            text = render_explanation_text(explanation, engine.kb)
        _emit(text, output)


# ------------------------------------------------------------------ demo


@app.command()
def demo(
    examples: Annotated[Path | None, typer.Option(
        "--examples", help="Folder of example patients (*.json); default: the bundled one.",
        show_default=False,
    )] = None,
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir",
        help=("Write a tumour-board session here: one HTML and one Markdown report per "
              "patient, plus index.html and index.md."),
        show_default=False,
    )] = None,
    lang: LangOption = Language.en,
) -> None:
    """Evaluate every example patient and print a summary table."""
    with _guard():
        from rich.console import Console

        from cds.errors import InputError
        from cds.render.session import session_rows
        from cds.render.text import demo_table, text_width
        from cds.report import build_report
        from cds.resources import examples_dir

        folder = examples if examples is not None else examples_dir()
        if not folder.is_dir():
            raise _BadInput(f"{folder} is not a folder of example patients")
        files = sorted(folder.glob("*.json"))
        if not files:
            raise _BadInput(f"no example patient (*.json) in {folder}")

        engine = _engine()
        reports: list[tuple[str, Report]] = []
        bad: list[InputError] = []
        for path in files:
            try:
                pat, source = _read_patient(path)
                _check_options(pat, source, engine)
            except InputError as exc:
                bad.append(exc)
                continue
            reports.append((path.stem, build_report(engine, pat, lang.value)))
        if bad:
            for error in bad:
                _print_input_error(error)
            raise typer.Exit(EXIT_BAD_INPUT)
        rows = session_rows(reports, lang.value)

        if output_dir is not None:
            from cds.render.html import render_html, render_session_index
            from cds.render.markdown import render_index, render_markdown

            files_out: dict[str, str] = {}
            for stem, report in reports:
                files_out[f"{stem}.html"] = render_html(report)
                files_out[f"{stem}.md"] = render_markdown(report)
            index = render_index(rows, lang.value)
            index_html = render_session_index(rows, lang.value, engine.kb.version)
            try:
                output_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _BadInput(f"cannot create {output_dir}: {exc.strerror or exc}") from None
            for name, text in files_out.items():
                _write_output(output_dir / name, text)
            _write_output(output_dir / "index.md", index)
            _write_output(output_dir / "index.html", index_html)

        columns = ("patient", "site_label", "category_label", "top_anti_tumour", "top_antisecretory",
                   "alerts", "excluded")
        console = Console(highlight=False, width=text_width())
        console.print(demo_table([[row[c] for c in columns] for row in rows], lang.value))
        if output_dir is not None:
            console.print(f"{len(reports)} report(s) (HTML and Markdown), index.html and index.md "
                          f"written to {output_dir}", markup=False)


# ------------------------------------------------------------------ knowledge


@knowledge_app.command("lint")
def knowledge_lint(
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
    coverage: Annotated[bool, typer.Option(
        "--coverage/--no-coverage", help="Also report rules and edges no vignette exercises."
    )] = True,
    today: Annotated[str | None, typer.Option(
        "--today", metavar="YYYY-MM-DD",
        help="The day trial statuses are aged against (default: today). CI passes the commit's date, so "
             "a commit's verdict does not change with the calendar; a release check leaves it out.",
        show_default=False,
    )] = None,
) -> None:
    """Check the knowledge and pathway files; exit 1 on errors (and warnings with --strict)."""
    with _guard():
        import datetime as dt

        from cds.lint import lint

        try:
            day = dt.date.fromisoformat(today) if today else None
        except ValueError:
            raise _BadInput(f"--today: {today!r} is not a date (expected YYYY-MM-DD)") from None
        # lint() reports knowledge that does not even load as error findings.
        findings = lint(coverage=coverage, today=day)

        levels = ("error", "warning", "info")
        counts = {level: 0 for level in levels}
        for level in levels:
            group = [f for f in findings if f.level == level]
            counts[level] = len(group)
            if not group:
                continue
            typer.secho(f"{level}s ({len(group)}):", bold=True,
                        fg={"error": "red", "warning": "yellow", "info": "cyan"}[level])
            for f in sorted(group, key=lambda f: (str(f.file), str(f.loc), str(f.code))):
                line = getattr(f, "line", None)
                file = f"{f.file}:{line}" if line is not None else f"{f.file}"
                where = f"{file}: {f.loc}" if f.loc else file
                typer.echo(f"  {where}: {f.message} [{f.code}]")
        typer.echo(
            f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info"
        )
        failed = counts["error"] > 0 or (strict and counts["warning"] > 0)
        if failed:
            raise typer.Exit(EXIT_INTERNAL)


@knowledge_app.command("test")
def knowledge_test(
    match: Annotated[str | None, typer.Option(
        "--match", "-k", help="Run only the vignettes whose file path contains this text.",
        show_default=False,
    )] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Show only the failures.")] = False,
    matrix: Annotated[bool, typer.Option(
        "--matrix/--no-matrix", help="Also check every stated cell of the contraindication matrix on its probes.",
    )] = True,
) -> None:
    """Run every knowledge vignette and the contraindication-matrix probes; exit 1 if any fails."""
    with _guard():
        from cds.vignettes import run_vignettes, vignette_files

        engine = _engine()
        passed = failed = 0
        for path in vignette_files(engine.kb.root):
            if match and match not in str(path):
                continue
            try:
                (result,) = run_vignettes(engine, [path])
                name, failures = result.vignette.id, result.failures
            except Exception as exc:  # one broken vignette must not hide the others
                from cds.errors import InputError

                name = path.stem
                if isinstance(exc, InputError):
                    failures = [f"invalid patient: {p}" for p in exc.problems]
                else:
                    failures = [f"{type(exc).__name__}: {exc}"]
            if failures:
                failed += 1
                typer.secho(f"FAIL  {name}  ({_relative(path)})", fg="red")
                for failure in failures:
                    typer.echo(f"      - {failure}")
            else:
                passed += 1
                if not quiet:
                    typer.secho(f"ok    {name}", fg="green")
        if matrix and match is None:
            from cds.vignettes import run_matrix_probes

            cells = run_matrix_probes(engine)
            bad = [c for c in cells if not c.ok]
            for cell in bad:
                typer.secho(f"FAIL  matrix {cell.entry}: {cell.option} x {cell.condition} ({cell.level}, "
                            f"probe {cell.probe})", fg="red")
                for failure in cell.failures:
                    typer.echo(f"      - {failure}")
            typer.echo(f"matrix: {len(cells) - len(bad)} of {len(cells)} stated cells hold on their probe "
                       f"patients, {len(bad)} failed")
            cells_failed = len(bad)
        else:
            cells_failed = 0
        typer.echo(f"{passed} passed, {failed} failed")
        if failed or cells_failed:
            raise typer.Exit(EXIT_INTERNAL)


@knowledge_app.command("matrix")
def knowledge_matrix(
    option: Annotated[str | None, typer.Option(
        "--option", help="Show one option's column, statement by statement.", show_default=False,
    )] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the whole table in Markdown.")] = False,
) -> None:
    """Print the contraindication matrix: every option x patient condition with its safety level."""
    with _guard():
        from cds.knowledge.matrix import LEVEL_CODES, markdown_table, matrix_grid

        kb = _engine().kb
        if markdown:
            typer.echo(markdown_table(kb), nl=False)
            return
        grid = matrix_grid(kb)
        options = [option] if option else grid.options
        unknown = [o for o in options if o not in kb.options]
        if unknown:
            raise _BadInput(f"--option: {unknown[0]!r} is not an option; allowed: {', '.join(kb.options)}")
        for opt in options:
            typer.secho(opt, bold=True)
            for (o, track, condition), cell in grid.cells.items():
                if o != opt:
                    continue
                if cell is None:
                    typer.echo(f"  ?  {condition} ({track}): not stated")
                elif option:
                    typer.echo(f"  {LEVEL_CODES[cell.level]}  {condition} ({track}): {cell.level} - "
                               f"{cell.entry.id} [{', '.join(cell.entry.sources)}"
                               f"{'; ' + cell.entry.section if cell.entry.section else ''}]")
            if not option:
                codes = "".join(LEVEL_CODES.get(grid.level(opt, c) or "", "?") for c in grid.conditions)
                typer.echo(f"  {codes}")
        empty = sum(1 for _ in grid.empty())
        typer.echo(f"{len(grid.cells) - empty} of {len(grid.cells)} cells stated; conditions in order: "
                   + " ".join(grid.conditions))


class RecommendationStatusFilter(str, Enum):
    draft = "draft"
    reviewed = "reviewed"
    retired = "retired"


@knowledge_app.command("list")
def knowledge_list(
    status: Annotated[RecommendationStatusFilter | None, typer.Option(
        "--status", case_sensitive=False, help="Only the recommendations with this status.", show_default=False,
    )] = None,
    area: Annotated[str | None, typer.Option(
        "--area", help="Only the recommendations of this area (the folder under knowledge/recommendations/).",
        show_default=False,
    )] = None,
    fmt: Annotated[ExplainFormat, typer.Option("--format", "-f", case_sensitive=False, help="Output format.")]
    = ExplainFormat.text,
    lang: LangOption = Language.en,
    output: OutputOption = None,
) -> None:
    """List the recommendations: id, area, status (draft, reviewed, retired), reviewer, rules, edges, vignettes."""
    with _guard():
        from cds.knowledge.recommendations import summaries
        from cds.render.recommendation_text import render_recommendation_list

        _check_output(output)
        kb = _engine().kb
        rows = summaries(kb)
        if area is not None:
            areas = sorted({r.area for r in rows})
            if area not in areas:
                from cds.suggest import did_you_mean

                raise _BadInput(f"--area: no area {area!r}{did_you_mean(area, areas)} (allowed: {', '.join(areas)})")
            rows = [r for r in rows if r.area == area]
        if status is not None:
            rows = [r for r in rows if r.status == status.value]
        _emit(render_recommendation_list(rows, lang.value, kb.version, fmt.value), output)


@knowledge_app.command("show")
def knowledge_show(
    rec_id: Annotated[str, typer.Argument(metavar="REC_ID", help="Recommendation id (see `cds knowledge list`).",
                                          show_default=False)],
    fmt: Annotated[ExplainFormat, typer.Option("--format", "-f", case_sensitive=False, help="Output format.")]
    = ExplainFormat.text,
    lang: LangOption = Language.en,
    output: OutputOption = None,
) -> None:
    """Everything about one recommendation: statement, edges, rules, cautions, alerts, settings, vignettes, sources."""
    with _guard():
        from cds.knowledge.recommendations import UnknownRecommendationError, detail
        from cds.render.recommendation_text import render_recommendation_json, render_recommendation_markdown

        _check_output(output)
        kb = _engine().kb
        try:
            rec = detail(kb, rec_id)
        except UnknownRecommendationError as exc:
            raise _BadInput(f"REC_ID: {exc}") from None
        if fmt is ExplainFormat.json:
            text = render_recommendation_json(rec)
        else:
            text = render_recommendation_markdown(rec, kb, lang.value)
        _emit(text, output)


@knowledge_app.command("settings")
def knowledge_settings() -> None:
    """List the named practice settings (thresholds that are conventions, not guideline numbers)."""
    with _guard():
        kb = _engine().kb
        for spec in sorted(kb.setting_specs.values(), key=lambda s: s.name):
            unit = f" {spec.unit}" if spec.unit else ""
            typer.secho(f"{spec.name} = {spec.value}{unit}", bold=True)
            typer.echo(f"    {spec.description}")
            typer.echo(f"    why a setting: {spec.why_a_setting}")
        typer.echo(f"{len(kb.setting_specs)} setting(s), knowledge {kb.version}")


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------ pathway


class PathwayFormat(str, Enum):
    svg = "svg"
    png = "png"
    dot = "dot"


class PathwayViewName(str, Enum):
    whole = "whole"
    overview = "overview"
    decision = "decision"
    route = "route"


@app.command()
def pathway(
    name: Annotated[str | None, typer.Argument(
        metavar="NAME", help="Pathway id (run without it to list them).", show_default=False,
    )] = None,
    patient: Annotated[Path | None, typer.Option(
        "--patient", "-p", metavar="PATIENT.json",
        help="Highlight this patient's path: nodes reached, edges taken, option categories.",
        show_default=False,
    )] = None,
    fmt: Annotated[PathwayFormat | None, typer.Option(
        "--format", "-f", case_sensitive=False, show_default=False,
        help="svg, png (binary: needs --output) or dot (the Graphviz source; needs no Graphviz). "
             "Default: the --output suffix if it is one of these, else svg.",
    )] = None,
    lang: LangOption = Language.en,
    output: OutputOption = None,
    all_dir: Annotated[Path | None, typer.Option(
        "--all", metavar="DIR",
        help="Draw every pathway into DIR (SVG and DOT) with an index.html.", show_default=False,
    )] = None,
    view_name: Annotated[PathwayViewName, typer.Option(
        "--view", case_sensitive=False,
        help="whole (every node and edge), overview (the nodes and the moves between them), decision "
             "(one node and its branches: --node) or route (the patient's route, alternatives greyed: "
             "needs --patient).",
    )] = PathwayViewName.whole,
    node: Annotated[str | None, typer.Option(
        "--node", metavar="NODE", help="The decision to draw with --view decision (default: the start node).",
        show_default=False,
    )] = None,
) -> None:
    """Draw a pathway graph, optionally with one patient's path highlighted.

    Without a NAME (and without --all), list the pathways: id and title.
    --view picks a screen-sized view: the overview, one decision and its branches,
    or a patient's route with the branches not taken greyed.
    Without Graphviz (the `dot` program) the DOT source is still written (to
    --output with a .dot suffix, or to stdout) and the command exits 1.
    """
    with _guard():
        from cds import pathways as pw
        from cds.render import graphviz
        from cds.render.dot import to_dot
        from cds.render.pathway_index import write_all

        if all_dir is not None and (name is not None or output is not None):
            raise _BadInput("--all DIR draws every pathway into DIR: give no NAME and no --output")
        if view_name is PathwayViewName.route and patient is None:
            raise _BadInput("--view route draws a patient's route: give --patient PATIENT.json")
        if node is not None and view_name is not PathwayViewName.decision:
            raise _BadInput("--node NODE picks the decision of --view decision")
        if all_dir is not None and view_name is not PathwayViewName.whole:
            raise _BadInput("--all DIR draws every view of every pathway: give no --view")
        if fmt is None:
            suffix = output.suffix.lower().lstrip(".") if output is not None else ""
            fmt = PathwayFormat(suffix) if suffix in PathwayFormat.__members__ else PathwayFormat.svg
        if all_dir is None and fmt is PathwayFormat.png and output is None:
            raise _BadInput("PNG is binary: give --output FILE.png (or use --format svg or dot)")
        _check_output(output)
        if all_dir is None and name is None:
            if patient is not None:
                raise _BadInput("--patient highlights a path: give a pathway NAME, or --all DIR")
            kb = _engine().kb
            width = max((len(p.id) for p in kb.pathways), default=0)
            _emit("".join(f"{p.id:<{width}}  {getattr(p.title, lang.value)}\n" for p in kb.pathways), output)
            return
        if all_dir is not None and all_dir.exists() and not all_dir.is_dir():
            raise _BadInput(f"cannot write into {all_dir}: it is not a folder")
        pat = None
        if patient is not None:
            pat, source = _read_patient(patient)
        engine = _engine()
        kb = engine.kb
        if name is not None:
            try:
                pw.get_pathway(kb, name)
            except pw.UnknownPathway as exc:
                raise _BadInput(str(exc)) from None
        rec = None
        if pat is not None:
            _check_options(pat, source, engine)
            from cds.report import build_report

            rec = build_report(engine, pat, lang.value).recommendation

        if all_dir is not None:
            try:
                all_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _BadInput(f"cannot create {all_dir}: {exc.strerror or exc}") from None
            result = write_all(kb, all_dir, lang.value, rec)
            typer.echo(f"{len(kb.pathways)} pathway(s) written to {all_dir} "
                       f"({'index.html, SVG and DOT' if result.rendered else 'index.html and DOT'})")
            if not result.rendered:
                _err(f"error: {graphviz.GraphvizNotFound()}")
                _err("only the DOT sources and index.html were written")
                raise typer.Exit(EXIT_INTERNAL)
            return

        assert name is not None
        view = _pathway_view(kb, name, view_name, node, rec)
        dot_text = to_dot(kb, name, lang.value, rec, view=view)
        if fmt is PathwayFormat.dot:
            _emit(dot_text, output)
            return
        try:
            picture = graphviz.render(dot_text, fmt.value)
        except graphviz.GraphvizNotFound as exc:
            fallback = output.with_suffix(".dot") if output is not None else None
            _emit(dot_text, fallback)
            _err(f"error: {exc}")
            _err(f"the DOT source was written to {fallback if fallback else 'stdout'} instead; "
                 f"render it later with: dot -T{fmt.value} FILE.dot -o FILE.{fmt.value}")
            raise typer.Exit(EXIT_INTERNAL) from None
        if output is not None:
            _write_bytes(output, picture)
        else:
            sys.stdout.write(picture.decode("utf-8"))
            sys.stdout.flush()


def _pathway_view(kb: Any, name: str, view_name: PathwayViewName, node: str | None,
                  rec: Any) -> Any:
    """The :class:`cds.render.picture_views.PictureView` that ``--view`` and ``--node`` ask for."""
    from cds import pathways as pw
    from cds.render import picture_views as pv

    graph = pw.build_graph(kb, name)
    if view_name is PathwayViewName.overview:
        return pv.overview(graph)
    if view_name is PathwayViewName.decision:
        try:
            return pv.decision(graph, node or graph.graph["start"], max_branches=None)[0]
        except pv.UnknownNode as exc:
            raise _BadInput(str(exc)) from None
    if view_name is PathwayViewName.route:
        return pv.route(graph, pw.PatientPath.of(rec, graph))
    return pv.whole(graph)


# ------------------------------------------------------------------ surveillance


@app.command()
def surveillance(
    patient: PatientArgument,
    horizon: Annotated[float | None, typer.Option(
        "--horizon", min=0.1, max=50, metavar="YEARS",
        help="Years over which the plan and its dose are laid out (default: the setting "
             "surveillance_default_horizon_years, 10).",
        show_default=False,
    )] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", metavar="DATE",
        help="Decision date (YYYY-MM-DD) the exams are dated from; overrides the patient's as_of.",
        show_default=False,
    )] = None,
    fmt: Annotated[SurveillanceFormat, typer.Option(
        "--format", "-f", case_sensitive=False, help="Output format (ics: iCalendar for the care team)."
    )] = SurveillanceFormat.text,
    plan: Annotated[SurveillancePlanChoice, typer.Option(
        "--plan", case_sensitive=False, help="Plan exported to iCalendar."
    )] = SurveillancePlanChoice.recommended,
    lang: LangOption = Language.en,
    output: OutputOption = None,
) -> None:
    """Follow-up plan: the schedule, the default and radiation-minimised plans, their doses."""
    with _guard():
        import datetime as dt

        from cds.input import validate_patient
        from cds.render.ics import to_ics
        from cds.render.surveillance_text import print_surveillance, render_surveillance_text
        from cds.report import build_report
        from cds.surveillance import patient_key

        _check_output(output)
        pat, source = _read_patient(patient)
        if as_of is not None:
            try:
                date = dt.date.fromisoformat(as_of.strip())
            except ValueError:
                raise _BadInput(f"--as-of: {as_of!r} is not a date (expected YYYY-MM-DD)") from None
            data = pat.model_dump(mode="json", exclude_none=True)
            pat = validate_patient({**data, "as_of": date.isoformat()}, source)
        if fmt is SurveillanceFormat.ics and pat.as_of is None:
            raise _BadInput("an iCalendar export needs dates: give --as-of or as_of in the patient file")
        engine = _engine()
        if engine.kb.planner is None:
            _err("error: this knowledge base has no follow-up schedules "
                 "(catalogues/follow-up-schedules.yaml): it plans no follow-up")
            raise typer.Exit(EXIT_INTERNAL)
        _check_options(pat, source, engine)
        report = build_report(engine, pat, lang.value, horizon_years=horizon).surveillance
        if fmt is SurveillanceFormat.json:
            _emit(report.model_dump_json(indent=2) + "\n", output)
        elif fmt is SurveillanceFormat.ics:
            _emit(to_ics(report.surveillance, patient_key(pat), plan.value, lang.value, report.disclaimer), output)
        elif output is None:
            from rich.console import Console

            print_surveillance(report.surveillance, Console(highlight=False), lang.value, report.disclaimer)
        else:
            _emit(render_surveillance_text(report.surveillance, lang.value, disclaimer=report.disclaimer), output)


# ------------------------------------------------------------------ examples


@examples_app.callback(invoke_without_command=True)
def examples(ctx: typer.Context, lang: LangOption = Language.en) -> None:
    """List the bundled example patients, one line each: file name and what it shows."""
    if ctx.invoked_subcommand is not None:
        return
    with _guard():
        from cds.examples import bundled_examples

        found = bundled_examples(lang.value)
        width = max((len(e.path.name) for e in found), default=0)
        _emit("".join(f"{e.path.name:<{width}}  {e.description}".rstrip() + "\n" for e in found), None)


@examples_app.command("copy")
def examples_copy(
    folder: Annotated[Path, typer.Argument(
        metavar="DIR", help="Folder to copy them into (created if needed).", show_default=False,
    )],
    force: Annotated[bool, typer.Option("--force", help="Replace files of the same name.")] = False,
) -> None:
    """Copy every bundled example patient (JSON, the input contract) into DIR, to edit and evaluate."""
    with _guard():
        from cds.examples import copy_examples

        if folder.exists() and not folder.is_dir():
            raise _BadInput(f"cannot write into {folder}: it is not a folder")
        try:
            written = copy_examples(folder, overwrite=force)
        except FileExistsError as exc:
            raise _BadInput(f"{exc.filename} already exists (--force replaces it); nothing was copied") from None
        except OSError as exc:
            raise _BadInput(f"cannot write into {folder}: {exc.strerror or exc}") from None
        typer.echo(f"{len(written)} example patient(s) copied to {folder}; try: cds evaluate {written[0]}"
                   if written else f"no example patient to copy into {folder}")


# ------------------------------------------------------------------ schema


@app.command()
def schema(
    name: Annotated[SchemaName, typer.Argument(help="Which contract, or `knowledge` for the knowledge file kinds.",
                                               show_default=False)],
    kind: Annotated[str | None, typer.Option(
        "--kind", help="With `knowledge`: print the schema of this file kind only (e.g. recommendation, pathway).",
        show_default=False,
    )] = None,
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir", help="With `knowledge`: write every kind's <kind>.schema.json here, and an "
        "editor-settings.json mapping the knowledge files to them.", show_default=False,
    )] = None,
    output: OutputOption = None,
) -> None:
    """Print the JSON Schema (draft 2020-12) of a contract (patient input, recommendation output, surveillance
    report), or of the knowledge files for editors (`cds schema knowledge --output-dir knowledge/schemas`)."""
    with _guard():
        import json

        _check_output(output)
        if name is not SchemaName.knowledge:
            from cds.model.schema import json_schema

            if kind is not None or output_dir is not None:
                raise _BadInput("--kind and --output-dir go with `cds schema knowledge`")
            _emit(json.dumps(json_schema(name.value), indent=2, ensure_ascii=False) + "\n", output)
            return
        from cds.knowledge.json_schemas import KINDS, editor_settings, knowledge_schema

        if kind is not None:
            if kind not in KINDS:
                from cds.suggest import did_you_mean

                raise _BadInput(f"--kind: no knowledge file kind {kind!r}{did_you_mean(kind, KINDS)} "
                                f"(allowed: {', '.join(KINDS)})")
            _emit(json.dumps(knowledge_schema(kind), indent=2, ensure_ascii=False) + "\n", output)
            return
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            for k in KINDS:
                _write_bytes(output_dir / f"{k}.schema.json",
                             (json.dumps(knowledge_schema(k), indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
            _write_bytes(output_dir / "editor-settings.json",
                         (json.dumps(editor_settings(), indent=2) + "\n").encode("utf-8"))
            typer.echo(f"{len(KINDS)} schema(s) and editor-settings.json written to {output_dir}")
            return
        lines = [f"{k:<24} {spec.description}" + (f"  [{', '.join(spec.globs)}]" if spec.globs else "")
                 for k, spec in KINDS.items()]
        lines.append("cds schema knowledge --kind KIND prints one; --output-dir DIR writes them all.")
        _emit("\n".join(lines) + "\n", output)


# ------------------------------------------------------------------ cohorts


@app.command()
def synth(
    n: Annotated[int, typer.Option("--n", min=1, help="How many patients.", show_default=False)],
    seed: Annotated[int, typer.Option("--seed", help="The cohort's seed (same seed, same patients).")] = 0,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", metavar="YYYY-MM-DD", help="Decision date of every patient (default: the catalogue's).",
        show_default=False,
    )] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file, .jsonl or .parquet (default: JSON Lines on stdout).",
        show_default=False,
    )] = None,
) -> None:
    """A synthetic cohort, seeded and reproducible, drawn from the registry case mix of
    knowledge/catalogues/cohort-mix.yaml (each proportion with its source)."""
    with _guard():
        import datetime as dt

        from cds.cohort.files import CohortFileError, dumps, write_patients
        from cds.cohort.synth import synth_patients

        if as_of is not None:
            try:
                dt.date.fromisoformat(as_of)
            except ValueError:
                raise _BadInput(f"--as-of: expected a date as YYYY-MM-DD, got {as_of!r}") from None
        _check_output(output)
        patients = synth_patients(n, seed, as_of)
        if output is None:
            for patient in patients:
                sys.stdout.write(dumps(patient) + "\n")
            sys.stdout.flush()
            return
        try:
            count = write_patients(output.expanduser(), patients)
        except CohortFileError as exc:
            raise _BadInput(f"--output: {exc}") from None
        except OSError as exc:
            raise _BadInput(f"cannot write {output}: {exc.strerror or exc}") from None
        _err(f"{count} synthetic patient(s) written to {output}")


@app.command()
def batch(
    source: Annotated[Path, typer.Argument(
        metavar="INPUT", help="The cohort: JSON Lines (.jsonl), a folder of patient files (*.json), or Parquet "
        "(a `patient` column of JSON text, or flat columns named by dotted field paths).", show_default=False,
    )],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Results, .jsonl or .parquet (one row per patient, in input order). Rerunning with "
        "the same output resumes: rows already written for the same input are kept.", show_default=False,
    )],
    workers: Annotated[int | None, typer.Option(
        "--workers", "-w", min=1, help="Worker processes (default: the cores available; 1 runs in this process).",
        show_default=False,
    )] = None,
    dask: Annotated[str | None, typer.Option(
        "--dask", metavar="ADDRESS", help="Evaluate on a Dask cluster instead: a scheduler's address "
        "(tcp://HOST:PORT; netcds installed on its workers), or `local[:N]` to start a local cluster of N worker "
        "processes (default: the cores available) for the run. The output is the same as a local run.",
        show_default=False,
    )] = None,
    lang: LangOption = Language.en,
    surveillance: Annotated[bool, typer.Option(
        "--surveillance/--no-surveillance", help="Also plan the follow-up (schedule and dose in each row).",
    )] = True,
    top: Annotated[int, typer.Option("--top", min=1, max=50, help="Ranked options kept per track.")] = 3,
) -> None:
    """Evaluate a whole cohort: one result row per patient (top options per track, exclusions, alerts, missing
    data, versions); a patient that breaks the input contract is a row with the field-named message, counted,
    never stopping the run."""
    with _guard():
        from cds.cohort.dask_run import DaskError, check_reachable
        from cds.cohort.files import CohortFileError, cohort_format
        from cds.cohort.reader import count_records
        from cds.cohort.rows import RunSettings
        from cds.cohort.runner import default_workers, run_batch

        target = output.expanduser()
        cluster = _dask_target(dask, workers)
        try:
            cohort_format(target)
            if not source.exists():
                raise CohortFileError(f"{source}: no such file or folder")
            if not source.is_dir():
                cohort_format(source)
        except CohortFileError as exc:
            raise _BadInput(str(exc)) from None
        _check_output(target)
        _engine()  # the knowledge loads (or fails, exit 2) before any work
        if cluster is not None:
            try:
                check_reachable(cluster)
            except DaskError as exc:
                raise _BadInput(str(exc)) from None
        settings = RunSettings(lang=lang.value, surveillance=surveillance, top=top)
        n_workers = workers or default_workers()
        total = count_records(source)
        try:
            with _progress_bar("evaluating", total) as advance:
                summary = run_batch(source, target, workers=n_workers, settings=settings, progress=advance,
                                    dask=cluster)
        except (CohortFileError, DaskError) as exc:
            raise _BadInput(str(exc)) from None
        except KeyboardInterrupt:
            _err(f"interrupted: the rows written so far are kept in {output}; rerun the same command to resume")
            raise typer.Exit(130) from None
        _err(f"{summary.total} patient(s): {summary.ok} ok, {summary.invalid} invalid, {summary.errors} "
             f"engine error(s), {summary.skipped} already written; {summary.seconds:.1f} s, "
             f"{summary.rate:,.0f} patients/s with {summary.workers} worker(s)"
             f"{' of ' + summary.cluster if summary.cluster else ''}; results in {output}")
        if summary.failures:
            worst = sorted(summary.failures.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
            _err("invalid patients by field: " + ", ".join(f"{name or '(whole record)'} {n}" for name, n in worst))


def _dask_target(dask: str | None, workers: int | None) -> DaskTarget | None:
    """The cluster named by ``--dask`` (None without it), or exit 2 on a bad value or one combined with --workers."""
    from cds.cohort.dask_run import DaskError, parse_target

    if dask is None:
        return None
    if workers is not None:
        raise _BadInput("--workers and --dask cannot be combined: the cluster has its workers "
                        "(use --dask local:N for N local worker processes)")
    try:
        return parse_target(dask)
    except DaskError as exc:
        raise _BadInput(str(exc)) from None


@contextmanager
def _progress_bar(label: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr (count, rate, elapsed time, ETA) when it is a terminal; else None.

    The callable it gives takes the number of patients just done. Patients kept from an earlier run
    (a resume) come first and in one go: they move the bar, not the rate.
    """
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total, rate="")
        started = time.perf_counter()
        done = [0]

        def advance(n: int) -> None:
            if bar.tasks[task].completed == 0 and done[0] == 0 and n > 1_000:
                bar.update(task, advance=n)
                return
            done[0] += n
            elapsed = time.perf_counter() - started
            bar.update(task, advance=n, rate=f"{done[0] / elapsed:,.0f}/s" if elapsed > 0 else "")

        yield advance


@app.command()
def diff(
    cohort: Annotated[Path, typer.Argument(
        metavar="COHORT", help="The cohort, as cds batch reads it: JSON Lines, a folder of patient files, or Parquet.",
        show_default=False,
    )],
    before: Annotated[str, typer.Option(
        "--before", metavar="KNOWLEDGE", help="The knowledge in force: a content folder (holding knowledge/ and "
        "pathways/) or a git revision of the repository you are in, git:REV (git:HEAD~1, git:v0.9).",
        show_default=False,
    )],
    after: Annotated[str, typer.Option(
        "--after", metavar="KNOWLEDGE", help="The knowledge to review, given the same way.", show_default=False,
    )],
    output_dir: Annotated[Path, typer.Option(
        "--output-dir", "-d", help="Where to write diff.json, diff.md and diff.html (created).",
    )] = Path("diff"),
    workers: Annotated[int | None, typer.Option(
        "--workers", "-w", min=1, help="Worker processes (default: the cores available; 1 runs in this process).",
        show_default=False,
    )] = None,
    dask: Annotated[str | None, typer.Option(
        "--dask", metavar="ADDRESS", help="Evaluate on a Dask cluster instead: `local[:N]` starts N local worker "
        "processes for the run; a scheduler's address (tcp://HOST:PORT) needs netcds on its workers and both "
        "knowledge folders readable there at the same paths (a shared file system). The report is the same.",
        show_default=False,
    )] = None,
    lang: LangOption = Language.en,
) -> None:
    """What a knowledge change does to a cohort: the patients whose top option, its category, exclusions or
    alerts change, grouped by the rules that caused it, with counts by site and category."""
    with _guard():
        from contextlib import ExitStack

        from cds.cohort.dask_run import DaskError, check_reachable
        from cds.cohort.diff import dumps, run_diff
        from cds.cohort.files import CohortFileError, cohort_format
        from cds.cohort.knowledge_source import KnowledgeSourceError, open_knowledge_source
        from cds.cohort.reader import count_records
        from cds.render.diff import render_html, render_markdown, render_text

        cluster = _dask_target(dask, workers)
        try:
            if not cohort.exists():
                raise CohortFileError(f"{cohort}: no such file or folder")
            if not cohort.is_dir():
                cohort_format(cohort)
        except CohortFileError as exc:
            raise _BadInput(str(exc)) from None
        folder = output_dir.expanduser()
        if folder.exists() and not folder.is_dir():
            raise _BadInput(f"--output-dir: {output_dir} is a file, not a folder")
        with ExitStack() as stack:
            sources = []
            for option, spec in (("--before", before), ("--after", after)):
                try:
                    sources.append(stack.enter_context(open_knowledge_source(spec)))
                except KnowledgeSourceError as exc:
                    raise _BadInput(f"{option}: {exc}") from None
            if cluster is not None and cluster.address is not None and any(src.commit for src in sources):
                raise _BadInput("--dask: a git:REV version is unpacked in a temporary folder of this machine, which "
                                "the workers of a remote cluster cannot read; use --dask local[:N], or give both "
                                "versions as folders on a file system the workers share")
            try:
                if cluster is not None:
                    check_reachable(cluster)
                with _progress_bar("comparing", count_records(cohort)) as advance:
                    result = run_diff(cohort, sources[0], sources[1], workers=workers, lang=lang.value,
                                      progress=advance, dask=cluster)
            except (CohortFileError, DaskError) as exc:
                raise _BadInput(str(exc)) from None
            except KeyboardInterrupt:
                _err("interrupted: nothing written")
                raise typer.Exit(130) from None
        data = result.to_dict()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_output(folder / "diff.json", dumps(data))
            _write_output(folder / "diff.md", render_markdown(data))
            _write_output(folder / "diff.html", render_html(data))
        except OSError as exc:
            raise _BadInput(f"cannot write to {output_dir}: {exc.strerror or exc}") from None
        sys.stdout.write(render_text(data))
        _err(f"diff.json, diff.md and diff.html written to {output_dir}")


# ------------------------------------------------------------------ board

DatabaseOption = Annotated[str | None, typer.Option(
    "--database", metavar="URL",
    help="SQLAlchemy URL of the board's database (default: $NETCDS_DATABASE_URL, else an SQLite file in "
    "$NETCDS_BOARD_DIR or ./netcds-board).", show_default=False,
)]


def _board_store(database: str | None) -> Any:
    """The board's store on the database named by --database, the environment or the default file."""
    import os

    from cds.board.store import Store, default_database_url

    return Store(database or os.environ.get("NETCDS_DATABASE_URL") or default_database_url())


@board_app.command("create-user")
def board_create_user(
    name: Annotated[str, typer.Argument(help="Login name.", show_default=False)],
    role: Annotated[str, typer.Option("--role", help="coordinator, member or viewer.")] = "member",
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (for scripts) instead of a prompt.",
    )] = False,
    database: DatabaseOption = None,
) -> None:
    """Create an account (the first one must be a coordinator); the password is asked for, never shown."""
    with _guard():
        from cds.board.security import ROLES
        from cds.board.store import StoreError, create_user

        if role not in ROLES:
            raise _BadInput(f"--role: {role!r} is not a role (allowed: {', '.join(ROLES)})")
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        store = _board_store(database)
        try:
            with store.write() as s:
                create_user(s, name, password, role)
        except StoreError as exc:
            raise _BadInput(str(exc)) from None
        finally:
            store.dispose()
        typer.echo(f"user {name!r} created ({role})")


@board_app.command("verify-audit")
def board_verify_audit(database: DatabaseOption = None) -> None:
    """Check the audit trail's hash chain; exit 1 and say where when a row was changed, removed or inserted."""
    with _guard():
        store = _board_store(database)
        try:
            problems = store.verify_audit()
        finally:
            store.dispose()
        if problems:
            for problem in problems:
                _err(f"audit: {problem}")
            raise typer.Exit(1)
        typer.echo("audit trail verified: the hash chain holds")


@board_app.command("migrate")
def board_migrate(database: DatabaseOption = None) -> None:
    """Bring the board's database to the latest schema (the server also does it when it starts)."""
    with _guard():
        store = _board_store(database)
        try:
            typer.echo(f"database at revision {store.revision()}")
        finally:
            store.dispose()


@board_app.command("serve")
def board_serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    database: DatabaseOption = None,
    insecure_cookies: Annotated[bool, typer.Option(
        "--insecure-cookies", help="Send the session cookie over plain http (development on 127.0.0.1 only).",
    )] = False,
) -> None:
    """Serve the board's web page (uvicorn); the session key is $NETCDS_BOARD_SECRET or a file in the data folder."""
    with _guard():
        import os
        import secrets

        import uvicorn

        from cds.board.app import BoardConfig, create_app

        if insecure_cookies and host not in ("127.0.0.1", "localhost", "::1"):
            raise _BadInput("--insecure-cookies is only allowed with --host 127.0.0.1 (plain http on this machine)")
        secret = os.environ.get("NETCDS_BOARD_SECRET")
        if not secret:
            key_file = Path(os.environ.get("NETCDS_BOARD_DIR") or "netcds-board") / "session.key"
            key_file.parent.mkdir(parents=True, exist_ok=True)
            if not key_file.exists():
                key_file.touch(mode=0o600)
                key_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            secret = key_file.read_text(encoding="utf-8").strip()
        store = _board_store(database)
        config = BoardConfig(database_url=store.url, secret_key=secret, secure_cookies=not insecure_cookies)
        uvicorn.run(create_app(config, store=store), host=host, port=port, log_level="info",
                    access_log=False)  # no URLs in the log: case ids stay out of it


@board_app.command("demo")
def board_demo(
    port: Annotated[int, typer.Option("--port", help="Port to listen on (127.0.0.1).")] = 8000,
    folder: Annotated[Path, typer.Option(
        "--dir", help="Where the demo board keeps its database and session key.",
    )] = Path("demo-board"),
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Seed and print, do not start the server.")] = False,
) -> None:
    """The demo board: seed a session of the bundled example patients and a demo account, print its password, serve.

    It runs on 127.0.0.1 over plain http (a demo on this machine, not a shared installation).
    """
    with _guard():
        import os
        import secrets

        from cds.board.demo import seed
        from cds.board.store import Store, default_database_url

        folder.mkdir(parents=True, exist_ok=True)
        store = Store(default_database_url(folder))
        demo = seed(store)
        address = f"http://127.0.0.1:{port}/sessions/{demo.session_id}"
        typer.echo(f"demo board: {len(demo.cases)} example cases on the agenda of session {demo.session_id}")
        typer.echo(f"sign in as {demo.user!r} with the password {demo.password}")
        typer.echo(f"open {address}   (Ctrl-C stops the server; the data stay in {folder}/)")
        if no_serve:
            store.dispose()
            return
        import uvicorn

        from cds.board.app import BoardConfig, create_app

        key_file = folder / "session.key"
        if not key_file.exists():
            key_file.touch(mode=0o600)
            key_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        secret = os.environ.get("NETCDS_BOARD_SECRET") or key_file.read_text(encoding="utf-8").strip()
        config = BoardConfig(database_url=store.url, secret_key=secret, secure_cookies=False)
        uvicorn.run(create_app(config, store=store), host="127.0.0.1", port=port, log_level="warning",
                    access_log=False)


# ------------------------------------------------------------------ hooks


@hooks_app.command("serve")
def hooks_serve(
    trust: Annotated[Path, typer.Option(
        "--trust", metavar="FILE", help="The EHRs trusted: issuers and their keys (read by cds.hooks.security).",
        show_default=False,
    )],
    base_url: Annotated[str | None, typer.Option(
        "--base-url", metavar="URL", help="This service's public URL, the JWT's audience (default: "
        "http://HOST:PORT).", show_default=False,
    )] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8010,
    database: DatabaseOption = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Engine worker processes.")] = 2,
    timeout: Annotated[float, typer.Option("--timeout", min=0.01, help="Seconds an evaluation may take.")] = 10.0,
    board_url: Annotated[str | None, typer.Option(
        "--board-url", metavar="URL", help="The tumour board's URL, linked from the cards.", show_default=False,
    )] = None,
    body_limit: Annotated[int, typer.Option("--body-limit", min=1024, help="Largest request body (bytes).")] = 1048576,
    cors_origin: Annotated[list[str] | None, typer.Option(
        "--cors-origin", metavar="ORIGIN", help="A browser origin allowed to call the service (repeatable).",
        show_default=False,
    )] = None,
    lang: Annotated[Language, typer.Option(
        "--lang", "-l", case_sensitive=False, help="Language of the cards and the linked report (CDS Hooks 2.0 "
        "requests carry none: run one instance per language).",
    )] = Language.en,
) -> None:
    """Serve the CDS Hooks service (uvicorn): discovery at /cds-services; feedback in the board's database."""
    with _guard():
        import uvicorn

        from cds.hooks.app import HooksSettings, create_app
        from cds.hooks.security import TokenVerifier, TrustError, load_trust

        if not trust.is_file():
            raise _BadInput(f"--trust {trust}: no such file")
        try:
            verifier = TokenVerifier(load_trust(trust))
        except TrustError as exc:
            raise _BadInput(str(exc)) from None
        store = _board_store(database)
        settings = HooksSettings(base_url=base_url or f"http://{host}:{port}", database_url=store.url,
                                 workers=workers, timeout=timeout, board_url=board_url, body_limit=body_limit,
                                 cors_origins=tuple(cors_origin or ()), lang=lang.value)
        uvicorn.run(create_app(settings, verifier, store=store), host=host, port=port, log_level="info",
                    access_log=False)  # no URLs in the log: patient and report ids stay out of it


# ------------------------------------------------------------------ fhir


@fhir_app.command("map")
def fhir_map(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE.json", help="A FHIR R4 Bundle (JSON).",
                                           show_default=False)],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", metavar="YYYY-MM-DD", help="The decision date (age, what counts as past); default: today.",
        show_default=False,
    )] = None,
    fmt: Annotated[ExplainFormat, typer.Option("--format", "-f", case_sensitive=False, help="Output format.")]
    = ExplainFormat.text,
    output: OutputOption = None,
) -> None:
    """Map a FHIR Bundle to the patient contract and say, field by field, where each value came from."""
    with _guard():
        import datetime as dt
        import json

        from cds.fhir import BundleError, map_bundle

        _check_output(output)
        try:
            day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
        except ValueError:
            raise _BadInput(f"--as-of: {as_of!r} is not a date (expected YYYY-MM-DD)") from None
        try:
            data = json.loads(bundle.read_text(encoding="utf-8"))
        except OSError as exc:
            raise _BadInput(f"{bundle}: cannot read it ({exc.strerror or exc})") from None
        except json.JSONDecodeError as exc:
            raise _BadInput(f"{bundle}: not valid JSON ({exc.msg}, line {exc.lineno}, column {exc.colno})") from None
        try:
            result = map_bundle(data, day)
        except BundleError as exc:
            raise _BadInput(f"{bundle}: {exc}") from None
        document = {"patient": result.patient, "report": [row.as_dict() for row in result.report],
                    "ignored": list(result.ignored), "problems": list(result.problems)}
        if fmt is ExplainFormat.json:
            text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        else:
            lines = ["patient (input contract):", json.dumps(result.patient, indent=2, ensure_ascii=False), "",
                     "mapping report:"]
            for row in result.report:
                value = "" if row.value is None else f" = {row.value}"
                sources = f"  <- {', '.join(row.sources)}" if row.sources else ""
                lines.append(f"  {row.field}: {row.status.value}{value}{sources}")
                lines += [f"      {note}" for note in row.notes]
            if result.ignored:
                lines += ["", "ignored:", *[f"  {item}" for item in result.ignored]]
            if result.problems:
                lines += ["", "problems:", *[f"  {item}" for item in result.problems]]
            text = "\n".join(lines) + "\n"
        _emit(text, output)


# ------------------------------------------------------------------ entry point


def main(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry point: run the app and exit with its code.

    Click usage errors (unknown option, bad choice) keep their exit code 2; an
    exception that escaped every command guard still exits 1 without a
    traceback unless ``NETCDS_DEBUG=1``.
    """
    try:
        app(args=argv, prog_name="cds")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if _debug():
            traceback.print_exc()
        _err(f"internal error: {type(exc).__name__}: {exc}")
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK)


if __name__ == "__main__":
    main()
