"""benchmarks/: the scripts that produced the README's tables still run and measure
what they say (a tiny run, real assertions)."""

import json

from conftest import ROOT, run_benchmark


def test_scaling_benchmark_smoke(sample_dir, tmp_path):
    out = tmp_path / "scaling.json"
    result = run_benchmark("scaling.py", "--data", str(sample_dir), "--clients", "2", "4",
                           "--workers", "2", "--rounds", "1", "--epochs", "1", "--out", str(out),
                           timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = {(row["config"], row["clients"]): row for row in report["rows"]}
    assert set(rows) == {(config, clients) for config in ("local", "2 workers")
                         for clients in (2, 4)}
    for row in rows.values():
        assert len(row["seconds"]) == 1 and row["seconds_per_round"] > 0
        assert row["worker_cpu_per_round"] > 0  # the workers did the training
    # The same rounds on one worker and split across two: the same model.
    assert report["max_weight_difference_between_configs"] < 1e-5
    assert report["timed_rounds"] == 1 and report["epochs"] == 1
    # What it prints: the Markdown table of the README, from the same numbers.
    assert "| clients per round | local | 2 workers |" in result.stdout
    two = rows[("2 workers", 4)]["seconds_per_round"]
    assert f"| 4 | {rows[('local', 4)]['seconds_per_round']:.2f} s | {two:.2f} s |" in result.stdout
    assert f"wrote {out}" in result.stdout


def test_aggregation_seeds_benchmark_smoke(sample_dir, tmp_path):
    """Notebook 07's recorded seeds: one round of one seed gives every run of the
    notebook's experiment, with the client objectives, in the tables 07 shows."""
    from course_utils import benchmark_results

    out = tmp_path / "aggregation_seeds.json"
    result = run_benchmark("aggregation_seeds.py", "--data", str(sample_dir), "--seeds", "0",
                           "--rounds", "1", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert len(report["runs"]) == 3 * 5 + 2 and report["seeds"] == [0]
    for run in report["runs"]:
        assert len(run["history"]) == 1
        assert 0 <= run["history"][0]["eval_client_accuracy_p10"] <= 1
        assert run["history"][0]["eval_example_loss"] > 0
    attacked = [run for run in report["runs"] if run["method"] == "mean, 2 corrupted"]
    assert attacked[0]["history"][0]["eval_accuracy"] < 0.1
    assert len(benchmark_results.aggregation_seeds_table(report).splitlines()) == 2 + 15
    assert len(benchmark_results.aggregation_seeds_differences(report)) == 12


def test_modifications_seeds_benchmark_reproduces_its_recorded_first_round(sample_dir,
                                                                           tmp_path):
    """Notebook 06's seed table: a one-round run of the script gives the recorded
    results' round 1 for seed 0, every run (the recorded file is what the script makes)."""
    out = tmp_path / "modifications_seeds.json"
    result = run_benchmark("modifications_seeds.py", "--data", str(sample_dir), "--seeds", "0",
                           "--rounds", "1", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    fresh = json.loads(out.read_text())
    recorded = json.loads((ROOT / "benchmarks" / "results" /
                           "modifications_seeds.json").read_text())
    assert recorded["seeds"][0] == 0 and len(recorded["seeds"]) >= 3
    first = {run["run"]: run for run in recorded["runs"] if run["seed"] == 0}
    assert len(fresh["runs"]) == len(first) == 7
    for run in fresh["runs"]:
        assert abs(run["test_accuracy"][0] - first[run["run"]]["test_accuracy"][0]) < 1e-4
        assert abs(run["test_loss"][0] - first[run["run"]]["test_loss"][0]) < 1e-4
        assert run["faulty_per_round"] == first[run["run"]]["faulty_per_round"][:1]
