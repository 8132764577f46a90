"""The TFF worker never outlives the Python process that started it."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import process_gone, run_python, wait_gone

import course_utils
from course_utils.runtime import compat
from course_utils.runtime import context as runtime
from course_utils.runtime import workers

HELLO = """
import os, sys, numpy as np
import course_utils
course_utils.activate()
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
    """Why the course has its own context: TFF's default one leaks its worker.
    (course_utils is imported for its shims, then TFF's own context is put back.)"""
    code = """
import course_utils
course_utils.activate()
import numpy as np, psutil, tensorflow_federated as tff
tff.backends.native.set_sync_local_cpp_execution_context()
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


def test_stop_kills_a_worker_that_does_not_stop_on_sigint():
    """Worker.stop sends SIGINT, then SIGKILL after `timeout`: a stopped (SIGSTOP)
    process cannot act on SIGINT, so only the fallback ends it."""
    worker = workers.Worker().start()
    pid, process = worker.pid, worker.process
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while workers._stat_fields(pid)[0] != "T":  # stopped for real (else a pending
        assert time.monotonic() < deadline      # SIGINT is delivered before SIGSTOP)
        time.sleep(0.01)
    start = time.monotonic()
    try:
        worker.stop(timeout=1.0)
    finally:
        if not process_gone(pid):
            os.kill(pid, signal.SIGKILL)
    assert 1.0 <= time.monotonic() - start < 10
    assert process.returncode == -signal.SIGKILL
    assert wait_gone(pid) and not worker.is_alive()


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


@pytest.mark.parametrize("version, platform, machine", [
    ((3, 10, 0), "linux", "x86_64"), ((3, 14, 0), "linux", "x86_64"),
    ((3, 13, 0), "darwin", "arm64"), ((3, 11, 7), "linux", "aarch64"),
])
def test_unsupported_place_gets_one_clear_message(version, platform, machine):
    with pytest.raises(runtime.UnsupportedEnvironmentError, match="Binder") as error:
        runtime.check_python(version, platform, machine)
    assert f"this is Python {version[0]}.{version[1]} on {platform}/{machine}" in str(error.value)


@pytest.mark.parametrize("version", [(3, 11, 7), (3, 12, 1), (3, 13, 0)])
def test_supported_pythons_pass(version):
    runtime.check_python(version, "linux", "x86_64")


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
    assert f"[ok] stack: {compat.stack().describe()}" in result.stdout
    assert "supported" in compat.stack().describe()
    assert "bundled sample of real EMNIST writers" in result.stdout and "healthy" in result.stdout


def test_doctor_names_the_fix_for_a_bad_data_directory(tmp_path):
    result = run_python("from course_utils.cli.main import main; raise SystemExit(main(['doctor']))",
                        env={"COURSE_DATA": str(tmp_path)})
    assert result.returncode == 1
    assert "[PROBLEM] data" in result.stdout and "emnist_all.sqlite" in result.stdout


# --- orphaned workers, whoever adopts them -----------------------------------------

WORKERS_PY = Path(workers.__file__)

# A process that makes itself a "subreaper" (as systemd --user, or some containers'
# init): orphans among its descendants are re-parented to it, not to init (pid 1).
# It starts CHILD, which starts a worker and exits; then it waits to be killed.
SUBREAPER = """
import ctypes, os, subprocess, sys, time
PR_SET_CHILD_SUBREAPER = 36
assert ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1) == 0
child = sys.argv[1]
print("subreaper", os.getpid(), flush=True)
if sys.argv[2] == "shell":  # a subreaper that is not Python: the setting survives exec
    os.execvp("sh", ["sh", "-c", '"$0" -c "$1"; exec sleep 300', sys.executable, child])
subprocess.run([sys.executable, "-c", child], check=True)
time.sleep(300)
"""

# The course's Worker, started without the parent-death signal (as when its starter
# died in the instant before the worker set it), so that it outlives its starter.
COURSE_WORKER_CHILD = """
import importlib.util, os
spec = importlib.util.spec_from_file_location("workers", {workers_py!r})
workers = importlib.util.module_from_spec(spec); spec.loader.exec_module(workers)
workers.worker_binary_path = lambda: {binary!r}
workers._die_with = lambda parent_pid: (lambda: None)
workers.Worker._wait_until_ready = lambda self: None
worker = workers.Worker().start()
print("worker", worker.pid, flush=True)
os._exit(0)
"""

# TFF's own runtime starts worker_binary with a plain Popen, naming no starter.
TFF_WORKER_CHILD = """
import subprocess
process = subprocess.Popen([{binary!r}, "--port={port}"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
print("worker", process.pid, flush=True)
"""


def _wait_for_lines(path: Path, words: set[str], timeout: float = 60) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = dict(line.split() for line in path.read_text().splitlines() if line.strip())
        if words <= set(found):
            return {word: int(found[word]) for word in words}
        time.sleep(0.1)
    raise AssertionError(f"no {words} in {path.read_text()!r}")


@pytest.mark.parametrize("child, parent", [
    (COURSE_WORKER_CHILD, "python"),  # found by the starter it names
    (TFF_WORKER_CHILD, "shell"),      # found by its adopter not being Python
])
def test_orphan_is_found_under_a_subreaper(child, parent, tmp_path):
    from course_utils.runtime import doctor

    before = time.time()
    code = child.format(workers_py=str(WORKERS_PY), binary=str(workers.worker_binary_path()),
                        port=workers.free_port())
    out = tmp_path / "out"
    with open(out, "w") as sink:
        reaper = subprocess.Popen([sys.executable, "-c", SUBREAPER, code, parent],
                                  stdout=sink, stderr=subprocess.STDOUT)
    worker_pid = None
    try:
        pids = _wait_for_lines(out, {"subreaper", "worker"})
        worker_pid = pids["worker"]
        deadline = time.monotonic() + 30
        while workers._stat_fields(worker_pid)[1] != str(reaper.pid):
            assert time.monotonic() < deadline, "the worker was not adopted"
            time.sleep(0.1)
        # Adopted by the subreaper, not by init: a `ppid == 1` check sees nothing.
        assert workers._stat_fields(worker_pid)[1] != "1"
        assert worker_pid in workers.orphaned_workers()
        assert worker_pid in workers.orphaned_workers(since=before)     # the test guard
        assert worker_pid not in workers.orphaned_workers(since=time.time() + 60)
        check = doctor.check_leftovers()
        if child == COURSE_WORKER_CHILD:  # the course's own: a problem
            assert not check.ok and str(worker_pid) in check.detail
            assert f"kill {worker_pid}" in check.fix
        else:                             # another program's: a warning, still healthy
            assert check.ok and str(worker_pid) not in check.detail
            assert f"kill {worker_pid}" in check.warning
    finally:
        if worker_pid is not None and not process_gone(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
        reaper.kill()
        reaper.wait()
    assert wait_gone(worker_pid)


def test_workers_name_their_starter_and_are_not_orphans_while_it_runs():
    with workers.Worker() as worker:
        marker = workers._environ(worker.pid)[workers.STARTER_ENV]
        assert marker == f"{os.getpid()}:{workers.start_ticks(os.getpid())}"
        assert workers.starter_alive(marker) and not workers.is_orphaned(worker.pid)
        assert worker.pid not in workers.orphaned_workers()
    pid, _, ticks = marker.partition(":")
    assert not workers.starter_alive(f"{pid}:{int(ticks) + 1}")  # a reused pid
    assert not workers.starter_alive("999999999:1")               # no such process
