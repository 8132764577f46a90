"""course_utils.benchmark_results: the recorded benchmark JSON as notebook 05 shows it."""

import pytest

from course_utils import benchmark_results


def timings():
    rows = [("hand-built", 0.4, 0.5, 0.6), ("tff.learning", 0.66, 0.7, 1.0),
            ("+ Keras optimizer", 0.44, 0.6, 0.66)]
    return {"rows": [{"method": m, "seconds_per_round": s, "cpu_seconds_per_round": c,
                      "relative_to_tff_learning": r} for m, s, c, r in rows]}


def test_fedavg_rounds_table_and_findings_come_from_the_numbers():
    table = benchmark_results.fedavg_rounds_table(timings())
    assert table.splitlines()[2] == "| hand-built (this notebook) | 0.40 | 0.50 | 0.60× |"
    assert len(table.splitlines()) == 2 + 3
    findings = benchmark_results.fedavg_rounds_findings(timings())
    assert findings[0] == "The hand-built process takes 0.60× the time of tff.learning's per round."
    assert findings[1] == "The tutorial's Keras optimizer: 1.20× the hand-built process's CPU time."
    assert len(findings) == 2  # no rows for the variants that were not measured


def test_settings_sweep_table_marks_exploding_losses():
    def row(name, accuracies, loss):
        return {"settings": name, "options": "--epochs 1" if name != "course" else "",
                "mean_accuracy": sum(accuracies) / len(accuracies),
                "min_accuracy": min(accuracies), "max_accuracy": max(accuracies),
                "runs": [{"train_loss_last_round": loss} for _ in accuracies]}

    table = benchmark_results.settings_sweep_table({"rows": [
        row("course, 1 epoch", [0.7, 0.8], 0.5), row("course", [0.82, 0.82], float("nan")),
        row("tutorial + x", [0.1, 0.2], 40.0)]})
    lines = table.splitlines()
    assert lines[2] == "| course, 1 epoch | `--epochs 1` | 0.75 (0.70-0.80) |"
    assert lines[3] == ("| **course** | (the defaults) | **0.82** (0.82-0.82), the training "
                        "loss explodes |")
    assert lines[4].endswith("0.15 (0.10-0.20), the training loss explodes |")


def test_missing_results_say_which_script_makes_them():
    with pytest.raises(FileNotFoundError, match="run `python benchmarks/nothing_here.py`"):
        benchmark_results.load("nothing_here")
