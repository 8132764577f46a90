"""Grading submissions: each notebook in a fresh kernel of its own (kernel.py), the
plan's cells (plan.py) and then, per exercise, the course's checker, imported afresh from
the course's files after the learner's code has run (in_kernel.py).

The result of a checker comes back in a file the grader names only when the learner's
cells have finished, in a folder outside the learner's, carrying a nonce made up at the
same moment; a result without the right nonce is not accepted. Nothing a notebook prints
or stored is read.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils.authoring import exercise_cells, navigation
from course_utils.grading import gradebook, plan as planning, processes
from course_utils.grading.gradebook import Row
from course_utils.grading.kernel import Kernel, Stopped, interrupt_all
from course_utils.grading.submissions import MAX_BYTES, Submission

DEFAULT_SECONDS = 300.0
DEFAULT_MEMORY_GB = 3.0
MESSAGE_CHARS = 600


@dataclass(frozen=True)
class Limits:
    seconds: float = DEFAULT_SECONDS  # wall clock per notebook
    memory_bytes: int = int(DEFAULT_MEMORY_GB * 2**30)  # the kernel and its processes


@dataclass
class _Failure:
    step: planning.Step
    error: str  # "NameError: name 'x' is not defined"


@dataclass
class _Run:
    """What happened while one notebook ran."""
    results: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # key -> (status, title, message)
    seconds: dict[str, float] = field(default_factory=dict)
    failures: list[_Failure] = field(default_factory=list)
    captured: set[str] = field(default_factory=set)
    capture_errors: dict[str, str] = field(default_factory=dict)


def _error_text(reply: dict) -> str:
    value = " ".join(str(reply.get("evalue", "")).split())
    return f"{reply.get('ename', 'Error')}: {value}"[:MESSAGE_CHARS]


def grading_code(checker: str, key: str, nonce: str, result: Path, root: Path) -> str:
    """Code run in the kernel to check exercise `key`: forget every course module, then
    import the checker from `root` and write its verdict to `result`."""
    return f"""\
import importlib as _course_grader_importlib, sys as _course_grader_sys
_course_grader_sys.path[:] = [{str(root)!r}] + [p for p in _course_grader_sys.path if p != {str(root)!r}]
for _course_grader_name in [m for m in list(_course_grader_sys.modules) if m.partition(".")[0] == "course_utils"]:
    del _course_grader_sys.modules[_course_grader_name]
_course_grader_importlib.invalidate_caches()
_course_grader_importlib.import_module("course_utils.grading.in_kernel").grade(
    {checker!r}, {planning.CAPTURED}[{key!r}], {nonce!r}, {str(result)!r}, {str(root)!r})
