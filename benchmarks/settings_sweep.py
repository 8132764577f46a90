"""Which settings make hand-built FedAvg learn: the tutorial's, the course's, and each
one changed alone. The table of notebook 05 ("The original tutorial's settings").

    .venv/bin/python benchmarks/settings_sweep.py [--data DIR_OR_MODE] [--seeds 0 1 2]
        [--rounds 15] [--out FILE]

Each row trains `python -m course_utils train --algorithm fedavg` with its options
(`course_utils.cli.experiment.run_experiment`, the same code) for every seed, and records
the central test accuracy and loss after the last round. Writes
benchmarks/results/settings_sweep.json (or --out FILE); notebook 05 shows it as a table
(regenerate the notebook's stored outputs afterwards with tools/run_notebooks.py).

"The tutorial" is TFF's "Building Your Own Federated Learning Algorithm": pixels as TFF
stores them, one local epoch, client SGD at 0.01, the same first 10 clients every round.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "settings_sweep.json"


def rows():
    """(label, settings) of every row, in the table's order."""
    from course_utils.settings import COURSE

    tutorial = dataclasses.replace(COURSE, invert=False, epochs=1,
                                   client_learning_rate=0.01, fixed_clients=True)
    change = dataclasses.replace
    return [
        ("tutorial", tutorial),
        ("tutorial, learning rate 0.02 (the image-classification tutorial's)",
         change(tutorial, client_learning_rate=0.02)),
        ("tutorial + inverted pixels", change(tutorial, invert=True)),
        ("tutorial + 5 epochs", change(tutorial, epochs=COURSE.epochs)),
        ("tutorial + sampled clients", change(tutorial, fixed_clients=False)),
        ("tutorial + learning rate 0.3",
         change(tutorial, client_learning_rate=COURSE.client_learning_rate)),
        ("course, pixels not inverted", change(COURSE, invert=False)),
        ("course, the same 10 clients", change(COURSE, fixed_clients=True)),
        ("course, 1 epoch", change(COURSE, epochs=1)),
        ("course, learning rate 0.01", change(COURSE, client_learning_rate=0.01)),
        ("course", COURSE),
    ]


def options(settings) -> str:
    """The `python -m course_utils train` options that give `settings`."""
    from course_utils.settings import COURSE

    parts = []
    if not settings.invert:
        parts.append("--no-invert")
    if settings.epochs != COURSE.epochs:
        parts.append(f"--epochs {settings.epochs}")
    if settings.client_learning_rate != COURSE.client_learning_rate:
        parts.append(f"--client-learning-rate {settings.client_learning_rate:g}")
    if settings.fixed_clients:
        parts.append("--fixed-clients")
    return " ".join(parts)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None,
                        help="sample | emnist | a directory with emnist_all.sqlite "
                             "(default: $COURSE_DATA or sample)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import course_utils

    course_utils.setup(verbose=False)
    from course_utils import data
    from course_utils.cli import experiment

    start, table = time.time(), []
    for label, settings in rows():
        runs = []
        for seed in args.seeds:
            config = dataclasses.replace(settings, rounds=args.rounds, seed=seed)
            result = experiment.run_experiment("fedavg", config, args.data, progress=False,
                                               log=None)
            runs.append({"seed": seed, "accuracy": result["final"]["accuracy"],
                         "loss": result["final"]["loss"],
                         "train_loss_last_round": result["rounds"][-1]["train_loss"]})
        accuracies = [run["accuracy"] for run in runs]
        table.append({"settings": label, "options": options(settings),
                      "mean_accuracy": statistics.mean(accuracies),
                      "min_accuracy": min(accuracies), "max_accuracy": max(accuracies),
                      "runs": runs})
        print(f"{label:<66} {statistics.mean(accuracies):.3f} "
              f"({min(accuracies):.3f}-{max(accuracies):.3f})", flush=True)
    source = data.resolve_source(args.data)
    train, _ = data.load_emnist(data=args.data, verbose=False)
    from benchmarks._common import record

    record(args.out, "settings_sweep.py", argv, start, data=source.description,
           clients_total=len(train.client_ids), rounds=args.rounds,
           clients_per_round=rows()[-1][1].clients_per_round, seeds=args.seeds,
           rows=table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
