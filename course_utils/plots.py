"""Plots the notebooks share: what federated data looks like, and how training went.

Every function returns a `matplotlib.figure.Figure` that is not registered with pyplot,
so a notebook shows it exactly once when it is the cell's last value (and a script or
test can save or inspect it without a display).

Data helpers (`images_and_labels_by_client`, `client_labels`) turn clients' datasets
into NumPy arrays; the plotting functions take plain arrays and dicts, so they are easy
to test and to reuse.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

NUM_CLASSES = 10
IMAGE_CMAP = "gray"


def _enable_notebook_display() -> None:
    """In Jupyter, make the Figures returned here display as images.

    matplotlib chooses its backend lazily: until pyplot makes a figure, the inline
    backend has not told IPython how to show a Figure, and a returned Figure would
    print as "<Figure size ...>" text. Loading the backend now fixes that.
    """
    import sys

    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    if get_ipython() is None:
        return
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    if "inline" in backend:
        plt.switch_backend(backend)


_enable_notebook_display()


# --- data helpers ------------------------------------------------------------------

def _reader(client_data, what: str, max_examples: int | None):
    """A tf.function that reads one client's whole dataset as tensors.

    Uses `ClientData.serializable_dataset_fn` with the client id as a tensor, so it is
    traced once; creating one `tf.data` pipeline per client in Python is much slower.
    """
    import tensorflow as tf

    dataset_fn = client_data.serializable_dataset_fn

    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def read(client_id):
        dataset = dataset_fn(client_id)
        if max_examples is not None:
            dataset = dataset.take(max_examples)
        if what == "labels":
            dataset = dataset.map(lambda example: example["label"])
        return dataset.batch(1_000_000).get_single_element()

    return read


def images_and_labels_by_client(client_data, client_ids, max_examples: int | None = None
                                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Clients' raw examples for plotting: {client id: (pixels [n, 28, 28], labels [n])},
    at most `max_examples` each. (To re-partition clients in memory:
    `partitions.clients_in_memory`.)"""
    read = _reader(client_data, "examples", max_examples)
    arrays = {}
    for client_id in client_ids:
        batch = read(client_id)
        arrays[client_id] = (batch["pixels"].numpy(), batch["label"].numpy())
    return arrays