"""


def _run_steps(kernel: Kernel, plan: planning.Plan, run: _Run) -> None:
    for step in plan.steps:
        started = time.monotonic()
        reply = kernel.run(step.code, step.what, silent=step.kind != "cell")
        if step.role == exercise_cells.ANSWER or step.kind == "capture":
            for key in step.exercises:
                run.seconds[key] = run.seconds.get(key, 0.0) + time.monotonic() - started
        if reply.get("status") == "ok":
            run.captured.update(step.exercises if step.kind == "capture" else ())
        elif step.kind == "capture":
            run.capture_errors[step.exercises[0]] = _error_text(reply)
        else:
            run.failures.append(_Failure(step, _error_text(reply)))


def _check_all(kernel: Kernel, plan: planning.Plan, run: _Run, root: Path) -> None:
    results = Path(tempfile.mkdtemp(prefix="course-grade-results-"))  # named only now
    try:
        for key, marks in plan.exercises.items():
            if key not in run.captured:
                continue
            started = time.monotonic()
            nonce = secrets.token_hex(16)
            path = results / f"{secrets.token_hex(8)}.json"
            kernel.run(grading_code(marks["checker"], key, nonce, path, root),
                       f"checking {key}", silent=True)
            run.seconds[key] = run.seconds.get(key, 0.0) + time.monotonic() - started
            run.results[key] = _read_result(path, nonce)
    finally:
        shutil.rmtree(results, ignore_errors=True)


def _read_result(path: Path, nonce: str) -> tuple[str, str, str]:
    try:
        result = json.loads(path.read_text())
        if result.get("nonce") != nonce or result.get("status") not in gradebook.FROM_VERDICT:
            raise ValueError("a result that is not the checker's")
    except (OSError, ValueError, AttributeError) as error:
        return ("error", "", f"the checker gave no result ({error}): the notebook's code "
                             "interfered with grading")
    return (gradebook.FROM_VERDICT[result["status"]], str(result.get("title", "")),
            str(result.get("message", ""))[:MESSAGE_CHARS])


def _diagnose(key: str, marks: dict, run: _Run, reference) -> tuple[str, str]:
    """Status and message of an exercise whose checker arguments could not be taken."""
    error = run.capture_errors[key]
    mine = [f for f in run.failures if key in f.step.exercises]
    answers = [f for f in mine if f.step.role == exercise_cells.ANSWER]
    if answers:
        return "error", f"your exercise cell (cell {answers[0].step.cell}) raised {answers[0].error}"
    name = re.match(r"NameError: name '(\w+)' is not defined", error)
    defined = set().union(*(exercise_cells.defined_names(c.source) for c in reference.cells
                            if c.get("id") in marks["answers"]))
    if name and name[1] in defined:
        return "missing", (f"`{name[1]}` is not defined after the exercise cell ran: keep "
                           "the name the exercise gives it (the checker looks it up)")
    if mine:
        return "error", f"the code this exercise needs failed ({mine[0].step.what}): {mine[0].error}"
    return "error", f"the checker's arguments could not be taken: {error}"


def _read_submission(path: Path):
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"larger than {MAX_BYTES // 2**20} MB")
    return nbformat.read(path, as_version=4)


def grade_submission(submission: Submission, limits: Limits = Limits(),
                     root: Path = navigation.ROOT) -> list[Row]:
    """The gradebook rows of one submission."""
    started = time.monotonic()
    reference = nbformat.read(root / submission.lesson.path(), as_version=4)
    exercises = exercise_cells.marked_exercises(reference)
    outcome: dict[str, tuple[str, str, str]] = {}
    run = _Run()
    try:
        plan = planning.build(reference, _read_submission(submission.path))
    except Exception as error:  # noqa: BLE001 - any unreadable file is the learner's
        plan = None
        message = f"cannot read the notebook: {' '.join(str(error).split())}"[:MESSAGE_CHARS]
        outcome = {key: ("error", "", message) for key in exercises}
    if plan is not None:
        outcome = {key: ("missing", "", why) for key, why in plan.missing.items()}
        if len(outcome) < len(exercises):
            outcome.update(_run_notebook(submission, plan, run, reference, limits, root,
                                         started))
    seconds = round(time.monotonic() - started, 1)
    return [Row(submission.learner, Path(submission.lesson.file).stem, key,
                outcome[key][1] or marks["title"], outcome[key][0], outcome[key][2],
                round(run.seconds.get(key, 0.0), 1), seconds, str(submission.path))
            for key, marks in exercises.items()]


def _run_notebook(submission, plan, run, reference, limits, root, started) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="course-grade-work-"))
    shutil.copy(submission.path, scratch / submission.path.name)
    kernel = Kernel(scratch, root, started + limits.seconds, limits.memory_bytes,
                    limits.seconds)
    outcome: dict[str, tuple[str, str, str]] = {}
    try:
        kernel.start()
        _run_steps(kernel, plan, run)
        _check_all(kernel, plan, run, root)
    except Stopped as stopped:
        for key in plan.exercises:
            if key not in run.results and key not in plan.missing:
                outcome[key] = (stopped.status, "", str(stopped))
    finally:
        kernel.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    for key, marks in plan.exercises.items():
        if key in run.results:
            outcome[key] = run.results[key]
        elif key in run.capture_errors and key not in outcome:
            status, message = _diagnose(key, marks, run, reference)
            outcome[key] = (status, "", message)
    return {key: value for key, value in outcome.items() if key not in plan.missing}


def grade_all(submissions: list[Submission], limits: Limits = Limits(), jobs: int = 1,
              progress=None) -> list[Row]:
    """Grade every submission, `jobs` at a time; `progress(rows)` after each one."""
    def one(submission):
        rows = grade_submission(submission, limits)
        if progress is not None:
            progress(rows)
        return rows

    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = [pool.submit(one, submission) for submission in submissions]
    try:
        rows = [row for future in futures for row in future.result()]
    except BaseException:  # Ctrl-C: stop every kernel, grade nothing more
        pool.shutdown(wait=False, cancel_futures=True)
        interrupt_all()
        raise
    finally:
        pool.shutdown(wait=True)
        processes.end_adopted_orphans()
    return sorted(rows, key=Row.sort_key)
