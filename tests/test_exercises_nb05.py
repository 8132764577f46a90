"""Notebook 05's checkers (course_utils.exercises.nb05): the reference passes, each
plausible wrong answer is rejected with its own message naming the mistake, and an
untouched stub is "not attempted"."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_federated as tff
from verdicts import assert_wrong, stub, verdict_of

from course_utils import fedavg
from course_utils.exercises import nb05


@pytest.mark.parametrize("check", [nb05.check_client_update, nb05.check_unweighted_next_fn,
                                   nb05.check_weighted_next_fn])
def test_untouched_stub_is_not_attempted(check):
    assert verdict_of(check, stub).status == "not attempted"


def test_stub_inside_the_skeleton_is_not_attempted():
    """The learner copy's stubs sit inside the skeletons: tracing raises, not calling."""
    assert verdict_of(nb05.check_client_update, client_update_variant(stub_step=True)
                      ).status == "not attempted"
    assert verdict_of(nb05.check_unweighted_next_fn, next_fn_variant(
        lambda s, d, c: stub())).status == "not attempted"


# --- exercise 5.1: the local training step ------------------------------------------

def _assign_sub(variable, gradient, learning_rate, loss):
    variable.assign_sub(learning_rate * gradient)


def client_update_variant(load=True, step=_assign_sub, restart=False, stub_step=False):
    """fedavg.client_update's skeleton with the learner's part written in some way."""
    @tf.function
    def client_update(model, dataset, server_weights, learning_rate):
        weights = model.trainable_variables
        if load:
            for variable, value in zip(weights, server_weights):
                variable.assign(value)
        loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()

        def train_on_batch(totals, batch):
            if stub_step:
                raise NotImplementedError  # YOUR CODE HERE
            if restart:
                for variable, value in zip(weights, server_weights):
                    variable.assign(value)
            with tf.GradientTape() as tape:
                predictions = model(batch["x"], training=True)
                loss = loss_fn(batch["y"], predictions)
            gradients = tape.gradient(loss, weights)
            for variable, gradient in zip(weights, gradients):
                step(variable, gradient, learning_rate, loss)
            return fedavg.add_batch_metrics(totals, loss, batch["y"], predictions)

        totals = dataset.reduce(fedavg.zero_metrics(), train_on_batch)
        return [tf.identity(w) for w in weights], totals

    return client_update


@tf.function
def one_step_for_the_whole_dataset(model, dataset, server_weights, learning_rate):
    weights = model.trainable_variables
    for variable, value in zip(weights, server_weights):
        variable.assign(value)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()
    totals = fedavg.zero_metrics()
    summed = tuple(tf.zeros_like(w) for w in weights)
    count = tf.constant(0.0)
    for batch in dataset:
        with tf.GradientTape() as tape:
            predictions = model(batch["x"], training=True)
            loss = loss_fn(batch["y"], predictions)
        summed = tuple(s + g for s, g in zip(summed, tape.gradient(loss, weights)))
        count += 1.0
        totals = fedavg.add_batch_metrics(totals, loss, batch["y"], predictions)
    for variable, total in zip(weights, summed):
        variable.assign_sub(learning_rate * total / count)
    return [tf.identity(w) for w in weights], totals


def test_client_update_reference_passes():
    verdict = verdict_of(nb05.check_client_update, fedavg.client_update)
    assert verdict.passed, verdict


def test_client_update_written_differently_passes():
    def assign_difference(variable, gradient, learning_rate, loss):
        variable.assign(variable - gradient * learning_rate)

    assert verdict_of(nb05.check_client_update,
                      client_update_variant(step=assign_difference)).passed


