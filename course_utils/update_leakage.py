"""What a model update reveals about a client's data (notebook 11).

For the course's linear softmax model (logits = x W + b, 784 pixels -> 10 classes) the
gradient of the cross-entropy loss on ONE example (x, label y) is

    dL/dW = x (p - e_y)^T        dL/db = p - e_y        (p = softmax(x W + b))

so after one SGD step with learning rate lr the update is dW = -lr x (p - e_y)^T and
db = -lr (p - e_y): every column j of dW is the image x times the number db_j. Hence

    x = dW[:, j] / db[j]     for any j with db[j] != 0     (`reconstruct_example`)

exactly, whatever the weights, the learning rate or a clipping factor (clipping scales
dW and db alike). The label is the one coordinate of db that is positive.

With several examples in one step (`one_step_update`), column j is a weighted sum of
the examples, sum_i (e_{y_i} - p_i)_j x_i / n: from the course's zero initial weights,
p_i = 1/10, so column j is (sum of the class-j images - 0.1 x sum of all) x lr / n, a
picture of the client's average digit j, and db reveals the label counts exactly
(`label_counts_from_bias`). After several epochs the columns are no longer exact sums,
but still look like the client's digits (`column_images`, `similarity`).

A SUM of K one-example updates from the zero weights (what secure aggregation gives the
server) still leaks: db_j = lr (n_j - K/10) gives the cohort's label counts n_j, and
column j is lr (sum of the class-j images - S/10), S the sum of all K images. For a
label k no client holds, column k = -lr S/10; for a label j that exactly one client
holds, column j - column k = lr x of that client, exactly (`reconstruct_from_sum`).
"""

from __future__ import annotations

import collections

import numpy as np

from course_utils import models

IMAGE_SHAPE = (28, 28)


def one_example_dataset(x, label):
    """A client dataset holding one example: one batch of one (x: [784], label: int)."""
    return examples_dataset(np.asarray(x, np.float32)[None], np.asarray([label]))


def examples_dataset(x, labels, epochs: int = 1, batch_size: int | None = None):
    """A client dataset of `x` [n, 784] and `labels` [n]: `epochs` passes in batches of
    `batch_size` (default: all n in one batch, so one pass is one SGD step)."""
    import tensorflow as tf

    x = np.asarray(x, np.float32)
    labels = np.asarray(labels, np.int32).reshape(-1, 1)
    dataset = tf.data.Dataset.from_tensor_slices(collections.OrderedDict(x=x, y=labels))
    return dataset.batch(batch_size or len(labels)).repeat(epochs)


def client_update(dataset, weights=None, learning_rate: float = 0.1, model=None):
    """The update (new weights - `weights`) a client sends after training on
    `dataset` with the course's hand-built `fedavg.client_update` (plain SGD).
    `weights` default: the course model's zero initial weights. Pass the same `model`
    (`models.create_keras_model()`) to many calls: the tf.function is traced once per
    model, which takes longer than the training."""
    from course_utils import fedavg

    model = model or models.create_keras_model()
    if weights is None:
        weights = [np.zeros(v.shape, np.float32) for v in model.trainable_variables]
    new_weights, _ = fedavg.client_update(model, dataset, weights, learning_rate)
    return [np.asarray(n, np.float64) - np.asarray(w, np.float64)
            for n, w in zip(new_weights, weights)]


def one_step_update(x, labels, weights=None, learning_rate: float = 0.1):
    """The analytic one-step update on all examples at once, in NumPy (the formula of
    the module docstring): [dW [784, 10], db [10]]."""
    x = np.atleast_2d(np.asarray(x, np.float64))
    labels = np.asarray(labels).reshape(-1)
    kernel, bias = ((np.zeros((x.shape[1], models.NUM_CLASSES)), np.zeros(models.NUM_CLASSES))
                    if weights is None else (np.asarray(w, np.float64) for w in weights))
    logits = x @ kernel + bias
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    error = p - np.eye(models.NUM_CLASSES)[labels]      # p - e_y, one row per example
    n = len(labels)
    return [-learning_rate * x.T @ error / n, -learning_rate * error.mean(axis=0)]


