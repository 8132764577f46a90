"""Notebook 07's experiment over several seeds: the weighting rules and FedSGD on three
partitions, and the plain and trimmed means under attack. The recorded table of
notebook 07 ("Over five seeds").

    .venv/bin/python benchmarks/aggregation_seeds.py [--data DIR_OR_MODE]
        [--seeds 0 1 2 3 4] [--rounds 8] [--fedsgd-rate 1.0] [--out FILE]

A seed draws everything notebook 07 draws with its SEED: the 100 writers, the IID and
unequal-sizes partitions, the clients of each round and their shuffled examples (the
model starts from zeros in every run). Each run is recorded round by round: the central
test loss and accuracy, and `aggregation.client_objectives` on the partition's clients.
FedSGD runs at one fixed rate (notebook 07's sweep picks 1.0 with seed 0). Writes
benchmarks/results/aggregation_seeds.json (or --out FILE); notebook 07 shows it through
`course_utils.benchmark_results` (regenerate its stored outputs afterwards with
tools/run_notebooks.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "aggregation_seeds.json"
NUM_WRITERS, CLIENTS_PER_ROUND, NUM_CORRUPTED = 100, 10, 2


def parse_args(argv=None):
    from benchmarks._common import parser as course_parser

    parser = course_parser(__doc__, DEFAULT_OUT)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--fedsgd-rate", type=float, default=1.0)
    return parser.parse_args(argv)


def processes(fedsgd_rate: float) -> dict:
    """name -> process: the notebook's four weightings, FedSGD, and the two attack runs."""
    from course_utils import aggregation

    built = {name: aggregation.build_process(name) for name in aggregation.METHODS
             if name != "fedsgd"}
    built["fedsgd"] = aggregation.build_process("fedsgd", client_learning_rate=fedsgd_rate)

    def under_attack(report):
        process = aggregation.build_robust_process(
            lambda tensor_type: aggregation.stacking_parts(tensor_type, report))
        return aggregation.WithCorruptedClients(process, NUM_CORRUPTED, factor=-10.0)

    attack = {"mean, 2 corrupted": under_attack(aggregation.tf_mean),
              "trimmed mean (trim=2), 2 corrupted": under_attack(
                  lambda stack: aggregation.trimmed_mean(stack, NUM_CORRUPTED))}
    return built, attack


def run_seed(train, evaluate_test, seed: int, rounds: int, methods: dict,
             attack: dict) -> list[dict]:
    """Every run of one seed: {seed, scenario, method, history (eval_* per round)}."""
    from course_utils import aggregation, data, partitions

    writer_ids = data.sample_clients(train.client_ids, NUM_WRITERS, round_num=0, seed=seed)
    writers = partitions.clients_in_memory(train, writer_ids)
    scenarios = {"non-IID writers": (writers, methods),
                 "IID": (partitions.iid_partition(writers, seed=seed), methods),
                 "unequal sizes": (partitions.unequal_partition(writers, seed=seed), methods),
                 "attack (non-IID writers)": (writers, attack)}
    runs = []
    for scenario, (arrays, scenario_processes) in scenarios.items():
        results = aggregation.run_comparison(
            scenario_processes, partitions.as_client_data(arrays), writer_ids,
            rounds=rounds, clients_per_round=CLIENTS_PER_ROUND, seed=seed,
            evaluate=aggregation.with_client_objectives(evaluate_test, arrays),
            progress=False)
        for method, history in results.items():
            runs.append({"seed": seed, "scenario": scenario, "method": method,
                         "history": [{k: round(v, 5) for k, v in row.items()
                                      if k.startswith("eval_")} for row in history]})
            print(f"seed {seed} {scenario:26s} {method:36s} "
                  f"{history[-1]['eval_accuracy']:.3f}", flush=True)
    return runs


def main(argv=None) -> int:
    args = parse_args(argv)
    import course_utils

    course_utils.setup(verbose=False)
    from course_utils import data, evaluation

    start = time.time()
    train, test = data.load_emnist(data=args.data, verbose=False)
    evaluate_test = evaluation.central_evaluator(data.central_dataset(test))
    methods, attack = processes(args.fedsgd_rate)
    runs = []
    for seed in args.seeds:
        runs += run_seed(train, evaluate_test, seed, args.rounds, methods, attack)
    from benchmarks._common import record

    record(args.out, "aggregation_seeds.py", argv, start,
           data=data.resolve_source(args.data).description, rounds=args.rounds,
           writers=NUM_WRITERS, clients_per_round=CLIENTS_PER_ROUND,
           fedsgd_rate=args.fedsgd_rate, corrupted=NUM_CORRUPTED, seeds=args.seeds,
           runs=runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
