"""Checkers for notebook 06 (modifying FedAvg).

Each checker runs the learner's code on small, hand-made inputs whose right answer is
known, and names the mistake when the answer is wrong:

- `check_midpoint_server_update(fn)`: the midpoint of two known weight lists.
- `check_clipped_client_update(fn)`: one SGD step on a batch built to have a huge
  gradient; the update's global norm must be the bound (plus a small-gradient batch
  that must be left alone, a batch whose kernel and bias gradients have equal norms,
  so that the norm must be of both together, and two huge batches that must each be
  clipped).
- `check_lr_decay_process(build)`: three rounds on two tiny clients; the learning rate
  the clients trained with in rounds 1, 2, 3 is read off the weight updates.

`use(verdict, yours, name)` picks the learner's code once it passes, and the course's
own version (`course_utils.variants`) until then, so later cells run.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence

import numpy as np

from course_utils import exercises
from course_utils.exercises import Mistake, checker
from course_utils.exercises._harness import close, first_line, fmt

EX1 = "Exercise 6.1 · midpoint server update"
EX2 = "Exercise 6.2 · gradient clipping"
EX3 = "Exercise 6.3 · learning-rate decay"


# Your function once its check passes, else the course's: nb06.use(verdict, yours, name).
use = exercises.fallback_to({name: "course_utils.variants" for name in (
    "midpoint_server_update", "clipped_client_update", "build_lr_decay_process")})


def _as_arrays(result, expected_count: int, what: str) -> list[np.ndarray]:
    if isinstance(result, Mapping) or not isinstance(result, Sequence):
        raise Mistake(f"{what} should be a list with one tensor per weight "
                      f"({expected_count} here), got {type(result).__name__}.")
    if len(result) != expected_count:
        raise Mistake(f"{what} should have one tensor per weight ({expected_count}), "
                      f"got {len(result)}.")
    return [np.asarray(r, dtype=np.float64) for r in result]


def _global_norm(tensors) -> float:
    return float(np.sqrt(sum(np.sum(np.square(t)) for t in tensors)))


# --- exercise 6.1 ----------------------------------------------------------------------

def midpoint_inputs():
    """Two known weight lists (a 2x3 kernel and a bias of 3): server, mean of clients."""
    server = [np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32),
              np.array([1.0, -1.0, 0.5], np.float32)]
    mean = [np.array([[3.0, 2.0, 1.0], [0.0, 1.0, 10.0]], np.float32),
            np.array([3.0, 1.0, 0.5], np.float32)]
    return server, mean


@checker(EX1)
def check_midpoint_server_update(server_update):
    """Exercise 6.1: grade `midpoint_server_update(server_weights, mean_client_weights)
    -> new weights`: move only halfway from the current weights towards the clients'
    mean, tensor by tensor."""
    import tensorflow as tf

    server, mean = midpoint_inputs()
    tensors = ([tf.constant(s) for s in server], [tf.constant(m) for m in mean])
    try:
        result = server_update(*tensors)
    except TypeError as error:
        if "sequence" not in str(error):
            raise
        raise Mistake(_JOINED_LISTS + f" (Python says: {str(error).strip()})") from None
    if isinstance(result, Sequence) and len(result) == 4:
        raise Mistake(_JOINED_LISTS + ": your result has 4 tensors.")
    got = _as_arrays(result, 2, "server_update's result")
    expected = [0.5 * (s + m) for s, m in zip(server, mean)]
    if [g.shape for g in got] != [e.shape for e in expected]:
        raise Mistake(f"the result's shapes are {[g.shape for g in got]}, expected "
                      f"{[e.shape for e in expected]} (the shapes of the weights).")
    if not close(got, expected):
        raise Mistake(_midpoint_mistake(got, server, mean, expected))
    try:
        in_graph = tf.function(server_update)(*tensors)
    except Exception as error:  # noqa: BLE001 - explain, no traceback
        raise Mistake(
            "it works on eager tensors but fails inside a TensorFlow graph, which is "
            f"where TFF runs it ({type(error).__name__}: "
            f"{first_line(error, 200)}). "
            "Use TensorFlow operations (+, *, tf.add), not .numpy() or Python "
            "conditions on tensor values.") from None
    if not close(_as_arrays(in_graph, 2, "server_update's result"), expected):
        raise Mistake("it gives the midpoint on eager tensors but not inside a "
                      "TensorFlow graph: use TensorFlow operations only.")
    return (f"the midpoint of server bias [{fmt(server[1])}] and client mean "
            f"[{fmt(mean[1])}] is [{fmt(got[1])}], and it runs inside a graph.")


_JOINED_LISTS = ("the weights are Python lists of tensors [kernel, bias], and on lists + "
                 "joins the two lists into one of 4 tensors (and a number cannot multiply "
                 "a list): combine the two lists tensor by tensor, kernel with kernel and "
                 "bias with bias")


def _midpoint_mistake(got, server, mean, expected) -> str:
    known = [
        (mean, "you returned the mean client weights: that is plain FedAvg's server "
               "update. Move only halfway: (server_weights + mean_client_weights) / 2."),
        (server, "you returned the current server weights unchanged, so the model "
                 "would never learn. Move halfway towards mean_client_weights."),
        ([s + m for s, m in zip(server, mean)],
         "you returned server_weights + mean_client_weights: divide by 2."),
        ([m - s for s, m in zip(server, mean)],
         "you returned the difference mean_client_weights - server_weights (the "
         "update); the server needs the new weights: server_weights + 0.5 * update."),
        ([0.5 * (m - s) for s, m in zip(server, mean)],
         "you returned half the update, 0.5 * (mean - server), instead of the new "
         "weights: add it to server_weights."),
        ([2 * m - s for s, m in zip(server, mean)],
         "you moved past the clients' mean (2 * mean - server); the midpoint is "
         "halfway between the two."),
        ([1.5 * m - 0.5 * s for s, m in zip(server, mean)],
         "you moved half a step past the clients' mean (mean + (mean - server) / 2); "
         "the midpoint is halfway between the two."),
        ([1.5 * s - 0.5 * m for s, m in zip(server, mean)],
         "you moved AWAY from the clients' mean, by half the update: the update "
         "points from the server's weights towards the clients' mean "
         "(mean - server), not the other way."),
        ([0.5 * m for m in mean],
         "you returned half of the clients' mean: the midpoint also needs the "
         "server's current weights."),
        ([np.full_like(s, np.mean(0.5 * (s + m))) for s, m in zip(server, mean)],
         "you averaged the values inside each tensor; average the two weight lists "
         "tensor by tensor, element by element."),
    ]
    for candidate, message in known:
        if close(got, candidate):
            return message
    return (f"for server bias [{fmt(server[1])}] and client mean [{fmt(mean[1])}] "
            f"the midpoint is [{fmt(expected[1])}], yours is [{fmt(got[1])}].")


# --- exercise 6.2 ----------------------------------------------------------------------

def _batch(x, labels):
    return collections.OrderedDict(x=np.asarray(x, np.float32),
                                   y=np.asarray(labels, np.int32).reshape(-1, 1))


def clipping_batches():
    """Hand-made batches: two with huge inputs (huge gradients), one with small ones."""
    rng = np.random.default_rng(6)
    top, bottom = np.zeros((4, 784)), np.zeros((4, 784))
    top[:, :392] = 100.0 * rng.random((4, 392))     # ink only in the top half ...
    bottom[:, 392:] = 100.0 * rng.random((4, 392))  # ... or only in the bottom half,
    huge_a = _batch(top, [3, 3, 3, 3])               # so the two batches' clipped steps
    huge_b = _batch(bottom, [7, 7, 7, 7])            # do not cancel out
    small = _batch(0.02 * rng.random((4, 784)), [1, 2, 3, 4])
    return huge_a, huge_b, small


def _dataset(*batches):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(collections.OrderedDict(
        x=np.concatenate([b["x"] for b in batches]),
        y=np.concatenate([b["y"] for b in batches]))).batch(len(batches[0]["y"]))


def _gradient(weights, batch):
    """The gradient of the course model's loss on `batch` at `weights` (numpy)."""
    import tensorflow as tf

    from course_utils import models

    model = models.create_keras_model()
    for variable, value in zip(model.trainable_variables, weights):
        variable.assign(value)
    with tf.GradientTape() as tape:
        predictions = model(batch["x"], training=True)
        loss = tf.keras.losses.SparseCategoricalCrossentropy()(batch["y"], predictions)
    return [g.numpy().astype(np.float64)
            for g in tape.gradient(loss, model.trainable_variables)]


