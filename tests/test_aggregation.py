"""course_utils.aggregation and course_utils.partitions against NumPy references."""


import numpy as np
import pytest

from course_utils import aggregation as agg
from course_utils import partitions

# Three small known client models: [kernel 2x2, bias 2], and their example counts.
MODELS = [
    [np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, -1.0])],
    [np.array([[5.0, 6.0], [7.0, 8.0]]), np.array([0.0, 3.0])],
    [np.array([[-3.0, 0.0], [2.0, 9.0]]), np.array([2.0, 1.0])],
]
COUNTS = [10.0, 30.0, 60.0]


def close(a, b):
    return all(np.allclose(x, y) for x, y in zip(a, b)) and len(a) == len(b)


# --- NumPy references --------------------------------------------------------------

def test_simple_mean_is_the_layerwise_mean():
    expected = [np.mean([m[i] for m in MODELS], axis=0) for i in range(2)]
    assert close(agg.mean_of_models(MODELS), expected)


def test_weighted_mean_matches_numpy_average():
    expected = [np.average([m[i] for m in MODELS], axis=0, weights=COUNTS) for i in range(2)]
    assert close(agg.mean_of_models(MODELS, COUNTS), expected)


def test_weighted_mean_rejects_bad_weights():
    with pytest.raises(ValueError, match="one weight per client"):
        agg.mean_of_models(MODELS, [1.0, 2.0])
    with pytest.raises(ValueError, match="not all zero"):
        agg.mean_of_models(MODELS, [0.0, 0.0, 0.0])


def test_article_loop_is_not_the_mean():
    m1, m2, m3 = (m[0] for m in MODELS)
    article = agg.article_simple_average(MODELS)
    assert np.allclose(article[0], (m1 + m2) / 9 + m3 / 3)
    assert not np.allclose(article[0], agg.mean_of_models(MODELS)[0])
    # scalar "models" too: clients 1, 2, 3 average to 2, the loop gives 4/3
    assert np.isclose(agg.article_simple_average([1.0, 2.0, 3.0])[0], 4 / 3)
    assert np.isclose(agg.mean_of_models([1.0, 2.0, 3.0])[0], 2.0)


def test_incremental_weighted_average_equals_weighted_mean():
    assert close(agg.incremental_weighted_average(MODELS, COUNTS),
                 agg.mean_of_models(MODELS, COUNTS))
    rng = np.random.default_rng(0)
    models = [[rng.normal(size=(3, 2)), rng.normal(size=2)] for _ in range(7)]
    weights = rng.integers(1, 100, size=7)
    assert close(agg.incremental_weighted_average(models, weights),
                 agg.mean_of_models(models, weights))


def test_trimmed_mean_reference():
    values = np.array([[1.0, 10.0], [2.0, -50.0], [100.0, 0.0], [3.0, 1.0], [-9.0, 2.0]])
    assert np.allclose(agg.trimmed_mean_reference(values, 1), [2.0, 1.0])
    assert np.allclose(agg.trimmed_mean_reference(values, 0), values.mean(axis=0))
    assert np.allclose(agg.trimmed_mean_reference(values, 2), np.median(values, axis=0))
    with pytest.raises(ValueError):
        agg.trimmed_mean_reference(values, 3)


# --- bytes -------------------------------------------------------------------------

def test_type_bytes():
    import tensorflow_federated as tff

    assert agg.type_bytes(tff.TensorType(np.float32, [784, 10])) == 31_360
    assert agg.type_bytes(tff.StructType([tff.TensorType(np.float32, [784, 10]),
                                          tff.TensorType(np.float32, [10])])) == 31_400
    assert agg.type_bytes(tff.TensorType(np.float64)) == 8
    with pytest.raises(ValueError, match="unknown size"):
        agg.type_bytes(tff.TensorType(np.float32, [None, 3]))


def test_traffic_per_method():
    simple, weighted, fedsgd, quality = (agg.traffic(m) for m in
                                         ("simple", "weighted", "fedsgd", "quality"))
    assert simple.download == weighted.download == quality.download == 31_400
    assert simple.upload_parts == {"weights": 31_400, "metrics": 8, "num_examples": 4}
    assert weighted.upload_parts["weight"] == quality.upload_parts["weight"] == 4
    assert weighted.upload == simple.upload + 4 == fedsgd.upload == quality.upload - 4
    assert weighted.per_round(10) == 10 * (31_400 + 31_416)


