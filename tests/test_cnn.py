"""The CNN of notebook 09 goes through the hand-built FedAvg unchanged (model_fn)."""

import numpy as np

from beyond_problems import client_examples, datasets
from course_utils import aggregation, evaluation, fedavg, models


def test_the_cnn_has_56714_parameters_and_a_seeded_start():
    assert models.num_parameters(models.create_cnn_model) == 56_714
    assert models.num_parameters(models.create_keras_model) == 7_850
    a, b = models.create_cnn_model(), models.create_cnn_model()
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    assert np.std(a.get_weights()[0]) > 0  # random, not zeros: a CNN needs that
    assert models.model_fn("cnn") is models.create_cnn_model


def test_hand_built_fedavg_trains_the_cnn():
    process = fedavg.build_unweighted_fedavg_process(0.1, model_fn=models.create_cnn_model)
    state = process.initialize()
    assert fedavg.same_weights(state, models.create_cnn_model().get_weights())
    federated_data = datasets(client_examples(), epochs=2)
    new_state, metrics = process.next(state, federated_data)
    assert [np.shape(w) for w in new_state] == [np.shape(w) for w in state]
    assert fedavg.max_weight_difference(new_state, state) > 1e-4
    evaluate = evaluation.keras_evaluator(federated_data[0], models.create_cnn_model)
    assert 0.0 <= evaluate(new_state)["accuracy"] <= 1.0


def test_cnn_traffic_is_read_from_the_types():
    linear = aggregation.traffic("simple", holdout=False)
    cnn = aggregation.traffic("simple", holdout=False, model_fn=models.create_cnn_model)
    assert linear.download == 4 * 7_850 and cnn.download == 4 * 56_714
    assert cnn.upload - cnn.download == linear.upload - linear.download  # same metrics
