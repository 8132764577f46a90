"""Checkers for notebook 10 (remedies for drift): SCAFFOLD and the server optimizers.

- `check_scaffold_client_update(fn)`: SCAFFOLD's client (option II),
  `fn(model, dataset, server_weights, server_control, client_control, learning_rate)
  -> (weights_delta, control_delta, new_control, totals)`. Runs it on a small hand-made
  client (the course's linear model, four batches of four, known non-zero x, c and c_i)
  and compares with the same rule in NumPy and with each plausible wrong version.
- `check_scaffold_next_fn(build)`: `build(client_update_fn, state_type, data_type,
  weights_type, server_learning_rate)` returns SCAFFOLD's `next_fn`. It is built around
  a test client computation whose arithmetic makes every mistake visible, and run on
  three clients out of N = 8.
- `check_server_update(fn)`: the server-optimizer step, `fn(optimizer, state,
  mean_client_weights) -> new state`, run inside a TensorFlow computation for three
  rounds with TFF's SGD with momentum (and again with Adam).

The references are the course's own: `course_utils.scaffold.scaffold_client_update`,
`scaffold.build_scaffold_next_fn` and `course_utils.server_optimizers.server_update`;
Notebook 10 calls them, and `use`, through `course_utils.exercises.nb10`.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Mapping, Sequence

import numpy as np

from course_utils.exercises import Mistake, checker
from course_utils.exercises._harness import close, first_line, fmt

EX_CLIENT = "Exercise 10.2 · SCAFFOLD's client step"
EX_NEXT = "Exercise 10.3 · SCAFFOLD's next_fn"
EX_SERVER = "Exercise 10.4 · server optimizer step"

REFERENCES = {"scaffold_client_update": "course_utils.scaffold",
              "build_scaffold_next_fn": "course_utils.scaffold",
              "server_update": "course_utils.server_optimizers"}


def _weight_list(value, what: str, count: int = 2) -> list[np.ndarray]:
    if isinstance(value, Mapping) or not isinstance(value, Sequence) or len(value) != count:
        raise Mistake(f"{what} should be a list with one tensor per weight ({count} "
                      f"here: kernel and bias), got {type(value).__name__}.")
    return [np.asarray(v, np.float64) for v in value]


# --- exercise 10.2: SCAFFOLD's client step -------------------------------------------

LEARNING_RATE = 0.2  # not the course's 0.3, so that a hard-coded rate shows
BATCHES, BATCH_SIZE = 4, 4


def client_inputs():
    """(x, c, c_i, batches): known non-zero server weights and control variates, and
    four batches of four examples with sparse ink."""
    rng = np.random.default_rng(10)

    def weights(scale):
        return [rng.normal(0.0, scale, (784, 10)), rng.normal(0.0, 2 * scale, 10)]

    x, c, c_i = weights(0.05), weights(0.02), weights(0.02)
    pixels = (rng.random((BATCHES * BATCH_SIZE, 784)) < 0.15) * rng.random((16, 784))
    labels = rng.choice([1, 3, 7], BATCHES * BATCH_SIZE)
    batches = [(pixels[i:i + BATCH_SIZE], labels[i:i + BATCH_SIZE])
               for i in range(0, BATCHES * BATCH_SIZE, BATCH_SIZE)]
    return x, c, c_i, batches


def _dataset(batches):
    import tensorflow as tf

    x = np.concatenate([b[0] for b in batches]).astype(np.float32)
    y = np.concatenate([b[1] for b in batches]).astype(np.int32).reshape(-1, 1)
    return tf.data.Dataset.from_tensor_slices(
        collections.OrderedDict(x=x, y=y)).batch(BATCH_SIZE)


def _gradient(weights, batch):
    from course_utils import scaffold

    return scaffold.softmax_gradient(weights, batch[0], batch[1])


@functools.lru_cache(maxsize=None)
def _client_numbers(step: str = "reference", control: str = "reference",
                    learning_rate: float = LEARNING_RATE):
    """(dy, c_i+) in NumPy of a client whose local step is written as `step` and whose
    new control variate as `control` ("reference": option II, the right answer)."""
    x, c, c_i, batches = client_inputs()
    correction = {"sign": [a - b for a, b in zip(c_i, c)], "no c_i": c,
                  "no c": [-v for v in c_i], "none": [0 * v for v in c]}.get(
        step, [a - b for a, b in zip(c, c_i)])
    y = [0 * w for w in x] if step == "not reset" else [w.copy() for w in x]
    for batch in batches:
        g = _gradient(y, batch)
        if step == "unscaled":
            y = [w - learning_rate * gw - k for w, gw, k in zip(y, g, correction)]
        else:
            y = [w - learning_rate * (gw + k) for w, gw, k in zip(y, g, correction)]
    k, n = len(batches), sum(len(b[1]) for b in batches)
    drift = [a - b for a, b in zip(x, y)]  # x - y
    at_x = [np.mean([_gradient(x, b)[j] for b in batches], axis=0) for j in range(2)]
    base = [a - b for a, b in zip(c_i, c)]  # c_i - c
    new = {
        "reference": [b + d / (k * learning_rate) for b, d in zip(base, drift)],
        "option I": at_x,
        "option I, one batch": _gradient(x, batches[0]),
        "mixed": [b + g for b, g in zip(base, at_x)],
        "no c_i - c": [d / (k * learning_rate) for d in drift],
        "unchanged": c_i,
        "no K eta": [b + d for b, d in zip(base, drift)],
        "no K": [b + d / learning_rate for b, d in zip(base, drift)],
        "no eta": [b + d / k for b, d in zip(base, drift)],
        "examples": [b + d / (n * learning_rate) for b, d in zip(base, drift)],
        "drift sign": [b - d / (k * learning_rate) for b, d in zip(base, drift)],
        "c plus": [a + b + d / (k * learning_rate) for a, b, d in zip(c_i, c, drift)],
    }[control]
    return tuple(-d for d in drift), tuple(new)


STEP_MISTAKES = {
    "sign": "the correction's sign is flipped: your steps follow g + c_i - c. SCAFFOLD "
            "replaces the client's own drift (c_i) by everybody's (c): "
            "y <- y - learning_rate * (g - c_i + c).",
    "none": "the steps are plain SGD, FedAvg's: the correction - c_i + c is missing from "
            "every step, y <- y - learning_rate * (g - c_i + c).",
    "no c_i": "the correction is only + c: the client's own control variate c_i is "
              "missing. Each step follows g - c_i + c.",
    "no c": "the correction is only - c_i: the server's control variate c is missing. "
            "Each step follows g - c_i + c.",
    "unscaled": "the correction is not scaled by the learning rate: you took "
                "y - learning_rate * g - (c - c_i). It is part of the gradient: "
                "y <- y - learning_rate * (g - c_i + c).",
    "not reset": "the client did not start from server_weights: assign them to the "
                 "model's variables first (as fedavg.client_update does), then train.",
    "course rate": "the steps use the learning rate 0.3, not the learning_rate argument "
                   f"({LEARNING_RATE:g} in this check): use the argument.",
}

CONTROL_MISTAKES = {
    "option I": "your c_i+ is the gradient of the client's loss at the server's weights "
                "x: that is option I of the paper, which costs an extra pass. This "
                "exercise is option II, which reuses the local steps: "
                "c_i+ = c_i - c + (x - y) / (K * learning_rate).",
    "option I, one batch": "your c_i+ is the gradient of the first batch at the server's "
                           "weights x (option I, on one batch). Option II reuses the "
                           "local steps: c_i+ = c_i - c + (x - y) / (K * learning_rate).",
    "mixed": "you mixed option I into option II: c_i - c + (the gradient at x). Option "
             "II's last term is the mean corrected step of the local training, "
             "(x - y) / (K * learning_rate), not a fresh gradient.",
    "no c_i - c": "your c_i+ is (x - y) / (K * learning_rate) alone: that is the mean "
                  "CORRECTED step. The steps followed g - c_i + c, so add back c_i - c: "
                  "c_i+ = c_i - c + (x - y) / (K * learning_rate), the mean raw gradient.",
    "unchanged": "c_i came back unchanged: the client must return its new control "
                 "variate c_i+ = c_i - c + (x - y) / (K * learning_rate), else SCAFFOLD "
                 "never learns the clients' drift.",
    "no K eta": "you did not divide (x - y) by K * learning_rate: the distance the client "
                "travelled is K steps of size learning_rate, and c_i+ estimates one "
                "gradient: c_i - c + (x - y) / (K * learning_rate).",
    "no K": "(x - y) was divided by the learning rate but not by K, the number of local "
            "steps (or K was counted as 1: a Python counter inside dataset.reduce's "
            "function runs once, when it is traced; count in the reduce state).",
    "no eta": "(x - y) was divided by K but not by the learning rate: "
              "c_i - c + (x - y) / (K * learning_rate).",
    "examples": "(x - y) was divided by the number of EXAMPLES times the learning rate; "
                "K is the number of local steps (batches), 4 here, not 16 examples.",
    "drift sign": "the last term has the wrong sign: (y - x) instead of (x - y). The "
                  "client moved by -learning_rate * (corrected gradient) per step, so "
                  "(x - y) / (K * learning_rate) is the mean corrected gradient.",
    "c plus": "you added c where option II subtracts it: c_i+ = c_i - c + (x - y) / "
              "(K * learning_rate).",
}


def _run_client(client_update):
    """The learner's (dy, dc, c_i+, examples counted) as NumPy, from a model whose own
    weights are zero (so that not starting from the server shows)."""
    import tensorflow as tf

    from course_utils import models

    x, c, c_i, batches = client_inputs()
    model = models.create_keras_model()
    for variable in model.trainable_variables:
        variable.assign(tf.zeros_like(variable))
    tensors = [[tf.constant(w, tf.float32) for w in ws] for ws in (x, c, c_i)]
    result = tf.function(client_update)(model, _dataset(batches), *tensors, LEARNING_RATE)
    if not (isinstance(result, Sequence) and len(result) == 4
            and isinstance(result[3], Mapping)):
        raise Mistake("scaffold_client_update should return (weights_delta, "
                      "control_delta, new_control, totals); yours returns "
                      f"{type(result).__name__}"
                      + (f" of {len(result)}" if isinstance(result, Sequence) else "") + ".")
    dy, dc, new = (_weight_list(v, name) for v, name in zip(
        result[:3], ("weights_delta", "control_delta", "new_control")))
    try:
        examples = float(np.asarray(result[3]["num_examples"]))
    except Exception:  # noqa: BLE001 - explain, no traceback
        raise Mistake("the totals should be the running metrics (loss_sum, correct, "
                      "num_examples) that add_batch_metrics builds.") from None
    return dy, dc, new, examples


def _step_mistake(dy) -> str:
    x = client_inputs()[0]
    if close(dy, [-w for w in _client_numbers()[0]]):
        return ("weights_delta has the wrong sign: it is x - y. The client sends "
                "dy = y - x, its trained weights minus the server's.")
    if close(dy, [a + b for a, b in zip(x, _client_numbers()[0])]):
        return ("weights_delta is the trained weights y, not the change: send "
                "dy = y - x, the trained weights minus server_weights.")
    for kind, message in STEP_MISTAKES.items():
        if kind == "course rate":
            candidate = _client_numbers(learning_rate=0.3)[0]
        else:
            candidate = _client_numbers(step=kind)[0]
        if close(dy, candidate):
            return message
    expected = _client_numbers()[0]
    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(dy, expected))
    return (f"after {BATCHES} corrected steps (learning rate {LEARNING_RATE:g}) your "
            f"weights_delta differs from SCAFFOLD's by up to {gap:.3g}. Each step is "
            "y <- y - learning_rate * (g - c_i + c), from y = server_weights; "
            "dy = y - server_weights.")


def _control_mistake(new) -> str:
    for kind, message in CONTROL_MISTAKES.items():
        if close(new, _client_numbers(control=kind)[1]):
            return message
    expected = _client_numbers()[1]
    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(new, expected))
    return (f"your new control variate differs from option II's by up to {gap:.3g}: "
            "c_i+ = c_i - c + (x - y) / (K * learning_rate), with K the number of local "
            f"steps ({BATCHES} here).")


@checker(EX_CLIENT)
def check_scaffold_client_update(client_update):
    """Exercise 10.2: grade `scaffold_client_update(model, dataset, server_weights,
    server_control, client_control, learning_rate) -> (weights_delta, control_delta,
    new_control, totals)`: SCAFFOLD's corrected local steps and the client's new control
    variate (option II)."""
    dy, dc, new, examples = _run_client(client_update)
    if any(not np.all(np.isfinite(v)) for v in dy + dc + new):
        raise Mistake("your results contain NaN or infinity: did K (the number of local "
                      "steps) stay 0? Count the steps in dataset.reduce's state.")
    if not close(dy, _client_numbers()[0]):
        raise Mistake(_step_mistake(dy))
    expected_new = _client_numbers()[1]
    if not close(new, expected_new):
        raise Mistake(_control_mistake(new))
    c_i = client_inputs()[2]
    if not close(dc, [a - b for a, b in zip(expected_new, c_i)]):
        if close(dc, expected_new):
            raise Mistake("control_delta is c_i+ itself: the client sends the change, "
                          "dc = c_i+ - c_i (the server adds sum(dc) / N to c).")
        if close(dc, [b - a for a, b in zip(expected_new, c_i)]):
            raise Mistake("control_delta has the wrong sign: dc = c_i+ - c_i.")
        raise Mistake("control_delta should be c_i+ - c_i, the change of the client's "
                      "control variate.")
    if examples != BATCHES * BATCH_SIZE:
        raise Mistake(f"the totals count {examples:g} examples for {BATCHES} batches of "
                      f"{BATCH_SIZE}: keep the add_batch_metrics line of client_update.")
    return (f"{BATCHES} corrected steps g - c_i + c at learning rate {LEARNING_RATE:g} "
            "match SCAFFOLD's, and c_i+ = c_i - c + (x - y) / (K * learning_rate) is "
            f"option II's, with K = {BATCHES} steps.")


# --- exercise 10.3: SCAFFOLD's next_fn -----------------------------------------------

SERVER_LEARNING_RATE, NUM_CLIENTS = 0.5, 8  # 3 clients of N = 8 take part: |S|/N = 3/8
SERVER_STATE = collections.OrderedDict(
    weights=[np.array([1.0, 2.0], np.float32), np.float32(3.0)],
    control=[np.array([0.5, -1.0], np.float32), np.float32(0.25)])
CLIENT_DATA = [[[1.0, 2.0], [3.0]], [[10.0]], [[0.5, 0.5], [0.5, 0.5]]]
CLIENT_CONTROLS = [[np.array([0.1, 0.2], np.float32), np.float32(0.3)],
                   [np.array([-0.4, 0.0], np.float32), np.float32(0.5)],
                   [np.array([1.0, -1.0], np.float32), np.float32(-0.2)]]


def _test_client(s, n, x, c, c_i):
    """What the test client computation returns, in NumPy: dy depends on x, c and c_i,
    c_i+ on c and c_i, each in its own way."""
    pull = [np.array([s, n]) / 10.0, s / 20.0]
    dy = [p - 0.1 * xw - cw + 0.5 * ci for p, xw, cw, ci in zip(pull, x, c, c_i)]
    new = [ci - cw + p for ci, cw, p in zip(c_i, c, pull)]
    return dict(dy=dy, new=new, dc=[a - b for a, b in zip(new, c_i)],
                metrics=[s / n, n / 10.0], n=n)


def _next_fn_computations():
    """(client_update_fn, state_type, data_type, weights_type) of the check."""
    import tensorflow as tf
    import tensorflow_federated as tff

    weights_type = tff.types.tensorflow_to_type(
        [tf.TensorSpec([2], tf.float32), tf.TensorSpec([], tf.float32)])
    state_type = tff.StructType([("weights", weights_type), ("control", weights_type)])
    data_type = tff.SequenceType(tff.TensorType(np.float32, [None]))

    @tff.tensorflow.computation(data_type, weights_type, weights_type, weights_type)
    def client_update_fn(dataset, server_weights, server_control, client_control):
        s, n = dataset.reduce(
            (tf.constant(0.0), tf.constant(0.0)),
            lambda state, batch: (state[0] + tf.reduce_sum(batch),
                                  state[1] + tf.cast(tf.size(batch), tf.float32)))
        pull = [tf.stack([s, n]) / 10.0, s / 20.0]
        dy = [p - 0.1 * x - c + 0.5 * ci for p, x, c, ci
              in zip(pull, server_weights, server_control, client_control)]
        new = [ci - c + p for ci, c, p in zip(client_control, server_control, pull)]
        return collections.OrderedDict(
            weights_delta=dy, control_delta=[a - b for a, b in zip(new, client_control)],
            metrics=collections.OrderedDict(loss=s / n, accuracy=n / 10.0),
            num_examples=n, new_control=new)

    return client_update_fn, state_type, data_type, weights_type


def _clients(x, c):
    rows = []
    for batches, c_i in zip(CLIENT_DATA, CLIENT_CONTROLS):
        s, n = float(sum(map(sum, batches))), float(sum(map(len, batches)))
        rows.append(_test_client(s, n, [np.asarray(v, np.float64) for v in x],
                                 [np.asarray(v, np.float64) for v in c], c_i))
    return rows


def _mean(values, weights=None):
    weights = np.ones(len(values)) if weights is None else np.asarray(weights, np.float64)
    return [sum(w * v[j] for w, v in zip(weights, values)) / weights.sum()
            for j in range(len(values[0]))]


def _sum(values):
    return [sum(v[j] for v in values) for j in range(len(values[0]))]


def _plus(a, b, scale=1.0):
    return [np.asarray(x, np.float64) + scale * np.asarray(y, np.float64)
            for x, y in zip(a, b)]


def _expected_round(x=None, c=None):
    """(x', c', the clients' c_i+, metrics) of the right round, and the rows."""
    x = SERVER_STATE["weights"] if x is None else x
    c = SERVER_STATE["control"] if c is None else c
    rows = _clients(x, c)
    new_x = _plus(x, _mean([r["dy"] for r in rows]), SERVER_LEARNING_RATE)
    new_c = _plus(c, _sum([r["dc"] for r in rows]), 1.0 / NUM_CLIENTS)
    return new_x, new_c, rows


def _controls_mistake(returned) -> str | None:
    _, new_c, rows = _expected_round()
    if all(close(got, r["new"]) for got, r in zip(returned, rows)):
        return None
    x, c = SERVER_STATE["weights"], SERVER_STATE["control"]
    candidates = [
        (CLIENT_CONTROLS,
         "the clients' control variates came back unchanged: return client_update_fn's "
         "new_control, at the clients (the simulation keeps them for the next round)."),
        ([r["dc"] for r in rows],
         "you returned control_delta (c_i+ - c_i) to the clients; they keep c_i+ itself, "
         "client_update_fn's new_control."),
        ([r["new"] for r in _clients(x, new_c)],
         "the clients trained with the server's c AFTER this round's update: broadcast "
         "state.control as it was when the round started (before the server updates "
         "it), and run client_update_fn once."),
        ([r["new"] for r in _clients(c, x)],
         "the server's weights and control variate are swapped: client_update_fn takes "
         "(dataset, x, c, c_i), in that order."),
    ]
    for candidate, message in candidates:
        if all(close(got, want) for got, want in zip(returned, candidate)):
            return message
    return ("the clients' new control variates are not client_update_fn's new_control "
            "for the broadcast x and c and each client's own c_i.")


def _weights_mistakes():
    x = SERVER_STATE["weights"]
    _, new_c, rows = _expected_round()
    dys, n = [r["dy"] for r in rows], [r["n"] for r in rows]
    eta = SERVER_LEARNING_RATE
    return [
        (_plus(x, _mean(dys), -eta),
         "x moved against the clients' updates: x <- x + server_learning_rate * mean(dy) "
         "(dy = y - x already points where the clients went)."),
        (_plus(x, _mean(dys)),
         "the server learning rate is missing: x <- x + server_learning_rate * mean(dy)."),
        (_plus(x, _sum(dys), eta),
         "x moved by the SUM of the clients' dy: take their mean (tff.federated_mean)."),
        (_plus(x, _mean(dys, n), eta),
         "the mean of dy is weighted by examples. SCAFFOLD (and the course's version) "
         "averages dy over the sampled clients, each counted once: "
         "tff.federated_mean(weights_delta) without a weight."),
        ([np.asarray(v, np.float64) for v in x],
         "the server's weights came back unchanged: x <- x + server_learning_rate * "
         "mean(dy)."),
        (_mean(dys),
         "the new weights are the mean of dy alone: add it to x, "
         "x <- x + server_learning_rate * mean(dy)."),
        (_plus(x, _mean([r["dy"] for r in _clients(x, new_c)]), eta),
         "the clients trained with the server's c AFTER this round's update: broadcast "
         "state.control as it was when the round started, and run client_update_fn once."),
    ]


def _control_mistakes():
    c = SERVER_STATE["control"]
    _, _, rows = _expected_round()
    dcs, n = [r["dc"] for r in rows], [r["n"] for r in rows]
    fraction = len(rows) / NUM_CLIENTS
    return [
        (_plus(c, _mean(dcs)),
         "c moved by the mean of dc without the factor |S|/N: only the |S| sampled "
         "clients changed their c_i, out of N, so c = mean of all c_i moves by "
         "(|S|/N) * mean(dc) = sum(dc) / N. N is next_fn's num_clients."),
        (_plus(c, _sum(dcs)),
         "c moved by the SUM of dc: divide by N, the number of all clients "
         "(num_clients): c <- c + sum(dc) / N."),
        (_plus(c, _mean(dcs), 1.0 / NUM_CLIENTS),
         "c moved by mean(dc) / N: that divides by |S| twice. c <- c + sum(dc) / N, "
         "which is (|S|/N) * mean(dc)."),
        (_mean([r["new"] for r in rows]),
         "c was set to the mean of the sampled clients' c_i+: c is the mean over ALL N "
         "clients, most of whom did not train this round. c <- c + sum(dc) / N."),
        ([np.asarray(v, np.float64) for v in c],
         "the server's control variate c came back unchanged: c <- c + sum(dc) / N."),
        (_plus(c, _sum(dcs), SERVER_LEARNING_RATE / NUM_CLIENTS),
         "the server learning rate was applied to c too: it scales x's step only; "
         "c <- c + sum(dc) / N."),
        (_plus(c, _mean(dcs, n), fraction),
         "the mean of dc is weighted by examples: c must stay the plain mean of the "
         "clients' c_i, so each client's dc counts once: c <- c + sum(dc) / N."),
        (_plus(c, _mean(dcs), SERVER_LEARNING_RATE),
         "c moved by the server learning rate times mean(dc): the factor is |S|/N, the "
         "fraction of clients that took part (sum(dc) / N)."),
    ]


def _trace_next_fn(build):
    client_update_fn, state_type, data_type, weights_type = _next_fn_computations()
    try:
        next_fn = build(client_update_fn, state_type, data_type, weights_type,
                        SERVER_LEARNING_RATE)
    except (NotImplementedError, Mistake):
        raise
    except TypeError as error:
        text = first_line(error)
        if "SERVER" in text and ("map" in text or "CLIENTS" in text):
            raise Mistake("tracing next_fn failed: a value at the SERVER met values at "
                          f"the CLIENTS ({text}). Broadcast x and c to the clients "
                          "(tff.federated_broadcast) before the federated_map, and "
                          "aggregate (federated_mean, federated_sum) before the server "
                          "step.") from None
        raise Mistake(f"tracing next_fn failed with TypeError: {text}") from None
    if not hasattr(next_fn, "type_signature"):
        raise Mistake("build_scaffold_next_fn should return the tff.federated_computation "
                      f"next_fn, not {type(next_fn).__name__}.")
    return next_fn, state_type, weights_type


def _check_next_fn_type(next_fn, state_type, weights_type) -> None:
    import tensorflow_federated as tff

    result = next_fn.type_signature.result
    if not isinstance(result, tff.StructType) or len(result) != 3:
        raise Mistake("next_fn should return three values: the new state <weights, "
                      "control>@SERVER, the metrics@SERVER and the clients' new control "
                      f"variates at CLIENTS; its result type is {result}.")
    state, metrics, controls = result[0], result[1], result[2]
    if not (isinstance(state, tff.FederatedType) and state.placement == tff.SERVER
            and state.member.is_equivalent_to(state_type)):
        raise Mistake(f"next_fn's first result should be the new server state "
                      f"{tff.FederatedType(state_type, tff.SERVER)}, but it is {state}.")
    if not (isinstance(metrics, tff.FederatedType) and metrics.placement == tff.SERVER):
        raise Mistake(f"next_fn's second result should be the round's metrics at the "
                      f"server; it is {metrics}.")
    if not (isinstance(controls, tff.FederatedType) and controls.placement == tff.CLIENTS
            and controls.member.is_equivalent_to(weights_type)):
        raise Mistake("next_fn's third result should be the clients' new control "
                      f"variates, {tff.FederatedType(weights_type, tff.CLIENTS)}: each "
                      f"client keeps its own. It is {controls}.")


def _run_next_fn(next_fn):
    datasets = [[np.asarray(b, np.float32) for b in client] for client in CLIENT_DATA]
    state, metrics, controls = next_fn(SERVER_STATE, datasets, CLIENT_CONTROLS,
                                       np.float32(NUM_CLIENTS))
    if isinstance(metrics, Mapping):
        metrics = [metrics["loss"], metrics["accuracy"]]
    return (_weight_list(state["weights"], "the new state's weights"),
            _weight_list(state["control"], "the new state's control"),
            [float(np.asarray(m)) for m in metrics],
            [_weight_list(c, "a client's new control variate") for c in controls])


@checker(EX_NEXT)
def check_scaffold_next_fn(build_scaffold_next_fn):
    """Exercise 10.3: grade `build_scaffold_next_fn(client_update_fn, state_type,
    data_type, weights_type, server_learning_rate)`, which returns SCAFFOLD's `next_fn`:
    the server state (x, c) and each sampled client's c_i in, the new state out."""
    next_fn, state_type, weights_type = _trace_next_fn(build_scaffold_next_fn)
    _check_next_fn_type(next_fn, state_type, weights_type)
    new_x, new_c, metrics, controls = _run_next_fn(next_fn)
    expected_x, expected_c, rows = _expected_round()
    problem = _controls_mistake(controls)
    if problem:
        raise Mistake(problem)
    for got, expected, mistakes, what in [
            (new_x, expected_x, _weights_mistakes(),
             "x <- x + server_learning_rate * mean(dy)"),
            (new_c, expected_c, _control_mistakes(), "c <- c + sum(dc) / N")]:
        if not close(got, expected):
            for candidate, message in mistakes:
                if close(got, candidate):
                    raise Mistake(message)
            raise Mistake(f"on the checker's three test clients the new state has "
                          f"[{fmt(np.concatenate([np.ravel(v) for v in got]))}], "
                          f"expected [{fmt(np.concatenate([np.ravel(v) for v in expected]))}]"
                          f": {what}.")
    n = [r["n"] for r in rows]
    if not close(metrics, _mean([r["metrics"] for r in rows], n)):
        if close(metrics, _mean([r["metrics"] for r in rows])):
            raise Mistake("the round's metrics are an unweighted mean: weight them by "
                          "the clients' numbers of examples (weight=num_examples).")
        raise Mistake("the round's metrics should be the clients' metrics averaged at "
                      "the server with weight=num_examples.")
    return (f"3 clients of N = {NUM_CLIENTS}: x moved by {SERVER_LEARNING_RATE:g} * "
            f"mean(dy), c by sum(dc) / N = (3/{NUM_CLIENTS}) * mean(dc), each client got "
            f"its c_i+ back (new c: [{fmt(np.concatenate([np.ravel(v) for v in new_c]))}]).")


# --- exercise 10.4: the server optimizer's step --------------------------------------

SGDM_RATE, SGDM_MOMENTUM, ADAM_RATE = 0.5, 0.9, 0.1
X0 = [np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], np.float32),
      np.array([0.2, -0.4, 1.0], np.float32)]
