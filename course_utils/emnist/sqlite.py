"""TFF's EMNIST SQLite format: writing it, and checking a file before it is used.

The format is what `tff.simulation.datasets.emnist.load_data` reads from
`emnist_all.sqlite`: a table `examples(split_name, client_id, serialized_example_proto)`
of `tf.train.Example`s (`pixels`: 784 floats, 1.0 = background; `label`: int64) and a
table `client_metadata(client_id, split_name, num_examples)`.

`check_sqlite` runs SQLite's own integrity check once per file version and records the
result in a stamp beside the file (size and mtime), so later loads skip the cost.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

SQLITE_NAME = "emnist_all.sqlite"
STAMP_SUFFIX = ".checked.json"

SCHEMA = """
CREATE TABLE examples (
  split_name TEXT NOT NULL,
  client_id TEXT NOT NULL,
  serialized_example_proto BLOB NOT NULL);
CREATE TABLE client_metadata (
  client_id TEXT NOT NULL,
  split_name TEXT NOT NULL,
  num_examples INTEGER NOT NULL);
"""
INDEXES = """
CREATE INDEX idx_examples_client_split ON examples (client_id, split_name);
CREATE INDEX idx_metadata_split ON client_metadata (split_name, client_id);
"""


class CorruptDatasetError(RuntimeError):
    """An `emnist_all.sqlite` is damaged, truncated or not an EMNIST database."""


# --- writing -----------------------------------------------------------------------

def _proto_example(pixels_float32: np.ndarray, label: int) -> bytes:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature["pixels"].float_list.value.extend(pixels_float32)
    example.features.feature["label"].int64_list.value.append(int(label))
    return example.SerializeToString()


class ExampleSerializer:
    """Serialized TFF EMNIST examples, byte for byte what protobuf writes, but fast.

    Every example is the same bytes around its 784 packed float32 pixels, except for its
    label, so one protobuf-made template per label is spliced with the pixel bytes.
    Pixels are uint8 k and stored as float32(k / 255), exactly TFF's values.
    """

    PIXEL_BYTES = 784 * 4

    def __init__(self):
        self._templates: dict[int, tuple[bytes, bytes]] = {}

    def _template(self, label: int) -> tuple[bytes, bytes]:
        if label not in self._templates:
            marker = np.full(784, 0.5, np.float32)
            whole = _proto_example(marker, label)
            start = whole.index(marker.tobytes())
            self._templates[label] = (whole[:start], whole[start + self.PIXEL_BYTES:])
        return self._templates[label]

    def __call__(self, pixels_uint8: np.ndarray, label: int) -> bytes:
        before, after = self._template(int(label))
        pixels = (pixels_uint8.reshape(784) / 255.0).astype("<f4")
        return before + pixels.tobytes() + after


def write_sqlite(path: str | os.PathLike,
                 clients: Iterable[tuple[str, str, np.ndarray, np.ndarray]],
                 extra_sql: str = "", extra_rows: Iterable[tuple[str, list]] = ()) -> Path:
    """Write an EMNIST SQLite atomically (a temporary file, then a rename).

    `clients` yields (split_name, client_id, pixels uint8 [n, 28, 28], labels [n]) in
    the order the rows are written; the same input gives the same bytes. `extra_sql`
    creates further tables, filled from `extra_rows` ((insert statement, rows)).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        connection = sqlite3.connect(temporary)
        try:
            connection.executescript(SCHEMA + extra_sql)
            serialize = ExampleSerializer()
            for split, client_id, pixels, labels in clients:
                connection.executemany(
                    "INSERT INTO examples VALUES (?, ?, ?)",
                    ((split, client_id, serialize(p, y))
                     for p, y in zip(pixels, labels)))
                connection.execute("INSERT INTO client_metadata VALUES (?, ?, ?)",
                                   (client_id, split, len(labels)))
            for statement, rows in extra_rows:
                connection.executemany(statement, rows)
            connection.executescript(INDEXES)
            connection.commit()
        finally:
            connection.close()
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


# --- checking ----------------------------------------------------------------------

