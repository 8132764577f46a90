"""`python -m course_utils`: train's JSON and text output, the data command, runs on
several workers, Ctrl-C, and one clean line with exit code 2 for every user error."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import psutil
import pytest

from conftest import assert_same_round_data, wait_gone

from course_utils import data
from course_utils.cli import algorithms, experiment
from course_utils.cli import main as cli
from course_utils.settings import CourseSettings

ROUND_KEYS = {"round", "seconds", "train_loss", "train_accuracy"}
# A small run several tests share: 2 rounds of 4 clients, 1 local epoch.
SMALL = CourseSettings(rounds=2, clients_per_round=4, epochs=1, seed=4)
SMALL_ARGS = ["--rounds", "2", "--clients-per-round", "4", "--epochs", "1", "--seed", "4"]


def run_cli(*args, timeout=600):
    """`python -m course_utils ARGS` in a child process; stdout/stderr via files."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        result = subprocess.run([sys.executable, "-m", "course_utils", *args],
                                stdout=out, stderr=err, timeout=timeout,
                                env={**os.environ, "COURSE_DATA": "sample", "COURSE_PROGRESS": "1"})
        out.seek(0)
        err.seek(0)
        result.stdout, result.stderr = out.read(), err.read()
    return result


@pytest.fixture(scope="module")
def small_run(sample_dir):
    """run_experiment's result for SMALL, the reference the other runs must equal."""
    return experiment.run_experiment("fedavg", SMALL, str(sample_dir), progress=False,
                                     log=None)


def check_result(result: dict, algorithm: str, rounds: int):
    assert set(result) == {"algorithm", "config", "rounds", "final"}
    assert result["algorithm"] == algorithm
    assert result["config"]["rounds"] == rounds
    assert [r["round"] for r in result["rounds"]] == list(range(1, rounds + 1))
    for row in result["rounds"]:
        assert set(row) == ROUND_KEYS and row["seconds"] > 0
    assert set(result["final"]) == {"split", "loss", "accuracy"}
    assert result["final"]["split"] == "digits_only_test"
    # It learns. 3 rounds of 5 of the bundled writers, seeds 0-4, both FedAvgs: final
    # test accuracy 0.733-0.764 and loss 1.04-1.11 (zero weights: 0.1 and ln 10 = 2.30).
    # (Training accuracy is measured on other clients each round: too noisy to test.)
    assert result["final"]["accuracy"] > 0.70, result["final"]
    assert result["final"]["loss"] < 1.2, result["final"]


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


def test_train_text_output_reports_the_run(sample_dir, small_run, capfd):
    """Without --json: a table of the rounds and one line with the final evaluation,
    the same numbers as the run's result."""
    code = cli.main(["train", "--algorithm", "fedavg", *SMALL_ARGS, "--data",
                     str(sample_dir), "--no-progress"])
    out, err = capfd.readouterr()
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["round", "seconds", "train", "loss", "train", "acc"]
    rows = [line.split() for line in lines[1:-1]]
    assert [int(row[0]) for row in rows] == [1, 2]
    for row, expected in zip(rows, small_run["rounds"]):
        assert float(row[2]) == pytest.approx(expected["train_loss"], abs=2e-4)
        assert float(row[3]) == pytest.approx(expected["train_accuracy"], abs=2e-4)
    final = re.fullmatch(r"fedavg: central evaluation on digits_only_test: "
                         r"loss (\S+), accuracy (\S+)", lines[-1])
    assert final, lines[-1]
    assert float(final[1]) == pytest.approx(small_run["final"]["loss"], abs=2e-4)
    assert float(final[2]) == pytest.approx(small_run["final"]["accuracy"], abs=2e-4)


def test_run_experiment_other_split_and_fixed_clients(sample_dir):
    config = CourseSettings(rounds=2, clients_per_round=3, epochs=1, fixed_clients=True)
    result = experiment.run_experiment("fedavg", config, str(sample_dir),
                                       eval_split="digits_only_train", progress=False,
                                       log=None)
    assert result["final"]["split"] == "digits_only_train"
    assert result["config"]["fixed_clients"] is True


