"""Checker for notebook 07 (aggregation methods): a trimmed mean as a
`tff.federated_aggregate`.

The learner writes `trimmed_mean_parts(value_type, trim)`, which returns the four
arguments of `tff.federated_aggregate(client_values, zero(), accumulate, merge,
report)` for client values of `value_type` (a `tff.TensorType`), as TFF computations
whose types the exercise cell gives: the accumulator is a stack of client values,
shape [clients so far, ...]. `zero` is empty, `accumulate` adds one client's value as a
row, `merge` joins the stacks of two groups of clients, and `report` computes the
coordinate-wise trimmed mean: per coordinate, drop the `trim` smallest and the `trim`
largest client values and average the rest.

The checker calls each computation on its own on small known values (so that a mistake
is blamed on the part that makes it), then runs the four inside a
`tff.federated_aggregate`. `use(verdict, yours)` picks the learner's function once it
passes, else the course's (`course_utils.aggregation.trimmed_mean_parts`).
"""

from __future__ import annotations

import numpy as np

from course_utils import exercises
from course_utils.exercises import Mistake, checker
from course_utils.exercises._harness import first_line

EXERCISE = "Exercise 7.1 · trimmed mean"


# Your function once its check passes, else the course's: nb07.use(verdict, yours).
use = exercises.fallback_to({"trimmed_mean_parts": "course_utils.aggregation"})

# 5 clients x 4 coordinates: every column has outliers in different clients, so that
# sorting per coordinate, per client, or not at all give different answers.
CASE_5x4 = np.array([
    [1.0, 9.0, -3.0, 0.5],
    [100.0, 2.0, 4.0, -0.5],
    [4.0, -80.0, 5.0, 3.5],
    [2.0, 5.0, 60.0, 2.0],
    [-7.0, 3.0, 7.0, -40.0],
], np.float32)


def reference(values, trim: int) -> np.ndarray:
    values = np.asarray(values, np.float64)
    n = values.shape[0]
    return np.sort(values, axis=0)[trim:n - trim].mean(axis=0)


def _cases():
    rng = np.random.default_rng(7)
    big = rng.normal(size=(9, 3, 2)).astype(np.float32)
    big[[1, 4], 0, 0] = [50.0, -60.0]
    big[[0, 7], 2, 1] = [-30.0, 45.0]
    return [(CASE_5x4, 1), (big, 2), (big, 3), (CASE_5x4, 0)]


WHOLE_CLIENTS = ("you dropped whole clients (ranked by the size or the mean of their "
                 "values) instead of trimming per coordinate: a client that is extreme in "
                 "one coordinate is ordinary in others. Sort each coordinate's values "
                 "over the clients on its own: tf.sort(stack, axis=0).")


def _whole_clients(values, trim, by):
    flat = values.reshape(values.shape[0], -1)
    score = np.linalg.norm(flat, axis=1) if by == "norm" else flat.mean(axis=1)
    kept = np.argsort(score, kind="stable")[trim:values.shape[0] - trim]
    return values[kept].mean(axis=0)