class _UpdateRunner:
    """Runs a client update from zero weights; returns (update, num_examples)."""

    def __init__(self, client_update):
        from course_utils import models

        self.client_update = client_update
        self.model = models.create_keras_model()
        self.zeros = [np.zeros(v.shape, np.float32) for v in self.model.trainable_variables]

    def __call__(self, dataset, learning_rate, clip_norm):
        try:
            result = self.client_update(self.model, dataset, self.zeros, learning_rate,
                                        clip_norm)
        except Exception as error:  # noqa: BLE001 - name this one, report the others
            if type(error).__name__ != "OperatorNotAllowedInGraphError":
                raise
            raise Mistake(
                "a Python condition on a tensor (if, min, max, and, or on the norm): "
                "inside the TensorFlow graph a tensor has no value yet, so Python cannot "
                "compare it. Compare with TensorFlow operations (tf.minimum, "
                "tf.maximum, tf.where).") from None
        if not (isinstance(result, Sequence) and len(result) == 2
                and isinstance(result[1], Mapping)):
            raise Mistake("client_update should return (weights, totals), like "
                          "fedavg.client_update; yours returns "
                          f"{type(result).__name__}.")
        weights, totals = result
        weights = _as_arrays(weights, 2, "the returned weights")
        try:
            examples = float(np.asarray(totals["num_examples"]))
        except Exception:  # noqa: BLE001
            raise Mistake("the totals should be the OrderedDict of running metrics "
                          "(loss_sum, correct, num_examples) that add_batch_metrics "
                          "builds; keep that part of client_update.") from None
        return [w - z for w, z in zip(weights, self.zeros)], examples


