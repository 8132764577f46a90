"""SCAFFOLD built by hand (course_utils.scaffold): the same numbers as a NumPy version
of the update rule on a tiny problem, per-client state kept between rounds, traffic."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from course_utils import data, fedavg, scaffold

FEATURES, CLASSES, LR, NUM_CLIENTS = 5, 3, 0.2, 4
SPEC = collections.OrderedDict(x=tf.TensorSpec([None, FEATURES], tf.float32),
                               y=tf.TensorSpec([None, 1], tf.int32))


def tiny_model():
    return tf.keras.Sequential([
        tf.keras.layers.InputLayer(input_shape=(FEATURES,)),
        tf.keras.layers.Dense(CLASSES, kernel_initializer="zeros"),
        tf.keras.layers.Softmax()])


rng = np.random.default_rng(1)
CLIENTS = {cid: (rng.normal(size=(n, FEATURES)).astype(np.float32),
                 rng.integers(0, CLASSES, (n, 1)).astype(np.int32))
           for cid, n in [("a", 9), ("b", 6), ("c", 4), ("d", 7)]}
ROUNDS = [["a", "b", "c"], ["b", "d"], ["a", "c", "d"]]  # "d" joins late, "b" skips one


def dataset(cid, batch_size=3, epochs=2):
    x, y = CLIENTS[cid]
    return tf.data.Dataset.from_tensor_slices(
        collections.OrderedDict(x=x, y=y)).batch(batch_size).repeat(epochs)


def batches(cid, batch_size=3, epochs=2):
    x, y = CLIENTS[cid]
    return [(x[i:i + batch_size], y[i:i + batch_size])
            for _ in range(epochs) for i in range(0, len(y), batch_size)]


@pytest.fixture(scope="module")
def process():
    return scaffold.build_scaffold_process(LR, 1.0, model_fn=tiny_model, element_spec=SPEC)


def start_state():
    weights = [rng.normal(size=(FEATURES, CLASSES)).astype(np.float32),
               rng.normal(size=CLASSES).astype(np.float32)]
    return collections.OrderedDict(weights=weights,
                                   control=[np.zeros_like(w) for w in weights])


def test_equals_the_numpy_reference_over_three_rounds(process):
    simulation = scaffold.ScaffoldSimulation(process)
    simulation.initialize()
    state = start_state()
    weights = [w.astype(np.float64) for w in state["weights"]]
    control = [np.zeros_like(w) for w in weights]
    client_controls = {cid: [np.zeros_like(w) for w in weights] for cid in CLIENTS}
    for ids in ROUNDS:
        state, _ = simulation.next(state, data.RoundData([dataset(c) for c in ids], ids,
                                                         population=NUM_CLIENTS))
        weights, control, new = scaffold.reference_round(
            weights, control, [client_controls[c] for c in ids], [batches(c) for c in ids],
            LR, NUM_CLIENTS)
        client_controls.update(zip(ids, new))
        assert fedavg.max_weight_difference(state["weights"], weights) < 1e-5
        assert fedavg.max_weight_difference(state["control"], control) < 1e-5
    assert set(simulation.controls) == set(CLIENTS)
    for cid in CLIENTS:
        assert fedavg.max_weight_difference(simulation.controls[cid],
                                            client_controls[cid]) < 1e-5
    # c stays the mean of all clients' c_i (the option-II invariant with c_i = 0 at first)
    mean_ci = [np.mean([client_controls[c][i] for c in CLIENTS], axis=0) for i in range(2)]
    assert fedavg.max_weight_difference(state["control"], mean_ci) < 1e-5
    assert np.abs(state["control"][0]).max() > 1e-2  # the controls did move


def test_first_round_without_controls_is_fedavg(process):
    """With c = c_i = 0 the corrected steps are plain SGD: one round = FedAvg's."""
    ids = ["a", "b", "c"]
    simulation = scaffold.ScaffoldSimulation(process)
    state, _ = simulation.next(simulation.initialize(),
                               data.RoundData([dataset(c) for c in ids], ids, NUM_CLIENTS))
    plain = fedavg.build_unweighted_fedavg_process(LR, tiny_model, SPEC)
    expected, _ = plain.next(plain.initialize(), [dataset(c) for c in ids])
    assert fedavg.max_weight_difference(state["weights"], expected) < 1e-6


def test_needs_to_know_the_clients(process):
    simulation = scaffold.ScaffoldSimulation(process)
    with pytest.raises(ValueError, match="which client each dataset belongs to"):
        simulation.next(simulation.initialize(), [dataset("a")])


def test_sends_twice_what_fedavg_sends(process):
    traffic = scaffold.traffic(process)
    model_bytes = 4 * (FEATURES * CLASSES + CLASSES)
    assert traffic.download == 2 * model_bytes
    assert traffic.upload_parts["weights_delta"] == model_bytes
    assert traffic.upload_parts["control_delta"] == model_bytes
    assert "new_control" not in traffic.upload_parts  # stays on the client


def test_a_client_without_data_keeps_its_control_variate():
    empty = tf.data.Dataset.from_tensor_slices(collections.OrderedDict(
        x=np.zeros((0, FEATURES), np.float32), y=np.zeros((0, 1), np.int32))).batch(3)
    weights = start_state()["weights"]
    c = [np.ones_like(w) for w in weights]
    c_i = [2 * np.ones_like(w) for w in weights]
    dy, dc, new, _ = scaffold.scaffold_client_update(tiny_model(), empty, weights, c, c_i, LR)
    assert all(np.array_equal(n, ci) for n, ci in zip(new, c_i))
    assert not any(np.any(np.asarray(d)) for d in [*dy, *dc])