def _wrong_variants(values, trim):
    """Plausible wrong answers: {name: (value or None where undefined, message)}."""
    values = np.asarray(values, np.float64)
    n = values.shape[0]
    ordered = np.sort(values, axis=0)
    last_axis = np.sort(values, axis=-1)
    variants = {
        "mean": (values.mean(axis=0),
                 "this is the plain mean over clients: the outliers are still in it. Sort "
                 "each coordinate's client values and drop `trim` of them at each end "
                 "first."),
        "median": (np.median(values, axis=0),
                   "this is the coordinate-wise median. A trimmed mean drops only `trim` "
                   "values at each end and averages the rest."),
        "no sort": (values[trim:n - trim].mean(axis=0),
                    "you dropped whole clients by their position in the stack, without "
                    "sorting. Sort along axis 0 first (tf.sort(stack, axis=0)), so each "
                    "coordinate drops its own extremes."),
        "last axis": (last_axis[trim:n - trim].mean(axis=0),
                      "you sorted along the wrong axis (the last one, across "
                      "coordinates; tf.sort's default). Sort along axis 0, the clients: "
                      "tf.sort(stack, axis=0)."),
        "low end": (ordered[trim:].mean(axis=0),
                    "you dropped the `trim` smallest values but kept the largest: drop "
                    "`trim` at each end."),
        "high end": (ordered[:n - trim].mean(axis=0),
                     "you dropped the `trim` largest values but kept the smallest: drop "
                     "`trim` at each end."),
        "2 x trim": (ordered[2 * trim:n - 2 * trim].mean(axis=0) if 4 * trim < n else None,
                     "you dropped 2 x trim values at each end: drop `trim` at each end "
                     "(2 x trim in total)."),
        "trim / 2": (ordered[trim // 2:n - trim // 2].mean(axis=0) if trim > 1 else None,
                     "you dropped trim / 2 values at each end: `trim` is the number to "
                     "drop at *each* end."),
        "denominator": (ordered[trim:n - trim].sum(axis=0) / n,
                        f"you summed the kept values but divided by all {n} clients: "
                        f"divide by the number of values you kept ({n} - 2 x trim)."),
        "whole clients": (_whole_clients(values, trim, "norm"), WHOLE_CLIENTS),
        "whole clients by mean": (_whole_clients(values, trim, "mean"), WHOLE_CLIENTS),
        "flattened": (None,
                      "you trimmed all values together (one number for the whole "
                      "tensor). Trim each coordinate separately: sort along axis 0."),
    }
    if values.ndim > 1:
        flat = np.sort(values.reshape(n, -1), axis=None)
        k = trim * values[0].size
        variants["flattened"] = (np.full(values.shape[1:], flat[k:flat.size - k].mean()),
                                 variants["flattened"][1])
    return variants


def _same(a, b):
    return a is not None and np.shape(a) == np.shape(b) and np.allclose(
        a, b, rtol=1e-5, atol=1e-5)


def _rows(stack):
    """The rows of a stack as a sorted list (the order of clients does not matter)."""
    stack = np.asarray(stack, np.float64)
    if stack.ndim == 0 or stack.size == 0:
        return []
    return sorted(map(tuple, stack.reshape(stack.shape[0], -1).round(5)))


def _diagnose(results, cases):
    """Raise a Mistake naming what is wrong with `results` (one per case), if anything.

    A known mistake is named when it explains every case it is defined for; otherwise
    the first wrong coordinate is shown.
    """
    wrong = []  # indices of the cases the result gets wrong
    for index, (result, (values, trim)) in enumerate(zip(results, cases)):
        expected = reference(values, trim)
        if result.shape != expected.shape:
            raise Mistake(f"for values of shape {list(values.shape)} the result should "
                          f"have shape {list(expected.shape)} (one value per coordinate, "
                          f"the client axis 0 reduced), got {list(result.shape)}.")
        if not _same(result, expected):
            wrong.append(index)
    if not wrong:
        return
    variants = [_wrong_variants(values, trim) for values, trim in cases]
    for name, (_, message) in variants[0].items():
        defined = [i for i in range(len(cases)) if variants[i][name][0] is not None]
        explains_errors = any(i in defined for i in wrong)
        if explains_errors and all(_same(results[i], variants[i][name][0]) for i in defined):
            raise Mistake(message)
    result, (values, trim) = results[wrong[0]], cases[wrong[0]]
    expected = reference(values, trim)
    where = np.unravel_index(np.argmax(np.abs(result - expected)), expected.shape)
    raise Mistake(f"with trim={trim} on {values.shape[0]} clients, coordinate "
                  f"{tuple(int(i) for i in where)} should be {expected[where]:.4g}, got "
                  f"{result[where]:.4g}.")


def _build(trimmed_mean_parts, values, trim):
    """The learner's four computations for one case; tracing errors explained."""
    import tensorflow_federated as tff

    value_type = tff.TensorType(np.float32, values.shape[1:])
    try:
        parts = trimmed_mean_parts(value_type, trim)
    except NotImplementedError as error:
        if not str(error):
            raise  # the untouched stub
        raise Mistake(_not_in_graph(error)) from error
    except TypeError as error:
        if "NoneType" not in str(error):
            raise
        raise Mistake("inside TFF the number of clients is not known when the graph is "
                      "built: stack.shape[0] is None. Use tf.shape(stack)[0]. "
                      f"({type(error).__name__}: {first_line(error, 200)})") from error
    if not isinstance(parts, (tuple, list)) or len(parts) != 4:
        raise Mistake("trimmed_mean_parts should return the four computations "
                      "(zero, accumulate, merge, report).")
    return parts


def _not_in_graph(error) -> str:
    return ("TFF traces your computations into a TensorFlow graph, where values are "
            "symbolic: NumPy cannot compute on them. Use TensorFlow ops only (tf.sort, "
            f"tf.reduce_mean, tf.concat). ({type(error).__name__}: {first_line(error, 200)})")


def _run(computation, *args):
    """Call one of the learner's computations; NumPy inside it is named."""
    try:
        return np.asarray(computation(*args), np.float64)
    except NotImplementedError as error:
        if not str(error):
            raise
        raise Mistake(_not_in_graph(error)) from error


def _check_zero(zero, values):
    start = _run(zero)
    rows = values.shape[1:]
    if start.shape == (0, *rows):
        return
    if start.ndim == values.ndim and start.shape[1:] == rows:
        raise Mistake(f"zero() holds {start.shape[0]} row(s): the accumulator starts with "
                      "a client that does not exist (all its values 0), and every group "
                      "of clients adds one more. Start from no rows at all: "
                      "tf.zeros([0, *value_type.shape]).")
    raise Mistake(f"for client values of shape {list(rows)}, zero() should be an empty "
                  f"stack of shape {[0, *rows]}; yours has shape {list(start.shape)}.")


def _check_accumulate(accumulate, zero, values):
    stack = _run(zero)
    for value in values:
        stack = _run(accumulate, stack.astype(np.float32), value)
    n = values.shape[0]
    if _rows(stack) == _rows(values):
        return
    if stack.shape[0] == 0:
        raise Mistake(f"after accumulating {n} clients your stack is still empty: "
                      "accumulate must add the value as one more row "
                      "(tf.concat([stack, value[tf.newaxis]], axis=0)).")
    if stack.shape[0] == 1 and n > 1:
        raise Mistake(f"after accumulating {n} clients your stack holds one row: "
                      "accumulate replaced the stack by the newest value instead of "
                      "adding it as one more row.")
    raise Mistake(f"after accumulating {n} clients the stack should hold their {n} "
                  f"values, one row each; yours has shape {list(stack.shape)} and other "
                  "values. accumulate should only add the value as a new row.")


def _check_merge(merge, values):
    """Two groups of clients of different sizes, merged in both orders and with an
    empty group."""
    a, b = values[:2], values[2:]
    empty = values[:0]
    merged = {}
    for name, (x, y) in {"merge(a, b)": (a, b), "merge(b, a)": (b, a),
                         "merge(zero(), a)": (empty, a), "merge(a, zero())": (a, empty)}.items():
        try:
            merged[name] = _rows(_run(merge, x, y))
        except Mistake:
            raise
        except Exception as error:  # noqa: BLE001 - the message says what to change
            raise Mistake(f"{name} failed on stacks of {len(x)} and {len(y)} rows "
                          "(adding them, for instance, needs equal sizes). Groups of "
                          "clients differ in size: merge must keep every row of both "
                          "stacks (tf.concat(..., axis=0)).") from error
    everything = _rows(values)
    if any(merged[k] in (_rows(a), _rows(b)) for k in ("merge(a, b)", "merge(b, a)")):
        raise Mistake("your merge returns one of its two stacks and drops the other: "
                      "the clients of one group would vanish from the result. Keep every "
                      "row of both.")
    if merged["merge(a, b)"] != merged["merge(b, a)"]:
        raise Mistake(f"merge(a, b) and merge(b, a) hold different values (stacks of "
                      f"{len(a)} and {len(b)} rows): TFF may combine groups in either "
                      "order, so merge must not depend on it. Keep every row of both.")
    if merged["merge(a, b)"] != everything:
        raise Mistake(f"merging a stack of {len(a)} rows with one of {len(b)} should give "
                      f"their {len(values)} rows; yours gives {len(merged['merge(a, b)'])} "
                      "rows or other values. Keep every row of both, unchanged.")
    if not merged["merge(zero(), a)"] == merged["merge(a, zero())"] == _rows(a):
        raise Mistake("merging a stack with an empty one (a group with no clients, zero()) "
                      "should return that stack unchanged.")


def _check_in_federated_aggregate(parts, values, trim):
    import tensorflow_federated as tff

    value_type = tff.TensorType(np.float32, values.shape[1:])
    zero, accumulate, merge, report = parts

    @tff.federated_computation(tff.FederatedType(value_type, tff.CLIENTS))
    def aggregate(client_values):
        return tff.federated_aggregate(client_values, zero(), accumulate, merge, report)

    result = np.asarray(aggregate(list(values)), np.float64)
    if not _same(result, reference(values, trim)):
        raise Mistake("each part is right on its own, but inside tff.federated_aggregate "
                      f"the result is {np.round(result, 4).tolist()} instead of "
                      f"{np.round(reference(values, trim), 4).tolist()}.")


@checker(EXERCISE)
def check_trimmed_mean(trimmed_mean_parts):
    """Grade `trimmed_mean_parts(value_type, trim)` on small known client values."""
    cases = _cases()
    reports = []
    for values, trim in cases:
        zero, accumulate, merge, report = _build(trimmed_mean_parts, values, trim)
        _check_zero(zero, values)
        _check_accumulate(accumulate, zero, values)
        _check_merge(merge, values)
        reports.append(_run(report, values))
    _diagnose(reports, cases)
    values, trim = cases[0]
    _check_in_federated_aggregate(_build(trimmed_mean_parts, values, trim), values, trim)
    return ("correct: the accumulator keeps every client value, merge keeps both groups "
            "in either order, and report drops the `trim` smallest and largest values of "
            "each coordinate and averages the rest, also inside tff.federated_aggregate.")
