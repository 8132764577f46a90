"""The TFF worker never outlives the Python process that started it."""

import os
import signal
import socket

import pytest

from conftest import process_gone, run_python, wait_gone

import course_utils
from course_utils.runtime import context as runtime
from course_utils.runtime import workers

HELLO = """
import os, sys, numpy as np
import course_utils
import tensorflow_federated as tff

@tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
def mean(x):
    return tff.federated_mean(x)

assert abs(mean([1.0, 2.0, 6.0]) - 3.0) < 1e-6
print(course_utils.runtime.context.local_worker().pid, flush=True)
"""


def _worker_pid(result) -> int:
    assert result.stdout.strip(), f"child printed no worker pid; stderr:\n{result.stderr[-3000:]}"
    return int(result.stdout.split()[-1])


@pytest.mark.parametrize("ending, expected_code", [
    ("", 0),                                                # normal exit, atexit runs
    ("os._exit(0)", 0),                                     # exit that skips atexit
    ("os.kill(os.getpid(), __import__('signal').SIGKILL)", -signal.SIGKILL),
])
def test_worker_dies_with_its_python_process(ending, expected_code):
    result = run_python(HELLO + ending)
    assert result.returncode == expected_code, result.stderr[-3000:]
    pid = _worker_pid(result)
    assert wait_gone(pid), f"TFF worker {pid} outlived its parent ({ending or 'normal exit'})"


def test_tffs_own_runtime_leaves_a_worker_behind():
    """Why the course has its own context: TFF's default one leaks its worker."""
    code = """
import numpy as np, psutil, tensorflow_federated as tff
@tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
def mean(x):
    return tff.federated_mean(x)
mean([1.0])
print(*[p.pid for p in psutil.Process().children() if p.name() == 'worker_binary'])
"""
    result = run_python(code)
    pids = [int(p) for p in result.stdout.split()]
    assert pids, result.stderr[-3000:]
    try:
        assert not wait_gone(pids[0], timeout=3), "TFF's worker stopped by itself"
    finally:
        for pid in pids:  # clean up the leak this test demonstrates, by pid
            if not process_gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_worker_start_health_and_stop():
    with workers.Worker() as worker:
        assert worker.is_alive() and worker.stub().is_ready
        pid = worker.pid
    assert not worker.is_alive()
    assert wait_gone(pid)


def test_port_in_use_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(workers.WorkerError, match=f"Port {port} .* already in use"):
            workers.Worker(port=port).start()


def test_crashed_local_worker_is_restarted():
    import numpy as np
    import tensorflow_federated as tff

    @tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
    def total(x):
        return tff.federated_sum(x)

    assert total([1.0, 2.0]) == 3.0
    old_pid = runtime.local_worker().pid
    os.kill(old_pid, signal.SIGKILL)
    assert wait_gone(old_pid)
    assert total([1.0, 2.0, 3.0]) == 6.0
    assert runtime.local_worker().pid != old_pid


@pytest.mark.parametrize("version, platform, colab", [
    ((3, 12, 0), "linux", False), ((3, 11, 7), "linux", True), ((3, 11, 7), "darwin", False),
])
def test_unsupported_python_gets_one_clear_message(version, platform, colab):
    with pytest.raises(runtime.UnsupportedEnvironmentError, match="Binder") as error:
        runtime.check_python(version, platform, colab)
    assert "Python 3.11" in str(error.value)


def test_supported_python_passes():
    runtime.check_python((3, 11, 7), "linux", False)


def test_setup_seeds_and_is_idempotent(capsys):
    import tensorflow as tf

    course_utils.setup(seed=7)
    first = tf.random.uniform([3]).numpy()
    course_utils.setup(seed=7)
    assert (tf.random.uniform([3]).numpy() == first).all()
    assert "TFF 0.87.0" in capsys.readouterr().out


def test_doctor_command_reports_healthy_environment(isolated_cache):
    result = run_python("from course_utils.cli.main import main; raise SystemExit(main(['doctor']))",
                        env={"COURSE_DATA": "sample"})
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "[ok] federated computation: federated_mean([1, 2, 6]) = 3" in result.stdout
    assert "bundled sample of real EMNIST writers" in result.stdout and "healthy" in result.stdout


def test_doctor_names_the_fix_for_a_bad_data_directory(tmp_path):
    result = run_python("from course_utils.cli.main import main; raise SystemExit(main(['doctor']))",
                        env={"COURSE_DATA": str(tmp_path)})
    assert result.returncode == 1
    assert "[PROBLEM] data" in result.stdout and "emnist_all.sqlite" in result.stdout