def test_quality_methods_need_a_held_out_batch():
    with pytest.raises(ValueError, match="holdout=True"):
        agg.build_client_work("hybrid", holdout=False)


# --- federated computations --------------------------------------------------------

def _tff_model_type():
    import tensorflow_federated as tff

    return tff.StructWithPythonType(
        [tff.TensorType(np.float32, [2, 2]), tff.TensorType(np.float32, [2])], list)


def _f32(models):
    return [[np.asarray(layer, np.float32) for layer in m] for m in models]


def test_mean_computations_match_numpy():
    simple = agg.mean_computation(_tff_model_type(), weighted=False)
    weighted = agg.mean_computation(_tff_model_type(), weighted=True)
    assert str(simple.type_signature) == (
        "({<float32[2,2],float32[2]>}@CLIENTS -> <float32[2,2],float32[2]>@SERVER)")
    assert close(simple(_f32(MODELS)), agg.mean_of_models(MODELS))
    assert close(weighted(_f32(MODELS), [np.float32(c) for c in COUNTS]),
                 agg.mean_of_models(MODELS, COUNTS))


def test_robust_computation_matches_numpy_trimmed_mean():
    rng = np.random.default_rng(1)
    models = [[rng.normal(size=(2, 2)), rng.normal(size=2)] for _ in range(5)]
    models[2][0][0, 0] = 1e6
    robust = agg.robust_computation(_tff_model_type(), lambda t: agg.trimmed_mean_parts(t, 1))
    result = robust(_f32(models))
    for layer in range(2):
        stacked = np.stack([m[layer] for m in models])
        assert np.allclose(result[layer], agg.trimmed_mean_reference(stacked, 1), atol=1e-5)


# --- client work and processes on small hand-made data ------------------------------

def _examples(n, seed):
    rng = np.random.default_rng(seed)
    return {"x": rng.uniform(size=(n, 784)).astype(np.float32),
            "y": rng.integers(0, 10, size=(n, 1)).astype(np.int32)}


def _client_dataset(n, seed, holdout_fraction=0.2):
    return agg.client_dataset(_examples(n, seed), holdout_fraction, batch_size=5)


def _arrays(dataset):
    x = np.concatenate([b["x"] for b in dataset.as_numpy_iterator()])
    y = np.concatenate([b["y"] for b in dataset.as_numpy_iterator()]).reshape(-1)
    return x, y


def test_client_dataset_puts_the_held_out_examples_in_the_first_batch():
    examples = _examples(23, 0)
    batches = list(agg.client_dataset(examples, 0.2, batch_size=5).as_numpy_iterator())
    assert [len(b["y"]) for b in batches] == [4, 5, 5, 5, 4]
    assert np.array_equal(np.concatenate([b["x"] for b in batches]), examples["x"])
    no_holdout = list(agg.client_dataset(examples, 0.0, batch_size=5).as_numpy_iterator())
    assert [len(b["y"]) for b in no_holdout] == [5, 5, 5, 5, 3]
    for n, sizes in ((1, [1]), (2, [1, 1]), (5, [1, 4])):
        small = agg.client_dataset(_examples(n, 1), 0.2, batch_size=20)
        assert [len(b["y"]) for b in small.as_numpy_iterator()] == sizes


def test_federated_data_is_the_same_for_in_memory_and_sqlite_clients(sample_dir):
    from course_utils import data

    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    ids = train.client_ids[:3]
    in_memory = partitions.as_client_data(partitions.clients_in_memory(train, ids))
    for client_data in (train, in_memory):
        datasets = agg.federated_data(client_data, ids, seed=1)
        for cid, dataset in zip(ids, datasets):
            x, y = _arrays(dataset)
            n = len(list(train.create_tf_dataset_for_client(cid)))
            first = next(iter(dataset))
            assert len(y) == n and len(first["y"]) == max(1, int(0.2 * n))
            assert x.shape == (n, 784) and 0.0 <= x.min() and x.max() <= 1.0
    a, b = (_arrays(agg.federated_data(in_memory, ids[:1], seed=s)[0])[1] for s in (1, 1))
    assert np.array_equal(a, b)  # the same seed shuffles the same way


@pytest.fixture(scope="module")
def client_datasets():
    return [_client_dataset(n, seed) for seed, n in enumerate([12, 30, 47])]


