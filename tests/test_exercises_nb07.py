"""Notebook 07's checker: the reference trimmed mean passes; plausible mistakes are
rejected with a message that names them."""

import numpy as np
import pytest
import tensorflow as tf

from course_utils.exercises import nb07


def reference(values, trim):
    n = tf.shape(values)[0]
    return tf.reduce_mean(tf.sort(values, axis=0)[trim:n - trim], axis=0)


def stub(values, trim):
    raise NotImplementedError


def plain_mean(values, trim):
    return tf.reduce_mean(values, axis=0)


def median(values, trim):
    n = tf.shape(values)[0]
    ordered = tf.sort(values, axis=0)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


def default_axis(values, trim):  # tf.sort sorts the LAST axis by default
    n = tf.shape(values)[0]
    return tf.reduce_mean(tf.sort(values)[trim:n - trim], axis=0)


def no_sort(values, trim):
    n = tf.shape(values)[0]
    return tf.reduce_mean(values[trim:n - trim], axis=0)


def one_end(values, trim):
    return tf.reduce_mean(tf.sort(values, axis=0)[trim:], axis=0)


def twice_each_end(values, trim):
    n = tf.shape(values)[0]
    return tf.reduce_mean(tf.sort(values, axis=0)[2 * trim:n - 2 * trim], axis=0)


def wrong_denominator(values, trim):
    n = tf.shape(values)[0]
    kept = tf.sort(values, axis=0)[trim:n - trim]
    return tf.reduce_sum(kept, axis=0) / tf.cast(n, values.dtype)


def flattened(values, trim):
    flat = tf.sort(tf.reshape(values, [-1]))
    per_client = tf.size(values[0])
    k = trim * per_client
    return tf.fill(tf.shape(values)[1:], tf.reduce_mean(flat[k:tf.size(flat) - k]))


def numpy_only(values, trim):  # works eagerly, not inside TFF's graph
    v = np.asarray(values)
    return np.sort(v, axis=0)[trim:v.shape[0] - trim].mean(axis=0)


def python_shape(values, trim):  # values.shape[0] is None inside TFF
    n = values.shape[0]
    return tf.reduce_mean(tf.sort(values, axis=0)[trim:n - trim], axis=0)


def test_reference_passes():
    verdict = nb07.check_trimmed_mean(reference, verbose=False)
    assert verdict.passed, verdict.message


def test_stub_is_not_attempted():
    assert nb07.check_trimmed_mean(stub, verbose=False).status == "not attempted"


@pytest.mark.parametrize("wrong, words", [
    (plain_mean, "plain mean"),
    (median, "median"),
    (default_axis, "wrong axis"),
    (no_sort, "without sorting"),
    (one_end, "kept the largest"),
    (twice_each_end, "2 x trim values at each end"),
    (wrong_denominator, "divided by all"),
    (flattened, "all values together"),
    (numpy_only, "inside a TensorFlow graph"),
    (python_shape, "tf.shape(values)[0]"),
])
def test_wrong_answers_are_named(wrong, words):
    verdict = nb07.check_trimmed_mean(wrong, verbose=False)
    assert verdict.status == "wrong", verdict
    assert words in verdict.message, verdict.message


def test_wrong_variants_differ_from_the_answer_on_every_case():
    for values, trim in nb07._cases():
        if trim == 0:
            continue
        expected = nb07.reference(values, trim)
        for name, (wrong, message) in nb07._wrong_variants(values, trim).items():
            assert wrong is None or not np.allclose(wrong, expected), name
