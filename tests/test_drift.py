"""Client-drift measures (course_utils.drift) on known vectors and a tiny round."""

import numpy as np
import pytest

from beyond_problems import client_examples, datasets
from course_utils import drift, fedavg, models


def test_cosines_of_known_updates():
    same = [np.array([1.0, 0.0]), np.array([2.0, 0.0])]
    opposite = [np.array([1.0, 1.0]), np.array([-1.0, -1.0])]
    orthogonal = [np.array([1.0, 0.0]), np.array([0.0, 3.0])]
    assert drift.mean_pairwise_cosine(same) == pytest.approx(1.0)
    assert drift.mean_pairwise_cosine(opposite) == pytest.approx(-1.0)
    assert drift.mean_pairwise_cosine(orthogonal) == pytest.approx(0.0)
    three = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0])]
    assert drift.mean_pairwise_cosine(three) == pytest.approx((0 + 2 * np.sqrt(0.5)) / 3)
    with pytest.raises(ValueError, match="at least two"):
        drift.mean_pairwise_cosine(same[:1])


def test_agreement_is_one_when_aligned_and_zero_when_cancelling():
    assert drift.update_agreement([np.array([1.0, 2.0]), np.array([2.0, 4.0])]) == \
        pytest.approx(1.0)
    assert drift.update_agreement([np.array([1.0, 0.0]), np.array([-1.0, 0.0])]) == \
        pytest.approx(0.0)


def test_client_deltas_are_fedavgs_local_training():
    data = datasets(client_examples(), epochs=1)
    start = [np.full((784, 10), 0.01, np.float32), np.zeros(10, np.float32)]
    deltas = drift.client_deltas(start, data, 0.3)
    trained, _ = fedavg.client_update(models.create_keras_model(), data[1], start, 0.3)
    expected = np.concatenate([(np.asarray(t) - s).ravel() for t, s in zip(trained, start)])
    assert len(deltas) == 3 and np.allclose(deltas[1], expected, atol=1e-7)
    averaged = drift.averaged_model(start, deltas)
    assert [a.shape for a in averaged] == [(784, 10), (10,)]
    assert np.allclose(averaged[1], start[1] + np.mean(deltas, axis=0)[-10:], atol=1e-7)


def test_skewed_clients_disagree_more_than_similar_ones():
    start = [np.zeros((784, 10), np.float32), np.zeros(10, np.float32)]
    similar = datasets(client_examples(labels=((0, 1, 2),) * 3))
    skewed = datasets(client_examples(labels=((0,), (5,), (9,))))
    assert (drift.mean_pairwise_cosine(drift.client_deltas(start, similar, 0.3))
            > drift.mean_pairwise_cosine(drift.client_deltas(start, skewed, 0.3)) + 0.2)


def test_summarize_counts_samples_below_the_fewest_epochs_on_the_same_sample():
    rows = {1: [(0.80, 0.0), (0.82, 0.1), (0.81, -0.1)],
            10: [(0.79, 0.1), (0.83, 0.2), (0.80, 0.0)]}
    results = {"skewed": {e: [{"accuracy": a, "cosine": c} for a, c in r]
                          for e, r in rows.items()}}
    summary = drift.summarize(results)["skewed"]
    assert summary[10]["below_fewest"] == 2 and summary[10]["samples"] == 3
    assert summary[1]["below_fewest"] == 0
    assert summary[10]["accuracy"] == pytest.approx(0.80667, abs=1e-5)
    assert (summary[10]["accuracy_min"], summary[10]["accuracy_max"]) == (0.79, 0.83)
    assert (summary[10]["cosine_min"], summary[10]["cosine"]) == pytest.approx((0.0, 0.1))


def test_measure_over_samples_trains_the_same_clients_for_every_number_of_epochs():
    import collections

    rng = np.random.default_rng(0)
    clients = {f"c{i}": collections.OrderedDict(
        label=np.full(8, i % 3, np.int32), pixels=rng.random((8, 28, 28)).astype(np.float32))
        for i in range(6)}
    start = [np.zeros((784, 10), np.float32), np.zeros(10, np.float32)]
    evaluated = []

    def evaluate(weights):
        evaluated.append(weights)
        return {"accuracy": 0.5}

    results = drift.measure_over_samples(start, {"toy": clients}, (1, 2), [0, 1], 0.1,
                                         evaluate, clients_per_round=3, round_num=1,
                                         progress=False)
    assert list(results["toy"]) == [1, 2] and len(results["toy"][1]) == 2
    assert len(evaluated) == 4
    # one seed, the same three clients (each of one label) for 1 and 2 epochs: their
    # updates push towards different digits, so they agree less than identical ones
    for rows in results["toy"].values():
        assert all(-1 <= r["cosine"] < 0.99 for r in rows)
