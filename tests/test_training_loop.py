"""training_loop: a Ctrl-C that Python drops inside a garbage-collector callback (jax
registers one) still stops training, and is not printed as an ignored exception."""

import gc
import signal
import sys

import pytest

from course_utils import training_loop


class CountingProcess:
    """A process whose state counts the rounds it ran."""

    def initialize(self):
        return 0

    def next(self, state, data):
        return state + 1, {"loss": 0.5, "accuracy": 0.5}


def ctrl_c_inside_a_gc_callback():
    """Press Ctrl-C while the garbage collector runs a callback, as can happen during
    training: Python drops the KeyboardInterrupt it raises there."""
    def press(phase, info):
        if phase == "start":
            callbacks.remove(press)
            signal.raise_signal(signal.SIGINT)

    callbacks = gc.callbacks
    callbacks.append(press)
    gc.collect()


def test_without_the_latch_the_dropped_ctrl_c_lets_training_run_on(monkeypatch):
    dropped = []
    monkeypatch.setattr(sys, "unraisablehook", dropped.append)
    # Python's own handler (a pytest-xdist worker ignores SIGINT): the exception is dropped
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ctrl_c_inside_a_gc_callback()
    finally:
        signal.signal(signal.SIGINT, previous)
    state, history = training_loop.run_training(CountingProcess(), 3, lambda r: [],
                                                progress=False)
    assert state == 3 and len(history) == 3
    assert [type(d.exc_value) for d in dropped] == [KeyboardInterrupt]


def test_a_ctrl_c_dropped_in_a_gc_callback_still_stops_training(capsys):
    previous = signal.getsignal(signal.SIGINT)
    with training_loop.ctrl_c_never_lost():
        ctrl_c_inside_a_gc_callback()
        with pytest.raises(KeyboardInterrupt):
            training_loop.run_training(CountingProcess(), 3, lambda r: [], progress=False)
    assert "KeyboardInterrupt" not in capsys.readouterr().err  # not printed as ignored
    assert signal.getsignal(signal.SIGINT) is previous  # the handler is put back
    state, _ = training_loop.run_training(CountingProcess(), 2, lambda r: [], progress=False)
    assert state == 2  # outside the block, a new run is not stopped by the old Ctrl-C
