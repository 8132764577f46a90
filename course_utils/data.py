"""Federated EMNIST for the course: one switch for where the data comes from, and the
preprocessing and client-sampling helpers the notebooks share.

Every mode reads the data through TFF's own `tff.simulation.datasets.emnist.load_data`:

- ``sample`` (default; ``offline`` is an old name for it): 383 real EMNIST writers that
  ship with the course (`course_utils.emnist.sample_writers`), built at first use into TFF's
  SQLite format in the course's cache. No network needed.
- ``emnist``: TFF's full federated EMNIST (3,383 writers) from TFF's cache (``~/.tff``),
  or downloaded through TFF's loader (`course_utils.emnist.download`).
- a directory holding ``emnist_all.sqlite`` (for example an EMNIST you downloaded
  earlier).

Choose with the `data=` argument or the ``COURSE_DATA`` environment variable.
"""

from __future__ import annotations

import collections
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_utils.emnist import download as emnist_download
from course_utils.emnist import sample_writers
from course_utils.emnist import sqlite as emnist_sqlite
from course_utils.emnist.sqlite import SQLITE_NAME, CorruptDatasetError  # noqa: F401
from course_utils.settings import COURSE, CourseSettings

DATA_ENV = "COURSE_DATA"
CACHE_ENV = "COURSE_CACHE_DIR"
MODES = ("sample", "emnist")
OLD_NAMES = {"offline": "sample"}  # still accepted


class DataError(RuntimeError):
    """The requested data cannot be used; the message says what to do."""


@dataclass(frozen=True)
class DataSource:
    mode: str           # "sample", "emnist" or "directory"
    directory: Path     # the directory handed to TFF's loader as cache_dir
    description: str    # for learners: what the data is (never a machine path)

    @property
    def sqlite_path(self) -> Path:
        return self.directory / SQLITE_NAME


def course_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tff-course")


def tff_cache_dir() -> Path:
    """Where TFF itself caches EMNIST (so an earlier download is reused)."""
    return Path.home() / ".tff"


def display_path(path: str | os.PathLike) -> str:
    """`path` with the home directory written as ~ (what learners see in outputs)."""
    path, home = Path(path), Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def requested_mode(data: str | os.PathLike | None = None) -> str:
    mode = str(data if data is not None else os.environ.get(DATA_ENV) or "sample")
    return OLD_NAMES.get(mode, mode)


def check_sqlite(path: str | os.PathLike) -> dict[str, int]:
    """`emnist_sqlite.check_sqlite`, reporting damage as a DataError."""
    try:
        return emnist_sqlite.check_sqlite(path)
    except CorruptDatasetError as e:
        raise DataError(str(e)) from None


# --- choosing the source -----------------------------------------------------------

def sample_source() -> DataSource:
    return DataSource("sample",
                      course_cache_dir() / f"sample-v{sample_writers.SAMPLE_VERSION}",
                      "the course's bundled sample of real EMNIST writers "
                      "(LEAF FEMNIST digits)")


def emnist_source() -> DataSource:
    return DataSource("emnist", tff_cache_dir(), "TFF's full federated EMNIST")


def full_emnist_cached() -> bool:
    """Is TFF's full EMNIST already in TFF's cache (used only when asked for)?"""
    return emnist_source().sqlite_path.is_file()


def resolve_source(data: str | os.PathLike | None = None) -> DataSource:
    """Decide where the data comes from, without loading it (and without a network)."""
    mode = requested_mode(data)
    if mode == "sample":
        return sample_source()
    if mode == "emnist":
        return emnist_source()
    if mode == "auto":
        raise DataError(f"{DATA_ENV}=auto is no longer a mode: the default is now "
                        f"'sample' (383 real writers bundled with the course, no network "
                        f"needed). Use {DATA_ENV}=emnist for TFF's full EMNIST.")
    directory = Path(mode).expanduser()
    if not (directory / SQLITE_NAME).is_file():
        raise DataError(
            f"{DATA_ENV}/data={mode!r} is not one of {', '.join(MODES)} and "
            f"{directory / SQLITE_NAME} does not exist. Use a mode, or a directory "
            f"that holds {SQLITE_NAME}.")
    return DataSource("directory", directory,
                      f"EMNIST-format data from the folder {directory.name!r}")


