"""`python -m course_utils train`: JSON output for both FedAvg implementations, progress
on stderr, and clear errors (exit code 2) for bad arguments."""

import json
import os
import subprocess
import sys
import tempfile

import pytest

from course_utils.cli import main as cli
from course_utils.cli import experiment
from course_utils.settings import CourseSettings

ROUND_KEYS = {"round", "seconds", "train_loss", "train_accuracy"}


def run_cli(*args, timeout=600):
    """`python -m course_utils ARGS` in a child process; stdout/stderr via files."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        result = subprocess.run([sys.executable, "-m", "course_utils", *args],
                                stdout=out, stderr=err, timeout=timeout,
                                env={**os.environ, "COURSE_DATA": "sample"})
        out.seek(0)
        err.seek(0)
        result.stdout, result.stderr = out.read(), err.read()
    return result


def check_result(result: dict, algorithm: str, rounds: int):
    assert set(result) == {"algorithm", "config", "rounds", "final"}
    assert result["algorithm"] == algorithm
    assert result["config"]["rounds"] == rounds
    assert [r["round"] for r in result["rounds"]] == list(range(1, rounds + 1))
    for row in result["rounds"]:
        assert set(row) == ROUND_KEYS
        assert row["seconds"] > 0 and 0 <= row["train_accuracy"] <= 1
    assert set(result["final"]) == {"split", "loss", "accuracy"}
    assert result["final"]["split"] == "digits_only_test"
    # It learns: training accuracy rises and the final model is well above chance (0.1).
    assert result["rounds"][-1]["train_accuracy"] > result["rounds"][0]["train_accuracy"]
    assert result["final"]["accuracy"] > 0.3, result["final"]


def test_train_json_fedavg_in_a_terminal(sample_dir):
    """The real command: stdout is exactly one JSON object, the progress bar on stderr."""
    result = run_cli("train", "--algorithm", "fedavg", "--rounds", "3",
                     "--clients-per-round", "5", "--data", str(sample_dir), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads(result.stdout)  # fails if anything else is on stdout
    check_result(payload, "fedavg", 3)
    assert payload["config"]["clients_per_round"] == 5
    assert "Data: EMNIST-format data from" in result.stderr
    assert "3/3" in result.stderr  # tqdm's progress bar


def test_train_json_tff_fedavg(sample_dir, capfd):
    code = cli.main(["train", "--algorithm", "tff-fedavg", "--rounds", "3",
                     "--clients-per-round", "5", "--seed", "1", "--data", str(sample_dir),
                     "--json", "--no-progress"])
    out, err = capfd.readouterr()
    assert code == 0, err
    payload = json.loads(out)
    check_result(payload, "tff-fedavg", 3)
    assert payload["config"]["seed"] == 1


def test_run_experiment_other_split_and_fixed_clients(sample_dir):
    config = CourseSettings(rounds=2, clients_per_round=3, epochs=1, fixed_clients=True)
    result = experiment.run_experiment("fedavg", config, str(sample_dir),
                                       eval_split="digits_only_train", progress=False,
                                       log=None)
    assert result["final"]["split"] == "digits_only_train"
    assert result["config"]["fixed_clients"] is True


def test_same_clients_as_the_notebooks(sample_dir):
    """federated_data_for_round samples with data.sample_clients, seeded per round."""
    from course_utils import data

    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    config = CourseSettings(clients_per_round=4, seed=3)
    datasets = experiment.federated_data_for_round(train, config)(2)
    assert len(datasets) == 4
    fixed = experiment.federated_data_for_round(
        train, CourseSettings(clients_per_round=4, fixed_clients=True))
    assert len(fixed(1)) == 4


@pytest.mark.parametrize("args, message", [
    (["--algorithm", "no-such-thing"], "invalid choice: 'no-such-thing'"),
    (["--algorithm", "fedavg", "--rounds", "0"], "must be at least 1"),
    (["--algorithm", "fedavg", "--clients-per-round", "x"], "expected a whole number"),
    (["--algorithm", "fedavg", "--extra", "novalue"], "expected KEY=VALUE"),
])
def test_bad_arguments_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    if "invalid choice" in message:
        assert "fedavg" in err and "tff-fedavg" in err  # lists what exists


def test_directory_without_sqlite(tmp_path, capsys):
    code = cli.main(["train", "--algorithm", "fedavg", "--data", str(tmp_path), "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "emnist_all.sqlite does not exist" in captured.err


def test_unknown_split_lists_the_existing_ones(sample_dir, capsys):
    code = cli.main(["train", "--algorithm", "fedavg", "--data", str(sample_dir),
                     "--eval-split", "nope", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "No split 'nope'" in captured.err
    assert "digits_only_test, digits_only_train" in captured.err


def test_too_many_clients_per_round(sample_dir, capsys):
    code = cli.main(["train", "--algorithm", "fedavg", "--data", str(sample_dir),
                     "--clients-per-round", "1000", "--no-progress"])
    assert code == 2
    assert "--clients-per-round must be between 1 and 150" in capsys.readouterr().err


def test_unknown_algorithm_in_run_experiment(sample_dir):
    with pytest.raises(ValueError, match="Unknown algorithm 'x'.*fedavg"):
        experiment.run_experiment("x", data_arg=str(sample_dir), log=None)


def test_workers_option_uses_the_distributed_context(sample_dir, monkeypatch, capfd):
    """--workers N > 1 runs inside cluster.distributed_context(N)."""
    import contextlib

    from course_utils.runtime import cluster

    entered = []

    @contextlib.contextmanager
    def fake_context(num_workers):
        entered.append(num_workers)
        yield None

    monkeypatch.setattr(cluster, "distributed_context", fake_context)
    code = cli.main(["train", "--algorithm", "fedavg", "--rounds", "1",
                     "--clients-per-round", "2", "--epochs", "1", "--data",
                     str(sample_dir), "--workers", "3", "--json", "--no-progress"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert entered == [3]
    payload = json.loads(out)
    assert payload["final"]["split"] == "digits_only_test"
    assert payload["config"]["workers"] == 3


def test_doctor_and_data_commands_still_exist():
    parser = cli.build_parser()
    assert parser.parse_args(["data", "--data", "offline"]).run is cli._data
    assert parser.parse_args(["doctor"]).run is cli._doctor


def test_run_experiment_is_reproducible(sample_dir):
    """Same config, same result, whatever the process did before (global seeds reset)."""
    import tensorflow as tf

    config = CourseSettings(rounds=2, clients_per_round=3, epochs=1, seed=4)
    first = experiment.run_experiment("fedavg", config, str(sample_dir), progress=False,
                                      log=None)
    tf.random.set_seed(12345)  # disturb the global seed, as other code might
    second = experiment.run_experiment("fedavg", config, str(sample_dir), progress=False,
                                       log=None)
    # The same model, up to float rounding (TFF's runtime may add up the clients' results
    # in a different order).
    assert first["final"]["accuracy"] == pytest.approx(second["final"]["accuracy"], abs=1e-6)
    assert first["final"]["loss"] == pytest.approx(second["final"]["loss"], rel=1e-5)
    assert [r["train_loss"] for r in first["rounds"]] == pytest.approx(
        [r["train_loss"] for r in second["rounds"]], rel=1e-5)
