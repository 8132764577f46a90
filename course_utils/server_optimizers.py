"""Server optimizers built by hand (notebook 10): FedAvgM and FedAdam.

FedAvg's server adopts the mean of the client models. Written as a step,

    w_new = w - 1.0 * (w - mean_i w_i) = w - 1.0 * pseudo_gradient

it is SGD with learning rate 1 on the *pseudo-gradient* `w - mean_i w_i` (the mean of
the clients' updates, pointing "uphill" like a gradient). Any optimizer can take that
step instead (Reddi et al. 2021, "Adaptive Federated Optimization"):

- FedAvgM: SGD with momentum on the server (`tff.learning.optimizers.build_sgdm`);
- FedAdam: Adam on the server (`tff.learning.optimizers.build_adam`).

The clients are unchanged: `course_utils.fedavg.client_update`, plain local SGD. Each
client sends its weights; the server takes their mean, weighted by examples (as
`tff.learning.algorithms.build_weighted_fed_avg`), and `server_update` hands the
pseudo-gradient `server weights - mean` to the optimizer, whose state (momentum, Adam's
moments and step count) lives in the server state:

    initialize: ( -> <weights, optimizer_state>@SERVER)
    next:       (<weights, optimizer_state>@SERVER, {<x, y>*}@CLIENTS
                 -> <<weights, optimizer_state>@SERVER, metrics@SERVER>)
"""

from __future__ import annotations

import collections

import tensorflow as tf

from course_utils import fedavg, models, settings, variants
from course_utils.fedavg import finalize_metrics
from course_utils.settings import COURSE

DEFAULT_MOMENTUM = settings.FEDAVGM_MOMENTUM
DEFAULT_ADAM_LEARNING_RATE = settings.FEDADAM_SERVER_LEARNING_RATE
ADAM_OPTIONS = {"beta_1": settings.FEDADAM_BETA_1, "beta_2": settings.FEDADAM_BETA_2,
                "epsilon": settings.FEDADAM_EPSILON}


def fedavgm_optimizer(learning_rate: float = 1.0, momentum: float = DEFAULT_MOMENTUM):
    """SGD with momentum for the server (TFF's own optimizer)."""
    import tensorflow_federated as tff

    return tff.learning.optimizers.build_sgdm(learning_rate=learning_rate,
                                              momentum=momentum)


def fedadam_optimizer(learning_rate: float = DEFAULT_ADAM_LEARNING_RATE,
                      beta_1: float = ADAM_OPTIONS["beta_1"],
                      beta_2: float = ADAM_OPTIONS["beta_2"],
                      epsilon: float = ADAM_OPTIONS["epsilon"]):
    """Adam for the server (TFF's own optimizer), with Reddi et al.'s defaults.

    TFF's Adam is bias-corrected, which Reddi et al.'s FedAdam is not: its step is
    theirs with tau = `epsilon`, multiplied by sqrt(1 - beta_2^t) / (1 - beta_1^t) at
    round t (1.0 at t = 1, 0.47 at t = 10 with beta_1 = 0.9, beta_2 = 0.99)."""
    import tensorflow_federated as tff

    return tff.learning.optimizers.build_adam(learning_rate=learning_rate, beta_1=beta_1,
                                              beta_2=beta_2, epsilon=epsilon)


def server_update(optimizer, state, mean_client_weights):
    """The server's step: the pseudo-gradient `weights - mean_client_weights` handed to
    `optimizer` (a `tff.learning.optimizers` Optimizer), whose state is carried in the
    server state. `state` is OrderedDict(weights=[...], optimizer_state=...); returns
    the new state, of the same structure."""
    weights = list(state["weights"])
    pseudo_gradient = [w - m for w, m in zip(weights, mean_client_weights)]
    optimizer_state, new_weights = optimizer.next(state["optimizer_state"], weights,
                                                  pseudo_gradient)
    return collections.OrderedDict(weights=list(new_weights),
                                   optimizer_state=optimizer_state)


def build_server_optimizer_process(server_optimizer,
                                   client_learning_rate: float = COURSE.client_learning_rate,
                                   model_fn=models.create_keras_model, element_spec=None,
                                   *, server_update=server_update):
    """FedAvg whose server applies `server_optimizer` (a `tff.learning.optimizers`
    Optimizer) to the pseudo-gradient. See the module docstring for the types.

    `server_update(optimizer, state, mean_client_weights) -> new state` is the server's
    step (yours, in notebook 10's exercise). Returns a `variants.VariantProcess`:
    also `get_model_weights(state)` and the TensorFlow steps `client_update_fn`,
    `server_update_fn`.
    """
    import tensorflow_federated as tff

    weights_type, data_type = fedavg.federated_types(model_fn, element_spec)
    specs = [tf.TensorSpec(t.shape, t.dtype) for t in weights_type]

    @tff.tensorflow.computation
    def initial_state():
        return collections.OrderedDict(
            weights=[tf.identity(v) for v in model_fn().trainable_variables],
            optimizer_state=server_optimizer.initialize(specs))

    state_type = initial_state.type_signature.result

    @tff.tensorflow.computation(data_type, weights_type)
    def client_update_fn(dataset, server_weights):
        weights, totals = fedavg.client_update(model_fn(), dataset, server_weights,
                                               client_learning_rate)
        return weights, finalize_metrics(totals), totals["num_examples"]

    @tff.tensorflow.computation(state_type, weights_type)
    def server_update_fn(state, mean_client_weights):
        return server_update(server_optimizer, as_state(state), list(mean_client_weights))

    @tff.federated_computation
    def initialize_fn():
        return tff.federated_eval(initial_state, tff.SERVER)

    @tff.federated_computation(tff.FederatedType(state_type, tff.SERVER),
                               tff.FederatedType(data_type, tff.CLIENTS))
    def next_fn(state, federated_dataset):
        weights_at_clients = tff.federated_broadcast(state.weights)
        client_weights, client_metrics, num_examples = tff.federated_map(
            client_update_fn, (federated_dataset, weights_at_clients))
        mean_client_weights = tff.federated_mean(client_weights, weight=num_examples)
        new_state = tff.federated_map(server_update_fn, (state, mean_client_weights))
        return new_state, tff.federated_mean(client_metrics, weight=num_examples)

    process = variants.VariantProcess(
        initialize_fn, next_fn, client_update_fn=client_update_fn,
        server_update_fn=server_update_fn, weights_of=lambda state: state["weights"])
    fedavg.restore_eager_keras(model_fn)
    return process


def as_state(state) -> collections.OrderedDict:
    """A server state as TFF hands it to a TensorFlow computation, as the OrderedDict
    `server_update` takes: weights as a list, the optimizer's state as it is."""
    return collections.OrderedDict(weights=list(state["weights"]),
                                   optimizer_state=state["optimizer_state"])


def build_tff_fedavg(server_optimizer,
                     client_learning_rate: float = COURSE.client_learning_rate,
                     keras_model_fn=models.create_keras_model):
    """`tff.learning.algorithms.build_weighted_fed_avg` with the same server optimizer
    and client SGD: the library version of `build_server_optimizer_process`."""
    import functools

    import tensorflow_federated as tff

    return tff.learning.algorithms.build_weighted_fed_avg(
        functools.partial(models.tff_model_fn, keras_model_fn),
        client_optimizer_fn=tff.learning.optimizers.build_sgdm(client_learning_rate),
        server_optimizer_fn=server_optimizer)
