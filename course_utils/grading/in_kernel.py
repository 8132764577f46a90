"""What the grader runs inside a learner's kernel, after the learner's cells: one
checker, freshly imported from the course's files, on the learner's objects.

The grader first removes every `course_utils` module from `sys.modules` (so a checker,
`Verdict` or any course module the learner's code replaced or patched is gone), puts the
course first on `sys.path`, and imports this module from disk; `grade` then imports the
checker's module, refuses one that does not come from the course's folder, calls the
checker, accepts only a Verdict of the freshly imported class, and writes the result,
with the nonce the grader made up after the learner's cells had run, to a file the
grader named at the same moment, outside the learner's folder. Learner-facing code never
imports this module.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import time
from pathlib import Path

STATUSES = ("passed", "wrong", "not attempted", "error")
MESSAGE_CHARS = 600


def _from_course(module, root: Path) -> None:
    """Refuse a module that the course's own file did not make: loaded by Python's
    source loader from the path its name gives under `root`."""
    spec = getattr(module, "__spec__", None)
    parts = module.__name__.split(".")
    expected = [root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")]
    origin = Path(getattr(spec, "origin", None) or "").resolve()
    if origin not in expected or not isinstance(getattr(spec, "loader", None),
                                                importlib.machinery.SourceFileLoader):
        raise ImportError(f"{module.__name__} was not imported from the course's file "
                          f"(it came from {origin}): the notebook changed the import system")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def grade(checker: str, captured, nonce: str, result_path: str, root: str) -> None:
    """Run `checker` ("module:function") on `captured` ((args, kwargs)) and write
    {"nonce", "status", "title", "message", "seconds"} as JSON to `result_path`."""
    started = time.monotonic()
    root_path = Path(root).resolve()
    module_name, _, function = checker.partition(":")
    title = ""
    try:
        exercises = importlib.import_module("course_utils.exercises")
        module = importlib.import_module(module_name)
        for loaded in (exercises, module):
            _from_course(loaded, root_path)
        args, kwargs = captured
        verdict = getattr(module, function)(*args, verbose=False, **kwargs)
        if type(verdict) is not exercises.Verdict:
            raise TypeError(f"the checker returned a {type(verdict).__name__}, not a Verdict")
        fields = vars(verdict)  # the dataclass's own fields, not properties
        status, title, message = fields["status"], fields["exercise"], fields["message"]
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
    except Exception as error:  # noqa: BLE001 - the checkers never raise: tampering
        status, message = "error", f"the checker could not run: {_first_line(error)}"
    except BaseException as error:  # SystemExit, KeyboardInterrupt: the learner's code
        status, message = "error", f"your code raised {_first_line(error)}"
    result = {"nonce": nonce, "status": status, "title": str(title),
              "message": str(message)[:MESSAGE_CHARS],
              "seconds": round(time.monotonic() - started, 2)}
    Path(result_path).write_text(json.dumps(result))
