"""Notebook 06's checkers: the reference passes, plausible wrong answers are rejected
with a message that names the mistake, and an untouched stub is "not attempted"."""

import collections
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from client_update_variants import client_update_variant
from verdicts import assert_wrong, stub, verdict_of

from course_utils import fedavg, models
from course_utils import variants
from course_utils.exercises import nb06

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("check", [nb06.check_midpoint_server_update,
                                   nb06.check_clipped_client_update,
                                   nb06.check_lr_decay_process])
def test_untouched_stub_is_not_attempted(check):
    verdict = verdict_of(check, stub)
    assert verdict.status == "not attempted", verdict


# --- exercise 6.1: midpoint ------------------------------------------------------------

def test_midpoint_reference_passes():
    verdict = verdict_of(nb06.check_midpoint_server_update,
                         variants.midpoint_server_update)
    assert verdict.passed, verdict


def test_midpoint_with_tf_ops_and_tuples_passes():
    def tuple_answer(server_weights, mean_client_weights):
        return tuple(tf.add(s, m) / 2.0 for s, m in zip(server_weights, mean_client_weights))

    assert verdict_of(nb06.check_midpoint_server_update, tuple_answer).passed


@pytest.mark.parametrize("answer, phrases", [
    (lambda s, m: m, ["mean client weights", "plain FedAvg"]),
    (lambda s, m: s, ["current server weights unchanged"]),
    (lambda s, m: [a + b for a, b in zip(s, m)], ["server_weights + mean_client_weights",
                                                  "divide by 2"]),
    (lambda s, m: [b - a for a, b in zip(s, m)], ["difference"]),
    (lambda s, m: [0.5 * (b - a) for a, b in zip(s, m)], ["half the update"]),
    (lambda s, m: [2 * b - a for a, b in zip(s, m)], ["moved past"]),
    (lambda s, m: [tf.fill(tf.shape(a), tf.reduce_mean(0.5 * (a + b)))
                   for a, b in zip(s, m)], ["inside each tensor"]),
    (lambda s, m: 0.5 * (s[0] + m[0]), ["one tensor per weight"]),
    (lambda s, m: [0.25 * (a + b) for a, b in zip(s, m)], ["the midpoint is [2, 0, 0.5]"]),
    (lambda s, m: [b + 0.5 * (b - a) for a, b in zip(s, m)], ["half a step past"]),
    (lambda s, m: [a + 0.5 * (a - b) for a, b in zip(s, m)], ["AWAY from the clients' mean"]),
    (lambda s, m: [0.5 * b for b in m], ["half of the clients' mean"]),
    (lambda s, m: 0.5 * (s + m), ["Python lists of tensors", "tensor by tensor"]),
    (lambda s, m: [x / 2 for x in s + m], ["Python lists of tensors", "4 tensors"]),
])
def test_midpoint_wrong_answers_are_named(answer, phrases):
    assert_wrong(verdict_of(nb06.check_midpoint_server_update, answer), *phrases)


def test_midpoint_numpy_only_answer_fails_in_graph():
    def numpy_answer(server_weights, mean_client_weights):
        return [0.5 * (a.numpy() + b.numpy())
                for a, b in zip(server_weights, mean_client_weights)]

    assert_wrong(verdict_of(nb06.check_midpoint_server_update, numpy_answer),
                 "inside a TensorFlow graph")


def test_midpoint_crash_is_reported_without_traceback():
    verdict = verdict_of(nb06.check_midpoint_server_update, lambda s, m: s["kernel"])
    assert verdict.status == "error" and "Traceback" not in verdict.message


# --- exercise 6.2: clipping ------------------------------------------------------------

def make_client_update(clip):
    """fedavg.client_update with `clip(gradients, learning_rate, clip_norm)` -> the
    amounts subtracted after each batch."""
    return client_update_variant(steps=lambda g, w, s, lr, clip_norm: clip(g, lr, clip_norm))


def _global(g, lr, c):
    return [lr * x for x in tf.clip_by_global_norm(g, c)[0]]


def clip_total_update_at_end():
    @tf.function
    def client_update(model, dataset, server_weights, learning_rate, clip_norm):
        weights, totals = fedavg.client_update(model, dataset, server_weights,
                                               learning_rate)
        delta = [w - s for w, s in zip(weights, server_weights)]
        delta, _ = tf.clip_by_global_norm(delta, clip_norm * learning_rate)
        return [s + d for s, d in zip(server_weights, delta)], totals
    return client_update


def broken_metrics():
    def client_update(model, dataset, server_weights, learning_rate, clip_norm):
        weights, totals = variants.clipped_client_update(
            model, dataset, server_weights, learning_rate, clip_norm)
        return weights, collections.OrderedDict(loss_sum=totals["loss_sum"],
                                                correct=totals["correct"],
                                                num_examples=tf.constant(1.0))
    return client_update


