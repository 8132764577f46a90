"""A full-size stand-in for TFF's federated EMNIST, to measure the notebooks at full scale.

    .venv/bin/python benchmarks/full_scale_standin.py /tmp/standin
    .venv/bin/python tools/run_notebooks.py --data /tmp/standin --summary benchmarks/results/full_scale.md

Full federated EMNIST (digits) has 3,383 writers with 341,873 train and 40,832 test
examples; it cannot be downloaded here. The stand-in has exactly those counts: the
bundled 383 writers copied (copy 0 as it is, copies 1-8 shifted by up to 2 pixels, with
new ids `<writer>_c<copy>`) until there are 3,383 writers, and the per-writer counts
nudged (an example repeated or dropped, round robin) to hit the totals. Its accuracies
mean nothing (copies of 383 writers); its size, and so the notebooks' time and memory
on it, is the full dataset's.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from course_utils.emnist import sample_writers
from course_utils.emnist import sqlite as emnist_sqlite

WRITERS = 3383
EXAMPLES = {"digits_only_train": 341_873, "digits_only_test": 40_832}
SHIFTS = [(0, 0)] + [(dx, dy) for dx, dy in itertools.product((-2, -1, 1, 2), repeat=2)][:8]


def _shift(pixels: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Move the images by (dx, dy) pixels, filling with background (255)."""
    out = np.full_like(pixels, 255)
    h, w = pixels.shape[1:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        pixels[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _writer_copies(bundle) -> list[tuple[int, int]]:
    """(writer index, copy) for the stand-in's writers, copy by copy."""
    count = len(bundle["client_ids"])
    return [(writer, copy) for copy in range(len(SHIFTS)) for writer in range(count)][:WRITERS]


def _counts(bundle, copies, short: str, target: int) -> list[int]:
    """Examples per stand-in writer: the original's, nudged round robin to `target`."""
    counts = [int(bundle[f"{short}_counts"][w]) for w, _ in copies]
    step = 1 if target > sum(counts) else -1
    for i in itertools.cycle(range(len(counts))):
        if sum(counts) == target:
            return counts
        if counts[i] + step >= 1:
            counts[i] += step


def _clients(bundle):
    copies = _writer_copies(bundle)
    offsets, counts = {}, {}
    for split, short in sample_writers.SHORT_SPLITS.items():
        offsets[split] = np.concatenate([[0], np.cumsum(bundle[f"{short}_counts"])])
        counts[split] = _counts(bundle, copies, short, EXAMPLES[split])
    for index, (writer, copy) in enumerate(copies):
        client_id = f"{bundle['client_ids'][writer]}_c{copy}"
        for split, short in sample_writers.SHORT_SPLITS.items():
            start, stop = offsets[split][writer], offsets[split][writer + 1]
            take = np.resize(np.arange(start, stop), counts[split][index])  # repeat/drop
            pixels = _shift(bundle[f"{short}_pixels"][take], *SHIFTS[copy])
            yield split, client_id, pixels, bundle[f"{short}_labels"][take]


def build(directory: Path) -> Path:
    with np.load(sample_writers.BUNDLE) as npz:
        bundle = {name: npz[name] for name in npz.files}
    return emnist_sqlite.write_sqlite(directory / emnist_sqlite.SQLITE_NAME, _clients(bundle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    path = build(args.directory)
    counts = emnist_sqlite.count_examples(path)
    print(f"built {path} in {time.perf_counter() - start:.0f} s "
          f"({path.stat().st_size / 2**30:.2f} GiB): {counts}")
    for split, examples in EXAMPLES.items():
        assert counts[split] == (WRITERS, examples), counts


if __name__ == "__main__":
    main()
