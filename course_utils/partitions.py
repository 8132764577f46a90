"""Re-partitioning federated EMNIST: the same examples, dealt to clients differently.

Notebook 07 compares aggregation rules on three partitions of the same writers:

- ``writers``: each client is one real writer (non-IID: every writer has a style and
  a label mix of their own). This is how federated EMNIST comes.
- ``iid``: the writers' examples are pooled, shuffled and dealt back to the *same*
  client ids with the *same* sizes, so only the distribution changes: every client
  now holds a random sample of everybody's handwriting.
- ``unequal``: the real writers again, but each keeps only a random share of its
  examples (log-uniform between `smallest_fraction` and 1), so client sizes differ
  by an order of magnitude or more.

The partitions are held in memory as NumPy arrays (`clients_in_memory`) and wrapped as a
TFF `ClientData` (`as_client_data`) with EMNIST's element structure
(``label``: int32, ``pixels``: float32[28, 28]), so `course_utils.data.preprocess` and
`make_federated_data` work on them unchanged. In-memory clients are also faster to
hand to TFF than clients read from SQLite.
"""

from __future__ import annotations

import collections

import numpy as np

Arrays = dict  # client id -> OrderedDict(label=int32[n], pixels=float32[n, 28, 28])


def clients_in_memory(client_data, client_ids) -> Arrays:
    """The examples of `client_ids` in `client_data` read into memory, in EMNIST's
    element structure (OrderedDict(label, pixels) per client, in the order of
    `client_ids`, examples in their stored order): what the partitions below deal out
    and `as_client_data` wraps. (For plotting, `plots.images_and_labels_by_client`.)"""
    client_ids = list(client_ids)
    try:
        labels, pixels, owners = _read_in_one_pipeline(client_data, client_ids)
    except NotImplementedError:  # in-memory ClientData: read client by client
        labels, pixels, owners = _read_client_by_client(client_data, client_ids)
    arrays = {}
    for index, cid in enumerate(client_ids):
        mine = owners == index
        if not mine.any():
            raise ValueError(f"Client {cid!r} has no examples.")
        arrays[cid] = collections.OrderedDict(label=labels[mine].astype(np.int32),
                                              pixels=pixels[mine].astype(np.float32))
    return arrays


def _read_in_one_pipeline(client_data, client_ids):
    """One tf.data pipeline over all clients: much faster than one per client."""
    import tensorflow as tf

    dataset_fn = client_data.serializable_dataset_fn
    dataset = tf.data.Dataset.from_tensor_slices(np.arange(len(client_ids))).flat_map(
        lambda i: dataset_fn(tf.gather(client_ids, i)).map(lambda e: (i, e)))
    owners, labels, pixels = [], [], []
    for index, example in dataset.batch(4096).as_numpy_iterator():
        owners.append(index)
        labels.append(example["label"])
        pixels.append(example["pixels"])
    if not owners:
        return np.zeros(0, np.int32), np.zeros((0, 28, 28), np.float32), np.zeros(0, int)
    return np.concatenate(labels), np.concatenate(pixels), np.concatenate(owners)


def _read_client_by_client(client_data, client_ids):
    owners, labels, pixels = [], [], []
    for index, cid in enumerate(client_ids):
        for example in client_data.create_tf_dataset_for_client(cid).as_numpy_iterator():
            owners.append(index)
            labels.append(example["label"])
            pixels.append(example["pixels"])
    return (np.asarray(labels, np.int32), np.asarray(pixels, np.float32).reshape(-1, 28, 28),
            np.asarray(owners, int))


def sizes(arrays: Arrays) -> dict[str, int]:
    """Number of examples of each client."""
    return {cid: len(a["label"]) for cid, a in arrays.items()}


def _pool(arrays: Arrays):
    labels = np.concatenate([a["label"] for a in arrays.values()])
    pixels = np.concatenate([a["pixels"] for a in arrays.values()])
    return labels, pixels


def iid_partition(arrays: Arrays, seed: int = 0) -> Arrays:
    """Pool all examples, shuffle, and deal them back with the same ids and sizes."""
    labels, pixels = _pool(arrays)
    order = np.random.default_rng(seed).permutation(len(labels))
    result, start = {}, 0
    for cid, n in sizes(arrays).items():
        chosen = order[start:start + n]
        start += n
        result[cid] = collections.OrderedDict(label=labels[chosen], pixels=pixels[chosen])
    return result


