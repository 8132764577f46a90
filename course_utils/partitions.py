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
- ``label-skewed`` (notebook 09): the pooled examples dealt back to the same client
  ids with the same sizes, but each client's examples follow a label mix of its own:
  drawn from a Dirichlet distribution with concentration `alpha`
  (`dirichlet_label_partition`; small alpha: a few labels per client, large alpha:
  close to IID), or uniform over `k` labels chosen per client (`k_labels_partition`).

The partitions are held in memory as NumPy arrays (`clients_in_memory`) and wrapped as a
TFF `ClientData` (`as_client_data`) with EMNIST's element structure
(``label``: int32, ``pixels``: float32[28, 28]), so `course_utils.data.preprocess` and
`make_federated_data` work on them unchanged. In-memory clients are also faster to
hand to TFF than clients read from SQLite.
"""

from __future__ import annotations

import collections

import numpy as np

from course_utils.settings import COURSE

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


def dirichlet_label_partition(arrays: Arrays, alpha: float, seed: int = 0,
                              num_classes: int = 10) -> Arrays:
    """Label skew: the same ids, sizes and examples, each client's labels drawn from a
    mix `p_i ~ Dirichlet(alpha, ..., alpha)` of its own.

    alpha = 0.1 gives most clients a few labels, alpha = 1 a few dominant ones,
    alpha = 100 nearly the pooled mix. Deterministic for a given `seed`.
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}.")
    rng = np.random.default_rng([seed, 9])
    mixes = rng.dirichlet(np.full(num_classes, float(alpha)), size=len(arrays))
    return _deal_by_label_mix(arrays, mixes, rng)


def k_labels_partition(arrays: Arrays, k: int, seed: int = 0,
                       num_classes: int = 10) -> Arrays:
    """Label skew: the same ids, sizes and examples, each client holding (as far as
    the pool allows) only `k` labels, chosen at random per client, in equal shares.
    Deterministic for a given `seed`."""
    if not 1 <= k <= num_classes:
        raise ValueError(f"k must be between 1 and {num_classes}, got {k}.")
    rng = np.random.default_rng([seed, 10])
    mixes = np.zeros((len(arrays), num_classes))
    for row in mixes:
        row[rng.choice(num_classes, k, replace=False)] = 1.0 / k
    return _deal_by_label_mix(arrays, mixes, rng)


def _deal_by_label_mix(arrays: Arrays, mixes: np.ndarray, rng) -> Arrays:
    """Deal the pooled examples back to the clients of `arrays`, with their sizes: client
    i draws its examples label by label from `mixes[i]`. Clients are served in a random
    order; a label that has run out is dropped from the later clients' mixes (the
    clients served last get what is left, so every example is dealt exactly once)."""
    labels, pixels = _pool(arrays)
    num_classes = mixes.shape[1]
    pools = [list(rng.permutation(np.flatnonzero(labels == c))) for c in range(num_classes)]
    ids, counts = list(arrays), list(sizes(arrays).values())
    chosen = {}
    for i in rng.permutation(len(ids)):
        chosen[ids[i]] = _draw(pools, mixes[i], counts[i], rng)
    result = {}
    for cid in ids:  # in the original client order
        picked = np.sort(np.asarray(chosen[cid], dtype=int))
        result[cid] = collections.OrderedDict(label=labels[picked], pixels=pixels[picked])
    return result


def _draw(pools: list, mix: np.ndarray, n: int, rng) -> list:
    """Take `n` examples from the per-label `pools` following `mix` (renormalised over
    the labels that still have examples)."""
    taken = []
    while len(taken) < n:
        left = np.array([len(pool) for pool in pools], float)
        weights = np.where(left > 0, mix, 0.0)
        if weights.sum() == 0:  # the client's labels ran out: take from what is left
            weights = left
        counts = rng.multinomial(n - len(taken), weights / weights.sum())
        for c, count in enumerate(np.minimum(counts, left.astype(int))):
            taken += [pools[c].pop() for _ in range(count)]
    return taken


def label_skew(arrays: Arrays, num_classes: int = 10) -> float:
    """How different the clients' label mixes are: the mean of `label_distances`.

    Only labels: writers who all write every digit score low even when their styles
    differ, and small clients score high by chance alone."""
    return float(np.mean(label_distances(
        {cid: a["label"] for cid, a in arrays.items()}, num_classes)))


def labels_per_client(arrays: Arrays, share: float = 0.05) -> float:
    """The mean number of labels that make up at least `share` of a client's examples."""
    counts = [np.bincount(a["label"], minlength=10) / len(a["label"]) for a in arrays.values()]
    return float(np.mean([np.sum(c >= share) for c in counts]))


def describe(arrays: Arrays) -> str:
    """One line: clients, examples, and how their sizes spread."""
    n = np.array(list(sizes(arrays).values()))
    return (f"{len(n)} clients, {n.sum():,} examples, {n.min()} to {n.max()} per client "
            f"(median {int(np.median(n))}; the largest 10% of clients hold "
            f"{_top_share(n):.0%} of the examples)")


def _top_share(n: np.ndarray, top: float = 0.1) -> float:
    k = max(1, int(round(top * len(n))))
    return float(np.sort(n)[::-1][:k].sum() / n.sum())


def federated_data_for_round(arrays: Arrays,
                             clients_per_round: int = COURSE.clients_per_round, *,
                             epochs: int = COURSE.epochs,
                             batch_size: int = COURSE.batch_size, seed: int = 0,
                             invert: bool = True):
    """`data_for_round(r)` for in-memory clients (for `training_loop.run_training`): the
    clients `data.sample_clients(ids, clients_per_round, r, seed)`, each client's
    examples shuffled (seeded, anew in every round), preprocessed and batched as in
    `aggregation.federated_data`, then repeated for `epochs` local epochs. Returns a
    `data.RoundData` (it knows the clients' ids and how many clients there are), the
    same for the same round, so every algorithm can train on exactly the same data."""
    from course_utils import aggregation, data

    client_data, ids, cache = as_client_data(arrays), list(arrays), {}

    def data_for_round(round_num: int):
        if round_num not in cache:
            chosen = data.sample_clients(ids, clients_per_round, round_num, seed)
            datasets = aggregation.federated_data(
                client_data, chosen, holdout_fraction=0, batch_size=batch_size,
                seed=seed * 100_003 + round_num, invert=invert)
            cache[round_num] = data.RoundData([d.repeat(epochs) for d in datasets],
                                              chosen, population=len(ids))
        return cache[round_num]

    return data_for_round


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