@checker(EX2)
def check_clipped_client_update(client_update):
    """Exercise 6.2: grade `clipped_client_update(model, dataset, server_weights,
    learning_rate, clip_norm) -> (weights, totals)`: FedAvg's client step in which every
    batch's step is at most learning_rate x clip_norm in global norm, keeps its
    direction, and leaves small gradients untouched."""
    from course_utils import variants

    huge_a, huge_b, small = clipping_batches()
    zeros = [np.zeros((784, 10)), np.zeros(10)]
    gradient = _gradient(zeros, huge_a)
    norm = _global_norm(gradient)
    run = _UpdateRunner(client_update)

    # 1. One batch with a huge gradient: the step is -lr * g * clip / |g|.
    lr, clip = 0.1, 0.5
    update, examples = run(_dataset(huge_a), lr, clip)
    if examples != 4:
        raise Mistake(f"the totals count {examples:g} examples for a batch of 4: "
                      "keep the metrics part of client_update as it was.")
    expected = [-lr * g * clip / norm for g in gradient]
    if not close(update, expected, rtol=1e-3):
        raise Mistake(_clipping_mistake(update, gradient, lr, clip))

    # 2. The bound is the parameter, not a constant.
    update, _ = run(_dataset(huge_a), lr, 2.0)
    if not np.isclose(_global_norm(update), lr * 2.0, rtol=1e-3):
        raise Mistake(f"with clip_norm=2.0 the step's norm should be {lr * 2.0:g} "
                      f"(learning rate × bound), yours is {_global_norm(update):.4g}: "
                      "use the clip_norm argument, not a fixed number.")

    # 3. A gradient below the bound is left alone.
    small_gradient = _gradient(zeros, small)
    update, _ = run(_dataset(small), 1.0, 100.0)
    if not close(update, [-g for g in small_gradient], rtol=1e-3):
        raise Mistake(
            f"a batch whose gradient norm ({_global_norm(small_gradient):.3g}) is below "
            f"the bound (100) must give a plain SGD step, but your step has norm "
            f"{_global_norm(update):.4g} instead of {_global_norm(small_gradient):.4g}. "
            "Clipping only shrinks gradients that are too large; it never scales small "
            "ones up.")

    # 4. A batch whose kernel and bias gradients are as large as each other: the
    # norm is of all the weights together (on batch 1 the kernel's alone dominates).
    balanced = balanced_batch()
    gradient = _gradient(zeros, balanced)
    update, _ = run(_dataset(balanced), lr, clip)
    expected = [-lr * g * clip / _global_norm(gradient) for g in gradient]
    if not close(update, expected, rtol=1e-3):
        raise Mistake(_norm_mistake(update, gradient, lr, clip))

    # 5. Two huge batches: each batch's gradient is clipped, not the total update.
    both = _dataset(huge_a, huge_b)
    reference, _ = _UpdateRunner(variants.clipped_client_update)(both, 1.0, clip)
    update, examples = run(both, 1.0, clip)
    if not close(update, reference, rtol=1e-3, atol=1e-5):
        total = _global_norm(update)
        if total <= clip * 1.001 < _global_norm(reference):
            raise Mistake(
                f"after two batches with huge gradients the total update has norm "
                f"{total:.4g}, at most the bound {clip:g}: you clipped the whole update "
                f"once instead of each batch's gradient (it should be "
                f"{_global_norm(reference):.4g}, two clipped steps). Clip inside the "
                "per-batch step, before applying the gradient.")
        raise Mistake(f"after two batches with huge gradients your update differs from "
                      f"the expected one (norm {total:.4g}, expected "
                      f"{_global_norm(reference):.4g}). Bound each batch's gradient, "
                      "then take the SGD step.")
    if examples != 8:
        raise Mistake(f"the totals count {examples:g} examples for two batches of 4.")
    return (f"a gradient of norm {norm:.0f} was clipped to {clip:g} (step norm "
            f"{lr * clip:g} at learning rate {lr:g}), small gradients are untouched, "
            "and every batch is clipped.")


