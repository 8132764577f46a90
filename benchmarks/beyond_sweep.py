"""Notebook 10's tuning sweep: the same small sweep for each method of the comparison.

    .venv/bin/python benchmarks/beyond_sweep.py [--data sample] [--rounds 10]
                                                [--seeds 0 1 2] [--out FILE]

On the label-skewed partition of notebook 09 (the same 50 writers, dealt with
Dirichlet alpha 0.1, seed 0) every method of `course_utils.remedies` runs with its one setting
at 1/3, 1 and 3 times its centre, with the same clients, data and rounds (5 clients
per round, 5 local epochs, batches of 20, client SGD 0.3, the linear model), once per
seed of the client sampling (which clients train in which round, and their data's
order). When a method's best value is at an end of its grid, the grid is extended by
one more factor of 3 on that side (at most twice), the same rule for every method.

The test examples are split in two halves by writer (`data.writer_halves`): the
writers at even positions choose each method's setting (validation: the mean accuracy
over the last 3 rounds, less noisy than the last round alone, averaged over the
seeds), the others report it (test). Writes benchmarks/results/beyond_sweep.json;
copy its choices into remedies.CHOSEN.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "beyond_sweep.json"
ALPHA, SEED = 0.1, 0
LAST = 3  # rounds averaged for choosing and reporting
WRITERS = 50  # notebook 09's sample of writers
CLIENTS_PER_ROUND = 5  # notebook 10's comparison


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="as COURSE_DATA (mode or directory)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="client-sampling seeds; each setting runs once per seed")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    import os

    import course_utils
    from course_utils import data, evaluation, partitions, remedies, training_loop

    course_utils.setup()
    load = os.getloadavg()
    train, test = course_utils.load_emnist(data=args.data, verbose=False)
    writer_ids = data.sample_clients(train.client_ids, WRITERS, round_num=0, seed=SEED)
    writers = partitions.clients_in_memory(train, writer_ids)
    skewed = partitions.dirichlet_label_partition(writers, ALPHA, seed=SEED)
    rounds_by_seed = {seed: partitions.federated_data_for_round(
        skewed, CLIENTS_PER_ROUND, epochs=5, seed=seed) for seed in args.seeds}
    validation, held_out = (
        evaluation.central_evaluator(data.central_dataset(half))
        for half in data.writer_halves(test))

    def run(name, value):
        start = time.perf_counter()
        process = remedies.build(name, value)
        histories = [training_loop.run_training(process, args.rounds, rounds_by_seed[seed],
                                                evaluate=both_halves, progress=False)[1]
                     for seed in args.seeds]

        def last3(history, half):
            return sum(r[f"eval_{half}"] for r in history[-LAST:]) / LAST

        per_seed = {half: [last3(h, half) for h in histories]
                    for half in ("validation", "test")}
        return {"method": name, "setting": remedies.METHODS[name].setting, "value": value,
                # means over the seeds (what the choice is made by)
                "validation_last3": sum(per_seed["validation"]) / len(histories),
                "test_last3": sum(per_seed["test"]) / len(histories),
                "validation_last3_per_seed": per_seed["validation"],
                "test_last3_per_seed": per_seed["test"],
                "test_per_round": [[r["eval_test"] for r in h] for h in histories],
                "seconds": time.perf_counter() - start}

    def both_halves(weights):
        return {"validation": validation(weights)["accuracy"],
                "test": held_out(weights)["accuracy"]}

    runs, chosen = [], {}
    for name in remedies.METHODS:
        values = remedies.grid(name)
        mine = {value: run(name, value) for value in values}
        for _ in range(2):  # extend the grid while the best value is at one end
            best = max(mine, key=lambda v: mine[v]["validation_last3"])
            if best == min(mine):
                extra = best / 3
            elif best == max(mine):
                extra = best * 3
            else:
                break
            mine[extra] = run(name, extra)
        for value in sorted(mine):
            runs.append(mine[value])
            print(json.dumps({k: v for k, v in mine[value].items()
                              if not k.endswith(("per_round", "per_seed"))}), flush=True)
        chosen[name] = max(mine, key=lambda v: mine[v]["validation_last3"])
    result = {"rounds": args.rounds, "writers": WRITERS,
              "clients_per_round": CLIENTS_PER_ROUND, "alpha": ALPHA, "seed": SEED,
              "seeds": args.seeds,
              "grid_factors": list(remedies.GRID_FACTORS), "runs": runs, "chosen": chosen,
              "loadavg_before": load, "loadavg_after": os.getloadavg()}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("chosen:", chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