@pytest.mark.parametrize("answer, phrases", [
    (client_update_variant(load=False), ["model's own initial weights (zeros)",
                                         "not from server_weights"]),
    (client_update_variant(step=lambda v, g, lr, loss: None), ["came back unchanged",
                                                               "nothing was trained"]),
    (client_update_variant(load=False, step=lambda v, g, lr, loss: None),
     ["initial weights (zeros): load server_weights"]),
    (client_update_variant(step=lambda v, g, lr, loss: v.assign_add(lr * g)),
     ["UP the gradient (gradient ascent)"]),
    (client_update_variant(step=lambda v, g, lr, loss: v.assign_sub(g)),
     ["ignores the learning_rate argument"]),
    (client_update_variant(step=lambda v, g, lr, loss: v.assign_sub(0.3 * g)),
     ["uses the learning rate 0.3, not the learning_rate argument"]),
    (client_update_variant(step=lambda v, g, lr, loss: v.assign_sub(lr * loss + 0 * v)),
     ["learning_rate × loss", "GRADIENT"]),
    (client_update_variant(restart=True), ["only the last batch counted"]),
    (one_step_for_the_whole_dataset, ["ONE step with the average gradient"]),
    (client_update_variant(step=lambda v, g, lr, loss: v.assign_sub(lr * g * 0.5)),
     ["differ from plain SGD's by up to"]),
])
def test_client_update_mistakes_are_named(answer, phrases):
    assert_wrong(verdict_of(nb05.check_client_update, answer), *phrases)


def test_client_update_with_the_wrong_return_is_explained():
    def returns_weights_only(model, dataset, server_weights, learning_rate):
        return fedavg.client_update(model, dataset, server_weights, learning_rate)[0]

    assert_wrong(verdict_of(nb05.check_client_update, returns_weights_only),
                 "should return (weights, totals)")


def test_client_update_mistake_messages_are_all_different():
    server, batches = nb05.client_update_inputs()
    zeros = [np.zeros_like(w) for w in server]
    mistakes = nb05._client_update_mistakes(server, zeros, batches, nb05.LEARNING_RATE)
    messages = [message for _, message in mistakes]
    assert len(set(messages)) == len(messages) >= 5
    reference = nb05._sgd(server, batches, nb05.LEARNING_RATE)
    for candidate, message in mistakes:  # no mistake looks like the right answer
        assert not nb05._close(candidate, reference), message


# --- exercises 2 and 3: next_fn ---------------------------------------------------

def next_fn_variant(body, extra=None):
    """A learner's builder whose next_fn is `body(server_weights, data, tools)`; tools
    holds the test computations, `extra(...)`'s (built before next_fn) and the data."""
    def build(client_update_fn, server_update_fn, weights_type, data_type):
        tools = dict(client=client_update_fn, server=server_update_fn,
                     **(extra(weights_type, data_type) if extra else {}))

        @tff.federated_computation(tff.FederatedType(weights_type, tff.SERVER),
                                   tff.FederatedType(data_type, tff.CLIENTS))
        def next_fn(server_weights, federated_dataset):
            return body(server_weights, federated_dataset, {**tools, "data": federated_dataset})

        return next_fn

    return build


def clients(server_weights, data, tools):
    at_clients = tff.federated_broadcast(server_weights)
    return tff.federated_map(tools["client"], (data, at_clients))


def weighted_metrics(outputs):
    return tff.federated_mean(outputs[1], weight=outputs[2])


def finish(mean, outputs, tools):
    return tff.federated_map(tools["server"], mean), weighted_metrics(outputs)


def standard(mean_of):
    """A next_fn body that differs from FedAvg's only in how it averages."""
    def body(s, d, tools):
        outputs = clients(s, d, tools)
        return finish(mean_of(outputs, tools), outputs, tools)
    return body


def scaling(weights_type, data_type):
    @tff.tensorflow.computation(weights_type, np.float32)
    def scale(weights, n):
        return [w * n for w in weights]

    @tff.tensorflow.computation(data_type)
    def count_elements(dataset):
        return dataset.reduce(0.0, lambda n, _: n + 1.0)

    return dict(scale=scale, count=count_elements)


def scaled(outputs, tools):
    return tff.federated_map(tools["scale"], (outputs[0], outputs[2]))


UNWEIGHTED = standard(lambda o, t: tff.federated_mean(o[0]))
WEIGHTED = standard(lambda o, t: tff.federated_mean(o[0], weight=o[2]))