def balanced_batch():
    """Four examples with ink in one pixel (1.0) and one label: the kernel's gradient is
    then the bias's, in one row, so the two tensors have the same norm."""
    x = np.zeros((4, 784))
    x[:, 0] = 1.0
    return _batch(x, [3, 3, 3, 3])


def _norm_mistake(update, gradient, lr, clip) -> str:
    norms = [float(np.linalg.norm(g)) for g in gradient]
    candidates = [
        (sum(norms), "the norm you divide by is the sum of the tensors' norms "
                     f"({fmt(norms)} give {sum(norms):.4g}), not their global norm "
                     f"({_global_norm(gradient):.4g}): the square root of the sum of "
                     "all the squared values, kernel and bias together."),
        (norms[0], "the norm you divide by is the kernel's alone "
                   f"({norms[0]:.4g}); the bound is on all the weights together, "
                   f"kernel and bias: their global norm is {_global_norm(gradient):.4g}."),
    ]
    for norm, message in candidates:
        if close(update, [-lr * g * min(1.0, clip / norm) for g in gradient], rtol=1e-3):
            return message
    return (f"on a batch whose kernel and bias gradients have norms {fmt(norms)} "
            f"(global norm {_global_norm(gradient):.4g}), with clip_norm={clip:g} and "
            f"learning_rate={lr:g}, the step should have norm {lr * clip:g}; yours has "
            f"{_global_norm(update):.4g}. The bound is on the global norm of all the "
            "gradients together.")


def _clipping_mistake(update, gradient, lr, clip) -> str:
    got = _global_norm(update)
    per_tensor = [g * min(1.0, clip / np.linalg.norm(g)) for g in gradient]
    candidates = [
        ([-lr * g for g in gradient],
         f"the gradient was not clipped: its norm is {_global_norm(gradient):.4g}, the "
         f"bound is {clip:g}. Bound each batch's gradient before the SGD step."),
        ([-lr * g for g in per_tensor],
         f"you clipped each tensor separately (tf.clip_by_norm per tensor): kernel and "
         f"bias each have norm {clip:g}, so together they have "
         f"{_global_norm(per_tensor):.4g} > {clip:g}, and the direction changed. The "
         "bound is on the global norm of all the gradients together."),
        ([-lr * np.clip(g, -clip, clip) for g in gradient],
         f"you clipped each value to [-{clip:g}, {clip:g}] (clip by value): the "
         f"gradient's norm is still {_global_norm([np.clip(g, -clip, clip) for g in gradient]):.4g}"
         f" and its direction changed. Scale the whole gradient instead."),
        ([-g * clip / _global_norm(gradient) for g in gradient],
         f"the step has norm {clip:g}: you clipped learning_rate × gradient (the "
         f"step) instead of the gradient. Clip the gradients, then multiply by the "
         f"learning rate ({lr:g}), so the step's norm is {lr * clip:g}."),
        ([lr * g * clip / _global_norm(gradient) for g in gradient],
         "the step goes uphill (+learning_rate × gradient): subtract it, as "
         "fedavg.client_update does (assign_sub)."),
        ([-lr * g * clip / _global_norm(gradient) ** 2 for g in gradient],
         f"the step has norm {got:.3g}, far below {lr * clip:g}: you divided by the "
         "SQUARED global norm. Scaling by clip_norm / norm gives the gradient length "
         "clip_norm."),
    ]
    for candidate, message in candidates:
        if close(update, candidate, rtol=1e-3):
            return message
    return (f"on a batch whose gradient has norm {_global_norm(gradient):.4g}, with "
            f"clip_norm={clip:g} and learning_rate={lr:g}, the step should have norm "
            f"{lr * clip:g} and point along -gradient; yours has norm {got:.4g}.")