def test_clipping_reference_passes():
    verdict = verdict_of(nb06.check_clipped_client_update,
                         variants.clipped_client_update)
    assert verdict.passed, verdict


def test_clipping_answer_without_tf_function_passes():
    assert verdict_of(nb06.check_clipped_client_update,
                      make_client_update(_global).python_function).passed


@pytest.mark.parametrize("answer, phrases", [
    (make_client_update(lambda g, lr, c: [lr * x for x in g]), ["not clipped"]),
    (make_client_update(lambda g, lr, c: [lr * tf.clip_by_norm(x, c) for x in g]),
     ["each tensor separately", "global norm of all the gradients together"]),
    (make_client_update(lambda g, lr, c: [lr * tf.clip_by_value(x, -c, c) for x in g]),
     ["clip by value"]),
    (make_client_update(lambda g, lr, c: tf.clip_by_global_norm([lr * x for x in g],
                                                                c)[0]),
     ["instead of the gradient"]),
    (make_client_update(lambda g, lr, c: [-x for x in _global(g, lr, c)]), ["uphill"]),
    (make_client_update(lambda g, lr, c: _global(g, lr, 0.5)), ["not a fixed number"]),
    (make_client_update(lambda g, lr, c: [lr * c * x / tf.linalg.global_norm(g)
                                          for x in g]),
     ["never scales small ones up"]),
    (clip_total_update_at_end(), ["clipped the whole update once"]),
    (make_client_update(lambda g, lr, c: [lr * x * tf.minimum(
        1.0, c / tf.add_n([tf.norm(t) for t in g])) for x in g]),
     ["sum of the tensors' norms"]),
    (make_client_update(lambda g, lr, c: [lr * x * tf.minimum(1.0, c / tf.norm(g[0]))
                                          for x in g]),
     ["the kernel's alone"]),
    (make_client_update(lambda g, lr, c: [lr * x * tf.minimum(
        1.0, c / tf.linalg.global_norm(g) ** 2) for x in g]),
     ["SQUARED global norm"]),
    (make_client_update(lambda g, lr, c: [lr * x * min(1.0, c / tf.linalg.global_norm(g))
                                          for x in g]),
     ["Python condition on a tensor", "tf.minimum"]),
    (broken_metrics(), ["totals count 1 examples"]),
])
def test_clipping_wrong_answers_are_named(answer, phrases):
    assert_wrong(verdict_of(nb06.check_clipped_client_update, answer), *phrases)


def test_clipping_wrong_return_shape_is_named():
    verdict = verdict_of(nb06.check_clipped_client_update,
                         lambda model, dataset, weights, lr, clip: weights)
    assert_wrong(verdict, "should return (weights, totals)")


# --- exercise 6.3: learning-rate decay -------------------------------------------------

def variant_lr_process(initial_learning_rate, decay, *, decay_at="server",
                       clients_use_state=True, initial_decayed=False, state_has_rate=True,
                       as_pair=False):
    """The reference lr-decay process with one thing done wrong (see the arguments)."""
    import tensorflow_federated as tff

    weights_type, data_type = fedavg.federated_types(models.create_keras_model)
    start = initial_learning_rate * (decay if initial_decayed else 1.0)

    @tff.tensorflow.computation
    def initial_state():
        weights = [tf.identity(v) for v in models.create_keras_model().trainable_variables]
        if not state_has_rate:
            return weights
        if as_pair:
            return weights, tf.constant(start, tf.float32)
        return collections.OrderedDict(weights=weights,
                                       learning_rate=tf.constant(start, tf.float32))

    state_type = initial_state.type_signature.result

    @tff.tensorflow.computation(data_type, weights_type, np.float32)
    def client_update_fn(dataset, server_weights, learning_rate):
        if decay_at in ("client", "client-returned"):
            learning_rate = learning_rate * decay
        rate = learning_rate if clients_use_state else initial_learning_rate
        weights, totals = fedavg.client_update(models.create_keras_model(), dataset,
                                               server_weights, rate)
        return weights, variants.finalize_metrics(totals), learning_rate

    @tff.tensorflow.computation(weights_type, np.float32)
    def server_update_fn(mean_client_weights, learning_rate):
        factor = decay if decay_at == "server" else 1.0
        if as_pair:
            return mean_client_weights, learning_rate * factor
        return collections.OrderedDict(weights=mean_client_weights,
                                       learning_rate=learning_rate * factor)

    @tff.tensorflow.computation(np.float32)
    def predecay(learning_rate):
        return learning_rate * decay if decay_at == "before-broadcast" else learning_rate

    @tff.federated_computation
    def initialize_fn():
        return tff.federated_eval(initial_state, tff.SERVER)

    @tff.federated_computation(tff.FederatedType(state_type, tff.SERVER),
                               tff.FederatedType(data_type, tff.CLIENTS))
    def next_fn(state, federated_dataset):
        if not state_has_rate:
            rate = tff.federated_value(np.float32(initial_learning_rate), tff.SERVER)
            weights = state
        elif as_pair:
            weights, rate = state[0], state[1]
        else:
            rate, weights = state.learning_rate, state.weights
        rate = tff.federated_map(predecay, rate)
        outputs = tff.federated_map(client_update_fn, (
            federated_dataset, tff.federated_broadcast(weights),
            tff.federated_broadcast(rate)))
        mean_weights = tff.federated_mean(outputs[0])
        if decay_at == "client-returned":
            rate = tff.federated_mean(outputs[2])
        new_state = tff.federated_map(server_update_fn, (mean_weights, rate))
        if not state_has_rate:
            new_state = mean_weights
        return new_state, tff.federated_mean(outputs[1])

    return tff.templates.IterativeProcess(initialize_fn, next_fn)


