"""The course's bundled data: 383 real EMNIST writers (LEAF FEMNIST digits).

The writers ship inside the package as uint8 pixels (`bundled/`, see its README) and
are built, at first use, into TFF's SQLite format in the course's cache, which TFF's own
loader then reads. The build is deterministic (the same bytes every time) and atomic.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from course_utils.emnist import sqlite as emnist_sqlite

BUNDLE_DIR = Path(__file__).resolve().parents[1] / "bundled"  # course_utils/bundled
BUNDLE = BUNDLE_DIR / "femnist_digits_383.npz"
PROVENANCE = BUNDLE_DIR / "provenance.csv"
SAMPLE_VERSION = 1  # bump when the bundle or the build changes
SPLITS = ("digits_only_train", "digits_only_test")
SHORT_SPLITS = {"digits_only_train": "train", "digits_only_test": "test"}
PROVENANCE_COLUMNS = ("client_id", "leaf_run", "how", "train_repo", "train_commit",
                      "train_path", "train_blob", "test_repo", "test_commit", "test_path",
                      "test_blob")


def _clients_in_order(bundle):
    """(split, client id, pixels, labels) for every client: its train rows, then its
    test rows, as in the original database."""
    offsets = {split: np.concatenate([[0], np.cumsum(bundle[f"{short}_counts"])])
               for split, short in SHORT_SPLITS.items()}
    for index, client_id in enumerate(bundle["client_ids"]):
        for split, short in SHORT_SPLITS.items():
            start, stop = offsets[split][index], offsets[split][index + 1]
            yield (split, str(client_id), bundle[f"{short}_pixels"][start:stop],
                   bundle[f"{short}_labels"][start:stop])


def _provenance_rows():
    with open(PROVENANCE, newline="") as f:
        return [tuple(row[c] for c in PROVENANCE_COLUMNS) for row in csv.DictReader(f)]


def build(directory: str | os.PathLike) -> Path:
    """Write the bundled writers as `directory/emnist_all.sqlite` (if not there yet)."""
    path = Path(directory) / emnist_sqlite.SQLITE_NAME
    if path.exists():
        return path
    columns = ", ".join(f"{c} TEXT" for c in PROVENANCE_COLUMNS)
    with np.load(BUNDLE) as npz:
        bundle = {name: npz[name] for name in npz.files}  # decompress each array once
    emnist_sqlite.write_sqlite(
        path, _clients_in_order(bundle),
        extra_sql=f"CREATE TABLE provenance ({columns});",
        extra_rows=[(f"INSERT INTO provenance VALUES "
                     f"({', '.join('?' * len(PROVENANCE_COLUMNS))})", _provenance_rows())])
    return path


def pack(sqlite_path: str | os.PathLike, bundle_dir: str | os.PathLike = BUNDLE_DIR) -> None:
    """Make the bundle from an EMNIST SQLite of LEAF writers (run once by
    tools/pack_sample_writers.py; kept so the bundle can be remade and checked)."""
    import sqlite3

    arrays, client_ids = {}, None
    for split, short in SHORT_SPLITS.items():
        clients = list(emnist_sqlite.read_clients(sqlite_path, split))
        ids = [client_id for client_id, _, _ in clients]
        if client_ids is not None and ids != client_ids:
            raise ValueError("train and test list different writers")
        client_ids = ids
        arrays[f"{short}_pixels"] = np.concatenate([p for _, p, _ in clients])
        arrays[f"{short}_labels"] = np.concatenate([y for _, _, y in clients])
        arrays[f"{short}_counts"] = np.array([len(y) for _, _, y in clients], np.int32)
    bundle_dir = Path(bundle_dir)
    np.savez_compressed(bundle_dir / BUNDLE.name, client_ids=np.array(client_ids), **arrays)
    connection = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            f"SELECT {', '.join(PROVENANCE_COLUMNS)} FROM provenance ORDER BY rowid").fetchall()
    finally:
        connection.close()
    with open(bundle_dir / PROVENANCE.name, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(PROVENANCE_COLUMNS)
        writer.writerows(rows)
