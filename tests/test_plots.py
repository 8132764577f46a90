"""course_utils.plots: figures have the expected panels and lines, and show the data."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils import plots  # noqa: E402


def writer(labels, value=0.5):
    labels = np.asarray(labels)
    pixels = np.full((len(labels), 28, 28), value, np.float32)
    for i, label in enumerate(labels):
        pixels[i, label, :] = 0.0  # a mark that depends on the label
    return pixels, labels


def history(accuracies, with_eval=False):
    rows = []
    for i, acc in enumerate(accuracies, start=1):
        row = {"round": i, "seconds": 0.1, "train_loss": 2.0 - acc, "train_accuracy": acc}
        if with_eval:
            row.update(eval_loss=2.5 - acc, eval_accuracy=acc - 0.1)
        rows.append(row)
    return rows


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.axison]


def test_figures_are_not_registered_with_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = plots.plot_training_curves(history([0.2, 0.4]))
    assert isinstance(fig, Figure) and plt.get_fignums() == before


def test_writer_samples_grid_shape_and_titles():
    examples = {"a": writer([1, 2, 3]), "b": writer([4, 5, 6, 7, 8])}
    fig = plots.plot_writer_samples(examples, per_writer=4)
    assert len(fig.axes) == 2 * 4
    grid = np.asarray(fig.axes).reshape(2, 4)
    assert [ax.get_title() for ax in grid[1]] == ["4", "5", "6", "7"]
    assert grid[0, 0].get_ylabel() == "a" and grid[1, 0].get_ylabel() == "b"
    assert not grid[0, 3].axison  # writer "a" has only three examples
    np.testing.assert_array_equal(grid[1, 2].images[0].get_array(), examples["b"][0][2])


def test_example_counts_histogram_counts_every_client():
    counts = {"a": 10, "b": 20, "c": 20, "d": 90}
    fig = plots.plot_example_counts(counts, bins=4)
    ax = fig.axes[0]
    assert sum(p.get_height() for p in ax.patches) == len(counts)
    assert "4 clients, 10-90 examples" in ax.get_title()
    assert ax.lines[0].get_xdata()[0] == pytest.approx(35.0)  # the mean line
    with pytest.raises(ValueError, match="nothing to plot"):
        plots.plot_example_counts([])


def test_label_counts():
    np.testing.assert_array_equal(plots.label_counts([0, 0, 3, 9]),
                                  [2, 0, 0, 1, 0, 0, 0, 0, 0, 1])


def test_label_distributions_one_panel_per_client_with_bar_heights():
    labels = {"a": [0, 0, 1], "b": [9] * 5, "c": [2, 3]}
    fig = plots.plot_label_distributions(labels, columns=2)
    assert len(fig.axes) == 4 and len(visible_axes(fig)) == 3
    heights = [p.get_height() for p in fig.axes[1].patches]
    assert heights == [0] * 9 + [5]
    assert [ax.get_title() for ax in visible_axes(fig)] == ["a", "b", "c"]


def test_mean_images_and_missing_digits():
    pixels, labels = writer([1, 1, 2])
    pixels[1] += 0.2
    means = plots.mean_images(pixels, labels)
    assert means[0] is None and means[1] is not None
    np.testing.assert_allclose(means[1], (pixels[0] + pixels[1]) / 2)
    fig = plots.plot_mean_images({"a": (pixels, labels), "b": writer(range(10))})
    grid = np.asarray(fig.axes).reshape(2, 10)
    assert len(grid[0, 0].images) == 0 and len(grid[0, 1].images) == 1
    assert all(len(ax.images) == 1 for ax in grid[1])
    assert [ax.get_title() for ax in grid[0]] == [str(d) for d in range(10)]


def test_client_coverage_counts_distinct_clients():
    fixed = [["a", "b"]] * 3
    sampled = [["a", "b"], ["b", "c"], ["d", "e"]]
    fig = plots.plot_client_coverage({"fixed": fixed, "sampled": sampled}, num_clients=5)
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    assert list(lines["fixed"].get_ydata()) == [2, 2, 2]
    assert list(lines["sampled"].get_ydata()) == [2, 3, 5]


def test_training_curves_single_history():
    fig = plots.plot_training_curves(history([0.2, 0.5, 0.7]))
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_ylabel() == "loss" and acc_ax.get_ylabel() == "accuracy"
    assert len(acc_ax.lines) == 1
    np.testing.assert_allclose(acc_ax.lines[0].get_ydata(), [0.2, 0.5, 0.7])
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), [1.8, 1.5, 1.3])
    assert list(acc_ax.lines[0].get_xdata()) == [1, 2, 3]


def test_training_curves_compare_runs_with_eval_and_chance():
    runs = {"course": history([0.5, 0.8], with_eval=True), "tutorial": history([0.1, 0.12])}
    fig = plots.plot_training_curves(runs, chance=0.1, title="compare")
    acc_ax = fig.axes[1]
    labels = [line.get_label() for line in acc_ax.lines]
    assert labels == ["course: training", "course: test", "tutorial: training", "chance"]
    legend = [text.get_text() for text in fig.legends[0].get_texts()]  # one, below
    assert legend == labels and not acc_ax.get_legend()
    course_train, course_eval = acc_ax.lines[:2]
    assert course_train.get_color() == course_eval.get_color()
    assert course_eval.get_linestyle() == "--"
    np.testing.assert_allclose(course_eval.get_ydata(), [0.4, 0.7])
    assert len(fig.axes[0].lines) == 3  # loss: no chance line
    assert fig._suptitle.get_text() == "compare"
    assert fig.axes[0].get_yscale() == "linear"
    log = plots.plot_training_curves(runs, log_loss=True)
    assert log.axes[0].get_yscale() == "log" and log.axes[1].get_yscale() == "linear"


def test_log_loss_ticks_read_as_plain_numbers():
    runs = {"a": history([0.5, 0.8]), "b": [dict(row, train_loss=30.0 * row["round"])
                                           for row in history([0.5, 0.8])]}
    fig = plots.plot_training_curves(runs, log_loss=True)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert labels and all("10^" not in t and "times" not in t and "×" not in t
                          for t in labels), labels
    assert {"1", "2", "5", "10"} & set(labels), labels
    assert fig.axes[0].get_ylabel() == "loss (log scale)"  # the axis says it is not linear


def test_accuracy_axis_shows_small_differences():
    runs = {"a": history([0.80, 0.81]), "b": history([0.80, 0.815])}
    low, high = plots.plot_training_curves(runs).axes[1].get_ylim()
    assert high - low < 0.1  # not fixed at 0-1: a 0.005 difference stays visible


def test_training_curves_from_a_list_of_runs_and_one_metric():
    fig = plots.plot_training_curves([history([0.1]), history([0.3])],
                                     metrics=("accuracy",), eval_label="held-out")
    assert len(fig.axes) == 1
    assert [line.get_label() for line in fig.axes[0].lines] == ["run 1: training",
                                                                "run 2: training"]


def test_images_and_labels_by_client_read_the_clients(sample_dir):
    from course_utils import data

    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    ids = train.client_ids[:3]
    arrays = plots.images_and_labels_by_client(train, ids)
    labels = plots.client_labels(train, ids)
    assert list(arrays) == list(labels) == ids
    for cid in ids:
        examples = list(train.create_tf_dataset_for_client(cid))
        pixels, client_labels = arrays[cid]
        assert pixels.shape == (len(examples), 28, 28)
        np.testing.assert_array_equal(pixels[0], examples[0]["pixels"].numpy())
        np.testing.assert_array_equal(client_labels, [int(e["label"]) for e in examples])
        np.testing.assert_array_equal(labels[cid], client_labels)
    pixels, few = plots.client_examples(train, ids[1], max_examples=4)
    assert pixels.shape == (4, 28, 28)
    np.testing.assert_array_equal(few, arrays[ids[1]][1][:4])


def test_method_comparison_shows_differences_from_the_reference_with_legends():
    results = {"A": {"weighted": history([0.5, 0.6, 0.7], with_eval=True),
                     "simple": history([0.5, 0.62, 0.69], with_eval=True),
                     "fedsgd": history([0.2, 0.3, 0.35], with_eval=True)},
               "B": {"weighted": history([0.4, 0.5, 0.6], with_eval=True),
                     "simple": history([0.4, 0.5, 0.61], with_eval=True),
                     "fedsgd": history([0.2, 0.3, 0.35], with_eval=True)}}
    fig = plots.plot_method_comparison(results, differences=["simple"])
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert all(ax.get_legend() is not None for ax in fig.axes)  # a legend in every panel
    top_a, top_b, diff_a, diff_b = fig.axes
    assert "chance" in [line.get_label() for line in top_a.lines]
    diff = next(line for line in diff_a.lines if line.get_label() == "simple - weighted")
    np.testing.assert_allclose(diff.get_ydata(), [0.0, 0.02, -0.01], atol=1e-12)
    assert [line.get_label() for line in diff_b.lines] == ["simple - weighted", "weighted"]
    assert len(plots.plot_method_comparison(results, reference=None).axes) == 2
    with pytest.raises(ValueError, match="No 'quality' run"):
        plots.plot_method_comparison(results, reference="quality")


def test_scaling_benchmark_plot_draws_every_configuration_from_the_results():
    rows = [{"config": c, "clients": n, "seconds_per_round": s * n,
             "worker_cpu_per_round": 1.5 * s * n, "background_cores": 0.1}
            for c, s in (("local", 0.02), ("2 workers", 0.03)) for n in (10, 50)]
    results = {"rows": rows, "cpus": 2}
    fig = plots.plot_scaling_benchmark(results)
    time_ax, cores_ax = fig.axes
    local = next(line for line in time_ax.lines if line.get_label() == "local")
    np.testing.assert_allclose(local.get_ydata(), [0.2, 1.0])
    busy = next(line for line in cores_ax.lines if line.get_label() == "2 workers")
    np.testing.assert_allclose(busy.get_ydata(), [1.5, 1.5])
    assert time_ax.get_legend() is not None and cores_ax.get_legend() is not None
    with pytest.raises(ValueError, match="no rows"):
        plots.plot_scaling_benchmark({"rows": [], "cpus": 2})