# Each round the clients' mean lies this far below the server's weights: the
# pseudo-gradients of a right answer.
PSEUDO_GRADIENTS = [
    [np.array([[0.5, 0.1, -0.2], [0.3, -0.6, 0.05]], np.float32),
     np.array([0.1, 0.2, -0.3], np.float32)],
    [np.array([[-0.2, 0.4, 0.1], [0.1, 0.2, -0.3]], np.float32),
     np.array([0.05, -0.1, 0.4], np.float32)],
    [np.array([[0.3, 0.3, 0.0], [-0.5, 0.1, 0.2]], np.float32),
     np.array([-0.2, 0.1, 0.1], np.float32)],
]


def _sgdm_trajectory(kind: str = "reference"):
    """[(weights, momentum accumulator returned)] per round, in NumPy, of a server step
    written as `kind` with SGD with momentum (m <- beta * m + g; w <- w - lr * m)."""
    x = [np.asarray(w, np.float64) for w in X0]
    accumulator = [np.zeros_like(w) for w in x]
    rounds = []
    for offset in PSEUDO_GRADIENTS:
        mean = [w - o for w, o in zip(x, offset)]
        g = {"sign": [m - w for w, m in zip(x, mean)], "twice": [SGDM_RATE * o for o in offset],
             "mean as gradient": mean}.get(kind, [np.asarray(o, np.float64) for o in offset])
        start = ([np.zeros_like(w) for w in x] if kind in ("reinit", "not returned")
                 else accumulator)
        moved = [SGDM_MOMENTUM * a + gw for a, gw in zip(start, g)]
        base = mean if kind == "from mean" else x
        x = {"fedavg": mean, "unchanged": x}.get(
            kind, [b - SGDM_RATE * m for b, m in zip(base, moved)])
        accumulator = accumulator if kind == "not returned" else moved
        rounds.append((x, accumulator))
    return rounds


