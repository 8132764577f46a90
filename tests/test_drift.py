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
