"""course_utils.data: the data switch, the bundled writers, damaged files, helpers."""

import collections
import os
import sqlite3
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import sha256

from course_utils import data
from course_utils.emnist import sample_writers
from course_utils.emnist import sqlite as emnist_sqlite


def _copy(src_dir, dst_dir, size=None):
    dst_dir.mkdir(parents=True, exist_ok=True)
    content = (src_dir / data.SQLITE_NAME).read_bytes()
    (dst_dir / data.SQLITE_NAME).write_bytes(content[:size] if size else content)
    return dst_dir


# --- the bundled writers ----------------------------------------------------------

def test_sample_loads_through_tffs_loader(sample_dir):
    train, test = data.load_emnist(data=str(sample_dir), verbose=False)
    assert len(train.client_ids) == 383 and set(test.client_ids) == set(train.client_ids)
    assert train.element_type_structure == collections.OrderedDict(
        label=tf.TensorSpec([], tf.int32), pixels=tf.TensorSpec([28, 28], tf.float32))
    # TFF's convention: 1.0 is background, so most pixels are 1; ink is dark.
    pixels = np.stack([e["pixels"].numpy() for e in
                       train.create_tf_dataset_for_client(train.client_ids[0])])
    assert pixels.min() == 0.0 and pixels.max() == 1.0 and np.median(pixels) == 1.0
    # Exactly k/255 (TFF's values), as the bundle stores them.
    k = np.round(pixels * 255)
    assert (np.float32(k / 255.0) == pixels).all()


def test_sample_counts_are_leafs(sample_dir):
    assert emnist_sqlite.count_examples(sample_dir / data.SQLITE_NAME) == {
        "digits_only_train": (383, 38165), "digits_only_test": (383, 4364)}


def test_sample_build_is_fast_deterministic_and_atomic(tmp_path, sample_dir, monkeypatch):
    start = time.perf_counter()
    path = sample_writers.build(tmp_path / "again")
    assert time.perf_counter() - start < 20  # about 1 s measured on 2 cores
    assert sha256(path) == sha256(sample_dir / data.SQLITE_NAME)
    assert [p.name for p in path.parent.iterdir()] == [data.SQLITE_NAME]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(emnist_sqlite, "ExampleSerializer", lambda: interrupted)
    with pytest.raises(KeyboardInterrupt):
        sample_writers.build(tmp_path / "interrupted")
    assert list((tmp_path / "interrupted").iterdir()) == []  # no half-written file


def test_bundle_holds_exactly_the_development_writers(sample_dir, shared_writers_sqlite):
    """The bundle is lossless: the built database has the development copy's rows."""
    query = {"examples": "SELECT split_name, client_id, serialized_example_proto FROM "
                         "examples ORDER BY rowid",
             "client_metadata": "SELECT * FROM client_metadata ORDER BY rowid",
             "provenance": "SELECT * FROM provenance ORDER BY rowid"}
    built = sqlite3.connect(sample_dir / data.SQLITE_NAME)
    original = sqlite3.connect(shared_writers_sqlite)
    for table, sql in query.items():
        assert built.execute(sql).fetchall() == original.execute(sql).fetchall(), table


