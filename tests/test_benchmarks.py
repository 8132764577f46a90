"""benchmarks/: the scripts that produced the README's tables still run and measure
what they say (a tiny run, real assertions)."""

import json
import sys

from conftest import ROOT, run_python


def test_scaling_benchmark_smoke(sample_dir, tmp_path):
    out = tmp_path / "scaling.json"
    code = (f"import sys; sys.argv = ['scaling.py', '--data', {str(sample_dir)!r}, "
            f"'--clients', '2', '4', '--workers', '2', '--rounds', '1', '--epochs', '1', "
            f"'--out', {str(out)!r}]\n"
            f"import runpy; runpy.run_path({str(ROOT / 'benchmarks' / 'scaling.py')!r}, "
            "run_name='__main__')")
    result = run_python(code, timeout=600)
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
