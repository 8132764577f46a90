"""course_utils.evaluation: the one central evaluator, against Keras' evaluate."""

import collections

import numpy as np
import pytest

from course_utils import data, evaluation, fedavg, models


@pytest.fixture(scope="module")
def test_set(sample_dir):
    _, test = data.load_emnist(data=str(sample_dir), verbose=False)
    return data.central_dataset(test)


@pytest.fixture(scope="module")
def trained(sample_dir):
    """Weights after one FedAvg round on 5 offline clients (not a random model)."""
    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    process = fedavg.build_unweighted_fedavg_process(0.3)
    state, _ = process.next(process.initialize(), data.make_federated_data(
        train, train.client_ids[:5], epochs=2))
    return [np.asarray(w) for w in state]


def test_same_numbers_as_keras(test_set, trained):
    ours = evaluation.central_evaluator(test_set)(trained)
    keras = models.evaluate_keras(trained, test_set)
    assert ours["accuracy"] == pytest.approx(keras["accuracy"], abs=1e-6)
    assert ours["loss"] == pytest.approx(keras["loss"], rel=1e-5)
    assert abs(ours["loss"] - np.log(10)) > 0.1  # not the zero model's ln 10


def test_zero_weights_give_chance_loss_and_the_share_of_label_0(test_set):
    """Zero weights: every class equally likely (loss ln 10), and argmax picks 0."""
    _, y = evaluation.dataset_arrays(test_set)
    zeros = [np.zeros((784, 10), np.float32), np.zeros(10, np.float32)]
    result = evaluation.central_evaluator(test_set)(zeros)
    assert result["loss"] == pytest.approx(np.log(10), rel=1e-6)
    assert result["accuracy"] == pytest.approx(np.mean(y == 0), abs=1e-12)


def test_every_form_of_weights_a_process_gives(test_set, trained):
    import tensorflow_federated as tff

    evaluate = evaluation.central_evaluator(test_set)
    expected = evaluate(trained)
    assert evaluate(tff.learning.models.ModelWeights(trained, [])) == expected
    lr_decay_state = collections.OrderedDict(weights=trained, learning_rate=0.1)
    assert evaluate(lr_decay_state) == expected
    assert evaluate([w * 0 for w in trained]) != expected  # reused with other weights
    assert evaluate(trained) == expected


def test_dataset_arrays_keeps_every_example_in_order(test_set):
    x, y = evaluation.dataset_arrays(test_set)
    batches = list(test_set.as_numpy_iterator())
    assert x.shape == (sum(len(b["y"]) for b in batches), 784) and x.dtype == np.float32
    np.testing.assert_array_equal(y[: len(batches[0]["y"])], batches[0]["y"].reshape(-1))
    np.testing.assert_array_equal(x[-1], batches[-1]["x"][-1])
