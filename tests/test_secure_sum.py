"""Secure sums: quantization with a measured error, TFF's secure intrinsics simulated on
the course's worker, and no worker left behind."""

import numpy as np
import pytest
import tensorflow_federated as tff

from course_utils import secure_sum
from conftest import run_python, wait_gone


def test_quantization_round_trip_error_is_at_most_half_a_step():
    rng = np.random.default_rng(0)
    values = rng.uniform(-1, 1, (7, 500))
    for bits in (4, 8, 16):
        measured = secure_sum.quantization_error(values, 1.0, bits)
        assert 0 < measured["max_error"] <= measured["bound"] + 1e-12
        assert measured["bound"] == pytest.approx(7 * secure_sum.step(1.0, bits) / 2)
    coarse = secure_sum.quantization_error(values, 1.0, 4)["max_error"]
    fine = secure_sum.quantization_error(values, 1.0, 16)["max_error"]
    assert fine < coarse / 100


def test_quantize_clips_to_the_range():
    codes = secure_sum.quantize([-5.0, 0.0, 5.0], 1.0, 8)
    assert codes.tolist() == [0, 127, 254]  # within 8 bits, and 0.0 is a level
    decoded = [float(secure_sum.dequantize_sum(code, 1, 1.0, 8)) for code in codes]
    assert decoded == pytest.approx([-1.0, 0.0, 1.0], abs=1e-12)


def test_overflowing_sums_and_bad_ranges_are_refused():
    with pytest.raises(ValueError, match="int32"):
        secure_sum.check_fits(24, 1000)
    secure_sum.check_fits(16, 1000)
    with pytest.raises(ValueError, match="value_range"):
        secure_sum.quantize([1.0], 0.0, 8)
    with pytest.raises(ValueError, match="bits"):
        secure_sum.quantize([1.0], 1.0, 40)


def test_secure_sum_runs_only_in_the_simulation():
    total = secure_sum.secure_sum_computation(tff.TensorType(np.int32), 8)
    with secure_sum.simulated_secure_aggregation():
        assert int(total([1, 2, 3])) == 6
    with pytest.raises(Exception) as raised:  # TFF 0.87's native runtime: not implemented
        total([1, 2, 3])
    assert "Rpc" in type(raised.value).__name__


def test_secure_float_sum_matches_the_plain_sum_within_the_bound():
    rng = np.random.default_rng(1)
    values = [rng.uniform(-1, 1, 20).astype(np.float32) for _ in range(5)]
    computation = secure_sum.secure_float_sum_computation(20, 1.0, 12)
    with secure_sum.simulated_secure_aggregation():
        result = computation(values)
    assert int(result["clients"]) == 5
    error = np.max(np.abs(result["sum"] - np.sum(values, axis=0)))
    assert error <= 5 * secure_sum.step(1.0, 12) / 2 + 1e-5


def test_the_simulation_runs_on_the_course_worker():
    """No worker of its own (as tff.backends.test's context would start): the course's
    worker, which dies with this process, is the only worker this process has."""
    import psutil

    from course_utils.runtime import context as runtime

    total = secure_sum.secure_sum_computation(tff.TensorType(np.int32), 4)
    with secure_sum.simulated_secure_aggregation():
        total([1, 2])
    workers = [p for p in psutil.Process().children(recursive=True)
               if p.name() == "worker_binary"]
    assert [p.pid for p in workers] == [runtime.local_worker().pid]


def test_no_worker_is_left_behind():
    """A script that runs a simulated secure sum and exits leaves no TFF worker behind
    (tff.backends.test's own context starts a worker that can outlive its process)."""
    script = """
import numpy as np
import psutil
import course_utils
course_utils.activate()
import tensorflow_federated as tff
from course_utils import secure_sum


def workers():
    return {p.pid for p in psutil.Process().children(recursive=True)
            if p.name() == "worker_binary"}


total = secure_sum.secure_sum_computation(tff.TensorType(np.int32), 8)
with secure_sum.simulated_secure_aggregation():
    print("sum", int(total([1, 2, 3])))
    seen = workers()
print("workers", *(seen | workers()))
"""
    result = run_python(script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sum 6" in result.stdout
    pids = [int(pid) for pid in result.stdout.split("workers")[-1].split()]
    assert pids, "the secure sum ran on no worker?"
    left = [pid for pid in pids if not wait_gone(pid)]
    assert not left, f"TFF worker(s) {left} outlived their process"
