"""tools/run_notebooks.py (`make run`): runs notebooks in place and merges its one-page
summary, so running some notebooks, or another stack, keeps the other rows."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import run_notebooks  # noqa: E402
from run_notebooks import Row  # noqa: E402

N00 = "notebooks/00_setup_and_hello_federated.ipynb"
N01 = "notebooks/01_federated_emnist.ipynb"
S04 = "notebooks/solutions/04_federated_core.ipynb"


def test_summary_round_trip_and_totals_for_two_stacks(tmp_path):
    summary = tmp_path / "RUN_SUMMARY.md"
    rows = {(N00, "classic"): Row(8.0, 700.0, "sample", None, 3.5),
            (N00, "modern"): Row(9.0, 750.0, "sample", None, 4.0),
            (N01, "classic"): Row(22.0, 1100.0, "sample", 0.823, 4.1),
            (S04, "modern"): Row(30.0, 900.0, "/data", None, None)}
    run_notebooks.write_summary(rows, summary)
    assert run_notebooks.read_summary(summary) == rows
    text = summary.read_text()
    assert "| notebook | classic: seconds | classic: peak MiB | classic: accuracy" in text
    assert f"| {N01} | 22.0 | 1100 | 0.823 | 4.1 s | — | — | — | — | `COURSE_DATA=sample` |" in text
    assert "**classic:** headless run time of the course 30 s (0.5 min) for 2 notebook(s)" in text
    assert "not yet run: 02_fedavg_with_tff_learning.ipynb" in text
    assert "solved copies 30 s (0.5 min) for 1 notebook(s)" in text
    assert "highest peak memory 1100 MiB (notebooks/01_federated_emnist.ipynb)" in text


def test_old_one_stack_summary_is_read_as_the_classic_stack(tmp_path):
    old = tmp_path / "RUN_SUMMARY.md"
    old.write_text("| notebook | seconds | peak memory (MiB) | data |\n|---|---|---|---|\n"
                   f"| {N00} | 8.5 | 838 | `COURSE_DATA=/tmp/femnist` |\n")
    assert run_notebooks.read_summary(old) == {(N00, "classic"): Row(8.5, 838.0, "/tmp/femnist")}


@pytest.mark.parametrize("number, printed, expected", [
    ("02", "a new random sample every round   training accuracy 0.922, central test accuracy 0.823\n", 0.823),
    ("05", "after 15 rounds: central test accuracy 0.823, loss 0.642\n", 0.823),
    ("08", "{'loss': 1.003, 'accuracy': 0.84}\n{'loss': np.float32(1.0), 'accuracy': np.float32(0.85)}\n", 0.85),
    ("04", "accuracy 0.5\n", None),  # no headline in notebook 04
])
def test_headline_accuracy_is_the_last_match_of_the_notebooks_pattern(number, printed, expected):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "", outputs=[nbformat.v4.new_output("stream", name="stdout", text=printed)])])
    assert run_notebooks.headline_accuracy(f"notebooks/{number}_x.ipynb", nb) == expected


def test_every_headline_pattern_matches_its_committed_notebook():
    for number in run_notebooks.HEADLINES:
        path = next((ROOT / "notebooks").glob(f"{number}_*.ipynb"))
        nb = nbformat.read(path, as_version=4)
        assert run_notebooks.headline_accuracy(path.name, nb) is not None, path.name


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
    other = {(N01, "classic"): Row(22.0, 1100.0, "sample", 0.8, 3.0)}
    run_notebooks.write_summary(other, summary)

    assert run_notebooks.main([str(path), "--summary", str(summary), "--data", "sample",
                               "--stack", "classic"]) == 0
    rows = run_notebooks.read_summary(summary)
    assert set(rows) == {(N00, "classic"), (N01, "classic")}
    assert rows[(N01, "classic")] == other[(N01, "classic")]
    row = rows[(N00, "classic")]
    assert row.seconds > 0 and row.mib > 10 and row.data == "sample"
    assert row.setup_seconds is not None and row.setup_seconds < row.seconds
    executed = nbformat.read(path, as_version=4)
    assert executed.cells[0].execution_count == 1
    assert executed.cells[0].outputs[0].text == "42\n"

    nbformat.write(nb, path)  # --no-store: measured, but the notebook is left alone
    assert run_notebooks.main([str(path), "--summary", str(summary), "--stack", "modern",
                               "--no-store"]) == 0
    assert (N00, "modern") in run_notebooks.read_summary(summary)
    assert nbformat.read(path, as_version=4).cells[0].outputs == []


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
