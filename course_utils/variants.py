"""FedAvg's variants: notebook 06's three modifications of the hand-built FedAvg, and
`VariantProcess`, the iterative process every hand-built variant returns (06-11).

Built on `course_utils.fedavg` (notebook 05):

1. `midpoint_server_update` and `build_midpoint_process`: the server moves to the
   midpoint of its current weights and the mean client weights (a Lookahead-style
   step). The server step now needs the current weights, so `next` passes them in.
2. `clipped_client_update`: `fedavg.client_update` with each batch's gradients clipped
   to a global norm `clip_norm` before they are applied; `build_clipped_process`.
3. `build_lr_decay_process`: the server state carries the client learning rate next
   to the weights; it is broadcast each round, clients train with it, and the server
   multiplies it by `decay` after every round:

       initialize: ( -> <weights=<kernel,bias>,learning_rate=float32>@SERVER)
       next:       (<<weights, learning_rate>@SERVER, {<x, y>*}@CLIENTS>
                    -> <<weights, learning_rate>@SERVER, metrics@SERVER>)

Notebook 06 asks learners to write 1-3 themselves; its checkers
(`course_utils.exercises.nb06`) fall back to these until a learner's version passes.
A `VariantProcess` also exposes its TensorFlow steps (`client_update_fn`,
`server_update_fn`, so a notebook can print their type signatures) and
`get_model_weights(state)` (so `course_utils.training_loop.run_training` can evaluate
it whatever its state holds).

From a terminal: `python -m course_utils train --algorithm fedavg-midpoint` (or
`fedavg-clip`, `fedavg-lr-decay`; see course_utils.cli.algorithms).
"""

from __future__ import annotations

import collections
import functools

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from course_utils import fedavg, models
from course_utils.fedavg import add_batch_metrics, finalize_metrics, zero_metrics
from course_utils.settings import CLIP_NORM, COURSE, LR_DECAY


class VariantProcess(tff.templates.IterativeProcess):
    """An IterativeProcess that also exposes its TensorFlow steps and model weights.

    Every hand-built variant of FedAvg (notebooks 06-11) returns one, so a notebook can
    print `client_update_fn`'s and `server_update_fn`'s type signatures and
    `course_utils.training_loop.run_training` can evaluate `get_model_weights(state)`
    whatever else the state holds.
    """

    def __init__(self, initialize_fn, next_fn, *, client_update_fn, server_update_fn,
                 weights_of=lambda state: state):
        super().__init__(initialize_fn, next_fn)
        self.client_update_fn = client_update_fn
        self.server_update_fn = server_update_fn
        self._weights_of = weights_of

    def get_model_weights(self, state):
        """The model weights (list [kernel, bias]) inside `state`."""
        return self._weights_of(state)


# --- exercise 6.1: midpoint server update ----------------------------------------------

def midpoint_server_update(server_weights, mean_client_weights):
    """The new server weights: halfway between the current ones and the clients' mean."""
    return [0.5 * (current + mean)
            for current, mean in zip(server_weights, mean_client_weights)]


