"""Federated Averaging built by hand: the reference for notebook 05, reused by 06-11.

The four steps of a round:
  1. broadcast   the server's weights to the sampled clients   (tff.federated_broadcast)
  2. client update: each client trains locally with SGD          (tff.federated_map)
  3. aggregate   the client weights into their mean              (tff.federated_mean)
  4. server update: the server adopts the new weights            (tff.federated_map)

`build_unweighted_fedavg_process` wraps them in a `tff.templates.IterativeProcess` whose
state is the list of model weights on the server:

    initialize: ( -> <weights>@SERVER)
    next:       (<weights>@SERVER, {<x, y>*}@CLIENTS -> <state, metrics>@SERVER)

Step 3 is an *unweighted* mean: every client counts once (tff.learning's
`build_unweighted_fed_avg`). `build_weighted_fedavg_process` is the same process with
each client's weights counted in proportion to its number of training examples
(`build_weighted_fed_avg`, McMahan et al.'s FedAvg); the two share all other code.

`metrics` are the clients' training loss and accuracy during local training, averaged
over all their examples (the same quantities tff.learning reports).
"""

from __future__ import annotations

import collections

import tensorflow as tf

from course_utils import models
from course_utils.settings import COURSE


@tf.function
def client_update(model, dataset, server_weights, learning_rate):
    """Train `model` on one client's `dataset`, starting from `server_weights`.

    Plain mini-batch SGD. Returns the client's new weights and its local metrics
    (summed loss, number of correct predictions, number of examples).
    """
    weights = model.trainable_variables
    for variable, value in zip(weights, server_weights):
        variable.assign(value)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()

    def train_on_batch(totals, batch):
        with tf.GradientTape() as tape:
            predictions = model(batch["x"], training=True)
            loss = loss_fn(batch["y"], predictions)
        gradients = tape.gradient(loss, weights)
        for variable, gradient in zip(weights, gradients):
            variable.assign_sub(learning_rate * gradient)
        return add_batch_metrics(totals, loss, batch["y"], predictions)

    totals = dataset.reduce(zero_metrics(), train_on_batch)
    return [tf.identity(w) for w in weights], totals


# --- bookkeeping: the clients' training loss and accuracy ---------------------------

def zero_metrics():
    """Running totals a client starts from: summed loss, correct predictions, examples."""
    return collections.OrderedDict(loss_sum=tf.constant(0.0), correct=tf.constant(0.0),
                                   num_examples=tf.constant(0.0))


def add_batch_metrics(totals, loss, labels, predictions):
    """`totals` plus one batch (its mean `loss`, true `labels`, predicted probabilities)."""
    labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
    n = tf.cast(tf.shape(labels)[0], tf.float32)
    hits = tf.cast(tf.equal(tf.argmax(predictions, axis=1), labels), tf.float32)
    return collections.OrderedDict(
        loss_sum=totals["loss_sum"] + loss * n,
        correct=totals["correct"] + tf.reduce_sum(hits),
        num_examples=totals["num_examples"] + n,
    )


def server_update(mean_client_weights):
    """FedAvg's server step: the new server weights are the mean client weights."""
    return mean_client_weights


def federated_types(model_fn=models.create_keras_model, element_spec=None):
    """(weights type, client data type) of the TFF computations for `model_fn`'s model.

    The weights are the list of its trainable variables; the data is a sequence of
    `element_spec` batches (default: `models.input_spec()`).
    """
    import tensorflow_federated as tff

    weights_type = tff.types.tensorflow_to_type(
        [tf.TensorSpec(v.shape, v.dtype) for v in model_fn().trainable_variables])
    data_type = tff.SequenceType(
        tff.types.tensorflow_to_type(element_spec or models.input_spec()))
    return weights_type, data_type


def build_unweighted_next_fn(client_update_fn, server_update_fn, weights_type, data_type):
    """FedAvg's `next` from its TensorFlow steps, with the UNWEIGHTED mean of the client
    weights (each client counts once). Exercise 5.2.

    `client_update_fn: (<dataset, server_weights> -> <weights, metrics, num_examples>)`
    and `server_update_fn: (mean_client_weights -> weights)` are TFF computations;
    `weights_type` and `data_type` are the types of the weights and of a client's data.
    """
    return _next_fn(client_update_fn, server_update_fn, weights_type, data_type,
                    weighted=False)


def build_weighted_next_fn(client_update_fn, server_update_fn, weights_type, data_type):
    """As `build_unweighted_next_fn`, but the mean of the client weights is weighted by
    each client's number of examples. Exercise 5.3."""
    return _next_fn(client_update_fn, server_update_fn, weights_type, data_type,
                    weighted=True)


def _next_fn(client_update_fn, server_update_fn, weights_type, data_type, *, weighted):
    import tensorflow_federated as tff

    @tff.federated_computation(tff.FederatedType(weights_type, tff.SERVER),
                               tff.FederatedType(data_type, tff.CLIENTS))
    def next_fn(server_weights, federated_dataset):
        weights_at_clients = tff.federated_broadcast(server_weights)
        client_weights, client_metrics, num_examples = tff.federated_map(
            client_update_fn, (federated_dataset, weights_at_clients))
        mean_client_weights = tff.federated_mean(
            client_weights, weight=num_examples if weighted else None)
        new_weights = tff.federated_map(server_update_fn, mean_client_weights)
        return new_weights, tff.federated_mean(client_metrics, weight=num_examples)

    return next_fn


