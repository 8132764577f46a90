"""Notebook 04's checkers accept the reference solutions and name the mistake in wrong
ones."""

import numpy as np
import pytest
import tensorflow as tf

import tensorflow_federated as tff
from course_utils.exercises import nb04

CLIENT_FLOATS = tff.FederatedType(np.float32, tff.CLIENTS)
SERVER_FLOAT = tff.FederatedType(np.float32, tff.SERVER)
CLIENT_SEQUENCES = tff.FederatedType(tff.SequenceType(np.float32), tff.CLIENTS)


def stub():
    raise NotImplementedError


# --- exercise 4.1: fraction of clients above a threshold ----------------------------------

def make_fraction(compare=lambda r, t: r > t, aggregate=tff.federated_mean,
                  threshold_type=SERVER_FLOAT, broadcast=True, keep_at_clients=False):
    """The reference solution, or a variant with one mistake."""
    @tff.tensorflow.computation(np.float32, np.float32)
    def is_above(reading, threshold):
        return tf.cast(compare(reading, threshold), np.float32)

    @tff.federated_computation(CLIENT_FLOATS, threshold_type)
    def fraction_above(readings, threshold):
        at_clients = tff.federated_broadcast(threshold) if broadcast else threshold
        flags = tff.federated_map(is_above, (readings, at_clients))
        return flags if keep_at_clients else aggregate(flags)

    return fraction_above


def check1(make):
    return nb04.check_fraction_above(make, verbose=False)


def test_fraction_reference_passes():
    verdict = check1(make_fraction)
    assert verdict.passed, verdict.message


def test_fraction_stub_is_not_attempted():
    assert check1(stub).status == "not attempted"


@pytest.mark.parametrize("make, status, message", [
    (lambda: make_fraction(aggregate=tff.federated_sum), "wrong",
     "how many clients are above the threshold, not the fraction"),
    (lambda: make_fraction(compare=lambda r, t: r >= t), "wrong", "Compare with `>`"),
    (lambda: make_fraction(compare=lambda r, t: r < t), "wrong", "*below* the threshold"),
    (lambda: make_fraction(compare=lambda r, t: r > 4.0), "wrong",
     "Did you use the threshold you were given"),
    (lambda: make_fraction(keep_at_clients=True), "wrong",
     "the result is still at the clients ({float32}@CLIENTS)"),
    (lambda: make_fraction(threshold_type=CLIENT_FLOATS, broadcast=False), "wrong",
     "the threshold (second argument) is one value held by the server"),
    (lambda: None, "wrong", "returned None"),
    (lambda: make_fraction, "wrong", "should return a TFF computation"),
    (lambda: make_fraction(broadcast=False), "error",
     "your code raised TypeError: The value to be mapped must be a FederatedType"),
])
def test_fraction_mistakes_are_named(make, status, message):
    verdict = check1(make)
    assert verdict.status == status, verdict
    assert message in verdict.message, verdict.message
    assert "Traceback" not in verdict.message


def test_fraction_wrong_readings_type():
    @tff.federated_computation(tff.FederatedType(np.int32, tff.CLIENTS), SERVER_FLOAT)
    def fraction_above(readings, threshold):
        return threshold

    verdict = check1(lambda: fraction_above)
    assert verdict.status == "wrong" and "yours is {int32}@CLIENTS" in verdict.message


# --- exercise 4.2: mean of the client means -------------------------------------------------

def make_means(local="mean", aggregate="mean"):
    @tff.tensorflow.computation(tff.SequenceType(np.float32))
    def local_stats(readings):
        total, count = readings.reduce((np.float32(0), np.float32(0)),
                                       lambda s, x: (s[0] + x, s[1] + 1.0))
        return total / count if local == "mean" else total, count

    @tff.tensorflow.computation(tff.SequenceType(np.float32))
    def local_value(readings):
        return local_stats(readings)[0]

    @tff.federated_computation(CLIENT_SEQUENCES)
    def mean_of_client_means(client_readings):
        if aggregate == "weighted":
            stats = tff.federated_map(local_stats, client_readings)
            return tff.federated_mean(stats[0], weight=stats[1])
        values = tff.federated_map(local_value, client_readings)
        if aggregate == "sum":
            return tff.federated_sum(values)
        if aggregate == "clients":
            return values
        return tff.federated_mean(values)

    return mean_of_client_means


def check2(make):
    return nb04.check_mean_of_client_means(make, verbose=False)


def test_means_reference_passes():
    verdict = check2(make_means)
    assert verdict.passed, verdict.message


def test_means_stub_is_not_attempted():
    assert check2(stub).status == "not attempted"


@pytest.mark.parametrize("make, message", [
    (lambda: make_means(aggregate="weighted"), "the mean of all readings"),
    (lambda: make_means(local="sum"), "each client sent the *sum* of its readings"),
    (lambda: make_means(aggregate="sum"), "you added up the client means"),
    (lambda: make_means(aggregate="clients"), "the result is still at the clients"),
    (lambda: nb04_wrong_input_type(), "{float32*}@CLIENTS"),
])
def test_means_mistakes_are_named(make, message):
    verdict = check2(make)
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message


def nb04_wrong_input_type():
    @tff.federated_computation(CLIENT_FLOATS)
    def mean_of_client_means(readings):
        return tff.federated_mean(readings)

    return mean_of_client_means
