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
    assert table.splitlines()[2] == "| hand-built (notebook 05) | 0.40 | 0.50 | 0.60× |"
    assert len(table.splitlines()) == 2 + 3
    findings = benchmark_results.fedavg_rounds_findings(timings())
    assert findings[0] == ("The hand-built process takes 0.71× the CPU time of tff.learning's "
                           "per round (0.60× its wall time).")
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
    without = benchmark_results.settings_sweep_table(
        {"rows": [row("course, 1 epoch", [0.7, 0.8], 0.5)]}, options=False).splitlines()
    assert without == ["| settings | central test accuracy |", "|---|---|",
                       "| course, 1 epoch | 0.75 (0.70-0.80) |"]  # no command line


def test_missing_results_say_which_script_makes_them():
    with pytest.raises(FileNotFoundError, match="run `python benchmarks/nothing_here.py`"):
        benchmark_results.load("nothing_here")


def test_recorded_transcript_ships_with_the_package():
    """Notebook 08 prints the recorded two-host run from the package, not by a path
    relative to the repository (on Colab only the package is installed)."""
    text = benchmark_results.load_text("netns_example.txt")
    assert "ready at" in text and "course_utils" in text
    with pytest.raises(FileNotFoundError, match="nothing.txt"):
        benchmark_results.load_text("nothing.txt")


# --- the recorded results support what notebook 05 says about them ------------------

def test_recorded_settings_sweep_supports_notebook_05s_prose():
    """Notebook 05: from the tutorial's settings inverted pixels and 5 epochs help far
    more than the rest, learning rate 0.3 alone makes it worse and explodes; from the
    course's settings every change costs accuracy, un-inverting the pixels the most."""
    rows = {row["settings"]: row for row in benchmark_results.load("settings_sweep")["rows"]}
    accuracy = {name: row["mean_accuracy"] for name, row in rows.items()}

    def explodes(name):
        return any(not run["train_loss_last_round"] < 10 for run in rows[name]["runs"])

    gains = {name: accuracy[name] - accuracy["tutorial"] for name in accuracy
             if name.startswith("tutorial") and name != "tutorial"}
    best = sorted(gains, key=gains.get, reverse=True)
    assert set(best[:2]) == {"tutorial + inverted pixels", "tutorial + 5 epochs"}, gains
    assert all(gains[name] < gains[best[1]] / 2 for name in best[2:]), gains
    assert gains["tutorial + learning rate 0.3"] < 0 and explodes("tutorial + learning rate 0.3")
    course_rows = [name for name in accuracy if name.startswith("course,")]
    assert all(accuracy[name] < accuracy["course"] for name in course_rows)
    assert min(course_rows, key=accuracy.get) == "course, pixels not inverted"
    assert explodes("course, pixels not inverted") and not explodes("course")


def test_recorded_fedavg_rounds_support_notebook_05s_prose():
    """The instructors' notebook: the hand-built process is faster than tff.learning's, the
    tutorial ported as is several times slower, and every variant ends at the same
    weights."""
    result = benchmark_results.load("fedavg_rounds")
    relative = {row["method"]: row["relative_to_tff_learning"] for row in result["rows"]}
    assert relative["hand-built"] < 1.0
    cpu = {row["method"]: row["cpu_seconds_per_round"] for row in result["rows"]}
    assert cpu["hand-built"] < cpu["tff.learning"]  # also in the work done, not only in wall time
    assert relative["tutorial port"] > 2.0
    assert all(row["max_weight_difference_to_hand_built"] < 1e-4 for row in result["rows"])


def test_recorded_cnn_run_on_heldout_writers_meets_issue_14s_acceptance():
    """Notebook 09 prints this run: 30 rounds of the CNN, at least 0.93 on writers it
    never trained on (a fifth of the sample), none of them in training."""
    result = benchmark_results.load("cnn_heldout_writers")
    assert result["config"]["model"] == "cnn" and result["config"]["rounds"] == 30
    assert result["final"]["split"] == "heldout_writers"
    assert result["final"]["accuracy"] >= 0.93
    assert result["heldout_writers"] + result["trained_writers"] == 383
    assert len(result["rounds"]) == 30


def test_scaling_summary_prints_the_recorded_seconds_per_configuration():
    rows = [{"config": c, "clients": n, "seconds_per_round": s, "background_cores": b}
            for c, n, s, b in (("local", 10, 0.25, 0.01), ("2 workers", 10, 0.31, 0.04),
                               ("local", 50, 1.07, 0.0))]
    result = {"rows": rows, "data": "the sample", "date": "2026-11-22 15:09", "cpus": 2,
              "timed_rounds": 3, "epochs": 5}
    text = benchmark_results.scaling_summary(result)
    assert "not this notebook's" in text and "at most 0.04 cores" in text
    lines = text.splitlines()
    assert lines[-2].split() == ["10", "clients", "0.25s", "0.31s"]
    assert lines[-1].split() == ["50", "clients", "1.07s", "-"]


