"""benchmarks/beyond_sweep.py (notebook 10's tuning sweep) on a tiny run: every method's
grid, run once per seed, chosen by the mean over the seeds on the validation half."""

import json

import pytest

from conftest import run_benchmark


def test_beyond_sweep_chooses_by_the_mean_over_seeds(sample_dir, tmp_path):
    out = tmp_path / "beyond_sweep.json"
    result = run_benchmark("beyond_sweep.py", "--data", str(sample_dir), "--rounds", "1",
                           "--seeds", "0", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["seeds"] == [0, 3] and report["rounds"] == 1
    for method, chosen in report["chosen"].items():
        runs = [r for r in report["runs"] if r["method"] == method]
        assert len(runs) >= 3
        for run in runs:
            assert len(run["validation_last3_per_seed"]) == len(run["test_per_round"]) == 2
            assert run["validation_last3"] == pytest.approx(
                sum(run["validation_last3_per_seed"]) / 2)
        best = max(r["validation_last3"] for r in runs)  # ties: the first value tried wins
        assert [r for r in runs if r["value"] == chosen][0]["validation_last3"] == best
