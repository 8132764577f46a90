"""Finding the submissions to grade: learners' exercise notebooks, given as files or
folders (`submissions/<learner>/05_fedavg_from_scratch.ipynb`).

The learner is the name of the folder a notebook is in. The lesson is read from the
notebook's first cell id (`course-header-05`, written by `make nav` and kept by
JupyterLab), else from its file name's number (`05_...`), so a renamed download
("05_fedavg_from_scratch (1).ipynb") is still found.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from course_utils.authoring import syllabus
from course_utils.authoring.syllabus import Lesson

MAX_BYTES = 100 * 2**20  # a bigger file is not read (it is graded as an error)
_HEADER_ID = re.compile(r"^course-header-(\d\d)(-solved)?$")
_NUMBERED = re.compile(r"^(\d\d)[_ -]")


class SubmissionError(ValueError):
    """The paths given cannot be graded; the message says what to give instead."""


@dataclass(frozen=True)
class Submission:
    learner: str
    path: Path
    lesson: Lesson


def _exercise_lessons() -> dict[str, Lesson]:
    return {lesson.number: lesson for lesson in syllabus.SYLLABUS if lesson.has_solution}


def lesson_of(path: Path) -> Lesson | None:
    """The exercise lesson notebook `path` is a copy of, or None."""
    lessons = _exercise_lessons()
    if path.stat().st_size <= MAX_BYTES:
        try:
            cells = json.loads(path.read_text(errors="replace")).get("cells") or [{}]
            match = _HEADER_ID.match(str(cells[0].get("id", "")))
            if match and match[1] in lessons:
                return lessons[match[1]]
        except (ValueError, AttributeError, TypeError):
            pass  # not JSON, or not a notebook's: the file name may still say
    match = _NUMBERED.match(path.name)
    return lessons.get(match[1]) if match else None


def _numbers() -> str:
    return ", ".join(sorted(_exercise_lessons()))


def collect(paths: list[str]) -> tuple[list[Submission], list[Path]]:
    """(the submissions under `paths`, the notebooks in folders that are not exercise
    notebooks of the course). Raises SubmissionError for a path that cannot be graded."""
    found: dict[Path, Submission] = {}
    skipped: list[Path] = []
    for text in paths:
        path = Path(text)
        if not path.exists():
            raise SubmissionError(f"{text}: no such file or folder: give learners' "
                                  "notebooks (.ipynb) or folders of them, e.g. submissions/")
        if path.is_file():
            lesson = lesson_of(path) if path.suffix == ".ipynb" else None
            if lesson is None:
                raise SubmissionError(
                    f"{text}: not a course notebook with exercises (a copy of notebook "
                    f"{_numbers()}): give those, or a folder of learners' notebooks")
            found.setdefault(path.resolve(), Submission(path.resolve().parent.name,
                                                        path.resolve(), lesson))
            continue
        notebooks = sorted(p for p in path.rglob("*.ipynb")
                           if ".ipynb_checkpoints" not in p.parts and p.is_file())
        in_folder = []
        for notebook in notebooks:
            lesson = lesson_of(notebook)
            if lesson is None:
                skipped.append(notebook)
                continue
            in_folder.append(notebook)
            found.setdefault(notebook.resolve(), Submission(
                notebook.resolve().parent.name, notebook.resolve(), lesson))
        if not in_folder:
            example = next(iter(_exercise_lessons().values())).file
            raise SubmissionError(
                f"{text}: no course notebook with exercises in this folder (copies of "
                f"notebook {_numbers()}, e.g. {text.rstrip('/')}/<learner>/{example})")
    return sorted(found.values(), key=lambda s: (s.learner, s.lesson.number, str(s.path))), skipped
