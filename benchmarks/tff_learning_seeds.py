"""Notebook 02's comparisons over several seeds: tff.learning's weighted FedAvg with the
course's settings (the same 10 clients, or a new sample every round), the image-
classification tutorial's settings, and the pixels as stored at learning rate 0.3.

    .venv/bin/python benchmarks/tff_learning_seeds.py [--data DIR_OR_MODE]
        [--seeds 0 1 2 3 4] [--out FILE]

Every row trains `tff_learning.build_fedavg` (what notebook 02 builds) for its number of
rounds, once per seed (as `python -m course_utils train --algorithm tff-fedavg` with the
row's options does), on `data.federated_data_for_round` (the seed picks the clients'
shuffle order and, when sampled, the clients) and records the central test accuracy
after every round and the last round's training accuracy. The fixed-clients row also
records notebook 02's federated evaluations of its final model. Writes benchmarks/results/tff_learning_seeds.json (or --out FILE);
notebook 02 shows it with `benchmark_results.seeds_table` (regenerate the notebook's
stored outputs afterwards with tools/run_notebooks.py).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "tff_learning_seeds.json"
CENTRAL = "central test set"
TRAINING = "last round's training accuracy"  # the clients' metrics during the last round
HELD_OUT_CLIENTS = 20  # notebook 02's held-out clients: the 20 after the training ones


def rows():
    """(label, settings) of every row; settings.rounds is the row's number of rounds."""
    from course_utils.settings import COURSE

    fixed = dataclasses.replace(COURSE, fixed_clients=True)
    tutorial = dataclasses.replace(fixed, invert=False, client_learning_rate=0.02, rounds=10)
    return [
        ("tutorial settings", tutorial),
        ("pixels as stored, lr 0.3",
         dataclasses.replace(fixed, invert=False, rounds=3)),
        ("course settings, the same 10 clients", fixed),
        ("course settings, a new random sample every round", COURSE),
    ]


def options(settings) -> str:
    """The `python -m course_utils train` options that train one row (add --seed S)."""
    from benchmarks.settings_sweep import options as setting_options

    return " ".join(["--algorithm tff-fedavg", f"--rounds {settings.rounds}",
                     *filter(None, [setting_options(settings)])])


def federated_evaluations(weights, train, test, settings) -> dict[str, float]:
    """Notebook 02's federated evaluations of a fixed-clients model: accuracy per group."""
    from course_utils import data, tff_learning

    ids = list(train.client_ids)
    clients = data.fixed_clients(ids, settings.clients_per_round)
    held_out = ids[settings.clients_per_round:settings.clients_per_round + HELD_OUT_CLIENTS]
    evaluation = tff_learning.build_federated_evaluation()
    groups = {"training clients, training data": (train, clients),
              "training clients, test data": (test, clients),
              f"{HELD_OUT_CLIENTS} held-out clients": (train, held_out)}
    return {name: tff_learning.federated_evaluate(
                evaluation, weights, data.make_federated_data(
                    client_data, group, shuffle_buffer=0, invert=settings.invert))["accuracy"]
            for name, (client_data, group) in groups.items()}


def run(settings, train, test) -> tuple[dict[str, float], list[float]]:
    """Train one row's settings for one seed: the final model's accuracy by evaluation,
    and the central test accuracy after each round."""
    from course_utils import data, evaluation, tff_learning, training_loop

    process = tff_learning.build_fedavg(settings.client_learning_rate,
                                        settings.server_learning_rate)
    central = evaluation.central_evaluator(data.central_dataset(test, invert=settings.invert))
    state, history = training_loop.run_training(
        process, settings.rounds, data.federated_data_for_round(train, settings),
        evaluate=central, progress=False)
    accuracy = {CENTRAL: history[-1]["eval_accuracy"],
                TRAINING: history[-1]["train_accuracy"]}
    if settings.fixed_clients and settings.invert:
        accuracy.update(federated_evaluations(process.get_model_weights(state), train, test,
                                              settings))
    return accuracy, [row["eval_accuracy"] for row in history]


def parse_args(argv=None):
    from benchmarks._common import parser as course_parser

    parser = course_parser(__doc__, DEFAULT_OUT)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import course_utils

    course_utils.setup(verbose=False)
    from course_utils import data

    train, test = data.load_emnist(data=args.data, verbose=False)
    start, table = time.time(), []
    for label, settings in rows():
        runs = []
        for seed in args.seeds:
            accuracy, curve = run(dataclasses.replace(settings, seed=seed), train, test)
            runs.append({"seed": seed, "accuracy": accuracy,
                         "central_accuracy_per_round": curve})
            print(f"{label:<50} seed {seed}: " + ", ".join(
                f"{name} {value:.3f}" for name, value in accuracy.items()), flush=True)
        table.append({"settings": label, "options": options(settings),
                      "rounds": settings.rounds,
                      "clients_per_round": settings.clients_per_round, "runs": runs})
    from benchmarks._common import record

    record(args.out, "tff_learning_seeds.py", argv, start,
           data=data.resolve_source(args.data).description,
           clients_total=len(train.client_ids), seeds=args.seeds, rows=table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
