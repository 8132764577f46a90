"""Notebook 10's SCAFFOLD and server-optimizer checkers: the course's references pass,
each named wrong answer is rejected with its own message, an untouched stub is "not
attempted", and without its key comparison a checker would accept wrong answers."""

import collections

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_federated as tff
from verdicts import stub

from course_utils import fedavg, models, scaffold, server_optimizers
from course_utils.exercises import drift_remedies as dr
from course_utils.exercises import nb10


CHECKERS = {"client": dr.check_scaffold_client_update, "next": dr.check_scaffold_next_fn,
            "server": dr.check_server_update}
REFERENCES = {"client": scaffold.scaffold_client_update,
              "next": scaffold.build_scaffold_next_fn,
              "server": server_optimizers.server_update}


def verdict(which, answer):
    return CHECKERS[which](answer, verbose=False)


@pytest.mark.parametrize("which", list(CHECKERS))
def test_untouched_stub_is_not_attempted(which):
    assert verdict(which, stub).status == "not attempted"


@pytest.mark.parametrize("which", list(CHECKERS))
def test_the_course_reference_passes(which):
    result = verdict(which, REFERENCES[which])
    assert result.passed, result


# --- 10.2: SCAFFOLD's client step, written as a learner would -------------------------

def learner_client(correction=lambda c, ci: c - ci,
                   step=lambda g, k, lr: lr * (g + k),
                   new_control=lambda ci, c, drift, k, lr, at_x, first: ci - c + drift / (k * lr),
                   delta=lambda y, x: y - x, control_delta=lambda new, ci: new - ci,
                   reset=True, python_counter=False, rate=None):
    """SCAFFOLD's client (the structure of fedavg.client_update) with each part given:
    `new_control` gets (c_i, c, x - y, K, lr, the mean gradient at x, the first batch's
    gradient at x), tensor by tensor."""
    def client_update(model, dataset, server_weights, server_control, client_control,
                      learning_rate):
        lr = learning_rate if rate is None else rate
        weights = model.trainable_variables
        if reset:
            for variable, value in zip(weights, server_weights):
                variable.assign(value)
        loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()

        def gradient_at_start(state, batch):
            total, count, first = state
            with tf.GradientTape() as tape:
                loss = loss_fn(batch["y"], model(batch["x"], training=True))
            g = tape.gradient(loss, weights)
            first = tuple(tf.where(count > 0, f, gi) for f, gi in zip(first, g))
            return tuple(t + gi for t, gi in zip(total, g)), count + 1.0, first

        zeros = tuple(tf.zeros_like(w) for w in weights)
        total, count, first = dataset.reduce((zeros, tf.constant(0.0), zeros),
                                             gradient_at_start)
        at_x = [t / count for t in total]
        corrections = [correction(c, ci) for c, ci in zip(server_control, client_control)]
        counter = [0.0]

        def train_on_batch(state, batch):
            totals, steps = state
            with tf.GradientTape() as tape:
                predictions = model(batch["x"], training=True)
                loss = loss_fn(batch["y"], predictions)
            gradients = tape.gradient(loss, weights)
            for variable, g, k in zip(weights, gradients, corrections):
                variable.assign_sub(step(g, k, lr))
            counter[0] += 1.0
            return fedavg.add_batch_metrics(totals, loss, batch["y"], predictions), steps + 1.0

        totals, steps = dataset.reduce((fedavg.zero_metrics(), tf.constant(0.0)),
                                       train_on_batch)
        k = tf.constant(counter[0]) if python_counter else steps
        drift = [x - y for x, y in zip(server_weights, weights)]
        new = [new_control(ci, c, d, k, lr, ax, f) for ci, c, d, ax, f
               in zip(client_control, server_control, drift, at_x, first)]
        return ([delta(tf.identity(y), x) for y, x in zip(weights, server_weights)],
                [control_delta(n, ci) for n, ci in zip(new, client_control)], new, totals)
    return client_update


def test_a_learner_style_reference_passes():
    assert verdict("client", learner_client()).passed