def common_mistakes(mean):
    """(body, extra, phrases): wrong in both exercises; `mean(outputs)` is the
    exercise's right mean of the client weights."""
    return [
        (standard(lambda o, t: tff.federated_sum(o[0])), None,
         ["SUM of the client weights", "not their mean"]),
        (lambda s, d, t: (mean(clients(s, d, t)), weighted_metrics(clients(s, d, t))), None,
         ["without the server step"]),
        (lambda s, d, t: (mean(tff.federated_map(t["server"], clients(s, d, t)[0]),
                               clients(s, d, t)),
                          weighted_metrics(clients(s, d, t))), None,
         ["server step ran on every client's weights"]),
        (lambda s, d, t: (s, weighted_metrics(clients(s, d, t))), None,
         ["came back unchanged"]),
        (lambda s, d, t: finish(tff.federated_mean(tff.federated_broadcast(s)),
                                clients(s, d, t), t), None,
         ["clients' training did not count"]),
        (lambda s, d, t: (clients(s, d, t)[0], weighted_metrics(clients(s, d, t))), None,
         ["new state at the clients", "state lives at the SERVER"]),
        (lambda s, d, t: tff.federated_map(t["client"], (d, s)), None,
         ["Broadcast the server's weights to the clients first"]),
        (lambda s, d, t: tuple(reversed(finish(mean(clients(s, d, t)),
                                               clients(s, d, t), t))), None,
         ["first result should be the new weights at the server"]),
        (standard(lambda o, t: tff.federated_sum(scaled(o, t))), scaling,
         ["did not divide by the total number of examples"]),
        (standard(lambda o, t: tff.federated_mean(scaled(o, t))), scaling,
         ["divides by the number of clients, not by the total number of examples"]),
        (standard(lambda o, t: tff.federated_mean(scaled(o, t), weight=o[2])), scaling,
         ["weighted twice"]),
    ]


def unweighted_mean(outputs, of=None):
    return tff.federated_mean(outputs[0] if of is None else outputs)


def weighted_mean(outputs, of=None):
    """The example-weighted mean of outputs[0], or of `outputs` weighted by of[2]."""
    if of is None:
        return tff.federated_mean(outputs[0], weight=outputs[2])
    return tff.federated_mean(outputs, weight=of[2])


UNWEIGHTED = standard(lambda o, t: unweighted_mean(o))
WEIGHTED = standard(lambda o, t: weighted_mean(o))


def metrics_variant(mean_of, metrics_of):
    def body(s, d, tools):
        outputs = clients(s, d, tools)
        return tff.federated_map(tools["server"], mean_of(outputs)), metrics_of(outputs)
    return body


def metrics_by_batches(weighted):
    """The right new weights, with the metrics weighted by each client's batches."""
    def body(s, d, tools):
        outputs = clients(s, d, tools)
        mean = weighted_mean(outputs) if weighted else unweighted_mean(outputs)
        batches = tff.federated_map(tools["count"], tools["data"])
        return (tff.federated_map(tools["server"], mean),
                tff.federated_mean(outputs[1], weight=batches))
    return body


def sum_and_divide(weights_type, data_type):
    """scaling's computations, and one that divides summed weights by a total."""
    @tff.tensorflow.computation(weights_type, np.float32)
    def divide(weights, total):
        return [w / total for w in weights]

    return dict(scaling(weights_type, data_type), divide=divide)


def weighted_by_sum_and_divide(s, d, tools):
    """Example weighting written out: sum of n_i w_i over sum of n_i, at the server."""
    outputs = clients(s, d, tools)
    totals = tff.federated_zip((tff.federated_sum(scaled(outputs, tools)),
                                tff.federated_sum(outputs[2])))
    mean = tff.federated_map(tools["divide"], totals)
    return finish(mean, outputs, tools)


def test_next_fn_references_pass():
    assert verdict_of(nb05.check_unweighted_next_fn, fedavg.build_unweighted_next_fn).passed
    assert verdict_of(nb05.check_weighted_next_fn, fedavg.build_weighted_next_fn).passed
    assert verdict_of(nb05.check_unweighted_next_fn, next_fn_variant(UNWEIGHTED)).passed
    assert verdict_of(nb05.check_weighted_next_fn, next_fn_variant(WEIGHTED)).passed


