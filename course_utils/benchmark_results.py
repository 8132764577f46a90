"""The measured results in benchmarks/results/*.json, as the notebooks show them.

The benchmark scripts (benchmarks/*.py) write the JSON files; notebooks read them here
instead of typing figures into their prose, so a figure has one source: rerun the
script, then the notebook.
"""

from __future__ import annotations

import json
from pathlib import Path

# benchmarks/results, through the package's link to it (course_utils/bundled/
# benchmark_results), so an installed package has them too: Colab installs the package,
# not the repository (the wheel holds copies of the files).
RESULTS = Path(__file__).resolve().parent / "bundled" / "benchmark_results"


def load(name: str) -> dict:
    """The results of benchmarks/NAME.py (benchmarks/results/NAME.json)."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"No recorded results {path.name} in benchmarks/results/: "
                                f"run `python benchmarks/{name}.py` to measure them.")
    return json.loads(path.read_text())


def load_text(filename: str) -> str:
    """A recorded text file of benchmarks/results/ (e.g. a transcript of a run)."""
    path = RESULTS / filename
    if not path.exists():
        raise FileNotFoundError(f"No recorded file {filename} in benchmarks/results/.")
    return path.read_text()


def _row(method: str, result: dict) -> dict:
    return next(row for row in result["rows"] if row["method"] == method)


def fedavg_rounds_table(result: dict) -> str:
    """Markdown table of benchmarks/fedavg_rounds.py's results."""
    names = {"hand-built": "hand-built (this notebook)",
             "tff.learning": "`tff.learning` (unweighted FedAvg)",
             "plain TF": "plain TF, no federated runtime",
             "tutorial port": "the tutorial, ported as is",
             "+ tff.learning model": "hand-built + the tutorial's `tff.learning` model",
             "+ Keras optimizer": "hand-built + the tutorial's Keras optimizer",
             "+ server rebuild": "hand-built + the tutorial's server update"}
    lines = ["| implementation | seconds per round | CPU seconds per round | "
             "relative to `tff.learning` |", "|---|---:|---:|---:|"]
    for row in result["rows"]:
        lines.append(f"| {names.get(row['method'], row['method'])} | "
                     f"{row['seconds_per_round']:.2f} | {row['cpu_seconds_per_round']:.2f} | "
                     f"{row['relative_to_tff_learning']:.2f}× |")
    return "\n".join(lines)


def fedavg_rounds_findings(result: dict) -> list[str]:
    """The sentences notebook 05 draws from the table, with their figures."""
    hand = _row("hand-built", result)
    lines = [f"The hand-built process takes {hand['relative_to_tff_learning']:.2f}× the "
             "time of tff.learning's per round."]
    cost = {"+ tff.learning model": "training through the tutorial's tff.learning model",
            "+ Keras optimizer": "the tutorial's Keras optimizer",
            "+ server rebuild": "the tutorial's server update"}
    for method, what in cost.items():
        if any(row["method"] == method for row in result["rows"]):
            ratio = _row(method, result)["cpu_seconds_per_round"] / hand["cpu_seconds_per_round"]
            lines.append(f"{what[0].upper() + what[1:]}: {ratio:.2f}× the hand-built "
                         "process's CPU time.")
    return lines


def settings_sweep_table(result: dict) -> str:
    """Markdown table of benchmarks/settings_sweep.py's results."""
    lines = ["| settings | options of `python -m course_utils train --algorithm fedavg` | "
             "central test accuracy |", "|---|---|---|"]
    for row in result["rows"]:
        losses = [run["train_loss_last_round"] for run in row["runs"]]
        exploded = (", the training loss explodes" if any(not loss < 10 for loss in losses)
                    else "")  # (NaN too)
        bold = "**" if row["settings"] in ("tutorial", "course") else ""
        flags = f"`{row['options']}`" if row["options"] else "(the defaults)"
        lines.append(f"| {bold}{row['settings']}{bold} | {flags} "
                     f"| {bold}{row['mean_accuracy']:.2f}{bold} ({row['min_accuracy']:.2f}-"
                     f"{row['max_accuracy']:.2f}){exploded} |")
    return "\n".join(lines)


def beyond_sweep_table(result: dict) -> str:
    """Markdown table of benchmarks/beyond_sweep.py's results (notebook 09): per method,
    every value tried, its mean accuracy over the last rounds on the validation half and
    on the test half of the test writers, and the value chosen (in bold)."""
    last = result["rounds"] - 2
    lines = [f"| method | setting | values tried: validation half / test half (mean of "
             f"rounds {last}-{result['rounds']}) | chosen |", "|---|---|---|---|"]
    for method, chosen in result["chosen"].items():
        runs = sorted((r for r in result["runs"] if r["method"] == method),
                      key=lambda r: r["value"])
        tried = "; ".join(
            ("**{}**" if r["value"] == chosen else "{}").format(
                f"{r['value']:.3g}: {r['validation_last3']:.3f} / {r['test_last3']:.3f}")
            for r in runs)
        lines.append(f"| {method} | {runs[0]['setting']} | {tried} | {chosen:.3g} |")
    return "\n".join(lines)


def scaling_summary(result: dict) -> str:
    """What benchmarks/scaling.py recorded (data, date, machine, background load) and
    its seconds per round, one line per number of clients, one column per configuration."""
    rows = result["rows"]
    background = max(row["background_cores"] for row in rows)
    configs = list(dict.fromkeys(row["config"] for row in rows))
    cell = {(row["clients"], row["config"]): row for row in rows}
    lines = [f"A recorded run of benchmarks/scaling.py (not this notebook's): {result['data']}",
             f"{result['date']}, {result['cpus']} CPU cores, {result['timed_rounds']} timed "
             f"rounds per point, {result['epochs']} local epochs; other programs kept at "
             f"most {background:.2f} cores busy during a point", "",
             "seconds per round   " + "".join(f"{c:>12}" for c in configs)]
    for n in sorted({row["clients"] for row in rows}):
        lines.append(f"{n:4d} clients        " + "".join(
            f"{cell[n, c]['seconds_per_round']:11.2f}s" if (n, c) in cell else f"{'-':>12}"
            for c in configs))
    return "\n".join(lines)