CLIENT_WRONG = {
    "correction sign": (dict(correction=lambda c, ci: ci - c), "sign is flipped"),
    "no correction": (dict(correction=lambda c, ci: 0.0 * c), "plain SGD"),
    "only c": (dict(correction=lambda c, ci: c), "c_i is missing"),
    "only c_i": (dict(correction=lambda c, ci: -ci), "server's control variate c is missing"),
    "correction unscaled": (dict(step=lambda g, k, lr: lr * g + k),
                            "not scaled by the learning rate"),
    "not reset": (dict(reset=False), "did not start from server_weights"),
    "hard-coded rate": (dict(rate=0.3), "not the learning_rate argument"),
    "option I": (dict(new_control=lambda ci, c, d, k, lr, ax, f: ax), "option I of the paper"),
    "option I, one batch": (dict(new_control=lambda ci, c, d, k, lr, ax, f: f), "first batch"),
    "option I mixed into II": (dict(new_control=lambda ci, c, d, k, lr, ax, f: ci - c + ax),
                               "mixed option I into option II"),
    "c_i - c left out": (dict(new_control=lambda ci, c, d, k, lr, ax, f: d / (k * lr)),
                         "add back c_i - c"),
    "c_i unchanged": (dict(new_control=lambda ci, c, d, k, lr, ax, f: ci), "came back unchanged"),
    "no division by K eta": (dict(new_control=lambda ci, c, d, k, lr, ax, f: ci - c + d),
                             "did not divide (x - y) by K * learning_rate"),
    "K counted by a Python counter": (dict(python_counter=True), "but not by K"),
    "no division by eta": (dict(new_control=lambda ci, c, d, k, lr, ax, f: ci - c + d / k),
                           "but not by the learning rate"),
    "K as examples": (dict(new_control=lambda ci, c, d, k, lr, ax, f: ci - c + d / (4 * k * lr)),
                      "number of EXAMPLES"),
    "drift sign": (dict(new_control=lambda ci, c, d, k, lr, ax, f: ci - c - d / (k * lr)),
                   "(y - x) instead of (x - y)"),
    "+ c": (dict(new_control=lambda ci, c, d, k, lr, ax, f: ci + c + d / (k * lr)),
            "added c where option II subtracts it"),
    "weights_delta sign": (dict(delta=lambda y, x: x - y), "weights_delta has the wrong sign"),
    "weights_delta is y": (dict(delta=lambda y, x: y), "is the trained weights y"),
    "control_delta is c_i+": (dict(control_delta=lambda new, ci: new),
                              "control_delta is c_i+ itself"),
    "control_delta sign": (dict(control_delta=lambda new, ci: ci - new),
                           "control_delta has the wrong sign"),
}


@pytest.mark.parametrize("name", list(CLIENT_WRONG))
def test_client_wrong_answers_are_named(name):
    knobs, phrase = CLIENT_WRONG[name]
    result = verdict("client", learner_client(**knobs))
    assert result.status == "wrong", (name, result)
    assert phrase in result.message, (name, result.message)


def test_client_mistakes_all_differ():
    """Each named c_i+ and step is its own answer: no two give the same numbers."""
    answers = {("control", k): dr._client_numbers(control=k)[1]
               for k in ["reference", *dr.CONTROL_MISTAKES]}
    answers.update({("step", k): dr._client_numbers(step=k)[0]
                    for k in ["reference", *dr.STEP_MISTAKES] if k != "course rate"})
    answers[("step", "course rate")] = dr._client_numbers(learning_rate=0.3)[0]
    names = list(answers)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if a[0] == b[0]:
                gap = fedavg.max_weight_difference(answers[a], answers[b])
                assert gap > 1e-3, (a, b, gap)


def test_checkers_numbers_are_the_course_scaffold():
    """The checker's NumPy client equals course_utils.scaffold's TensorFlow client."""
    x, c, c_i, batches = dr.client_inputs()
    dy, dc, new, _ = scaffold.scaffold_client_update(
        models.create_keras_model(), dr._dataset(batches),
        *[[tf.constant(w, tf.float32) for w in ws] for ws in (x, c, c_i)], dr.LEARNING_RATE)
    expected_dy, expected_new = dr._client_numbers()
    assert fedavg.max_weight_difference(dy, expected_dy) < 1e-6
    assert fedavg.max_weight_difference(new, expected_new) < 1e-5


