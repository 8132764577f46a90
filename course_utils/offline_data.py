"""The course's offline dataset: real handwritten digits, federated by simulated writers.

Used when EMNIST cannot be downloaded. The digits are scikit-learn's `load_digits`
(1,797 real 8x8 scans of handwritten digits, shipped inside the package). Each image is
upscaled to a 20x20 box centred in 28x28, like MNIST. Writers are simulated: every
writer has a style (slant, rotation, size, stroke width, ink, position) applied to all
of their digits, a mildly skewed mix of digits (every writer writes most digits, as in
EMNIST) and their own number of examples. Test examples come from base scans that no
training example uses.

The file is written in TFF's exact EMNIST SQLite format and convention (1.0 =
background), so `tff.simulation.datasets.emnist.load_data` reads it unchanged. The build
is deterministic: the same bytes every time.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

import numpy as np

OFFLINE_VERSION = "1"
NUM_WRITERS = 150
TRAIN_SPLIT, TEST_SPLIT = "digits_only_train", "digits_only_test"
_SEED = 20241122


def _base_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as 28x28 ink images (0 = background, 1 = ink)."""
    from scipy import ndimage
    from sklearn.datasets import load_digits

    digits = load_digits()
    ink = digits.images.astype(np.float64) / 16.0
    boxes = np.clip(ndimage.zoom(ink, (1, 2.5, 2.5), order=1), 0.0, 1.0)
    canvas = np.zeros((len(ink), 28, 28))
    canvas[:, 4:24, 4:24] = boxes
    return canvas, digits.target.astype(np.int64)


def _writer_style(rng: np.random.Generator) -> dict:
    return {
        "rotation": rng.normal(0.0, 0.15),       # radians
        "shear": rng.normal(0.0, 0.25),
        "scale": rng.uniform(0.8, 1.1, size=2),   # (y, x)
        "shift": rng.uniform(-2.0, 2.0, size=2),  # pixels
        "stroke": rng.uniform(0.3, 1.0),          # blur sigma: thin to thick pen
        "ink": rng.uniform(0.6, 1.0),             # how dark the pen is
        "label_mix": 0.7 / 10 + 0.3 * rng.dirichlet(np.full(10, 0.5)),
    }


def _render(image: np.ndarray, style: dict, rng: np.random.Generator) -> np.ndarray:
    """One digit in the writer's style, with a little per-example jitter."""
    from scipy import ndimage

    angle = style["rotation"] + rng.normal(0.0, 0.05)
    cos, sin = np.cos(angle), np.sin(angle)
    matrix = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, style["shear"]], [0.0, 1.0]])
    matrix = matrix / style["scale"][:, None]
    centre = np.array([13.5, 13.5])
    offset = centre - matrix @ (centre + style["shift"] + rng.normal(0.0, 0.5, size=2))
    warped = ndimage.affine_transform(image, matrix, offset=offset, order=1)
    thick = ndimage.gaussian_filter(warped, style["stroke"]) * (1.0 + 0.8 * style["stroke"])
    return np.clip(thick, 0.0, 1.0) * style["ink"]


def _writer_examples(images, labels, style, count, rng):
    by_label = [np.flatnonzero(labels == d) for d in range(10)]
    chosen = rng.choice(10, size=count, p=style["label_mix"])
    picks = [rng.choice(by_label[d]) for d in chosen]
    pixels = np.stack([1.0 - _render(images[i], style, rng) for i in picks])
    return pixels.astype(np.float32), chosen.astype(np.int64)


def _serialize(pixels: np.ndarray, label: int) -> bytes:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature["pixels"].float_list.value.extend(pixels.ravel().tolist())
    example.features.feature["label"].int64_list.value.append(int(label))
    return example.SerializeToString()


def _rows():
    """(split, client_id, serialized example) for every example, in a fixed order."""
    images, labels = _base_digits()
    test_pool = np.arange(len(labels)) % 5 == 0
    rng = np.random.default_rng(_SEED)
    for writer in range(NUM_WRITERS):
        client_id = f"offline_w{writer:03d}"
        style = _writer_style(rng)
        num_train = int(np.clip(rng.lognormal(np.log(40), 0.5), 12, 120))
        num_test = max(2, num_train // 8)
        for split, pool, count in ((TRAIN_SPLIT, ~test_pool, num_train),
                                   (TEST_SPLIT, test_pool, num_test)):
            pixels, digits = _writer_examples(images[pool], labels[pool], style, count, rng)
            for p, d in zip(pixels, digits):
                yield split, client_id, _serialize(p, d)


def _write_sqlite(path: Path) -> None:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("CREATE TABLE examples (split_name TEXT NOT NULL, "
                           "client_id TEXT NOT NULL, serialized_example_proto BLOB NOT NULL)")
        connection.execute("CREATE TABLE client_metadata (client_id TEXT NOT NULL, "
                           "split_name TEXT NOT NULL, num_examples INTEGER NOT NULL)")
        connection.execute("CREATE TABLE dataset_info (key TEXT, value TEXT)")
        connection.executemany("INSERT INTO examples VALUES (?, ?, ?)", _rows())
        connection.execute(
            "INSERT INTO client_metadata SELECT client_id, split_name, COUNT(*) "
            "FROM examples GROUP BY split_name, client_id ORDER BY split_name, client_id")
        connection.execute("CREATE INDEX examples_split_client ON examples (split_name, client_id)")
        connection.executemany("INSERT INTO dataset_info VALUES (?, ?)", [
            ("name", "course offline dataset"),
            ("version", OFFLINE_VERSION),
            ("source", "scikit-learn load_digits (UCI optical recognition of handwritten "
                       "digits), upscaled to 28x28; writers simulated"),
        ])
    connection.close()


def build_offline_dataset(directory: str | os.PathLike) -> Path:
    """Write `directory/emnist_all.sqlite` (atomically) unless it is already there."""
    directory = Path(directory)
    target = directory / "emnist_all.sqlite"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".building-", suffix=".sqlite")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        _write_sqlite(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