# --- preparing and loading ---------------------------------------------------------

def prepare(source: DataSource) -> dict[str, int]:
    """Make sure the source's SQLite file exists and is sound; return its splits."""
    if source.mode == "sample":
        sample_writers.build(source.directory)
    elif source.mode == "emnist" and not source.sqlite_path.exists():
        try:
            emnist_download.download(source.directory)
        except emnist_download.DownloadError as e:
            raise DataError(str(e)) from None
    return check_sqlite(source.sqlite_path)


def describe(source: DataSource, splits=("digits_only_train", "digits_only_test")) -> str:
    """"<what it is>: N writers, A train and B test examples" (from the metadata)."""
    counts = emnist_sqlite.count_examples(source.sqlite_path)
    writers = max((counts[s][0] for s in splits if s in counts), default=0)
    examples = " and ".join(f"{counts[s][1]:,} {s.rsplit('_', 1)[-1]}" for s in splits
                            if s in counts)
    return f"{source.description}: {writers:,} writers, {examples} examples"


def load_emnist(only_digits: bool = True, data: str | os.PathLike | None = None,
                verbose: bool = True):
    """Federated EMNIST as TFF `ClientData` (train, test), via TFF's own loader.

    `data` (or the COURSE_DATA environment variable) chooses the source: "sample"
    (default), "emnist" or a directory holding emnist_all.sqlite.
    """
    import tensorflow_federated as tff

    source = resolve_source(data)
    splits = prepare(source)
    prefix = "digits_only" if only_digits else "all"
    if f"{prefix}_train" not in splits:
        raise DataError(f"This data has no split '{prefix}_train' (it has "
                        f"{', '.join(sorted(splits))}). The bundled sample has digits "
                        "only: use only_digits=True, or COURSE_DATA=emnist.")
    if verbose:
        print(f"Data: {describe(source, (f'{prefix}_train', f'{prefix}_test'))}.")
    return tff.simulation.datasets.emnist.load_data(
        only_digits=only_digits, cache_dir=str(source.directory))


def load_split(split: str, data: str | os.PathLike | None = None):
    """One named split of the source's SQLite file as `ClientData` (for evaluation), or
    `HELDOUT_SPLIT`: every example (train and test) of the held-out writers."""
    source = resolve_source(data)
    splits = prepare(source)
    if split == HELDOUT_SPLIT:
        return _heldout_writers_data(source)
    if split not in splits:
        raise DataError(f"No split {split!r} in this data; it has: "
                        f"{', '.join(split_names(splits))}.")
    return _sql_split(source, split)


def _sql_split(source: DataSource, split: str):
    import tensorflow_federated as tff
    from tensorflow_federated.python.simulation.datasets import emnist as tff_emnist

    client_data = tff.simulation.datasets.SqlClientData(str(source.sqlite_path), split)
    return client_data.preprocess(tff_emnist._add_proto_parsing)


# --- writers held out of training ----------------------------------------------------

# A virtual split: a fixed fifth of the digit writers, never trained on when evaluated
# on (`python -m course_utils train --eval-split heldout_writers`).
HELDOUT_SPLIT = "heldout_writers"
HELDOUT_FRACTION = 0.2
HELDOUT_SEED = 2020


def split_names(splits) -> list[str]:
    """The splits one can evaluate on: the file's own and `HELDOUT_SPLIT`."""
    return sorted(splits) + [HELDOUT_SPLIT]


def heldout_writer_ids(client_ids) -> list[str]:
    """The held-out writers among `client_ids`: a seeded random fifth, the same for the
    same ids (at least one writer)."""
    ids = sorted(client_ids)
    count = max(1, int(round(HELDOUT_FRACTION * len(ids))))
    order = np.random.default_rng(HELDOUT_SEED).permutation(len(ids))
    return sorted(ids[i] for i in order[:count])


def without_writers(client_data, writer_ids):
    """`client_data` without the clients `writer_ids` (for training around a held-out
    set)."""
    import tensorflow_federated as tff

    excluded = set(writer_ids)
    kept = [cid for cid in client_data.client_ids if cid not in excluded]
    return tff.simulation.datasets.ClientData.from_clients_and_tf_fn(
        kept, client_data.serializable_dataset_fn)