# --- 10.3: SCAFFOLD's next_fn, written as a learner would -----------------------------

def learner_next(new_x=lambda a: a.x + a.eta * a.mean_dy,
                 new_c=lambda a: a.c + a.sampled / a.n * a.mean_dc,
                 controls="new", two_passes=False, swapped=False, weighted_metrics=True):
    """A SCAFFOLD next_fn builder in the two-means form: `new_x(a)` and `new_c(a)` get
    the aggregates (a.x, a.c, a.mean_dy, a.sum_dy, a.wmean_dy, a.mean_dc, a.sum_dc,
    a.wmean_dc, a.mean_new, a.sampled = |S|, a.n = N, a.eta) tensor by tensor."""
    def build(client_update_fn, state_type, data_type, weights_type, server_learning_rate):
        w, f32 = weights_type, np.float32

        @tff.tensorflow.computation(state_type, w, w, w, w, w, w, w, f32, f32)
        def server_update_fn(state, mean_dy, sum_dy, wmean_dy, mean_dc, sum_dc, wmean_dc,
                             mean_new, sampled, num_clients):
            def parts(j):
                return collections.namedtuple("A", "x c mean_dy sum_dy wmean_dy mean_dc "
                                                   "sum_dc wmean_dc mean_new sampled n eta")(
                    state["weights"][j], state["control"][j], mean_dy[j], sum_dy[j],
                    wmean_dy[j], mean_dc[j], sum_dc[j], wmean_dc[j], mean_new[j], sampled,
                    num_clients, server_learning_rate)
            return collections.OrderedDict(weights=[new_x(parts(j)) for j in range(2)],
                                           control=[new_c(parts(j)) for j in range(2)])

        @tff.tensorflow.computation(state_type)
        def control_of(state):
            return state["control"]

        @tff.federated_computation(tff.FederatedType(state_type, tff.SERVER),
                                   tff.FederatedType(data_type, tff.CLIENTS),
                                   tff.FederatedType(w, tff.CLIENTS),
                                   tff.FederatedType(f32, tff.SERVER))
        def next_fn(state, federated_dataset, client_controls, num_clients):
            def work(control):
                x, c = tff.federated_broadcast(state.weights), tff.federated_broadcast(control)
                return tff.federated_map(client_update_fn, (
                    federated_dataset, *((c, x) if swapped else (x, c)), client_controls))

            def update(outputs):
                n = outputs.num_examples
                return tff.federated_map(server_update_fn, (
                    state, tff.federated_mean(outputs.weights_delta),
                    tff.federated_sum(outputs.weights_delta),
                    tff.federated_mean(outputs.weights_delta, weight=n),
                    tff.federated_mean(outputs.control_delta),
                    tff.federated_sum(outputs.control_delta),
                    tff.federated_mean(outputs.control_delta, weight=n),
                    tff.federated_mean(outputs.new_control),
                    tff.federated_sum(tff.federated_value(1.0, tff.CLIENTS)), num_clients))

            outputs = work(state.control)
            new_state = update(outputs)
            if two_passes:  # the clients train again with the updated c
                outputs = work(tff.federated_map(control_of, new_state))
                new_state = update(outputs)
            metrics = tff.federated_mean(
                outputs.metrics, weight=outputs.num_examples if weighted_metrics else None)
            returned = {"new": outputs.new_control, "old": client_controls,
                        "dc": outputs.control_delta}[controls]
            return new_state, metrics, returned

        return next_fn
    return build


def test_the_two_means_form_passes():
    """c + (|S|/N) * mean(dc), with |S| counted by a federated_sum, passes too."""
    assert verdict("next", learner_next()).passed


