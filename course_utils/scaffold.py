"""SCAFFOLD built by hand (notebook 10): control variates against client drift.

Karimireddy et al. (2020), "SCAFFOLD: Stochastic Controlled Averaging for Federated
Learning", with their option II. The server holds a control variate `c` (an estimate
of the mean gradient over all clients); every client i holds its own `c_i` (an
estimate of its own gradient), which persists from one round it takes part in to the
next. Each local SGD step corrects the client's gradient by the difference:

    y <- y - lr * (g_i(y) - c_i + c)          (K steps, starting from y = x, the server's)

so a client whose data pull it one way is pushed back by as much as it usually pulls.
After training (option II):

    c_i+ = c_i - c + (x - y) / (K * lr);   the client sends dy = y - x and dc = c_i+ - c_i
    x <- x + server_lr * mean(dy);         c <- c + (1 / N) * sum(dc)    (N: all clients)

A client sends two model-sized values and receives two: twice FedAvg's traffic.

In TFF the client's `c_i` is a value placed at CLIENTS, next to its dataset. The
simulation holds the `c_i` of every client between rounds (`ScaffoldSimulation`) and
passes those of the round's clients in; `next` returns their new values, still at
CLIENTS (a real deployment would keep them on the devices):

    initialize: ( -> <weights, control>@SERVER)
    next:       (<weights, control>@SERVER, {<x, y>*}@CLIENTS, {control}@CLIENTS,
                 float32@SERVER (N, the number of clients)
                 -> <<weights, control>@SERVER, metrics@SERVER, {control}@CLIENTS>)

`reference_round` is the same rule in NumPy for the linear softmax model (to check).
"""

from __future__ import annotations

import collections

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from course_utils import aggregation, fedavg, models
from course_utils.fedavg import add_batch_metrics, finalize_metrics, zero_metrics
from course_utils.settings import COURSE


@tf.function
def scaffold_client_update(model, dataset, server_weights, server_control,
                           client_control, learning_rate):
    """SCAFFOLD's local training (option II). Returns (weights_delta, control_delta,
    new_client_control, totals): dy = y - x, dc = c_i+ - c_i, c_i+ and the metrics."""
    weights = model.trainable_variables
    for variable, value in zip(weights, server_weights):
        variable.assign(value)
    correction = [c - c_i for c, c_i in zip(server_control, client_control)]
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()

    def train_on_batch(state, batch):
        totals, steps = state
        with tf.GradientTape() as tape:
            predictions = model(batch["x"], training=True)
            loss = loss_fn(batch["y"], predictions)
        gradients = tape.gradient(loss, weights)
        for variable, gradient, k in zip(weights, gradients, correction):
            variable.assign_sub(learning_rate * (gradient + k))
        return add_batch_metrics(totals, loss, batch["y"], predictions), steps + 1.0

    totals, steps = dataset.reduce((zero_metrics(), tf.constant(0.0)), train_on_batch)
    weights_delta = [w - x for w, x in zip(weights, server_weights)]
    # Option II: c_i+ = c_i - c + (x - y) / (K * learning_rate), K the steps taken;
    # a client without data (K = 0) keeps its c_i.
    k = tf.maximum(steps, 1.0)
    new_control = [tf.where(steps > 0, c_i - c - dy / (k * learning_rate), c_i)
                   for c_i, c, dy in zip(client_control, server_control, weights_delta)]
    control_delta = [new - c_i for new, c_i in zip(new_control, client_control)]
    return weights_delta, control_delta, new_control, totals


def build_scaffold_next_fn(client_update_fn, state_type, data_type, weights_type,
                           server_learning_rate: float):
    """SCAFFOLD's `next` (types: the module docstring) around `client_update_fn`, the
    TensorFlow computation (dataset, x, c, c_i) -> <weights_delta, control_delta,
    metrics, num_examples, new_control>: broadcast x and c, train, then
    x <- x + server_learning_rate * mean(dy) and c <- c + (|S|/N) * mean(dc), which is
    c + sum(dc) / N."""
    @tff.tensorflow.computation(state_type, weights_type, weights_type, np.float32)
    def server_update_fn(state, mean_weights_delta, summed_control_delta, num_clients):
        return collections.OrderedDict(
            weights=[x + server_learning_rate * dy
                     for x, dy in zip(state["weights"], mean_weights_delta)],
            control=[c + dc / num_clients
                     for c, dc in zip(state["control"], summed_control_delta)])

    @tff.federated_computation(tff.FederatedType(state_type, tff.SERVER),
                               tff.FederatedType(data_type, tff.CLIENTS),
                               tff.FederatedType(weights_type, tff.CLIENTS),
                               tff.FederatedType(np.float32, tff.SERVER))
    def next_fn(state, federated_dataset, client_controls, num_clients):
        outputs = tff.federated_map(client_update_fn, (
            federated_dataset, tff.federated_broadcast(state.weights),
            tff.federated_broadcast(state.control), client_controls))
        new_state = tff.federated_map(server_update_fn, (
            state, tff.federated_mean(outputs.weights_delta),
            tff.federated_sum(outputs.control_delta), num_clients))
        metrics = tff.federated_mean(outputs.metrics, weight=outputs.num_examples)
        return new_state, metrics, outputs.new_control

    return next_fn


