"""Federated EMNIST for the course: one switch for where the data comes from, and the
preprocessing and client-sampling helpers the notebooks share.

Every mode reads the data through TFF's own `tff.simulation.datasets.emnist.load_data`:

- ``auto`` (default): the real EMNIST from TFF's cache, or downloaded; without a
  network, the course's offline dataset, with a notice saying so.
- ``emnist``: the real EMNIST, or a clear error.
- ``offline``: the offline dataset (see `course_utils.offline_data`).
- a directory holding ``emnist_all.sqlite`` (for example an EMNIST you downloaded
  earlier, or the LEAF writers of the course's development data).

Choose with the `data=` argument or the ``COURSE_DATA`` environment variable.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import shutil
import sqlite3
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_utils import offline_data

DATA_ENV = "COURSE_DATA"
CACHE_ENV = "COURSE_CACHE_DIR"
MODES = ("auto", "emnist", "offline")
SQLITE_NAME = "emnist_all.sqlite"
EMNIST_HOST = "storage.googleapis.com"
EMNIST_URL = f"https://{EMNIST_HOST}/tff-datasets-public/emnist_all.sqlite.lzma"
NETWORK_TIMEOUT_S = 3.0


class DataError(RuntimeError):
    """The requested data cannot be used; the message says what to do."""


class CorruptDatasetError(DataError):
    """An `emnist_all.sqlite` is truncated or not an EMNIST database."""


@dataclass(frozen=True)
class DataSource:
    mode: str           # "emnist", "offline" or "directory"
    directory: Path     # the directory handed to TFF's loader as cache_dir
    description: str    # one line for learners

    @property
    def sqlite_path(self) -> Path:
        return self.directory / SQLITE_NAME


def course_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tff-course")


def tff_cache_dir() -> Path:
    """Where TFF itself caches EMNIST (so an earlier download is reused)."""
    return Path.home() / ".tff"


def requested_mode(data: str | os.PathLike | None = None) -> str:
    return str(data if data is not None else os.environ.get(DATA_ENV) or "auto")


# --- checking an emnist_all.sqlite -------------------------------------------------

def check_sqlite(path: str | os.PathLike) -> dict[str, int]:
    """Validate an EMNIST SQLite file; return {split name: number of clients}.

    Catches what an interrupted download leaves behind (a truncated file) and files
    that are not TFF's EMNIST format, with the fix in the message.
    """
    path = Path(path)
    fix = (f"It is probably left from an interrupted download or copy. Delete it "
           f"(rm '{path}') and run again, or point {DATA_ENV} at a good copy.")
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise CorruptDatasetError(f"{path} is not an SQLite database. {fix}")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    if size < page_size * page_count:
        raise CorruptDatasetError(
            f"{path} is truncated: {size:,} bytes of the {page_size * page_count:,} "
            f"its header declares. {fix}")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT split_name, COUNT(*) FROM client_metadata GROUP BY split_name"
            ).fetchall()
            connection.execute("SELECT serialized_example_proto FROM examples LIMIT 1")
        finally:
            connection.close()
    except sqlite3.DatabaseError as e:
        raise CorruptDatasetError(f"{path} is not a usable EMNIST database ({e}). {fix}") from e
    if not rows:
        raise CorruptDatasetError(f"{path} has no clients. {fix}")
    return dict(rows)


# --- choosing the source -----------------------------------------------------------

def network_available(url: str = EMNIST_URL, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """Does `url` answer an HTTP HEAD request? Bounded by `timeout`, DNS included."""
    def head():
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(head).result(timeout=timeout)
    except Exception:  # noqa: BLE001 - any failure means "cannot download"
        return False
    finally:
        pool.shutdown(wait=False)


def offline_source() -> DataSource:
    directory = course_cache_dir() / f"offline-v{offline_data.OFFLINE_VERSION}"
    return DataSource("offline", directory,
                      "the course's offline dataset: real handwritten digits from "
                      "scikit-learn, 150 simulated writers")


def resolve_source(data: str | os.PathLike | None = None, *, check_network: bool = True
                   ) -> DataSource:
    """Decide where the data comes from, without loading it."""
    mode = requested_mode(data)
    if mode == "offline":
        return offline_source()
    if mode not in MODES:
        directory = Path(mode).expanduser()
        if not (directory / SQLITE_NAME).is_file():
            raise DataError(
                f"{DATA_ENV}/data={mode!r} is not one of {', '.join(MODES)} and "
                f"{directory / SQLITE_NAME} does not exist. Use a mode, or a directory "
                f"that holds {SQLITE_NAME}.")
        return DataSource("directory", directory, f"EMNIST-format data from {directory}")
    emnist = DataSource("emnist", tff_cache_dir(), "the real federated EMNIST (TFF)")
    if emnist.sqlite_path.exists():
        return emnist
    if not check_network or network_available():
        return emnist
    if mode == "emnist":
        raise DataError(
            f"EMNIST is not in {emnist.directory} and {EMNIST_HOST} cannot be reached, "
            f"so it cannot be downloaded. Connect to the internet, copy "
            f"{SQLITE_NAME} into {emnist.directory}, or set {DATA_ENV}=offline.")
    fallback = offline_source()
    return DataSource(fallback.mode, fallback.directory,
                      fallback.description + f" (EMNIST could not be downloaded: no "
                      f"connection to {EMNIST_HOST})")


# --- loading -----------------------------------------------------------------------

def _download_emnist(directory: Path) -> None:
    """Download through TFF's loader into a temporary folder, then move it in place.

    TFF writes the decompressed file where it will be read, so an interrupted download
    leaves a truncated file; downloading next to it and renaming keeps that out.
    """
    import tensorflow_federated as tff

    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=".download-"))
    try:
        tff.simulation.datasets.emnist.load_data(cache_dir=str(staging))
        check_sqlite(staging / SQLITE_NAME)
        os.replace(staging / SQLITE_NAME, directory / SQLITE_NAME)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def prepare(source: DataSource) -> dict[str, int]:
    """Make sure the source's SQLite file exists and is sound; return its splits."""
    if source.mode == "offline":
        offline_data.build_offline_dataset(source.directory)
    elif source.mode == "emnist" and not source.sqlite_path.exists():
        _download_emnist(source.directory)
    return check_sqlite(source.sqlite_path)