def _fix(path: Path) -> str:
    return (f"It is probably left from an interrupted download or copy, or damaged on "
            f"disk. Delete it (rm '{path}') and run again: the course rebuilds or "
            f"downloads it.")


def _check_header(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise CorruptDatasetError(f"{path} is not an SQLite database. {_fix(path)}")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    if size < page_size * page_count:
        raise CorruptDatasetError(
            f"{path} is truncated: {size:,} bytes of the {page_size * page_count:,} "
            f"its header declares. {_fix(path)}")


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + STAMP_SUFFIX)


def _file_version(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _read_stamp(path: Path) -> dict | None:
    """The splits recorded by an earlier full check of this very file version."""
    try:
        stamp = json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        return None
    if stamp.get("file") != _file_version(path) or stamp.get("result") != "ok":
        return None
    return stamp.get("splits")


def _write_stamp(path: Path, splits: dict) -> None:
    try:
        _stamp_path(path).write_text(json.dumps(
            {"file": _file_version(path), "result": "ok", "splits": splits}))
    except OSError:
        pass  # a read-only folder: the check simply runs again next time


def _query(path: Path, full_check: bool) -> dict[str, int]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if full_check:
            try:
                problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
            except sqlite3.DatabaseError as e:
                problems = [str(e)]
            if problems != ["ok"]:
                raise CorruptDatasetError(
                    f"{path} is damaged (SQLite's integrity check: "
                    f"{'; '.join(problems[:3])}). {_fix(path)}")
        rows = connection.execute(
            "SELECT split_name, COUNT(*) FROM client_metadata GROUP BY split_name"
        ).fetchall()
        connection.execute("SELECT serialized_example_proto FROM examples LIMIT 1")
    finally:
        connection.close()
    return dict(rows)


def check_sqlite(path: str | os.PathLike) -> dict[str, int]:
    """Validate an EMNIST SQLite file; return {split name: number of clients}.

    Catches truncated files (header against size), damage anywhere in the file
    (`PRAGMA quick_check`, once per file version), files that are not TFF's EMNIST
    format and databases without clients; the message says how to fix it.
    """
    path = Path(path)
    _check_header(path)
    splits = _read_stamp(path)
    if splits is not None:
        return splits
    try:
        splits = _query(path, full_check=True)
    except sqlite3.DatabaseError as e:
        raise CorruptDatasetError(
            f"{path} is not a usable EMNIST database ({e}). {_fix(path)}") from e
    if not splits:
        raise CorruptDatasetError(f"{path} has no clients. {_fix(path)}")
    _write_stamp(path, splits)
    return splits


def count_examples(path: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """{split: (clients, examples)} from the metadata table (cheap)."""
    connection = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT split_name, COUNT(*), SUM(num_examples) FROM client_metadata "
            "GROUP BY split_name").fetchall()
    finally:
        connection.close()
    return {split: (clients, examples) for split, clients, examples in rows}


def read_clients(path: str | os.PathLike, split: str) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(client id, pixels uint8 [n, 28, 28], labels uint8 [n]) per client of `split`, in
    the order of the metadata table (rowid order within a client)."""
    from tensorflow.core.example import example_pb2

    connection = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        ids = [row[0] for row in connection.execute(
            "SELECT client_id FROM client_metadata WHERE split_name = ? ORDER BY rowid",
            (split,))]
        for client_id in ids:
            pixels, labels = [], []
            for (blob,) in connection.execute(
                    "SELECT serialized_example_proto FROM examples WHERE client_id = ? "
                    "AND split_name = ? ORDER BY rowid", (client_id, split)):
                example = example_pb2.Example.FromString(blob)
                values = np.array(example.features.feature["pixels"].float_list.value,
                                  dtype=np.float32)
                pixels.append(np.round(values * 255).astype(np.uint8).reshape(28, 28))
                labels.append(example.features.feature["label"].int64_list.value[0])
            yield client_id, np.stack(pixels), np.array(labels, dtype=np.uint8)
    finally:
        connection.close()