NEXT_WRONG = {
    "c without |S|/N": (dict(new_c=lambda a: a.c + a.mean_dc), "without the factor |S|/N"),
    "c by the sum": (dict(new_c=lambda a: a.c + a.sum_dc), "SUM of dc"),
    "c by mean / N": (dict(new_c=lambda a: a.c + a.mean_dc / a.n), "divides by |S| twice"),
    "c as mean of c_i+": (dict(new_c=lambda a: a.mean_new), "mean of the sampled clients' c_i+"),
    "c unchanged": (dict(new_c=lambda a: a.c), "control variate c came back unchanged"),
    "c with the server rate": (dict(new_c=lambda a: a.c + a.eta * a.sum_dc / a.n),
                               "server learning rate was applied to c too"),
    "c weighted": (dict(new_c=lambda a: a.c + a.sampled / a.n * a.wmean_dc),
                   "mean of dc is weighted by examples"),
    "c by eta times mean": (dict(new_c=lambda a: a.c + a.eta * a.mean_dc),
                            "the factor is |S|/N"),
    "c broadcast after its update": (dict(two_passes=True), "AFTER this round's update"),
    "x and c swapped": (dict(swapped=True), "swapped"),
    "c_i returned unchanged": (dict(controls="old"), "control variates came back unchanged"),
    "dc returned": (dict(controls="dc"), "returned control_delta"),
    "x sign": (dict(new_x=lambda a: a.x - a.eta * a.mean_dy), "moved against"),
    "x without eta": (dict(new_x=lambda a: a.x + a.mean_dy), "server learning rate is missing"),
    "x by the sum": (dict(new_x=lambda a: a.x + a.eta * a.sum_dy), "SUM of the clients' dy"),
    "x weighted": (dict(new_x=lambda a: a.x + a.eta * a.wmean_dy), "weighted by examples"),
    "x unchanged": (dict(new_x=lambda a: a.x), "weights came back unchanged"),
    "x is mean dy": (dict(new_x=lambda a: a.mean_dy), "mean of dy alone"),
    "metrics unweighted": (dict(weighted_metrics=False), "unweighted mean"),
}


@pytest.mark.parametrize("name", list(NEXT_WRONG))
def test_next_fn_wrong_answers_are_named(name):
    knobs, phrase = NEXT_WRONG[name]
    result = verdict("next", learner_next(**knobs))
    assert result.status == "wrong", (name, result)
    assert phrase in result.message, (name, result.message)


def test_next_fn_returning_the_state_only_is_explained():
    def build(client_update_fn, state_type, data_type, weights_type, eta):
        full = scaffold.build_scaffold_next_fn(client_update_fn, state_type, data_type,
                                               weights_type, eta)

        @tff.federated_computation(*full.type_signature.parameter)
        def next_fn(state, data, controls, n):
            return full(state, data, controls, n)[0], full(state, data, controls, n)[1]
        return next_fn

    result = verdict("next", build)
    assert result.status == "wrong" and "three values" in result.message


def test_next_fn_without_broadcast_is_explained():
    def build(client_update_fn, state_type, data_type, weights_type, eta):
        @tff.federated_computation(tff.FederatedType(state_type, tff.SERVER),
                                   tff.FederatedType(data_type, tff.CLIENTS),
                                   tff.FederatedType(weights_type, tff.CLIENTS),
                                   tff.FederatedType(np.float32, tff.SERVER))
        def next_fn(state, data, controls, n):
            outputs = tff.federated_map(client_update_fn, (data, state.weights,
                                                           state.control, controls))
            return state, tff.federated_mean(outputs.metrics), outputs.new_control
        return next_fn

    result = verdict("next", build)
    assert result.status == "wrong" and "Broadcast" in result.message, result


# --- 10.4: the server optimizer's step -------------------------------------------------

def server_step(pseudo_gradient=lambda w, m: w - m, opt_state=lambda opt, s, w: s,
                base=lambda w, m: w, returned_state=lambda new, old: new,
                returned_weights=lambda new, w, m: new):
    def server_update(optimizer, state, mean_client_weights):
        weights = list(state["weights"])
        g = [pseudo_gradient(w, m) for w, m in zip(weights, mean_client_weights)]
        start = [base(w, m) for w, m in zip(weights, mean_client_weights)]
        new_state, new_weights = optimizer.next(
            opt_state(optimizer, state["optimizer_state"], weights), start, g)
        return collections.OrderedDict(
            weights=[returned_weights(n, w, m) for n, w, m
                     in zip(new_weights, weights, mean_client_weights)],
            optimizer_state=returned_state(new_state, state["optimizer_state"]))
    return server_update


