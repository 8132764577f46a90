"""Notebook 10's comparison: FedAvg and three remedies for client drift, each with ONE
setting of its own, treated alike.

| method   | its setting                    | centre of the sweep |
|----------|--------------------------------|---------------------|
| FedAvg   | server step (server SGD)       | 1 (plain FedAvg)    |
| FedProx  | mu, the proximal strength      | 0.1                 |
| SCAFFOLD | server step                    | 1 (the paper's)     |
| FedAdam  | server step (Adam)             | 0.03                |

Every method gets the same sweep: its setting at the centre times 1/3, 1 and 3
(`grid`; extended by another factor of 3 while the best value is at an end, at most
twice), on the same skewed clients, rounds and data (`benchmarks/beyond_sweep.py`
runs it and picks each method's best on a validation half of the test examples;
`CHOSEN` holds what it picked). The clients' settings are the course's for all:
5 local epochs, batches of 20, client SGD 0.3. FedAvg, FedProx and FedAdam weight
clients by their examples; SCAFFOLD takes the plain mean, as its paper does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from course_utils import aggregation, fedprox, models, scaffold
from course_utils import server_optimizers as so
from course_utils.settings import COURSE

GRID_FACTORS = (1 / 3, 1.0, 3.0)


@dataclass(frozen=True)
class Remedy:
    """One method of notebook 10's comparison: the one setting its sweep tunes, the
    middle of that sweep, and how to build its process from a value of the setting."""

    setting: str    # what the one setting is
    centre: float   # the middle of its sweep
    build: Callable  # (value, client_learning_rate, model_fn) -> a process


METHODS = {
    "FedAvg": Remedy("server step", 1.0, lambda value, lr, model_fn:
                     so.build_server_optimizer_process(so.fedavgm_optimizer(value, 0.0),
                                                       lr, model_fn)),
    "FedProx": Remedy("mu", 0.1, lambda value, lr, model_fn:
                      fedprox.build_fedprox_process(lr, value, model_fn)),
    "SCAFFOLD": Remedy("server step", 1.0, lambda value, lr, model_fn:
                       scaffold.ScaffoldSimulation(
                           scaffold.build_scaffold_process(lr, value, model_fn))),
    "FedAdam": Remedy("server step", 0.03, lambda value, lr, model_fn:
                      so.build_server_optimizer_process(so.fedadam_optimizer(value), lr,
                                                        model_fn)),
}

# What benchmarks/beyond_sweep.py picked (benchmarks/results/beyond_sweep.json; a test
# checks they agree): 50 writers, 5 clients per round, 10 rounds, the mean over client-
# sampling seeds 0, 1, 2. FedProx's best was below its first grid: 0.1 / 3 / 3.
CHOSEN = {"FedAvg": 1.0, "FedProx": 0.1 / 3 / 3, "SCAFFOLD": 1.0, "FedAdam": 0.09}


def grid(name: str) -> list[float]:
    """The values of `name`'s setting that the sweep tries."""
    return [METHODS[name].centre * factor for factor in GRID_FACTORS]


def build(name: str, value: float | None = None,
          client_learning_rate: float = COURSE.client_learning_rate,
          model_fn=models.create_keras_model):
    """The process of method `name` with its setting at `value` (default: `CHOSEN`)."""
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; choose one of {', '.join(METHODS)}.")
    value = CHOSEN[name] if value is None else value
    return METHODS[name].build(value, client_learning_rate, model_fn)


def traffic(process) -> aggregation.Traffic:
    """Bytes per client and round, read from the types of the process's client step."""
    if isinstance(process, scaffold.ScaffoldSimulation):
        return scaffold.traffic(process.process)
    return aggregation.traffic_of(process.client_update_fn)


