"""`cds diff` (issue 14, item 3): a knowledge change made here moves exactly the patients on the boundary.

The change: the setting `pnet_watchful_waiting_max_ki67_percent` goes from 5 to 4 in a copy of the
knowledge. A small non-functional localized pNET with a Ki-67 above 4 and at most 5 % (G2) was
proposed watchful waiting and is now proposed surgery; Ki-67 at or below 4 or above 5 does not move.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cds.cohort.diff import compare_rows, knowledge_delta, run_diff
from cds.cohort.knowledge_source import KnowledgeSourceError, open_knowledge_source
from cds.knowledge import load_knowledge
from cds.render.diff import render_markdown

ROOT = Path(__file__).resolve().parents[1]
SETTING = "pnet_watchful_waiting_max_ki67_percent"
#: Ki-67 of the small NF-pNET patients; those above 4 and at most 5 are on the boundary.
KI67 = (1.5, 3.5, 4.0, 4.2, 4.5, 5.0, 5.5, 8.0)
MOVING = {4.2, 4.5, 5.0}


def _pnet(i: int, ki67: float) -> dict[str, Any]:
    return {"id": f"pnet-{i}", "as_of": "2025-03-14", "age": 60, "sex": "F",
            "tumour": {"primary_site": "pancreas", "differentiation": "well", "ki67_percent": ki67, "size_mm": 14,
                       "functional_syndrome": "none", "hereditary_syndrome": "none"},
            "disease": {"stage": "localized", "status": "new_diagnosis", "resectable": True}}


def _others() -> list[dict[str, Any]]:
    rectum = {"id": "rectum-1", "tumour": {"primary_site": "rectum", "size_mm": 8, "ki67_percent": 1},
              "disease": {"stage": "localized"}}
    ileum = {"id": "si-1", "tumour": {"primary_site": "small_intestine", "ki67_percent": 4.5,
                                      "differentiation": "well"},
             "disease": {"stage": "metastatic", "status": "new_diagnosis"}}
    return [rectum, ileum, {"id": "bad", "tumour": {"primary_site": "liver"}}]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cohort") / "cohort.jsonl"
    patients = [_pnet(i, k) for i, k in enumerate(KI67)] + _others()
    path.write_text("".join(json.dumps(p) + "\n" for p in patients), encoding="utf-8")
    return path


def _copy_content(into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for name in ("knowledge", "pathways"):
        shutil.copytree(ROOT / name, into / name, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def _move_threshold(content: Path, value: int) -> None:
    path = content / "knowledge" / "catalogues" / "settings" / "general.yaml"
    text = path.read_text(encoding="utf-8")
    new, n = re.subn(rf"(- name: {SETTING}\n    value: )\d+", rf"\g<1>{value}", text)
    assert n == 1
    path.write_text(new, encoding="utf-8")


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    content = _copy_content(tmp_path_factory.mktemp("moved") / "content")
    _move_threshold(content, 4)
    return content


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NETCDS_CONTENT", None)
    return subprocess.run([sys.executable, "-m", "cds.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


# ------------------------------------------------------------------ in process


def test_a_moved_threshold_moves_exactly_the_patients_on_the_boundary(cohort: Path, moved: Path) -> None:
    with open_knowledge_source(str(ROOT)) as before, open_knowledge_source(str(moved)) as after:
        result = run_diff(cohort, before, after, workers=1)
    data = result.to_dict()
    assert data["versions"]["before"]["knowledge_version"] != data["versions"]["after"]["knowledge_version"]
    assert data["knowledge_changes"]["settings"] == [{"name": SETTING, "before": 5, "after": 4}]
    changed = {p["id"] for p in data["patients"]}
    assert changed == {f"pnet-{i}" for i, k in enumerate(KI67) if k in MOVING}
    counts = data["counts"]
    assert (counts["patients"], counts["compared"], counts["changed"], counts["invalid"]) == (11, 10, 3, 1)
    for patient in data["patients"]:
        assert patient["site"] == "pancreas" and patient["category"] == "net_g2"
        top = next(c for c in patient["changes"] if c["field"] == "anti_tumour")
        assert top["before"].startswith("watchful_waiting") and top["after"].startswith("surgery_curative")
    # The cause names the edge whose condition reads the setting, and the recommendation it belongs to.
    rules = {r["id"]: r for g in data["groups"] for r in g["rules"]}
    assert rules["pnet.nf_localized.to_small_low_risk"]["fired"] == "disappeared"
    assert rules["pnet.nf_localized.to_small_low_risk"]["knowledge_change"] == "reads a changed setting"
    assert rules["pnet.nf_localized.to_small_low_risk"]["recommendation"] == "pnet-small-nf-watchful-waiting"
    assert rules["pnet.nf_localized.to_resection_ki67"]["fired"] == "appeared"
    assert sum(g["patients"] for g in data["groups"]) == 3
    assert {s["site"]: s["changed"] for s in data["by_site"]}["pancreas"] == 3
    [root] = data["root_causes"]
    assert [r["id"] for r in root["rules"]] == ["pnet.nf_localized.to_resection_ki67",
                                                  "pnet.nf_localized.to_small_low_risk"]
    assert root["patients"] == 3
    assert render_markdown(data).startswith("# Knowledge diff: 3 of 11 patients change\n")


def test_identical_knowledge_changes_nobody(cohort: Path, tmp_path: Path) -> None:
    copy = _copy_content(tmp_path / "copy")
    with open_knowledge_source(str(ROOT)) as before, open_knowledge_source(str(copy / "knowledge")) as after:
        result = run_diff(cohort, before, after, workers=1)
    data = result.to_dict()
    assert data["versions"]["before"]["knowledge_version"] == data["versions"]["after"]["knowledge_version"]
    assert (result.changed, result.reordered, data["groups"], data["patients"]) == (0, 0, [], [])
    assert data["knowledge_changes"]["settings"] == [] and data["knowledge_changes"]["rules_edited"] == []


def test_compare_rows_names_what_changed_and_the_rules_that_differ() -> None:
    row = {"position": 3, "source": "line 4", "id": "x", "site": "ileum", "category": "net_g1", "status": "ok",
           "anti_tumour": [{"option": "ssa", "category": "recommended"}, {"option": "prrt", "category": "consider"}],
           "antisecretory": [], "excluded": ["everolimus"], "alerts": ["a1"], "fired_rules": ["r1", "r2"],
           "edges": ["e1"]}
    assert compare_rows(row, dict(row)) is None
    reordered = dict(row, anti_tumour=[row["anti_tumour"][0], {"option": "surgery", "category": "consider"}])
    assert compare_rows(row, reordered) is None  # below the top: not a change (counted apart by the diff)
    later = dict(row, anti_tumour=[{"option": "prrt", "category": "recommended"}], excluded=[],
                 fired_rules=["r1", "r3"], edges=["e1"])
    change = compare_rows(row, later, touched=frozenset({"r1", "r3"}))
    assert change is not None
    assert change.changes == (("anti_tumour", "ssa (recommended)", "prrt (recommended)"),
                              ("excluded", ["everolimus"], []))
    assert (change.appeared, change.disappeared, change.fired_both) == (("r3",), ("r2",), ("r1",))


def test_knowledge_delta_lists_edited_added_and_removed_rules(tmp_path: Path) -> None:
    content = _copy_content(tmp_path / "c")
    path = content / "pathways" / "pnet_well_differentiated.yaml"
    text = path.read_text(encoding="utf-8")
    assert "Ki-67 > {setting:pnet_watchful_waiting_max_ki67_percent} %, not MEN1" in text
    path.write_text(text.replace("Ki-67 > {setting:pnet_watchful_waiting_max_ki67_percent} %, not MEN1",
                                 "Ki-67 above {setting:pnet_watchful_waiting_max_ki67_percent} %, not MEN1"),
                    encoding="utf-8")
    delta = knowledge_delta(load_knowledge(), load_knowledge(content / "knowledge", content / "pathways"))
    assert delta.edited == ("pnet.nf_localized.to_resection_ki67",)
    assert (delta.added, delta.removed, delta.settings, delta.reads_changed_setting) == ((), (), {}, ())


# ------------------------------------------------------------------ the command, in subprocesses


def test_cli_writes_the_three_files_byte_identical_with_1_or_2_processes_or_on_dask(
        cohort: Path, moved: Path, tmp_path: Path) -> None:
    outputs = []
    for n, where in enumerate((["--workers", "1"], ["--workers", "2"], ["--dask", "local:2"])):
        out = tmp_path / f"out-{n}"
        done = _cli("diff", str(cohort), "--before", str(ROOT), "--after", str(moved), "--output-dir", str(out),
                    *where, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("3 of 11 patients change (27.3 %)")
        assert "pnet.nf_localized.to_small_low_risk" in done.stdout
        outputs.append({name: (out / name).read_bytes() for name in ("diff.json", "diff.md", "diff.html")})
    assert outputs[0] == outputs[1] == outputs[2]
    data = json.loads(outputs[0]["diff.json"])
    assert [p["position"] for p in data["patients"]] == [i for i, k in enumerate(KI67) if k in MOVING]
    html = outputs[0]["diff.html"].decode()
    assert "<h1>Knowledge diff: 3 of 11 patients change</h1>" in html and "pnet-small-nf-watchful-waiting" in html


def test_cli_compares_two_git_revisions(cohort: Path, tmp_path: Path) -> None:
    repo = _copy_content(tmp_path / "repo")

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.org", "-c",
                        "commit.gpgsign=false", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "knowledge as bundled")
    _move_threshold(repo, 4)
    git("commit", "-q", "-am", "move the watchful-waiting Ki-67 cut to 4 %")
    done = _cli("diff", str(cohort), "--before", "git:HEAD~1", "--after", "git:HEAD", "-d", str(tmp_path / "out"),
                "-w", "1", cwd=repo)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "out" / "diff.json").read_text(encoding="utf-8"))
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
    assert data["versions"]["after"]["source"] == "git:HEAD"
    assert data["versions"]["after"]["commit"] == head.stdout.strip()
    assert data["counts"]["changed"] == 3
    # The bundled knowledge at HEAD~1 is this checkout's: the same content hash.
    assert data["versions"]["before"]["knowledge_version"] == load_knowledge().version
    assert f"git:HEAD (commit {head.stdout.strip()[:12]})" in done.stdout


def test_knowledge_source_errors_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "knowledge").mkdir()
    with pytest.raises(KnowledgeSourceError, match="has no pathways/"), open_knowledge_source(str(tmp_path)):
        pass
    with pytest.raises(KnowledgeSourceError, match="not inside a git repository"), \
            open_knowledge_source("git:HEAD", repo=tmp_path):
        pass
    with pytest.raises(KnowledgeSourceError, match="is not a revision"), \
            open_knowledge_source("git:no-such-revision-xyz", repo=ROOT):
        pass


@pytest.mark.parametrize(("args", "message"), [
    (["missing.jsonl", "--before", ".", "--after", "."], "missing.jsonl: no such file or folder"),
    (["{cohort}", "--before", "no-such-folder", "--after", "{root}"], "--before: 'no-such-folder' is neither"),
    (["{cohort}", "--before", "{root}", "--after", "git:"], "--after: 'git:': name a revision"),
    (["{cohort}", "--before", "{root}", "--after", "{cohort}"], "--after: "),
    (["{cohort}", "--before", "{root}"], "Missing option '--after'"),
    (["{cohort}", "--before", "{root}", "--after", "{root}", "-d", "{cohort}"], "is a file, not a folder"),
    (["{cohort}", "--before", "{root}", "--after", "{root}", "--workers", "0"], "--workers"),
    (["{cohort}", "--before", "{root}", "--after", "{root}", "--workers", "2", "--dask", "local"],
     "--workers and --dask cannot be combined"),
    (["{cohort}", "--before", "{root}", "--after", "{root}", "--dask", "udp://x:1"], "is not a scheduler address"),
    (["{cohort}", "--before", "{root}", "--after", "{root}", "--dask", "tcp://127.0.0.1:1"],
     "cannot reach a Dask scheduler at tcp://127.0.0.1:1"),
])
def test_bad_arguments_exit_2_with_a_message(cohort: Path, tmp_path: Path, args: list[str], message: str) -> None:
    filled = [a.format(cohort=cohort, root=ROOT) for a in args]
    done = _cli("diff", *filled, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "diff").exists()


def test_a_git_version_is_refused_on_a_remote_cluster_that_cannot_read_it(cohort: Path, tmp_path: Path) -> None:
    done = _cli("diff", str(cohort), "--before", "git:HEAD", "--after", str(ROOT), "-d", str(tmp_path / "out"),
                "--dask", "tcp://127.0.0.1:1", cwd=ROOT)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "--dask: a git:REV version is unpacked in a temporary folder of this machine" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_knowledge_that_does_not_load_exits_2_naming_where_its_files_are(cohort: Path, tmp_path: Path) -> None:
    broken = _copy_content(tmp_path / "broken")
    path = broken / "knowledge" / "catalogues" / "settings" / "general.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("value: 5\n", "value: five\n", 1), encoding="utf-8")
    done = _cli("diff", str(cohort), "--before", str(ROOT), "--after", str(broken), "-d", str(tmp_path / "out"),
                "-w", "1", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "knowledge error: the knowledge does not load" in done.stderr
    assert f"{broken}/pathways/pnet_well_differentiated.yaml" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