# --- results recorded over seeds (benchmarks/tff_learning_seeds.py, notebook 02) -------

def tff_learning_seeds_result():
    def row(name, rounds, finals, curve_start):
        return {"settings": name, "rounds": rounds, "runs": [
            {"seed": seed, "accuracy": {"central test set": final},
             "central_accuracy_per_round": [curve_start + seed / 100] * (rounds - 1) + [final]}
            for seed, final in enumerate(finals)]}

    return {"rows": [row("short", 3, [0.1, 0.3, 0.2], 0.05),
                     row("long", 15, [0.8, 0.7, 0.75], 0.5)]}


def test_seeds_table_shows_mean_and_range_per_column():
    table = benchmark_results.seeds_table(tff_learning_seeds_result(), ["long", "short"],
                                          {"after round 3": 3, "final": "central test set"})
    lines = table.splitlines()
    assert lines[0] == "| settings | rounds | after round 3 | final |"
    assert lines[2] == "| long | 15 | 0.510 (0.500-0.520) | 0.750 (0.700-0.800) |"
    # a row with fewer rounds shows its last round
    assert lines[3] == "| short | 3 | 0.200 (0.100-0.300) | 0.200 (0.100-0.300) |"


def test_seeds_difference_subtracts_the_same_seeds_runs():
    line = benchmark_results.seeds_difference(tff_learning_seeds_result(), "long", "short",
                                              "central test set")
    assert line == ("long minus short, seed by seed: mean +0.550 (from +0.400 to +0.700); "
                    "higher in 3 of 3 seeds")
    line = benchmark_results.seeds_difference(tff_learning_seeds_result(), "short", "long", 1)
    assert line.endswith("higher in 0 of 3 seeds")


def test_recorded_seeds_support_notebook_02s_prose():
    """Notebook 02, in every recorded seed: the fixed-clients model does best on its
    training clients' data and the last round's training accuracy is higher still; the
    tutorial's 10 rounds stay below the course's first one; learning rate 0.3 on the pixels
    as stored stays at chance; a new sample of clients every round beats the same 10 on
    the central test set."""
    result = benchmark_results.load("tff_learning_seeds")
    assert len(result["seeds"]) >= 3

    def values(settings, column):
        return benchmark_results.seed_values(benchmark_results.seed_row(result, settings),
                                             column)

    fixed = "course settings, the same 10 clients"
    sampled = "course settings, a new random sample every round"
    central, training = "central test set", "last round's training accuracy"
    own = [min(pair) for pair in zip(values(fixed, "training clients, training data"),
                                     values(fixed, "training clients, test data"))]
    others = [max(pair) for pair in zip(values(fixed, "20 held-out clients"),
                                        values(fixed, central))]
    assert all(t > o > n for t, o, n in zip(values(fixed, training), own, others))
    assert max(values("tutorial settings", central)) < min(values(fixed, 1))
    assert max(values("pixels as stored, lr 0.3", central)) < 0.12  # chance: 0.1
    assert all(s > f for s, f in zip(values(sampled, central), values(fixed, central)))


def seeds_result(gap_by_seed):
    """A benchmarks/aggregation_seeds.py result whose weighted run beats simple by
    `gap_by_seed[seed]` on every partition."""
    runs = []
    scenarios = {"non-IID writers": 0.7, "IID": 0.75, "unequal sizes": 0.6}
    for seed, gap in gap_by_seed.items():
        for scenario, base in scenarios.items():
            for method, accuracy in (("simple", base), ("weighted", base + gap),
                                     ("quality", base - 0.01), ("hybrid", base - 0.02),
                                     ("fedsgd", base - 0.05)):
                row = {key: accuracy for key in benchmark_results.AGGREGATION_SEEDS_COLUMNS}
                row.update(eval_example_loss=1 - accuracy, eval_client_loss=1.1 - accuracy)
                runs.append({"seed": seed, "scenario": scenario, "method": method,
                             "history": [row]})
        for method, accuracy in (("mean, 2 corrupted", 0.03),
                                 ("trimmed mean (trim=2), 2 corrupted", 0.65)):
            runs.append({"seed": seed, "scenario": "attack (non-IID writers)",
                         "method": method, "history": [dict.fromkeys(
                             benchmark_results.AGGREGATION_SEEDS_COLUMNS, accuracy)]})
    return {"seeds": list(gap_by_seed), "runs": runs}


