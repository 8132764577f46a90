"""A notebook kernel's TFF worker stops with the kernel: shutdown, restart, SIGKILL."""

import os
import signal

import pytest
from jupyter_client.manager import start_new_kernel

from conftest import wait_gone

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
