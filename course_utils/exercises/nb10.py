"""Checker for notebook 10 (privacy): DP-FedAvg's clip-and-noise aggregation.

The learner writes

    dp_aggregate(client_updates, clip, noise_multiplier, clients_per_round, gaussian_noise)

where `client_updates` holds one update per client that took part (a list [kernel,
bias] of arrays) and `gaussian_noise(stddev)` returns Gaussian noise shaped like one
update. The right answer (`course_utils.dp_fedavg.dp_mean_update`): clip each client's
WHOLE update to global norm `clip`, sum, add noise of std noise_multiplier x clip once,
divide by the fixed `clients_per_round`.

The checker first runs it without noise on hand-made updates whose right answer is
known and whose plausible wrong answers all differ (per-tensor clipping, clipping after
averaging, per-coordinate clipping, scaling every update to the bound, no clipping,
dividing by the number of updates that arrived, not dividing); then with noise, where
it measures the noise in the result (result x clients_per_round minus the clipped sum,
7,850 numbers) and compares its std with noise_multiplier x clip (noise per client,
noise not scaled by the clip, noise added after dividing, no noise).

`use(verdict, yours)` picks the learner's function once it passes, else the reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from course_utils.exercises import Mistake, checker

EXERCISE = "Exercise 10.1 · DP-FedAvg's clip-and-noise aggregation"
SHAPES = [(784, 10), (10,)]
RATIO_TOLERANCE = 0.05  # the noise's measured std is within 5% of the expected one


def use(verdict, yours):
    """Your `dp_aggregate` if its check passed, else the reference (says which)."""
    from course_utils import dp_fedavg

    if verdict.passed:
        print("Using your dp_aggregate.")
        return yours
    print("Using the reference dp_aggregate (course_utils.dp_fedavg.dp_mean_update) "
          "until yours passes the check.")
    return dp_fedavg.dp_mean_update


# --- hand-made client updates --------------------------------------------------------

def _update(rng, kernel_norm, bias_norm):
    kernel = rng.standard_normal(SHAPES[0])
    bias = rng.standard_normal(SHAPES[1])
    return [kernel * kernel_norm / np.linalg.norm(kernel),
            bias * bias_norm / np.linalg.norm(bias)]


def cases():
    """Two cases (updates, clip, clients_per_round). Fewer clients came than expected
    (Poisson sampling), one update is below the bound, the others above it, and in one
    of them both tensors exceed the bound on their own."""
    rng = np.random.default_rng(10)
    first = [_update(rng, 0.06, 0.08),   # norm 0.1: below the bound 0.3
             _update(rng, 3.0, 4.0),     # norm 5: kernel and bias each above 0.3
             _update(rng, 1.1, 0.48)]    # norm 1.2
    second = [_update(rng, 0.5, 0.1), _update(rng, 0.2, 2.0), _update(rng, 12.0, 0.3),
              _update(rng, 0.4, 0.3)]
    return [(first, 0.3, 5.0), (second, 1.0, 8.0)]


# --- the right answer and the wrong ones ------------------------------------------------

def _norm(tensors):
    return float(np.sqrt(sum(np.sum(np.square(t)) for t in tensors)))


def _scaled(update, factor):
    return [np.asarray(t, np.float64) * factor for t in update]


def _clip(update, clip):
    return _scaled(update, min(1.0, clip / _norm(update)))


def _sum(updates):
    return [np.sum([u[i] for u in updates], axis=0) for i in range(len(SHAPES))]


def _wrong_answers(updates, clip, m):
    """{mistake message: what that mistake returns} (no noise)."""
    k = len(updates)
    total = _sum([_clip(u, clip) for u in updates])
    raw = _sum(updates)
    return {
        "you clipped each tensor (kernel, bias) to the bound on its own. Clip the "
        "client's WHOLE update: compute one norm over all its tensors together "
        "(the global norm) and scale every tensor by min(1, clip / norm); per-tensor "
        "clipping lets an update's norm reach clip x sqrt(number of tensors).":
            _scaled(_sum([[t * min(1.0, clip / np.linalg.norm(t)) for t in u]
                          for u in updates]), 1 / m),
        "you clipped after averaging (or summing): one client's update can still be "
        "arbitrarily large inside the sum. Clip each client's update BEFORE adding "
        "them up; that bounds what any one client can change.":
            None,  # several forms, see _after_averaging
        "you clipped each number to [-clip, clip] (np.clip / tf.clip_by_value). The "
        "bound is on the update's L2 norm: scale the whole update by "
        "min(1, clip / norm).":
            _scaled(_sum([[np.clip(t, -clip, clip) for t in u] for u in updates]), 1 / m),
        "you scaled every update to norm exactly `clip`, also updates that were "
        "smaller. Clipping only shrinks updates whose norm exceeds the bound: "
        "scale by min(1, clip / norm).":
            _scaled(_sum([_scaled(u, clip / _norm(u)) for u in updates]), 1 / m),
        "you did not clip the updates: without a bound, one client can move the "
        "average as far as it likes, and no amount of noise hides it.":
            _scaled(raw, 1 / m),
        f"you divided by the number of updates that arrived ({k}) instead of the "
        f"fixed clients_per_round ({m:g}). Under Poisson sampling that number is "
        "random and depends on who took part: dividing by it (or by a noisy count) "
        "leaks it. Divide by clients_per_round.":
            _scaled(total, 1 / k),
        f"you returned the sum of the clipped updates: divide it by "
        f"clients_per_round ({m:g}).":
            total,
    }


def _after_averaging(updates, clip, m):
    k = len(updates)
    raw = _sum(updates)
    return [_clip(_scaled(raw, 1 / m), clip), _clip(_scaled(raw, 1 / k), clip),
            _scaled(_clip(raw, clip), 1 / m)]


def _expected(updates, clip, m):
    return _scaled(_sum([_clip(u, clip) for u in updates]), 1 / m)


# --- running the learner's function -----------------------------------------------------

class _Noise:
    """The `gaussian_noise(stddev)` the learner gets: seeded, and it records calls."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.calls: list[float] = []

    def __call__(self, stddev):
        try:
            stddev = float(np.asarray(stddev))
        except (TypeError, ValueError):
            raise Mistake(f"gaussian_noise(stddev) takes one number, the noise's "
                          f"standard deviation; you passed {type(stddev).__name__}.") from None
        self.calls.append(stddev)
        return [self.rng.standard_normal(shape) * stddev for shape in SHAPES]


