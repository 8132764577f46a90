"""The algorithms `python -m course_utils train --algorithm NAME` can run.

Each entry builds an iterative process from a `TrainConfig`. Modules that define
algorithms register them with `@register(...)`; `ALGORITHM_MODULES` lists those modules
so that the registry is complete once `available()` is called.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

# Modules whose import registers algorithms (add yours here).
ALGORITHM_MODULES = ["course_utils.algorithms", "course_utils.fedavg_variants",
                     "course_utils.aggregation", "course_utils.dp_fedavg"]


@dataclass(frozen=True)
class TrainConfig:
    rounds: int = 15
    clients_per_round: int = 10
    seed: int = 0
    epochs: int = 5
    batch_size: int = 20
    client_learning_rate: float = 0.3
    server_learning_rate: float = 1.0
    invert: bool = True
    extra: dict = field(default_factory=dict)  # algorithm-specific options
    # True: the same first clients every round (the original tutorial); False: a fresh
    # seeded sample per round (course_utils.experiment.federated_data_for_round).
    fixed_clients: bool = False


@dataclass(frozen=True)
class Algorithm:
    name: str
    description: str
    build: Callable[[TrainConfig], object]  # -> an iterative process
    # The --extra keys it accepts (others are refused); None: not checked.
    options: tuple[str, ...] | None = None
    # "uniform": exactly clients_per_round clients a round; "poisson": each client
    # independently with probability clients_per_round / number of clients, rounds
    # padded with empty clients (experiment.federated_data_for_round).
    client_sampling: str = "uniform"
    # report(config, num_clients) -> extra entries of the JSON result (e.g. "privacy").
    report: Callable[[TrainConfig, int], dict] | None = None


_REGISTRY: dict[str, Algorithm] = {}


def register(name: str, description: str, *, options=None, client_sampling="uniform",
             report=None):
    """Decorator: register `build(config) -> process` under `name`."""
    def decorate(build):
        _REGISTRY[name] = Algorithm(name, description, build, options, client_sampling,
                                    report)
        return build
    return decorate


def check_options(entry: Algorithm, extra: dict) -> None:
    """Refuse --extra keys that `entry` does not know, naming the ones it does."""
    if entry.options is None:
        return
    unknown = sorted(set(extra) - set(entry.options))
    if unknown:
        raise ValueError(f"{entry.name} has no option {', '.join(map(repr, unknown))}; "
                         f"its options are: {', '.join(entry.options)}.")


def available() -> dict[str, Algorithm]:
    for module in ALGORITHM_MODULES:
        importlib.import_module(module)
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> Algorithm:
    algorithms = available()
    if name not in algorithms:
        raise ValueError(f"Unknown algorithm {name!r}. Choose one of: "
                         f"{', '.join(algorithms)}.")
    return algorithms[name]


@register("fedavg", "FedAvg built by hand (course_utils.fedavg, notebook 05)")
def _fedavg(config: TrainConfig):
    from course_utils import fedavg

    return fedavg.build_fedavg_process(config.client_learning_rate)


@register("tff-fedavg", "tff.learning.algorithms.build_weighted_fed_avg (notebook 02)")
def _tff_fedavg(config: TrainConfig):
    from course_utils import learning

    return learning.build_fedavg(config.client_learning_rate, config.server_learning_rate)