@pytest.mark.parametrize("method", ["simple", "weighted", "quality", "hybrid"])
def test_process_aggregates_client_models_as_the_method_says(method, client_datasets):
    work = agg.build_client_work(method, local_epochs=2)
    process = agg.build_process(method, local_epochs=2)
    state = process.initialize()
    outputs = [work(ds, state) for ds in client_datasets]
    weights = None if method == "simple" else [float(o["weight"]) for o in outputs]
    if method in ("quality", "hybrid"):
        quality = [max(float(o["metrics"]["holdout_accuracy"]), agg.QUALITY_FLOOR)
                   for o in outputs]
        counts = [float(o["num_examples"]) for o in outputs]
        expected_weights = quality if method == "quality" else np.multiply(counts, quality)
        assert np.allclose(weights, expected_weights)
    if method == "weighted":
        assert weights == [10.0, 24.0, 38.0]  # 80% of 12, 30, 47 (rounded down held out)
    new_state, metrics = process.next(state, client_datasets)
    expected = agg.mean_of_models([o["weights"] for o in outputs], weights)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(new_state, expected))
    quality_metric = {"holdout_accuracy"} if method in ("quality", "hybrid") else set()
    assert set(metrics) == {"loss", "accuracy"} | quality_metric


@pytest.mark.parametrize("method", ["quality", "hybrid"])
def test_quality_is_the_trained_models_accuracy_on_the_first_batch(method, client_datasets):
    work = agg.build_client_work(method, local_epochs=3)
    zeros = [np.zeros((784, 10), np.float32), np.zeros(10, np.float32)]
    for dataset in client_datasets:
        for _ in range(3):  # the same every time: read after training, never before
            output = work(dataset, zeros)
            kernel, bias = output["weights"]
            held_out = next(iter(dataset.as_numpy_iterator()))
            predicted = np.argmax(held_out["x"] @ kernel + bias, axis=1)
            accuracy = np.mean(predicted == held_out["y"].reshape(-1))
            assert output["metrics"]["holdout_accuracy"] == pytest.approx(accuracy)


def test_fedsgd_client_takes_one_full_batch_gradient_step(client_datasets):
    lr = 0.5
    work = agg.build_client_work("fedsgd", client_learning_rate=lr, holdout=False)
    zeros = [np.zeros((784, 10), np.float32), np.zeros(10, np.float32)]
    dataset = _client_dataset(30, 5, holdout_fraction=0.0)
    kernel, bias = work(dataset, zeros)["weights"]
    x, y = _arrays(dataset)
    probs = np.full((len(y), 10), 0.1)          # softmax of zero logits
    error = probs - np.eye(10)[y]               # d loss / d logits, per example
    assert np.allclose(kernel, -lr * x.T @ error / len(y), atol=1e-6)
    assert np.allclose(bias, -lr * error.mean(axis=0), atol=1e-6)


def test_robust_process_with_mean_and_honest_clients_equals_simple(client_datasets):
    simple = agg.build_process("simple", local_epochs=1)
    robust = agg.WithCorruptedClients(agg.build_robust_process(
        lambda t: agg.stacking_parts(t, agg.tf_mean), local_epochs=1), 0)
    s1, _ = simple.next(simple.initialize(), client_datasets)
    s2, _ = robust.next(robust.initialize(), client_datasets)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(s1, s2))
    # one corrupted client with factor -10: the mean moves, far from the honest one
    attacked = agg.WithCorruptedClients(robust.process, 1, factor=-10.0)
    s3, _ = attacked.next(attacked.initialize(), client_datasets)
    assert not np.allclose(s1[0], s3[0], atol=1e-3)


# --- registry ----------------------------------------------------------------------

def test_methods_are_registered_and_build_from_a_train_config(client_datasets):
    from course_utils.cli import algorithms

    available = algorithms.available()
    for name in ("agg-simple", "agg-weighted", "agg-quality", "agg-hybrid", "fedsgd"):
        assert name in available and "notebook 07" in available[name].description
    config = algorithms.CourseSettings(client_learning_rate=0.2, extra={"local_epochs": 2})
    process = algorithms.get("agg-hybrid").build(config)
    state, metrics = process.next(process.initialize(), client_datasets)
    direct = agg.build_process("hybrid", local_epochs=2, client_learning_rate=0.2)
    expected, expected_metrics = direct.next(direct.initialize(), client_datasets)
    assert [np.shape(w) for w in state] == [(784, 10), (10,)]
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(state, expected))
    assert float(metrics["accuracy"]) == pytest.approx(float(expected_metrics["accuracy"]))
    default = algorithms.get("agg-hybrid").build(algorithms.CourseSettings(
        client_learning_rate=0.2))  # local_epochs defaults to 1: another model
    other, _ = default.next(default.initialize(), client_datasets)
    assert not np.allclose(other[0], state[0], atol=1e-4)


