"""Every course command, and a notebook kernel, ends without a traceback or a stray line
on stderr, on the stack this test runs on.

The race it guards against: TFF's own gRPC stub subscribes to its channel, which keeps a
gRPC polling thread running; when the worker stopped at interpreter exit, that thread
tried to start another one, and Python 3.12+ refuse ("can't create new thread at
interpreter shutdown"): a traceback after a command that succeeded, in 6 of 8 runs of
`doctor` on Python 3.12.1. The course's `ExecutorStub` does not subscribe
(`course_utils.runtime.executor_stub`).

Each command runs in a child process of this Python, so the test covers the stack that
runs it: `make test` runs it on the classic stack (3.11), the Colab-equivalent tier on
3.13, the 3.12 tier on 3.12. The commands the race was seen in repeat REPEATS times: at
its measured rate, 4 runs all miss it with probability 0.25⁴ < 0.4%. Runs go two at a
time (2 cores; each is mostly TensorFlow's import).
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from course_utils.cli import algorithms

REPEATS = 4
TINY = ["--rounds", "1", "--clients-per-round", "2", "--epochs", "1", "--json",
        "--no-progress"]
# What a successful command may print on stderr: train's line naming its data, and the
# worker command's line saying it stops.
EXPECTED_STDERR = re.compile(r"^(Data: .*|worker at \S+ stopping \(SIGTERM\))$")
KERNEL_CODE = """
import numpy as np
import course_utils
course_utils.setup(verbose=False)
import tensorflow_federated as tff

@tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
def mean(values):
    return tff.federated_mean(values)

