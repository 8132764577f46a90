"""Checker for notebook 10 (remedies for drift).

Exercise: `fedprox_client_update(model, dataset, server_weights, learning_rate, mu)`,
FedProx's client step: `course_utils.fedavg.client_update` whose every SGD step
follows gradient + mu * (w - server_weights), the gradient of
loss + mu/2 * ||w - server_weights||^2. Returns (weights, totals).

The checker runs the learner's function on a small hand-made client (the course's
linear model, four batches, server weights that are not zero) and compares the trained
weights with the reference (`course_utils.fedprox.fedprox_client_update`) and with
plausible wrong versions, each of which has its own message:

- the proximal term's sign flipped (a pull away from the server model);
- the distance measured to the current weights (w - w = 0: plain FedAvg), or no term;
- the pull applied once, after the local training (once per epoch), not in every step;
- the 1/2 left out (mu * ||w - w_s||^2: twice the pull);
- mu applied twice (mu * mu * (w - w_s));
- the proximal step not multiplied by the learning rate;
- L2 weight decay (mu * w: distance to zero) instead of distance to the server;
- the norm instead of the squared norm (no gradient at w = w_s: NaN);
- training from the model's own weights instead of from `server_weights`.

The module is notebook 10's one entry point: it also carries the checkers of exercises
10.2 to 10.4 (`course_utils.exercises.drift_remedies`). `use(verdict, yours, name)`
returns the learner's function once it passes, else the reference, so later cells run.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Mapping, Sequence

import numpy as np

from course_utils import exercises
from course_utils.exercises import Mistake, checker
from course_utils.exercises._harness import close

EXERCISE = "Exercise 10.1 · FedProx client update"
LEARNING_RATE, MU = 0.25, 0.5


# Exercises 10.2 to 10.4 (SCAFFOLD, the server optimizer) are checked in drift_remedies;
# notebook 10 reaches all four checkers, and their references, through this module.
from course_utils.exercises.drift_remedies import (  # noqa: E402
    REFERENCES as _DRIFT_REFERENCES,
    check_scaffold_client_update,
    check_scaffold_next_fn,
    check_server_update,
)

__all__ = ["check_fedprox_client_update", "check_scaffold_client_update",
           "check_scaffold_next_fn", "check_server_update", "use"]

# Your function once its check passes, else the course's: nb10.use(verdict, yours, name),
# `name` the exercise's function name (e.g. "fedprox_client_update").
use = exercises.fallback_to({"fedprox_client_update": "course_utils.fedprox",
                             **_DRIFT_REFERENCES})

# --- the test client -------------------------------------------------------------------

def client_batches():
    """Four batches of four examples with sparse ink (like inverted pixels)."""
    rng = np.random.default_rng(9)
    x = (rng.random((16, 784)) < 0.15) * rng.random((16, 784))
    y = np.array([3, 3, 7, 1, 3, 7, 7, 0, 3, 1, 1, 7, 3, 0, 7, 3])
    return x.astype(np.float32), y.astype(np.int32).reshape(-1, 1)


def server_weights():
    rng = np.random.default_rng(4)
    return [rng.normal(0.0, 0.05, (784, 10)).astype(np.float32),
            rng.normal(0.0, 0.1, 10).astype(np.float32)]


def _dataset():
    import tensorflow as tf

    x, y = client_batches()
    return tf.data.Dataset.from_tensor_slices(collections.OrderedDict(x=x, y=y)).batch(4)


# --- what a client update computes: the reference and the wrong versions ---------------

@functools.lru_cache(maxsize=None)
def _variant_update(kind: str, learning_rate: float, mu: float):
    """Trained weights (numpy) of FedProx's client update written as `kind`."""
    import tensorflow as tf

    from course_utils import models

    model = models.create_keras_model()
    start = [tf.constant(w) for w in server_weights()]
    weights = model.trainable_variables
    if kind != "not reset":
        for variable, value in zip(weights, start):
            variable.assign(value)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()
    coefficient = {"reference": mu, "sign": -mu, "no half": 2 * mu, "mu twice": mu * mu,
                   "not reset": mu}.get(kind, 0.0)
    for batch in _dataset():
        with tf.GradientTape() as tape:
            loss = loss_fn(batch["y"], model(batch["x"], training=True))
        gradients = tape.gradient(loss, weights)
        for variable, gradient, server in zip(weights, gradients, start):
            step = learning_rate * (gradient + coefficient * (variable - server))
            if kind == "no lr":
                step = learning_rate * gradient + mu * (variable - server)
            elif kind == "l2":
                step = learning_rate * (gradient + mu * variable)
            variable.assign_sub(step)
    if kind == "once":
        for variable, server in zip(weights, start):
            variable.assign_sub(learning_rate * mu * (variable - server))
    return tuple(v.numpy().astype(np.float64) for v in weights)


