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
                     "course_utils.aggregation"]


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


_REGISTRY: dict[str, Algorithm] = {}


def register(name: str, description: str):
    """Decorator: register `build(config) -> process` under `name`."""
    def decorate(build):
        _REGISTRY[name] = Algorithm(name, description, build)
        return build
    return decorate


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
