"""course_utils.tff_learning: tff.learning FedAvg with the course settings, evaluations."""

import numpy as np
import pytest

from course_utils import data, evaluation, models
from course_utils import tff_learning


@pytest.fixture(scope="module")
def sample(sample_dir):
    return data.load_emnist(data=str(sample_dir), verbose=False)


@pytest.fixture(scope="module")
def process():
    return tff_learning.build_fedavg()


def test_fedavg_has_the_course_learning_rates_and_learns(sample, process):
    from course_utils.runtime import context

    train, test = sample
    assert "client_data={<x=float32[?,784],y=int32[?,1]>*}@CLIENTS" in str(
        process.next.type_signature)
    state = process.initialize()
    assert float(state.client_work["learning_rate"]) == pytest.approx(0.3)
    assert float(state.finalizer["learning_rate"]) == pytest.approx(1.0)
    context.seed_everything(0)  # the shuffle order must not be what earlier tests left
    federated = data.make_federated_data(train, train.client_ids[:5], epochs=2)
    central_test = data.central_dataset(test)
    evaluate = evaluation.central_evaluator(central_test)
    before = evaluate(process.get_model_weights(state))
    # Zero weights: all classes equally likely, and the prediction is always class 0.
    _, labels = evaluation.dataset_arrays(central_test)
    assert before["loss"] == pytest.approx(np.log(10), rel=1e-6)
    assert before["accuracy"] == pytest.approx(np.mean(labels == 0), abs=1e-9)
    for _ in range(3):
        state = process.next(state, federated).state
    after = evaluate(process.get_model_weights(state))
    # Three short rounds on 5 of the bundled writers, global seeds 0-5: accuracy
    # 0.583-0.611, loss 1.54-1.56 (zero weights: 0.1 and ln 10 = 2.30).
    assert after["accuracy"] > 0.55 and after["loss"] < 1.65, after


def test_federated_evaluation_weights_clients_by_examples(sample):
    _, test = sample
    eval_process = tff_learning.build_federated_evaluation()
    clients = test.client_ids[:6]
    rng = np.random.default_rng(1)
    weights = [rng.normal(0, 0.05, (784, 10)).astype(np.float32),
               rng.normal(0, 0.05, 10).astype(np.float32)]
    federated = data.make_federated_data(test, clients, shuffle_buffer=0)
    result = tff_learning.federated_evaluate(eval_process, weights, federated)
    # Summing over clients then finalizing = evaluating the union of their examples.
    union = data.preprocess(_concat(test, clients), batch_size=500, shuffle_buffer=0)
    central = models.evaluate_keras(weights, union)
    assert result["num_examples"] == sum(
        len(list(test.create_tf_dataset_for_client(c))) for c in clients)
    assert result["accuracy"] == pytest.approx(central["accuracy"], abs=1e-6)
    assert result["loss"] == pytest.approx(central["loss"], rel=1e-4)
    # ModelWeights work as well as a list of arrays.
    import tensorflow_federated as tff

    same = tff_learning.federated_evaluate(
        eval_process, tff.learning.models.ModelWeights(weights, []), federated)
    assert same == result


def _concat(client_data, client_ids):
    dataset = client_data.create_tf_dataset_for_client(client_ids[0])
    for cid in client_ids[1:]:
        dataset = dataset.concatenate(client_data.create_tf_dataset_for_client(cid))
    return dataset


def test_round_from_starts_the_library_where_the_hand_built_process_is(sample):
    """FedSGD and update clipping: the course's processes and tff.learning's builders
    (notebooks 06 and 07) compute the same round from the same weights and data."""
    import tensorflow as tf
    import tensorflow_federated as tff

    from course_utils import aggregation, fedavg

    train, _ = sample
    ids = train.client_ids[:3]
    # FedSGD: one full-batch step per client, weighted by examples = build_fed_sgd.
    all_examples = aggregation.federated_data(train, ids, holdout_fraction=0)
    course = aggregation.build_process("fedsgd", holdout=False, client_learning_rate=2.0)
    start = course.initialize()
    course_weights, _ = course.next(start, all_examples)
    library = tff.learning.algorithms.build_fed_sgd(
        models.tff_model_fn, server_optimizer_fn=tff.learning.optimizers.build_sgdm(2.0))
    library_weights = tff_learning.round_from(library, start, all_examples)
    assert fedavg.max_weight_difference(start, course_weights) > 1e-3  # it did train
    assert fedavg.max_weight_difference(course_weights, library_weights) < 1e-5
    # A wrong rate on one side is caught: the check can fail.
    slower = tff.learning.algorithms.build_fed_sgd(
        models.tff_model_fn, server_optimizer_fn=tff.learning.optimizers.build_sgdm(1.0))
    assert fedavg.max_weight_difference(
        course_weights, tff_learning.round_from(slower, start, all_examples)) > 1e-4

    # Clipping each client's whole update = clipping_factory as model_aggregator.
    def clipped_update(model, dataset, server_weights, learning_rate):
        weights, totals = fedavg.client_update(model, dataset, server_weights, learning_rate)
        update, _ = tf.clip_by_global_norm([w - s for w, s in zip(weights, server_weights)],
                                           0.05)
        return [s + u for s, u in zip(server_weights, update)], totals

    federated = data.make_federated_data(train, ids, epochs=1)
    hand = fedavg.build_unweighted_fedavg_process(0.3, client_update=clipped_update)
    hand_weights, _ = hand.next(start, federated)
    clipped = tff.learning.algorithms.build_unweighted_fed_avg(
        models.tff_model_fn,
        client_optimizer_fn=tff.learning.optimizers.build_sgdm(0.3),
        server_optimizer_fn=tff.learning.optimizers.build_sgdm(1.0),
        model_aggregator=tff.aggregators.clipping_factory(
            0.05, tff.aggregators.UnweightedMeanFactory()))
    assert fedavg.max_weight_difference(
        hand_weights, tff_learning.round_from(clipped, start, federated)) < 1e-5