def build_unweighted_fedavg_process(client_learning_rate: float = COURSE.client_learning_rate,
                                    model_fn=models.create_keras_model,
                                    element_spec=None, *,
                                    client_update=client_update,
                                    server_update=server_update):
    """Unweighted FedAvg as a `tff.templates.IterativeProcess` (module docstring): the
    server adopts the plain mean of the client weights.

    `client_update(model, dataset, server_weights, learning_rate)` and
    `server_update(mean_client_weights)` are the TensorFlow steps; pass your own to
    build a variant of FedAvg (notebook 06).

    Notebook 05 builds these same computations cell by cell, and notebook 06's
    solutions and `course_utils.aggregation` repeat this initialize/next skeleton on
    purpose (each shows its change in full); tests/test_notebook_copies.py checks 05's.
    """
    return build_process(build_unweighted_next_fn, client_learning_rate, model_fn,
                         element_spec, client_update=client_update,
                         server_update=server_update)


def build_weighted_fedavg_process(client_learning_rate: float = COURSE.client_learning_rate,
                                  model_fn=models.create_keras_model,
                                  element_spec=None, *,
                                  client_update=client_update,
                                  server_update=server_update):
    """Example-weighted FedAvg: as `build_unweighted_fedavg_process`, but each client's
    weights count in proportion to its number of training examples (the same algorithm
    as tff.learning's `build_weighted_fed_avg` with client SGD and server SGD at 1.0)."""
    return build_process(build_weighted_next_fn, client_learning_rate, model_fn,
                         element_spec, client_update=client_update,
                         server_update=server_update)


def build_process(build_next_fn, client_learning_rate: float = COURSE.client_learning_rate,
                  model_fn=models.create_keras_model, element_spec=None, *,
                  client_update=client_update, server_update=server_update):
    """FedAvg's IterativeProcess with the `next_fn` that
    `build_next_fn(client_update_fn, server_update_fn, weights_type, data_type)` builds
    (e.g. `build_weighted_next_fn`, or yours in notebook 05) around the TFF computations
    of `client_update` and `server_update`."""
    import tensorflow_federated as tff

    weights_type, data_type = federated_types(model_fn, element_spec)

    @tff.tensorflow.computation
    def initial_weights():
        return [tf.identity(v) for v in model_fn().trainable_variables]

    @tff.tensorflow.computation(data_type, weights_type)
    def client_update_fn(dataset, server_weights):
        weights, totals = client_update(model_fn(), dataset, server_weights,
                                        client_learning_rate)
        return weights, finalize_metrics(totals), totals["num_examples"]

    @tff.tensorflow.computation(weights_type)
    def server_update_fn(mean_client_weights):
        return server_update(mean_client_weights)

    @tff.federated_computation
    def initialize_fn():
        return tff.federated_eval(initial_weights, tff.SERVER)

    next_fn = build_next_fn(client_update_fn, server_update_fn, weights_type, data_type)
    process = tff.templates.IterativeProcess(initialize_fn, next_fn)
    restore_eager_keras(model_fn)
    return process


def restore_eager_keras(model_fn) -> None:
    """Make Keras models created earlier in this program usable again.

    Tracing the TensorFlow computations above builds Keras models inside TF1-style
    graphs, and Keras then switches its layer classes to their graph-mode versions for
    the whole program: a Keras model made *before* (an evaluator, a test model) fails
    with "Your Layer or Model is in an invalid state". Creating one model eagerly
    switches the classes back. (tff.learning's builders have the same side effect.)
    """
    if tf.executing_eagerly():
        model_fn()


def finalize_metrics(totals):
    """Mean loss and accuracy from a client's totals (0 for a client with no examples)."""
    n = tf.maximum(totals["num_examples"], 1.0)
    return collections.OrderedDict(loss=totals["loss_sum"] / n,
                                   accuracy=totals["correct"] / n)


# --- comparing models -----------------------------------------------------------------

def max_weight_difference(weights_a, weights_b) -> float:
    """The largest absolute difference between two models' weights.

    Accepts lists of arrays/tensors or `tff.learning.models.ModelWeights` (its
    trainable part is compared). Raises ValueError if the shapes do not match.
    """
    import numpy as np

    a = [np.asarray(w) for w in getattr(weights_a, "trainable", weights_a)]
    b = [np.asarray(w) for w in getattr(weights_b, "trainable", weights_b)]
    if [w.shape for w in a] != [w.shape for w in b]:
        raise ValueError(f"The models have different shapes: {[w.shape for w in a]} "
                         f"vs {[w.shape for w in b]}.")
    return max((float(np.max(np.abs(x - y))) if x.size else 0.0 for x, y in zip(a, b)),
               default=0.0)


def same_weights(weights_a, weights_b, atol: float = 1e-5) -> bool:
    """True when the two models' weights agree to `atol` (float tolerance)."""
    return max_weight_difference(weights_a, weights_b) <= atol
