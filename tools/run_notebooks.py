"""Execute the course's notebooks headless, in order, and store their outputs.

This is how the committed outputs are (re)generated: never edit outputs by hand.

    python tools/run_notebooks.py [NOTEBOOK ...] [--data DIR_OR_MODE] [--summary FILE]

Each notebook runs in a fresh kernel from this environment; outputs are written back
in place, without saved widget state. For every notebook the wall time and the peak resident memory of the kernel
plus its child processes (the TFF worker) are printed and written to
notebooks/RUN_SUMMARY.md (or --summary FILE) with the course's total headless run time.
Running some notebooks updates their rows and keeps the others'.
"""

from __future__ import annotations

import argparse
import os
import re
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


def strip_widget_state(notebook) -> bool:
    """Drop saved widget state (`metadata.widgets`); True if there was some. Stored
    widgets only replay a bar's first frame, and make a page built from the notebook
    (the web book) load a widget library from a CDN."""
    return notebook.metadata.pop("widgets", None) is not None


def run(path: Path, timeout: int) -> tuple[float, int]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            store_widget_state=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with PeakMemory() as memory:
        client.execute()
    seconds = time.perf_counter() - start
    strip_widget_state(notebook)  # also an earlier run's
    nbformat.write(notebook, path)
    return seconds, memory.peak


def display_name(path: Path) -> str:
    """notebooks/NN_x.ipynb (or notebooks/solutions/...) also for copies elsewhere."""
    path = path.resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        for parent in path.parents:
            if parent.name == "notebooks":
                return str(path.relative_to(parent.parent))
        return str(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--data", help="COURSE_DATA for the run (mode or directory)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--summary", type=Path, default=NOTEBOOKS / "RUN_SUMMARY.md",
                        help="summary file; rows of notebooks not run now are kept "
                             "(default: notebooks/RUN_SUMMARY.md)")
    args = parser.parse_args(argv)
    if args.data:
        os.environ["COURSE_DATA"] = args.data
    # No progress bars in stored outputs: a saved widget shows its initial "0%".
    os.environ["COURSE_PROGRESS"] = "0"
    data = os.environ.get("COURSE_DATA", "sample")
    paths = [p.resolve() for p in args.notebooks] or course_notebooks()
    rows = read_summary(args.summary)
    for path in paths:
        name = display_name(path)
        print(f"running {name} ...", flush=True)
        try:
            seconds, peak = run(path, args.timeout)
        except CellExecutionError as error:
            print(f"FAILED: {path.name}\n{error}", file=sys.stderr)
            return 1
        rows[name] = (seconds, peak / 2**20, data)
        write_summary(rows, args.summary)  # after each notebook: a failure keeps the rest
        print(f"  {seconds:.1f} s, peak memory {peak / 2**20:.0f} MiB", flush=True)
    print(f"summary: {args.summary}")
    return 0


ROW = re.compile(r"^\| (?P<name>\S+\.ipynb) \| (?P<seconds>[\d.]+) \| (?P<mib>\d+) \|"
                 r"(?: `?COURSE_DATA=(?P<data>[^`|]*)`? \|)?$")


def read_summary(path: Path) -> dict:
    """{notebook: (seconds, peak MiB, data)} from an existing summary (else empty)."""
    rows = {}
    if path.exists():
        for line in path.read_text().splitlines():
            match = ROW.match(line.strip())
            if match:
                rows[match["name"]] = (float(match["seconds"]), float(match["mib"]),
                                       match["data"] or "?")
    return rows


def write_summary(rows: dict, path: Path) -> None:
    """One page: seconds and peak memory per notebook, and the course's totals. Rows of
    notebooks that were not run this time are kept from the previous summary."""
    lines = ["# Last headless run of the notebooks", "",
             "Written by `tools/run_notebooks.py` (`make run`); a run of some notebooks "
             "updates their rows and keeps the others. Peak memory is the resident memory "
             "of the kernel plus its TFF worker(s); Binder gives about 2 GB.", "",
             "| notebook | seconds | peak memory (MiB) | data |", "|---|---|---|---|"]
    for name in sorted(rows):
        seconds, mib, data = rows[name]
        lines.append(f"| {name} | {seconds:.1f} | {mib:.0f} | `COURSE_DATA={data}` |")
    course = {n: r for n, r in rows.items() if "/solutions/" not in n}
    solved = {n: r for n, r in rows.items() if "/solutions/" in n}
    expected = {lesson.file for lesson in _syllabus().SYLLABUS}
    missing = sorted(expected - {Path(n).name for n in course})
    lines += ["", f"**Headless run time of the course:** {_total(course)} for "
              f"{len(course)} notebook(s)"
              + (f" (not yet run: {', '.join(missing)})" if missing else "") + "."]
    if solved:
        lines.append(f"Solved copies: {_total(solved)} for {len(solved)} notebook(s).")
    if rows:
        worst = max(rows, key=lambda n: rows[n][1])
        lines.append(f"Highest peak memory: {rows[worst][1]:.0f} MiB ({worst}).")
    path.write_text("\n".join(lines) + "\n")


def _syllabus():
    """course_utils/authoring/syllabus.py, imported without running course_utils'
    __init__ (which starts TFF): the package is registered as a bare namespace."""
    import importlib
    import sys
    import types

    if "course_utils" in sys.modules:  # already imported for real: use it
        return importlib.import_module("course_utils.authoring.syllabus")
    package = types.ModuleType("course_utils")
    package.__path__ = [str(ROOT / "course_utils")]
    sys.modules["course_utils"] = package
    try:
        return importlib.import_module("course_utils.authoring.syllabus")
    finally:  # forget the bare namespace: a later `import course_utils` is the real one
        for name in [n for n in sys.modules if n.split(".")[0] == "course_utils"]:
            del sys.modules[name]


def _total(rows: dict) -> str:
    seconds = sum(r[0] for r in rows.values())
    return f"{seconds:.0f} s ({seconds / 60:.1f} min)"


if __name__ == "__main__":
    sys.exit(main())
