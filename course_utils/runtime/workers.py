"""TFF worker processes (the C++ `worker_binary` executor service) that never outlive us.

TFF's own local runtime starts `worker_binary` and stops it only in a `__del__`, so
the worker is often left running after a script or a notebook kernel exits. Here every
worker is started with the Linux "parent death signal" set, so the kernel kills it
when the Python process that started it dies, even by SIGKILL; `stop()` and an
`atexit` hook stop it cleanly on a normal exit.

A worker runs in its own process group, so an interrupt sent to ours (JupyterLab's
stop button, Ctrl-C in a terminal) does not kill it, and a thread reaps it the moment it
exits, so no zombie is left: ipykernel's shutdown waits for every child, zombies too.

Each worker also carries the identity of the process that started it (its pid and
start time, in the environment variable `COURSE_WORKER_STARTER`), so `orphaned_workers`
finds workers whose starter is gone whoever adopted them: init, or a "subreaper" such
as `systemd --user` or a container's init.

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
import threading
import time
from pathlib import Path

from course_utils.runtime import malloc

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
# TFF 0.87's worker_binary has no option to choose an interface: it always listens on
# [::]:PORT, i.e. on every interface, whatever `host` a `Worker` is reached at.
ALL_INTERFACES = ""
_LIVE_WORKERS: set["Worker"] = set()
STARTER_ENV = "COURSE_WORKER_STARTER"  # "pid:start time" of the worker's starting process
WORKER_BINARY = "worker_binary"


class WorkerError(RuntimeError):
    """A TFF worker could not be started or stopped."""


def worker_binary_path() -> Path:
    """Path of the `worker_binary` shipped inside the tensorflow-federated wheel (found
    without importing TFF, and so TensorFlow: a worker needs neither)."""
    import importlib.util

    spec = importlib.util.find_spec("tensorflow_federated")
    if spec is None or not spec.submodule_search_locations:
        raise WorkerError("TensorFlow Federated is not installed here. Install the course "
                          "(make setup), or: pip install --no-deps -r requirements-tff.txt")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / WORKER_BINARY
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
    _prctl(_PR_SET_PDEATHSIG, sig, "PR_SET_PDEATHSIG")


def set_child_subreaper() -> None:
    """Make this process adopt its orphaned descendants (instead of init), so that a
    process whose parent died can still be found among ours and stopped."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1, "PR_SET_CHILD_SUBREAPER")


def _prctl(option: int, value: int, name: str) -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.prctl(option, value) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({name}) failed")


def _die_with(parent_pid: int):
    """What runs in the child before exec: SIGKILL it when its parent dies."""
    def die_with_parent() -> None:
        set_parent_death_signal(signal.SIGKILL)
        # The parent died before prctl took effect: we were adopted (by init or by a
        # subreaper, so the new parent's pid is not necessarily 1).
        if os.getppid() != parent_pid:
            os._exit(1)

    return die_with_parent


# --- who started a worker, and is it still there? ------------------------------------

def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [state, ppid, ..., starttime, ...]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _stat_number(pid: int, index: int) -> int | None:
    """Field `index` of `_stat_fields(pid)` as a number, None if there is no such process."""
    try:
        return int(_stat_fields(pid)[index])
    except (OSError, IndexError, ValueError):
        return None


def start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot), None if there is no such
    process. With the pid, this names one process: a pid can be reused, a start time not."""
    return _stat_number(pid, 19)


def starter_marker(pid: int | None = None) -> str:
    """The value of STARTER_ENV for workers started by process `pid` (default: us)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{start_ticks(pid)}"


def parent_pid(pid: int) -> int | None:
    """The parent of process `pid`, None if there is no such process."""
    return _stat_number(pid, 1)


def is_running(pid: int) -> bool:
    """Does process `pid` run (exists and is not a zombie waiting to be reaped)?"""
    try:
        return _stat_fields(pid)[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def session_id(pid: int) -> int | None:
    """The session of process `pid`, None if there is no such process."""
    return _stat_number(pid, 3)


def starter_alive(marker: str) -> bool:
    """Does the process a STARTER_ENV value names still run (same pid, same start)?"""
    pid, _, ticks = marker.partition(":")
    try:
        state = _stat_fields(int(pid))[0]
    except (OSError, ValueError, IndexError):
        return False
    return state not in ("Z", "X") and str(start_ticks(int(pid))) == ticks


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0")
                if "=" in item)


def _is_python(pid: int) -> bool:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name.startswith("python")
    except OSError:
        return False


def is_orphaned(pid: int) -> bool:
    """Is worker_binary process `pid` running without the process that started it?

    A worker the course started names its starter (STARTER_ENV): orphaned when that
    process is gone, whoever has adopted the worker since. A worker started by TFF's
    own runtime carries no name: orphaned when its parent is not a Python process (TFF
    starts workers from Python only, so init, `systemd --user` or a shell that adopted
    it gives it away; a subreaper that is itself Python would hide such a worker).
    Raises OSError when `pid` cannot be inspected.
    """
    fields = _stat_fields(pid)
    if fields[0] in ("Z", "X"):  # dead, waiting to be reaped: burns nothing
        return False
    marker = _environ(pid).get(STARTER_ENV)
    if marker is not None:
        return not starter_alive(marker)
    parent = int(fields[1])
    return parent <= 1 or not _is_python(parent)


