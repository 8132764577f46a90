"""What the checkers share: comparing a learner's weights with an expected answer,
printing a few numbers, and the first line of an error."""

from __future__ import annotations

import numpy as np


def close(a, b, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """`a` and `b` hold as many arrays, of the same shapes and close in value."""
    return len(a) == len(b) and all(
        np.shape(x) == np.shape(y) and np.allclose(x, y, rtol=rtol, atol=atol)
        for x, y in zip(a, b))


def fmt(values) -> str:
    """The numbers of `values`, flattened, to 4 significant digits."""
    return ", ".join(f"{v:.4g}" for v in np.ravel(values))


def first_line(error, chars: int = 300) -> str:
    """The first line of an error's message, at most `chars` characters."""
    text = str(error).strip().splitlines()
    return text[0][:chars] if text else ""
