"""Checker for the privacy notebook: DP-FedAvg's aggregation in the Federated Core.

The learner writes `build_dp_mean(model_type, clip, noise_multiplier, clients_per_round)`,
which returns a federated computation

    (server_weights@SERVER, client_weights@CLIENTS -> mean update@SERVER)

built from two TensorFlow computations whose types the exercise cell gives:
`clipped_update(client_weights, server_weights)` runs on each client (its update, the
client's weights minus the server's, clipped as a whole to global L2 norm `clip`), and
`noisy_mean(total)` runs on the server (Gaussian noise of std
noise_multiplier x clip added ONCE to the sum, then divided by the FIXED
`clients_per_round`). Between them: `tff.federated_map`, `tff.federated_sum`,
`tff.federated_map`. The course's version is `course_utils.dp_fedavg.build_dp_mean_update`.

The checker runs the learner's computation without noise on hand-made models whose
right answer is known and whose plausible wrong answers all differ (the sum clipped,
the weights clipped instead of the updates, each tensor clipped on its own, each
number clipped, every update scaled to the bound, no clipping, division by the
number of clients who came, no division, the server weights added back); then with
noise, where it measures the noise in the result (result x clients_per_round minus
the sum of the clipped updates, 7,850 numbers) and compares its std with
noise_multiplier x clip (noise per client, noise at the clients scaled to add up,
std noise_multiplier instead of noise_multiplier x clip, noise after dividing).
"""

from __future__ import annotations

import numpy as np

from course_utils import exercises
from course_utils.exercises import Mistake, checker
from course_utils.exercises._harness import close

EXERCISE = "Exercise 11.1 · DP-FedAvg's aggregation in TFF"
SHAPES = [(784, 10), (10,)]
NOISE_MULTIPLIER = 2.0
RATIO_TOLERANCE = 0.05  # the noise's measured std is within 5% of the expected one


# Your function once its check passes, else the course's: nb11.use(verdict, yours).
use = exercises.fallback_to({"build_dp_mean": "course_utils.dp_fedavg:build_dp_mean_update"})

# --- hand-made models ------------------------------------------------------------------

def _update(rng, kernel_norm, bias_norm):
    kernel = rng.standard_normal(SHAPES[0])
    bias = rng.standard_normal(SHAPES[1])
    return [kernel * kernel_norm / np.linalg.norm(kernel),
            bias * bias_norm / np.linalg.norm(bias)]


def cases():
    """Two cases (server weights, client updates, clip, clients_per_round). Fewer
    clients came than expected (Poisson sampling); one update is below the bound, the
    others above it; the server weights are large enough that clipping a client's
    weights instead of its update gives another answer."""
    rng = np.random.default_rng(11)
    server = [rng.standard_normal(shape) for shape in SHAPES]
    first = [_update(rng, 0.06, 0.08),   # norm 0.1: below the bound 0.3
             _update(rng, 3.0, 4.0),     # norm 5: kernel and bias each above 0.3
             _update(rng, 1.1, 0.48)]    # norm 1.2
    second = [_update(rng, 0.5, 0.1), _update(rng, 0.2, 2.0), _update(rng, 12.0, 0.3),
              _update(rng, 0.4, 0.3)]
    return [(server, first, 0.3, 5.0), (server, second, 1.0, 8.0)]


# --- the right answer and the wrong ones ------------------------------------------------

def _norm(tensors):
    return float(np.sqrt(sum(np.sum(np.square(t)) for t in tensors)))


def _scaled(update, factor):
    return [np.asarray(t, np.float64) * factor for t in update]


def _clip(update, clip):
    norm = _norm(update)
    return _scaled(update, min(1.0, clip / norm) if norm > 0 else 1.0)


def _sum(updates):
    return [np.sum([u[i] for u in updates], axis=0) for i in range(len(SHAPES))]


def _minus(a, b):
    return [np.asarray(x, np.float64) - y for x, y in zip(a, b)]


def _plus(a, b):
    return [np.asarray(x, np.float64) + y for x, y in zip(a, b)]


def expected(server, updates, clip, m):
    return _scaled(_sum([_clip(u, clip) for u in updates]), 1 / m)