def test_weighted_next_fn_written_out_passes():
    # The exercise asks for the result, Σ n_i w_i / Σ n_i, not for one call.
    verdict = verdict_of(nb05.check_weighted_next_fn,
                         next_fn_variant(weighted_by_sum_and_divide, sum_and_divide))
    assert verdict.passed, verdict


@pytest.mark.parametrize("check", [nb05.check_unweighted_next_fn,
                                   nb05.check_weighted_next_fn])
@pytest.mark.parametrize("body", [
    # server_update_fn called on the mean at the server, without federated_map
    lambda s, d, t: (t["server"](tff.federated_mean(clients(s, d, t)[0])),
                     weighted_metrics(clients(s, d, t))),
    # client_update_fn called on the clients' data, without federated_map
    lambda s, d, t: t["client"](d, tff.federated_broadcast(s)),
], ids=["server step", "client step"])
def test_a_tensorflow_computation_called_on_a_placed_value_is_named(check, body):
    assert_wrong(verdict_of(check, next_fn_variant(body)),
                 "called on a placed value", "tff.federated_map")


@pytest.mark.parametrize("body, extra, phrases", common_mistakes(unweighted_mean) + [
    (WEIGHTED, None, ["weighted by the clients' numbers of examples", "exercise 5.3"]),
    (metrics_variant(lambda o: tff.federated_mean(o[0]), lambda o: tff.federated_mean(o[1])),
     None, ["mean of the clients' own figures", "every client counted once"]),
    (metrics_variant(lambda o: tff.federated_mean(o[0]), lambda o: tff.federated_sum(o[1])),
     None, ["metrics are summed"]),
    (metrics_variant(lambda o: tff.federated_mean(o[0]), lambda o: o[1]), None,
     ["metrics at the clients"]),
    (metrics_by_batches(weighted=False), scaling,
     ["metrics are weighted by the clients' numbers of BATCHES"]),
])
def test_unweighted_next_fn_mistakes_are_named(body, extra, phrases):
    assert_wrong(verdict_of(nb05.check_unweighted_next_fn, next_fn_variant(body, extra)),
                 *phrases)


@pytest.mark.parametrize("body, extra, phrases", common_mistakes(weighted_mean) + [
    (UNWEIGHTED, None, ["UNWEIGHTED mean", "every client counted once"]),
    (standard(lambda o, t: tff.federated_mean(
        o[0], weight=tff.federated_map(t["count"], t["data"]))),
     scaling, ["weighted by their numbers of BATCHES"]),
    (metrics_variant(lambda o: tff.federated_mean(o[0], weight=o[2]),
                     lambda o: tff.federated_mean(o[1])), None,
     ["mean of the clients' own figures"]),
    (metrics_by_batches(weighted=True), scaling,
     ["metrics are weighted by the clients' numbers of BATCHES"]),
])
def test_weighted_next_fn_mistakes_are_named(body, extra, phrases):
    assert_wrong(verdict_of(nb05.check_weighted_next_fn, next_fn_variant(body, extra)),
                 *phrases)


@pytest.mark.parametrize("weighted", [False, True])
def test_next_fn_mistakes_are_distinct_and_none_is_the_answer(weighted):
    mistakes = nb05._weights_mistakes(weighted)
    assert len({m for _, m in mistakes}) == len(mistakes) >= 5
    rows = nb05._client_numbers()
    right = nb05._square(nb05._mean([r["weights"] for r in rows],
                                    [r["examples"] for r in rows] if weighted else None))
    for index, (candidate, message) in enumerate(mistakes):
        assert not nb05._close(candidate, right), message
        for other, _ in mistakes[:index]:  # each result names ONE mistake
            assert not nb05._close(candidate, other), message


def test_use_picks_the_reference_until_passed(capsys):
    passed = nb05.check_unweighted_next_fn(fedavg.build_unweighted_next_fn, verbose=False)
    failed = nb05.check_unweighted_next_fn(stub, verbose=False)
    name = "build_unweighted_next_fn"
    assert nb05.use(passed, "yours", name) == "yours"
    assert nb05.use(failed, "yours", name) is fedavg.build_unweighted_next_fn
    out = capsys.readouterr().out
    assert f"Using your {name}." in out
    assert f"Using the reference {name} from course_utils.fedavg" in out
