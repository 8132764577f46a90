"""The checker mechanism every exercise uses."""

import json

import pytest

from course_utils import exercises
from course_utils.exercises import Mistake, checker


@checker("Demo")
def check_double(fn):
    if fn(2) != 4:
        raise Mistake(f"double(2) should be 4, got {fn(2)}")
    return "well done"


def stub(x):
    raise NotImplementedError


def test_reference_passes(capsys):
    verdict = check_double(lambda x: 2 * x)
    assert verdict.passed and verdict.message == "well done"
    assert "✅ Demo: well done" in capsys.readouterr().out


def test_stub_is_not_attempted_and_does_not_raise():
    verdict = check_double(stub, verbose=False)
    assert verdict.status == "not attempted" and "not attempted yet" in verdict.message


def test_wrong_answer_names_the_mistake():
    verdict = check_double(lambda x: x + 1, verbose=False)
    assert verdict.status == "wrong" and "should be 4, got 3" in verdict.message


def test_crash_is_reported_without_traceback():
    verdict = check_double(lambda x: {}[x], verbose=False)
    assert verdict.status == "error" and verdict.message.startswith("your code raised KeyError")
    assert "Traceback" not in verdict.message


def test_a_tensorflow_graph_error_says_what_went_wrong():
    def in_graph(x):
        raise ValueError('in user code:\n\n    File "cell", line 3, in f  *\n        '
                         'total = x + y\n\n    ValueError: Shapes must be equal rank\n')

    verdict = check_double(in_graph, verbose=False)
    assert verdict.message == "your code raised ValueError: Shapes must be equal rank"


def test_tally_counts_each_exercise_by_its_latest_verdict(capsys, monkeypatch):
    monkeypatch.setattr(exercises, "_LATEST", {})

    @exercises.checker("Exercise A")
    def check_a(answer):
        if answer != 42:
            raise exercises.Mistake("not 42")

    @exercises.checker("Exercise B")
    def check_b(answer):
        raise NotImplementedError

    check_a(1, verbose=False)
    check_b(None, verbose=False)

    def tally(expected):
        assert exercises.tally(expected) is None  # printed, not echoed again by Jupyter
        return capsys.readouterr().out

    assert tally(2) == "exercises solved: 0 of 2\n"
    check_a(42, verbose=False)  # fixed: the latest verdict counts
    assert tally(2) == "exercises solved: 1 of 2\n"
    assert tally(3).startswith("exercises solved: 1 of 3 (1 not checked")


def test_fallback_to_gives_yours_once_passed_else_the_named_reference(capsys):
    passed = exercises.Verdict("E", "passed", "")
    failed = exercises.Verdict("E", "not attempted", "")
    use = exercises.fallback_to({"dumps": "json", "encode": "json:dumps"})
    assert use(passed, "yours", "dumps") == "yours"
    assert use(failed, "yours", "dumps") is json.dumps
    assert use(failed, "yours", "encode") is json.dumps  # "module:function"
    out = capsys.readouterr().out
    assert "Using your dumps." in out and "Using the reference encode from json.dumps" in out
    with pytest.raises(ValueError, match="name is one of 'dumps', 'encode', got 'load'"):
        use(failed, "yours", "load")
    with pytest.raises(ValueError, match="got None"):
        use(failed, "yours")  # two references: the name is needed
    assert exercises.fallback_to({"dumps": "json"})(failed, "yours") is json.dumps