def _wrong_answers(server, updates, clip, m):
    """{mistake message: the results that mistake gives} (no noise)."""
    k = len(updates)
    clipped_sum = _sum([_clip(u, clip) for u in updates])
    raw = _sum(updates)
    weights = [_plus(server, u) for u in updates]
    return {
        "you clipped the sum (or the mean) of the updates, at the server: one client's "
        "update can still be arbitrarily large inside it. Clip each client's update on "
        "the client, in the computation you federated_map over the clients, before "
        "federated_sum.":
            [_scaled(_clip(raw, clip), 1 / m), _clip(_scaled(raw, 1 / m), clip),
             _clip(_scaled(raw, 1 / k), clip)],
        "you clipped the client's weights, not its update: the bound must hold for "
        "what the client changes, client_weights - server_weights. Subtract first, then "
        "clip the difference.":
            [_scaled(_sum([_minus(_clip(w, clip), server) for w in weights]), 1 / m),
             _scaled(_sum([_minus(_clip(w, clip), _clip(server, clip)) for w in weights]),
                     1 / m)],
        "you clipped each tensor (kernel, bias) to the bound on its own. Clip the "
        "client's WHOLE update: one norm over all its tensors together "
        "(tf.clip_by_global_norm); per-tensor clipping lets an update's norm reach "
        "clip x sqrt(number of tensors).":
            [_scaled(_sum([[t * min(1.0, clip / np.linalg.norm(t)) for t in u]
                           for u in updates]), 1 / m)],
        "you clipped each number to [-clip, clip] (tf.clip_by_value). The bound is on "
        "the update's L2 norm: scale the whole update by min(1, clip / norm) "
        "(tf.clip_by_global_norm).":
            [_scaled(_sum([[np.clip(t, -clip, clip) for t in u] for u in updates]), 1 / m)],
        "you scaled every update to norm exactly `clip`, also updates that were "
        "smaller. Clipping only shrinks updates whose norm exceeds the bound.":
            [_scaled(_sum([_scaled(u, clip / _norm(u)) for u in updates]), 1 / m)],
        "you did not clip the updates: without a bound, one client can move the "
        "average as far as it likes, and no amount of noise hides it.":
            [_scaled(raw, 1 / m), _scaled(raw, 1 / k)],
        f"you divided by the number of clients who came ({k}) instead of the fixed "
        f"clients_per_round ({m:g}) (tff.federated_mean does that, also when you divide "
        "by clients_per_round after it). Under Poisson "
        "sampling that number is random and depends on who took part: dividing by it "
        "leaks it. Use tff.federated_sum, then divide by clients_per_round.":
            [_scaled(clipped_sum, 1 / k), _scaled(clipped_sum, 1 / (k * m))],
        f"you returned the sum of the clipped updates: divide it by "
        f"clients_per_round ({m:g}).":
            [clipped_sum],
        "you returned the new weights (server weights plus the mean update): return "
        "the noisy mean update; the server adds it to its weights.":
            [_plus(server, expected(server, updates, clip, m))],
    }


# --- running the learner's computation ---------------------------------------------------

def _model_type():
    import tensorflow_federated as tff

    return tff.StructWithPythonType([tff.TensorType(np.float32, s) for s in SHAPES], list)


def _run(build_dp_mean, server, updates, clip, m, noise_multiplier):
    try:
        dp_mean = build_dp_mean(_model_type(), clip, noise_multiplier, m)
    except NotImplementedError as error:
        if not str(error):
            raise  # the untouched stub
        raise Mistake("TFF traces your computations into a TensorFlow graph, where "
                      "values are symbolic: NumPy cannot compute on them. Use "
                      "TensorFlow ops (tf.clip_by_global_norm, tf.random.normal). "
                      f"({type(error).__name__}: {str(error)[:200]})") from error
    f32 = lambda model: [np.asarray(t, np.float32) for t in model]  # noqa: E731
    result = dp_mean(f32(server), [f32(_plus(server, u)) for u in updates])
    try:
        result = [np.asarray(t, np.float64) for t in result]
    except TypeError as error:
        raise Mistake("dp_mean should return one model-shaped update, a list "
                      f"[kernel, bias]; got {type(result).__name__}.") from error
    if [t.shape for t in result] != SHAPES:
        raise Mistake(f"the result should be shaped like the model, {SHAPES}; yours has "
                      f"shapes {[t.shape for t in result]}.")
    return result


def _check_without_noise(build_dp_mean, server, updates, clip, m):
    got = _run(build_dp_mean, server, updates, clip, m, 0.0)
    right = expected(server, updates, clip, m)
    if close(got, right):
        return
    for message, candidates in _wrong_answers(server, updates, clip, m).items():
        if any(close(got, candidate) for candidate in candidates):
            raise Mistake(message)
    raise Mistake(f"with noise_multiplier=0 (no noise), clip={clip:g} and "
                  f"clients_per_round={m:g}, the bias of the result should be "
                  f"[{', '.join(f'{v:.4g}' for v in right[1][:3])}, ...], yours is "
                  f"[{', '.join(f'{v:.4g}' for v in got[1][:3])}, ...]. Each client "
                  "clips its update as a whole, the server sums them and divides by "
                  "clients_per_round.")


