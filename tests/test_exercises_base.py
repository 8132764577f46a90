"""The checker mechanism every exercise uses."""

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
