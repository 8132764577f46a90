"""Notebooks 09 and 10's plots: label mixes, drift, evaluation-only training curves."""

import collections

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from course_utils import plots  # noqa: E402


def arrays(labels_per_client):
    return {f"c{i}": collections.OrderedDict(label=np.asarray(labels))
            for i, labels in enumerate(labels_per_client)}


def test_label_mixes_stack_to_one_per_client():
    fig = plots.plot_label_mixes({"a": arrays([[0, 0, 1], [2]]), "b": arrays([[3, 4]])})
    first = fig.axes[0]
    heights = {}
    for patch in first.patches:
        x = round(patch.get_x() + patch.get_width() / 2)
        heights[x] = heights.get(x, 0) + patch.get_height()
    assert heights == {0: 1.0, 1: 1.0}
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]


def test_drift_plot_has_a_line_per_partition_and_the_start():
    results = {"IID": {1: {"accuracy": 0.8, "cosine": 0.1}, 5: {"accuracy": 0.81, "cosine": 0.2}},
               "skewed": {1: {"accuracy": 0.79, "cosine": 0.0}, 5: {"accuracy": 0.7, "cosine": -0.1}}}
    left, right = plots.plot_drift(results, start_accuracy=0.8).axes[:2]
    assert [line.get_label() for line in left.lines] == ["IID", "skewed", "before the round"]
    assert list(right.lines[1].get_ydata()) == [0.0, -0.1]


def test_curves_without_training_and_with_rounds_not_evaluated():
    history = [{"round": 1, "train_accuracy": 0.5, "train_loss": 1.0},
               {"round": 2, "train_accuracy": 0.6, "train_loss": 0.9, "eval_accuracy": 0.4},
               {"round": 3, "train_accuracy": 0.7, "train_loss": 0.8, "eval_accuracy": 0.45}]
    fig = plots.plot_training_curves({"run": history}, metrics=("accuracy",),
                                     show_training=False)
    (line,) = fig.axes[0].lines
    assert list(line.get_xdata()) == [2, 3] and "test" in line.get_label()


def test_drift_over_samples_shades_each_partitions_range():
    def point(accuracy, low, high):
        return {"accuracy": accuracy, "accuracy_min": low, "accuracy_max": high,
                "cosine": 0.0, "cosine_min": -0.1, "cosine_max": 0.1}

    summary = {"IID": {1: point(0.8, 0.79, 0.82), 10: point(0.82, 0.81, 0.84)},
               "skewed": {1: point(0.8, 0.78, 0.81), 10: point(0.78, 0.75, 0.8)}}
    left, right = plots.plot_drift_over_samples(summary, start_accuracy=0.8).axes[:2]
    assert len(left.collections) == len(right.collections) == 2
    band = left.collections[1].get_paths()[0].vertices[:, 1]
    assert band.min() == 0.75 and band.max() == 0.81  # skewed's min and max
    assert np.allclose(left.collections[1].get_facecolor()[0][:3],
                       matplotlib.colors.to_rgb(left.lines[1].get_color()))


def test_over_seeds_draws_the_mean_and_the_range():
    histories = {"FedAvg": {seed: [{"round": r, "eval_accuracy": 0.1 * r + 0.02 * seed}
                                   for r in (1, 2, 3)] for seed in range(3)}}
    ax = plots.plot_over_seeds(histories, chance=0.1).axes[0]
    assert np.allclose(ax.lines[0].get_ydata(), [0.12, 0.22, 0.32])
    assert "mean of 3 seeds" in ax.lines[0].get_label()
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(band.min(), 0.1) and np.isclose(band.max(), 0.34)
