"""Comparing algorithms fairly: every run trains on the same clients, in the same order,
with the same shuffling, and is evaluated the same way after every round (notebook 06).
`seed` chooses both the clients of each round and the shuffling; another seed is
another draw of both.

    compare = Comparison(train_data, rounds=8, evaluate=evaluate)
    _, fedavg_history = compare.run(process, "FedAvg")
    compare.print_final({"FedAvg": fedavg_history})
    compare.plot({"FedAvg": fedavg_history, "midpoint": midpoint_history}, "title")
"""

from __future__ import annotations

import functools
from typing import Callable

from course_utils import data, plots, training_loop
from course_utils.settings import COURSE


class Comparison:
    """Runs algorithms on equal terms: `rounds` rounds each, round r on the same
    `clients_per_round` clients (drawn with `seed`) with the same shuffled datasets, and
    `evaluate` after every round. `run(process, name)` trains one; `plot` and
    `print_final` show several."""

    def __init__(self, train_data, rounds: int, evaluate: Callable, *,
                 clients_per_round: int = COURSE.clients_per_round,
                 epochs: int = COURSE.epochs, seed: int = COURSE.seed):
        self.train_data, self.rounds, self.evaluate = train_data, rounds, evaluate
        self.clients_per_round, self.epochs, self.seed = clients_per_round, epochs, seed
        # Every run gets the very same datasets (built once per round).
        self.data_for_round = functools.lru_cache(maxsize=None)(self._data_for_round)

    def clients_for_round(self, round_num: int) -> list[str]:
        """A random sample of clients for each round: the same for round r in every run."""
        return data.sample_clients(self.train_data.client_ids, self.clients_per_round,
                                   round_num, seed=self.seed)

    def _data_for_round(self, round_num: int) -> list:
        return data.make_federated_data(self.train_data, self.clients_for_round(round_num),
                                        epochs=self.epochs, seed=self.seed)

    def run(self, process, description: str, data_fn: Callable | None = None):
        """Train for `rounds` rounds; return the final state and the per-round history."""
        return training_loop.run_training(process, self.rounds, data_fn or self.data_for_round,
                                          evaluate=self.evaluate, description=description)

    @staticmethod
    def plot(histories: dict, title: str, **options):
        """Test loss and accuracy per round of several runs (training curves left out)."""
        test_only = {name: [{k: v for k, v in row.items() if not k.startswith("train_")}
                            for row in history] for name, history in histories.items()}
        return plots.plot_training_curves(test_only, title=title, eval_label="test",
                                          **options)

    @staticmethod
    def print_final(histories: dict) -> None:
        width = max(len(name) for name in histories)
        for name, history in histories.items():
            print(f"{name:>{width}}: test accuracy {history[-1]['eval_accuracy']:.3f} "
                  f"after {len(history)} rounds")
