"""Checkers for notebook 05 (FedAvg from scratch): the learner writes real parts of FedAvg.

- `check_client_update(fn)`: the local training step. Runs the learner's
  `client_update` on a tiny dataset of three batches from known, non-zero server
  weights, and compares the weights with plain SGD computed here in NumPy; each known
  mistake (weights not loaded, wrong sign, gradient not applied, the learning rate
  ignored, ...) is recognised from the numbers it produces.
- `check_unweighted_next_fn(build)`: `next_fn`'s composition (broadcast, map, mean,
  server update). Builds the learner's `next_fn` around tiny test computations whose
  arithmetic makes every mistake visible, runs it on three clients, and names the
  mistake from the result.
- `check_weighted_next_fn(build)`: the same, example-weighted.

The test computations of the two `next_fn` checkers: a client's data is a sequence of
batches of numbers; a client returns the weights `[w0 + [s, 1], w1 / 2 + s]` (s = the
sum of its numbers), the metrics `<loss = s / n, accuracy = n / 10>` and `n`, its
number of examples; the server step squares the mean (so that it cannot be mistaken for
doing nothing, nor be moved to the clients unseen).

`use(verdict, yours, name)` picks the learner's code once it passes, and the reference
from `course_utils.fedavg` until then, so later cells run.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence

import numpy as np

from course_utils import exercises
from course_utils.exercises import Mistake, checker
from course_utils.exercises._harness import close, first_line, fmt

EX1 = "Exercise 5.1 · local training in client_update"
EX2 = "Exercise 5.2 · next_fn, unweighted"
EX3 = "Exercise 5.3 · next_fn, example-weighted"


# Your function once its check passes, else the course's: nb05.use(verdict, yours, name).
use = exercises.fallback_to({name: "course_utils.fedavg" for name in (
    "client_update", "build_unweighted_next_fn", "build_weighted_next_fn")})

# --- exercise 5.1: the local training step -------------------------------------------

LEARNING_RATE = 0.1  # not the notebook's 0.3, so a hard-coded rate shows
BATCH_SIZES = (4, 4, 2)


def _close(a, b) -> bool:  # float32 training against float64 NumPy
    return close(a, b, rtol=1e-3, atol=1e-5)


def client_update_inputs():
    """(server_weights, batches): known non-zero weights, three batches of (x, y)."""
    rng = np.random.default_rng(5)
    server = [rng.normal(0.0, 0.05, (784, 10)).astype(np.float32),
              rng.normal(0.0, 0.1, 10).astype(np.float32)]
    batches = [(rng.random((n, 784)).astype(np.float32),
                rng.integers(0, 10, (n, 1)).astype(np.int32)) for n in BATCH_SIZES]
    return server, batches


def _dataset(batches):
    import tensorflow as tf

    def generate():
        for x, y in batches:
            yield collections.OrderedDict(x=x, y=y)

    from course_utils import models

    return tf.data.Dataset.from_generator(generate, output_signature=models.input_spec())


def _gradient(weights, x, y):
    """Loss and gradient of the course model's mean cross-entropy (float64 NumPy)."""
    kernel, bias = (np.asarray(w, np.float64) for w in weights)
    logits = x.astype(np.float64) @ kernel + bias
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = y[:, 0]
    loss = -np.mean(np.log(probs[np.arange(len(labels)), labels]))
    error = (probs - np.eye(10)[labels]) / len(labels)
    return loss, [x.T.astype(np.float64) @ error, error.sum(axis=0)]


def _sgd(start, batches, lr, step="gradient", sign=-1.0, restart=False):
    """Weights after one pass over `batches` (a variant of SGD, for the mistakes)."""
    weights = [np.asarray(w, np.float64) for w in start]
    for x, y in batches:
        at = [np.asarray(w, np.float64) for w in start] if restart else weights
        loss, gradient = _gradient(at, x, y)
        delta = gradient if step == "gradient" else [np.full_like(w, loss) for w in at]
        weights = [w + sign * lr * d for w, d in zip(at, delta)]
    return weights


def _one_step_for_all(start, batches, lr):
    """One SGD step with the mean of the batches' gradients at the start weights."""
    gradients = [_gradient(start, x, y)[1] for x, y in batches]
    return [np.asarray(w, np.float64) - lr * np.mean([g[i] for g in gradients], axis=0)
            for i, w in enumerate(start)]