def test_same_clients_as_the_notebooks(sample_dir):
    """federated_data_for_round gives round r the datasets a notebook builds with
    data.sample_clients(ids, n, r, seed) and data.make_federated_data (or the first n
    clients with fixed_clients): the same clients, batches and shuffling."""
    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    ids = train.client_ids
    config = CourseSettings(clients_per_round=4, seed=3, epochs=2, batch_size=10)
    data_for_round = data.federated_data_for_round(train, config)

    def notebook_round(clients):
        return data.make_federated_data(train, clients, epochs=2, batch_size=10, seed=3)

    assert_same_round_data(data_for_round(2), notebook_round(data.sample_clients(ids, 4, 2, 3)))
    assert_same_round_data(data_for_round(5), notebook_round(data.sample_clients(ids, 4, 5, 3)))
    with pytest.raises(AssertionError):  # another round has other clients
        assert_same_round_data(data_for_round(2), data_for_round(5))

    fixed = data.federated_data_for_round(train, CourseSettings(
        clients_per_round=4, fixed_clients=True, seed=3, epochs=2, batch_size=10))
    assert_same_round_data(fixed(1), notebook_round(ids[:4]))
    assert_same_round_data(fixed(7), notebook_round(ids[:4]))


def test_train_on_two_real_workers_equals_one_process(sample_dir, small_run, monkeypatch,
                                                      capfd):
    """--workers 2 runs TFF's distributed runtime on two local workers: each trains
    half of every round's clients, and the model is the single-process one."""
    from course_utils.runtime import cluster

    real_context, pools, pids = cluster.distributed_context, [], []

    @contextlib.contextmanager
    def watched_context(num_workers):
        with real_context(num_workers) as pool:
            pools.append(pool)
            pids.extend(pool.pids)
            yield pool

    monkeypatch.setattr(cluster, "distributed_context", watched_context)
    code = cli.main(["train", "--algorithm", "fedavg", *SMALL_ARGS, "--data",
                     str(sample_dir), "--workers", "2", "--json", "--no-progress"])
    out, err = capfd.readouterr()
    assert code == 0, err
    payload = json.loads(out)
    assert payload["config"]["workers"] == 2
    [pool] = pools
    # Each worker got its half (2 of 4 clients) in both rounds; the worker that merges
    # a round is sent a share once more (TFF's after_merge step).
    assert all(len(sent) >= 2 and set(sent) == {2} for sent in pool.clients_sent), \
        pool.clients_sent
    assert len(pids) == 2 and all(wait_gone(pid) for pid in pids)
    assert payload["final"]["accuracy"] == pytest.approx(small_run["final"]["accuracy"],
                                                         abs=1e-6)
    assert payload["final"]["loss"] == pytest.approx(small_run["final"]["loss"], rel=1e-5)
    assert [r["train_loss"] for r in payload["rounds"]] == pytest.approx(
        [r["train_loss"] for r in small_run["rounds"]], rel=1e-5)


def test_ctrl_c_stops_training_and_the_workers(sample_dir):
    """Ctrl-C during `train --workers 2`: exit 130 with one line, no traceback, and
    both workers stopped (the cluster does not wait for running subrounds then)."""
    err_path = tempfile.NamedTemporaryFile(delete=False).name
    with open(err_path, "w") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "course_utils", "train", "--algorithm", "fedavg",
             "--rounds", "500", "--clients-per-round", "4", "--epochs", "1",
             "--data", str(sample_dir), "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "COURSE_PROGRESS": "1"})
    try:
        deadline = time.monotonic() + 300
        while "2/500" not in open(err_path).read():  # training is under way
            assert child.poll() is None, open(err_path).read()[-3000:]
            assert time.monotonic() < deadline, open(err_path).read()[-3000:]
            time.sleep(0.2)
        worker_pids = [p.pid for p in psutil.Process(child.pid).children()
                       if p.name() == "worker_binary"]
        assert len(worker_pids) == 2
        child.send_signal(signal.SIGINT)
        # It must end, and end as interrupted; how fast depends on the machine's load
        # (a busy CI machine took over 60 s to get the child scheduled and drained).
        assert child.wait(timeout=300) == cli.INTERRUPTED
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    stderr = open(err_path).read()
    os.unlink(err_path)
    assert "Traceback" not in stderr, stderr[-3000:]
    assert stderr.rstrip().splitlines()[-1].startswith("interrupted (Ctrl-C)")
    assert all(wait_gone(pid) for pid in worker_pids)


