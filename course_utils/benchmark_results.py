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
    names = {"hand-built": "hand-built (notebook 05)",
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
    cpu = hand["cpu_seconds_per_round"] / _row("tff.learning", result)["cpu_seconds_per_round"]
    # CPU first: a busy machine stretches the wall times of the methods unequally
    lines = [f"The hand-built process takes {cpu:.2f}× the CPU time of tff.learning's per "
             f"round ({hand['relative_to_tff_learning']:.2f}× its wall time)."]
    cost = {"+ tff.learning model": "training through the tutorial's tff.learning model",
            "+ Keras optimizer": "the tutorial's Keras optimizer",
            "+ server rebuild": "the tutorial's server update"}
    for method, what in cost.items():
        if any(row["method"] == method for row in result["rows"]):
            ratio = _row(method, result)["cpu_seconds_per_round"] / hand["cpu_seconds_per_round"]
            lines.append(f"{what[0].upper() + what[1:]}: {ratio:.2f}× the hand-built "
                         "process's CPU time.")
    return lines


def settings_sweep_table(result: dict, options: bool = True) -> str:
    """Markdown table of benchmarks/settings_sweep.py's results; `options=False` leaves
    out the command line's options (a learner page names no command line)."""
    option_header = ["options of `python -m course_utils train --algorithm fedavg`"]
    rows = [["settings", *(option_header if options else []), "central test accuracy"]]
    for row in result["rows"]:
        losses = [run["train_loss_last_round"] for run in row["runs"]]
        exploded = (", the training loss explodes" if any(not loss < 10 for loss in losses)
                    else "")  # (NaN too)
        bold = "**" if row["settings"] in ("tutorial", "course") else ""
        flags = [f"`{row['options']}`" if row["options"] else "(the defaults)"]
        rows.append([f"{bold}{row['settings']}{bold}", *(flags if options else []),
                     f"{bold}{row['mean_accuracy']:.2f}{bold} ({row['min_accuracy']:.2f}-"
                     f"{row['max_accuracy']:.2f}){exploded}"])
    lines = [f"| {' | '.join(cells)} |" for cells in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    return "\n".join(lines)


def beyond_sweep_table(result: dict) -> str:
    """Markdown table of benchmarks/beyond_sweep.py's results (notebook 10): per method,
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


# Results recorded over several seeds (benchmarks/tff_learning_seeds.py): each row has
# "settings", "rounds" and "runs", one run per seed with its "accuracy" by evaluation and
# its "central_accuracy_per_round".

def seed_values(row: dict, column: str | int) -> list[float]:
    """One value per seed: an evaluation's accuracy (a name), or the central test
    accuracy after round `column` (an int; the last round if the row has fewer)."""
    if isinstance(column, int):
        return [run["central_accuracy_per_round"][min(column, row["rounds"]) - 1]
                for run in row["runs"]]
    return [run["accuracy"][column] for run in row["runs"]]


def seed_row(result: dict, settings: str) -> dict:
    return next(row for row in result["rows"] if row["settings"] == settings)


def mean_and_range(values: list[float]) -> str:
    """'0.754 (0.741-0.768)': the mean over seeds and the smallest and largest value."""
    return f"{sum(values) / len(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def seeds_table(result: dict, settings: list[str], columns: dict) -> str:
    """Markdown table: one line per row of `settings`, one column per entry of
    `columns` ({heading: an evaluation's name, or a round number}), each cell the mean
    and the range over the recorded seeds."""
    lines = ["| settings | rounds | " + " | ".join(columns) + " |",
             "|---|---:|" + "---:|" * len(columns)]
    for name in settings:
        row = seed_row(result, name)
        lines.append(f"| {name} | {row['rounds']} | " + " | ".join(
            mean_and_range(seed_values(row, column)) for column in columns.values()) + " |")
    return "\n".join(lines)


def seeds_difference(result: dict, settings: str, baseline: str,
                     column: str | int) -> str:
    """How `settings` differs from `baseline`, seed by seed (the same seed's runs
    subtracted): the mean difference, its range, and in how many seeds it is higher."""
    ours, theirs = (seed_values(seed_row(result, name), column)
                    for name in (settings, baseline))
    gaps = [a - b for a, b in zip(ours, theirs)]
    return (f"{settings} minus {baseline}, seed by seed: mean {sum(gaps) / len(gaps):+.3f} "
            f"(from {min(gaps):+.3f} to {max(gaps):+.3f}); higher in "
            f"{sum(gap > 0 for gap in gaps)} of {len(gaps)} seeds")


# --- benchmarks/aggregation_seeds.py (notebook 07) ---------------------------------

AGGREGATION_SEEDS_COLUMNS = {  # history key -> column of aggregation_seeds_table
    "eval_accuracy": "test accuracy",
    "eval_client_accuracy": "clients' accuracy: mean",
    "eval_client_accuracy_p10": "clients' accuracy: worst decile",
}


def _final(result: dict, scenario: str, method: str, key: str = "eval_accuracy") -> dict:
    """seed -> the last round's `key` of one run of benchmarks/aggregation_seeds.py."""
    return {run["seed"]: run["history"][-1][key] for run in result["runs"]
            if run["scenario"] == scenario and run["method"] == method}


def _mean_and_range(values, sign: str = "") -> str:
    values = list(values)
    return (f"{sum(values) / len(values):{sign}.3f} "
            f"({min(values):{sign}.3f} to {max(values):{sign}.3f})")


def aggregation_seeds_table(result: dict, attack: bool = False) -> str:
    """Markdown table of benchmarks/aggregation_seeds.py's results: per partition and
    method, the last round's test accuracy and the clients' accuracy (mean and worst
    decile) as mean (lowest to highest) over the seeds. The runs under attack, or
    (`attack=False`) the others."""
    lines = ["| partition | method | " + " | ".join(AGGREGATION_SEEDS_COLUMNS.values())
             + " |", "|---|---" + "|---" * len(AGGREGATION_SEEDS_COLUMNS) + "|"]
    runs = dict.fromkeys((run["scenario"], run["method"]) for run in result["runs"])
    for scenario, method in runs:
        if scenario.startswith("attack") != attack:
            continue
        cells = [_mean_and_range(_final(result, scenario, method, key).values())
                 for key in AGGREGATION_SEEDS_COLUMNS]
        lines.append(f"| {scenario} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


WEIGHTINGS = ("simple", "weighted", "quality", "hybrid")


def aggregation_seeds_differences(result: dict) -> dict:
    """The paired differences notebook 07's prose reads, seed by seed: label -> {seed:
    value}. Each is measured within one seed (the same clients, data and rounds), so
    the spread over seeds shows whether its sign holds."""
    def minus(scenario_a, method_a, scenario_b, method_b, key="eval_accuracy"):
        a, b = (_final(result, scenario_a, method_a, key),
                _final(result, scenario_b, method_b, key))
        return {seed: a[seed] - b[seed] for seed in a}

    def best(scenario):
        finals = [_final(result, scenario, m) for m in WEIGHTINGS]
        return {seed: max(f[seed] for f in finals) for seed in finals[0]}

    differences = {}
    for scenario in ("non-IID writers", "IID", "unequal sizes"):
        differences[f"{scenario}: weighted minus simple, test accuracy"] = minus(
            scenario, "weighted", scenario, "simple")
    for key, what in (("eval_client_accuracy", "clients' mean accuracy"),
                      ("eval_client_accuracy_p10", "clients' worst-decile accuracy"),
                      ("eval_example_loss", "loss over all examples"),
                      ("eval_client_loss", "mean of the clients' losses")):
        differences[f"unequal sizes: weighted minus simple, {what}"] = minus(
            "unequal sizes", "weighted", "unequal sizes", "simple", key)
    for scenario in ("non-IID writers", "IID", "unequal sizes"):
        fedsgd = _final(result, scenario, "fedsgd")
        differences[f"{scenario}: best weighting minus FedSGD, test accuracy"] = {
            seed: value - fedsgd[seed] for seed, value in best(scenario).items()}
    iid, writers = best("IID"), best("non-IID writers")
    differences["IID minus non-IID writers, best weighting, test accuracy"] = {
        seed: iid[seed] - writers[seed] for seed in iid}
    attack = "attack (non-IID writers)"
    trimmed = _final(result, attack, "trimmed mean (trim=2), 2 corrupted")
    honest = _final(result, "non-IID writers", "simple")
    differences["trimmed mean under attack minus the simple mean without attack"] = {
        seed: trimmed[seed] - honest[seed] for seed in trimmed}
    return differences


def aggregation_seeds_differences_table(result: dict, attack: bool = False) -> str:
    """Markdown table of `aggregation_seeds_differences` (those under attack, or the
    others): mean (lowest to highest) over the seeds, and in how many seeds the value
    is above zero."""
    lines = [f"| over {len(result['seeds'])} seeds | mean (lowest to highest) | "
             "above zero in |", "|---|---|---|"]
    for label, values in aggregation_seeds_differences(result).items():
        if ("attack" in label) != attack:
            continue
        positive = sum(value > 0 for value in values.values())
        lines.append(f"| {label} | {_mean_range(values.values())} | "
                     f"{positive} of {len(values)} seeds |")
    return "\n".join(lines)


# Notebook 06's comparisons (benchmarks/modifications_seeds.py): run -> its baseline.
MODIFICATIONS_BASELINES = {
    "midpoint": "FedAvg",
    "FedAvg, faulty clients": "FedAvg",
    "clipped, faulty clients": "FedAvg",
    "clipped, no faulty clients": "FedAvg",
    "constant 1.0": "FedAvg",
    "1.0, decaying x0.9 per round": "constant 1.0",
}


def seed_runs(result: dict, name: str) -> dict:
    """{seed: the recorded run `name` of that seed}."""
    return {run["seed"]: run for run in result["runs"] if run["run"] == name}


def _signed(value: float) -> str:
    text = f"{value:+.3f}"
    return "0.000" if text in ("+0.000", "-0.000") else text


def _mean_range(values) -> str:
    values = list(values)
    return (f"{_signed(sum(values) / len(values))} ({_signed(min(values))} to "
            f"{_signed(max(values))})")


def modifications_seeds_summary(result: dict) -> str:
    """One line: what benchmarks/modifications_seeds.py recorded (the README says how to
    record it again: a learner page names no benchmark file)."""
    seeds = ", ".join(map(str, result["seeds"]))
    return (f"Recorded {result['date']} on {result['clients_total']} writers: "
            f"{result['rounds']} rounds of {result['clients_per_round']} clients, seeds "
            f"{seeds} (a seed draws every round's clients and the shuffling; seed 0 is "
            f"the live run above).")


def modifications_seeds_table(result: dict, runs: list[str]) -> str:
    """Markdown table: each of `runs` against its baseline (MODIFICATIONS_BASELINES),
    per seed of benchmarks/modifications_seeds.py, as mean and range over the seeds."""
    rounds = result["rounds"]
    lines = [f"| run | baseline | test accuracy after round {rounds}: run minus baseline, "
             f"mean (range) | seeds where the run ends lower | rounds with a higher test "
             f"loss than the baseline (of {rounds}), per seed |", "|---|---|---|---|---|"]
    for name in runs:
        baseline = MODIFICATIONS_BASELINES[name]
        ours, theirs = seed_runs(result, name), seed_runs(result, baseline)
        seeds = sorted(ours)
        gaps = [ours[s]["test_accuracy"][-1] - theirs[s]["test_accuracy"][-1] for s in seeds]
        higher = [sum(a > b for a, b in zip(ours[s]["test_loss"], theirs[s]["test_loss"]))
                  for s in seeds]
        lines.append(f"| {name} | {baseline} | {_mean_range(gaps)} | "
                     f"{sum(g < 0 for g in gaps)} of {len(seeds)} | "
                     f"{', '.join(map(str, higher))} |")
    return "\n".join(lines)
