"""Every knowledge vignette (knowledge/vignettes/**/*.yaml) is one test case."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds import Engine
from cds.vignettes import run_vignettes, vignette_files

FILES = vignette_files()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_vignette(engine: Engine, path: Path) -> None:
    (result,) = run_vignettes(engine, [path])
    assert result.ok, f"{result.vignette.id} ({result.vignette.statement}):\n  " + "\n  ".join(
        result.failures
    )


def test_vignette_ids_are_unique() -> None:
    from cds.vignettes import load_vignette

    ids = [load_vignette(p).id for p in FILES]
    assert len(ids) == len(set(ids))


def test_every_stated_matrix_cell_holds_on_a_probe_patient(engine: Engine) -> None:
    """Each exclude/avoid/caution cell, just inside and just outside its condition (cds/matrix_probes.py)."""
    from cds.vignettes import run_matrix_probes

    cells = run_matrix_probes(engine)
    assert cells, "the matrix states no level"
    bad = [f"{c.entry}: {c.option} x {c.condition} ({c.level}, probe {c.probe}): {'; '.join(c.failures)}"
           for c in cells if not c.ok]
    assert not bad, f"{len(bad)} of {len(cells)} cells fail:\n  " + "\n  ".join(bad)