SERVER_MISTAKES = {
    "sign": "the pseudo-gradient's sign is flipped: mean - weights. It is weights - "
            "mean_client_weights, pointing uphill like a gradient, so that the "
            "optimizer's step w - lr * (...) moves towards the clients.",
    "from mean": "the optimizer's step started from the clients' mean instead of the "
                 "server's weights: optimizer.next(state, weights, pseudo_gradient) "
                 "updates the server's weights.",
    "reinit": "the optimizer state is re-initialised every round (its momentum starts "
              "from zero each time): pass state['optimizer_state'], the one the last "
              "round returned, to optimizer.next.",
    "not returned": "the optimizer's new state is not returned: the state you return "
                    "still holds the old optimizer_state, so its momentum never builds "
                    "up. Return the state optimizer.next gives back.",
    "twice": "the learning rate is applied twice: the pseudo-gradient was multiplied by "
             "the learning rate before optimizer.next, which applies it again. Hand it "
             "the pseudo-gradient as it is.",
    "mean as gradient": "the mean of the client weights went to the optimizer as the "
                        "gradient: the pseudo-gradient is weights - mean_client_weights.",
    "fedavg": "the new weights are the clients' mean: that is FedAvg's server. Hand the "
              "pseudo-gradient weights - mean to optimizer.next and return its weights.",
    "unchanged": "the server's weights came back unchanged: return the weights "
                 "optimizer.next gives back.",
}


