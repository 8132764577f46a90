"""Notebook 09's comparison: FedAvg and three remedies for client drift, each with ONE
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

GRID_FACTORS = (1 / 3, 1.0, 3.0)


@dataclass(frozen=True)
class Method:
    setting: str    # what the one setting is
    centre: float   # the middle of its sweep
    build: Callable  # (value, client_learning_rate, model_fn) -> a process


METHODS = {
    "FedAvg": Method("server step", 1.0, lambda value, lr, model_fn:
                     so.build_server_optimizer_process(so.fedavgm_optimizer(value, 0.0),
                                                       lr, model_fn)),
    "FedProx": Method("mu", 0.1, lambda value, lr, model_fn:
                      fedprox.build_fedprox_process(lr, value, model_fn)),
    "SCAFFOLD": Method("server step", 1.0, lambda value, lr, model_fn:
                       scaffold.ScaffoldSimulation(
                           scaffold.build_scaffold_process(lr, value, model_fn))),
    "FedAdam": Method("server step", 0.03, lambda value, lr, model_fn:
                      so.build_server_optimizer_process(so.fedadam_optimizer(value), lr,
                                                        model_fn)),
}

# What benchmarks/beyond_sweep.py picked (benchmarks/results/beyond_sweep.json; a test
# checks they agree): 50 writers, 5 clients per round, 10 rounds.
CHOSEN = {"FedAvg": 1.0, "FedProx": 0.1, "SCAFFOLD": 1.0, "FedAdam": 0.09}


def grid(name: str) -> list[float]:
    """The values of `name`'s setting that the sweep tries."""
    return [METHODS[name].centre * factor for factor in GRID_FACTORS]


def build(name: str, value: float | None = None, client_learning_rate: float = 0.3,
          model_fn=models.create_keras_model):
    """The process of method `name` with its setting at `value` (default: `CHOSEN`)."""
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; choose one of {', '.join(METHODS)}.")
    value = CHOSEN[name] if value is None else value
    return METHODS[name].build(value, client_learning_rate, model_fn)


def traffic(process) -> aggregation.Traffic:
    """Bytes per client and round, read from the types of the process's client step."""
    if isinstance(process, scaffold.ScaffoldSimulation):
        return scaffold.communication(process.process)
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
            f"| {name} | {METHODS[name].setting} {CHOSEN[name]:.2g} | {values[middle - 1]:.3f} "
            f"| {values[-1]:.3f} | **{np.mean(values[-last:]):.3f}** "
            f"| {t.download:,} / {t.upload:,} B | {t.per_round(clients_per_round) / 1e6:.2f} MB "
            f"| {seconds:.2f} |")
    return "\n".join(lines)
