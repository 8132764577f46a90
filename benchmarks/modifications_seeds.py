"""Notebook 06's three comparisons, recorded over several seeds.

The midpoint server update, gradient clipping with faulty clients, and learning-rate
decay, each against its baseline, as notebook 06 trains them (8 rounds of 10 sampled
clients, 5 local epochs).

    .venv/bin/python benchmarks/modifications_seeds.py [--data DIR_OR_MODE]
        [--seeds 0 1 2 3 4] [--rounds 8] [--out FILE]

A seed chooses the clients of every round and the shuffling of their data
(`course_utils.comparison.Comparison`); within a seed every run meets the same clients.
The runs use the course's reference versions (`course_utils.variants`), which the
notebook's checkers accept as the exercises' answers. Seed 0 is the notebook's live
run. Writes benchmarks/results/modifications_seeds.json (or --out FILE); notebook 06
shows it (regenerate its stored outputs afterwards with tools/run_notebooks.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "modifications_seeds.json"
ROUNDS, LEARNING_RATE = 8, 0.3
FAULTY_EVERY, SCALE, CLIP_NORM = 10, 100.0, 1.0
INITIAL_RATE, DECAY = 1.0, 0.9


def runs(comparison, faulty):
    """(name, process, data_for_round or None) of every run of one seed."""
    from course_utils import fedavg, variants

    faulty_data = variants.faulty_data_for_round(comparison, faulty, SCALE)
    clipped = variants.build_clipped_process(LEARNING_RATE, CLIP_NORM)
    return [
        ("FedAvg", fedavg.build_unweighted_fedavg_process(LEARNING_RATE), None),
        ("midpoint", variants.build_midpoint_process(LEARNING_RATE), None),
        ("FedAvg, faulty clients", fedavg.build_unweighted_fedavg_process(LEARNING_RATE),
         faulty_data),
        ("clipped, faulty clients", clipped, faulty_data),
        ("clipped, no faulty clients", clipped, None),
        ("constant 1.0", variants.build_lr_decay_process(INITIAL_RATE, 1.0), None),
        ("1.0, decaying x0.9 per round", variants.build_lr_decay_process(INITIAL_RATE, DECAY),
         None),
    ]


def parse_args(argv=None):
    from benchmarks._common import parser as course_parser

    parser = course_parser(__doc__, DEFAULT_OUT)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import course_utils

    course_utils.setup(verbose=False)
    from course_utils import data, evaluation
    from course_utils.comparison import Comparison

    train, test = data.load_emnist(data=args.data, verbose=False)
    evaluate = evaluation.central_evaluator(data.central_dataset(test))
    faulty = set(train.client_ids[::FAULTY_EVERY])
    start, table = time.time(), []
    for seed in args.seeds:
        comparison = Comparison(train, rounds=args.rounds, evaluate=evaluate, seed=seed)
        faulty_per_round = [len(faulty.intersection(comparison.clients_for_round(r)))
                            for r in range(1, args.rounds + 1)]
        for name, process, data_fn in runs(comparison, faulty):
            _, history = comparison.run(process, name, data_fn)
            table.append({"seed": seed, "run": name,
                          "test_accuracy": [row["eval_accuracy"] for row in history],
                          "test_loss": [row["eval_loss"] for row in history],
                          "faulty_per_round": faulty_per_round})
            print(f"seed {seed} {name:<30} {history[-1]['eval_accuracy']:.3f}", flush=True)
    source = data.resolve_source(args.data)
    from benchmarks._common import record

    record(args.out, "modifications_seeds.py", argv, start, data=source.description,
           clients_total=len(train.client_ids), rounds=args.rounds,
           clients_per_round=comparison.clients_per_round, seeds=args.seeds, runs=table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
