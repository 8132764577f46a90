"""What an update leaks: a one-example update gives the example back exactly; a one-step
update of several examples gives their label counts and per-class images."""

import numpy as np
import pytest

from course_utils import dp_fedavg
from course_utils import update_leakage as ul


def digits(n, seed=0):
    """n random 'images' in [0, 1] (784 pixels) and labels 0..9."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 784)).astype(np.float32), rng.integers(0, 10, n)


def test_one_example_update_reveals_it_exactly():
    x, y = digits(1)
    update = ul.client_update(ul.one_example_dataset(x[0], y[0]), learning_rate=0.1)
    reconstructed, label = ul.reconstruct_example(update)
    assert label == y[0]
    assert np.max(np.abs(reconstructed - x[0])) < 1e-5


def test_reconstruction_works_from_trained_weights_and_after_clipping():
    x, y = digits(2, seed=1)
    rng = np.random.default_rng(2)
    weights = [rng.normal(0, 0.05, (784, 10)).astype(np.float32),
               rng.normal(0, 0.05, 10).astype(np.float32)]
    update = ul.client_update(ul.one_example_dataset(x[1], y[1]), weights, 0.3)
    for seen in (update, dp_fedavg.clip_update(update, 1e-3)):
        reconstructed, label = ul.reconstruct_example(seen)
        assert label == y[1]
        assert np.max(np.abs(reconstructed - x[1])) < 1e-4


def test_analytic_update_matches_the_course_client_update():
    x, y = digits(6, seed=3)
    trained = ul.client_update(ul.examples_dataset(x, y), learning_rate=0.2)
    analytic = ul.one_step_update(x, y, learning_rate=0.2)
    for a, b in zip(trained, analytic):
        assert np.allclose(a, b, atol=1e-6)


def test_one_step_bias_reveals_label_counts():
    x, y = digits(40, seed=4)
    update = ul.client_update(ul.examples_dataset(x, y), learning_rate=0.1)
    counts = ul.label_counts_from_bias(update[1], len(y), 0.1)
    assert np.allclose(counts, np.bincount(y, minlength=10), atol=1e-3)


def test_one_step_columns_are_class_sums_minus_a_tenth_of_all():
    x, y = digits(30, seed=5)
    x = x.astype(np.float64)
    kernel, _ = ul.one_step_update(x, y, learning_rate=1.0)
    for j in range(10):
        expected = (x[y == j].sum(axis=0) - 0.1 * x.sum(axis=0)) / len(y)
        assert np.allclose(kernel[:, j], expected, atol=1e-9)


def test_sum_of_updates_does_not_give_one_example_back():
    x, y = digits(10, seed=6)
    updates = [ul.one_step_update(x[i:i + 1], y[i:i + 1]) for i in range(10)]
    total = [sum(u[i] for u in updates) for i in range(2)]
    reconstructed, _ = ul.reconstruct_example(total)
    assert min(np.max(np.abs(reconstructed - x[i])) for i in range(10)) > 0.1


def test_similarity_and_class_means():
    x, y = digits(20, seed=7)
    means = ul.class_means(x, np.zeros(20, int))
    assert np.allclose(means[0], x.mean(axis=0).reshape(28, 28))
    assert np.isnan(means[1]).all()
    assert ul.similarity(x[0], 3 * x[0] + 1) == pytest.approx(1.0)
    assert np.isnan(ul.similarity(x[0], means[1]))


def test_bad_update_shape_is_refused():
    with pytest.raises(ValueError, match="kernel"):
        ul.reconstruct_example([np.zeros(10), np.zeros(10)])
    with pytest.raises(ValueError, match="zero"):
        ul.reconstruct_example([np.zeros((784, 10)), np.zeros(10)])


def test_a_sum_of_one_example_updates_gives_back_each_unique_label_exactly():
    """Secure aggregation's sum is not enough: a label held by one client in the cohort
    gives that client's image back, using a label nobody holds."""
    x, _ = digits(6, seed=7)
    x = x.astype(np.float64)
    y = np.array([0, 1, 1, 2, 3, 3])  # 0 and 2 unique; 4..9 absent
    summed = [sum(parts) for parts in zip(*(ul.one_step_update(xi[None], [yi], learning_rate=0.2)
                                           for xi, yi in zip(x, y)))]
    counts = ul.label_counts_of_sum(summed[1], len(y), 0.2)
    assert np.allclose(counts, np.bincount(y, minlength=10), atol=1e-9)
    recovered = ul.reconstruct_from_sum(summed, 0.2, counts)
    assert sorted(recovered) == [0, 2]
    assert np.max(np.abs(recovered[0] - x[0])) < 1e-12
    assert np.max(np.abs(recovered[2] - x[3])) < 1e-12


def test_a_sum_without_an_absent_label_is_refused():
    x, _ = digits(10, seed=8)
    y = np.arange(10)
    summed = [sum(parts) for parts in zip(*(ul.one_step_update(xi[None], [yi])
                                           for xi, yi in zip(x, y)))]
    with pytest.raises(ValueError, match="absent label"):
        ul.reconstruct_from_sum(summed, 0.1, np.ones(10))
