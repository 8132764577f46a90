"""Notebook 07's checker: the trimmed mean as a `tff.federated_aggregate`. The reference
passes; each plausible mistake in zero, accumulate, merge or report is rejected with a
message that names it; an untouched stub is "not attempted"; and without its key
comparisons the checker would pass wrong answers (the mutation tests)."""

import numpy as np
import pytest
import tensorflow as tf

import course_utils  # noqa: F401  (first: it makes TFF importable on every stack)
import tensorflow_federated as tff
from course_utils import aggregation
from course_utils.exercises import nb07


def parts(trim, *, zero=None, accumulate=None, merge=None, report=None):
    """trimmed_mean_parts with some of its four bodies replaced by wrong ones."""
    def trimmed_mean_parts(value_type, _trim):
        stack_type = tff.TensorType(value_type.dtype, [None, *value_type.shape])
        bodies = {
            "zero": zero or (lambda: tf.zeros([0, *value_type.shape], value_type.dtype)),
            "accumulate": accumulate or (lambda s, v: tf.concat([s, v[tf.newaxis]], 0)),
            "merge": merge or (lambda a, b: tf.concat([a, b], 0)),
            "report": report or (lambda s: aggregation.trimmed_mean(s, _trim)),
        }
        return (tff.tensorflow.computation(lambda: bodies["zero"]()),
                tff.tensorflow.computation(lambda s, v: bodies["accumulate"](s, v),
                                           stack_type, value_type),
                tff.tensorflow.computation(lambda a, b: bodies["merge"](a, b),
                                           stack_type, stack_type),
                tff.tensorflow.computation(lambda s: bodies["report"](s), stack_type))
    return trimmed_mean_parts


def stub(value_type, trim):
    raise NotImplementedError


def _n(stack):
    return tf.shape(stack)[0]


def _kept(stack, low, high):
    return tf.sort(stack, axis=0)[low:_n(stack) - high]


def _whole_clients(stack, trim):  # rank clients by the norm of their values
    flat = tf.reshape(stack, [_n(stack), -1])
    order = tf.argsort(tf.norm(flat, axis=1), stable=True)
    return tf.reduce_mean(tf.gather(stack, order[trim:_n(stack) - trim]), axis=0)


def _numpy_report(stack, trim):
    values = np.asarray(stack)
    return np.sort(values, axis=0)[trim:values.shape[0] - trim].mean(axis=0)


def _zero_with_a_row(value_type, trim):
    return parts(trim, zero=lambda: tf.zeros([1, *value_type.shape]))(value_type, trim)


WRONG = {  # (the changed bodies, or a whole trimmed_mean_parts; words of the message)
    "zero with a row": (_zero_with_a_row, "a client that does not exist"),
    # accumulate
    "accumulate replaces": (dict(accumulate=lambda s, v: v[tf.newaxis]), "holds one row"),
    "accumulate adds": (dict(accumulate=lambda s, v: s + v), "still empty"),
    # merge
    "merge drops one side": (dict(merge=lambda a, b: a), "drops the other"),
    "merge not commutative": (dict(merge=lambda a, b: tf.concat([a, b[1:]], 0)),
                              "merge(a, b) and merge(b, a) hold different values"),
    "merge adds": (dict(merge=lambda a, b: a + b), "Groups of clients differ in size"),
}

