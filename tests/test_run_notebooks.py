"""tools/run_notebooks.py (`make run`): runs notebooks in place and merges its one-page
summary, so running some notebooks keeps the other notebooks' rows."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import run_notebooks  # noqa: E402


def test_summary_round_trip_and_totals(tmp_path):
    summary = tmp_path / "RUN_SUMMARY.md"
    rows = {"notebooks/00_setup_and_hello_federated.ipynb": (8.0, 700.0, "sample"),
            "notebooks/01_federated_emnist.ipynb": (22.0, 1100.0, "/tmp/femnist"),
            "notebooks/solutions/04_federated_core.ipynb": (30.0, 900.0, "sample")}
    run_notebooks.write_summary(rows, summary)
    assert run_notebooks.read_summary(summary) == rows
    text = summary.read_text()
    assert "**Headless run time of the course:** 30 s (0.5 min) for 2 notebook(s)" in text
    assert "not yet run: 02_fedavg_with_tff_learning.ipynb" in text
    assert "Solved copies: 30 s (0.5 min) for 1 notebook(s)." in text
    assert "Highest peak memory: 1100 MiB (notebooks/01_federated_emnist.ipynb)." in text


def test_old_summary_format_is_read():
    old = ("| notebook | seconds | peak memory (MiB) |\n|---|---|---|\n"
           "| notebooks/00_setup_and_hello_federated.ipynb | 8.5 | 838 |\n")
    match = run_notebooks.ROW.match(old.splitlines()[2])
    assert match and match["seconds"] == "8.5" and match["data"] is None


def test_running_one_notebook_keeps_the_other_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "sample")  # main() sets it; restored afterwards
    folder = tmp_path / "notebooks"
    folder.mkdir()
    path = folder / "00_setup_and_hello_federated.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    summary = tmp_path / "RUN_SUMMARY.md"
    other = {"notebooks/01_federated_emnist.ipynb": (22.0, 1100.0, "sample")}
    run_notebooks.write_summary(other, summary)

    assert run_notebooks.main([str(path), "--summary", str(summary),
                               "--data", "sample"]) == 0
    rows = run_notebooks.read_summary(summary)
    assert set(rows) == {"notebooks/00_setup_and_hello_federated.ipynb",
                         "notebooks/01_federated_emnist.ipynb"}
    assert rows["notebooks/01_federated_emnist.ipynb"] == other[
        "notebooks/01_federated_emnist.ipynb"]
    seconds, mib, data = rows["notebooks/00_setup_and_hello_federated.ipynb"]
    assert seconds > 0 and mib > 10 and data == "sample"
    executed = nbformat.read(path, as_version=4)
    assert executed.cells[0].execution_count == 1
    assert executed.cells[0].outputs[0].text == "42\n"


def test_regenerated_outputs_store_no_widget_state(tmp_path):
    """A run drops an earlier run's saved widget state and saves none of its own (a
    stored progress bar only replays its first frame; the web book would load a widget
    library from a CDN for it)."""
    path = tmp_path / "notebooks" / "02_fedavg_with_tff_learning.ipynb"
    path.parent.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import ipywidgets\nipywidgets.IntProgress(value=3, max=10)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"stale": {}}, "version_major": 2, "version_minor": 0}}
    nbformat.write(nb, path)

    run_notebooks.run(path, timeout=120)
    executed = nbformat.read(path, as_version=4)
    assert "widgets" not in executed.metadata
    shown = executed.cells[0].outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in shown  # a widget was made