def _server_computations(optimizer, server_update):
    """(state0, step): the initial server state (NumPy) and a TensorFlow computation
    running `server_update` on (state, mean_client_weights), as the process does."""
    import tensorflow as tf
    import tensorflow_federated as tff

    from course_utils import server_optimizers

    specs = [tf.TensorSpec(w.shape, tf.float32) for w in X0]

    @tff.tensorflow.computation
    def initial_state():
        return collections.OrderedDict(weights=[tf.constant(w) for w in X0],
                                       optimizer_state=optimizer.initialize(specs))

    state_type = initial_state.type_signature.result
    weights_type = state_type.weights

    @tff.tensorflow.computation(state_type, weights_type)
    def step(state, mean_client_weights):
        return server_update(optimizer, server_optimizers.as_state(state),
                             list(mean_client_weights))

    if not step.type_signature.result.is_equivalent_to(state_type):
        raise Mistake("server_update should return the new server state, "
                      "OrderedDict(weights=[...], optimizer_state=...), the structure "
                      f"it came in: {state_type}. Yours returns "
                      f"{step.type_signature.result}.")
    return initial_state(), step


def _run_server(optimizer, server_update):
    """[(weights, optimizer_state)] per round of three."""
    state, step = _server_computations(optimizer, server_update)
    rounds = []
    for offset in PSEUDO_GRADIENTS:
        mean = [np.asarray(w, np.float32) - o for w, o in zip(state["weights"], offset)]
        state = step(state, mean)
        rounds.append(([np.asarray(w, np.float64) for w in state["weights"]],
                       state["optimizer_state"]))
    return rounds


