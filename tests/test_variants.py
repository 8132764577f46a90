"""FedAvg's variants of notebook 06 (course_utils.variants)."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from course_utils import fedavg, models
from course_utils.cli import algorithms
from course_utils import variants
from course_utils import training_loop
from course_utils.settings import CLIP_NORM, LR_DECAY, CourseSettings


def client_datasets(num_clients=3, batches=2, seed=0, scale=1.0):
    """Small deterministic client datasets in the course's element spec."""
    rng = np.random.default_rng(seed)
    datasets = []
    for _ in range(num_clients):
        n = 5 * batches
        x = (scale * rng.random((n, 784))).astype(np.float32)
        y = rng.integers(0, 10, (n, 1)).astype(np.int32)
        datasets.append(tf.data.Dataset.from_tensor_slices(
            collections.OrderedDict(x=x, y=y)).batch(5))
    return datasets


def run_rounds(process, rounds, data):
    state = process.initialize()
    for _ in range(rounds):
        state, metrics = process.next(state, data)
    return state, metrics


def assert_weights_close(a, b, **kwargs):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, **kwargs)


def global_norm(weights):
    return float(np.sqrt(sum(np.sum(np.square(w)) for w in weights)))


# --- midpoint ------------------------------------------------------------------------

def test_midpoint_server_update_is_halfway():
    result = variants.midpoint_server_update(
        [np.array([0.0, 2.0]), np.array(4.0)], [np.array([2.0, 2.0]), np.array(0.0)])
    assert_weights_close(result, [np.array([1.0, 2.0]), np.array(2.0)])


def test_midpoint_process_moves_halfway_to_fedavg():
    data = client_datasets()
    plain_state, _ = run_rounds(fedavg.build_unweighted_fedavg_process(0.3), 1, data)
    process = variants.build_midpoint_process(0.3)
    state, metrics = run_rounds(process, 1, data)
    # Both start from zero weights, so the midpoint is half of FedAvg's new weights.
    assert_weights_close(state, [0.5 * w for w in plain_state], rtol=1e-5, atol=1e-7)
    assert set(metrics) == {"loss", "accuracy"}
    assert process.get_model_weights(state) is state


def test_midpoint_process_has_fedavg_signature_and_two_argument_server_step():
    process = variants.build_midpoint_process()
    plain = fedavg.build_unweighted_fedavg_process()
    assert str(process.next.type_signature) == str(plain.next.type_signature)
    assert str(process.server_update_fn.type_signature).startswith(
        "(<server_weights=<float32[784,10],float32[10]>,"
        "mean_client_weights=<float32[784,10],float32[10]>> ->")


def test_midpoint_process_accepts_a_custom_server_update():
    data = client_datasets()
    stay = variants.build_midpoint_process(server_update=lambda s, m: s)
    state, _ = run_rounds(stay, 2, data)
    assert global_norm(state) == 0.0


# --- clipping ------------------------------------------------------------------------

def test_clipped_process_with_a_large_bound_is_fedavg():
    data = client_datasets()
    plain, _ = run_rounds(fedavg.build_unweighted_fedavg_process(0.3), 2, data)
    clipped, _ = run_rounds(variants.build_clipped_process(0.3, clip_norm=1e6), 2,
                            data)
    assert_weights_close(clipped, plain, rtol=1e-5, atol=1e-7)


def test_clipped_process_bounds_each_step():
    data = client_datasets(scale=100.0)  # huge inputs, huge gradients
    lr, clip, steps = 0.3, 0.1, 2
    state, _ = run_rounds(variants.build_clipped_process(lr, clip_norm=clip), 1,
                          data)
    # Each client moves at most steps * lr * clip; so does their mean.
    assert global_norm(state) <= steps * lr * clip * 1.0001
    plain, _ = run_rounds(fedavg.build_unweighted_fedavg_process(lr), 1, data)
    assert global_norm(plain) > 10 * steps * lr * clip


def test_clipped_client_update_clips_by_global_norm():
    model = models.create_keras_model()
    zeros = [np.zeros(v.shape, np.float32) for v in model.trainable_variables]
    dataset = client_datasets(num_clients=1, batches=1, scale=100.0)[0]
    weights, totals = variants.clipped_client_update(model, dataset, zeros, 1.0,
                                                            0.25)
    assert global_norm([w.numpy() for w in weights]) == pytest.approx(0.25, rel=1e-4)
    assert float(totals["num_examples"]) == 5.0


def test_clip_norm_must_be_positive():
    with pytest.raises(ValueError, match="clip_norm must be positive"):
        variants.build_clipped_process(0.3, clip_norm=0.0)


# --- learning-rate decay -------------------------------------------------------------

def test_lr_decay_state_carries_and_decays_the_rate():
    process = variants.build_lr_decay_process(0.5, 0.8)
    state = process.initialize()
    assert list(state) == ["weights", "learning_rate"]
    rates = [variants.learning_rate_of(state)]
    data = client_datasets()
    for _ in range(3):
        state, _ = process.next(state, data)
        rates.append(variants.learning_rate_of(state))
    np.testing.assert_allclose(rates, [0.5, 0.4, 0.32, 0.256], rtol=1e-6)
    assert process.get_model_weights(state) is state["weights"]


def test_lr_decay_without_decay_is_fedavg():
    data = client_datasets()
    plain, _ = run_rounds(fedavg.build_unweighted_fedavg_process(0.3), 2, data)
    state, _ = run_rounds(variants.build_lr_decay_process(0.3, 1.0), 2, data)
    assert_weights_close(state["weights"], plain, rtol=1e-5, atol=1e-7)