def test_lr_decay_reference_passes():
    verdict = verdict_of(nb06.check_lr_decay_process, variants.build_lr_decay_process)
    assert verdict.passed, verdict
    assert "0.5, 0.4, 0.32 in rounds 1, 2, 3" in verdict.message


@pytest.mark.parametrize("options, phrases", [
    (dict(decay_at="nowhere"), ["never decays"]),
    (dict(decay_at="client"), ["decayed on the clients", "Decay it on the server"]),
    (dict(decay_at="client-returned"), ["decayed before the clients used it"]),
    (dict(decay_at="before-broadcast"), ["0.4, 0.32, 0.256", "decayed before the clients"]),
    (dict(initial_decayed=True), ["decayed before the first round"]),
    (dict(clients_use_state=False), ["the clients do not use it"]),
    (dict(state_has_rate=False), ["must carry the learning rate"]),
])
def test_lr_decay_wrong_answers_are_named(options, phrases):
    verdict = verdict_of(nb06.check_lr_decay_process,
                         lambda lr, decay: variant_lr_process(lr, decay, **options))
    assert_wrong(verdict, *phrases)


def test_lr_decay_state_as_a_pair_passes():
    verdict = verdict_of(nb06.check_lr_decay_process,
                         lambda lr, decay: variant_lr_process(lr, decay, as_pair=True))
    assert verdict.passed, verdict


def test_lr_decay_wrong_decay_formula_shows_expected_rates():
    verdict = verdict_of(nb06.check_lr_decay_process,
                         lambda lr, decay: variants.build_lr_decay_process(
                             lr, 1.0 - decay))
    assert_wrong(verdict, "expected 0.5, 0.4, 0.32")


def test_lr_decay_not_a_process_is_named():
    assert_wrong(verdict_of(nb06.check_lr_decay_process, lambda lr, decay: None),
                 "should return a tff.templates.IterativeProcess")


def test_lr_decay_plain_fedavg_is_rejected():
    verdict = verdict_of(nb06.check_lr_decay_process,
                         lambda lr, decay: fedavg.build_unweighted_fedavg_process(lr))
    assert_wrong(verdict, "must carry the learning rate")


# --- the helper that picks yours or the reference ------------------------------------

def test_use_picks_reference_until_passed(capsys):
    passed = nb06.check_midpoint_server_update(variants.midpoint_server_update,
                                               verbose=False)
    failed = nb06.check_midpoint_server_update(stub, verbose=False)
    name = "midpoint_server_update"
    assert nb06.use(passed, "yours", name) == "yours"
    assert nb06.use(failed, "yours", name) is variants.midpoint_server_update
    out = capsys.readouterr().out
    assert f"Using your {name}." in out
    assert f"Using the reference {name} from course_utils.variants" in out


# --- the notebooks -------------------------------------------------------------------

def _cells(path):
    return json.loads(path.read_text())["cells"]


def test_solution_notebook_differs_only_in_exercise_cells():
    """The learner's notebook and its solved copy must not drift apart: they differ
    only in cells tagged "exercise" (the stubs and their solutions) and in the header,
    setup and footer cells that `python -m course_utils nav` generates for each."""
    learner = _cells(ROOT / "notebooks" / "06_modifying_fedavg.ipynb")
    solved = _cells(ROOT / "notebooks" / "solutions" / "06_modifying_fedavg.ipynb")
    assert len(learner) == len(solved)
    exercises = 0
    for mine, theirs in zip(learner, solved):
        assert mine.get("id", "").startswith("course-") == theirs.get(
            "id", "").startswith("course-")
        if mine.get("id", "").startswith("course-"):  # generated navigation cells
            continue
        tags = set(mine.get("metadata", {}).get("tags", []))
        assert tags == set(theirs.get("metadata", {}).get("tags", []))
        if "exercise" in tags:
            exercises += 1
            assert "raise NotImplementedError" in "".join(mine["source"])
            assert "raise NotImplementedError" not in "".join(theirs["source"])
        else:
            assert mine["source"] == theirs["source"]
    assert exercises == 3
