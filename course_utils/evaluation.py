"""Central evaluation of the course's model: the ONE evaluator the notebooks (02-07) and
`training_loop.run_training(..., evaluate=...)` use.

`central_evaluator(dataset)` reads a batched (x, y) dataset once into memory and
returns `evaluate(weights) -> {"loss", "accuracy"}`: the loss and accuracy Keras'
`evaluate` reports for the course's one-layer softmax model (`models.evaluate_keras`),
computed with NumPy, fast enough to run after every round of several runs.
"""

from __future__ import annotations

import collections.abc
from typing import Callable

import numpy as np


def dataset_arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    """A batched (x, y) dataset as two NumPy arrays: x float32 [n, 784] and y [n]."""
    xs, ys = [], []
    for batch in dataset.as_numpy_iterator():
        xs.append(np.asarray(batch["x"], np.float32))
        ys.append(np.asarray(batch["y"]).reshape(-1))
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64)


def kernel_and_bias(weights) -> tuple[np.ndarray, np.ndarray]:
    """The model's two weight arrays from what a process gives: a list [kernel, bias],
    tff.learning's `ModelWeights`, or a state mapping that holds them under "weights"
    (notebook 06's learning-rate-decay process)."""
    if isinstance(weights, collections.abc.Mapping):
        weights = weights["weights"]
    kernel, bias = getattr(weights, "trainable", weights)
    return np.asarray(kernel, np.float32), np.asarray(bias, np.float32)


def central_evaluator(dataset) -> Callable[[object], dict[str, float]]:
    """`evaluate(weights) -> {"loss", "accuracy"}` on every example of `dataset` (e.g.
    `data.central_dataset(test)`), for the course's linear softmax model: mean
    cross-entropy and the share of examples whose most likely class is the label."""
    x, y = dataset_arrays(dataset)
    rows = np.arange(len(y))

    def evaluate(weights) -> dict[str, float]:
        kernel, bias = kernel_and_bias(weights)
        logits = (x @ kernel + bias).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return {"loss": float(-log_probs[rows, y].mean()),
                "accuracy": float(np.mean(logits.argmax(axis=1) == y))}

    return evaluate


def keras_evaluator(dataset, keras_model_fn) -> Callable[[object], dict[str, float]]:
    """`evaluate(weights) -> {"loss", "accuracy"}` for any Keras model
    `keras_model_fn()` builds (e.g. `models.create_cnn_model`, notebook 09): Keras'
    `evaluate` on `dataset`, with the compiled model built once and the examples cached
    in memory after the first call. Slower than `central_evaluator`, which only the
    linear model can use."""
    from course_utils import models

    model = models.compiled_keras_model(keras_model_fn=keras_model_fn)
    pairs = dataset.map(lambda batch: (batch["x"], batch["y"])).cache()

    def evaluate(weights) -> dict[str, float]:
        if isinstance(weights, collections.abc.Mapping):
            weights = weights["weights"]
        model.set_weights(list(getattr(weights, "trainable", weights)))
        loss, accuracy = model.evaluate(pairs, verbose=0)
        return {"loss": float(loss), "accuracy": float(accuracy)}

    return evaluate