def _noise_mistake(ratio, k, clip, sigma, m) -> str | None:
    """The mistake that makes the noise's std `ratio` times sigma x clip, if known."""
    near = lambda target: abs(ratio / target - 1) < RATIO_TOLERANCE  # noqa: E731
    if ratio < 0.02:
        return ("with noise_multiplier > 0 your result has no noise in it: add Gaussian "
                "noise of std noise_multiplier x clip to the sum, at the server "
                "(tf.random.normal(tf.shape(t), stddev=...)).")
    if near(np.sqrt(k)):
        return (f"you added noise on every client ({k} draws; its std in the result is "
                f"sqrt({k}) = {np.sqrt(k):.3g} x too large). Add it ONCE, at the server, "
                "to the sum: the privacy account assumes one draw of std "
                "noise_multiplier x clip per round.")
    if near(np.sqrt(k / m)):
        return (f"you added noise before the sum was complete: each client adds a share "
                f"(std noise_multiplier x clip / sqrt(clients_per_round)), so the noise "
                f"is short whenever fewer clients come ({k} of {m:g} here: "
                f"{np.sqrt(k / m):.3g} x the std it needs). Add it once, at the server, "
                "to the finished sum.")
    if near(1 / clip):
        return ("the noise's std is noise_multiplier, not noise_multiplier x clip. The "
                "noise must be scaled to the sensitivity, which clipping made `clip`: "
                "std = noise_multiplier x clip.")
    if near(1 / sigma):
        return ("the noise's std is clip: multiply it by noise_multiplier "
                "(std = noise_multiplier x clip).")
    if near(m):
        return (f"you added noise of std noise_multiplier x clip AFTER dividing by "
                f"clients_per_round, so it is {m:g} x too large. Add it to the sum, then "
                "divide.")
    if near(1 / m):
        return (f"the noise is {m:g} x too small: you divided it by clients_per_round "
                "twice. Add std noise_multiplier x clip to the SUM, then divide once.")
    return None


def measured_noise(result, updates, clip, m) -> np.ndarray:
    """The noise in a result: result x clients_per_round minus the clipped sum."""
    clipped_sum = _sum([_clip(u, clip) for u in updates])
    return np.concatenate([(r * m - t).ravel() for r, t in zip(result, clipped_sum)])


def _centred(noise) -> bool:
    """True unless the noise's mean is off zero by more than 4 standard errors (a
    z-test on its own spread, so its false alarms stay at 6e-5 whatever the std)."""
    return abs(noise.mean()) < 4 * noise.std() / np.sqrt(noise.size)


def _check_with_noise(build_dp_mean, server, updates, clip, m, sigma=NOISE_MULTIPLIER):
    got = _run(build_dp_mean, server, updates, clip, m, sigma)
    noise = measured_noise(got, updates, clip, m)
    ratio = float(noise.std() / (sigma * clip))
    if abs(ratio - 1) < RATIO_TOLERANCE and _centred(noise):
        return ratio
    message = _noise_mistake(ratio, len(updates), clip, sigma, m)
    if message:
        raise Mistake(message)
    raise Mistake(f"with noise_multiplier={sigma:g} and clip={clip:g}, the noise in "
                  f"your result (result x clients_per_round - sum of clipped updates) "
                  f"has std {ratio * sigma * clip:.4g} and mean {noise.mean():.3g}; "
                  f"expected std {sigma * clip:g} (noise_multiplier x clip) and mean 0.")


@checker(EXERCISE)
def check_dp_mean(build_dp_mean):
    """Grade `build_dp_mean(model_type, clip, noise_multiplier, clients_per_round)` (see
    the module docstring)."""
    for server, updates, clip, m in cases():
        _check_without_noise(build_dp_mean, server, updates, clip, m)
    server, updates, clip, m = cases()[0]
    _check_with_noise(build_dp_mean, server, updates, clip, m)
    return (f"each client clips its whole update, the server sums them "
            f"(federated_sum), adds noise once (its measured std is within "
            f"{RATIO_TOLERANCE:.0%} of noise_multiplier x clip) and divides by the fixed "
            f"clients_per_round ({m:g}, although {len(updates)} clients came).")