def test_lr_decay_first_round_uses_the_initial_rate():
    data = client_datasets()
    plain, _ = run_rounds(fedavg.build_unweighted_fedavg_process(0.3), 1, data)
    state, _ = run_rounds(variants.build_lr_decay_process(0.3, 0.5), 1, data)
    assert_weights_close(state["weights"], plain, rtol=1e-5, atol=1e-7)


def test_lr_decay_type_signatures_show_the_rate():
    process = variants.build_lr_decay_process()
    assert "learning_rate=float32>@SERVER" in str(process.initialize.type_signature)
    assert ",learning_rate=float32> ->" in str(process.client_update_fn.type_signature)
    assert str(process.server_update_fn.type_signature).startswith(
        "(<mean_client_weights=<float32[784,10],float32[10]>,learning_rate=float32>")


def test_run_training_evaluates_the_weights_inside_the_state():
    data = client_datasets()
    process = variants.build_lr_decay_process(0.3, 0.9)
    seen = []

    def evaluate(weights):
        seen.append([np.shape(w) for w in weights])
        return {"accuracy": 0.0}

    _, history = training_loop.run_training(process, 2, lambda r: data, evaluate=evaluate,
                                       progress=False)
    assert len(history) == 2 and seen[0] == [(784, 10), (10,)]


# --- the train command's registry ----------------------------------------------------

@pytest.mark.parametrize("name, build", [
    ("fedavg-midpoint", lambda: variants.build_midpoint_process(0.1)),
    ("fedavg-clip", lambda: variants.build_clipped_process(0.1, CLIP_NORM)),
    ("fedavg-lr-decay", lambda: variants.build_lr_decay_process(0.1, LR_DECAY)),
])
def test_algorithms_are_registered_and_build_the_solution(name, build):
    """The registry's entry trains exactly what the solution's builder does, with the
    settings' learning rate and the option's default."""
    process = algorithms.get(name).build(CourseSettings(client_learning_rate=0.1))
    data = client_datasets(num_clients=2)
    state, metrics = run_rounds(process, 2, data)
    expected_state, expected_metrics = run_rounds(build(), 2, data)
    assert_weights_close(tf.nest.flatten(state), tf.nest.flatten(expected_state), atol=1e-6)
    assert float(metrics["loss"]) == pytest.approx(float(expected_metrics["loss"]), rel=1e-5)
    other = algorithms.get(name).build(CourseSettings(client_learning_rate=0.3))
    moved, _ = run_rounds(other, 2, data)  # the learning rate is used
    assert not np.allclose(tf.nest.flatten(moved)[0], tf.nest.flatten(state)[0])


def test_train_config_options_are_used():
    config = CourseSettings(client_learning_rate=0.5, extra={"decay": "0.5"})
    process = algorithms.get("fedavg-lr-decay").build(config)
    state, _ = run_rounds(process, 1, client_datasets(num_clients=2))
    assert variants.learning_rate_of(state) == pytest.approx(0.25)
    config = CourseSettings(client_learning_rate=0.5, extra={"clip_norm": "1e-3"})
    clipped = algorithms.get("fedavg-clip").build(config)
    state, _ = run_rounds(clipped, 1, client_datasets(num_clients=2, batches=1))
    assert global_norm(state) <= 0.5 * 1e-3 * 1.0001


@pytest.mark.parametrize("name, extra, message", [
    ("fedavg-clip", {"clip_norm": "big"}, "must be a number"),
    ("fedavg-clip", {"clip_norm": -1}, "must be greater than 0"),
    ("fedavg-lr-decay", {"decay": 1.5}, r"decay must be in \(0, 1\]"),
    ("fedavg-clip", {"clipnorm": 0.1}, "has no option 'clipnorm'; its options are: clip_norm"),
])
def test_bad_options_are_explained(name, extra, message):
    with pytest.raises(ValueError, match=message):
        algorithms.get(name).build(CourseSettings(extra=extra))


# --- notebook 06's faulty clients and update clipping ---------------------------------

def test_faulty_data_scales_exactly_the_faulty_clients_inputs(sample_dir):
    from course_utils import data
    from course_utils.comparison import Comparison

    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    comparison = Comparison(train, rounds=1, evaluate=None, epochs=1, seed=3)
    clients = comparison.clients_for_round(1)
    faulty = set(clients[::2])
    faulty_round = variants.faulty_data_for_round(comparison, faulty, 100.0)(1)
    clean_round = comparison.data_for_round(1)
    assert len(faulty_round) == len(clients)
    for cid, bad, good in zip(clients, faulty_round, clean_round):
        bad_x = np.concatenate([b["x"].numpy() for b in bad])
        good_x = np.concatenate([b["x"].numpy() for b in good])  # same clients, shuffling
        np.testing.assert_allclose(bad_x, good_x * (100.0 if cid in faulty else 1.0),
                                   rtol=1e-6)


def test_update_clipping_bounds_the_whole_update_once():
    model = models.create_keras_model()
    zeros = [np.zeros(v.shape, np.float32) for v in model.trainable_variables]
    dataset = client_datasets(num_clients=1, batches=4, scale=50.0)[0]
    plain, _ = fedavg.client_update(model, dataset, zeros, 0.3)
    clipped, _ = variants.update_clipping_client_update(0.5)(model, dataset, zeros, 0.3)
    assert global_norm(plain) > 0.5
    assert global_norm(clipped) == pytest.approx(0.5, rel=1e-4)
    direction = [p / global_norm(plain) * 0.5 for p in plain]  # the same direction
    assert_weights_close(clipped, direction, rtol=1e-3, atol=1e-6)
    loose, _ = variants.update_clipping_client_update(1e6)(model, dataset, zeros, 0.3)
    assert_weights_close(loose, plain, rtol=1e-5, atol=1e-7)
