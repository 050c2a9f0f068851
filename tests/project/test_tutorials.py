"""The tutorials (tutorials/*.ipynb) run end to end, in their small setting, and are committed clean.

Each notebook reads ``EGRU_TUTORIAL_QUICK`` in its first code cell: ``1`` (set here) selects
a setting of seconds to a minute; unset, the notebook runs its full setting. Notebooks whose
name contains ``lava`` need the Lava stack and run in the lava leg only. Execution uses
nbclient with the ``python3`` kernel (jupyter_client starts it with the running interpreter,
``sys.executable``, so it sees the same venv),
from the tutorials folder, so relative paths behave as for a reader.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

TUTORIALS = REPO_ROOT / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
EXPECTED = 3   # EGRU vs LIF; snnTorch -> Lava; activity x weight sparsity


def _needs_lava(path: Path) -> bool:
    return "lava" in path.stem


def test_the_three_tutorials_exist():
    assert len(NOTEBOOKS) == EXPECTED, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_without_outputs(path):
    notebook = json.loads(path.read_text())
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, \
                f"{path.name} cell {index} has outputs; clear them before committing"
    first_code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    assert "EGRU_TUTORIAL_QUICK" in "".join(first_code["source"]), f"{path.name}: first code cell must read it"


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.lava) if _needs_lava(p) else p for p in NOTEBOOKS],
    ids=[p.stem for p in NOTEBOOKS],
)
def test_tutorial_executes(path, tmp_path, monkeypatch):
    import nbformat                      # the test extra installs nbclient, nbformat and ipykernel
    from nbclient import NotebookClient

    monkeypatch.setenv("EGRU_TUTORIAL_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("EGRU_TUTORIAL_OUTPUT", str(tmp_path))
    # the kernel must import the repository's packages and see the same venv
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TUTORIALS.parent), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(TUTORIALS)}})
    client.execute()
    images = sum(1 for cell in notebook.cells if cell.cell_type == "code"
                 for out in cell.get("outputs", []) if "image/png" in out.get("data", {}))
    assert images >= 2, f"{path.name} shows {images} plots"
    errors = [out for cell in notebook.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors
