"""docs/notebook.ipynb, executed in a real Jupyter kernel (nbclient) on the real file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import report_runs
from nbclient import NotebookClient
from sklearn.metrics import adjusted_rand_score

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebook.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """(the notebook after running every cell, the folder it ran in)."""
    folder = tmp_path_factory.mktemp("notebook")
    # a kernel of this interpreter (the default kernelspec may name another python)
    spec = folder / "kernels" / "reportgen-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "language": "python"}))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    setup = nb.cells[1]
    assert "DATA = sample_data_path()" in setup.source
    setup.source = setup.source.replace(
        "DATA = sample_data_path()", f"DATA = {str(report_runs.data_file('real'))!r}"
    )
    import os

    os.environ["JUPYTER_PATH"] = str(folder)
    try:
        NotebookClient(
            nb, kernel_name="reportgen-test", timeout=600, resources={"metadata": {"path": folder}}
        ).execute()
    finally:
        os.environ.pop("JUPYTER_PATH", None)
    return nb, folder


def _outputs(nb, needle: str) -> list[dict]:
    [cell] = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    return cell.outputs


def _value(nb, needle: str) -> dict:
    [out] = [o for o in _outputs(nb, needle) if o.output_type == "execute_result"]
    return out["data"]


def test_the_notebook_runs_and_shows_the_segments_at_a_glance(executed):
    nb, _folder = executed
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in errors if o.output_type == "error"]
    names = set(report_runs.rendered("real").names)
    glance = _value(nb, "result = reportgen.segment(")
    assert "<table>" in glance["text/html"]
    assert all(name in glance["text/html"] for name in names)
    assert all(name in _value(nb, "result.personas  #")["text/plain"] for name in names)
    assert "customer_id" in _value(nb, "result.segments.head()")["text/html"]


def test_the_notebook_gives_the_cli_s_segments_and_files(executed):
    nb, folder = executed
    assert _value(nb, "again = result.assign(")["text/plain"] == "True"
    assert _value(nb, "loaded = reportgen.load(")["text/plain"] == "True"
    for name in ("report.html", "report.pdf", "segments.csv", "summary.json"):
        assert (folder / "out" / "notebook" / name).stat().st_size > 1000, name
    cli = pd.read_csv(report_runs.rendered("real").folder / "segments.csv")
    mine = pd.read_csv(folder / "runs" / "nov" / "segments.csv")
    both = cli.merge(mine, on="customer_id")
    assert len(both) == len(cli) == len(mine) == 2240
    assert adjusted_rand_score(both["segment_x"], both["segment_y"]) == 1.0
