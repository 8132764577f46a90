"""The gradebook: one row per learner, notebook and exercise, written as
`gradebook.csv` and `gradebook.json`, and a summary table for the terminal.

Statuses: "passed"; "mistake" (the checker named what is wrong: the message);
"not attempted" (the stub still raises NotImplementedError); "missing" (the exercise
cell, or the function it defines, is not in the notebook); "error" (the learner's code
raised, the kernel died, used too much memory, ...); "timeout" (the notebook's time
limit ran out before this exercise was checked).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

STATUSES = ("passed", "mistake", "not attempted", "missing", "error", "timeout")
FROM_VERDICT = {"passed": "passed", "wrong": "mistake", "not attempted": "not attempted",
                "error": "error"}
FIELDS = ("learner", "notebook", "exercise", "title", "status", "message", "seconds",
          "notebook_seconds", "submission")


@dataclass
class Row:
    learner: str
    notebook: str        # the lesson's file name without .ipynb
    exercise: str        # "05.1"
    title: str           # the checker's name for it
    status: str          # one of STATUSES
    message: str
    seconds: float       # this exercise's own cells and checker
    notebook_seconds: float  # the whole notebook, kernel start included
    submission: str      # the notebook's path

    def sort_key(self) -> tuple:
        return (self.learner, self.notebook, self.submission,
                [int(part) for part in self.exercise.split(".")])


def write(rows: list[Row], out: Path) -> tuple[Path, Path]:
    """Write gradebook.csv and gradebook.json into folder `out` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=Row.sort_key)
    csv_path, json_path = out / "gradebook.csv", out / "gradebook.json"
    with csv_path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
    json_path.write_text(json.dumps({"statuses": list(STATUSES),
                                     "rows": [asdict(row) for row in rows]}, indent=1,
                                    ensure_ascii=False) + "\n")
    return csv_path, json_path


def read(path: Path) -> list[Row]:
    """The rows of a gradebook.json."""
    return [Row(**row) for row in json.loads(Path(path).read_text())["rows"]]


def summary(rows: list[Row]) -> str:
    """A table: one line per learner and notebook, its exercises' statuses, then totals."""
    groups: dict[tuple, list[Row]] = {}
    for row in sorted(rows, key=Row.sort_key):
        groups.setdefault((row.learner, row.notebook, row.submission), []).append(row)
    table = [("learner", "notebook", "passed", "exercises", "seconds")]
    for (learner, notebook, _), group in groups.items():
        passed = sum(row.status == "passed" for row in group)
        table.append((learner, notebook, f"{passed}/{len(group)}",
                      " · ".join(f"{row.exercise} {row.status}" for row in group),
                      f"{group[0].notebook_seconds:.0f}"))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in table]
    counts = Counter(row.status for row in rows)
    learners = len({row.learner for row in rows})
    lines.append(f"{len(groups)} notebook(s) of {learners} learner(s), {len(rows)} "
                 "exercise(s): " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]))
    return "\n".join(lines)