def build_midpoint_process(client_learning_rate: float = COURSE.client_learning_rate,
                           model_fn=models.create_keras_model, element_spec=None, *,
                           client_update=fedavg.client_update,
                           server_update=midpoint_server_update) -> VariantProcess:
    """FedAvg whose server step sees the current weights:
    `server_update(server_weights, mean_client_weights)` (midpoint by default).

    Same state and type signatures as `fedavg.build_unweighted_fedavg_process`; only the server
    step differs (it takes two weight lists instead of one).
    """
    # The initialize/next skeleton of notebook 05 (fedavg.build_unweighted_fedavg_process),
    # repeated on purpose: exercise 6.1 changes its server step, and learners compare.
    weights_type, data_type = fedavg.federated_types(model_fn, element_spec)

    @tff.tensorflow.computation
    def initial_weights():
        return [tf.identity(v) for v in model_fn().trainable_variables]

    @tff.tensorflow.computation(data_type, weights_type)
    def client_update_fn(dataset, server_weights):
        weights, totals = client_update(model_fn(), dataset, server_weights,
                                        client_learning_rate)
        return weights, finalize_metrics(totals), totals["num_examples"]

    @tff.tensorflow.computation(weights_type, weights_type)
    def server_update_fn(server_weights, mean_client_weights):
        return server_update(server_weights, mean_client_weights)

    @tff.federated_computation
    def initialize_fn():
        return tff.federated_eval(initial_weights, tff.SERVER)

    @tff.federated_computation(tff.FederatedType(weights_type, tff.SERVER),
                               tff.FederatedType(data_type, tff.CLIENTS))
    def next_fn(server_weights, federated_dataset):
        weights_at_clients = tff.federated_broadcast(server_weights)
        client_weights, client_metrics, num_examples = tff.federated_map(
            client_update_fn, (federated_dataset, weights_at_clients))
        mean_client_weights = tff.federated_mean(client_weights)
        # The change from FedAvg: the server step also gets the current weights.
        new_weights = tff.federated_map(server_update_fn,
                                        (server_weights, mean_client_weights))
        return new_weights, tff.federated_mean(client_metrics, weight=num_examples)

    return VariantProcess(initialize_fn, next_fn, client_update_fn=client_update_fn,
                          server_update_fn=server_update_fn)


# --- exercise 6.2: gradient clipping in the client update ----------------------------

@tf.function
def clipped_client_update(model, dataset, server_weights, learning_rate, clip_norm):
    """`fedavg.client_update` with each batch's gradients clipped to global norm
    `clip_norm` (`tf.clip_by_global_norm`) before the SGD step."""
    weights = model.trainable_variables
    for variable, value in zip(weights, server_weights):
        variable.assign(value)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()

    def train_on_batch(totals, batch):
        with tf.GradientTape() as tape:
            predictions = model(batch["x"], training=True)
            loss = loss_fn(batch["y"], predictions)
        gradients = tape.gradient(loss, weights)
        gradients, _ = tf.clip_by_global_norm(gradients, clip_norm)
        for variable, gradient in zip(weights, gradients):
            variable.assign_sub(learning_rate * gradient)
        return add_batch_metrics(totals, loss, batch["y"], predictions)

    totals = dataset.reduce(zero_metrics(), train_on_batch)
    return [tf.identity(w) for w in weights], totals


def with_clip_norm(client_update, clip_norm: float):
    """`client_update(model, dataset, weights, lr, clip_norm)` with the bound fixed, in
    the 4-argument form `fedavg.build_unweighted_fedavg_process(client_update=...)` calls."""
    return functools.partial(client_update, clip_norm=float(clip_norm))


def build_clipped_process(client_learning_rate: float = COURSE.client_learning_rate,
                          clip_norm: float = CLIP_NORM,
                          model_fn=models.create_keras_model, element_spec=None, *,
                          client_update=clipped_client_update):
    """FedAvg (`fedavg.build_unweighted_fedavg_process`) whose clients clip their gradients."""
    if not clip_norm > 0:
        raise ValueError(f"clip_norm must be positive, got {clip_norm}.")
    return fedavg.build_unweighted_fedavg_process(
        client_learning_rate, model_fn, element_spec,
        client_update=with_clip_norm(client_update, clip_norm))


def update_clipping_client_update(clip_norm: float):
    """A `client_update` hook: `fedavg.client_update`, then the client's whole update
    (trained weights minus the server's) clipped once to global norm `clip_norm`, the
    rule `tff.aggregators.clipping_factory` applies to each client's update."""
    def client_update(model, dataset, server_weights, learning_rate):
        weights, totals = fedavg.client_update(model, dataset, server_weights, learning_rate)
        update = [w - s for w, s in zip(weights, server_weights)]
        scale = tf.minimum(1.0, clip_norm / tf.linalg.global_norm(update))
        return [s + u * scale for s, u in zip(server_weights, update)], totals

    return client_update


