"""One graded notebook's kernel: a fresh IPython kernel in a scratch folder, with a
deadline, a memory limit, and no process of it left afterwards.

- The kernel runs the course's own Python (`sys.executable`) with the course's code
  first on its path, in a session of its own, killed by Linux if the grader dies
  (parent-death signal), with no core dumps and a bound on the size of a file it writes.
- Only its shell channel is connected: what the learner's code prints is published
  on a channel nobody listens to, so a flood of output costs the grader nothing. Each
  message the grader accepts is at most MAX_MESSAGE bytes.
- Every wait checks the deadline, that the kernel still runs, and the resident memory
  of its processes (a limit without cgroups: polled, then SIGKILL).
- The connection file, which holds the key that signs messages to the kernel, is
  deleted once the kernel has read it: another submission's code cannot drive it.
"""

from __future__ import annotations

import os
import queue
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from course_utils.grading import processes
from course_utils.runtime import workers

MAX_MESSAGE = 16 * 2**20      # bytes of one message from the kernel
FILE_LIMIT = 2 * 2**30        # bytes of one file the kernel writes
POLL_SECONDS = 0.25
START_SECONDS = 60.0          # at most, of the notebook's time, to start the kernel

_LIVE_LOCK = threading.Lock()
_LIVE_KERNELS: set[int] = set()  # pids of the kernels this grader runs now
_STOPPING = threading.Event()    # set by interrupt_all(): start or run nothing more


class Stopped(Exception):
    """The notebook was stopped. `status` is "timeout" or "error"; the message says
    what happened and where."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


def _preexec(parent_pid: int):
    die_with_parent = workers._die_with(parent_pid)

    def in_child() -> None:
        die_with_parent()
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))

    return in_child


class Kernel:
    """Start with `start()`, run code with `run()`, always end with `stop()`."""

    def __init__(self, workdir: Path, course_root: Path, deadline: float,
                 memory_bytes: int, seconds: float):
        self.workdir, self.course_root = Path(workdir), Path(course_root)
        self.deadline, self.memory_bytes, self.seconds = deadline, memory_bytes, seconds
        self.job = secrets.token_hex(8)
        self.process: subprocess.Popen | None = None
        self.client = None
        self._context = None
        self._marker = ""
        self._private = Path(tempfile.mkdtemp(prefix="course-grade-kernel-"))

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        import zmq
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        connection, info = write_connection_file(
            str(self._private / "kernel.json"), ip="127.0.0.1",
            key=secrets.token_hex(32).encode())
        env = {**os.environ, processes.JOB_ENV: self.job,
               "IPYTHONDIR": str(self._private / "ipython"),
               "PYTHONPATH": os.pathsep.join(
                   [str(self.course_root)] + [p for p in os.environ.get(
                       "PYTHONPATH", "").split(os.pathsep) if p])}
        with _LIVE_LOCK:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ipykernel_launcher", "-f", connection,
                 "--HistoryManager.enabled=False"],
                cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_preexec(os.getpid()))
            _LIVE_KERNELS.add(self.process.pid)
        self._marker = workers.starter_marker(self.process.pid)
        # The client makes its own context: its class differs between jupyter_client
        # 8 (classic stack) and 7 (Colab's); options set now apply to its sockets.
        self.client = BlockingKernelClient()
        self._context = self.client.context
        self._context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        self._context.setsockopt(zmq.SNDTIMEO, 5000)
        self._context.setsockopt(zmq.LINGER, 0)
        self.client.load_connection_info(info)
        self.client.start_channels(shell=True, iopub=False, stdin=False, hb=False,
                                   control=False)
        start_deadline = min(self.deadline, time.monotonic() + START_SECONDS)
        self._reply(self._send(self.client.kernel_info), start_deadline, "starting the kernel")
        Path(connection).unlink()  # read by the kernel: nobody else needs its key

    def stop(self) -> None:
        """End the kernel and every process of its job, by pid; delete its files."""
        if self.client is not None:
            self.client.stop_channels()
            self._context.destroy(linger=0)
            self.client = None
        if self.process is not None:
            pid = self.process.pid

            def find():
                # Under the lock: a kernel another thread starts meanwhile would be a
                # child of ours that is not (yet) in _LIVE_KERNELS, i.e. an "orphan".
                with _LIVE_LOCK:
                    others = frozenset(_LIVE_KERNELS - {pid})
                    return (processes.job_processes(pid, self.job, processes.adopter(), others)
                            | set(workers.workers_started_by(self._marker)))

            processes.end(find)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # SIGKILLed but stuck in the kernel
                pass
            with _LIVE_LOCK:
                _LIVE_KERNELS.discard(pid)
        shutil.rmtree(self._private, ignore_errors=True)

    # ------------------------------------------------------------------ running code

    def run(self, code: str, what: str, silent: bool = False) -> dict:
        """Execute `code`; return the reply's content (status "ok" or "error", with
        ename/evalue). Raises Stopped on the deadline, a dead kernel, too much memory."""
        msg_id = self._send(lambda: self.client.execute(
            code, silent=silent, store_history=not silent, allow_stdin=False,
            stop_on_error=False))
        return self._reply(msg_id, self.deadline, what)

    def _send(self, send) -> str:
        import zmq

        try:
            return send()
        except zmq.Again:
            raise Stopped("error", "lost the connection to the kernel (it sent a message "
                                   f"over {MAX_MESSAGE // 2**20} MB, or stopped reading)")

    def _reply(self, msg_id: str, deadline: float, what: str) -> dict:
        while True:
            self._check(deadline, what)
            try:
                message = self.client.get_shell_msg(
                    timeout=max(0.01, min(POLL_SECONDS, deadline - time.monotonic())))
            except queue.Empty:
                continue
            if message.get("parent_header", {}).get("msg_id") == msg_id:
                return message["content"]

    def _check(self, deadline: float, what: str) -> None:
        if _STOPPING.is_set():
            raise Stopped("error", f"interrupted (Ctrl-C) while {what}")
        code = self.process.poll()
        if code is not None:
            how = f"signal {-code}" if code < 0 else f"code {code}"
            raise Stopped("error", f"the kernel exited ({how}) while {what}")
        if time.monotonic() >= deadline:
            raise Stopped("timeout", f"stopped at the time limit ({self.seconds:g} s a "
                                     f"notebook) while {what}")
        pids = {self.process.pid} | processes.descendants(self.process.pid)
        used = processes.memory_bytes(pids)
        if used > self.memory_bytes:
            raise Stopped("error", f"stopped: its processes used {used / 2**30:.1f} GB of "
                                   f"memory (the limit is {self.memory_bytes / 2**30:g} GB) "
                                   f"while {what}")


def interrupt_all() -> None:
    """SIGKILL every kernel this grader runs and start no more (Ctrl-C); each kernel's
    job ends in its `stop()`."""
    _STOPPING.set()
    with _LIVE_LOCK:
        for pid in _LIVE_KERNELS:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
