"""FedAvgM and FedAdam built by hand (course_utils.server_optimizers) equal
`tff.learning.algorithms.build_weighted_fed_avg` with the same server optimizer."""

import pytest

from beyond_problems import client_examples, datasets, run
from course_utils import fedavg
from course_utils import server_optimizers as so

LR = 0.3


@pytest.fixture(scope="module")
def federated_data():
    return datasets(client_examples(seed=1))


@pytest.fixture(scope="module")
def plain_fedavg(federated_data):
    """Weighted FedAvg's weights after 4 rounds (server SGD 1.0, no momentum)."""
    plain = so.build_server_optimizer_process(so.fedavgm_optimizer(1.0, 0.0), LR)
    return plain.get_model_weights(run(plain, federated_data, rounds=4))


@pytest.mark.parametrize("make_optimizer", [
    lambda: so.fedavgm_optimizer(1.0, 0.9),
    lambda: so.fedadam_optimizer(0.05),
], ids=["fedavgm", "fedadam"])
def test_equals_tff_weighted_fed_avg_with_that_server_optimizer(make_optimizer,
                                                                federated_data,
                                                                plain_fedavg):
    ours_process = so.build_server_optimizer_process(make_optimizer(), LR)
    ours = ours_process.get_model_weights(run(ours_process, federated_data, rounds=4))
    tff_process = so.build_tff_fedavg(make_optimizer(), LR)
    theirs = tff_process.get_model_weights(run(tff_process, federated_data, rounds=4))
    assert fedavg.max_weight_difference(ours, theirs) < 1e-6
    # and the server optimizer did something: not plain FedAvg's model
    assert fedavg.max_weight_difference(ours, plain_fedavg) > 1e-3


def test_the_optimizer_state_lives_in_the_server_state(federated_data):
    process = so.build_server_optimizer_process(so.fedadam_optimizer(0.05), LR)
    assert "optimizer_state" in str(process.state_type)
    state = run(process, federated_data, rounds=2)
    assert int(state["optimizer_state"]["step"]) == 2