def client_examples(client_data, client_id, max_examples: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """One client's raw examples as arrays: (pixels [n, 28, 28], labels [n])."""
    return images_and_labels_by_client(client_data, [client_id], max_examples)[client_id]


def client_labels(client_data, client_ids) -> dict[str, np.ndarray]:
    """Clients' labels only (cheap enough for every client): {client id: labels [n]}."""
    read = _reader(client_data, "labels", None)
    return {client_id: read(client_id).numpy() for client_id in client_ids}


def _as_dict(values, name: str) -> dict:
    if isinstance(values, Mapping):
        return dict(values)
    if isinstance(values, Sequence) and not isinstance(values, str):
        return {f"{name} {i + 1}": v for i, v in enumerate(values)}
    raise TypeError(f"expected a dict or a list, got {type(values).__name__}")


def _check_not_empty(values: dict, what: str) -> None:
    if not values:
        raise ValueError(f"nothing to plot: no {what} given")


# --- what the clients' data looks like ---------------------------------------------

def plot_writer_samples(examples: Mapping[str, tuple], per_writer: int = 8,
                        title: str = "Samples from each writer (one row per client)"
                        ) -> Figure:
    """A grid of digits: one row per writer, the first `per_writer` examples each.

    `examples` maps client id -> (pixels [n, 28, 28], labels [n]), e.g. from
    `client_examples`. Each image is titled with its label.
    """
    examples = dict(examples)
    _check_not_empty(examples, "writers")
    rows = len(examples)
    fig = Figure(figsize=(1.0 * per_writer + 1.2, 1.1 * rows + 0.5))
    axes = np.asarray(fig.subplots(rows, per_writer, squeeze=False))
    for row, (client_id, (pixels, labels)) in enumerate(examples.items()):
        for col in range(per_writer):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(labels):
                ax.imshow(pixels[col], cmap=IMAGE_CMAP, vmin=0.0, vmax=1.0)
                ax.set_title(str(int(labels[col])), fontsize=9, pad=2)
            else:
                ax.axis("off")
        axes[row, 0].set_ylabel(str(client_id), rotation=0, ha="right", va="center",
                                fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_example_counts(counts: Mapping[str, int] | Iterable[int], bins: int = 30,
                        title: str = "How many examples each client holds") -> Figure:
    """Histogram of the number of examples per client."""
    values = np.asarray(list(counts.values()) if isinstance(counts, Mapping)
                        else list(counts))
    if values.size == 0:
        raise ValueError("nothing to plot: no client counts given")
    fig = Figure(figsize=(7, 3))
    ax = fig.subplots()
    ax.hist(values, bins=bins, color="tab:blue", edgecolor="white")
    ax.axvline(values.mean(), color="tab:red", linestyle="--",
               label=f"mean {values.mean():.0f}")
    ax.set_xlabel("examples on the client")
    ax.set_ylabel("number of clients")
    ax.set_title(f"{title} ({values.size} clients, {values.min()}-{values.max()} "
                 "examples)")
    ax.legend()
    fig.tight_layout()
    return fig


def label_counts(labels: Iterable[int], num_classes: int = NUM_CLASSES) -> np.ndarray:
    """How often each class 0..num_classes-1 occurs in `labels`."""
    return np.bincount(np.asarray(list(labels), dtype=int), minlength=num_classes)


def plot_label_distributions(labels_by_client: Mapping[str, Sequence[int]],
                             columns: int = 5, num_classes: int = NUM_CLASSES,
                             title: str = "Label distribution per client") -> Figure:
    """One small bar chart of label counts per client (small multiples).

    `labels_by_client` maps client id -> that client's labels.
    """
    labels_by_client = dict(labels_by_client)
    _check_not_empty(labels_by_client, "clients")
    n = len(labels_by_client)
    columns = min(columns, n)
    rows = int(np.ceil(n / columns))
    fig = Figure(figsize=(2.3 * columns, 1.9 * rows + 0.4))
    axes = np.asarray(fig.subplots(rows, columns, squeeze=False, sharey=True))
    for ax, (client_id, labels) in zip(axes.flat, labels_by_client.items()):
        ax.bar(np.arange(num_classes), label_counts(labels, num_classes),
               color="tab:blue")
        ax.set_title(str(client_id), fontsize=9)
        ax.set_xticks(range(num_classes))
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("examples")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def mean_images(pixels: np.ndarray, labels: np.ndarray, num_classes: int = NUM_CLASSES
                ) -> list[np.ndarray | None]:
    """The average image of each class (None for a class the client never wrote)."""
    labels = np.asarray(labels)
    return [pixels[labels == c].mean(axis=0) if np.any(labels == c) else None
            for c in range(num_classes)]


def plot_mean_images(examples: Mapping[str, tuple], num_classes: int = NUM_CLASSES,
                     title: str = "Each writer's average digit (row: client, column: "
                                  "digit)") -> Figure:
    """Per client, the mean image of each digit: how each writer's style differs.

    `examples` maps client id -> (pixels [n, 28, 28], labels [n]). A digit a client
    never wrote is left blank.
    """
    examples = dict(examples)
    _check_not_empty(examples, "writers")
    rows = len(examples)
    fig = Figure(figsize=(0.9 * num_classes + 1.2, 0.95 * rows + 0.7))
    axes = np.asarray(fig.subplots(rows, num_classes, squeeze=False))
    for row, (client_id, (pixels, labels)) in enumerate(examples.items()):
        for digit, image in enumerate(mean_images(pixels, labels, num_classes)):
            ax = axes[row, digit]
            ax.set_xticks([])
            ax.set_yticks([])
            if image is not None:
                ax.imshow(image, cmap=IMAGE_CMAP, vmin=0.0, vmax=1.0)
            else:
                ax.set_facecolor("#f4f4f4")
            if row == 0:
                ax.set_title(str(digit), fontsize=9)
        axes[row, 0].set_ylabel(str(client_id), rotation=0, ha="right", va="center",
                                fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_client_coverage(rounds_by_scheme: Mapping[str, Sequence[Sequence[str]]],
                         num_clients: int | None = None,
                         title: str = "Distinct clients that have taken part") -> Figure:
    """For each sampling scheme, how many distinct clients took part after each round.

    `rounds_by_scheme` maps a name -> the list of client ids chosen in each round.
    """
    rounds_by_scheme = dict(rounds_by_scheme)
    _check_not_empty(rounds_by_scheme, "sampling schemes")
    fig = Figure(figsize=(7, 3))
    ax = fig.subplots()
    for name, rounds in rounds_by_scheme.items():
        seen, coverage = set(), []
        for chosen in rounds:
            seen.update(chosen)
            coverage.append(len(seen))
        ax.plot(range(1, len(coverage) + 1), coverage, marker=".", label=name)
    if num_clients is not None:
        ax.axhline(num_clients, color="gray", linestyle=":",
                   label=f"all {num_clients} clients")
    ax.set_xlabel("round")
    ax.set_ylabel("distinct clients so far")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


# --- training curves ---------------------------------------------------------------

def history_column(history: Sequence[Mapping], key: str) -> np.ndarray:
    """One metric of a `run_training` history as an array (NaN where missing)."""
    return np.asarray([row.get(key, np.nan) for row in history], dtype=float)


def _plain_log_axis(ax) -> None:
    """A log y axis labelled 0.5, 1, 2, 3, 5, 10, ... (not 3x10^0)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def plot_training_curves(histories, metrics: Sequence[str] = ("loss", "accuracy"),
                         title: str = "Training", chance: float | None = None,
                         eval_label: str = "test", log_loss: bool = False,
                         show_training: bool = True) -> Figure:
    """Loss and accuracy per round for one or several runs of `run_training`.

    `histories` is one history (a list of per-round dicts), a list of them, or a dict
    {run name: history}. For each metric there is one panel; each run draws its
    training metric (`train_<metric>`, solid) and, when present, its evaluation metric
    (`eval_<metric>`, dashed, same colour). One legend below the panels names them.
    `chance` draws a dotted line on the accuracy panel (0.1 for ten balanced classes);
    `eval_label` names the evaluation curves; `log_loss` puts the loss on a log scale
    (for runs whose losses differ by orders of magnitude); `show_training=False` draws
    the evaluation curves only.
    """
    if isinstance(histories, Sequence) and histories and isinstance(histories[0], Mapping):
        histories = {"run": histories}
    histories = _as_dict(histories, "run")
    _check_not_empty(histories, "histories")
    fig = Figure(figsize=(5.2 * len(metrics), 3.0 + 0.22 * len(histories)),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, history) in enumerate(histories.items()):
        color = colors[index % len(colors)]
        rounds = history_column(history, "round")
        for ax, metric in zip(axes, metrics):
            kinds = (("train", "-"), ("eval", "--")) if show_training else (("eval", "-"),)
            for kind, style in kinds:
                values = history_column(history, f"{kind}_{metric}")
                if np.all(np.isnan(values)):
                    continue
                label = f"{name}: {'training' if kind == 'train' else eval_label}"
                known = ~np.isnan(values)  # rounds that were not evaluated are skipped
                ax.plot(rounds[known], values[known], style, color=color, marker=".",
                        label=label)
    for ax, metric in zip(axes, metrics):
        # The accuracy axis follows the data (small differences stay visible); a
        # chance line, when asked for, widens it to show how far above chance it is.
        if metric == "accuracy" and chance is not None:
            ax.axhline(chance, color="gray", linestyle=":", label="chance")
        if metric == "loss" and log_loss:
            _plain_log_axis(ax)
        ax.set_xlabel("round")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(f"{metric} (log scale)" if metric == "loss" and log_loss else metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    handles = {}
    for ax in axes:
        for line in ax.lines:
            if line.get_label() not in handles:
                handles[line.get_label()] = line
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncol=2 if len(handles) > 3 else len(handles), fontsize=8, frameon=False)
    fig.suptitle(title)
    return fig


# --- comparing methods (notebook 07) -----------------------------------------------

def plot_method_comparison(results: Mapping[str, Mapping[str, Sequence[Mapping]]],
                           reference: str | None = "weighted",
                           metric: str = "eval_accuracy", ylabel: str = "test accuracy",
                           chance: float | None = 0.1, title: str | None = None,
                           differences: Sequence[str] | None = None) -> Figure:
    """One column per scenario (`results`: scenario -> method -> history of
    `run_training`): `metric` per round of every method (top row), and, with a
    `reference` method, each method named in `differences` (default: every other
    method) minus the reference (bottom row), so that curves too close to tell apart
    on the top row separate. Every panel has its legend; the
    top row has a dotted `chance` line.
    """
    _check_not_empty(dict(results), "results")
    scenarios = list(results)
    rows = 1 if reference is None else 2
    fig = Figure(figsize=(4.3 * len(scenarios), 3.2 * rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, len(scenarios), squeeze=False))
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for column, scenario in enumerate(scenarios):
        histories = results[scenario]
        color = {name: colors[i % len(colors)] for i, name in enumerate(histories)}
        top = axes[0, column]
        for name, history in histories.items():
            top.plot(history_column(history, "round"), history_column(history, metric),
                     marker="o", markersize=3, color=color[name], label=name)
        if chance is not None:
            top.axhline(chance, color="gray", linestyle=":", label="chance")
        top.set(title=scenario, ylabel=ylabel)
        if reference is not None:
            if reference not in histories:
                raise ValueError(f"No {reference!r} run in scenario {scenario!r}: it has "
                                 f"{', '.join(histories)}.")
            base = history_column(histories[reference], metric)
            bottom = axes[1, column]
            names = differences or [n for n in histories if n != reference]
            for name in names:
                bottom.plot(history_column(histories[name], "round"),
                            history_column(histories[name], metric) - base,
                            marker="o", markersize=3, color=color[name],
                            label=f"{name} - {reference}")
            bottom.axhline(0.0, color=color[reference], linewidth=1, label=reference)
            bottom.set(ylabel=f"{ylabel} minus {reference}")
        for ax in axes[:, column]:
            ax.set_xlabel("round")
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    return fig


# --- the scaling benchmark (notebook 08) ---------------------------------------------

def plot_scaling_benchmark(results: Mapping) -> Figure:
    """benchmarks/scaling.py's results (`benchmark_results.load("scaling")`): seconds
    per round (left) and cores the workers kept busy (right) against clients per
    round, one line per configuration, a dashed line at the machine's cores."""
    rows = results["rows"]
    if not rows:
        raise ValueError("The scaling results have no rows: rerun benchmarks/scaling.py.")
    configs = list(dict.fromkeys(row["config"] for row in rows))
    clients = sorted({row["clients"] for row in rows})
    cell = {(row["clients"], row["config"]): row for row in rows}
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    time_ax, cores_ax = fig.subplots(1, 2)
    for config in configs:
        points = [cell[n, config] for n in clients if (n, config) in cell]
        x = [row["clients"] for row in points]
        time_ax.plot(x, [row["seconds_per_round"] for row in points], marker="o",
                     label=config)
        cores_ax.plot(x, [row["worker_cpu_per_round"] / row["seconds_per_round"]
                          for row in points], marker="o", label=config)
    cores_ax.axhline(results["cpus"], color="gray", linestyle="--", linewidth=1,
                     label=f"{results['cpus']} cores")
    time_ax.set(xlabel="clients per round", ylabel="seconds per round",
                title="Time per round (recorded run)")
    cores_ax.set(xlabel="clients per round", ylabel="cores busy (worker CPU-s / s)",
                 title=f"Cores the workers kept busy (machine: {results['cpus']})",
                 ylim=(0, None))
    for ax in (time_ax, cores_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


# --- privacy (notebook 11) ---------------------------------------------------------

def _image_axis(ax, image, title: str, symmetric: bool = False) -> None:
    image = np.asarray(image, dtype=float).reshape(28, 28)
    if symmetric:  # signed values (an update): white = 0, red > 0, blue < 0
        limit = float(np.nanmax(np.abs(image))) or 1.0
        ax.imshow(image, cmap="bwr", vmin=-limit, vmax=limit)
    else:
        ax.imshow(image, cmap=IMAGE_CMAP)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_image_row(images: Mapping[str, np.ndarray], title: str = "",
                   symmetric: Sequence[str] = ()) -> Figure:
    """Images side by side, each titled with its key (e.g. an original digit and what
    was reconstructed from an update). Keys in `symmetric` are drawn with a signed
    colour map (0 = white)."""
    images = dict(images)
    _check_not_empty(images, "images")
    fig = Figure(figsize=(1.9 * len(images), 2.4))
    axes = np.atleast_1d(fig.subplots(1, len(images)))
    for ax, (name, image) in zip(axes, images.items()):
        _image_axis(ax, image, name, symmetric=name in symmetric)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_image_grid(rows: Mapping[str, Sequence[np.ndarray]], column_titles=None,
                    title: str = "", symmetric: Sequence[str] = ()) -> Figure:
    """A grid: one row of images per key of `rows` (labelled with the key on the
    left), e.g. a client's average digit 0-9 and the 10 columns of its update. Rows
    named in `symmetric` use a signed colour map; an all-NaN image is left blank."""
    rows = dict(rows)
    _check_not_empty(rows, "rows")
    columns = max(len(images) for images in rows.values())
    fig = Figure(figsize=(0.95 * columns + 1.6, 1.05 * len(rows) + 0.6))
    axes = np.asarray(fig.subplots(len(rows), columns, squeeze=False))
    for r, (name, images) in enumerate(rows.items()):
        for c in range(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images) and not np.all(np.isnan(np.asarray(images[c], float))):
                _image_axis(ax, images[c], "", symmetric=name in symmetric)
            else:
                ax.set_facecolor("#f4f4f4")
            if r == 0 and column_titles is not None:
                ax.set_title(str(column_titles[c]), fontsize=9)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_epsilon(runs: Sequence[Mapping], baseline: float | None = None,
                             title: str = "Accuracy against privacy",
                             xlabel: str = "epsilon (smaller = more private)") -> Figure:
    """Final accuracy against epsilon, one point per run.

    `runs`: dicts with "epsilon" (finite), "accuracy" and "label" (e.g. "sigma=1.0").
    `baseline`: the accuracy without noise (epsilon infinite, no privacy), drawn as a
    dashed line rather than a point, since it has no finite epsilon.
    """
    runs = list(runs)
    _check_not_empty(runs, "runs")
    fig = Figure(figsize=(6.2, 3.6))
    ax = fig.subplots()
    eps = np.asarray([run["epsilon"] for run in runs], float)
    if not np.all(np.isfinite(eps)):
        raise ValueError("every plotted run needs a finite epsilon; pass the run "
                         "without noise as `baseline`")
    acc = np.asarray([run["accuracy"] for run in runs], float)
    order = np.argsort(eps)
    ax.plot(eps[order], acc[order], marker="o", color="tab:blue", label="DP-FedAvg")
    for e, a, run in zip(eps, acc, runs):
        ax.annotate(run["label"], (e, a), textcoords="offset points", xytext=(0, -14),
                    ha="center", fontsize=8)
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle="--",
                   label=f"no noise (epsilon = inf): {baseline:.3f}")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlim(eps.min() / 1.6, eps.max() * 1.6)
    top = max([baseline or 0.0, *acc])
    ax.set_ylim(0.0, min(1.0, top + 0.12))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def add_accuracy_vs_epsilon(fig: Figure, runs: Sequence[Mapping], label: str,
                            color: str = "tab:red") -> Figure:
    """Add another series of runs (dicts as for `plot_accuracy_vs_epsilon`) to its
    figure, as separate points with their own legend entry, and widen the x range."""
    runs = list(runs)
    _check_not_empty(runs, "runs")
    ax = fig.axes[0]
    eps = np.asarray([run["epsilon"] for run in runs], float)
    acc = np.asarray([run["accuracy"] for run in runs], float)
    if not np.all(np.isfinite(eps)):
        raise ValueError("every plotted run needs a finite epsilon")
    ax.plot(eps, acc, marker="s", linestyle="none", color=color, label=label)
    for e, a, run in zip(eps, acc, runs):
        ax.annotate(run["label"], (e, a), textcoords="offset points", xytext=(7, 0),
                    ha="left", va="center", fontsize=8, color=color)  # clear of lines
    low, high = ax.get_xlim()
    ax.set_xlim(min(low, eps.min() / 1.6), max(high, eps.max() * 1.6))
    ax.legend(fontsize=8, loc="lower right")
    return fig


# --- notebooks 09 and 10: label skew and client drift --------------------------------------------

def plot_label_mixes(partitions: Mapping[str, Mapping[str, Mapping]], num_clients: int = 20,
                     num_classes: int = NUM_CLASSES,
                     title: str = "Label mix of the first clients") -> Figure:
    """One panel per partition (`partitions`: name -> {client id -> {"label": ...}}),
    one stacked bar per client: the share of each digit among its examples."""
    partitions = dict(partitions)
    _check_not_empty(partitions, "partitions")
    fig = Figure(figsize=(3.6 * len(partitions), 2.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(partitions), sharey=True))
    colors = matplotlib.colormaps["tab10"].colors
    for ax, (name, arrays) in zip(axes, partitions.items()):
        clients = list(arrays)[:num_clients]
        shares = np.array([label_counts(arrays[c]["label"], num_classes)
                           / max(len(arrays[c]["label"]), 1) for c in clients])
        bottom = np.zeros(len(clients))
        for digit in range(num_classes):
            ax.bar(range(len(clients)), shares[:, digit], bottom=bottom,
                   color=colors[digit % len(colors)], width=0.85, label=str(digit))
            bottom += shares[:, digit]
        ax.set_title(name)
        ax.set_xlabel("client")
        ax.set_xticks([])
    axes[0].set_ylabel("share of its examples")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center",
               title="digit", fontsize=8)
    fig.suptitle(title)
    return fig


def plot_drift(results: Mapping[str, Mapping[int, Mapping[str, float]]],
               start_accuracy: float | None = None,
               title: str = "One round from the same model, more or fewer local epochs"
               ) -> Figure:
    """Client drift: `results` maps partition -> {local epochs -> {"accuracy",
    "cosine"}}; left, the averaged model's test accuracy after the round (the starting
    model's as a dotted line); right, the mean cosine between the clients' updates."""
    results = dict(results)
    _check_not_empty(results, "partitions")
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    for name, by_epochs in results.items():
        epochs = sorted(by_epochs)
        left.plot(epochs, [by_epochs[e]["accuracy"] for e in epochs], marker="o", label=name)
        right.plot(epochs, [by_epochs[e]["cosine"] for e in epochs], marker="o", label=name)
    if start_accuracy is not None:
        left.axhline(start_accuracy, color="gray", linestyle=":", label="before the round")
    for ax, label in ((left, "test accuracy\nafter the round"),
                      (right, "mean cosine\nbetween client updates")):
        ax.set_xscale("log")
        ax.set_xticks(sorted({e for r in results.values() for e in r}))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("local epochs")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    right.axhline(0.0, color="gray", linewidth=0.8)
    left.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def plot_drift_over_samples(summary: Mapping[str, Mapping[int, Mapping[str, float]]],
                            start_accuracy: float | None = None,
                            title: str = "One round from the same model, more or fewer "
                                         "local epochs (mean over samples of clients, "
                                         "range shaded)") -> Figure:
    """`plot_drift` of the means in `summary` (`drift.summarize`: partition -> {epochs ->
    {"accuracy", "cosine" and their "_min" / "_max" over the samples}}), with each
    mean's range over the samples shaded."""
    fig = plot_drift(summary, start_accuracy, title)
    for ax, key in zip(fig.axes, ("accuracy", "cosine")):
        for line, by_epochs in zip(ax.lines, summary.values()):
            epochs = sorted(by_epochs)
            ax.fill_between(epochs, [by_epochs[e][f"{key}_min"] for e in epochs],
                            [by_epochs[e][f"{key}_max"] for e in epochs],
                            color=line.get_color(), alpha=0.15, linewidth=0)
    return fig


def plot_over_seeds(histories: Mapping[str, Mapping[int, Sequence[Mapping]]],
                    metric: str = "eval_accuracy", ylabel: str = "test accuracy",
                    title: str = "", chance: float | None = None) -> Figure:
    """One line per run name: the mean of `metric` per round over the seeds, its range
    (min to max) shaded. `histories`: name -> {seed -> a `run_training` history}."""
    histories = _as_dict(histories, "run")
    _check_not_empty(histories, "histories")
    fig = Figure(figsize=(6.2, 3.8), layout="constrained")
    ax = fig.subplots()
    for name, by_seed in histories.items():
        values = np.array([history_column(h, metric) for h in by_seed.values()])
        rounds = history_column(next(iter(by_seed.values())), "round")
        line, = ax.plot(rounds, values.mean(axis=0), marker=".",
                        label=f"{name} (mean of {len(values)} seeds)")
        ax.fill_between(rounds, values.min(axis=0), values.max(axis=0),
                        color=line.get_color(), alpha=0.15, linewidth=0)
    if chance is not None:
        ax.axhline(chance, color="gray", linestyle=":", label="chance")
    ax.set_xlabel("round")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
