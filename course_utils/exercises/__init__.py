"""Checkers that grade a learner's exercise code and say what is wrong.

One submodule per notebook (e.g. `course_utils.exercises.nb06`). Every checker returns
a `Verdict` and prints it; it never raises, so a notebook with untouched stubs still
runs top to bottom:

- a stub that still raises `NotImplementedError` -> "not attempted yet";
- a wrong answer -> the message names the mistake;
- code that crashes -> the exception's type and message, without a raw traceback.

Write a checker as a function that raises `Mistake("what is wrong")` on the first
problem it finds, and wrap it with `@checker("Exercise name")`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


class Mistake(Exception):
    """Raised inside a checker: the learner's answer is wrong; the message says how."""


@dataclass(frozen=True)
class Verdict:
    exercise: str
    status: str   # "passed", "not attempted", "wrong" or "error"
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        icon = {"passed": "✅", "not attempted": "⏳", "wrong": "❌", "error": "❌"}[self.status]
        return f"{icon} {self.exercise}: {self.message}"


def checker(exercise: str):
    """Turn `check(*args) -> success message` into a checker returning a `Verdict`."""
    def decorate(check):
        @functools.wraps(check)
        def run(*args, verbose: bool = True, **kwargs) -> Verdict:
            verdict = _grade(exercise, check, args, kwargs)
            if verbose:
                print(verdict)
            return verdict
        return run
    return decorate


def _grade(exercise, check, args, kwargs) -> Verdict:
    try:
        message = check(*args, **kwargs)
    except NotImplementedError:
        return Verdict(exercise, "not attempted",
                       "not attempted yet: replace the `raise NotImplementedError` in "
                       "the stub with your code, then run this cell again.")
    except Mistake as mistake:
        return Verdict(exercise, "wrong", str(mistake))
    except Exception as error:  # noqa: BLE001 - report, never a raw traceback
        text = str(error).strip().splitlines()
        first = text[0] if text else ""
        return Verdict(exercise, "error",
                       f"your code raised {type(error).__name__}: {first[:300]}")
    return Verdict(exercise, "passed", message or "correct!")


def use(verdict, yours, reference, name: str, where: str):
    """Your function if its check passed, else the reference from module `where` (and
    say which), so that the cells after an exercise run either way."""
    if verdict.passed:
        print(f"Using your {name}.")
        return yours
    print(f"Using the reference {name} from {where} until yours passes the check.")
    return reference