def comparison_table(histories: dict, traffic: dict, clients_per_round: int,
                     metric: str = "eval_accuracy", last: int = 3) -> str:
    """A Markdown table: per method, its setting, `metric` after the middle and the last
    round, its mean over the `last` rounds (less noisy; what the sweep chose by), bytes
    per client (down / up) and per round, and seconds per round.
    `histories`: method -> `training_loop.run_training` history; `traffic`: method -> Traffic.
    """
    import numpy as np

    rounds = len(next(iter(histories.values())))
    middle = rounds // 2
    lines = [f"| method | setting | round {middle} | round {rounds} | mean of rounds "
             f"{rounds - last + 1}-{rounds} | down / up per client | per round "
             f"({clients_per_round} clients) | s per round |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, history in histories.items():
        values = [row[metric] for row in history]
        t = traffic[name]
        seconds = np.median([row["seconds"] for row in history])
        lines.append(
            f"| {name} | {METHODS[name].setting} {CHOSEN[name]:.3g} | {values[middle - 1]:.3f} "
            f"| {values[-1]:.3f} | **{np.mean(values[-last:]):.3f}** "
            f"| {t.download:,} / {t.upload:,} B | {t.per_round(clients_per_round) / 1e6:.2f} MB "
            f"| {seconds:.2f} |")
    return "\n".join(lines)


# --- the comparison over seeds -----------------------------------------------------

def compare_over_seeds(processes: dict, arrays, seeds, rounds: int, evaluate,
                       clients_per_round: int, epochs: int = COURSE.epochs,
                       batch_size: int = COURSE.batch_size) -> dict:
    """{method: {seed: history}}: each process of `processes` (method -> process) trained
    `rounds` rounds from its initial state, once per seed of the client sampling (which
    clients train in which round, and their data's order); within a seed every method
    gets the same datasets (`partitions.federated_data_for_round` on `arrays`)."""
    from course_utils import partitions, training_loop

    histories = {name: {} for name in processes}
    for seed in seeds:
        data_for_round = partitions.federated_data_for_round(
            arrays, clients_per_round, epochs=epochs, batch_size=batch_size, seed=seed)
        for name, process in processes.items():
            _, histories[name][seed] = training_loop.run_training(
                process, rounds, data_for_round, evaluate=evaluate,
                description=f"seed {seed}, {name}")
    return histories


def _per_seed(histories_of_method: dict, at_round: int | None, last: int,
              metric: str) -> list[float]:
    """One number per seed: `metric` at round `at_round`, or (None) its mean over the
    `last` rounds."""
    import numpy as np

    values = []
    for history in histories_of_method.values():
        column = [row[metric] for row in history]
        values.append(column[at_round - 1] if at_round else float(np.mean(column[-last:])))
    return values


def seed_summary(histories: dict, at_round: int | None = None, last: int = 3,
                 baseline: str = "FedAvg", metric: str = "eval_accuracy") -> dict:
    """Per method, over the seeds of `compare_over_seeds`'s `histories`: its accuracy
    (mean, min, max of one number per seed: the mean of the `last` rounds, or the value
    at round `at_round`), and its paired difference from `baseline` on the same seed
    (mean, min, max, and on how many seeds it was above)."""
    import numpy as np

    base = _per_seed(histories[baseline], at_round, last, metric)
    summary = {}
    for name, by_seed in histories.items():
        values = _per_seed(by_seed, at_round, last, metric)
        gaps = np.subtract(values, base)
        summary[name] = {"mean": float(np.mean(values)), "min": min(values),
                         "max": max(values), "gap_mean": float(np.mean(gaps)),
                         "gap_min": float(gaps.min()), "gap_max": float(gaps.max()),
                         "above": int(np.sum(gaps > 0)), "seeds": len(values)}
    return summary


def seed_table(histories: dict, traffic: dict, clients_per_round: int, early: int = 5,
               last: int = 3, baseline: str = "FedAvg") -> str:
    """A Markdown table of `compare_over_seeds`'s `histories`: per method, its setting,
    its accuracy at round `early` and over the `last` rounds as mean (min to max over the
    seeds), each with its paired difference from `baseline` and on how many seeds it
    was above, and the bytes per round. `traffic`: method -> aggregation.Traffic."""
    rounds = len(next(iter(next(iter(histories.values())).values())))
    at = {"early": seed_summary(histories, early, baseline=baseline),
          "final": seed_summary(histories, None, last, baseline)}
    seeds = next(iter(at["final"].values()))["seeds"]

    def accuracy(s):
        return f"{s['mean']:.3f} ({s['min']:.3f} to {s['max']:.3f})"

    def gap(name, s):
        if name == baseline:
            return "·"
        return (f"{s['gap_mean']:+.3f} ({s['gap_min']:+.3f} to {s['gap_max']:+.3f}), "
                f"above on {s['above']} of {s['seeds']}")

    lines = [f"| method | setting | round {early} | vs {baseline}, round {early} | mean of "
             f"rounds {rounds - last + 1}-{rounds} | vs {baseline}, rounds "
             f"{rounds - last + 1}-{rounds} | per round ({clients_per_round} clients) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name in histories:
        early_s, final_s = at["early"][name], at["final"][name]
        lines.append(
            f"| {name} | {METHODS[name].setting} {CHOSEN[name]:.3g} | {accuracy(early_s)} "
            f"| {gap(name, early_s)} | **{accuracy(final_s)}** | {gap(name, final_s)} "
            f"| {traffic[name].per_round(clients_per_round) / 1e6:.2f} MB |")
    lines.append(f"\nEach cell: mean over {seeds} seeds of the client sampling (min to max); "
                 f"a difference is taken seed by seed, on the same clients and data.")
    return "\n".join(lines)