def load_emnist(only_digits: bool = True, data: str | os.PathLike | None = None,
                verbose: bool = True):
    """Federated EMNIST as TFF `ClientData` (train, test), via TFF's own loader.

    `data` (or the COURSE_DATA environment variable) chooses the source: "auto",
    "emnist", "offline" or a directory holding emnist_all.sqlite.
    """
    import tensorflow_federated as tff

    source = resolve_source(data)
    splits = prepare(source)
    wanted = "digits_only_train" if only_digits else "all_train"
    if wanted not in splits:
        raise DataError(f"{source.sqlite_path} has no split {wanted!r} (it has "
                        f"{', '.join(sorted(splits))}). The offline dataset has digits "
                        "only: use only_digits=True, or real EMNIST.")
    if verbose:
        print(f"Data: {source.description}.")
    return tff.simulation.datasets.emnist.load_data(
        only_digits=only_digits, cache_dir=str(source.directory))


def load_split(split: str, data: str | os.PathLike | None = None):
    """One named split of the source's SQLite file as `ClientData` (for evaluation)."""
    import tensorflow_federated as tff
    from tensorflow_federated.python.simulation.datasets import emnist as tff_emnist

    source = resolve_source(data)
    splits = prepare(source)
    if split not in splits:
        raise DataError(f"No split {split!r} in {source.sqlite_path}; it has: "
                        f"{', '.join(sorted(splits))}.")
    client_data = tff.simulation.datasets.SqlClientData(str(source.sqlite_path), split)
    return client_data.preprocess(tff_emnist._add_proto_parsing)


# --- preprocessing and federated data ----------------------------------------------