def _same_trajectory(rounds, expected) -> bool:
    return all(close(w, ew) and close(list(s["accumulator"]), ea)
               for (w, s), (ew, ea) in zip(rounds, expected))


@checker(EX_SERVER)
def check_server_update(server_update):
    """Exercise 10.4: grade `server_update(optimizer, state, mean_client_weights)
    -> new state`: one step of a `tff.learning.optimizers` optimizer on the
    pseudo-gradient, its state carried from round to round."""
    from course_utils import server_optimizers

    rounds = _run_server(server_optimizers.fedavgm_optimizer(SGDM_RATE, SGDM_MOMENTUM),
                         server_update)
    if not _same_trajectory(rounds, _sgdm_trajectory()):
        for kind, message in SERVER_MISTAKES.items():
            if _same_trajectory(rounds, _sgdm_trajectory(kind)):
                raise Mistake(message)
        weights = [w for w, _ in rounds]
        expected = [w for w, _ in _sgdm_trajectory()]
        raise Mistake(f"after 3 rounds of SGD with momentum (learning rate {SGDM_RATE:g}, "
                      f"momentum {SGDM_MOMENTUM:g}) the server's bias is "
                      f"[{fmt(weights[-1][1])}], expected [{fmt(expected[-1][1])}]: "
                      "hand optimizer.next(state['optimizer_state'], weights, weights - "
                      "mean_client_weights) and return both of its results.")
    adam = server_optimizers.fedadam_optimizer(ADAM_RATE)
    yours = _run_server(adam, server_update)
    theirs = _run_server(adam, server_optimizers.server_update)
    for (w, s), (ew, es) in zip(yours, theirs):
        if not close(w, ew) or int(s["step"]) != int(es["step"]):
            raise Mistake("with SGD with momentum your step is right, with Adam it is "
                          "not: use the optimizer you are given (optimizer.next), not "
                          "SGD written by hand.")
    return (f"the pseudo-gradient weights - mean goes to optimizer.next, whose state "
            f"carries from round to round: after 3 rounds the momentum is in the state "
            f"and Adam's step count is {int(yours[-1][1]['step'])}.")
