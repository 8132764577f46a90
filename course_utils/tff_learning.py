"""tff.learning with the course settings: the FedAvg process and the federated
evaluation that notebooks 02 and 03 share (central evaluation: `course_utils.evaluation`).

- `build_fedavg(...)`: `tff.learning.algorithms.build_weighted_fed_avg` with TFF's SGD
  optimizers (`tff.learning.optimizers.build_sgdm`) at the course's learning rates.
- `build_federated_evaluation(...)` / `federated_evaluate(...)`: federated evaluation
  with `tff.learning.algorithms.build_fed_eval`, for any model weights.
"""

from __future__ import annotations

from typing import Callable

from course_utils import models
from course_utils.settings import COURSE


def build_fedavg(client_learning_rate: float = COURSE.client_learning_rate,
                 server_learning_rate: float = COURSE.server_learning_rate,
                 model_fn: Callable = models.tff_model_fn):
    """Weighted FedAvg from tff.learning with plain SGD on the clients and the server.

    `model_fn` builds a fresh `tff.learning.models.VariableModel` (default: the course's
    Keras model through `from_keras_model`). Weighted means each client's update counts
    in proportion to its number of examples. (Before TFF 0.40 this was
    `tff.learning.build_federated_averaging_process`.)
    """
    import tensorflow_federated as tff

    return tff.learning.algorithms.build_weighted_fed_avg(
        model_fn,
        client_optimizer_fn=tff.learning.optimizers.build_sgdm(client_learning_rate),
        server_optimizer_fn=tff.learning.optimizers.build_sgdm(server_learning_rate))


def _trainable(weights) -> list:
    """Model weights as a list of arrays: a ModelWeights, or already a list."""
    return list(getattr(weights, "trainable", weights))


def build_federated_evaluation(model_fn: Callable = models.tff_model_fn):
    """`tff.learning.algorithms.build_fed_eval` for the course model (or `model_fn`)."""
    import tensorflow_federated as tff

    return tff.learning.algorithms.build_fed_eval(model_fn)


def federated_evaluate(eval_process, weights, federated_data) -> dict[str, float]:
    """Evaluate `weights` on each client's data and aggregate over clients.

    Returns {"loss", "accuracy", "num_examples"}: the clients' metrics summed and
    finalized at the server, i.e. weighted by each client's number of examples.
    """
    state = eval_process.initialize()
    state = eval_process.set_model_weights(state, _as_model_weights(weights))
    output = eval_process.next(state, federated_data)
    metrics = output.metrics["client_work"]["eval"]["current_round_metrics"]
    return {"loss": float(metrics["loss"]),
            "accuracy": float(metrics["sparse_categorical_accuracy"]),
            "num_examples": int(metrics["num_examples"])}


def _as_model_weights(weights):
    import tensorflow_federated as tff

    if isinstance(weights, tff.learning.models.ModelWeights):
        return weights
    return tff.learning.models.ModelWeights(trainable=_trainable(weights),
                                            non_trainable=[])


def round_from(learning_process, weights, federated_data) -> list:
    """The trainable weights after ONE round of a tff.learning `learning_process`
    (e.g. `build_unweighted_fed_avg`, `build_fed_sgd`) that starts from `weights` (a
    list of arrays, e.g. a hand-built process's state), on `federated_data`: the way
    to check that a library process and a hand-built one agree on the same data."""
    import tensorflow_federated as tff

    state = learning_process.initialize()
    start = tff.learning.models.ModelWeights(trainable=_trainable(weights), non_trainable=[])
    state = learning_process.set_model_weights(state, start)
    state, _ = learning_process.next(state, federated_data)
    return _trainable(learning_process.get_model_weights(state))
