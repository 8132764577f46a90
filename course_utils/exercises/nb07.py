"""Checkers for notebook 07 (aggregation methods).

Exercise: `trimmed_mean(values, trim)`, a coordinate-wise trimmed mean in TensorFlow.
`values` stacks one tensor per client along axis 0 (shape [clients, ...]); for every
coordinate, drop the `trim` smallest and the `trim` largest client values and average
the rest. The server of `course_utils.aggregation.build_robust_process` calls it inside
a TFF computation, where the number of clients is not known when the graph is built.
"""

from __future__ import annotations

import numpy as np

from course_utils.exercises import Mistake, checker

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
                    "you dropped whole clients by their position in the list, without "
                    "sorting. Sort along axis 0 first (tf.sort(values, axis=0)), so each "
                    "coordinate drops its own extremes."),
        "last axis": (last_axis[trim:n - trim].mean(axis=0),
                      "you sorted along the wrong axis (the last one, across "
                      "coordinates; tf.sort's default). Sort along axis 0, the clients: "
                      "tf.sort(values, axis=0)."),
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


def _call(fn, values, trim):
    import tensorflow as tf

    result = fn(tf.constant(values), trim)
    try:
        return np.asarray(result, np.float64)
    except (TypeError, ValueError) as e:
        raise Mistake(f"trimmed_mean should return a tensor of numbers, got "
                      f"{type(result).__name__}.") from e


def _same(a, b):
    return a is not None and np.shape(a) == np.shape(b) and np.allclose(
        a, b, rtol=1e-5, atol=1e-5)


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


def _check_in_graph(fn):
    """Inside TFF the number of clients is unknown when the graph is built."""
    import tensorflow as tf

    values = _cases()[1][0]
    graph_fn = tf.function(lambda v: fn(v, 2),
                           input_signature=[tf.TensorSpec([None, 3, 2], tf.float32)])
    try:
        result = graph_fn(tf.constant(values))
    except Exception as e:  # noqa: BLE001 - the message below says what to change
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise Mistake(
            "your function works on concrete NumPy-like values but not inside a "
            "TensorFlow graph, where TFF runs it and the number of clients is unknown "
            "(values.shape[0] is None). Use TensorFlow ops only (tf.sort, "
            "tf.reduce_mean) and tf.shape(values)[0] for the number of clients. "
            f"({type(e).__name__}: {first})") from e
    _diagnose([np.asarray(result, np.float64)], [(values, 2)])


@checker("Exercise 7.1 · trimmed mean")
def check_trimmed_mean(trimmed_mean):
    """Grade `trimmed_mean(values, trim)` on small known client values."""
    cases = _cases()
    _diagnose([_call(trimmed_mean, values, trim) for values, trim in cases], cases)
    _check_in_graph(trimmed_mean)
    return ("correct: per coordinate, the `trim` smallest and largest client values are "
            "dropped and the rest averaged, also inside a TensorFlow graph.")
