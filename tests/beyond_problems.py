"""Tiny federated problems shared by the notebook-10 tests (FedProx, SCAFFOLD, server
optimizers): a few clients with a handful of sparse 784-pixel examples each."""

import collections

import numpy as np
import tensorflow as tf


def client_examples(seed: int = 0, sizes=(12, 20, 7), labels=((0, 1), (2, 3, 4), (5, 9))):
    """[(x, y)] per client: sparse inputs in [0, 1], labels from each client's own set."""
    rng = np.random.default_rng(seed)
    examples = []
    for n, own in zip(sizes, labels):
        x = ((rng.random((n, 784)) < 0.2) * rng.random((n, 784))).astype(np.float32)
        y = rng.choice(own, n).reshape(-1, 1).astype(np.int32)
        examples.append((x, y))
    return examples


def datasets(examples, batch_size: int = 5, epochs: int = 2) -> list:
    return [tf.data.Dataset.from_tensor_slices(collections.OrderedDict(x=x, y=y))
            .batch(batch_size).repeat(epochs) for x, y in examples]


def run(process, federated_data, rounds: int = 3):
    """The state after `rounds` rounds on the same data (either kind of `next`)."""
    state = process.initialize()
    for _ in range(rounds):
        output = process.next(state, federated_data)
        state = output.state if hasattr(output, "state") else output[0]
    return state
