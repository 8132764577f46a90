"""TFF worker processes (the C++ `worker_binary` executor service) that never outlive us.

TFF's own local runtime starts `worker_binary` and stops it only in a `__del__`, so
the worker is often left running after a script or a notebook kernel exits. Here every
worker is started with the Linux "parent death signal" set, so the kernel kills it
when the Python process that started it dies, even by SIGKILL; `stop()` and an
`atexit` hook stop it cleanly on a normal exit.

Notebook 08 uses `Worker` directly to run several workers on loopback ports.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1
# TFF 0.87's worker_binary has no option to choose an interface: it always listens on
# [::]:PORT, i.e. on every interface, whatever `host` a `Worker` is reached at.
ALL_INTERFACES = ""
_LIVE_WORKERS: set["Worker"] = set()


class WorkerError(RuntimeError):
    """A TFF worker could not be started or stopped."""


def worker_binary_path() -> Path:
    """Path of the `worker_binary` shipped inside the tensorflow-federated wheel."""
    import tensorflow_federated

    path = Path(tensorflow_federated.__file__).parent / "data" / "worker_binary"
    if not path.is_file():
        raise WorkerError(
            f"TFF's worker binary is missing at {path}. Reinstall TFF: "
            "pip install --no-deps --force-reinstall -r requirements-tff.txt"
        )
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Can a server listen on `port`? (Connections lingering in TIME_WAIT don't count.)"""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_port_free(port: int) -> None:
    """Raise `WorkerError` unless `worker_binary` can listen on `port` here."""
    if not port_is_free(port, ALL_INTERFACES):
        raise WorkerError(
            f"Port {port} is already in use on this host (TFF's worker listens on it on "
            "all interfaces). Choose another port, or stop the program that uses it.")


def set_parent_death_signal(sig: int) -> None:
    """Ask Linux to send this process `sig` when its parent dies (kept across exec).

    Linux ties this to the *thread* that forked the process, so a worker started from a
    thread that later exits is killed too; callers then simply start a new one.
    """
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, sig) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when its parent dies."""
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


class Worker:
    """One `worker_binary` serving TFF's executor service, reached at `host:port`
    (by default a free port of 127.0.0.1; it listens on all interfaces, see
    `ALL_INTERFACES`).

    Use as a context manager, or call `start()` / `stop()`:

        with Worker() as worker:
            stub = worker.stub()
    """

    def __init__(self, port: int | None = None, host: str = "127.0.0.1",
                 start_timeout: float = 30.0):
        self.host = host
        self.port = port
        self._fixed_port = port is not None  # else a free port is picked at each start
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self._stub = None
        self._log = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> "Worker":
        if self.is_alive():
            return self
        if not self._fixed_port:
            self.port = free_port(self.host)
        else:
            check_port_free(self.port)
        # The worker's log goes to a file, not a pipe: a pipe nobody reads fills up
        # and blocks the worker.
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [str(worker_binary_path()), f"--port={self.port}",
             "--max_concurrent_computation_calls=-1"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            preexec_fn=_die_with_parent,
        )
        _LIVE_WORKERS.add(self)
        self._stub = None
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self.is_alive():
                err = self.log_tail()
                self.stop()
                raise WorkerError(f"TFF worker on port {self.port} exited at start:\n{err}")
            if self.stub().is_ready:
                return
            time.sleep(0.05)
        self.stop()
        raise WorkerError(f"TFF worker on port {self.port} did not answer in "
                          f"{self.start_timeout:.0f} s.")

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the worker's own log (what it printed)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-chars:]

    def stub(self):
        """gRPC stub of TFF's executor service on this worker."""
        if self._stub is None:
            self._stub = executor_stub(self.address)
        return self._stub

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker (SIGINT, then SIGKILL after `timeout`) and reap it."""
        _LIVE_WORKERS.discard(self)
        process, self.process, self._stub = self.process, None, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "Worker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.is_alive() else "stopped"
        return f"Worker({self.address}, {state})"


_GRPC_MAX_MESSAGE_BYTES = 2 * 1000 * 1000 * 1000
_GRPC_OPTIONS = [
    ("grpc.max_message_length", _GRPC_MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", _GRPC_MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", _GRPC_MAX_MESSAGE_BYTES),
    # After failed connections gRPC waits 1 s, 1.6 s, 2.6 s, ... up to 2 minutes before
    # it tries again, even when the worker is back meanwhile (a restart, a replacement
    # pod): measured, seconds of "connection refused". Try at least every second.
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def executor_stub(address: str):
    """A gRPC stub of TFF's executor service at `address` ("host:port")."""
    import grpc
    from tensorflow_federated.python.core.impl.executors import remote_executor_grpc_stub

    channel = grpc.insecure_channel(address, _GRPC_OPTIONS)
    return remote_executor_grpc_stub.RemoteExecutorGrpcStub(channel)


@atexit.register
def stop_all_workers() -> None:
    """Stop every worker this process started (also runs at interpreter exit)."""
    for worker in list(_LIVE_WORKERS):
        worker.stop()