def _client_update_mistakes(server, zeros, batches, lr):
    """(weights a known mistake produces, what to say), in the order they are tried."""
    from course_utils.settings import COURSE

    return [
        (_sgd(zeros, batches, lr),
         "the weights trained from the model's own initial weights (zeros), not from "
         "server_weights: assign the server's weights to model.trainable_variables "
         "(variable.assign(value)) before the first batch. Every client must start the "
         "round from the server's model."),
        ([np.asarray(w, np.float64) for w in server],
         "the weights came back unchanged: nothing was trained. In every batch compute "
         "the gradient of the loss and update each variable: "
         "variable.assign_sub(learning_rate * gradient)."),
        ([np.zeros_like(w, np.float64) for w in server],
         "the weights came back as the model's initial weights (zeros): load "
         "server_weights into the model, then train on every batch."),
        (_sgd(server, batches, lr, sign=+1.0),
         "the weights moved UP the gradient (gradient ascent), so the loss grows: "
         "subtract the step, variable.assign_sub(learning_rate * gradient)."),
        (_sgd(server, batches, 1.0),
         "the step ignores the learning_rate argument (it is 1.0, plain "
         "assign_sub(gradient)): multiply the gradient by learning_rate."),
        (_sgd(server, batches, COURSE.client_learning_rate),
         f"the step uses the learning rate {COURSE.client_learning_rate:g}, not the "
         f"learning_rate argument ({lr:g} in this check): a global such as "
         "CLIENT_LEARNING_RATE? Use the argument, so that every caller chooses."),
        (_sgd(server, batches, lr, step="loss"),
         "every weight moved by the same amount, learning_rate × loss: the step must "
         "use the GRADIENT of the loss with respect to each variable "
         "(tape.gradient(loss, weights)), not the loss itself."),
        (_sgd(server, batches, lr, restart=True),
         "only the last batch counted: every batch started again from server_weights. "
         "Load the server's weights once, before the loop; then each batch continues "
         "from the weights the previous batch left."),
        (_one_step_for_all(server, batches, lr),
         "you took ONE step with the average gradient of the whole dataset (gradient "
         "descent), but FedAvg's clients take one SGD step per batch: update the "
         "variables inside train_on_batch, for every batch."),
    ]


@checker(EX1)
def check_client_update(client_update):
    """Exercise 5.1: grade `client_update(model, dataset, server_weights,
    learning_rate) -> (weights, totals)`: train `model` on one client's dataset with plain
    mini-batch SGD, starting from `server_weights`; return the trained weights and the
    summed metrics."""
    import tensorflow as tf

    from course_utils import models

    server, batches = client_update_inputs()
    model = models.create_keras_model()
    zeros = [np.zeros(v.shape, np.float32) for v in model.trainable_variables]
    result = tf.function(client_update)(model, _dataset(batches),
                                        [tf.constant(w) for w in server], LEARNING_RATE)
    weights, totals = _split_result(result)
    expected = _sgd(server, batches, LEARNING_RATE)
    if not _close(weights, expected):
        for candidate, message in _client_update_mistakes(server, zeros, batches,
                                                          LEARNING_RATE):
            if _close(weights, candidate):
                raise Mistake(message)
        difference = max(float(np.max(np.abs(w - e))) for w, e in zip(weights, expected))
        raise Mistake(
            f"after {len(batches)} batches at learning rate {LEARNING_RATE:g} from known "
            f"server weights, your weights differ from plain SGD's by up to "
            f"{difference:.3g}. Load server_weights into the model, then for each batch: "
            "the loss on the batch's predictions, its gradient with tf.GradientTape, and "
            "variable.assign_sub(learning_rate * gradient).")
    examples = float(np.asarray(totals["num_examples"]))
    if examples != sum(BATCH_SIZES):
        raise Mistake(f"the totals count {examples:g} examples for batches of "
                      f"{BATCH_SIZES}: keep the add_batch_metrics line that ends "
                      "train_on_batch as it was.")
    loss = float(np.asarray(totals["loss_sum"])) / examples
    before = [_gradient(_sgd(server, batches[:i], LEARNING_RATE), x, y)[0] * len(y)
              for i, (x, y) in enumerate(batches)]
    if not np.isclose(loss, sum(before) / examples, rtol=1e-3):
        raise Mistake("the totals' loss is not the loss of each batch before its step: "
                      "pass add_batch_metrics the loss and predictions computed in the "
                      "GradientTape.")
    return (f"{len(batches)} SGD steps at learning rate {LEARNING_RATE:g} from the "
            f"server's weights: bias now [{fmt(weights[1][:3])}, ...], as plain SGD "
            f"gives; training loss {loss:.3f} on {examples:g} examples.")