assert float(mean([1.0, 2.0, 6.0])) == 3.0
"""


def _command_runs() -> dict[str, list[str]]:
    """Name -> arguments of `python -m course_utils`, one entry per run."""
    runs = {}
    for i in range(REPEATS):
        runs[f"doctor #{i + 1}"] = ["doctor"]
        runs[f"train fedavg #{i + 1}"] = ["train", "--algorithm", "fedavg", *TINY]
    for name in algorithms.ALGORITHMS:
        if name != "fedavg":
            runs[f"train {name}"] = ["train", "--algorithm", name, *TINY]
    runs["train fedavg --workers 2"] = ["train", "--algorithm", "fedavg", *TINY,
                                        "--workers", "2"]
    runs["data"] = ["data"]
    runs["nav --check"] = ["nav", "--check"]
    return runs


COMMAND_RUNS = _command_runs()
KERNEL_RUNS = [f"kernel shutdown #{i + 1}" for i in range(REPEATS)]


def _run_command(args: list[str]) -> tuple[int, str]:
    with tempfile.TemporaryFile("w+") as err:
        code = subprocess.run([sys.executable, "-m", "course_utils", *args],
                              stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                              env={**os.environ, "COURSE_DATA": "sample"}, timeout=600,
                              cwd=Path(__file__).parents[1]).returncode
        err.seek(0)
        return code, err.read()


def _run_worker_command() -> tuple[int, str]:
    """`worker` until its ready line, then SIGTERM, as an instructor stops it."""
    from course_utils.runtime import workers

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "course_utils", "worker", "--port",
             str(workers.free_port()), "--host", "127.0.0.1"],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and process.poll() is None:
                out.seek(0)
                if out.read().startswith("ready at"):
                    break
                time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            code = process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        err.seek(0)
        return code, err.read()


def _run_kernel() -> tuple[int, str]:
    """A kernel runs a federated computation and is shut down as JupyterLab does it (a
    shutdown request; SIGTERM if it has not exited 2.5 s later, which on the modern
    stack happens to any kernel that imported TensorFlow, course or not); returns what
    it printed on stderr from then on (at its start, debugpy may warn about frozen
    modules on 3.12+: not ours, not at exit), or all of it on a failure."""
    from jupyter_client.manager import KernelManager

    with tempfile.TemporaryFile("w+") as err:
        manager = KernelManager(kernel_name="python3")
        manager.kernel_spec.argv[0] = sys.executable  # this stack's Python
        manager.start_kernel(stderr=err, stdout=subprocess.DEVNULL,
                             env={**os.environ, "COURSE_DATA": "sample"})
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=120)
            reply = client.execute_interactive(KERNEL_CODE, timeout=300,
                                               output_hook=lambda msg: None)
            status = reply["content"]["status"]
        finally:
            err.flush()
            before_shutdown = os.fstat(err.fileno()).st_size
            client.stop_channels()
            manager.shutdown_kernel(now=False)  # a shutdown request: the kernel exits itself
        err.seek(0 if status != "ok" else before_shutdown)
        return (0 if status == "ok" else 1), err.read()


@pytest.fixture(scope="module")
def results() -> dict[str, tuple[int, str]]:
    jobs = {name: (_run_command, args) for name, args in COMMAND_RUNS.items()}
    jobs["worker"] = (_run_worker_command,)
    jobs.update({name: (_run_kernel,) for name in KERNEL_RUNS})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(*job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def _unexpected(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line and not EXPECTED_STDERR.match(line)]


@pytest.mark.parametrize("name", [*COMMAND_RUNS, "worker", *KERNEL_RUNS])
def test_ends_with_exit_0_and_nothing_unexpected_on_stderr(results, name):
    code, stderr = results[name]
    assert code == 0, f"{name}: exit code {code}\n{stderr[-3000:]}"
    assert "Traceback" not in stderr and "Exception in thread" not in stderr, stderr
    assert not _unexpected(stderr), f"{name} printed on stderr:\n{stderr[-3000:]}"


def _grpc_polling_threads() -> list[str]:
    """Threads running gRPC's connectivity polling (a channel subscription's thread)."""
    frames = sys._current_frames()
    found = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident)
        while frame is not None:
            if frame.f_code.co_name == "_poll_connectivity":
                found.append(thread.name)
                break
            frame = frame.f_back
    return found


def test_no_grpc_channel_subscription_outlives_its_need():
    """The mechanism, in this process: after a computation on the default worker and
    on a pool of two, no gRPC polling thread runs (TFF's stub leaves one per channel)."""
    import numpy as np
    import tensorflow_federated as tff

    from course_utils.runtime import cluster

    @tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
    def mean(values):
        return tff.federated_mean(values)

    assert float(mean([1.0, 2.0, 6.0])) == 3.0
    with cluster.distributed_context(2):
        assert float(mean([1.0, 2.0, 6.0])) == 3.0
    deadline = time.monotonic() + 2  # a readiness check's thread ends within 0.2 s
    while _grpc_polling_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _grpc_polling_threads() == []


def test_stopping_a_worker_closes_its_channel():
    """`Worker.stop()` closes the channel before it stops the process. A call through
    the old stub then fails as retryable (TFF builds its executor again), not with
    gRPC's ValueError for a closed channel, which TFF does not retry."""
    from tensorflow_federated.proto.v0 import executor_pb2
    from tensorflow_federated.python.core.impl.executors import executors_errors

    from course_utils.runtime import workers

    worker = workers.Worker().start()
    stub = worker.stub()
    assert stub.ready(timeout=10)
    worker.stop()
    assert not stub.ready(timeout=1)
    with pytest.raises(executors_errors.RetryableError, match="closed"):
        stub.get_executor(executor_pb2.GetExecutorRequest())


def test_a_computation_after_the_worker_restarts_runs_on_the_new_one():
    """TFF keeps executors (and their stubs) between computations; after the worker is
    stopped and started again, the next computation still runs."""
    import numpy as np
    import tensorflow_federated as tff

    from course_utils.runtime import context

    @tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
    def mean(values):
        return tff.federated_mean(values)

    assert float(mean([1.0, 2.0, 6.0])) == 3.0
    context.local_worker().stop()
    assert float(mean([1.0, 2.0, 6.0])) == 3.0
