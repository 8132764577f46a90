"""Execute the course's notebooks headless, in order, and store their outputs.

This is how the committed outputs are (re)generated: never edit outputs by hand.

    python tools/run_notebooks.py [NOTEBOOK ...] [--data DIR_OR_MODE]

Each notebook runs in a fresh kernel from this environment; outputs are written back
in place. For every notebook the wall time and the peak resident memory of the kernel
plus its child processes (the TFF worker) are printed and written to
notebooks/RUN_SUMMARY.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def course_notebooks() -> list[Path]:
    return sorted(list(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
                  + list((NOTEBOOKS / "solutions").glob("[0-9][0-9]_*.ipynb")))


class PeakMemory:
    """Samples, in a thread, the summed RSS of this process's descendants (the kernel
    and its TFF worker); `peak` is the maximum seen."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                tree = psutil.Process().children(recursive=True)
                self.peak = max(self.peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run(path: Path, timeout: int) -> tuple[float, int]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with PeakMemory() as memory:
        client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(notebook, path)
    return seconds, memory.peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--data", help="COURSE_DATA for the run (mode or directory)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.data:
        os.environ["COURSE_DATA"] = args.data
    paths = [p.resolve() for p in args.notebooks] or course_notebooks()
    rows = []
    for path in paths:
        print(f"running {path.relative_to(ROOT)} ...", flush=True)
        try:
            seconds, peak = run(path, args.timeout)
        except CellExecutionError as error:
            print(f"FAILED: {path.name}\n{error}", file=sys.stderr)
            return 1
        rows.append((path.relative_to(ROOT), seconds, peak))
        print(f"  {seconds:.1f} s, peak memory {peak / 2**20:.0f} MiB", flush=True)
    write_summary(rows)
    return 0


def write_summary(rows) -> None:
    data = os.environ.get("COURSE_DATA", "auto")
    lines = ["# Last headless run of the notebooks", "",
             f"Data: `COURSE_DATA={data}`. Peak memory is the resident memory of the "
             "kernel plus its TFF worker.", "",
             "| notebook | seconds | peak memory (MiB) |", "|---|---|---|"]
    lines += [f"| {p} | {s:.1f} | {m / 2**20:.0f} |" for p, s, m in rows]
    lines += ["", f"Total: {sum(s for _, s, _ in rows):.1f} s"]
    (NOTEBOOKS / "RUN_SUMMARY.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
