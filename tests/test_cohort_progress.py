"""`cds batch` and `cds diff` show a progress bar (count, rate, ETA) when stderr is a terminal, and none otherwise.

The commands run in subprocesses whose stderr is a pseudo-terminal (what a user's shell gives them).
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from cds.cohort.files import write_patients
from cds.cohort.synth import synth_patients

ROOT = Path(__file__).resolve().parents[1]


def _on_a_terminal(*args: str, cwd: Path) -> tuple[int, str]:
    """Run `cds ARGS` with stderr on a pseudo-terminal; its exit code and what the terminal showed."""
    main, child = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160", "TERM": "xterm"}
    env.pop("NETCDS_CONTENT", None)
    proc = subprocess.Popen([sys.executable, "-m", "cds.cli", *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=child)
    os.close(child)
    shown = b""
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        shown += data
    os.close(main)
    return proc.wait(timeout=600), re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode("utf-8", "replace"))


def test_batch_and_diff_show_count_rate_and_eta_on_a_terminal(tmp_path: Path) -> None:
    cohort = tmp_path / "cohort.jsonl"
    write_patients(cohort, synth_patients(40, seed=5))
    code, shown = _on_a_terminal("batch", str(cohort), "-o", str(tmp_path / "out.jsonl"), "-w", "1", cwd=tmp_path)
    assert code == 0, shown
    assert re.search(r"evaluating .* 40/40 .*100%.*/s.*ETA", shown), shown
    code, shown = _on_a_terminal("diff", str(cohort), "--before", str(ROOT), "--after", str(ROOT), "-d",
                                 str(tmp_path / "review"), "-w", "1", cwd=tmp_path)
    assert code == 0, shown
    assert re.search(r"comparing .* 40/40 .*100%.*/s.*ETA", shown), shown


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    cohort = tmp_path / "cohort.jsonl"
    write_patients(cohort, synth_patients(5, seed=5))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "cds.cli", "batch", str(cohort), "-o", str(tmp_path / "o.jsonl"),
                           "-w", "1"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "ETA" not in done.stderr and done.stderr.startswith("5 patient(s): 5 ok")
