"""`python -m course_utils train` with notebooks 09 and 10's algorithms and models: --model, the
registry's typed --extra options, held-out writers; the JSON keeps its shape."""

import json

import pytest

from course_utils import data
from course_utils.cli import algorithms, experiment
from course_utils.cli import main as cli
from course_utils.settings import CourseSettings

NEW = ["fedprox", "scaffold", "fedavgm", "fedadam"]


def train_json(capfd, *args):
    code = cli.main(["train", "--rounds", "1", "--clients-per-round", "2", "--epochs", "1",
                     "--json", "--no-progress", *args])
    out, err = capfd.readouterr()
    return code, out, err


def test_help_lists_the_new_algorithms_their_options_and_the_models(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in NEW:
        assert f"{name}:" in text
    for option in ("mu (default 0.01)", "momentum (default 0.9)", "beta_1 (default 0.9)",
                   "epsilon (default 0.001)"):
        assert option in text
    assert "--model {linear,cnn}" in text and "heldout_writers" in text


@pytest.mark.parametrize("name, args", [
    ("fedprox", ["--extra", "mu=0.1"]),
    ("scaffold", []),
    ("fedavgm", ["--extra", "momentum=0.5"]),
    ("fedadam", []),
    ("fedavg", ["--model", "cnn"]),
])
def test_new_algorithms_and_the_cnn_run_with_the_same_json(name, args, sample_dir, capfd):
    code, out, err = train_json(capfd, "--algorithm", name, "--data", str(sample_dir), *args)
    assert code == 0, err[-2000:]
    result = json.loads(out)
    assert set(result) == {"algorithm", "config", "rounds", "final"}
    assert set(result["rounds"][0]) == {"round", "seconds", "train_loss", "train_accuracy"}
    assert set(result["final"]) == {"split", "loss", "accuracy"}
    assert result["config"]["model"] == ("cnn" if "cnn" in args else "linear")
    assert 0.1 < result["final"]["accuracy"] <= 1.0  # one round of 2 clients learns a little
    if name == "fedadam":  # Adam's own default step, not SGD's 1.0
        assert result["config"]["server_learning_rate"] == 0.09
    if name == "fedprox":
        assert result["config"]["extra"] == {"mu": "0.1"}


@pytest.mark.parametrize("name, extra, message", [
    ("fedprox", "nu=1", "fedprox has no option 'nu'; its options are: mu"),
    ("fedavgm", "mu=1", "fedavgm has no option 'mu'; its options are: momentum"),
    ("fedadam", "beta=1", "its options are: beta_1, beta_2, epsilon"),
    ("scaffold", "mu=1", "scaffold has no option 'mu'; its options are: none"),
    ("fedprox", "mu=lots", "mu must be a number"),
    ("fedprox", "mu=-1", "mu must be 0 or more"),
    ("fedavgm", "momentum=1", "momentum must be in [0, 1)"),
])
def test_bad_extra_options_are_refused_before_any_data_is_read(name, extra, message, capfd):
    code, out, err = train_json(capfd, "--algorithm", name, "--data", "/nonexistent",
                                "--extra", extra)
    assert code == 2 and out == ""
    assert message in err


def test_an_algorithm_that_cannot_train_the_cnn_says_so(capfd):
    code, _, err = train_json(capfd, "--algorithm", "fedavg-clip", "--model", "cnn",
                              "--data", "/nonexistent")
    assert code == 2 and "fedavg-clip trains only --model linear" in err


def test_the_new_algorithms_train_both_models():
    for name in NEW + ["fedavg", "tff-fedavg"]:
        assert algorithms.get(name).models == ("linear", "cnn")
    assert algorithms.get("dp-fedavg").models == ("linear",)


def test_heldout_writers_are_never_trained_on(sample_dir):
    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    held = data.heldout_writer_ids(train.client_ids)
    assert len(held) == round(0.2 * len(train.client_ids))
    assert held == data.heldout_writer_ids(reversed(train.client_ids))  # deterministic
    rest = data.without_writers(train, held)
    assert set(rest.client_ids).isdisjoint(held)
    assert len(rest.client_ids) + len(held) == len(train.client_ids)
    evaluation = data.load_split(data.HELDOUT_SPLIT, str(sample_dir))
    assert sorted(evaluation.client_ids) == held
    config = CourseSettings(rounds=1, clients_per_round=2, epochs=1)
    result = experiment.run_experiment("fedavg", config, str(sample_dir),
                                       eval_split=data.HELDOUT_SPLIT, progress=False,
                                       log=None)
    assert result["final"]["split"] == "heldout_writers"


def test_writer_halves_are_disjoint_and_deterministic(sample_dir):
    _, test = data.load_emnist(data=str(sample_dir), verbose=False)
    first, second = data.writer_halves(test)
    assert set(first.client_ids).isdisjoint(second.client_ids)
    assert sorted(first.client_ids + second.client_ids) == sorted(test.client_ids)
    again, _ = data.writer_halves(test)
    assert sorted(again.client_ids) == sorted(first.client_ids)