# --- partitions --------------------------------------------------------------------

@pytest.fixture(scope="module")
def writer_arrays(sample_dir):
    from course_utils import data

    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    ids = train.client_ids[:12]
    return train, ids, partitions.clients_in_memory(train, ids)


def test_clients_in_memory_match_the_client_datasets(writer_arrays):
    train, ids, arrays = writer_arrays
    assert list(arrays) == ids
    for cid in ids[:3]:
        examples = list(train.create_tf_dataset_for_client(cid).as_numpy_iterator())
        assert np.array_equal(arrays[cid]["label"], [e["label"] for e in examples])
        assert np.array_equal(arrays[cid]["pixels"], np.stack([e["pixels"] for e in examples]))


def _rows(arrays):
    labels = np.concatenate([a["label"] for a in arrays.values()])
    pixels = np.concatenate([a["pixels"] for a in arrays.values()]).reshape(len(labels), -1)
    order = np.lexsort(np.column_stack([labels, pixels]).T)
    return labels[order], pixels[order]


def test_iid_partition_keeps_ids_sizes_and_examples(writer_arrays):
    _, _, arrays = writer_arrays
    iid = partitions.iid_partition(arrays, seed=0)
    assert partitions.sizes(iid) == partitions.sizes(arrays)
    for a, b in zip(_rows(arrays), _rows(iid)):
        assert np.array_equal(a, b)
    # Every IID client holds examples of many writers (not one writer's, reshuffled).
    # (Label skew cannot show it: these real writers' digit mixes are already more even
    # than a random deal, notebook 01.)
    source = {row.tobytes(): writer for writer, a in arrays.items() for row in a["pixels"]}
    counts = []
    for a in iid.values():
        writers = {source[row.tobytes()] for row in a["pixels"]}
        assert len(writers) >= min(len(a["label"]), len(arrays)) // 3, writers
        counts.append(len(writers))
    assert np.median(counts) >= len(arrays) // 2, counts  # an identity deal gives 1s
    assert partitions.iid_partition(arrays, seed=0)[next(iter(arrays))]["label"].tolist() == \
        iid[next(iter(arrays))]["label"].tolist()


def test_unequal_partition_keeps_subsets_of_each_writer(writer_arrays):
    _, _, arrays = writer_arrays
    unequal = partitions.unequal_partition(arrays, seed=0, smallest_fraction=0.05,
                                           min_examples=5)
    before, after = partitions.sizes(arrays), partitions.sizes(unequal)
    assert list(after) == list(before)
    assert all(min(5, before[c]) <= after[c] <= before[c] for c in before)
    assert max(after.values()) / min(after.values()) > max(before.values()) / min(before.values())
    for cid in list(arrays)[:4]:
        mine = {p.tobytes() for p in arrays[cid]["pixels"]}
        assert all(p.tobytes() in mine for p in unequal[cid]["pixels"])
    with pytest.raises(ValueError):
        partitions.unequal_partition(arrays, smallest_fraction=0.0)


def test_as_client_data_behaves_like_the_original(writer_arrays):
    from course_utils import data

    train, ids, arrays = writer_arrays
    client_data = partitions.as_client_data(arrays)
    assert client_data.client_ids == ids
    assert client_data.element_type_structure == train.element_type_structure
    ours = next(iter(data.make_federated_data(client_data, ids[:1])[0]))
    theirs = next(iter(data.make_federated_data(train, ids[:1])[0]))
    assert np.array_equal(ours["x"], theirs["x"]) and np.array_equal(ours["y"], theirs["y"])
    total = sum(1 for _ in client_data.create_tf_dataset_from_all_clients())
    assert total == sum(partitions.sizes(arrays).values())
    assert partitions.clients_in_memory(client_data, ids[:2])[ids[1]]["label"].tolist() == \
        arrays[ids[1]]["label"].tolist()
    assert "12 clients" in partitions.describe(arrays)


# --- notebook 07's claim: the trimmed mean resists the attack that breaks the mean ---

