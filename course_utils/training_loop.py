"""The training loop the notebooks and the command line share: rounds with a progress
bar, per-round history, optional centralized evaluation.

Works with tff.learning's processes (`next` returns a `LearningProcessOutput`) and with
the course's hand-built ones (`next` returns `(state, metrics)`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Callable

PROGRESS_ENV = "COURSE_PROGRESS"
_ctrl_c_pressed = threading.Event()


def progress_bar(iterable, description: str, unit: str, enabled: bool = True):
    """A tqdm progress bar (a widget in Jupyter, stderr in a terminal).

    COURSE_PROGRESS=0 turns every bar off: the notebook runner sets it, because a stored
    widget would show its initial "0%" state on GitHub.
    """
    from tqdm.auto import tqdm

    enabled = enabled and os.environ.get(PROGRESS_ENV, "1") != "0"
    return tqdm(iterable, desc=description, unit=unit, disable=not enabled)


def _on_ctrl_c(signum, frame):
    _ctrl_c_pressed.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c_never_lost():
    """Ctrl-C stops `run_training` even when it lands in a garbage-collector callback.

    Python runs gc callbacks (jax registers one) where an exception cannot propagate: a
    KeyboardInterrupt raised there is printed as "Exception ignored" and dropped, and
    training goes on. Inside this block Ctrl-C also sets a flag that `run_training`
    checks before every round, and a dropped KeyboardInterrupt is not printed. For a
    script's main thread (the `train` command); Jupyter handles its own interrupts.
    """
    _ctrl_c_pressed.clear()
    previous_handler = signal.signal(signal.SIGINT, _on_ctrl_c)
    previous_hook = sys.unraisablehook

    def drop_lost_ctrl_c(unraisable) -> None:  # any other exception: as before
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous_hook(unraisable)

    sys.unraisablehook = drop_lost_ctrl_c
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        sys.unraisablehook = previous_hook
        _ctrl_c_pressed.clear()


def train_metrics(metrics) -> dict[str, float]:
    """Training loss and accuracy from a round's metrics, whichever process made them."""
    if "client_work" in metrics:  # tff.learning: metrics['client_work']['train'][...]
        train = metrics["client_work"]["train"]
        return {"train_loss": float(train["loss"]),
                "train_accuracy": float(train["sparse_categorical_accuracy"])}
    return {"train_loss": float(metrics["loss"]), "train_accuracy": float(metrics["accuracy"])}


def model_weights(process, state):
    """The model weights inside a process state (a list of arrays for hand-built ones)."""
    if hasattr(process, "get_model_weights"):
        return process.get_model_weights(state)
    return state


def run_training(process, rounds: int, data_for_round: Callable[[int], list], *,
                 state=None, evaluate: Callable | None = None, evaluate_every: int = 1,
                 progress: bool = True, description: str = "training"):
    """Run `rounds` rounds of `process`; return (final state, history).

    `data_for_round(r)` gives the list of client datasets for round r (1-based), so a
    fixed set or a fresh sample of clients per round is the caller's choice.
    `evaluate(weights)` (for example `models.evaluate_keras` on a test set) adds
    `eval_loss` / `eval_accuracy` after each round (or only every `evaluate_every`
    rounds and after the last, when evaluating is costly). `history` has one dict per round:
    round, seconds, train_loss, train_accuracy (+ eval_* when evaluating).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}.")
    state = process.initialize() if state is None else state
    history = []
    bar = progress_bar(range(1, rounds + 1), description, "round", progress)
    for round_num in bar:
        if _ctrl_c_pressed.is_set():  # a Ctrl-C that a gc callback dropped
            raise KeyboardInterrupt
        federated_data = data_for_round(round_num)
        start = time.perf_counter()
        output = process.next(state, federated_data)
        seconds = time.perf_counter() - start
        state, metrics = (output.state, output.metrics) if hasattr(output, "state") else output
        row = {"round": round_num, "seconds": seconds, **train_metrics(metrics)}
        if evaluate is not None and (round_num % evaluate_every == 0
                                     or round_num == rounds):
            row.update({f"eval_{k}": v for k, v in
                        evaluate(model_weights(process, state)).items()})
        history.append(row)
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items()
                         if k.endswith(("loss", "accuracy"))})
    return state, history