MISTAKES = {
    "sign": "your client moves AWAY from the server's weights: the proximal term's "
            "sign is flipped. The gradient of mu/2 * ||w - w_server||^2 is "
            "+mu * (w - w_server); add it to the loss's gradient (then subtract "
            "learning_rate * the sum), so that the pull goes back towards the server.",
    "fedavg": "your update is exactly FedAvg's: the proximal term has no effect. Measure "
              "the distance to `server_weights` (the weights the round started from), not "
              "to the current weights (w - w is always 0), and put the term inside the "
              "GradientTape (on the loss) or add mu * (w - server_weights) to the gradient.",
    "once": "the pull towards the server is applied once, after the local training (as if "
            "once per epoch), instead of in every SGD step. It is part of the loss, so it "
            "belongs in each step's gradient.",
    "no half": "the pull is twice as strong as it should be: mu * ||w - w_server||^2 "
               "without the 1/2 (its gradient is 2 * mu * (w - w_server)), or the term "
               "added both to the loss and to the gradient. FedProx's term is "
               "mu/2 * ||w - w_server||^2, gradient mu * (w - w_server).",
    "mu twice": "mu is applied twice: your pull is mu * mu * (w - w_server). The proximal "
                "gradient is mu * (w - w_server), once.",
    "no lr": "the proximal step is not scaled by the learning rate: you take "
             "w - learning_rate * gradient - mu * (w - w_server). Both parts of the "
             "gradient get the same step: w - learning_rate * (gradient + mu * (w - w_server)).",
    "l2": "this is L2 weight decay, a pull towards ZERO (mu * w). FedProx pulls towards "
          "the server's weights: mu * (w - server_weights).",
    "not reset": "the client did not start from `server_weights`: assign them to the "
                 "model's variables first (as fedavg.client_update does), then train.",
}


def _close(a, b) -> bool:
    return close(a, b, atol=2e-6)


def _run(client_update, model, learning_rate: float, mu: float):
    """The learner's trained weights (numpy) and number of examples counted, from a
    model whose own weights are zero (so that not starting from the server shows)."""
    import tensorflow as tf

    for variable in model.trainable_variables:
        variable.assign(tf.zeros_like(variable))
    # mu as a tensor: one trace of a tf.function for all the values tried
    result = client_update(model, _dataset(), [np.array(w) for w in server_weights()],
                           learning_rate, tf.constant(mu, tf.float32))
    if not (isinstance(result, Sequence) and len(result) == 2
            and isinstance(result[1], Mapping)):
        raise Mistake("fedprox_client_update should return (weights, totals), like "
                      f"fedavg.client_update; yours returns {type(result).__name__}.")
    weights, totals = result
    if isinstance(weights, Mapping) or len(weights) != 2:
        raise Mistake("the returned weights should be a list with one tensor per weight "
                      "(kernel and bias).")
    weights = [np.asarray(w, np.float64) for w in weights]
    try:
        examples = float(np.asarray(totals["num_examples"]))
    except Exception:  # noqa: BLE001 - explain, no traceback
        raise Mistake("the totals should be the running metrics (loss_sum, correct, "
                      "num_examples) that add_batch_metrics builds; keep that part of "
                      "client_update.") from None
    return weights, examples


@checker(EXERCISE)
def check_fedprox_client_update(client_update):
    """Exercise 10.1: grade `fedprox_client_update(model, dataset, server_weights,
    learning_rate, mu) -> (weights, totals)`: FedAvg's client step with FedProx's
    proximal term, mu/2 ||w - server_weights||^2, in every batch's loss."""
    from course_utils import models

    model = models.create_keras_model()  # one model: a tf.function traces once
    weights, examples = _run(client_update, model, LEARNING_RATE, MU)
    if any(not np.all(np.isfinite(w)) for w in weights):
        raise Mistake("your weights contain NaN or infinity. If you used the norm "
                      "||w - w_server|| (tf.norm), it has no gradient where w = w_server, "
                      "which is where every client starts: use the SQUARED norm, "
                      "mu/2 * sum((w - w_server)**2).")
    if examples != 16:
        raise Mistake(f"the totals count {examples:g} examples for 4 batches of 4: keep "
                      "the metrics part of client_update as it was.")
    expected = _variant_update("reference", LEARNING_RATE, MU)
    if not _close(weights, expected):
        raise Mistake(_which_mistake(weights))
    # mu is the parameter, and mu = 0 is FedAvg.
    for mu in (0.1, 0.0):
        weights, _ = _run(client_update, model, LEARNING_RATE, mu)
        if not _close(weights, _variant_update("reference", LEARNING_RATE, mu)):
            raise Mistake(f"with mu={mu:g} your update differs from FedProx's"
                          + (" (which is FedAvg's at mu = 0)" if mu == 0 else "")
                          + ": use the `mu` argument, not a fixed number.")
    return (f"every SGD step adds mu * (w - server_weights) to the gradient: after 4 "
            f"steps (learning rate {LEARNING_RATE:g}, mu {MU:g}) your weights match "
            "FedProx's, and at mu = 0 they are FedAvg's.")


def _which_mistake(weights) -> str:
    variants = {"sign": "sign", "fedavg": "current", "once": "once", "no half": "no half",
                "mu twice": "mu twice", "no lr": "no lr", "l2": "l2",
                "not reset": "not reset"}
    for name, kind in variants.items():
        if _close(weights, _variant_update(kind, LEARNING_RATE, MU)):
            return MISTAKES[name]
    expected = _variant_update("reference", LEARNING_RATE, MU)
    gap = max(float(np.max(np.abs(w - e))) for w, e in zip(weights, expected))
    return (f"after 4 SGD steps (learning rate {LEARNING_RATE:g}, mu {MU:g}) your weights "
            f"differ from FedProx's by up to {gap:.3g}. Each step should be "
            "w <- w - learning_rate * (gradient + mu * (w - server_weights)).")
