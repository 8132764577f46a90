"""course_utils.data: the data switch, the offline dataset, corrupt caches, helpers."""

import collections
import os
import sqlite3
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import sha256

from course_utils import data, offline_data


def _copy(src_dir, dst_dir, size=None):
    dst_dir.mkdir(parents=True, exist_ok=True)
    content = (src_dir / data.SQLITE_NAME).read_bytes()
    (dst_dir / data.SQLITE_NAME).write_bytes(content[:size] if size else content)
    return dst_dir


# --- the offline dataset -----------------------------------------------------------

def test_offline_dataset_loads_through_tffs_loader(offline_dir):
    train, test = data.load_emnist(data=str(offline_dir), verbose=False)
    assert len(train.client_ids) == offline_data.NUM_WRITERS
    assert set(test.client_ids) == set(train.client_ids)
    assert train.element_type_structure == collections.OrderedDict(
        label=tf.TensorSpec([], tf.int32), pixels=tf.TensorSpec([28, 28], tf.float32))
    # TFF's convention: 1.0 is background, so most pixels are (close to) 1.
    pixels = np.stack([e["pixels"].numpy() for e in
                       train.create_tf_dataset_for_client(train.client_ids[0])])
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0
    assert np.median(pixels) > 0.95 and pixels.min() < 0.5


def test_offline_writers_write_most_digits_in_their_own_style(offline_dir):
    train, _ = data.load_emnist(data=str(offline_dir), verbose=False)
    digit_counts, mean_sevens = [], []
    for cid in train.client_ids[:30]:
        examples = list(train.create_tf_dataset_for_client(cid))
        labels = np.array([int(e["label"]) for e in examples])
        digit_counts.append(len(set(labels)))
        sevens = [e["pixels"].numpy() for e in examples if int(e["label"]) == 7]
        if len(sevens) >= 2:
            mean_sevens.append(np.mean(sevens, axis=0))
    assert np.median(digit_counts) >= 8, digit_counts
    # Writers differ: two writers' average "7" differ far more than pixel noise.
    distances = [np.abs(a - b).mean() for a, b in zip(mean_sevens, mean_sevens[1:])]
    assert np.median(distances) > 0.03


def test_offline_build_is_deterministic(tmp_path, offline_dir):
    start = time.perf_counter()
    path = offline_data.build_offline_dataset(tmp_path / "again")
    assert time.perf_counter() - start < 60
    assert sha256(path) == sha256(offline_dir / data.SQLITE_NAME)


