"""Learner copies generated from the solved notebooks: one hand-edited source per
exercise notebook.

The solved copy `notebooks/solutions/NN_x.ipynb` is the only version anyone edits. In
its code cells, each exercise's reference code sits between two marker lines:

    def midpoint_server_update(server_weights, mean_client_weights):
        \"\"\"docstring with the task\"\"\"
        # hints stay in both copies, as comments above the region
        # BEGIN SOLUTION
        ... reference code ...
        # END SOLUTION

The learner copy `notebooks/NN_x.ipynb` is that notebook with every region (markers
included) replaced by ONE line, at the region's indentation,

        raise NotImplementedError  # YOUR CODE HERE

and the learner's header, setup cell and footer (`navigation.apply`). Everything else,
markdown included, is identical. Outputs: a cell whose source is unchanged keeps the
learner copy's stored outputs; any other cell has none until the notebook is run again
(`make run`).

`python -m course_utils nav` writes the learner copy of every lesson whose syllabus
entry says `has_solution=True`; `nav --check` reports a learner copy that differs.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass


from course_utils.authoring import diagram_cells, exercise_cells, navigation
from course_utils.authoring.syllabus import Lesson

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
STUB = "raise NotImplementedError  # YOUR CODE HERE"
# Anything that looks like a marker: a typo in one must not leak a solution.
_MARKER_LIKE = re.compile(r"^\s*#+\s*(BEGIN|END)[\s_-]*SOLUTION\b", re.I)


class MarkerError(ValueError):
    """A solved notebook's solution markers are malformed; the message says where."""


@dataclass(frozen=True)
class _Region:
    begin: int  # line index of "# BEGIN SOLUTION"
    end: int  # line index of "# END SOLUTION"
    indent: str


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


def _regions(lines: list[str], where: str) -> list[_Region]:
    """The solution regions of a code cell's lines, checked."""
    regions, begin = [], None
    for number, line in enumerate(lines):
        text = line.strip()
        if not _MARKER_LIKE.match(line):
            continue
        if text not in (BEGIN, END):
            raise MarkerError(f"{where}, line {number + 1}: {text!r} looks like a solution "
                              f"marker but is not one: write exactly {BEGIN!r} or {END!r}, "
                              "alone on its line.")
        if text == BEGIN:
            if begin is not None:
                raise MarkerError(f"{where}, line {number + 1}: {BEGIN!r} inside the region "
                                  f"opened on line {begin + 1}: regions cannot be nested; "
                                  f"close the first with {END!r}.")
            begin = number
            continue
        if begin is None:
            raise MarkerError(f"{where}, line {number + 1}: {END!r} without a "
                              f"{BEGIN!r} before it.")
        indent = _indent(lines[begin])
        if _indent(line) != indent:
            raise MarkerError(f"{where}, line {number + 1}: {END!r} is indented "
                              f"differently from its {BEGIN!r} (line {begin + 1}): indent "
                              "both like the code they enclose.")
        body = lines[begin + 1:number]
        if not any(b.strip() for b in body):
            raise MarkerError(f"{where}, lines {begin + 1}-{number + 1}: an empty solution "
                              "region: put the reference code between the markers.")
        shallow = [begin + 2 + i for i, b in enumerate(body)
                   if b.strip() and not b.startswith(indent)]
        if shallow:
            raise MarkerError(f"{where}, line {shallow[0]}: indented less than its "
                              f"{BEGIN!r} (line {begin + 1}): the stub that replaces the "
                              "region would not be valid Python; indent the markers like "
                              "the code they enclose.")
        regions.append(_Region(begin, number, indent))
        begin = None
    if begin is not None:
        raise MarkerError(f"{where}, line {begin + 1}: {BEGIN!r} is never closed: add "
                          f"{END!r} after the reference code.")
    return regions


def strip_solutions(source: str, where: str = "cell") -> str:
    """`source` with every solution region replaced by the stub line."""
    lines = source.split("\n")
    regions = _regions(lines, where)
    for region in reversed(regions):
        lines[region.begin:region.end + 1] = [region.indent + STUB]
    return "\n".join(lines)


