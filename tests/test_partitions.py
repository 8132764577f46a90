"""Label-skewed partitions (course_utils.partitions, notebook 09): same ids, sizes and
examples as the writers, deterministic, as skewed as asked; in-memory round data."""

import collections

import numpy as np
import pytest

from course_utils import partitions


def fake_writers(num_clients=40, seed=0):
    """Writers with every digit, of varied sizes; each example's pixels encode a unique
    id, so that examples can be followed through a partition."""
    rng = np.random.default_rng(seed)
    arrays, next_id = {}, 0
    for i in range(num_clients):
        n = int(rng.integers(20, 60))
        ids = np.arange(next_id, next_id + n)
        next_id += n
        arrays[f"w{i:02d}"] = collections.OrderedDict(
            label=rng.integers(0, 10, n).astype(np.int32),
            pixels=np.broadcast_to(ids[:, None, None], (n, 28, 28)).astype(np.float32))
    return arrays


def example_ids(arrays):
    return sorted(int(p) for a in arrays.values() for p in a["pixels"][:, 0, 0])


def labelled(arrays):
    return sorted((int(p), int(label)) for a in arrays.values()
                  for p, label in zip(a["pixels"][:, 0, 0], a["label"]))


@pytest.mark.parametrize("deal", [
    lambda a: partitions.dirichlet_label_partition(a, 0.1, seed=3),
    lambda a: partitions.dirichlet_label_partition(a, 10.0, seed=3),
    lambda a: partitions.k_labels_partition(a, 2, seed=3),
], ids=["dirichlet-0.1", "dirichlet-10", "2-labels"])
def test_same_ids_sizes_and_examples(deal):
    writers = fake_writers()
    skewed = deal(writers)
    assert list(skewed) == list(writers)
    assert partitions.sizes(skewed) == partitions.sizes(writers)
    assert labelled(skewed) == labelled(writers)  # every example once, label kept


def test_deterministic_for_a_seed():
    writers = fake_writers()
    a = partitions.dirichlet_label_partition(writers, 0.3, seed=1)
    b = partitions.dirichlet_label_partition(writers, 0.3, seed=1)
    c = partitions.dirichlet_label_partition(writers, 0.3, seed=2)
    assert all(np.array_equal(a[k]["label"], b[k]["label"]) for k in a)
    assert not all(np.array_equal(a[k]["label"], c[k]["label"]) for k in a)


def test_small_alpha_is_skewed_large_alpha_is_not():
    writers = fake_writers(num_clients=60)
    skew = {alpha: partitions.label_skew(partitions.dirichlet_label_partition(writers, alpha))
            for alpha in (0.05, 1.0, 1000.0)}
    assert skew[0.05] > 0.6 > skew[1.0] > skew[1000.0]
    assert skew[1000.0] <= partitions.label_skew(partitions.iid_partition(writers)) + 0.05
    assert partitions.labels_per_client(
        partitions.dirichlet_label_partition(writers, 0.05)) < 3


def test_k_labels_per_client():
    skewed = partitions.k_labels_partition(fake_writers(num_clients=60), 2, seed=0)
    counts = [len(np.unique(a["label"])) for a in skewed.values()]
    # all but the clients served last (who get what is left) hold exactly 2 labels
    assert np.mean(np.array(counts) <= 2) > 0.8


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="alpha must be positive"):
        partitions.dirichlet_label_partition(fake_writers(), 0.0)
    with pytest.raises(ValueError, match="k must be between 1 and 10"):
        partitions.k_labels_partition(fake_writers(), 11)


def test_federated_data_for_round_knows_its_clients():
    writers = fake_writers(num_clients=12)
    data_for_round = partitions.federated_data_for_round(writers, 4, epochs=3, batch_size=7)
    first = data_for_round(1)
    assert len(first) == 4 and first.population == 12
    assert len(set(first.client_ids)) == 4 and set(first.client_ids) <= set(writers)
    assert data_for_round(1) is first  # cached: every algorithm gets the same data
    cid = first.client_ids[0]
    seen = sum(int(b["y"].shape[0]) for b in first[0])
    assert seen == 3 * len(writers[cid]["label"])  # epochs repeated
    assert next(iter(first[0]))["x"].shape[1] == 784