REPORTS = {  # (report(stack, trim), words of the message)
    "plain mean": (lambda s, t: tf.reduce_mean(s, axis=0), "plain mean"),
    "median": (lambda s, t: (tf.sort(s, axis=0)[(_n(s) - 1) // 2]
                             + tf.sort(s, axis=0)[_n(s) // 2]) / 2, "median"),
    "default sort axis": (lambda s, t: tf.reduce_mean(tf.sort(s)[t:_n(s) - t], axis=0),
                          "wrong axis"),
    "no sort": (lambda s, t: tf.reduce_mean(s[t:_n(s) - t], axis=0), "without sorting"),
    "whole clients": (_whole_clients, "whole clients"),
    "low end only": (lambda s, t: tf.reduce_mean(_kept(s, t, 0), axis=0),
                     "kept the largest"),
    "high end only": (lambda s, t: tf.reduce_mean(_kept(s, 0, t), axis=0),
                      "kept the smallest"),
    "trim / 2": (lambda s, t: tf.reduce_mean(_kept(s, t // 2, t // 2), axis=0),
                 "trim / 2 values at each end"),
    "2 x trim": (lambda s, t: tf.reduce_mean(_kept(s, 2 * t, 2 * t), axis=0),
                 "2 x trim values at each end"),
    "divides by all": (lambda s, t: tf.reduce_sum(_kept(s, t, t), axis=0)
                       / tf.cast(_n(s), s.dtype), "divided by all"),
    "flattened": (lambda s, t: tf.fill(tf.shape(s)[1:], tf.reduce_mean(
        tf.sort(tf.reshape(s, [-1]))[t * tf.size(s[0]):tf.size(s) - t * tf.size(s[0])])),
        "all values together"),
    "numpy in report": (_numpy_report, "NumPy cannot compute"),
    "static shape": (lambda s, t: tf.reduce_mean(tf.sort(s, axis=0)[t:s.shape[0] - t],
                                                 axis=0), "tf.shape(stack)[0]"),
}


def with_report(fn):
    """trimmed_mean_parts whose report is `fn(stack, trim)`."""
    def trimmed_mean_parts(value_type, trim):
        return parts(trim, report=lambda s: fn(s, trim))(value_type, trim)
    return trimmed_mean_parts


def answer(name):
    changes = WRONG[name][0]
    if callable(changes):
        return changes
    return lambda value_type, trim: parts(trim, **changes)(value_type, trim)


def test_reference_passes():
    verdict = nb07.check_trimmed_mean(aggregation.trimmed_mean_parts, verbose=False)
    assert verdict.passed, verdict.message


def test_untouched_stub_is_not_attempted():
    assert nb07.check_trimmed_mean(stub, verbose=False).status == "not attempted"


@pytest.mark.parametrize("name", list(WRONG))
def test_wrong_parts_are_named(name):
    verdict = nb07.check_trimmed_mean(answer(name), verbose=False)
    assert verdict.status == "wrong", verdict
    assert WRONG[name][1] in verdict.message, verdict.message


@pytest.mark.parametrize("name", list(REPORTS))
def test_wrong_reports_are_named(name):
    fn, words = REPORTS[name]
    verdict = nb07.check_trimmed_mean(with_report(fn), verbose=False)
    assert verdict.status == "wrong", verdict
    assert words in verdict.message, verdict.message


def test_each_mistake_has_its_own_message():
    messages = [nb07.check_trimmed_mean(answer(n), verbose=False).message for n in WRONG]
    messages += [nb07.check_trimmed_mean(with_report(fn), verbose=False).message
                 for fn, _ in REPORTS.values()]
    assert len(set(messages)) == len(messages)


def test_wrong_variants_differ_from_the_answer_on_every_case():
    for values, trim in nb07._cases():
        if trim == 0:
            continue
        expected = nb07.reference(values, trim)
        for name, (wrong, message) in nb07._wrong_variants(values, trim).items():
            assert wrong is None or not np.allclose(wrong, expected), name


# --- mutation tests: the comparisons that reject wrong answers are the checker's ----

def test_without_the_report_comparison_a_wrong_report_passes(monkeypatch):
    wrong = with_report(REPORTS["divides by all"][0])
    assert nb07.check_trimmed_mean(wrong, verbose=False).status == "wrong"
    monkeypatch.setattr(nb07, "_diagnose", lambda results, cases: None)
    monkeypatch.setattr(nb07, "_check_in_federated_aggregate", lambda *args: None)
    assert nb07.check_trimmed_mean(wrong, verbose=False).passed


def test_without_the_merge_comparison_a_wrong_merge_passes(monkeypatch):
    wrong = answer("merge drops one side")
    assert nb07.check_trimmed_mean(wrong, verbose=False).status == "wrong"
    monkeypatch.setattr(nb07, "_check_merge", lambda merge, values: None)
    assert nb07.check_trimmed_mean(wrong, verbose=False).passed