def unequal_partition(arrays: Arrays, seed: int = 0, smallest_fraction: float = 0.05,
                      min_examples: int = 5) -> Arrays:
    """Each client keeps a random share of its own examples, drawn log-uniformly in
    [`smallest_fraction`, 1] (at least `min_examples`, or all it has if fewer)."""
    if not 0 < smallest_fraction <= 1:
        raise ValueError(f"smallest_fraction must be in (0, 1], got {smallest_fraction}.")
    rng = np.random.default_rng(seed)
    result = {}
    for cid, a in arrays.items():
        n = len(a["label"])
        fraction = np.exp(rng.uniform(np.log(smallest_fraction), 0.0))
        keep = min(n, max(min_examples, int(round(fraction * n))))
        chosen = np.sort(rng.choice(n, keep, replace=False))
        result[cid] = collections.OrderedDict(label=a["label"][chosen],
                                              pixels=a["pixels"][chosen])
    return result


def label_distances(labels_by_client: dict, num_classes: int = 10) -> np.ndarray:
    """Per client, the total-variation distance between its label distribution and the
    pooled one: 0 = the same mix of digits, 1 = no digit in common."""
    pooled = np.bincount(np.concatenate(list(labels_by_client.values())),
                         minlength=num_classes)
    pooled = pooled / pooled.sum()
    return np.array([0.5 * np.abs(np.bincount(labels, minlength=num_classes) / len(labels)
                                  - pooled).sum() for labels in labels_by_client.values()])


def labels_dealt_at_random(labels_by_client: dict, seed: int = 0) -> dict:
    """The same clients and sizes, with all labels pooled and dealt out at random: the
    label skew that chance alone gives clients of these sizes."""
    pooled = np.concatenate(list(labels_by_client.values()))
    np.random.default_rng(seed).shuffle(pooled)
    sizes = np.cumsum([len(labels) for labels in labels_by_client.values()])[:-1]
    return dict(zip(labels_by_client, np.split(pooled, sizes)))


def label_skew(arrays: Arrays, num_classes: int = 10) -> float:
    """How different the clients' label mixes are: the mean of `label_distances`.

    Only labels: writers who all write every digit score low even when their styles
    differ, and small clients score high by chance alone."""
    return float(np.mean(label_distances(
        {cid: a["label"] for cid, a in arrays.items()}, num_classes)))


def describe(arrays: Arrays) -> str:
    """One line: clients, examples, and how their sizes spread."""
    n = np.array(list(sizes(arrays).values()))
    return (f"{len(n)} clients, {n.sum():,} examples, {n.min()} to {n.max()} per client "
            f"(median {int(np.median(n))}; the largest 10% of clients hold "
            f"{_top_share(n):.0%} of the examples)")


def _top_share(n: np.ndarray, top: float = 0.1) -> float:
    k = max(1, int(round(top * len(n))))
    return float(np.sort(n)[::-1][:k].sum() / n.sum())


def as_client_data(arrays: Arrays):
    """Wrap in-memory client arrays as a TFF `ClientData` (EMNIST's element structure)."""
    import tensorflow as tf
    import tensorflow_federated as tff

    class InMemoryClientData(tff.simulation.datasets.ClientData):
        """Clients held as NumPy arrays; datasets are built on the Python side."""

        def __init__(self, arrays):
            super().__init__()
            self._arrays = dict(arrays)
            first = next(iter(self._arrays.values()))
            self._element_spec = tf.data.Dataset.from_tensor_slices(first).element_spec

        @property
        def client_ids(self):
            return list(self._arrays)

        @property
        def element_type_structure(self):
            return self._element_spec

        @property
        def serializable_dataset_fn(self):
            raise NotImplementedError(
                "This in-memory ClientData builds datasets in Python: use "
                "create_tf_dataset_for_client(client_id).")

        def arrays_for_client(self, client_id):
            """The client's examples as NumPy arrays (label, pixels)."""
            return self._arrays[client_id]

        def create_tf_dataset_for_client(self, client_id):
            if client_id not in self._arrays:
                raise ValueError(f"ID [{client_id}] is not a client in this ClientData.")
            return tf.data.Dataset.from_tensor_slices(self._arrays[client_id])

        def create_tf_dataset_from_all_clients(self, seed=None):
            labels, pixels = _pool(self._arrays)
            return tf.data.Dataset.from_tensor_slices(
                collections.OrderedDict(label=labels, pixels=pixels))

    return InMemoryClientData(arrays)