def test_trimmed_mean_resists_the_attack_that_breaks_the_mean(sample_dir):
    """2 of 10 clients per round send their update times -10 (notebook 07, section 4),
    on 30 real writers, 3 rounds. The plain mean falls to chance or below; the solved
    notebook's trimmed mean (trim=2) keeps learning. Measured for seeds 0-3: mean
    0.013-0.053, trimmed 0.654-0.694 (the notebook, 100 writers and 8 rounds: 0.035
    and 0.704)."""
    from notebook_code import notebook_namespace

    from course_utils import data, evaluation

    trimmed_mean_parts = notebook_namespace(
        "solutions/07_aggregation_methods.ipynb")["trimmed_mean_parts"]
    train, test = data.load_emnist(data=str(sample_dir), verbose=False)
    ids = data.sample_clients(train.client_ids, 30, round_num=0, seed=0)
    writers = partitions.as_client_data(partitions.clients_in_memory(train, ids))

    def under_attack(parts_fn):
        return agg.WithCorruptedClients(agg.build_robust_process(parts_fn), 2,
                                        factor=-10.0)

    histories = agg.run_comparison(
        {"mean": under_attack(lambda t: agg.stacking_parts(t, agg.tf_mean)),
         "trimmed": under_attack(lambda t: trimmed_mean_parts(t, 2))},
        writers, ids, rounds=3, clients_per_round=10, seed=0, progress=False,
        evaluate=evaluation.central_evaluator(data.central_dataset(test)))
    mean, trimmed = (histories[name][-1]["eval_accuracy"] for name in ("mean", "trimmed"))
    assert mean < 0.15, histories["mean"]          # chance is 0.1
    assert trimmed > 0.55, histories["trimmed"]
    assert trimmed - mean > 0.45


# --- the two objectives, measured on the clients' own examples ----------------------

def test_client_objectives_weigh_examples_or_clients_as_their_rule_does():
    """A large client the model fits and a small one it gets wrong: the loss over all
    examples (weighting by examples) is dominated by the large client; the mean of the
    clients' losses (the simple mean) counts the small one as much."""
    rng = np.random.default_rng(0)
    pixels = rng.uniform(size=(13, 28, 28)).astype(np.float32)
    arrays = {"large": {"label": np.zeros(10, np.int32), "pixels": pixels[:10]},
              "small": {"label": np.ones(3, np.int32), "pixels": pixels[10:]},
              "mixed": {"label": np.array([0, 1], np.int32), "pixels": pixels[:2]}}
    kernel, bias = np.zeros((784, 10), np.float32), np.zeros(10, np.float32)
    bias[0] = 2.0  # predicts 0 everywhere, with probability e^2 / (e^2 + 9)
    measured = agg.client_objectives(arrays)([kernel, bias])

    p0 = np.exp(2.0) / (np.exp(2.0) + 9.0)
    right, wrong = -np.log(p0), -np.log((1 - p0) / 9)
    client_losses = [right, wrong, (right + wrong) / 2]
    assert measured["example_loss"] == pytest.approx((11 * right + 4 * wrong) / 15)
    assert measured["client_loss"] == pytest.approx(np.mean(client_losses))
    assert measured["example_accuracy"] == pytest.approx(11 / 15)
    assert measured["client_accuracy"] == pytest.approx((1.0 + 0.0 + 0.5) / 3)
    assert measured["client_accuracy_p10"] == pytest.approx(np.percentile([1, 0, 0.5], 10))
    assert measured["example_loss"] < measured["client_loss"]


def test_client_objectives_read_inverted_pixels_like_the_training_data():
    pixels = np.zeros((1, 28, 28), np.float32)
    arrays = {"a": {"label": np.array([3], np.int32), "pixels": pixels}}
    kernel = np.zeros((784, 10), np.float32)
    kernel[:, 3] = 1.0  # class 3 wins only when the pixels are not all zero
    assert agg.client_objectives(arrays)([kernel, np.zeros(10)])["client_accuracy"] == 1.0
    assert agg.client_objectives(arrays, invert=False)(
        [kernel, np.zeros(10)])["client_accuracy"] == 0.0


def test_objectives_table_has_a_row_per_run():
    row = {key: 0.5 for key in agg.OBJECTIVE_COLUMNS}
    results = {"IID": {"simple": [row], "weighted": [{**row, "eval_client_loss": 1.25}]}}
    lines = agg.objectives_table(results).splitlines()
    assert len(lines) == 2 + 2
    assert lines[3] == "| IID | weighted | 0.500 | 0.500 | 0.500 | 0.500 | 1.250 |"
    assert len(agg.objectives_table(results, methods=["simple"]).splitlines()) == 3
