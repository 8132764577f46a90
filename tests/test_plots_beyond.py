"""Notebook 09's plots: label mixes, drift, evaluation-only training curves."""

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