def test_aggregation_seed_differences_are_paired_within_each_seed():
    result = seeds_result({0: 0.02, 1: -0.01, 2: 0.005})
    differences = benchmark_results.aggregation_seeds_differences(result)
    assert differences["IID: weighted minus simple, test accuracy"] == pytest.approx(
        {0: 0.02, 1: -0.01, 2: 0.005})
    assert differences["unequal sizes: best weighting minus FedSGD, test accuracy"] == \
        pytest.approx({0: 0.07, 1: 0.05, 2: 0.055})
    assert differences["IID minus non-IID writers, best weighting, test accuracy"] == \
        pytest.approx({0: 0.05, 1: 0.05, 2: 0.05})
    assert differences["trimmed mean under attack minus the simple mean without attack"] \
        == pytest.approx({0: -0.05, 1: -0.05, 2: -0.05})
    table = benchmark_results.aggregation_seeds_differences_table(result).splitlines()
    assert table[2] == ("| non-IID writers: weighted minus simple, test accuracy | "
                        "+0.005 (-0.010 to +0.020) | 2 of 3 seeds |")
    assert len(table) == 2 + 11 and not any("attack" in line for line in table)
    under_attack = benchmark_results.aggregation_seeds_differences_table(result, attack=True)
    assert under_attack.splitlines()[2:] == [
        "| trimmed mean under attack minus the simple mean without attack | "
        "-0.050 (-0.050 to -0.050) | 0 of 3 seeds |"]


def test_aggregation_seeds_table_shows_mean_and_range_per_run():
    lines = benchmark_results.aggregation_seeds_table(
        seeds_result({0: 0.02, 1: -0.01})).splitlines()
    assert len(lines) == 2 + 3 * 5
    assert lines[3] == ("| non-IID writers | weighted | 0.705 (0.690 to 0.720) | "
                        "0.705 (0.690 to 0.720) | 0.705 (0.690 to 0.720) |")
    attack = benchmark_results.aggregation_seeds_table(
        seeds_result({0: 0.02, 1: -0.01}), attack=True).splitlines()
    assert [line.split(" | ")[1] for line in attack[2:]] == [
        "mean, 2 corrupted", "trimmed mean (trim=2), 2 corrupted"]


def test_recorded_aggregation_seeds_support_notebook_07s_prose():
    """Notebook 07 reads only differences that keep their sign over the recorded seeds:
    FedSGD below the best weighting and IID above the non-IID writers in every seed;
    under attack the mean below chance and the trimmed mean below the attack-free mean
    in every seed; weighting by examples with the lower loss over all examples on
    unequal sizes in every seed; and, on similar sizes, weighted and simple within a
    hundredth."""
    result = benchmark_results.load("aggregation_seeds")
    assert len(result["seeds"]) >= 3
    differences = benchmark_results.aggregation_seeds_differences(result)

    def every_seed(label, sign):
        return all(sign * value > 0 for value in differences[label].values())

    for scenario in ("non-IID writers", "IID", "unequal sizes"):
        assert every_seed(f"{scenario}: best weighting minus FedSGD, test accuracy", +1)
    assert every_seed("IID minus non-IID writers, best weighting, test accuracy", +1)
    assert every_seed("trimmed mean under attack minus the simple mean without attack", -1)
    assert every_seed("unequal sizes: weighted minus simple, loss over all examples", -1)
    for scenario in ("non-IID writers", "IID"):
        gaps = differences[f"{scenario}: weighted minus simple, test accuracy"].values()
        assert all(abs(gap) < 0.01 for gap in gaps)
    attacked = [run["history"][-1]["eval_accuracy"] for run in result["runs"]
                if run["method"] == "mean, 2 corrupted"]
    assert len(attacked) == len(result["seeds"]) and max(attacked) < 0.1


def test_modifications_seeds_table_pairs_each_run_with_its_baseline_by_seed():
    def run(seed, name, accuracy, losses):
        return {"seed": seed, "run": name, "test_accuracy": [0.5, accuracy],
                "test_loss": losses}

    result = {"rounds": 2, "runs": [
        run(0, "FedAvg", 0.80, [1.0, 0.8]), run(0, "midpoint", 0.78, [1.2, 0.7]),
        run(1, "FedAvg", 0.70, [1.0, 0.9]), run(1, "midpoint", 0.71, [1.1, 1.0]),
        run(2, "FedAvg", 0.75, [1.0, 0.9]), run(2, "midpoint", 0.75, [0.9, 0.8])]}
    lines = benchmark_results.modifications_seeds_table(result, ["midpoint"]).splitlines()
    assert len(lines) == 3
    # gaps -0.02, +0.01, 0.00 (paired by seed, not the means of each run); lower in 1 of 3;
    # rounds with a higher loss than the baseline: 1, 2, 0
    assert lines[2] == ("| midpoint | FedAvg | -0.003 (-0.020 to +0.010) | 1 of 3 | "
                        "1, 2, 0 |")


def test_aggregation_seed_differences_print_a_rounded_zero_without_sign():
    # "-0.000" next to "4 of 5 seeds above zero" reads as a contradiction.
    table = benchmark_results.aggregation_seeds_differences_table(
        seeds_result({0: -0.0002, 1: 0.004})).splitlines()
    assert table[2] == ("| non-IID writers: weighted minus simple, test accuracy | "
                        "+0.002 (0.000 to +0.004) | 1 of 2 seeds |")