# --- exercise 6.3 ----------------------------------------------------------------------

INITIAL_RATE, DECAY, ROUNDS = 0.5, 0.8, 3


def lr_decay_clients():
    """Two tiny clients with one batch each (so each client takes one SGD step)."""
    rng = np.random.default_rng(3)
    return [_batch(rng.random((5, 784)), [0, 1, 2, 3, 4]),
            _batch(rng.random((5, 784)), [5, 6, 7, 8, 9])]


def _split_state(state):
    """(weights, learning rate) from a state: OrderedDict(weights=, learning_rate=) or a
    pair (weights, learning_rate)."""
    message = ("the state should hold the model weights and the learning rate, "
               "e.g. OrderedDict(weights=[kernel, bias], learning_rate=...); yours is "
               f"{type(state).__name__}")
    if isinstance(state, Mapping):
        rate_keys = [k for k in state if "rate" in str(k).lower() or str(k).lower() == "lr"]
        weight_keys = [k for k in state if k not in rate_keys]
        if len(rate_keys) != 1 or len(weight_keys) != 1:
            raise Mistake(message + f" with keys {list(state)}.")
        parts = [state[weight_keys[0]], state[rate_keys[0]]]
    elif isinstance(state, Sequence) and len(state) == 2:
        parts = list(state)
        if _is_number(parts[0]):
            parts.reverse()
    else:
        raise Mistake(message + ".")
    weights, rate = parts
    weights = getattr(weights, "trainable", weights)
    if not _is_number(rate):
        raise Mistake(message + " (no single learning-rate number in it).")
    return _as_arrays(weights, 2, "the state's weights"), float(np.asarray(rate))


def _is_number(value) -> bool:
    if isinstance(value, (Sequence, Mapping)):
        return False
    try:
        return np.ndim(value) == 0
    except ValueError:  # a ragged list of arrays
        return False


def _state_type_has_rate(process) -> bool:
    import tensorflow_federated as tff

    parameter = process.next.type_signature.parameter
    state_type = parameter[0] if isinstance(parameter, tff.StructType) else parameter
    if not isinstance(state_type, tff.FederatedType) or state_type.placement != tff.SERVER:
        return False

    def scalars(t):
        if isinstance(t, tff.TensorType):
            return [t] if t.shape == () else []
        if isinstance(t, tff.StructType):
            return [s for i in range(len(t)) for s in scalars(t[i])]
        return []

    return any(np.dtype(s.dtype) == np.float32 for s in scalars(state_type.member))


def _seen_rate(before, after, clients, round_num) -> float:
    """The learning rate of the SGD step from `before` to `after` (mean over clients)."""
    gradients = [_gradient(before, batch) for batch in clients]
    mean_gradient = np.concatenate([np.mean([g[i] for g in gradients], axis=0).ravel()
                                    for i in range(2)])
    step = np.concatenate([(b - a).ravel() for b, a in zip(before, after)])
    rate = float(step @ mean_gradient / (mean_gradient @ mean_gradient))
    residual = np.linalg.norm(step - rate * mean_gradient)
    if residual > 1e-3 * max(np.linalg.norm(step), 1e-6):
        raise Mistake(f"in round {round_num} the weights did not move along the "
                      "clients' mean gradient, as one FedAvg round with plain SGD "
                      "does: keep FedAvg's client and server steps and change only the "
                      "learning rate.")
    return rate