def _split_result(result):
    if not (isinstance(result, Sequence) and len(result) == 2
            and isinstance(result[1], Mapping)):
        raise Mistake("client_update should return (weights, totals): the list of new "
                      "weights and the running totals of add_batch_metrics; yours "
                      f"returns {type(result).__name__}. Keep the skeleton's return line.")
    weights, totals = result
    if isinstance(weights, Mapping) or not isinstance(weights, Sequence) or len(weights) != 2:
        raise Mistake("the weights should be a list of two tensors [kernel, bias], like "
                      "model.trainable_variables.")
    return [np.asarray(w, np.float64) for w in weights], totals


# --- exercises 2 and 3: next_fn -----------------------------------------------------

SERVER_WEIGHTS = [np.array([1.0, 2.0], np.float32), np.float32(3.0)]
# Three clients, each a list of batches of numbers: examples (3, 1, 4), batches (2, 1, 2)
CLIENT_DATA = [[[1.0, 2.0], [3.0]], [[10.0]], [[0.5, 0.5], [0.5, 0.5]]]


def _test_computations():
    """(client_update_fn, server_update_fn, weights_type, data_type) of the checks."""
    import tensorflow as tf
    import tensorflow_federated as tff

    weights_type = tff.types.tensorflow_to_type(
        [tf.TensorSpec([2], tf.float32), tf.TensorSpec([], tf.float32)])
    data_type = tff.SequenceType(tff.TensorType(np.float32, [None]))

    @tff.tensorflow.computation(data_type, weights_type)
    def client_update_fn(dataset, server_weights):
        total, count = dataset.reduce(
            (tf.constant(0.0), tf.constant(0.0)),
            lambda state, batch: (state[0] + tf.reduce_sum(batch),
                                  state[1] + tf.cast(tf.size(batch), tf.float32)))
        weights = [server_weights[0] + tf.stack([total, 1.0]),
                   server_weights[1] / 2.0 + total]
        metrics = collections.OrderedDict(loss=total / count, accuracy=count / 10.0)
        return weights, metrics, count

    @tff.tensorflow.computation(weights_type)
    def server_update_fn(mean_client_weights):
        return [tf.square(w) for w in mean_client_weights]

    return client_update_fn, server_update_fn, weights_type, data_type


def _client_numbers():
    """Per client: the weights it returns, its metrics, examples and batches."""
    w0, w1 = SERVER_WEIGHTS
    rows = []
    for batches in CLIENT_DATA:
        s, n = float(sum(map(sum, batches))), float(sum(map(len, batches)))
        rows.append(dict(weights=[w0 + np.array([s, 1.0]), w1 / 2 + s],
                         metrics=[s / n, n / 10], examples=n, batches=float(len(batches))))
    return rows


def _mean(values, weights=None):
    weights = np.ones(len(values)) if weights is None else np.asarray(weights, np.float64)
    return [sum(w * v[i] for w, v in zip(weights, values)) / weights.sum()
            for i in range(len(values[0]))]


def _square(weights):
    return [np.square(w) for w in weights]


