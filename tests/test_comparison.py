"""course_utils.comparison: runs on the same clients and data, evaluated every round."""

import numpy as np

from course_utils import comparison, fedavg


def test_every_run_sees_the_same_clients_and_datasets(sample_dir, capsys):
    from course_utils import data

    train, test = data.load_emnist(data=str(sample_dir), verbose=False)
    evaluated = []

    def evaluate(weights):
        evaluated.append(np.asarray(weights[1]).copy())
        return {"loss": 1.0, "accuracy": 0.5}

    compare = comparison.Comparison(train, rounds=2, evaluate=evaluate,
                                    clients_per_round=3, epochs=1)
    assert compare.clients_for_round(1) == data.sample_clients(train.client_ids, 3, 1, 0)
    assert compare.clients_for_round(1) != compare.clients_for_round(2)
    assert compare.data_for_round(1) is compare.data_for_round(1)  # built once
    _, first = compare.run(fedavg.build_unweighted_fedavg_process(0.1), "a")
    _, second = compare.run(fedavg.build_unweighted_fedavg_process(0.1), "b")
    assert len(first) == len(second) == 2 and len(evaluated) == 4
    np.testing.assert_array_equal(evaluated[1], evaluated[3])  # same data -> same model
    compare.print_final({"FedAvg": first, "other": second})
    assert capsys.readouterr().out.splitlines() == [
        "FedAvg: test accuracy 0.500 after 2 rounds", " other: test accuracy 0.500 after 2 rounds"]
    fig = compare.plot({"FedAvg": first}, "title")
    assert [line.get_label() for line in fig.axes[1].lines] == ["FedAvg: test"]


def test_rounds_are_the_course_rounds(sample_dir):
    """Comparison's round r is the course's round r (data.federated_data_for_round), as
    notebook 06 says."""
    from conftest import assert_same_round_data
    from course_utils import data
    from course_utils.settings import CourseSettings

    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    for seed in (0, 3):  # another seed draws other clients AND another shuffling
        compare = comparison.Comparison(train, rounds=1, evaluate=None,
                                        clients_per_round=3, epochs=2, seed=seed)
        course = data.federated_data_for_round(
            train, CourseSettings(clients_per_round=3, epochs=2, seed=seed))
        assert_same_round_data(compare.data_for_round(2), course(2))
