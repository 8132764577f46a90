"""FedProx built by hand (course_utils.fedprox) against tff.learning on tiny problems.

TFF 0.87's `build_weighted_fed_prox` adds mu * (w_server - w) to each gradient
(`learning/templates/proximal_client_work.py`, lines 88-94 and 200-206 in v0.87.0:
`delta_l2_regularizer * (y - x)` with x the current weights, y the initial ones;
unchanged in v0.88.0, v0.89.0 and main, December 2026): the opposite sign of the
proximal term's gradient mu * (w - w_server). So the hand-built
FedProx equals it with mu replaced by -mu (checked here), and a test documents that
TFF's version pulls clients away from the server model.
"""

import numpy as np
import pytest
import tensorflow_federated as tff

from beyond_problems import client_examples, datasets, run
from course_utils import fedavg, fedprox, models, server_optimizers

LR, MU = 0.3, 0.5


@pytest.fixture(scope="module")
def federated_data():
    return datasets(client_examples())


def flipped_sign(model, dataset, server_weights, learning_rate, mu):
    return fedprox.fedprox_client_update(model, dataset, server_weights, learning_rate, -mu)


def test_mu_zero_is_weighted_fedavg(federated_data):
    ours = run(fedprox.build_fedprox_process(LR, 0.0), federated_data)
    tff_fedavg = server_optimizers.build_tff_fedavg(
        tff.learning.optimizers.build_sgdm(1.0), LR)
    theirs = tff_fedavg.get_model_weights(run(tff_fedavg, federated_data))
    assert fedavg.max_weight_difference(ours, theirs) < 1e-6


def test_equals_tff_fed_prox_up_to_tffs_sign(federated_data):
    tff_prox = fedprox.build_tff_fedprox(LR, MU)
    theirs = tff_prox.get_model_weights(run(tff_prox, federated_data))
    ours_flipped = run(fedprox.build_fedprox_process(LR, MU, client_update=flipped_sign),
                       federated_data)
    assert fedavg.max_weight_difference(ours_flipped, theirs) < 1e-6
    ours = run(fedprox.build_fedprox_process(LR, MU), federated_data)
    assert fedavg.max_weight_difference(ours, theirs) > 1e-2  # the sign matters


def distance_from_start(client_update, mu):
    model = models.create_keras_model()
    start = [np.full(v.shape, 0.01, np.float32) for v in model.trainable_variables]
    trained, _ = client_update(model, datasets(client_examples(), epochs=5)[1], start, LR, mu)
    return np.sqrt(sum(np.sum((np.asarray(t) - s) ** 2) for t, s in zip(trained, start)))


def test_the_proximal_term_keeps_a_client_near_the_server():
    plain = distance_from_start(fedprox.fedprox_client_update, 0.0)
    assert distance_from_start(fedprox.fedprox_client_update, MU) < 0.95 * plain
    # TFF 0.87's sign: farther than plain FedAvg (fails if TFF fixes its sign).
    assert distance_from_start(flipped_sign, MU) > 1.05 * plain


def test_weighted_by_examples(federated_data):
    """One round = the example-weighted mean of the clients' own FedProx updates."""
    process = fedprox.build_fedprox_process(LR, MU)
    state = process.initialize()
    new_state, _ = process.next(state, federated_data)
    trained, counts = [], []
    for dataset in federated_data:
        weights, totals = fedprox.fedprox_client_update(models.create_keras_model(),
                                                        dataset, state, LR, MU)
        trained.append([np.asarray(w) for w in weights])
        counts.append(float(totals["num_examples"]))
    expected = [np.average([t[i] for t in trained], axis=0, weights=counts) for i in range(2)]
    assert fedavg.max_weight_difference(new_state, expected) < 1e-6


def test_negative_mu_is_refused():
    with pytest.raises(ValueError, match="mu must be >= 0"):
        fedprox.build_fedprox_process(LR, -0.1)


def test_tffs_source_has_the_reversed_term_where_notebook_10_says():
    import inspect

    from tensorflow_federated.python.learning.templates import proximal_client_work

    lines = inspect.getsource(proximal_client_work).splitlines()
    for first in (88, 200):  # notebook 10 cites lines 88-94 and 200-206
        block = "\n".join(lines[first - 1:first + 6])
        assert block.lstrip().startswith("if delta_l2_regularizer > 0.0:")
        assert "delta_l2_regularizer * (y - x)" in block