@checker(EX3)
def check_lr_decay_process(build):
    """Exercise 6.3: grade `build_lr_decay_process(initial_learning_rate, decay)`:
    FedAvg whose server state carries the client learning rate; the clients train with
    the rate they receive, the server multiplies it by `decay` after each round, and
    round 1 uses the initial rate."""
    import tensorflow_federated as tff

    process = build(INITIAL_RATE, DECAY)
    if not isinstance(process, tff.templates.IterativeProcess):
        raise Mistake("build_lr_decay_process should return a "
                      f"tff.templates.IterativeProcess, not {type(process).__name__}.")
    if not _state_type_has_rate(process):
        raise Mistake(
            "the server state must carry the learning rate: next's state type "
            f"{process.state_type} has no float32 number at the server. The state "
            "should be <weights=..., learning_rate=float32>@SERVER.")
    clients = lr_decay_clients()
    federated_data = [_dataset(batch) for batch in clients]
    state = process.initialize()
    weights, rate = _split_state(state)
    expected_seen = [INITIAL_RATE * DECAY ** r for r in range(ROUNDS)]
    if np.isclose(rate, INITIAL_RATE * DECAY, rtol=1e-4):
        raise Mistake(f"the initial state holds {rate:.4g} = initial rate × decay: it "
                      f"was decayed before the first round. initialize should hold the "
                      f"initial rate ({INITIAL_RATE:g}).")
    if not np.isclose(rate, INITIAL_RATE, rtol=1e-4):
        raise Mistake(f"built with initial_learning_rate={INITIAL_RATE:g}, the initial "
                      f"state holds the learning rate {rate:.4g}.")
    seen, held = [], []
    for round_num in range(1, ROUNDS + 1):
        output = process.next(state, federated_data)
        state = output.state if hasattr(output, "state") else output[0]
        new_weights, rate = _split_state(state)
        seen.append(_seen_rate(weights, new_weights, clients, round_num))
        held.append(rate)
        weights = new_weights
    expected_held = [INITIAL_RATE * DECAY ** r for r in range(1, ROUNDS + 1)]
    if np.allclose(seen, expected_seen, rtol=1e-3):
        return (f"clients trained with {fmt(seen)} in rounds 1, 2, 3 (initial "
                f"{INITIAL_RATE:g}, decay {DECAY:g}); the state holds {held[-1]:.4g} "
                "for round 4.")
    raise Mistake(_decay_mistake(seen, held, expected_seen, expected_held))


def _decay_mistake(seen, held, expected_seen, expected_held) -> str:
    def same(values, target):
        return np.allclose(values, target, rtol=1e-3)

    rounds = f"clients trained with {fmt(seen)} in rounds 1, 2, 3"
    constant_initial = [INITIAL_RATE] * ROUNDS
    if same(seen, constant_initial) and same(held, expected_held):
        return (f"{rounds}: the server decays the rate in its state ({fmt(held)}) but "
                "the clients do not use it. Broadcast the state's learning rate and "
                "pass it to client_update.")
    if same(seen, constant_initial):
        return (f"{rounds}: the learning rate never decays. Multiply it by decay in "
                "the server update, so the next round's state holds the smaller rate.")
    if same(seen, [INITIAL_RATE * DECAY] * ROUNDS):
        return (f"{rounds} and the server's rate stays {fmt(held[-1:])}: the rate is "
                "decayed on the clients, and the decayed value is lost after every "
                "round. Decay it on the server (in the server update), so the state "
                "carries it to the next round.")
    if same(seen, expected_held):
        return (f"{rounds}, expected {fmt(expected_seen)}: round 1 did not use the "
                f"initial rate {INITIAL_RATE:g}, the rate was decayed before the "
                "clients used it (on the clients, or on the server before the "
                "broadcast). Clients train with the state's rate; the server decays it "
                "after the round.")
    return (f"{rounds}; expected {fmt(expected_seen)} (initial rate × "
            f"decay^(round - 1), here {INITIAL_RATE:g} and {DECAY:g}).")