def reconstruct_example(update) -> tuple[np.ndarray, int]:
    """(x [784], label) from a one-example update [dW, db]: x = dW[:, j] / db[j] for the
    j where |db| is largest; the label is where db is positive (the largest db)."""
    kernel, bias = (np.asarray(t, np.float64) for t in update)
    if kernel.ndim != 2 or bias.shape != (kernel.shape[1],):
        raise ValueError(f"Expected [kernel [pixels, classes], bias [classes]], got "
                         f"shapes {kernel.shape} and {bias.shape}.")
    j = int(np.argmax(np.abs(bias)))
    if bias[j] == 0:
        raise ValueError("The bias update is zero: nothing to divide by (was the "
                         "update empty?).")
    return kernel[:, j] / bias[j], int(np.argmax(bias))


def label_counts_from_bias(bias_update, num_examples: int, learning_rate: float
                           ) -> np.ndarray:
    """The client's label counts from the bias part of a ONE-step update taken from the
    zero initial weights: db_j = lr (count_j / n - 1/10), so
    count_j = n (db_j / lr + 1/10). (The server knows n: FedAvg weights by it.)"""
    bias_update = np.asarray(bias_update, np.float64)
    return num_examples * (bias_update / learning_rate + 1.0 / bias_update.size)


def label_counts_of_sum(bias_sum, num_clients: int, learning_rate: float) -> np.ndarray:
    """The cohort's label counts from the bias of a SUM of `num_clients` one-example
    updates taken from the zero weights: db_j = lr (n_j - num_clients / 10)."""
    bias_sum = np.asarray(bias_sum, np.float64)
    return bias_sum / learning_rate + num_clients / bias_sum.size


def reconstruct_from_sum(summed, learning_rate: float, counts) -> dict[int, np.ndarray]:
    """{label j: the image of the one client holding j} for each j with counts[j] == 1,
    from a SUM of one-example updates taken from the zero weights: (column j -
    column k) / lr, with k a label no client holds (counts[k] == 0)."""
    kernel = np.asarray(summed[0], np.float64)
    counts = np.round(np.asarray(counts, np.float64)).astype(int)
    absent = np.flatnonzero(counts == 0)
    if absent.size == 0:
        raise ValueError("Every label is held by some client: without an absent label "
                         "the sum of all images, and so each image, is not determined.")
    k = absent[0]
    return {int(j): (kernel[:, j] - kernel[:, k]) / learning_rate
            for j in np.flatnonzero(counts == 1)}


def column_images(kernel_update) -> np.ndarray:
    """The 10 columns of a kernel update as 28x28 images: [10, 28, 28]."""
    kernel_update = np.asarray(kernel_update, np.float64)
    return kernel_update.T.reshape(-1, *IMAGE_SHAPE)


def class_means(x, labels, num_classes: int = models.NUM_CLASSES) -> np.ndarray:
    """The mean image of each class ([classes, 28, 28]; NaN for a class not present)."""
    x = np.asarray(x, np.float64).reshape(-1, *IMAGE_SHAPE)
    labels = np.asarray(labels).reshape(-1)
    return np.stack([x[labels == c].mean(axis=0) if np.any(labels == c)
                     else np.full(IMAGE_SHAPE, np.nan) for c in range(num_classes)])


def similarity(a, b) -> float:
    """Pearson correlation of two images' pixels (1 = the same picture up to
    brightness and contrast; NaN if either is constant or missing)."""
    a, b = np.ravel(np.asarray(a, np.float64)), np.ravel(np.asarray(b, np.float64))
    if np.isnan(a).any() or np.isnan(b).any() or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def column_similarities(kernel_update, own_means, other_means) -> tuple[np.ndarray, np.ndarray]:
    """For each class j: how much column j of the update looks like the CLIENT's own
    mean image of j, and like everybody else's mean image of j."""
    columns = column_images(kernel_update)
    own = np.array([similarity(c, m) for c, m in zip(columns, own_means)])
    other = np.array([similarity(c, m) for c, m in zip(columns, other_means)])
    return own, other
