"""One training run from start to finish: what `python -m course_utils train` does.

    settings -> data -> process -> rounds (with progress) -> central evaluation

`run_experiment` is the same code the notebooks use (`data.sample_clients`,
`data.make_federated_data`, `training_loop.run_training`, a Keras evaluation on one split),
so a terminal run and a notebook run with the same settings train the same model.
"""

from __future__ import annotations

import dataclasses
import math
import sys

from course_utils import data
from course_utils.cli import algorithms
from course_utils import training_loop
from course_utils.settings import CourseSettings

DEFAULT_TRAIN_SPLIT = "digits_only_train"
DEFAULT_EVAL_SPLIT = "digits_only_test"


class ExperimentError(ValueError):
    """The run's arguments cannot work (e.g. more clients per round than exist)."""


def evaluation_dataset(split: str, data_arg=None, invert: bool = True):
    """All examples of one split of the source's SQLite file, batched for Keras."""
    return data.central_dataset(data.load_split(split, data_arg), invert=invert)


def run_experiment(algorithm: str, settings: CourseSettings | None = None, data_arg=None,
                   eval_split: str | None = None, progress: bool = True,
                   log="stderr") -> dict:
    """Train `algorithm` (a name from `algorithms.available()`) with `settings`.

    `data_arg` is what `load_emnist(data=...)` takes ("sample", "emnist", a
    directory; None: $COURSE_DATA). `eval_split` names the split of that SQLite file the
    final model is evaluated on centrally (default: the digits test split). `progress`
    shows a progress bar (on stderr outside notebooks); `log` (a file, default
    sys.stderr; None: silent) gets one "Data: ..." line.

    Returns {"algorithm", "config", "rounds": [{"round", "seconds", "train_loss",
    "train_accuracy"}, ...], "final": {"split", "loss", "accuracy"}}, plus what the
    algorithm's `report` adds (dp-fedavg: "privacy"). Raises ValueError
    for an unknown algorithm, `data.DataError` for unusable data or an unknown split,
    `ExperimentError` for impossible settings.
    """
    settings = settings or CourseSettings()
    eval_split = eval_split or DEFAULT_EVAL_SPLIT
    entry = algorithms.get(algorithm)  # ValueError naming the algorithms that exist
    entry.parse_options(settings.extra)  # OptionError (exit 2) before any data is read
    entry.check_model(settings.model)
    if settings.rounds < 1:
        raise ExperimentError(f"--rounds must be at least 1, got {settings.rounds}.")

    # The same global seeds as course_utils.setup() in a notebook: TensorFlow derives
    # each dataset's shuffle order from the global seed and `settings.seed`, so a run here
    # and the same settings in a notebook train the same model.
    from course_utils.runtime import context as runtime

    runtime.seed_everything()

    # Check the data and the evaluation split before any training.
    source = data.resolve_source(data_arg)
    splits = data.prepare(source)
    if eval_split not in data.split_names(splits):
        raise data.DataError(f"No split {eval_split!r} in {source.sqlite_path}; it has: "
                             f"{', '.join(data.split_names(splits))}.")
    clients = splits.get(DEFAULT_TRAIN_SPLIT, 0)
    if not 0 < settings.clients_per_round <= clients:
        raise ExperimentError(f"--clients-per-round must be between 1 and {clients} (the "
                              f"number of clients), got {settings.clients_per_round}.")
    if log == "stderr":  # looked up now: sys.stderr may have been replaced since import
        log = sys.stderr
    if log is not None:
        print(f"Data: {data.describe(source)} ({source.sqlite_path}).", file=log, flush=True)
    data_arg = str(source.directory) if source.mode != "emnist" else "emnist"

    train, _ = data.load_emnist(data=data_arg, verbose=False)
    if eval_split == data.HELDOUT_SPLIT:  # never train on the writers evaluated on
        train = data.without_writers(train, data.heldout_writer_ids(train.client_ids))
    data_for_round = data.federated_data_for_round(train, settings, entry.client_sampling)
    try:
        process = entry.build(settings)
    except ValueError as error:  # a bad option value: say it, no traceback
        raise ExperimentError(str(error)) from None
    state, history = training_loop.run_training(process, settings.rounds, data_for_round,
                                           progress=progress, description=algorithm)

    from course_utils import models

    weights = training_loop.model_weights(process, state)
    final = models.evaluate_keras(weights, evaluation_dataset(eval_split, data_arg,
                                                              settings.invert),
                                  models.model_fn(settings.model))
    report = entry.run_report(settings, len(train.client_ids))
    return {
        "algorithm": algorithm,
        "config": {**dataclasses.asdict(settings), "data": str(source.sqlite_path),
                   "data_mode": source.mode},
        "rounds": [{key: _json_number(row[key]) for key in
                    ("round", "seconds", "train_loss", "train_accuracy")}
                   for row in history],
        "final": {"split": eval_split, **final},
        **report,
    }


def _json_number(value):
    """None for NaN/inf (e.g. the metrics of a round no client took part in), which
    JSON cannot hold."""
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _cell(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_result(result: dict) -> str:
    """A short human-readable report of `run_experiment`'s result."""
    lines = [f"{'round':>5} {'seconds':>8} {'train loss':>11} {'train acc':>10}"]
    lines += [f"{r['round']:>5} {r['seconds']:>8.2f} {_cell(r['train_loss']):>11} "
              f"{_cell(r['train_accuracy']):>10}" for r in result["rounds"]]
    final = result["final"]
    lines.append(f"{result['algorithm']}: central evaluation on {final['split']}: "
                 f"loss {final['loss']:.4f}, accuracy {final['accuracy']:.4f}")
    if "privacy" in result:
        lines.append(f"privacy: {result['privacy']['note']}")
    return "\n".join(lines)