def test_data_command_describes_the_dataset(sample_dir, capsys):
    assert cli.main(["data", "--data", str(sample_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    source = data.resolve_source(str(sample_dir))
    splits = data.check_sqlite(source.sqlite_path)
    assert lines[:2] == [data.describe(source), str(source.sqlite_path)]
    assert lines[2:] == [f"  {split}: {count} clients" for split, count in sorted(splits.items())]
    assert splits["digits_only_train"] > 0


def test_doctor_and_data_commands_still_exist():
    parser = cli.build_parser()
    assert parser.parse_args(["data", "--data", "offline"]).run is cli._data
    assert parser.parse_args(["doctor"]).run is cli._doctor


# --- user errors: exit 2, one line naming the problem and what works ---------------

ALGORITHM_NAMES = ", ".join(algorithms.available())  # the registry, in order


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error:" in lines[0]
    return lines[0]


USAGE_ERRORS = [
    ([], ["required: command", "doctor, data, nav, train"]),
    (["nope"], ["invalid choice: 'nope'", "'doctor', 'data', 'nav', 'train'"]),
    (["train"], ["required: --algorithm", ALGORITHM_NAMES]),
    (["train", "--algorithm", "no-such-thing"],
     ["invalid choice: 'no-such-thing'", "'fedavg', 'fedavg-clip'", "'tff-fedavg'"]),
    (["train", "--algorithm", "fedavg", "--rounds", "0"], ["--rounds: must be at least 1"]),
    (["train", "--algorithm", "fedavg", "--rounds", "2.5"],
     ["--rounds: expected a whole number, got '2.5'"]),
    (["train", "--algorithm", "fedavg", "--clients-per-round", "x"],
     ["--clients-per-round: expected a whole number"]),
    (["train", "--algorithm", "fedavg", "--epochs", "-1"], ["--epochs: must be at least 1"]),
    (["train", "--algorithm", "fedavg", "--batch-size", "0"], ["--batch-size: must be at least 1"]),
    (["train", "--algorithm", "fedavg", "--seed", "-1"], ["--seed: must be 0 or more"]),
    (["train", "--algorithm", "fedavg", "--seed", "x"], ["--seed: expected a whole number"]),
    (["train", "--algorithm", "fedavg", "--client-learning-rate", "fast"],
     ["--client-learning-rate: expected a number, got 'fast'"]),
    (["train", "--algorithm", "fedavg", "--client-learning-rate", "nan"],
     ["--client-learning-rate: must be a number greater than 0"]),
    (["train", "--algorithm", "fedavg", "--server-learning-rate", "0"],
     ["--server-learning-rate: must be a number greater than 0"]),
    (["train", "--algorithm", "fedavg", "--extra", "novalue"], ["expected KEY=VALUE"]),
    (["train", "--algorithm", "fedavg-clip", "--extra", "clipnorm=0.1"],
     ["has no option 'clipnorm'", "its options are: clip_norm"]),
    (["train", "--algorithm", "fedavg-clip", "--extra", "clip_norm=big"],
     ["clip_norm must be a number"]),
    (["train", "--algorithm", "fedavg-lr-decay", "--extra", "decay=2"],
     ["decay must be in (0, 1]"]),
    (["train", "--algorithm", "fedavg", "--extra", "clip_norm=1"],
     ["fedavg has no option 'clip_norm'", "its options are: none"]),
    (["train", "--algorithm", "fedavg", "--workers", "0"], ["--workers: must be at least 1"]),
    (["train", "--algorithm", "fedavg", "--workers", "two"], ["--workers: expected a whole"]),
    (["train", "--algorithm", "fedavg", "--workers", "5", "--clients-per-round", "4"],
     ["--workers 5 with --clients-per-round 4", "use at most 4 workers"]),
    (["train", "--algorithm", "fedavg", "--data", "no/such/dir"],
     ["'no/such/dir' is not one of sample, emnist",
      "no/such/dir/emnist_all.sqlite does not exist"]),
    (["data", "--data", "no/such/dir"], ["no/such/dir/emnist_all.sqlite does not exist"]),
    (["nav", "notebooks/99_missing.ipynb"],
     ["nav notebooks/99_missing.ipynb: not a notebook", "or none (all of them)"]),
]


@pytest.mark.parametrize("args, phrases", USAGE_ERRORS,
                         ids=[" ".join(args) or "(nothing)" for args, _ in USAGE_ERRORS])
def test_user_errors_exit_2_with_one_line(args, phrases, capsys):
    try:
        code = cli.main(args)
    except SystemExit as exit_info:  # argparse's own errors
        code = exit_info.code
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    line = _one_error_line(captured.err)
    for phrase in phrases:
        assert phrase in line, line


@pytest.mark.parametrize("args, phrase", [
    (["--eval-split", "nope"], "No split 'nope'"),
    (["--clients-per-round", "1000"], "--clients-per-round must be between 1 and "),
])
def test_user_errors_found_in_the_data_exit_2_with_one_line(args, phrase, sample_dir,
                                                            capsys):
    code = cli.main(["train", "--algorithm", "fedavg", "--data", str(sample_dir),
                     "--json", "--no-progress", *args])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    line = _one_error_line(captured.err)
    assert phrase in line
    splits = data.check_sqlite(data.resolve_source(str(sample_dir)).sqlite_path)
    if "split" in phrase:  # names the splits that exist
        assert ", ".join(sorted(splits)) in line
    else:  # names how many clients there are
        assert f"between 1 and {splits['digits_only_train']} (the number of clients)" in line


def test_worker_that_cannot_start_is_one_line_exit_1(sample_dir, monkeypatch, capsys):
    from course_utils.runtime import workers

    monkeypatch.setattr(workers, "worker_binary_path", lambda: "/bin/false")
    code = cli.main(["train", "--algorithm", "fedavg", "--data", str(sample_dir),
                     "--workers", "2", "--no-progress", *SMALL_ARGS])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 1 and "TFF worker on port" in line and "exited at start" in line


@pytest.mark.parametrize("args, phrases", [
    (["--algorithm", "fedavgg"], ["invalid choice: 'fedavgg'", "'fedavg'", "'tff-fedavg'"]),
    (["--algorithm", "fedavg-clip", "--extra", "clip_norm=big"], ["clip_norm must be a number"]),
])
def test_user_errors_in_a_terminal(args, phrases):
    """The real command (python -m course_utils): exit 2, one line, no traceback."""
    result = run_cli("train", *args, timeout=300)
    assert result.returncode == 2 and result.stdout == ""
    line = _one_error_line(result.stderr)
    for phrase in phrases:
        assert phrase in line, line


def test_unknown_algorithm_in_run_experiment(sample_dir):
    with pytest.raises(ValueError, match="Unknown algorithm 'x'.*fedavg"):
        experiment.run_experiment("x", data_arg=str(sample_dir), log=None)


def test_run_experiment_is_reproducible(sample_dir, small_run):
    """Same config, same result, whatever the process did before (global seeds reset)."""
    import tensorflow as tf

    tf.random.set_seed(12345)  # disturb the global seed, as other code might
    again = experiment.run_experiment("fedavg", SMALL, str(sample_dir), progress=False,
                                      log=None)
    # The same model, up to float rounding (TFF's runtime may add up the clients' results
    # in a different order).
    assert again["final"]["accuracy"] == pytest.approx(small_run["final"]["accuracy"],
                                                       abs=1e-6)
    assert again["final"]["loss"] == pytest.approx(small_run["final"]["loss"], rel=1e-5)
    assert [r["train_loss"] for r in again["rounds"]] == pytest.approx(
        [r["train_loss"] for r in small_run["rounds"]], rel=1e-5)