def _weights_mistakes(weighted: bool):
    """(new server weights a known mistake produces, what to say), in the order tried."""
    rows = _client_numbers()
    weights = [r["weights"] for r in rows]
    examples = [r["examples"] for r in rows]
    right_mean = _mean(weights, examples if weighted else None)
    scaled = [[n * w for w in ws] for n, ws in zip(examples, weights)]
    if weighted:
        mistakes = [
            (_square(_mean(weights)),
             "the new weights are the server step applied to the UNWEIGHTED mean: every "
             "client counted once, as in exercise 5.2. Here a client with 4 examples must "
             "count four times as much as one with 1."),
            (_square(_mean(weights, [r["batches"] for r in rows])),
             "the clients were weighted by their numbers of BATCHES (dataset elements: "
             "the client datasets are batched, so counting elements counts batches). "
             "Count examples: client_update_fn's third output."),
        ]
    else:
        mistakes = [
            (_square(_mean(weights, examples)),
             "the mean is weighted by the clients' numbers of examples: that is "
             "exercise 5.3. This process is UNWEIGHTED FedAvg: in the model's mean every "
             "client counts once, whatever its number of examples."),
        ]
    return mistakes + [
        (_square([sum(w[i] for w in weights) for i in range(2)]),
         "the new weights are the server step applied to the SUM of the client weights, "
         "not their mean."),
        (right_mean,
         "the new weights are the clients' mean without the server step: pass the mean "
         "through server_update_fn with tff.federated_map (step 4)."),
        (_mean([_square(w) for w in weights], examples if weighted else None),
         "the server step ran on every client's weights (a federated_map of "
         "server_update_fn over the client weights) and they were averaged after it: "
         "average first, then apply server_update_fn to the mean, at the server."),
        ([np.asarray(w, np.float64) for w in SERVER_WEIGHTS],
         "the server's weights came back unchanged: return the result of the server "
         "step, not the server_weights argument."),
        (_square(SERVER_WEIGHTS),
         "the server step was applied to the old server weights (or to the mean of the "
         "broadcast weights), so the clients' training did not count: average "
         "client_update_fn's first output, the client weights."),
        (_square([sum(w[i] for w in scaled) for i in range(2)]),
         "you summed the example-scaled weights n_i * w_i but did not divide by the total "
         "number of examples."),
        (_square(_mean(scaled)),
         "you averaged the example-scaled weights n_i * w_i over the clients, which "
         "divides by the number of clients, not by the total number of examples."),
        (_square([sum(n * n * w[i] for n, w in zip(examples, weights)) / sum(examples)
                  for i in range(2)]),
         "the clients were weighted twice by their numbers of examples (n_i² instead of "
         "n_i: the weights scaled by num_examples, then averaged weighted by it again): "
         "weight once."),
    ]


def _metrics_mistake(metrics) -> str | None:
    rows = _client_numbers()
    values = [r["metrics"] for r in rows]
    examples = [r["examples"] for r in rows]
    if _close(metrics, _mean(values, examples)):
        return None
    if _close(metrics, _mean(values)):
        return ("the round's metrics are the mean of the clients' own figures, every "
                "client counted once. The loss over all the round's examples counts each "
                "client in proportion to its number of examples (client_update_fn's "
                "third output): a client with 4 examples holds four times as many of "
                "them as a client with 1.")
    if _close(metrics, _mean(values, [r["batches"] for r in rows])):
        return ("the round's metrics are weighted by the clients' numbers of BATCHES "
                "(dataset elements): weight by examples, client_update_fn's third "
                "output.")
    if _close(metrics, [sum(v[i] for v in values) for i in range(2)]):
        return ("the round's metrics are summed over the clients: the loss over all "
                "the round's examples is a mean, not a sum.")
    return (f"the round's metrics are [{fmt(metrics)}], expected "
            f"[{fmt(_mean(values, examples))}]: the loss and accuracy over all the "
            "round's examples.")


def _trace(build):
    """The learner's next_fn built around the test computations (explains failures)."""
    client_update_fn, server_update_fn, weights_type, data_type = _test_computations()
    try:
        next_fn = build(client_update_fn, server_update_fn, weights_type, data_type)
    except (NotImplementedError, Mistake):
        raise
    except TypeError as error:
        text = first_line(error)
        if "mapped" in text and "SERVER" in text:
            raise Mistake(
                "tracing next_fn failed: tff.federated_map got the clients' data with "
                f"server_weights still at the server ({text}). Broadcast the server's "
                "weights to the clients first: tff.federated_broadcast(server_weights).") \
                from None
        if "placed at CLIENTS" in text and "broadcast" in text:
            raise Mistake(f"tracing next_fn failed: you broadcast a value that is already "
                          f"at the clients ({text}). Broadcast server_weights only.") \
                from None
        if "placed at SERVER" in text:
            raise Mistake(f"tracing next_fn failed: {text} Aggregate values that are at "
                          "the clients (client_update_fn's outputs).") from None
        if type(error).__name__ == "TypeNotAssignableError" and (
                text.endswith("@SERVER`") or text.endswith("@CLIENTS`")):
            raise Mistake(
                f"tracing next_fn failed: a TensorFlow computation (client_update_fn or "
                f"server_update_fn) was called on a placed value ({text}). A TensorFlow "
                "computation runs in one place, on plain values: apply it to a value at "
                "the clients or at the server with tff.federated_map.") from None
        raise Mistake(f"tracing next_fn failed with TypeError: {text}") from None
    return next_fn, weights_type