def reinitialised(optimizer, state, weights):
    return optimizer.initialize([tf.TensorSpec(w.shape, w.dtype) for w in weights])


SERVER_WRONG = {
    "pseudo-gradient sign": (dict(pseudo_gradient=lambda w, m: m - w), "sign is flipped"),
    "step from the mean": (dict(base=lambda w, m: m), "started from the clients' mean"),
    "state re-initialised": (dict(opt_state=reinitialised), "re-initialised every round"),
    "state not returned": (dict(returned_state=lambda new, old: old), "new state is not returned"),
    "learning rate twice": (dict(pseudo_gradient=lambda w, m: dr.SGDM_RATE * (w - m)),
                            "learning rate is applied twice"),
    "mean as the gradient": (dict(pseudo_gradient=lambda w, m: m),
                             "went to the optimizer as the gradient"),
    "FedAvg's server": (dict(returned_weights=lambda new, w, m: m), "that is FedAvg's server"),
    "weights unchanged": (dict(returned_weights=lambda new, w, m: w),
                          "weights came back unchanged"),
}


@pytest.mark.parametrize("name", list(SERVER_WRONG))
def test_server_wrong_answers_are_named(name):
    knobs, phrase = SERVER_WRONG[name]
    result = verdict("server", server_step(**knobs))
    assert result.status == "wrong", (name, result)
    assert phrase in result.message, (name, result.message)


def test_server_learner_style_reference_passes():
    assert verdict("server", server_step()).passed


def test_server_sgd_by_hand_fails_with_adam():
    def by_hand(optimizer, state, mean_client_weights):
        s = state["optimizer_state"]
        new_acc = [0.9 * a + (w - m) for a, w, m
                   in zip(s["accumulator"], state["weights"], mean_client_weights)]
        weights = [w - 0.5 * a for w, a in zip(state["weights"], new_acc)]
        return collections.OrderedDict(weights=weights, optimizer_state=collections.OrderedDict(
            learning_rate=s["learning_rate"], momentum=s["momentum"], accumulator=new_acc))

    result = verdict("server", by_hand)
    assert result.status in ("wrong", "error"), result


def test_server_state_of_another_structure_is_explained():
    def weights_only(optimizer, state, mean_client_weights):
        return server_optimizers.server_update(optimizer, state, mean_client_weights)["weights"]

    result = verdict("server", weights_only)
    assert result.status == "wrong" and "the structure it came in" in result.message


def test_server_trajectories_all_differ():
    kinds = ["reference", *dr.SERVER_MISTAKES]
    runs = {k: dr._sgdm_trajectory(k) for k in kinds}
    for i, a in enumerate(kinds):
        for b in kinds[i + 1:]:
            same = all(fedavg.max_weight_difference(wa, wb) < 1e-3
                       and fedavg.max_weight_difference(aa, ab) < 1e-3
                       for (wa, aa), (wb, ab) in zip(runs[a], runs[b]))
            assert not same, (a, b)


# --- mutation: without the key comparison the checkers accept wrong answers -----------

@pytest.mark.parametrize("which, answer", [
    ("client", learner_client(correction=lambda c, ci: ci - c)),
    ("next", learner_next(new_c=lambda a: a.c + a.mean_dc)),
    ("server", server_step(pseudo_gradient=lambda w, m: m - w)),
])
def test_without_the_key_comparison_a_wrong_answer_passes(which, answer, monkeypatch):
    assert verdict(which, answer).status == "wrong"
    monkeypatch.setattr(dr, "close", lambda *args, **kwargs: True)
    assert verdict(which, answer).passed


# --- the fall-back -----------------------------------------------------------------------

def test_use_falls_back_to_the_course_reference(capsys):
    failed = verdict("server", stub)
    assert nb10.use(failed, stub, "server_update") is server_optimizers.server_update
    assert "course_utils.server_optimizers" in capsys.readouterr().out
    assert nb10.use(failed, stub, "scaffold_client_update") is scaffold.scaffold_client_update
    assert nb10.use(failed, stub, "build_scaffold_next_fn") is scaffold.build_scaffold_next_fn
    passed = verdict("server", server_optimizers.server_update)
    mine = server_step()
    assert nb10.use(passed, mine, "server_update") is mine