def test_offline_build_is_atomic(tmp_path, monkeypatch):
    def fail(path):
        path.write_bytes(b"half a database")
        raise KeyboardInterrupt

    monkeypatch.setattr(offline_data, "_write_sqlite", fail)
    with pytest.raises(KeyboardInterrupt):
        offline_data.build_offline_dataset(tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- choosing the source -----------------------------------------------------------

def test_offline_mode_builds_into_the_course_cache(isolated_cache, offline_dir, capsys):
    train, _ = data.load_emnist(data="offline")
    assert "offline dataset" in capsys.readouterr().out
    built = data.offline_source().sqlite_path
    assert built.is_relative_to(isolated_cache) and sha256(built) == sha256(
        offline_dir / data.SQLITE_NAME)


def test_environment_variable_selects_the_mode(isolated_cache, monkeypatch, offline_dir):
    monkeypatch.setenv("COURSE_DATA", str(offline_dir))
    assert data.resolve_source().mode == "directory"
    monkeypatch.setenv("COURSE_DATA", "offline")
    assert data.resolve_source().mode == "offline"
    assert data.resolve_source("emnist", check_network=False).mode == "emnist"


def test_auto_without_network_falls_back_with_a_notice(isolated_cache, monkeypatch):
    monkeypatch.setattr(data, "network_available", lambda *a, **k: False)
    source = data.resolve_source("auto")
    assert source.mode == "offline" and "could not be downloaded" in source.description


def test_auto_prefers_a_cached_emnist(isolated_cache, monkeypatch, offline_dir):
    monkeypatch.setattr(data, "network_available", lambda *a, **k: False)
    _copy(offline_dir, data.tff_cache_dir())
    assert data.resolve_source("auto").mode == "emnist"


def test_emnist_mode_without_network_is_a_clear_error(isolated_cache, monkeypatch):
    monkeypatch.setattr(data, "network_available", lambda *a, **k: False)
    with pytest.raises(data.DataError, match="cannot be downloaded.*COURSE_DATA=offline"):
        data.load_emnist(data="emnist")


def test_network_detection_is_bounded():
    start = time.perf_counter()
    assert not data.network_available("https://10.255.255.1/emnist", timeout=1.0)
    assert not data.network_available("https://no-such-host.invalid/emnist", timeout=1.0)
    assert time.perf_counter() - start < 3


def test_directory_without_sqlite_is_a_clear_error(tmp_path):
    with pytest.raises(data.DataError, match="not one of auto, emnist, offline"):
        data.load_emnist(data=str(tmp_path))


def test_digits_only_offline_data_refuses_all_characters(offline_dir):
    with pytest.raises(data.DataError, match="only_digits=True"):
        data.load_emnist(only_digits=False, data=str(offline_dir))


# --- corrupt caches ----------------------------------------------------------------

def test_truncated_sqlite_is_caught(tmp_path, offline_dir):
    size = (offline_dir / data.SQLITE_NAME).stat().st_size
    broken = _copy(offline_dir, tmp_path / "broken", size // 2)
    with pytest.raises(data.CorruptDatasetError, match="truncated.*Delete it"):
        data.load_emnist(data=str(broken))


def test_garbage_file_is_caught(tmp_path):
    (tmp_path / data.SQLITE_NAME).write_bytes(b"<html>proxy error</html>" * 10)
    with pytest.raises(data.CorruptDatasetError, match="not an SQLite database"):
        data.load_emnist(data=str(tmp_path))


def test_sqlite_without_emnist_tables_is_caught(tmp_path):
    connection = sqlite3.connect(tmp_path / data.SQLITE_NAME)
    connection.execute("CREATE TABLE other (x)")
    connection.commit()
    connection.close()
    with pytest.raises(data.CorruptDatasetError, match="not a usable EMNIST database"):
        data.check_sqlite(tmp_path / data.SQLITE_NAME)


def test_corrupt_cached_emnist_is_never_used(isolated_cache, monkeypatch, offline_dir):
    monkeypatch.setattr(data, "network_available", lambda *a, **k: True)
    size = (offline_dir / data.SQLITE_NAME).stat().st_size
    _copy(offline_dir, data.tff_cache_dir(), size - 4096)
    with pytest.raises(data.CorruptDatasetError, match="interrupted download"):
        data.load_emnist(data="auto")


# --- preprocessing and clients -----------------------------------------------------

def test_preprocess_flattens_inverts_and_batches(offline_dir):
    train, _ = data.load_emnist(data=str(offline_dir), verbose=False)
    raw = train.create_tf_dataset_for_client(train.client_ids[0])
    batch = next(iter(data.preprocess(raw, batch_size=4, shuffle_buffer=0)))
    first = next(iter(raw))
    assert batch["x"].shape == (4, 784) and batch["y"].shape == (4, 1)
    np.testing.assert_allclose(batch["x"][0].numpy(), 1.0 - first["pixels"].numpy().ravel())
    assert batch["y"][0, 0] == first["label"]
    plain = next(iter(data.preprocess(raw, batch_size=4, shuffle_buffer=0, invert=False)))
    np.testing.assert_allclose(plain["x"][0].numpy(), first["pixels"].numpy().ravel())


def test_preprocess_repeats_epochs_and_shuffles_with_seed(offline_dir):
    train, _ = data.load_emnist(data=str(offline_dir), verbose=False)
    raw = train.create_tf_dataset_for_client(train.client_ids[0])
    n = len(list(raw))

    def labels(**kw):
        return np.concatenate([b["y"].numpy().ravel() for b in data.preprocess(raw, **kw)])

    assert len(labels(epochs=3)) == 3 * n
    assert (labels(seed=1) == labels(seed=1)).all()
    assert not (labels(seed=1) == labels(seed=2)).all()


def test_federated_data_follows_client_order(offline_dir):
    train, _ = data.load_emnist(data=str(offline_dir), verbose=False)
    ids = train.client_ids[:3]
    datasets = data.make_federated_data(train, ids, shuffle_buffer=0)
    for cid, ds in zip(ids, datasets):
        expected = [int(e["label"]) for e in train.create_tf_dataset_for_client(cid)]
        assert np.concatenate([b["y"].numpy().ravel() for b in ds]).tolist() == expected


def test_client_sampling_is_seeded_per_round():
    ids = [f"c{i}" for i in range(100)]
    first = data.sample_clients(ids, 10, round_num=1, seed=0)
    assert first == data.sample_clients(ids, 10, round_num=1, seed=0)
    assert first != data.sample_clients(ids, 10, round_num=2, seed=0)
    assert len(set(first)) == 10 and set(first) <= set(ids)
    assert data.fixed_clients(ids, 3) == ["c0", "c1", "c2"]
    with pytest.raises(ValueError, match="between 1 and 100"):
        data.sample_clients(ids, 101)


# --- the real writers (development machines only) ---------------------------------

def test_real_writers_load_through_the_directory_mode(real_writers_dir):
    train, test = data.load_emnist(data=str(real_writers_dir), verbose=False)
    assert len(train.client_ids) == 383 and len(test.client_ids) == 383
    example = next(iter(train.create_tf_dataset_for_client(train.client_ids[0])))
    assert example["pixels"].shape == (28, 28) and 0 <= int(example["label"]) <= 9
    assert data.check_sqlite(real_writers_dir / data.SQLITE_NAME) == {
        "digits_only_train": 383, "digits_only_test": 383}