def _check_result_type(next_fn, weights_type) -> None:
    import tensorflow_federated as tff

    if not hasattr(next_fn, "type_signature"):
        raise Mistake("your builder should return the tff.federated_computation next_fn, "
                      f"not {type(next_fn).__name__}.")
    result = next_fn.type_signature.result
    if not isinstance(result, tff.StructType) or len(result) != 2:
        raise Mistake(f"next_fn should return a pair (new server weights, metrics); its "
                      f"result type is {result}.")
    state, metrics = result[0], result[1]
    if isinstance(state, tff.FederatedType) and state.placement == tff.CLIENTS:
        raise Mistake(f"next_fn returns the new state at the clients ({state}): those are "
                      "the client weights. Average them to the server (federated_mean), "
                      "then apply the server step; the state lives at the SERVER.")
    if not (isinstance(state, tff.FederatedType) and state.placement == tff.SERVER
            and state.member == weights_type):
        raise Mistake(f"next_fn's first result should be the new weights at the server, "
                      f"{tff.FederatedType(weights_type, tff.SERVER)} (the type of its "
                      f"input state), but it is {state}.")
    if isinstance(metrics, tff.FederatedType) and metrics.placement == tff.CLIENTS:
        raise Mistake(f"next_fn returns the metrics at the clients ({metrics}): the "
                      "round's metrics are one loss and one accuracy, at the server.")
    if not (isinstance(metrics, tff.FederatedType) and metrics.placement == tff.SERVER):
        raise Mistake(f"next_fn's second result should be the round's metrics at the "
                      f"server, <loss=float32,accuracy=float32>@SERVER; it is {metrics}.")


def _run(next_fn):
    """(new weights, [loss, accuracy]) of one round on the checker's three clients."""
    datasets = [[np.asarray(batch, np.float32) for batch in client] for client in CLIENT_DATA]
    new_weights, metrics = next_fn(SERVER_WEIGHTS, datasets)
    if isinstance(metrics, Mapping) and {"loss", "accuracy"} <= set(metrics):
        metrics = [metrics["loss"], metrics["accuracy"]]
    try:
        metrics = [float(np.asarray(m)) for m in metrics]
    except (TypeError, ValueError):
        raise Mistake("the round's metrics should be client_update_fn's metrics "
                      "<loss, accuracy>, averaged at the server.") from None
    return [np.asarray(w, np.float64) for w in new_weights], metrics


def _check_next_fn(build, weighted: bool) -> str:
    next_fn, weights_type = _trace(build)
    _check_result_type(next_fn, weights_type)
    new_weights, metrics = _run(next_fn)
    rows = _client_numbers()
    weights = [r["weights"] for r in rows]
    expected = _square(_mean(weights, [r["examples"] for r in rows] if weighted else None))
    if not _close(new_weights, expected):
        for candidate, message in _weights_mistakes(weighted):
            if _close(new_weights, candidate):
                raise Mistake(message)
        raise Mistake(
            f"on the checker's three test clients the new weights are "
            f"[{fmt(np.concatenate([np.ravel(w) for w in new_weights]))}], expected "
            f"[{fmt(np.concatenate([np.ravel(w) for w in expected]))}]: "
            f"server_update_fn applied to the {'example-weighted ' if weighted else ''}"
            "mean of the weights the clients trained from the server's weights.")
    problem = _metrics_mistake(metrics)
    if problem:
        raise Mistake(problem)
    kind = "weighted by examples (3, 1, 4)" if weighted else "each client counted once"
    return (f"broadcast, client update, mean ({kind}) and server step, in that order; "
            f"on the checker's three test clients the new weights are "
            f"[{fmt(np.concatenate([np.ravel(w) for w in new_weights]))}] and the "
            f"metrics are weighted by examples.")


@checker(EX2)
def check_unweighted_next_fn(build_next_fn):
    """Exercise 5.2: grade `build_unweighted_next_fn(client_update_fn, server_update_fn,
    weights_type, data_type)`, which returns `next_fn(server_weights, federated_dataset)`:
    one FedAvg round whose new server weights come from the mean of the clients' trained
    weights (each client once), with the round's metrics over all its examples."""
    return _check_next_fn(build_next_fn, weighted=False)


@checker(EX3)
def check_weighted_next_fn(build_weighted_next_fn):
    """Exercise 5.3: grade `build_weighted_next_fn(...)` (the same arguments): the same
    round, except that each client's weights count in proportion to its number of
    examples."""
    return _check_next_fn(build_weighted_next_fn, weighted=True)
