"""Notebook 10's checker: the reference (two ways of writing it) passes, the named wrong
versions are each rejected with their own message, an untouched stub is "not
attempted"."""

import numpy as np
import pytest
import tensorflow as tf

from client_update_variants import client_update_variant
from verdicts import stub, verdict_of

from course_utils import fedavg, fedprox
from course_utils.exercises import nb10

CHECK = nb10.check_fedprox_client_update


def learner_update(step=None, loss_term=None, after=None, reset=True):
    """A learner-style FedProx client update (fedavg.client_update's structure), with
    `step(w, g, w_server, lr, mu)` -> the amount to subtract from each weight, an
    optional `loss_term(weights, server_weights, mu)` added to the loss inside the tape,
    and an optional `after(w, w_server, lr, mu)` applied once after the loop."""
    def steps(gradients, weights, server_weights, lr, mu):
        return [step(w, g, s, lr, mu) for w, g, s in zip(weights, gradients, server_weights)]

    return client_update_variant(steps=steps if step else None, loss_term=loss_term,
                                 after=after, reset=reset)


def squared_distance(weights, server_weights):
    return tf.add_n([tf.reduce_sum(tf.square(w - s))
                     for w, s in zip(weights, server_weights)])


def test_untouched_stub_is_not_attempted():
    assert verdict_of(CHECK, stub).status == "not attempted"


def test_reference_passes():
    verdict = verdict_of(CHECK, fedprox.fedprox_client_update)
    assert verdict.passed, verdict


def test_the_loss_form_passes_too():
    answer = learner_update(loss_term=lambda w, s, mu: mu / 2 * squared_distance(w, s))
    assert verdict_of(CHECK, answer).passed


def test_checkers_reference_is_course_utils_fedprox():
    """The checker's own eager reference agrees with course_utils.fedprox."""
    import course_utils.models as models

    trained, _ = fedprox.fedprox_client_update(
        models.create_keras_model(), nb10._dataset(), nb10.server_weights(),
        nb10.LEARNING_RATE, nb10.MU)
    assert fedavg.max_weight_difference(
        trained, nb10._variant_update("reference", nb10.LEARNING_RATE, nb10.MU)) < 2e-6


WRONG = {
    "sign": (learner_update(step=lambda w, g, s, lr, mu: lr * (g - mu * (w - s))),
             "AWAY from the server"),
    "current weights": (learner_update(
        loss_term=lambda w, s, mu: mu / 2 * squared_distance(w, [tf.stop_gradient(v)
                                                                 for v in w])),
        "exactly FedAvg's"),
    "no term": (learner_update(), "exactly FedAvg's"),
    "once per epoch": (learner_update(after=lambda w, s, lr, mu: lr * mu * (w - s)),
                       "applied once"),
    "no half": (learner_update(loss_term=lambda w, s, mu: mu * squared_distance(w, s)),
                "twice as strong"),
    "loss and gradient": (learner_update(
        step=lambda w, g, s, lr, mu: lr * (g + mu * (w - s)),
        loss_term=lambda w, s, mu: mu / 2 * squared_distance(w, s)), "twice as strong"),
    "mu twice": (learner_update(step=lambda w, g, s, lr, mu: lr * (g + mu * mu * (w - s))),
                 "mu is applied twice"),
    "no learning rate": (learner_update(step=lambda w, g, s, lr, mu: lr * g + mu * (w - s)),
                         "not scaled by the learning rate"),
    "weight decay": (learner_update(step=lambda w, g, s, lr, mu: lr * (g + mu * w)),
                     "L2 weight decay"),
    "norm, not squared": (learner_update(
        loss_term=lambda w, s, mu: mu / 2 * tf.norm(tf.concat(
            [tf.reshape(a - b, [-1]) for a, b in zip(w, s)], 0))), "SQUARED norm"),
    "not reset": (learner_update(step=lambda w, g, s, lr, mu: lr * (g + mu * (w - s)),
                                 reset=False), "did not start from `server_weights`"),
    "fixed mu": (learner_update(step=lambda w, g, s, lr, mu: lr * (g + 0.5 * (w - s))),
                 "use the `mu` argument"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_wrong_versions_are_named(name):
    answer, phrase = WRONG[name]
    verdict = verdict_of(CHECK, answer)
    assert verdict.status == "wrong", (name, verdict)
    assert phrase in verdict.message, (name, verdict.message)
    assert "Traceback" not in verdict.message


def test_the_named_versions_really_differ():
    """Each named mistake is its own answer: no two give the same weights."""
    kinds = ["reference", "sign", "current", "once", "no half", "mu twice", "no lr",
             "l2", "not reset"]
    results = {k: nb10._variant_update(k, nb10.LEARNING_RATE, nb10.MU) for k in kinds}
    for i, a in enumerate(kinds):
        for b in kinds[i + 1:]:
            gap = fedavg.max_weight_difference(results[a], results[b])
            assert gap > 1e-4, (a, b, gap)


def test_a_crash_is_reported_without_traceback():
    def broken(model, dataset, server_weights, learning_rate, mu):
        return server_weights["kernel"], {}

    verdict = verdict_of(CHECK, broken)
    assert verdict.status == "error" and "Traceback" not in verdict.message


def test_wrong_return_shape_is_explained():
    def weights_only(model, dataset, server_weights, learning_rate, mu):
        return fedprox.fedprox_client_update(model, dataset, server_weights,
                                             learning_rate, mu)[0]

    verdict = verdict_of(CHECK, weights_only)
    assert verdict.status == "wrong" and "(weights, totals)" in verdict.message


def test_use_falls_back_to_the_reference(capsys):
    failed = verdict_of(CHECK, stub)
    assert nb10.use(failed, stub, "fedprox_client_update") is fedprox.fedprox_client_update
    passed = verdict_of(CHECK, fedprox.fedprox_client_update)
    mine = fedprox.fedprox_client_update
    assert nb10.use(passed, mine, "fedprox_client_update") is mine
    assert "Using your" in capsys.readouterr().out
    assert np.isfinite(nb10.MU)
