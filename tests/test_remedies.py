"""Notebook 10's comparison set-up (course_utils.remedies): one setting per method, the
same sweep rule for all, traffic read from the types (SCAFFOLD twice FedAvg's)."""

import pytest

from course_utils import remedies, scaffold


def test_every_method_gets_the_same_sweep_rule():
    for name, method in remedies.METHODS.items():
        values = remedies.grid(name)
        assert values == pytest.approx([method.centre / 3, method.centre, method.centre * 3])
    assert set(remedies.CHOSEN) == set(remedies.METHODS)


def test_built_methods_and_their_traffic():
    processes = {name: remedies.build(name) for name in remedies.METHODS}
    assert isinstance(processes["SCAFFOLD"], scaffold.ScaffoldSimulation)
    traffic = {name: remedies.traffic(p) for name, p in processes.items()}
    model_bytes = 4 * 7_850
    for name in ("FedAvg", "FedProx", "FedAdam"):
        assert traffic[name].download == model_bytes
        assert traffic[name].upload == model_bytes + 12  # weights + loss, accuracy, count
    assert traffic["SCAFFOLD"].download == 2 * model_bytes
    assert traffic["SCAFFOLD"].upload == 2 * model_bytes + 12
    with pytest.raises(ValueError, match="Unknown method"):
        remedies.build("FedNothing")


def test_comparison_table():
    history = [{"round": r, "seconds": 0.5, "eval_accuracy": 0.1 * r} for r in range(1, 7)]
    traffic = {"FedAvg": remedies.aggregation.Traffic(100, 112, {}),
               "SCAFFOLD": remedies.aggregation.Traffic(200, 212, {})}
    table = remedies.comparison_table({"FedAvg": history, "SCAFFOLD": history}, traffic, 10)
    lines = table.splitlines()
    assert lines[0].startswith("| method | setting | round 3 | round 6 | mean of rounds 4-6")
    assert "| FedAvg | server step 1 | 0.300 | 0.600 | **0.500** | 100 / 112 B |" in lines[2]
    assert "0.00 MB" in lines[2] and len(lines) == 4


def test_the_chosen_settings_are_the_recorded_sweeps_and_each_got_the_same_rule():
    from course_utils import benchmark_results

    sweep = benchmark_results.load("beyond_sweep")
    assert sweep["chosen"] == remedies.CHOSEN
    for name, chosen in sweep["chosen"].items():
        runs = {r["value"]: r for r in sweep["runs"] if r["method"] == name}
        assert set(remedies.grid(name)) <= set(runs)  # the same three for everyone
        # the chosen value is the best on the validation half, and not at an end of
        # the grid unless the grid was extended twice already
        assert chosen == max(runs, key=lambda v: runs[v]["validation_last3"])
        if chosen in (min(runs), max(runs)):
            assert len(runs) == len(remedies.GRID_FACTORS) + 2


def test_sweep_table_marks_the_chosen_value():
    from course_utils import benchmark_results

    result = {"rounds": 10, "chosen": {"FedAvg": 1.0}, "runs": [
        {"method": "FedAvg", "setting": "server step", "value": v,
         "validation_last3": acc, "test_last3": acc - 0.01}
        for v, acc in ((1 / 3, 0.5), (1.0, 0.7), (3.0, 0.6))]}
    table = benchmark_results.beyond_sweep_table(result).splitlines()
    assert "rounds 8-10" in table[0]
    assert table[2] == ("| FedAvg | server step | 0.333: 0.500 / 0.490; **1: 0.700 / 0.690**; "
                        "3: 0.600 / 0.590 | 1 |")


def test_the_command_lines_defaults_are_the_sweeps_choices():
    from course_utils import settings

    assert settings.FEDADAM_SERVER_LEARNING_RATE == remedies.CHOSEN["FedAdam"]
    assert f"{settings.FEDPROX_MU:.1g}" == f"{remedies.CHOSEN['FedProx']:.1g}"  # 0.01


def _histories(finals):
    """{method: {seed: history}} whose accuracy is 0.1 * round + the method's offset."""
    return {name: {seed: [{"round": r, "eval_accuracy": 0.1 * r + offsets[seed]}
                          for r in range(1, 7)] for seed in range(len(offsets))}
            for name, offsets in finals.items()}


def test_seed_summary_pairs_each_seed_with_the_baselines_same_seed():
    histories = _histories({"FedAvg": [0.0, 0.2, 0.0], "SCAFFOLD": [0.01, 0.21, -0.02]})
    final = remedies.seed_summary(histories)  # the mean of the last 3 rounds
    assert final["FedAvg"]["mean"] == pytest.approx(0.5 + 0.2 / 3)
    assert (final["FedAvg"]["min"], final["FedAvg"]["max"]) == pytest.approx((0.5, 0.7))
    scaffold_final = final["SCAFFOLD"]
    # paired: +0.01, +0.01, -0.02 (unpaired means would hide that one seed lost)
    assert scaffold_final["gap_mean"] == pytest.approx(0.0)
    assert (scaffold_final["gap_min"], scaffold_final["gap_max"]) == pytest.approx((-0.02, 0.01))
    assert scaffold_final["above"] == 2 and scaffold_final["seeds"] == 3
    early = remedies.seed_summary(histories, at_round=2)
    assert early["SCAFFOLD"]["min"] == pytest.approx(0.18)
    assert final["FedAvg"]["above"] == 0


def test_seed_table():
    histories = _histories({"FedAvg": [0.0, 0.1], "SCAFFOLD": [0.05, 0.12]})
    traffic = {"FedAvg": remedies.aggregation.Traffic(100, 112, {}),
               "SCAFFOLD": remedies.aggregation.Traffic(200, 212, {})}
    lines = remedies.seed_table(histories, traffic, 10, early=2).splitlines()
    assert lines[0].startswith("| method | setting | round 2 | vs FedAvg, round 2 | mean of "
                               "rounds 4-6 |")
    assert lines[2].startswith("| FedAvg | server step 1 | 0.250 (0.200 to 0.300) | · | "
                               "**0.550 (0.500 to 0.600)** | · |")
    assert ("| +0.035 (+0.020 to +0.050), above on 2 of 2 | **0.585 (0.550 to 0.620)** | "
            "+0.035 (+0.020 to +0.050), above on 2 of 2 |") in lines[3]
    assert "mean over 2 seeds" in lines[-1]
