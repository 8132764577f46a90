"""`python -m course_utils worker --port P`: a TFF worker that other hosts use.

It starts TFF 0.87's own executor service (`worker_binary`, through
`course_utils.workers.Worker`) on port P of this host, prints one line,

    ready at 10.0.0.5:8000 (TFF 0.87.0 worker_binary pid 1234, ...)

whose address goes into `course_utils.cluster.distributed_context(addresses=[...])` on
the host that runs the training loop, and serves until Ctrl-C or SIGTERM, or until the
process that started it exits (Linux's parent-death signal, as for every course
worker). `worker_binary` itself dies with this process, even on SIGKILL.

What every worker host needs; nothing checks it across hosts, so the command checks
what it can locally:
- the same TFF version as the coordinating host (0.87.0), on Linux x86-64;
- the same data at the same path: a client's dataset travels as a small tf.data graph
  that reads `emnist_all.sqlite` *on the worker* (``--data`` checks it is there);
- a port the coordinating host can reach (no firewall in between).
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import sys
import threading
from importlib import metadata
from pathlib import Path

from course_utils.runtime import workers

SUPPORTED_PLATFORM = ("linux", "x86_64")
_WILDCARDS = ("", "0.0.0.0", "::")
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class WorkerServiceError(RuntimeError):
    """The worker cannot run here; the message says why and what to do."""


def check_platform(system: str | None = None, machine: str | None = None) -> None:
    """TFF 0.87's `worker_binary` is a Linux x86-64 program."""
    system = system or sys.platform
    machine = machine or platform.machine()
    if (system, machine) != SUPPORTED_PLATFORM:
        raise WorkerServiceError(
            f"TFF 0.87's worker_binary runs only on Linux x86-64; this is {system} "
            f"{machine}. Run the worker on a Linux x86-64 host, or in the container "
            "that deploy/worker/Dockerfile builds.")


def check_data(data: str) -> Path:
    """The `emnist_all.sqlite` that `data` (a mode or a directory, as on the
    coordinating host) names, checked to be usable here (the bundled sample is built)."""
    from course_utils import data as course_data

    same_path = ("Every worker needs the data at the same path as the host that runs "
                 "the training loop: a client's dataset is a tf.data graph that reads "
                 "it on the worker.")
    try:
        source = course_data.resolve_source(data)
        if source.mode == "emnist" and not source.sqlite_path.exists():
            raise course_data.DataError(
                f"EMNIST is not at {source.sqlite_path} on this host. Copy it there, or "
                "run `python -m course_utils data --data emnist` here first.")
        course_data.prepare(source)
    except course_data.DataError as error:
        raise WorkerServiceError(f"{error} {same_path}") from None
    return source.sqlite_path


def local_addresses() -> list[str]:
    """This host's IPv4 addresses, loopback last."""
    import psutil

    found = [a.address for addresses in psutil.net_if_addrs().values()
             for a in addresses if a.family == socket.AF_INET]
    return sorted(found, key=lambda a: a.startswith("127."))


def _is_local(host: str) -> bool:
    """Can a socket bind `host` here, i.e. is it an address of this host?"""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise WorkerServiceError(f"--host {host}: cannot resolve that name on this host "
                                 f"({error.strerror}).") from None
    for family, _, _, _, sockaddr in infos:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((sockaddr[0], 0))
                return True
            except OSError:
                continue
    return False


def advertised_host(host: str | None) -> str:
    """The host part of the address other hosts reach this worker at.

    TFF 0.87's worker_binary listens on all interfaces, so `host` does not restrict
    anything; it is checked to be this host's, printed, and used for the ready check.
    Without one: this host's first non-loopback IPv4 address.
    """
    if host is None or host in _WILDCARDS:
        return local_addresses()[0] if local_addresses() else "127.0.0.1"
    if not _is_local(host):
        raise WorkerServiceError(
            f"--host {host} is not an address of this host (its addresses: "
            f"{', '.join(local_addresses()) or 'none'}). Give the address other hosts "
            "reach this one at, or leave --host out.")
    return host


def ready_line(worker: workers.Worker, sqlite: Path | None) -> str:
    """The one line printed when the worker answers: its address comes first."""
    data = f"data {sqlite}" if sqlite else "data not checked (see --data)"
    return (f"ready at {worker.address} (TFF {metadata.version('tensorflow-federated')} "
            f"worker_binary pid {worker.pid}, listening on port {worker.port} of all "
            f"interfaces; {data})")


def _how_it_ended(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


class _StopSignals:
    """Set by Ctrl-C, SIGTERM, SIGHUP, or when the process that started us exits."""

    def __init__(self):
        self.event = threading.Event()
        self.received: list[int] = []
        self._previous: dict = {}

    def _on_signal(self, signum, frame) -> None:
        self.received.append(signum)
        self.event.set()

    def __enter__(self) -> "_StopSignals":
        parent = os.getppid()
        self._previous = {s: signal.signal(s, self._on_signal) for s in _STOP_SIGNALS}
        workers.set_parent_death_signal(signal.SIGTERM)  # handled above: a clean stop
        if os.getppid() != parent:  # the parent exited before that took effect
            self.event.set()
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @property
    def reason(self) -> str:
        return signal.Signals(self.received[0]).name if self.received else "parent exited"


def serve(port: int, host: str | None = None, data: str | None = None, *,
          start_timeout: float = 60.0, out=None) -> int:
    """Run one worker until a stop signal or the parent's exit; return the exit code.

    Raises `WorkerServiceError` / `workers.WorkerError` (unsupported platform, missing
    data, a --host that is not this host's, port in use, a worker that does not start)
    before it serves.
    """
    check_platform()
    sqlite = check_data(data) if data is not None else None
    address_host = advertised_host(host)
    try:
        workers.check_port_free(port)
    except workers.WorkerError as error:  # a usage error here: choose another port
        raise WorkerServiceError(str(error)) from None
    worker = workers.Worker(port=port, host=address_host, start_timeout=start_timeout)
    with _StopSignals() as stop:
        try:
            if not stop.event.is_set():
                worker.start()
            if not stop.event.is_set():
                print(ready_line(worker, sqlite), file=out or sys.stdout, flush=True)
            return _serve_until_stopped(worker, stop)
        finally:
            worker.stop()


def _serve_until_stopped(worker: workers.Worker, stop: _StopSignals) -> int:
    while not stop.event.wait(0.5):
        if worker.is_alive():
            continue
        # Ctrl-C in a terminal reaches worker_binary too: give our handler a moment.
        if stop.event.wait(1.0):
            break
        print(f"error: TFF's worker_binary (pid {worker.pid}) ended on its own "
              f"({_how_it_ended(worker.process.returncode)}). Its log ends with:\n"
              f"{worker.log_tail()}", file=sys.stderr)
        return 1
    print(f"worker at {worker.address} stopping ({stop.reason})", file=sys.stderr,
          flush=True)
    return 0
