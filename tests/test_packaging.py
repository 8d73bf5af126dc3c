"""The wheel carries the content folders and works outside the repository.

Builds the wheel, installs it into a fresh virtual environment in a temporary
directory, and runs `cds evaluate` there on a bundled example. Slow (~30 s):
it is the only test that proves `pip install` users get a working `cds`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from cds import load_knowledge

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_evaluates_outside_the_repo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = dist.glob("netcds-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "cds/_content/knowledge/knowledge.yaml" in names
    assert any(n.startswith("cds/_content/pathways/") for n in names)
    assert "cds/py.typed" in names
    # content stays data: no generic top-level packages in site-packages
    assert not any(n.startswith(("knowledge/", "pathways/", "renderers/")) for n in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)],
        check=True, capture_output=True, text=True,
    )
    example = next(iter(sorted((ROOT / "examples").glob("*.json"))))
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NETCDS_CONTENT", "PYTHONPATH")}
    out = subprocess.run(
        [str(bin_dir / "cds"), "evaluate", str(example), "--format", "json"],
        check=True, capture_output=True, text=True, cwd=workdir, env=env,
    )
    rec = json.loads(out.stdout)
    # the installed content is byte-for-byte the repository's
    assert rec["knowledge_version"] == load_knowledge().version

    # the bundled examples come with the wheel: listed, and copied to start from (issue 11, item 5)
    assert "cds/_content/examples/index.yaml" in names
    listed = subprocess.run([str(bin_dir / "cds"), "examples"], check=True, capture_output=True, text=True,
                            cwd=workdir, env=env)
    assert example.name in listed.stdout
    subprocess.run([str(bin_dir / "cds"), "examples", "copy", "patients"], check=True, capture_output=True,
                   text=True, cwd=workdir, env=env)
    assert (workdir / "patients" / example.name).read_bytes() == example.read_bytes()