def started_by_course(pid: int) -> bool:
    """Was worker_binary process `pid` started by the course (it names its starter)?
    Otherwise TFF's own runtime or another program started it. Raises OSError when
    `pid` cannot be inspected."""
    return STARTER_ENV in _environ(pid)


def workers_started_by(marker: str) -> list[int]:
    """pids of the running worker_binary processes started by the process that
    `marker` names (a STARTER_ENV value, `starter_marker(pid)` taken while it ran)."""
    return [pid for pid in worker_binary_pids()
            if environment_of(pid).get(STARTER_ENV) == marker]


def worker_binary_pids() -> list[int]:
    """pids of the worker_binary processes in /proc now (whoever started them)."""
    found = []
    for pid in running_pids():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == WORKER_BINARY:
                found.append(pid)
        except OSError:
            continue
    return found


def running_pids() -> list[int]:
    """Every process id in /proc now."""
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def environment_of(pid: int) -> dict[str, str]:
    """The environment process `pid` started with; empty when it cannot be read (gone,
    or another user's)."""
    try:
        return _environ(pid)
    except OSError:
        return {}


def boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def orphaned_workers(since: float | None = None) -> list[int]:
    """pids of running worker_binary processes whose starting process is gone (each
    burns a CPU core for nothing), optionally only those started at or after the Unix
    time `since`. Processes of other users, which cannot be inspected, are skipped."""
    started_after = None
    if since is not None:  # in clock ticks since boot, with 1 s of slack for rounding
        started_after = (since - 1 - boot_time()) * os.sysconf("SC_CLK_TCK")
    found = []
    for pid in worker_binary_pids():
        try:
            if started_after is not None and int(_stat_fields(pid)[19]) < started_after:
                continue
            if is_orphaned(pid):
                found.append(pid)
        except OSError:
            continue
    return sorted(found)


class ExecutorStubHolder:
    """What reaches a worker's executor service at `self.address`: one `ExecutorStub`,
    made on first use, closed by `close_stub()`. Shared by `Worker` (ours) and
    `cluster.RemoteWorker` (another host's); each sets `self._stub = None` at start."""

    def stub(self):
        """gRPC stub of TFF's executor service on this worker (`ExecutorStub`)."""
        if self._stub is None:
            self._stub = executor_stub(self.address)
        return self._stub

    def close_stub(self) -> None:
        """Close the gRPC channel to this worker, if one is open."""
        stub, self._stub = self._stub, None
        if stub is not None:
            stub.close()


def answers(worker, timeout: float) -> bool:
    """True when `worker` answers a request of TFF's executor service (an executor got
    and disposed of: a real round trip, not just an open port) within `timeout`
    seconds; False as soon as its process is gone."""
    deadline = time.monotonic() + timeout
    while worker.is_alive():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if worker.stub().ready(timeout=min(1.0, remaining)):
            return True
    return False


class Worker(ExecutorStubHolder):
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
            env={**os.environ, **malloc.worker_environment(), "TF_CPP_MIN_LOG_LEVEL": "2",
                 STARTER_ENV: starter_marker()},
            preexec_fn=_die_with(os.getpid()),
            process_group=0,  # an interrupt to our group is not for the worker
        )
        threading.Thread(target=self.process.wait, daemon=True,
                         name=f"reap worker {self.process.pid}").start()
        _LIVE_WORKERS.add(self)
        self.close_stub()  # a channel to an earlier process of this worker
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        if answers(self, self.start_timeout):
            return
        if not self.is_alive():
            err = self.log_tail()
            self.stop()
            raise WorkerError(f"TFF worker on port {self.port} exited at start:\n{err}")
        self.stop()
        raise WorkerError(f"TFF worker on port {self.port} did not answer in "
                          f"{self.start_timeout:.0f} s.")

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the worker's own log (what it printed), without the lines that
        are harmless noise on the modern stack (`compat.without_harmless_worker_lines`)."""
        from course_utils.runtime import compat

        if self._log is None:
            return ""
        self._log.seek(0)
        log = self._log.read().decode(errors="replace")
        return compat.without_harmless_worker_lines(log)[-chars:]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker (SIGINT, then SIGKILL after `timeout`) and reap it."""
        _LIVE_WORKERS.discard(self)
        process, self.process = self.process, None
        self.close_stub()  # first: nothing is left listening to the connection we end
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


def executor_stub(address: str):
    """A gRPC stub of TFF's executor service at `address` ("host:port"): TFF's own,
    minus the connectivity subscription that made Python 3.12+ print a traceback at
    exit (`course_utils.runtime.executor_stub`)."""
    from course_utils.runtime.executor_stub import ExecutorStub

    return ExecutorStub(address)


@atexit.register
def stop_all_workers() -> None:
    """Stop every worker this process started (also runs at interpreter exit)."""
    for worker in list(_LIVE_WORKERS):
        worker.stop()