# --- exercise 6.3: client learning-rate decay carried in the server state --------------

def build_lr_decay_process(initial_learning_rate: float = COURSE.client_learning_rate,
                           decay: float = LR_DECAY,
                           model_fn=models.create_keras_model, element_spec=None, *,
                           client_update=fedavg.client_update) -> VariantProcess:
    """FedAvg whose state is `<weights, learning_rate>`: clients in round r train with
    `initial_learning_rate * decay**(r - 1)`; the server decays the rate after each
    round. The state is an OrderedDict(weights=[kernel, bias], learning_rate=float32).
    """
    # The initialize/next skeleton of notebook 05 (fedavg.build_unweighted_fedavg_process),
    # repeated on purpose: exercise 6.3 (the learner writes it) puts the rate in the state.
    weights_type, data_type = fedavg.federated_types(model_fn, element_spec)

    @tff.tensorflow.computation
    def initial_state():
        return collections.OrderedDict(
            weights=[tf.identity(v) for v in model_fn().trainable_variables],
            learning_rate=tf.constant(initial_learning_rate, tf.float32))

    state_type = initial_state.type_signature.result

    @tff.tensorflow.computation(data_type, weights_type, np.float32)
    def client_update_fn(dataset, server_weights, learning_rate):
        weights, totals = client_update(model_fn(), dataset, server_weights, learning_rate)
        return weights, finalize_metrics(totals), totals["num_examples"]

    @tff.tensorflow.computation(weights_type, np.float32)
    def server_update_fn(mean_client_weights, learning_rate):
        return collections.OrderedDict(weights=mean_client_weights,
                                       learning_rate=learning_rate * decay)

    @tff.federated_computation
    def initialize_fn():
        return tff.federated_eval(initial_state, tff.SERVER)

    @tff.federated_computation(tff.FederatedType(state_type, tff.SERVER),
                               tff.FederatedType(data_type, tff.CLIENTS))
    def next_fn(state, federated_dataset):
        weights_at_clients = tff.federated_broadcast(state.weights)
        rate_at_clients = tff.federated_broadcast(state.learning_rate)
        client_weights, client_metrics, num_examples = tff.federated_map(
            client_update_fn, (federated_dataset, weights_at_clients, rate_at_clients))
        mean_client_weights = tff.federated_mean(client_weights)
        new_state = tff.federated_map(server_update_fn,
                                      (mean_client_weights, state.learning_rate))
        return new_state, tff.federated_mean(client_metrics, weight=num_examples)

    return VariantProcess(initialize_fn, next_fn, client_update_fn=client_update_fn,
                          server_update_fn=server_update_fn,
                          weights_of=lambda state: state["weights"])


# --- a few faulty clients: the experiment of exercise 6.2 --------------------------

def scale_inputs(dataset, factor: float):
    """`dataset` with every batch's pixels multiplied by `factor` (a broken pipeline)."""
    return dataset.map(lambda batch: collections.OrderedDict(x=batch["x"] * factor,
                                                             y=batch["y"]))


def faulty_data_for_round(comparison, faulty: set, scale: float):
    """`data_for_round(r)` of `comparison` (same clients, same shuffling) in which the
    clients in `faulty` have their inputs multiplied by `scale`."""
    from course_utils import data

    @functools.lru_cache(maxsize=None)
    def data_for_round(round_num):
        client_ids = comparison.clients_for_round(round_num)
        datasets = data.make_federated_data(comparison.train_data, client_ids,
                                            epochs=comparison.epochs, seed=comparison.seed)
        return [scale_inputs(ds, scale) if cid in faulty else ds
                for cid, ds in zip(client_ids, datasets)]

    return data_for_round


def learning_rate_of(state) -> float:
    """The client learning rate held in an lr-decay process state."""
    return float(state["learning_rate"])
