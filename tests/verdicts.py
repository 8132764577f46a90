"""What the checkers' tests ask of a verdict (tests/test_exercises_*.py)."""


def stub(*args, **kwargs):
    """An exercise left as the learner copy has it."""
    raise NotImplementedError  # YOUR CODE HERE


def verdict_of(check, answer):
    """`check`'s verdict on `answer`, without printing it."""
    return check(answer, verbose=False)


def assert_wrong(verdict, *phrases):
    """The verdict calls the answer wrong, with every phrase in its message and no
    traceback."""
    assert verdict.status == "wrong", verdict
    for phrase in phrases:
        assert phrase in verdict.message, verdict.message
    assert "Traceback" not in verdict.message
