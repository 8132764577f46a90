"""Checkers that grade a learner's exercise code and say what is wrong.

One submodule per notebook (e.g. `course_utils.exercises.nb06`). Every checker returns
a `Verdict` and prints it; it never raises, so a notebook with untouched stubs still
runs top to bottom:

- a stub that still raises `NotImplementedError` -> "not attempted yet";
- a wrong answer -> the message names the mistake;
- code that crashes -> the exception's type and message, without a raw traceback.

Write a checker as a function that raises `Mistake("what is wrong")` on the first
problem it finds, and wrap it with `@checker("Exercise name")`.

`tally(expected)` (the last cell of every exercise notebook) prints "exercises solved:
k of n" from the latest verdict of each exercise checked in this kernel.
"""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass


class Mistake(Exception):
    """Raised inside a checker: the learner's answer is wrong; the message says how."""


@dataclass(frozen=True)
class Verdict:
    """What a checker says about one exercise: `status` is "passed", "not attempted"
    (the stub still raises NotImplementedError), "wrong" (the message names the mistake)
    or "error" (your code raised; the message says what). `passed` is True only for
    "passed"; printing it gives the line the notebook shows."""

    exercise: str
    status: str   # "passed", "not attempted", "wrong" or "error"
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        icon = {"passed": "✅", "not attempted": "⏳", "wrong": "❌", "error": "❌"}[self.status]
        return f"{icon} {self.exercise}: {self.message}"


# This kernel's latest verdict of each exercise (by its name), for `tally`.
_LATEST: dict[str, Verdict] = {}


def checker(exercise: str):
    """Turn `check(*args) -> success message` into a checker returning a `Verdict`."""
    def decorate(check):
        @functools.wraps(check)
        def run(*args, verbose: bool = True, **kwargs) -> Verdict:
            verdict = _grade(exercise, check, args, kwargs)
            _LATEST[exercise] = verdict
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
        return Verdict(exercise, "error",
                       f"your code raised {type(error).__name__}: {_what(error)[:300]}")
    return Verdict(exercise, "passed", message or "correct!")


def _what(error) -> str:
    """The line of an exception's message that says what went wrong. TensorFlow's
    errors from inside a tf.function start with "in user code:" and a stack; their
    last "SomethingError: ..." line says it."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if lines and lines[0] == "in user code:":
        said = [line for line in lines if re.match(r"\w+(Error|Exception): ", line)]
        if said:
            return said[-1].removeprefix(f"{type(error).__name__}: ")
    return lines[0] if lines else ""


def use(verdict, yours, reference, name: str, where: str):
    """Your function if its check passed, else the reference from module `where` (and
    say which), so that the cells after an exercise run either way."""
    if verdict.passed:
        print(f"Using your {name}.")
        return yours
    print(f"Using the reference {name} from {where} until yours passes the check.")
    return reference


def fallback_to(references: dict[str, str]):
    """The `use` function of an exercise module whose references are `references`,
    {function name: the course module that holds the function of that name, or
    "module:function" where its name differs}:

        use(verdict, yours, name)  # `name` may be left out where there is one reference

    returns your function if its check passed, else the course's (and says which)."""
    def use_yours_or_the_reference(verdict, yours, name: str | None = None):
        if name is None and len(references) == 1:
            (name,) = references
        if name not in references:
            raise ValueError(f"use(verdict, yours, name): name is one of "
                             f"{', '.join(map(repr, references))}, got {name!r}.")
        module, _, attribute = references[name].partition(":")
        reference = getattr(importlib.import_module(module), attribute or name)
        where = f"{module}.{attribute}" if attribute else module
        return use(verdict, yours, reference, name, where)
    return use_yours_or_the_reference


def tally(expected: int) -> None:
    """Print "exercises solved: k of n": k exercises whose latest check in this kernel
    passed, of the notebook's `expected` (an exercise not checked yet counts as not
    solved). It returns nothing, so the notebook shows the line once."""
    solved = sum(verdict.passed for verdict in _LATEST.values())
    line = f"exercises solved: {solved} of {max(expected, len(_LATEST))}"
    if len(_LATEST) < expected:
        line += (f" ({expected - len(_LATEST)} not checked in this session yet: run the "
                 "notebook from the top)")
    print(line)
