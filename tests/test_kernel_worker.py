"""A notebook kernel's TFF worker stops with the kernel: shutdown, restart, SIGKILL."""

import os
import signal
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from conftest import wait_gone, wait_until
from test_malloc import RELEASED_MIB

RUN_COMPUTATION = """
import course_utils, numpy as np, tensorflow_federated as tff
course_utils.setup(verbose=False)
@tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
def mean(x):
    return tff.federated_mean(x)
assert mean([1.0, 3.0]) == 2.0
print(course_utils.runtime.context.local_worker().pid)
"""


def _run(client, code: str) -> str:
    out = []

    def collect(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = client.execute_interactive(code, timeout=180, output_hook=collect)
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


@pytest.fixture
def kernel():
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)
    yield manager, client
    client.stop_channels()
    if manager.is_alive():
        manager.shutdown_kernel(now=True)


@pytest.mark.parametrize("how", ["shutdown", "restart", "sigkill"])
def test_worker_stops_with_the_kernel(kernel, how):
    manager, client = kernel
    worker_pid = int(_run(client, RUN_COMPUTATION).split()[-1])
    if how == "shutdown":
        manager.shutdown_kernel()
    elif how == "restart":
        manager.restart_kernel()
    else:
        os.kill(manager.provisioner.process.pid, signal.SIGKILL)
    assert wait_gone(worker_pid), f"worker {worker_pid} outlived the kernel ({how})"


def test_an_interrupt_leaves_the_worker_serving(kernel):
    """JupyterLab's stop button sends SIGINT to the kernel's process group: the worker
    is in a group of its own, so the kernel goes on with the same worker."""
    manager, client = kernel
    worker_pid = int(_run(client, RUN_COMPUTATION).split()[-1])
    manager.interrupt_kernel()
    again = _run(client, "assert mean([1.0, 3.0]) == 2.0\n"
                         "print(course_utils.runtime.context.local_worker().pid)")
    assert int(again.split()[-1]) == worker_pid, "the interrupt killed the kernel's worker"


def test_a_worker_that_dies_is_reaped_not_left_a_zombie(kernel):
    """ipykernel's shutdown waits for every child process, zombies too, until it is
    killed itself: a dead worker must be reaped at once."""
    manager, client = kernel
    worker_pid = int(_run(client, RUN_COMPUTATION).split()[-1])
    os.kill(worker_pid, signal.SIGTERM)
    assert wait_until(lambda: not Path(f"/proc/{worker_pid}").exists(), timeout=30), (
        f"worker {worker_pid} stayed a zombie of the kernel")


def test_the_kernel_and_its_worker_run_with_the_malloc_settings(kernel):
    """setup() tunes the kernel's malloc, so freed arrays go back to the system, and
    its worker starts with two arenas (course_utils.runtime.malloc)."""
    _, client = kernel
    pid = int(_run(client, RUN_COMPUTATION).split()[-1])
    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"MALLOC_ARENA_MAX=2" in environment
    assert float(_run(client, RELEASED_MIB).split()[-1]) > 40
