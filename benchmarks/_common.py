"""What the benchmark scripts share: their command line's common options, with the
course's settings (`settings.COURSE`) as defaults."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parser(doc: str, default_out: Path) -> argparse.ArgumentParser:
    """A parser with --data and --out; the description is `doc`'s first line."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", default=None,
                        help="sample | emnist | a directory with emnist_all.sqlite "
                             "(default: $COURSE_DATA or sample)")
    parser.add_argument("--out", type=Path, default=default_out,
                        help=f"the JSON results (default {default_out.relative_to(ROOT)})")
    return parser


def add_client_training(parser: argparse.ArgumentParser, learning_rate: bool = True) -> None:
    """--epochs, --batch-size, --seed (and --client-learning-rate): each client's local
    training, defaulting to the course's."""
    from course_utils.settings import COURSE

    parser.add_argument("--epochs", type=int, default=COURSE.epochs)
    parser.add_argument("--batch-size", type=int, default=COURSE.batch_size)
    parser.add_argument("--seed", type=int, default=COURSE.seed)
    if learning_rate:
        parser.add_argument("--client-learning-rate", type=float,
                            default=COURSE.client_learning_rate)


def record(out: Path, script: str, argv, start: float, **fields) -> dict:
    """Write a script's results to `out` as JSON: the command that made them, the date,
    the minutes they took and the load average after (timings on a busy machine are not
    figures), then `fields`. `argv`: main's argument list (None: the command line)."""
    result = {"command": " ".join([f"python benchmarks/{script}",
                                   *(sys.argv[1:] if argv is None else argv)]),
              "date": time.strftime("%Y-%m-%d %H:%M"),
              "minutes": round((time.time() - start) / 60, 1),
              "load_average_after": [round(x, 2) for x in os.getloadavg()],
              **fields}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return result
