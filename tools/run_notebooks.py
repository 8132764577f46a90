"""Execute the course's notebooks headless, in order, and store their outputs.

This is how the committed outputs are (re)generated: never edit outputs by hand.

    python tools/run_notebooks.py [NOTEBOOK ...] [--data DIR_OR_MODE] [--summary FILE]
                                  [--stack NAME] [--no-store]

Each notebook runs in a fresh kernel of the Python that runs this script (so
`.venv-modern/bin/python tools/run_notebooks.py` measures the modern stack); outputs are
written back in place (without saved widget state) unless --no-store. For every notebook the wall time, the peak
resident memory of the kernel plus its child processes (the TFF worker), its headline
accuracy (HEADLINES) and the time of its first code cell (the setup cell) are printed
and written to benchmarks/RUN_SUMMARY.md (or --summary FILE), one column group per
stack (the stack this Python is on, or --stack NAME), with the course's total headless
run time. Running some notebooks, or another stack, updates those rows and keeps the
others'.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_utils.authoring import syllabus  # neither imports TensorFlow
from course_utils.runtime import compat

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


# The headline accuracy of a notebook: the last match in its printed output.
HEADLINES = {
    "02": r"a new random sample every round .*central test accuracy (\d\.\d+)",
    "05": r"after \d+ rounds: central test accuracy (\d\.\d+)",
    "06": r"constant 1\.0: test accuracy (\d\.\d+)",
    "07": r"no corrupted clients \(simple mean\)\s+test accuracy after \d+ rounds: (\d\.\d+)",
    "08": r"'accuracy': (?:np\.float\d+\()?(\d\.\d+)",
}


@dataclass
class Row:
    seconds: float
    mib: float
    data: str
    accuracy: float | None = None
    setup_seconds: float | None = None


def printed_text(notebook) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells
                   if cell.cell_type == "code" for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream")


def headline_accuracy(name: str, notebook) -> float | None:
    pattern = HEADLINES.get(Path(name).name[:2])
    found = re.findall(pattern, printed_text(notebook)) if pattern else []
    return float(found[-1]) if found else None


def first_cell_seconds(notebook) -> float | None:
    """Seconds the first code cell took (nbclient's timing metadata)."""
    from datetime import datetime

    for cell in notebook.cells:
        if cell.cell_type == "code":
            timing = cell.get("metadata", {}).get("execution", {})
            start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
            if start and end:
                parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
                return (parse(end) - parse(start)).total_seconds()
            return None
    return None


def run(path: Path, timeout: int, store: bool = True) -> tuple[float, int, object]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            store_widget_state=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with PeakMemory() as memory:
        client.execute()
    seconds = time.perf_counter() - start
    strip_widget_state(notebook)  # also an earlier run's
    if store:
        nbformat.write(notebook, path)
    return seconds, memory.peak, notebook


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
    parser.add_argument("--summary", type=Path, default=ROOT / "benchmarks" / "RUN_SUMMARY.md",
                        help="summary file; rows of notebooks not run now are kept "
                             "(default: benchmarks/RUN_SUMMARY.md)")
    parser.add_argument("--stack", default=None,
                        help="column group to record into (default: this Python's stack, "
                             "classic or modern)")
    parser.add_argument("--no-store", action="store_true",
                        help="measure only: do not write the outputs into the notebooks")
    args = parser.parse_args(argv)
    if args.data:
        os.environ["COURSE_DATA"] = args.data
    # No progress bars in stored outputs: a saved widget shows its initial "0%".
    os.environ["COURSE_PROGRESS"] = "0"
    data = os.environ.get("COURSE_DATA", "sample")
    stack = args.stack or compat.stack().name
    paths = [p.resolve() for p in args.notebooks] or course_notebooks()
    rows = read_summary(args.summary)
    for path in paths:
        name = display_name(path)
        print(f"running {name} on the {stack} stack ...", flush=True)
        try:
            seconds, peak, notebook = run(path, args.timeout, store=not args.no_store)
        except CellExecutionError as error:
            print(f"FAILED: {path.name}\n{error}", file=sys.stderr)
            return 1
        row = Row(seconds, peak / 2**20, data, headline_accuracy(name, notebook),
                  first_cell_seconds(notebook))
        rows[(name, stack)] = row
        write_summary(rows, args.summary)  # after each notebook: a failure keeps the rest
        accuracy = "" if row.accuracy is None else f", accuracy {row.accuracy:.3f}"
        print(f"  {seconds:.1f} s, peak memory {row.mib:.0f} MiB{accuracy}, first cell "
              f"{_seconds(row.setup_seconds)}", flush=True)
    print(f"summary: {args.summary}")
    return 0


STACK_ORDER = ("classic", "modern")
HEADER = re.compile(r"^\| notebook \|(?P<groups>.*)\| data \|$")
OLD_ROW = re.compile(r"^\| (?P<name>\S+\.ipynb) \| (?P<seconds>[\d.]+) \| (?P<mib>\d+) \|"
                     r"(?: `?COURSE_DATA=(?P<data>[^`|]*)`? \|)?$")


def _number(text: str) -> float | None:
    text = text.strip()
    return None if text in ("", "—") else float(text)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _data_cell(data: list[tuple[str, str]]) -> str:
    """`COURSE_DATA=X` when every stack used X, else `classic: COURSE_DATA=X; ...`."""
    if len({value for _, value in data}) == 1:
        return f"`COURSE_DATA={data[0][1]}`"
    return "`" + "; ".join(f"{stack}: COURSE_DATA={value}" for stack, value in data) + "`"


def _read_data(cell: str, stacks: list[str]) -> dict:
    cell = cell.strip("`")
    if cell.startswith("COURSE_DATA="):
        return {stack: cell[len("COURSE_DATA="):] for stack in stacks}
    found = dict(part.split(": COURSE_DATA=", 1) for part in cell.split("; ")
                 if ": COURSE_DATA=" in part)
    return {stack: found.get(stack, "?") for stack in stacks}


def read_summary(path: Path) -> dict:
    """{(notebook, stack): Row} from an existing summary (else empty). Reads the
    one-stack format of earlier summaries as the classic stack."""
    rows = {}
    if not path.exists():
        return rows
    stacks = []
    for line in path.read_text().splitlines():
        line = line.strip()
        header = HEADER.match(line)
        if header:
            stacks = [g.strip().split(":")[0] for g in header["groups"].split("|")][::4]
            continue
        old = OLD_ROW.match(line)
        if old:
            rows[(old["name"], "classic")] = Row(float(old["seconds"]), float(old["mib"]),
                                                 old["data"] or "?")
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if stacks and cells and cells[0].endswith(".ipynb") and len(cells) == 2 + 4 * len(stacks):
            data = _read_data(cells[-1], stacks)
            for i, stack in enumerate(stacks):
                seconds, mib, accuracy, setup = (_number(c.replace(" s", ""))
                                                 for c in cells[1 + 4 * i:5 + 4 * i])
                if seconds is not None:
                    rows[(cells[0], stack)] = Row(seconds, mib, data[stack], accuracy, setup)
    return rows


def write_summary(rows: dict, path: Path) -> None:
    """One page: per notebook and stack, seconds, peak memory, headline accuracy and the
    first cell's time; and the course's totals. Rows not run this time are kept."""
    stacks = sorted({stack for _, stack in rows},
                    key=lambda s: (STACK_ORDER.index(s) if s in STACK_ORDER else 99, s))
    groups = " | ".join(f"{s}: seconds | {s}: peak MiB | {s}: accuracy | {s}: first cell"
                        for s in stacks)
    lines = ["# Last headless run of the notebooks", "",
             "Written by `tools/run_notebooks.py` (`make run`; with another venv's Python "
             "for its stack); a run of some notebooks updates their rows and keeps the "
             "others. Peak memory is the resident memory of the kernel plus its TFF "
             "worker(s); Binder gives about 2 GB. Accuracy is the notebook's headline "
             "(central test) accuracy; first cell is the setup cell's time. Stacks: "
             "classic = Python 3.11 + requirements.txt, modern = Python 3.12/3.13 + "
             "requirements-modern.txt (Colab's versions).", "",
             f"| notebook | {groups} | data |",
             "|---|" + "---|---|---|---|" * len(stacks) + "---|"]
    for name in sorted({name for name, _ in rows}):
        cells, data = [], []
        for stack in stacks:
            row = rows.get((name, stack))
            if row is None:
                cells += ["—"] * 4
                continue
            cells += [f"{row.seconds:.1f}", f"{row.mib:.0f}",
                      "—" if row.accuracy is None else f"{row.accuracy:.3f}",
                      _seconds(row.setup_seconds)]
            data.append((stack, row.data))
        lines.append(f"| {name} | {' | '.join(cells)} | {_data_cell(data)} |")
    expected = {lesson.file for lesson in syllabus.SYLLABUS}
    lines.append("")
    for stack in stacks:
        mine = {n: r for (n, s), r in rows.items() if s == stack}
        course = {n: r for n, r in mine.items() if "/solutions/" not in n}
        solved = {n: r for n, r in mine.items() if "/solutions/" in n}
        # a partial stack (e.g. "colab": only the first cell's install is of interest)
        missing = sorted(expected - {Path(n).name for n in course}) if stack in STACK_ORDER else []
        line = (f"**{stack}:** headless run time of the course {_total(course)} for "
                f"{len(course)} notebook(s)"
                + (f" (not yet run: {', '.join(missing)})" if missing else ""))
        if solved:
            line += f"; solved copies {_total(solved)} for {len(solved)} notebook(s)"
        if mine:
            worst = max(mine, key=lambda n: mine[n].mib)
            line += f"; highest peak memory {mine[worst].mib:.0f} MiB ({worst})"
        lines.append(line + ".")
    path.write_text("\n".join(lines) + "\n")


def _total(rows: dict) -> str:
    seconds = sum(r.seconds for r in rows.values())
    return f"{seconds:.0f} s ({seconds / 60:.1f} min)"


if __name__ == "__main__":
    sys.exit(main())