def test_the_bundle_ships_in_the_package(tmp_path):
    """pip install (Binder, Colab) brings the writers along: they are in the wheel."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(root)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("course_utils-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("femnist_digits_383.npz", "provenance.csv", "README.md"):
        assert f"course_utils/bundled/{name}" in names
    # and the recorded benchmark results notebook 05 shows (Colab has no repository)
    for name in ("fedavg_rounds.json", "settings_sweep.json"):
        assert f"course_utils/bundled/benchmark_results/{name}" in names


# --- choosing the source -----------------------------------------------------------

def test_default_is_the_sample_built_into_the_course_cache(isolated_cache, sample_dir, capsys):
    data.load_emnist()
    out = capsys.readouterr().out
    assert out == ("Data: the course's bundled sample of real EMNIST writers (LEAF FEMNIST "
                   "digits): 383 writers, 38,165 train and 4,364 test examples.\n")
    built = data.sample_source().sqlite_path
    assert built.is_relative_to(isolated_cache)
    assert sha256(built) == sha256(sample_dir / data.SQLITE_NAME)


def test_modes_and_old_names(isolated_cache, monkeypatch, sample_dir):
    monkeypatch.setenv("COURSE_DATA", str(sample_dir))
    assert data.resolve_source().mode == "directory"
    for name in ("sample", "offline"):
        monkeypatch.setenv("COURSE_DATA", name)
        assert data.resolve_source().mode == "sample"
    assert data.resolve_source("emnist").mode == "emnist"
    with pytest.raises(data.DataError, match="auto is no longer a mode.*COURSE_DATA=emnist"):
        data.resolve_source("auto")


def test_no_network_probe_at_start_up(isolated_cache, monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("the default data must not touch the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    train, _ = data.load_emnist(verbose=False)
    assert len(train.client_ids) == 383


def test_a_cached_full_emnist_is_used_when_asked_and_doctor_names_it(
        isolated_cache, sample_dir):
    from course_utils.runtime import doctor

    _copy(sample_dir, data.tff_cache_dir())
    assert data.resolve_source().mode == "sample"  # never silently
    assert data.resolve_source("emnist").sqlite_path == data.tff_cache_dir() / data.SQLITE_NAME
    train, _ = data.load_emnist(data="emnist", verbose=False)
    assert len(train.client_ids) == 383
    check = doctor.check_data()
    assert check.ok and "COURSE_DATA=emnist uses it" in check.detail


def test_directory_without_sqlite_is_a_clear_error(tmp_path):
    with pytest.raises(data.DataError, match="not one of sample, emnist"):
        data.load_emnist(data=str(tmp_path))


def test_digits_only_sample_refuses_all_characters(sample_dir):
    with pytest.raises(data.DataError, match="only_digits=True"):
        data.load_emnist(only_digits=False, data=str(sample_dir))


# --- damaged files: detected, reported with the fix, never used ---------------------

def _damaged(tmp_path, sample_dir, damage):
    directory = _copy(sample_dir, tmp_path / "damaged")
    path = directory / data.SQLITE_NAME
    with open(path, "r+b") as f:
        damage(f, path.stat().st_size)
    return directory


def test_mid_file_damage_is_caught(tmp_path, sample_dir):
    """64 KiB overwritten in the middle: header and size look fine, quick_check is not."""
    def overwrite(f, size):
        f.seek(size // 2)
        f.write(os.urandom(64 * 1024))

    broken = _damaged(tmp_path, sample_dir, overwrite)
    with pytest.raises(data.DataError, match="is damaged .SQLite.s integrity check.*Delete it"):
        data.load_emnist(data=str(broken))


def test_truncated_sqlite_is_caught(tmp_path, sample_dir):
    size = (sample_dir / data.SQLITE_NAME).stat().st_size
    broken = _copy(sample_dir, tmp_path / "broken", size // 2)
    with pytest.raises(data.DataError, match="truncated.*Delete it"):
        data.load_emnist(data=str(broken))


def test_garbage_file_is_caught(tmp_path):
    (tmp_path / data.SQLITE_NAME).write_bytes(b"<html>proxy error</html>" * 10)
    with pytest.raises(data.DataError, match="not an SQLite database"):
        data.load_emnist(data=str(tmp_path))


def test_wrong_tables_are_caught(tmp_path):
    connection = sqlite3.connect(tmp_path / data.SQLITE_NAME)
    connection.execute("CREATE TABLE other (x)")
    connection.commit()
    connection.close()
    with pytest.raises(data.DataError, match="not a usable EMNIST database"):
        data.check_sqlite(tmp_path / data.SQLITE_NAME)


def test_database_without_clients_is_caught(tmp_path):
    emnist_sqlite.write_sqlite(tmp_path / data.SQLITE_NAME, [])
    with pytest.raises(data.DataError, match="has no clients"):
        data.load_emnist(data=str(tmp_path))


def test_the_full_check_runs_once_per_file_version(tmp_path, sample_dir, monkeypatch):
    directory = _copy(sample_dir, tmp_path / "copy")
    path = directory / data.SQLITE_NAME
    calls = []
    real_query = emnist_sqlite._query
    monkeypatch.setattr(emnist_sqlite, "_query",
                        lambda p, full_check: calls.append(p) or real_query(p, full_check))
    data.check_sqlite(path)
    data.check_sqlite(path)
    assert len(calls) == 1  # the stamp skips the second check
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 10**9))  # the file changed
    data.check_sqlite(path)
    assert len(calls) == 2


def test_a_damaged_cached_emnist_is_never_used(isolated_cache, sample_dir):
    size = (sample_dir / data.SQLITE_NAME).stat().st_size
    _copy(sample_dir, data.tff_cache_dir(), size - 4096)
    with pytest.raises(data.DataError, match="interrupted download"):
        data.load_emnist(data="emnist")


# --- preprocessing and clients -----------------------------------------------------

def test_preprocess_flattens_inverts_and_batches(sample_dir):
    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    raw = train.create_tf_dataset_for_client(train.client_ids[0])
    batch = next(iter(data.preprocess(raw, batch_size=4, shuffle_buffer=0)))
    first = next(iter(raw))
    assert batch["x"].shape == (4, 784) and batch["y"].shape == (4, 1)
    np.testing.assert_allclose(batch["x"][0].numpy(), 1.0 - first["pixels"].numpy().ravel())
    assert batch["y"][0, 0] == first["label"]
    plain = next(iter(data.preprocess(raw, batch_size=4, shuffle_buffer=0, invert=False)))
    np.testing.assert_allclose(plain["x"][0].numpy(), first["pixels"].numpy().ravel())


def test_preprocess_repeats_epochs_and_shuffles_with_seed(sample_dir):
    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    raw = train.create_tf_dataset_for_client(train.client_ids[0])
    n = len(list(raw))

    def labels(**kw):
        return np.concatenate([b["y"].numpy().ravel() for b in data.preprocess(raw, **kw)])

    assert len(labels(epochs=3)) == 3 * n
    assert (labels(seed=1) == labels(seed=1)).all()
    assert not (labels(seed=1) == labels(seed=2)).all()


def test_federated_data_follows_client_order(sample_dir):
    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
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
