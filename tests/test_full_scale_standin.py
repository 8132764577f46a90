"""benchmarks/full_scale_standin.py: the full-size stand-in has full EMNIST's counts."""

import importlib.util
from pathlib import Path

import numpy as np

SPEC = importlib.util.spec_from_file_location(
    "full_scale_standin",
    Path(__file__).resolve().parent.parent / "benchmarks" / "full_scale_standin.py")
standin = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(standin)


def test_shift_moves_ink_and_fills_background():
    image = np.full((1, 28, 28), 255, np.uint8)
    image[0, 10, 10] = 0
    moved = standin._shift(image, 2, -1)
    assert moved[0, 9, 12] == 0 and (moved == 0).sum() == 1
    assert (standin._shift(image, 0, 0) == image).all()


def test_counts_reach_full_emnists_totals_exactly():
    from course_utils.emnist import sample_writers

    with np.load(sample_writers.BUNDLE) as npz:
        bundle = {name: npz[name] for name in ("client_ids", "train_counts", "test_counts")}
    copies = standin._writer_copies(bundle)
    assert len(copies) == standin.WRITERS == len(set(copies))
    for short, split in (("train", "digits_only_train"), ("test", "digits_only_test")):
        counts = standin._counts(bundle, copies, short, standin.EXAMPLES[split])
        assert sum(counts) == standin.EXAMPLES[split] and min(counts) >= 1
        original = [int(bundle[f"{short}_counts"][w]) for w, _ in copies]
        assert max(abs(a - b) for a, b in zip(counts, original)) <= 2  # nudged, not remade
