"""FedProx built by hand (notebook 10): FedAvg whose clients stay near the server model.

Each client minimises its own loss plus a proximal term that pulls it back towards the
weights the round started from (Li et al., 2020):

    loss_i(w) + mu/2 * ||w - w_server||^2     gradient: g_i(w) + mu * (w - w_server)

so local training on skewed data cannot drift arbitrarily far. mu = 0 is FedAvg.
The server takes the mean of the client models weighted by their numbers of examples,
as `tff.learning.algorithms.build_weighted_fed_prox` does; the process has the shape of
`course_utils.fedavg`'s:

    initialize: ( -> <weights>@SERVER)
    next:       (<weights>@SERVER, {<x, y>*}@CLIENTS -> <weights@SERVER, metrics@SERVER>)
"""

from __future__ import annotations

import tensorflow as tf

from course_utils import fedavg, models, settings, variants
from course_utils.fedavg import add_batch_metrics, finalize_metrics, zero_metrics
from course_utils.settings import COURSE

DEFAULT_MU = settings.FEDPROX_MU


@tf.function
def fedprox_client_update(model, dataset, server_weights, learning_rate, mu):
    """`fedavg.client_update` with the proximal term: every SGD step follows
    gradient + mu * (w - server_weights). Returns (weights, totals)."""
    weights = model.trainable_variables
    for variable, value in zip(weights, server_weights):
        variable.assign(value)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()

    def train_on_batch(totals, batch):
        with tf.GradientTape() as tape:
            predictions = model(batch["x"], training=True)
            loss = loss_fn(batch["y"], predictions)
        gradients = tape.gradient(loss, weights)
        for variable, gradient, start in zip(weights, gradients, server_weights):
            variable.assign_sub(learning_rate * (gradient + mu * (variable - start)))
        return add_batch_metrics(totals, loss, batch["y"], predictions)

    totals = dataset.reduce(zero_metrics(), train_on_batch)
    return [tf.identity(w) for w in weights], totals


def build_fedprox_process(client_learning_rate: float = COURSE.client_learning_rate,
                          mu: float = DEFAULT_MU,
                          model_fn=models.create_keras_model, element_spec=None, *,
                          client_update=fedprox_client_update):
    """FedProx as a `tff.templates.IterativeProcess` (see the module docstring).

    `client_update(model, dataset, server_weights, learning_rate, mu)` is the client's
    TensorFlow step (yours, in notebook 10's exercise); the server adopts the mean of
    the client weights, weighted by each client's number of examples.
    """
    import tensorflow_federated as tff

    if mu < 0:
        raise ValueError(f"mu must be >= 0 (0 is FedAvg), got {mu}.")
    weights_type, data_type = fedavg.federated_types(model_fn, element_spec)

    @tff.tensorflow.computation
    def initial_weights():
        return [tf.identity(v) for v in model_fn().trainable_variables]

    @tff.tensorflow.computation(data_type, weights_type)
    def client_update_fn(dataset, server_weights):
        weights, totals = client_update(model_fn(), dataset, server_weights,
                                        client_learning_rate, float(mu))
        return weights, finalize_metrics(totals), totals["num_examples"]

    @tff.federated_computation
    def initialize_fn():
        return tff.federated_eval(initial_weights, tff.SERVER)

    @tff.federated_computation(tff.FederatedType(weights_type, tff.SERVER),
                               tff.FederatedType(data_type, tff.CLIENTS))
    def next_fn(server_weights, federated_dataset):
        client_weights, client_metrics, num_examples = tff.federated_map(
            client_update_fn, (federated_dataset, tff.federated_broadcast(server_weights)))
        new_weights = tff.federated_mean(client_weights, weight=num_examples)
        return new_weights, tff.federated_mean(client_metrics, weight=num_examples)

    process = variants.VariantProcess(
        initialize_fn, next_fn, client_update_fn=client_update_fn, server_update_fn=None)
    fedavg.restore_eager_keras(model_fn)
    return process


def build_tff_fedprox(client_learning_rate: float = COURSE.client_learning_rate,
                      mu: float = DEFAULT_MU,
                      keras_model_fn=models.create_keras_model):
    """`tff.learning.algorithms.build_weighted_fed_prox` with the same settings: client
    SGD at `client_learning_rate`, server SGD at 1.0 (the server adopts the weighted mean
    of the client models), proximal strength `mu`. For checking `build_fedprox_process`.
    """
    import functools

    import tensorflow_federated as tff

    return tff.learning.algorithms.build_weighted_fed_prox(
        functools.partial(models.tff_model_fn, keras_model_fn), proximal_strength=mu,
        client_optimizer_fn=tff.learning.optimizers.build_sgdm(client_learning_rate),
        server_optimizer_fn=tff.learning.optimizers.build_sgdm(1.0))
