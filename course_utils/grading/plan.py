"""Which code of a submission the grader runs, in which order.

The marks come from the course's own learner copy of the lesson (`make nav` wrote them:
`course_utils/authoring/exercise_cells.py`), never from the submission, whose metadata
the learner can edit. Cells are matched by cell id (JupyterLab keeps ids when a cell is
edited; the setup cell, whose id differs in a solved copy, by its kind):

- the setup cell, then the import statements the exercises need;
- in the notebook's order, each exercise's answer cells (the learner's code) and the
  cells they need (the learner's version when present, else the course's);
- after an exercise's check cell would have run: a "capture" of the arguments its
  check cell passes to the checker (the checker itself runs later, see grader.py).

An answer cell whose id is not in the submission (an editor that drops ids, or the code
pasted into a new cell) is the last code cell that defines the same functions; if there
is none (deleted, or the function renamed), its exercise is "missing". Learner cells
without a mark (their own checks, plots, added cells) never run. Stored outputs are
never read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from course_utils.authoring import exercise_cells, navigation

CAPTURED = "__course_grader_captured__"  # the kernel's dict of checker arguments
# Nothing a notebook prints is read: it goes to /dev/null, so a flood of output costs
# the kernel neither time nor memory (ipykernel would buffer it and send every byte).
NOTHING_PRINTED = ("import os as _course_os, sys as _course_sys\n"
                   "_course_sys.stdout = _course_sys.stderr = open(_course_os.devnull, 'w')\n"
                   "del _course_os, _course_sys")


@dataclass
class Step:
    kind: str                 # "cell", "imports", "capture"
    code: str
    what: str                 # where, for messages: "running cell 7 (id 9834bbd7)"
    exercises: tuple[str, ...] = ()
    role: str = ""            # "answer", "needed" (cells)
    cell: int | None = None   # the cell's number in the course's copy (1-based)


@dataclass
class Plan:
    exercises: dict[str, dict]              # key -> the marks (exercise_cells.marked_exercises)
    steps: list[Step] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # key -> why


def _submitted_cells(submission) -> dict[str, object]:
    """The submission's code cells by id; its setup cell also under "setup"."""
    cells = {}
    for cell in submission.cells:
        if cell.get("cell_type") != "code":
            continue
        cells.setdefault(cell.get("id"), cell)
        if navigation.generated_kind(cell.get("id")) == "setup":
            cells.setdefault("setup", cell)
    return cells


def _answers_by_content(reference, submission, ids: set[str]) -> dict[str, object]:
    """For answer cells whose id the submission lacks: the submission's last code cell
    that defines the same functions (and is not a cell the course marks otherwise)."""
    known = {c.get("id") for c in reference.cells if c.metadata.get(exercise_cells.KEY)}
    mine = [c for c in submission.cells
            if c.get("cell_type") == "code" and c.get("id") not in known]
    found = {}
    for cell in reference.cells:
        names = exercise_cells.defined_functions(cell.source) if cell.get("id") in ids else ()
        matches = [c for c in mine if names and names <= exercise_cells.defined_functions(
            c.source)]
        if matches:
            found[cell.get("id")] = matches[-1]
    return found


def capture_code(key: str, arguments: str) -> str:
    """Code that stores the checker's arguments for exercise `key` as (args, kwargs)."""
    return f"{CAPTURED}[{key!r}] = (lambda *args, **kwargs: (args, kwargs))({arguments})"


def build(reference, submission) -> Plan:
    """The plan for `submission`, a notebook, given the course's learner copy."""
    exercises = exercise_cells.marked_exercises(reference)
    plan = Plan(exercises)
    submitted = _submitted_cells(submission)
    answer_of = {cell_id: key for key, marks in exercises.items() for cell_id in marks["answers"]}
    submitted.update(_answers_by_content(reference, submission, set(answer_of) - set(submitted)))
    for key, marks in exercises.items():
        gone = [i for i in marks["answers"] if i not in submitted]
        if gone:
            names = ", ".join(f"`{n}`" for n in sorted(exercise_cells.defined_functions(
                next(c.source for c in reference.cells if c.get("id") == gone[0]))))
            plan.missing[key] = (f"the exercise cell (id {gone[0]}) is not in the notebook, "
                                 f"nor another cell defining {names or 'its code'}: "
                                 "deleted, or renamed")
    plan.steps.append(Step("imports", f"{CAPTURED} = {{}}\n{NOTHING_PRINTED}",
                           "preparing the kernel"))
    for number, cell in enumerate(reference.cells, start=1):
        mark = cell.metadata.get(exercise_cells.KEY)
        if not mark:
            continue
        role, cell_id = mark["role"], cell.get("id")
        what = f"running cell {number} (id {cell_id})"
        if role == exercise_cells.CHECK:
            key = mark["exercise"]
            if key not in plan.missing:
                arguments = exercise_cells.checker_arguments(cell.source, mark["checker"])
                plan.steps.append(Step("capture", capture_code(key, arguments),
                                       f"taking the arguments of {key}'s checker", (key,)))
            continue
        if role == exercise_cells.ANSWER and answer_of[cell_id] in plan.missing:
            continue
        mine = submitted.get(cell_id) or (submitted.get("setup") if navigation.generated_kind(
            cell_id) == "setup" else None)
        keys = tuple(mark["exercises"]) if role == exercise_cells.NEEDED else (mark["exercise"],)
        plan.steps.append(Step("cell", (mine or cell).source, what, keys, role, number))
        if navigation.generated_kind(cell_id) == "setup":
            imports = sorted({s for m in exercises.values() for s in m.get("imports", [])})
            plan.steps.append(Step("imports", "\n".join(imports),
                                   "running the exercises' imports", tuple(exercises)))
    return plan