def build_scaffold_process(client_learning_rate: float = COURSE.client_learning_rate,
                           server_learning_rate: float = 1.0,
                           model_fn=models.create_keras_model, element_spec=None, *,
                           client_update=scaffold_client_update,
                           build_next_fn=build_scaffold_next_fn):
    """SCAFFOLD as a `tff.templates.IterativeProcess` (types: the module docstring).

    `client_update` (the signature of `scaffold_client_update`) and `build_next_fn`
    (that of `build_scaffold_next_fn`) are the two parts you write in notebook 10's
    exercises. Run the process with `ScaffoldSimulation(process)`, which keeps the
    clients' control variates between rounds and has the usual
    `next(state, federated_data)`.
    """
    weights_type, data_type = fedavg.federated_types(model_fn, element_spec)

    @tff.tensorflow.computation
    def initial_state():
        weights = [tf.identity(v) for v in model_fn().trainable_variables]
        return collections.OrderedDict(weights=weights,
                                       control=[tf.zeros_like(w) for w in weights])

    state_type = initial_state.type_signature.result

    @tff.tensorflow.computation(data_type, weights_type, weights_type, weights_type)
    def client_update_fn(dataset, server_weights, server_control, client_control):
        weights_delta, control_delta, new_control, totals = client_update(
            model_fn(), dataset, server_weights, server_control, client_control,
            client_learning_rate)
        return collections.OrderedDict(
            weights_delta=weights_delta, control_delta=control_delta,
            metrics=finalize_metrics(totals), num_examples=totals["num_examples"],
            new_control=new_control)

    @tff.federated_computation
    def initialize_fn():
        return tff.federated_eval(initial_state, tff.SERVER)

    next_fn = build_next_fn(client_update_fn, state_type, data_type, weights_type,
                            server_learning_rate)
    process = tff.templates.IterativeProcess(initialize_fn, next_fn)
    process.client_update_fn = client_update_fn
    fedavg.restore_eager_keras(model_fn)
    return process


class ScaffoldSimulation:
    """A SCAFFOLD process with the usual `initialize()` / `next(state, federated_data)`
    (so `course_utils.training_loop.run_training` can run it): it holds every client's
    control variate `c_i` between rounds (zeros until the client first trains).

    `federated_data` must say whose datasets it holds: a `course_utils.data.RoundData`
    (what `data.make_federated_data` returns), whose `client_ids` name the clients and
    whose `population` is N, the number of clients (unless `num_clients` is given).
    """

    def __init__(self, process, num_clients: int | None = None):
        self.process, self.num_clients = process, num_clients
        self.controls: dict = {}

    def initialize(self):
        self.controls = {}
        state = self.process.initialize()
        self._zeros = [np.zeros_like(w) for w in state["weights"]]
        return state

    def next(self, state, federated_data):
        ids = getattr(federated_data, "client_ids", None)
        num_clients = self.num_clients or getattr(federated_data, "population", None)
        if ids is None or not num_clients:
            raise ValueError(
                "SCAFFOLD keeps a control variate per client, so it must know which "
                "client each dataset belongs to: pass a course_utils.data.RoundData "
                "(data.make_federated_data returns one) with client_ids and population.")
        controls = [self.controls.get(cid, self._zeros) for cid in ids]
        state, metrics, new_controls = self.process.next(
            state, list(federated_data), controls, np.float32(num_clients))
        self.controls.update(zip(ids, new_controls))
        return state, metrics

    def get_model_weights(self, state):
        return state["weights"]


def traffic(process) -> aggregation.Traffic:
    """Bytes per client and round, from the types of `process.client_update_fn`:
    down, the server's weights and control; up, dy and dc (and the metrics). The
    client's new control variate stays on the client."""
    parameter, result = (process.client_update_fn.type_signature.parameter,
                         process.client_update_fn.type_signature.result)
    parts = {name: aggregation.type_bytes(result[name])
             for name in ("weights_delta", "control_delta", "metrics", "num_examples")}
    return aggregation.Traffic(
        download=aggregation.type_bytes(parameter[1]) + aggregation.type_bytes(parameter[2]),
        upload=sum(parts.values()), upload_parts=parts)


# --- the same rule in NumPy, for checking ---------------------------------------------

def softmax_gradient(weights, x, y):
    """Gradient of the mean cross-entropy of softmax(x @ kernel + bias) (NumPy)."""
    kernel, bias = weights
    logits = x @ kernel + bias
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    probs[np.arange(len(y)), y] -= 1.0
    probs /= len(y)
    return [x.T @ probs, probs.sum(axis=0)]


def reference_round(server_weights, server_control, client_controls, client_batches,
                    learning_rate: float, num_clients: int, server_learning_rate=1.0):
    """One SCAFFOLD round (option II) for the linear softmax model, in NumPy (float64).

    `client_batches[i]` is client i's list of (x, y) batches (all local steps, epochs
    included); `client_controls[i]` its c_i. Returns (weights, control, new c_i list).
    """
    x_server = [np.asarray(w, np.float64) for w in server_weights]
    c = [np.asarray(v, np.float64) for v in server_control]
    deltas, control_deltas, new_controls = [], [], []
    for c_i, batches in zip(client_controls, client_batches):
        c_i = [np.asarray(v, np.float64) for v in c_i]
        y = [w.copy() for w in x_server]
        for xb, yb in batches:
            g = softmax_gradient(y, np.asarray(xb, np.float64), np.asarray(yb).reshape(-1))
            y = [w - learning_rate * (gw - ci + cc) for w, gw, ci, cc in zip(y, g, c_i, c)]
        k = len(batches)
        new = ([ci - cc + (xs - yw) / (k * learning_rate)
                for ci, cc, xs, yw in zip(c_i, c, x_server, y)] if k else c_i)
        deltas.append([yw - xs for yw, xs in zip(y, x_server)])
        control_deltas.append([n - ci for n, ci in zip(new, c_i)])
        new_controls.append(new)
    weights = [xs + server_learning_rate * np.mean([d[j] for d in deltas], axis=0)
               for j, xs in enumerate(x_server)]
    control = [cc + np.sum([d[j] for d in control_deltas], axis=0) / num_clients
               for j, cc in enumerate(c)]
    return weights, control, new_controls