def preprocess(dataset, *, epochs: int = 1, batch_size: int = 20,
               shuffle_buffer: int = 100, seed: int | None = 0, invert: bool = True):
    """EMNIST examples -> batches of (x: 784 floats, y: label) for training.

    `invert=True` maps pixels to 1 - pixels so that 0.0 is background, which is what a
    linear model needs to learn quickly (TFF stores 1.0 = background). `seed` makes the
    shuffle repeatable; `shuffle_buffer=0` keeps the order.
    """
    import tensorflow as tf

    def to_xy(element):
        pixels = tf.reshape(element["pixels"], [-1, 784])
        if invert:
            pixels = 1.0 - pixels
        return collections.OrderedDict(x=pixels, y=tf.reshape(element["label"], [-1, 1]))

    dataset = dataset.repeat(epochs)
    if shuffle_buffer:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=False)
    return dataset.batch(batch_size).map(to_xy).prefetch(tf.data.AUTOTUNE)


def make_federated_data(client_data, client_ids, **preprocess_kwargs) -> list:
    """One preprocessed dataset per client, in the order of `client_ids`."""
    return [preprocess(client_data.create_tf_dataset_for_client(cid), **preprocess_kwargs)
            for cid in client_ids]


def central_dataset(client_data, *, batch_size: int = 500, invert: bool = True):
    """All clients' examples as one dataset, for centralized evaluation with Keras.

    Cached in memory after the first pass, so evaluating every round does not re-read
    the SQLite file.
    """
    return preprocess(client_data.create_tf_dataset_from_all_clients(),
                      batch_size=batch_size, shuffle_buffer=0, invert=invert).cache()


def _check_num_clients(client_ids: list, num_clients: int) -> None:
    if not 0 < num_clients <= len(client_ids):
        raise ValueError(f"num_clients must be between 1 and {len(client_ids)} "
                         f"(the number of clients), got {num_clients}.")


def sample_clients(client_ids, num_clients: int, round_num: int = 0, seed: int = 0
                   ) -> list[str]:
    """A random subset of clients for one round, the same for the same (seed, round)."""
    client_ids = list(client_ids)
    _check_num_clients(client_ids, num_clients)
    rng = np.random.default_rng([seed, round_num])
    chosen = sorted(rng.choice(len(client_ids), num_clients, replace=False))
    return [client_ids[i] for i in chosen]


def poisson_sample_clients(client_ids, expected_clients: float, round_num: int = 0,
                           seed: int = 0) -> list[str]:
    """Poisson sampling: each client joins the round independently with probability
    expected_clients / len(client_ids), so the number of clients varies from round
    to round (it can be 0). The same for the same (seed, round). DP-FedAvg's privacy
    account (course_utils.privacy_accounting) assumes this sampling."""
    client_ids = list(client_ids)
    if not 0 < expected_clients <= len(client_ids):
        raise ValueError(f"expected_clients must be in (0, {len(client_ids)}] (the "
                         f"number of clients), got {expected_clients}.")
    rng = np.random.default_rng([seed, round_num, 1])
    joins = rng.random(len(client_ids)) < expected_clients / len(client_ids)
    return [cid for cid, chosen in zip(client_ids, joins) if chosen]


def pad_with_empty_clients(datasets: list, size: int, template=None) -> list:
    """`datasets` plus empty datasets (`template.take(0)`) up to `size` clients.

    Why: TFF's runtime builds one executor per number of clients, and under Poisson
    sampling that number changes every round; padding to a fixed number keeps one
    (about 100 MB less worker memory over 12 rounds of DP-FedAvg). An empty client
    trains on nothing: its update is zero and its weight in the metrics 0, so
    DP-FedAvg's result is unchanged. Not so for an unweighted mean of client models:
    pad only for processes that count an empty client as absent. `template`: any
    client dataset (default: the first of `datasets`).
    """
    if template is None:
        if not datasets:
            raise ValueError("No dataset to copy the element type from: pass template=.")
        template = datasets[0]
    return list(datasets) + [template.take(0)] * (size - len(datasets))


def fixed_clients(client_ids, num_clients: int) -> list[str]:
    """The first `num_clients` clients, the same every round (as the TFF tutorial)."""
    client_ids = list(client_ids)
    _check_num_clients(client_ids, num_clients)
    return client_ids[:num_clients]