def writer_halves(client_data):
    """`client_data` split in two by writer: the writers at even and at odd positions of
    the sorted ids. Deterministic (unlike the order of TFF's
    `create_tf_dataset_from_all_clients`, so never split that by position)."""
    ids = sorted(client_data.client_ids)
    return without_writers(client_data, ids[1::2]), without_writers(client_data, ids[0::2])


def _heldout_writers_data(source: DataSource):
    """The held-out writers' train and test examples, as one ClientData."""
    import tensorflow_federated as tff

    train, test = (_sql_split(source, split)
                   for split in ("digits_only_train", "digits_only_test"))
    writers = heldout_writer_ids(train.client_ids)
    train_fn, test_fn = train.serializable_dataset_fn, test.serializable_dataset_fn
    has_test = set(test.client_ids)

    def examples(client_id):
        return train_fn(client_id).concatenate(test_fn(client_id))

    if not set(writers) <= has_test:  # a writer without test examples: train only
        return tff.simulation.datasets.ClientData.from_clients_and_tf_fn(writers, train_fn)
    return tff.simulation.datasets.ClientData.from_clients_and_tf_fn(writers, examples)


# --- preprocessing and federated data ----------------------------------------------

def preprocess(dataset, *, epochs: int = 1, batch_size: int = COURSE.batch_size,
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


class RoundData(list):
    """One round's client datasets: a list (what a process's `next` takes) that also
    says whose they are, `client_ids` (same order), and out of how many clients,
    `population`. Algorithms with per-client state (SCAFFOLD) need both."""

    def __init__(self, datasets=(), client_ids=None, population: int | None = None):
        # (TFF rebuilds lists it is given as type(value)(items): ids are optional.)
        super().__init__(datasets)
        self.client_ids = None if client_ids is None else list(client_ids)
        self.population = population
        if self.client_ids is not None and len(self.client_ids) != len(self):
            raise ValueError(f"{len(self)} datasets but {len(self.client_ids)} client ids.")


def make_federated_data(client_data, client_ids, **preprocess_kwargs) -> RoundData:
    """One preprocessed dataset per client, in the order of `client_ids` (a list, as a
    `RoundData` that also remembers the ids and the number of clients)."""
    client_ids = list(client_ids)
    return RoundData([preprocess(client_data.create_tf_dataset_for_client(cid),
                                 **preprocess_kwargs) for cid in client_ids],
                     client_ids, population=len(client_data.client_ids))


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


def federated_data_for_round(client_data, settings: CourseSettings = COURSE,
                             sampling: str = "uniform"):
    """`data_for_round(r)`: the client datasets of round r as the course builds them.

    A fresh sample of `settings.clients_per_round` clients every round
    (`sample_clients`, seeded by `settings.seed` and the round number), or the same
    first clients every round with `settings.fixed_clients` (as the original tutorial);
    with `sampling="poisson"` each client joins with probability clients_per_round / N
    (`poisson_sample_clients`), and every round is padded with empty clients to
    the largest round's number (the process must count an empty client as absent, as
    dp-fedavg does). Each preprocessed with the settings' epochs, batch size and pixel
    inversion. The `train` command builds its rounds with this too.
    """
    ids = list(client_data.client_ids)
    _check_num_clients(ids, settings.clients_per_round)

    def clients_of(round_num: int) -> list:
        if settings.fixed_clients:
            return fixed_clients(ids, settings.clients_per_round)
        if sampling == "poisson":
            return poisson_sample_clients(ids, settings.clients_per_round, round_num,
                                          settings.seed)
        return sample_clients(ids, settings.clients_per_round, round_num, settings.seed)

    def datasets_of(clients: list) -> list:
        return make_federated_data(
            client_data, clients, epochs=settings.epochs, batch_size=settings.batch_size,
            seed=settings.seed, invert=settings.invert)

    if sampling != "poisson" or settings.fixed_clients:
        return lambda round_num: datasets_of(clients_of(round_num))

    # Poisson sampling: the number of clients varies; pad every round with empty
    # clients to the largest round (see pad_with_empty_clients).
    largest = max(len(clients_of(r)) for r in range(1, settings.rounds + 1))
    template = datasets_of(ids[:1])[0]
    return lambda round_num: pad_with_empty_clients(
        datasets_of(clients_of(round_num)), largest, template)