def count_regions(nb, where: str = "notebook") -> int:
    """How many solution regions notebook `nb` has (checking every cell's markers)."""
    total = 0
    for index, cell in enumerate(nb.cells):
        label = _cell_label(where, index, cell)
        if cell.cell_type != "code":
            _refuse_markers_outside_code(cell, label)
            continue
        total += len(_regions(cell.source.split("\n"), label))
    return total


def _cell_label(where: str, index: int, cell) -> str:
    return f"{where}, cell {index + 1} (id {cell.get('id', '?')})"


def _refuse_markers_outside_code(cell, label: str) -> None:
    for number, line in enumerate(cell.source.split("\n")):
        if _MARKER_LIKE.match(line):
            raise MarkerError(f"{label}, line {number + 1}: a solution marker in a "
                              f"{cell.cell_type} cell: markers belong in code cells only "
                              "(markdown is the same in both copies; to hide an answer, "
                              "put it in a code cell's region).")


def learner_notebook(solved, lesson: Lesson, existing=None, where: str = "notebook"):
    """The learner copy generated from `solved` (a notebook; it is not changed).

    `existing` is the learner copy as stored, if any: cells whose source did not change
    keep its outputs, and the notebook keeps its metadata. Raises MarkerError when a
    marker is malformed, or when `solved` has no solution region at all.
    """
    nb = copy.deepcopy(solved)
    if count_regions(nb, where) == 0:
        raise MarkerError(f"{where}: no {BEGIN!r} ... {END!r} region: an exercise notebook "
                          "(has_solution=True in the syllabus) needs at least one.")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, _cell_label(where, index, cell))
    navigation.apply(nb, lesson, solution=False)
    _carry_outputs(nb, existing)
    diagram_cells.apply(nb)  # drawn afresh, whatever the stored copy held
    return nb


def _carry_outputs(nb, existing) -> None:
    """Outputs of `existing`'s cells whose source is unchanged; none for the others."""
    old_cells = [c for c in (existing.cells if existing is not None else [])
                 if c.cell_type == "code"]
    by_id = {c.get("id"): c for c in old_cells}
    unused = list(old_cells)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # the solved run's timings
        if cell.cell_type != "code":
            continue
        old = by_id.get(cell.get("id"))  # the same cell, if its source is unchanged,
        if old is None or old.source != cell.source or not any(old is u for u in unused):
            old = next((u for u in unused if u.source == cell.source), None)  # or a twin
        if old is None:
            cell.outputs, cell.execution_count = [], None
            continue
        unused = [u for u in unused if u is not old]
        cell.outputs = copy.deepcopy(old.outputs)
        cell.execution_count = old.execution_count
        if "execution" in old.metadata:
            cell.metadata["execution"] = copy.deepcopy(old.metadata["execution"])
    if existing is not None:
        nb.metadata = copy.deepcopy(existing.metadata)
    else:
        nb.metadata.pop("widgets", None)  # widget states of the solved copy's outputs


def signature(nb) -> list[tuple]:
    """What generation decides: each cell's id, type, source, tags and grading marks
    (`exercise_cells`), in order."""
    return [(c.get("id"), c.cell_type, c.source, tuple(c.metadata.get("tags", ())),
             c.metadata.get(exercise_cells.KEY)) for c in nb.cells]


def differences(generated, stored) -> list[str]:
    """Short descriptions of where `stored` differs from `generated`: the cells whose
    source, type, tags or grading marks differ (at most three named), then cell ids, then
    the count."""
    names = {"header": "header", "setup": "setup cell", "tally": "tally",
             "footer": "footer"}
    want, have = signature(generated), signature(stored)
    content, ids = [], 0
    for index, (a, b) in enumerate(zip(want, have)):
        if a[1:] != b[1:]:
            part = ("source" if a[2] != b[2] else "type" if a[1] != b[1] else
                    "tags" if a[3] != b[3] else "grading marks")
            kind = navigation.generated_kind(a[0])
            content.append(names[kind] if kind else f"cell {index + 1} (id {a[0]}: {part})")
        elif a[0] != b[0]:
            ids += 1
    found = content[:3] + ([f"{len(content) - 3} more cells"] if len(content) > 3 else [])
    if ids:
        found.append(f"{ids} cell id{'s' if ids > 1 else ''}")
    if len(want) != len(have):
        found.append(f"the number of cells ({len(have)}, expected {len(want)})")
    return found + [f"diagram {name}" for name in diagram_cells.stale(stored)]
