"""The privacy plots of course_utils.plots (notebook 11): what they draw, and what they
refuse."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_utils import plots  # noqa: E402


def test_image_row_one_panel_per_image_signed_when_asked():
    images = {"original": np.ones(784), "update": np.linspace(-1, 1, 784)}
    fig = plots.plot_image_row(images, title="t", symmetric=("update",))
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["original", "update"]
    assert axes[1].images[0].get_cmap().name == "bwr"
    assert axes[1].images[0].get_clim() == pytest.approx((-1, 1))
    with pytest.raises(ValueError, match="nothing to plot"):
        plots.plot_image_row({})


def test_image_grid_rows_columns_and_blank_cells():
    rows = {"a": [np.ones((28, 28))] * 3, "b": [np.ones(784), np.full(784, np.nan)]}
    fig = plots.plot_image_grid(rows, column_titles=[0, 1, 2])
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["0", "1", "2"]
    drawn = [len(ax.images) for ax in fig.axes]
    assert drawn == [1, 1, 1, 1, 0, 0]  # NaN image and missing image left blank


def test_accuracy_vs_epsilon_points_and_baseline():
    runs = [{"epsilon": 6.6, "accuracy": 0.73, "label": "sigma=0.5"},
            {"epsilon": 0.23, "accuracy": 0.36, "label": "sigma=2"}]
    fig = plots.plot_accuracy_vs_epsilon(runs, baseline=0.78)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    line = ax.lines[0]
    assert list(line.get_xdata()) == [0.23, 6.6]  # sorted by epsilon
    assert list(line.get_ydata()) == [0.36, 0.73]
    assert "inf" in ax.lines[1].get_label()
    assert [t.get_text() for t in ax.texts] == ["sigma=0.5", "sigma=2"]


def test_accuracy_vs_epsilon_refuses_infinite_epsilon():
    with pytest.raises(ValueError, match="baseline"):
        plots.plot_accuracy_vs_epsilon([{"epsilon": float("inf"), "accuracy": 0.8,
                                         "label": "sigma=0"}])


def test_added_runs_are_separate_points_with_their_own_legend_entry():
    fig = plots.plot_accuracy_vs_epsilon(
        [{"epsilon": 6.6, "accuracy": 0.73, "label": "sigma=0.5"},
         {"epsilon": 0.23, "accuracy": 0.36, "label": "sigma=2"}], baseline=0.78)
    plots.add_accuracy_vs_epsilon(fig, [{"epsilon": 0.1, "accuracy": 0.74,
                                         "label": "m=50"}], "50 clients per round")
    ax = fig.axes[0]
    added = ax.lines[-1]
    assert list(added.get_xdata()) == [0.1] and added.get_linestyle() == "None"
    assert ax.get_xlim()[0] <= 0.1 / 1.6 + 1e-12
    assert "50 clients per round" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="nothing to plot"):
        plots.add_accuracy_vs_epsilon(fig, [], "empty")
