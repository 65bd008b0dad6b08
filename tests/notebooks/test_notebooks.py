"""Execute every notebook in ``notebooks/`` top to bottom (CI: ``pytest -m notebooks``).

The notebooks share one ``AUTOGTKD_HOME`` so the embedded default run is trained once per session
(about 5 minutes on a 2-core CPU); set ``AUTOGTKD_NOTEBOOK_HOME`` to reuse a cache across sessions.
Each notebook runs in its own temporary working directory (its output files land there).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


def test_there_are_three_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_pareto_front.ipynb", "02_custom_search_space.ipynb", "03_latency_predictor.ipynb",
    ]


@pytest.fixture(scope="session")
def notebook_home(tmp_path_factory) -> Path:
    return Path(os.environ.get("AUTOGTKD_NOTEBOOK_HOME") or tmp_path_factory.mktemp("autogtkd-home"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, notebook_home: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUTOGTKD_HOME", str(notebook_home))  # inherited by the kernel
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError with the failing cell's traceback
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    # every notebook prints its own wall time in its last cell
    last = next(c for c in reversed(nb.cells) if c.cell_type == "code")
    text = "".join(o.get("text", "") for o in last.get("outputs", []) if o.get("output_type") == "stream")
    assert "notebook ran in" in text