def _call(dp_aggregate, updates, clip, noise_multiplier, m, noise):
    copies = [[np.array(t, np.float32) for t in u] for u in updates]  # theirs to change
    result = dp_aggregate(copies, clip, noise_multiplier, m, noise)
    if isinstance(result, Mapping) or not isinstance(result, Sequence):
        raise Mistake("dp_aggregate should return a list [kernel, bias] shaped like one "
                      f"update, got {type(result).__name__}.")
    result = [np.asarray(t, np.float64) for t in result]
    if [t.shape for t in result] != SHAPES:
        raise Mistake(f"the result should be shaped like one update, {SHAPES}; yours "
                      f"has shapes {[t.shape for t in result]}.")
    return result


def _close(a, b, rtol=1e-4, atol=1e-7):
    return b is not None and all(np.allclose(x, y, rtol=rtol, atol=atol) for x, y in zip(a, b))


def _check_without_noise(dp_aggregate, updates, clip, m):
    got = _call(dp_aggregate, updates, clip, 0.0, m, _Noise(0))
    if _close(got, _expected(updates, clip, m)):
        return
    for message, wrong in _wrong_answers(updates, clip, m).items():
        candidates = _after_averaging(updates, clip, m) if wrong is None else [wrong]
        if any(_close(got, candidate) for candidate in candidates):
            raise Mistake(message)
    expected = _expected(updates, clip, m)
    raise Mistake(f"with noise_multiplier=0 (no noise), clip={clip:g} and "
                  f"clients_per_round={m:g}, the bias of the result should be "
                  f"[{', '.join(f'{v:.4g}' for v in expected[1][:3])}, ...], yours is "
                  f"[{', '.join(f'{v:.4g}' for v in got[1][:3])}, ...]. Clip each "
                  "update (as a whole) to norm clip, sum, divide by clients_per_round.")


def _noise_mistake(ratio, k, clip, sigma, m, calls) -> str | None:
    """The mistake that makes the noise's std `ratio` times sigma x clip, if known."""
    near = lambda target: abs(ratio / target - 1) < RATIO_TOLERANCE  # noqa: E731
    per_client = len(calls) == k and k > 1
    if ratio < 0.02:
        return ("with noise_multiplier > 0 your result has no noise in it: add Gaussian "
                "noise of std noise_multiplier x clip to the sum (gaussian_noise(std)).")
    if near(np.sqrt(k)) or (per_client and not near(1.0)):
        return (f"you added noise for every client ({k} draws; its std in the result is "
                f"sqrt({k}) = {np.sqrt(k):.3g} x too large). Add it ONCE, to the sum: "
                "secure aggregation and the privacy account both assume one draw of "
                "std noise_multiplier x clip per round.")
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
                "divide (or add std noise_multiplier x clip / clients_per_round to the "
                "average).")
    if near(1 / m):
        return (f"the noise is {m:g} x too small: you divided it by clients_per_round "
                "twice. Add std noise_multiplier x clip to the SUM, then divide once.")
    return None


def _check_with_noise(dp_aggregate, updates, clip, m, sigma=2.0):
    noise = _Noise(1)
    got = _call(dp_aggregate, updates, clip, sigma, m, noise)
    residual = np.concatenate([(g * m - t).ravel() for g, t in
                               zip(got, _sum([_clip(u, clip) for u in updates]))])
    ratio = float(residual.std() / (sigma * clip))
    bias = abs(residual.mean()) / (sigma * clip)
    if abs(ratio - 1) < RATIO_TOLERANCE and bias < 4 / np.sqrt(residual.size):
        return ratio
    message = _noise_mistake(ratio, len(updates), clip, sigma, m, noise.calls)
    if message:
        raise Mistake(message)
    raise Mistake(f"with noise_multiplier={sigma:g} and clip={clip:g}, the noise in "
                  f"your result (result x clients_per_round - sum of clipped updates) "
                  f"has std {ratio * sigma * clip:.4g} and mean {residual.mean():.3g}; "
                  f"expected std {sigma * clip:g} (noise_multiplier x clip) and mean 0.")


@checker(EXERCISE)
def check_dp_aggregate(dp_aggregate):
    """Grade `dp_aggregate(client_updates, clip, noise_multiplier, clients_per_round,
    gaussian_noise)` (see the module docstring)."""
    for updates, clip, m in cases():
        _check_without_noise(dp_aggregate, updates, clip, m)
    updates, clip, m = cases()[0]
    ratio = _check_with_noise(dp_aggregate, updates, clip, m)
    return (f"each client's whole update is clipped to norm clip, the clipped updates "
            f"are summed, noise is added once (its measured std is {ratio:.3f} x "
            f"noise_multiplier x clip) and the sum is divided by the fixed "
            f"clients_per_round ({m:g}, although {len(updates)} clients took part).")
