"""Several TFF workers, and an execution context that splits each round's clients
across them (notebook 08, `python -m course_utils train --workers N`).

TFF's distributed runtime is the C++ executor service (`worker_binary`) on many hosts,
driven from Python over gRPC. Everything here is TFF 0.87's own machinery:

- `RemoteExecutor` + `RemoteExecutorGrpcStub`: talk to one worker;
- `AsyncExecutionContext`: runs a computation on one worker;
- `MergeableCompExecutionContext` (`tff.backends.native.
  create_mergeable_comp_execution_context`): compiles a computation with one
  aggregation into *mergeable form* (`up_to_merge`, `merge`, `after_merge`), gives each
  worker a slice of the CLIENTS-placed arguments (a *subround*), merges the partial
  aggregates and finishes the computation.

The course adds three small pieces of glue:

1. `WorkerPool`: start N workers on free loopback ports, check them, restart a dead one,
   stop them all (they also die with this process, see `course_utils.runtime.workers`).
2. Each worker's context runs on its own thread and event loop. TFF 0.87's
   `RemoteExecutor` makes *blocking* gRPC calls inside its coroutines, so with one shared
   event loop the subrounds would run one after another; with one loop per worker
   they overlap.
3. A guarded stub: when a worker *process* has died, TFF's stub reports gRPC
   `UNAVAILABLE`, which `AsyncExecutionContext` retries forever (on Kubernetes a
   replacement pod comes up behind the same address). Here the pool notices the dead
   process and either raises `WorkerLostError` (the learner sees what happened) or,
   with ``recover=True``, restarts the worker and lets TFF retry only that subround.
   A remote worker (``addresses=[...]``) that stops answering is pinged until it
   answers again (e.g. a replacement at the same address: TFF then retries the
   subround) or until ``lost_after`` seconds have passed (`WorkerLostError`). TFF's
   own retry alone is not enough: its requests, 30 s apart after a while, each found
   the gRPC channel still failing, and never reached a worker that was back at the
   same address 19 s after a crash (measured over 4 minutes). The course's channels
   also try to reconnect at least every second (`course_utils.runtime.workers`), instead of
   gRPC's growing back-off (up to 2 minutes), which kept a worker that was back
   unreachable for seconds.

On a real cluster the only change is the addresses of workers running elsewhere:

    with distributed_context(2) as pool:                      # 2 local workers
        state, metrics = process.next(state, federated_data)   # unchanged code

    with distributed_context(addresses=["10.0.0.5:8000", "10.0.0.6:8000"]):
        state, metrics = process.next(state, federated_data)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Sequence

from course_utils.runtime.workers import ExecutorStubHolder, Worker, WorkerError, answers

DEFAULT_NUM_WORKERS = 2


class WorkerLostError(RuntimeError):
    """A TFF worker died while it was running part of a computation."""


@dataclass(frozen=True)
class WorkerHealth:
    index: int
    address: str
    pid: int | None
    alive: bool       # the process runs
    serving: bool     # it answered a request of TFF's executor service

    @property
    def ok(self) -> bool:
        return self.alive and self.serving

    def __str__(self) -> str:
        state = "ok" if self.ok else ("not answering" if self.alive else "DEAD")
        return f"worker {self.index} at {self.address}: {state}"


class RemoteWorker(ExecutorStubHolder):
    """A worker someone else runs, known only by its address (a real cluster), e.g.
    one started with `python -m course_utils worker --port P` on another host."""

    def __init__(self, address: str):
        self.address = address
        self.pid = None
        self._stub = None

    def is_alive(self) -> bool:  # we cannot see another host's processes
        return True

    def __repr__(self) -> str:
        return f"RemoteWorker({self.address})"


DEFAULT_LOST_AFTER = 60.0


def ping(worker, timeout: float = 10.0) -> bool:
    """True when `worker` answers a request of TFF's executor service in time
    (`workers.answers`)."""
    return answers(worker, timeout)


class WorkerPool:
    """N TFF workers on loopback ports, started and stopped together.

        with WorkerPool(2) as pool:
            print(pool.health())

    Workers are started from one long-lived thread of the pool, because Linux ties a
    worker's "die with the parent" signal to the thread that started it.
    """

    def __init__(self, num_workers: int = DEFAULT_NUM_WORKERS, *,
                 host: str = "127.0.0.1", ports: Sequence[int] | None = None,
                 start_timeout: float = 30.0):
        if num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {num_workers}.")
        if ports is not None and len(ports) != num_workers:
            raise ValueError(f"Give one port per worker: {num_workers} workers, "
                             f"{len(ports)} ports.")
        ports = list(ports) if ports is not None else [None] * num_workers
        self.workers = [Worker(port=p, host=host, start_timeout=start_timeout)
                        for p in ports]
        self.restarts = 0
        # Per worker, the number of clients in each CLIENTS-placed argument sent to it:
        # its share of every round (and, for the worker that finishes a round, the first
        # share once more, which TFF sends with the merged aggregate to `after_merge`).
        self.clients_sent: list[list[int]] = [[] for _ in self.workers]
        self._crash_plan: dict[int, str] = {}
        self._lock = threading.RLock()
        self._spawner: concurrent.futures.ThreadPoolExecutor | None = None

    # --- lifecycle -------------------------------------------------------------------

    def _in_spawner(self, fn, *args):
        if self._spawner is None:
            self._spawner = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="course-utils-worker-spawner")
        return self._spawner.submit(fn, *args).result()

    def start(self) -> "WorkerPool":
        """Start every worker that is not running; on any failure stop them all."""
        with self._lock:
            try:
                for worker in self.workers:
                    if not worker.is_alive():
                        self._in_spawner(worker.start)
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        """Stop every worker and reap it."""
        with self._lock:
            for worker in self.workers:
                worker.stop()
            if self._spawner is not None:
                self._spawner.shutdown(wait=True)
                self._spawner = None

    def __enter__(self) -> "WorkerPool":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __len__(self) -> int:
        return len(self.workers)

    # --- health and recovery ---------------------------------------------------------

    @property
    def addresses(self) -> list[str]:
        return [w.address for w in self.workers]

    @property
    def pids(self) -> list[int | None]:
        return [w.pid for w in self.workers]

    def health(self, timeout: float = 5.0) -> list[WorkerHealth]:
        """One `WorkerHealth` per worker: is the process alive, does it answer?"""
        return [WorkerHealth(i, w.address, w.pid, w.is_alive(),
                             ping(w, timeout) if w.is_alive() else False)
                for i, w in enumerate(self.workers)]

    def healthy(self, timeout: float = 5.0) -> bool:
        return all(h.ok for h in self.health(timeout))

    def restart(self, index: int) -> Worker:
        """Restart worker `index` if its process has died (a pool created with `ports`
        keeps them; otherwise the new process gets a fresh free port)."""
        with self._lock:
            worker = self.workers[index]
            if worker.is_alive():
                return worker
            worker.stop()  # reap the dead process, close its log
            self._in_spawner(worker.start)
            self.restarts += 1
            return worker

    def restart_dead(self) -> list[int]:
        """Restart every worker whose process has died; return their indices."""
        with self._lock:
            dead = [i for i, w in enumerate(self.workers) if not w.is_alive()]
            for i in dead:
                self.restart(i)
            return dead

    def kill(self, index: int) -> int:
        """SIGKILL worker `index` (to simulate a crash); return its pid."""
        worker = self.workers[index]
        pid = worker.pid
        if pid is None or not worker.is_alive():
            raise WorkerError(f"Worker {index} is not running.")
        os.kill(pid, signal.SIGKILL)
        worker.process.wait()
        return pid

    def crash_on_next(self, index: int, request: str = "create_call") -> None:
        """Make worker `index` die (SIGKILL) when it next receives `request`.

        The default, ``create_call``, is the moment a worker is asked to run its share
        of a round: it has the model and its clients' data, and dies before answering.
        A deterministic crash mid-round, for demonstrations and tests.
        """
        self._crash_plan[index] = request

    def _record_value(self, index: int, request) -> None:
        clients = _clients_in(request.value)
        if clients:
            with self._lock:
                self.clients_sent[index].append(clients)

    def _maybe_crash(self, index: int, request: str) -> None:
        if self._crash_plan.get(index) == request:
            del self._crash_plan[index]
            self.kill(index)

    def __repr__(self) -> str:
        return f"WorkerPool({self.workers})"


def _clients_in(value) -> int:
    """The number of clients in the CLIENTS-placed values inside an executor `Value`
    proto (a round's client data: one member per client), 0 if there are none."""
    kind = value.WhichOneof("value")
    if kind == "federated":
        placed_at_clients = value.federated.type.placement.value.uri == "clients"
        if placed_at_clients and not value.federated.type.all_equal:
            return len(value.federated.value)
        return 0
    if kind == "struct":
        return max((_clients_in(element.value) for element in value.struct.element),
                   default=0)
    return 0


# --- the execution context ---------------------------------------------------------------


def _died(worker, grace: float = 1.0) -> bool:
    """Did `worker`'s process die? Waits up to `grace` seconds for a dying process."""
    process = getattr(worker, "process", None)
    if process is None:
        return not worker.is_alive()
    try:
        process.wait(grace)
        return True
    except Exception:  # still running: the error was something else
        return False


class _GuardedStub:
    """TFF's `RemoteExecutorGrpcStub` for one worker of a pool, with crash handling.

    Each request goes to the worker's current stub (so a restarted worker is used). A
    gRPC error from a worker whose process has died becomes `WorkerLostError`, or, when
    the pool recovers, the worker is restarted and the error stays *retryable*, so
    TFF's `AsyncExecutionContext` re-runs this worker's subround.
    """

    def __init__(self, pool: WorkerPool | None, index: int, worker, recover: bool,
                 max_restarts: int, lost_after: float | None = DEFAULT_LOST_AFTER):
        self._pool, self._index, self._worker = pool, index, worker
        self._recover, self._max_restarts = recover, max_restarts
        self._lost_after = lost_after

    def _call(self, method: str, request):
        import grpc
        from tensorflow_federated.python.core.impl.executors import executors_errors

        worker = self._worker
        if self._pool is not None:
            self._pool._maybe_crash(self._index, method)
        if method.startswith("dispose"):
            # Clean-up, often from a finalizer of TFF's that prints what it raises
            # ("Exception ignored in"): after a Ctrl-C stopped the workers, the
            # channel is closed and there is nothing left to free.
            try:
                return getattr(worker.stub(), method)(request)
            except grpc.RpcError:
                return None
        try:
            return getattr(worker.stub(), method)(request)
        except (grpc.RpcError, executors_errors.RetryableError) as error:
            if self._pool is None:  # a remote worker
                if not isinstance(error, executors_errors.RetryableError):
                    raise
                self._wait_for_remote(method)
                raise  # it answers again: TFF's AsyncExecutionContext retries
            if not _died(worker):
                raise
            self._lost_local(method)

    def _lost_local(self, method: str) -> None:
        """A pool's worker process died: `WorkerLostError`, or restart it and let TFF
        retry this subround."""
        from tensorflow_federated.python.core.impl.executors import executors_errors

        worker = self._worker
        code = worker.process.returncode if worker.process is not None else None
        how = ("it was stopped" if code is None
               else f"killed by {signal.Signals(-code).name}" if code < 0
               else f"exit code {code}")
        lost = WorkerLostError(
            f"TFF worker {self._index} at {worker.address} (pid {worker.pid}) died "
            f"during {method} ({how}); its share of the clients was not computed.")
        if not self._recover or self._pool.restarts >= self._max_restarts:
            raise lost from None
        self._pool.restart(self._index)
        # Retryable: TFF's AsyncExecutionContext re-runs this subround.
        raise executors_errors.RetryableError(f"{lost} Restarted it.") from None

    def _wait_for_remote(self, method: str) -> None:
        """A remote worker did not answer: ping it until it answers again, or raise
        `WorkerLostError` after `lost_after` seconds (None: wait as long as it takes)."""
        lost_after = math.inf if self._lost_after is None else self._lost_after
        if not ping(self._worker, timeout=lost_after):
            raise WorkerLostError(
                f"TFF worker {self._index} at {self._worker.address} stopped answering "
                f"during {method} and did not answer again within {lost_after:.0f} s; "
                "its share of the clients was not computed. Start it again at that "
                "address (python -m course_utils worker ...) and retry the round."
            ) from None

    def get_executor(self, request):
        return self._call("get_executor", request)

    def create_value(self, request):
        if self._pool is not None:
            self._pool._record_value(self._index, request)
        return self._call("create_value", request)

    def create_struct(self, request):
        return self._call("create_struct", request)

    def create_call(self, request):
        return self._call("create_call", request)

    def create_selection(self, request):
        return self._call("create_selection", request)

    def compute(self, request):
        return self._call("compute", request)

    def dispose(self, request):
        return self._call("dispose", request)

    def dispose_executor(self, request):
        return self._call("dispose_executor", request)

    @property
    def is_ready(self) -> bool:
        return self._worker.stub().is_ready


def _worker_async_context(stub):
    """TFF's `AsyncExecutionContext` on one worker (as tff.backends.native builds it)."""
    from course_utils.runtime import tff_private

    return tff_private.native_context(lambda: stub, asynchronous=True)


def _own_loop_context(inner):
    """Wrap an async context so that it runs on its own thread and event loop."""
    from tensorflow_federated.python.common_libs import async_utils
    from tensorflow_federated.python.core.impl.context_stack import context_base

    class OwnLoopContext(context_base.AsyncContext):
        def __init__(self):
            self._runner = async_utils.AsyncThreadRunner()
            self._running: set[concurrent.futures.Future] = set()

        async def invoke(self, comp, arg):
            future = asyncio.run_coroutine_threadsafe(inner.invoke(comp, arg),
                                                      self._runner._event_loop)
            self._running.add(future)
            future.add_done_callback(self._running.discard)
            return await asyncio.wrap_future(future)

        def drain(self, timeout: float) -> None:
            """Wait for subrounds still running (e.g. abandoned by a failed round)."""
            concurrent.futures.wait(list(self._running), timeout=timeout)

    return OwnLoopContext()


def create_distributed_context(workers, *, recover: bool = False,
                               max_restarts: int = 3,
                               lost_after: float | None = DEFAULT_LOST_AFTER):
    """TFF's MergeableCompExecutionContext over `workers`, one subround per worker.

    `workers` is a `WorkerPool` (local workers, with crash detection and optional
    recovery) or a list of ``"host:port"`` addresses of workers running elsewhere; a
    remote worker that does not answer for `lost_after` seconds is lost.
    """
    from tensorflow_federated.python.core.backends.native import execution_contexts

    if isinstance(workers, WorkerPool):
        pool, members = workers, workers.workers
    else:
        pool, members = None, [w if hasattr(w, "stub") else RemoteWorker(str(w))
                                for w in workers]
    if not members:
        raise ValueError("A distributed context needs at least one worker.")
    contexts = [
        _own_loop_context(_worker_async_context(
            _GuardedStub(pool, i, worker, recover, max_restarts, lost_after)))
        for i, worker in enumerate(members)
    ]
    context = execution_contexts.create_mergeable_comp_execution_context(contexts)
    context._course_worker_contexts = contexts
    return context


def _unreported_lost_worker(record: logging.LogRecord) -> bool:
    """True for asyncio's "Task exception was never retrieved" about a subround that
    Ctrl-C abandoned and that then failed against its stopped worker: not news, the
    interrupt was already reported."""
    error = record.exc_info[1] if record.exc_info else None
    return isinstance(error, WorkerLostError) and "never retrieved" in record.getMessage()


class _QuietAbandonedSubrounds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _unreported_lost_worker(record)


def _drain(context, timeout: float = 30.0, interrupted: bool = False) -> None:
    """Let subrounds that a failed round left running finish before workers stop (so
    they end quietly instead of failing against a stopped worker). Not after Ctrl-C:
    then stop at once, and keep asyncio from printing the abandoned subrounds' errors."""
    if interrupted:
        asyncio_logger = logging.getLogger("asyncio")
        if not any(isinstance(f, _QuietAbandonedSubrounds) for f in asyncio_logger.filters):
            asyncio_logger.addFilter(_QuietAbandonedSubrounds())
        return
    for worker_context in getattr(context, "_course_worker_contexts", []):
        worker_context.drain(timeout)


def _context_stack():
    from course_utils.runtime import tff_private

    return tff_private.context_stack()


def _default_context():
    stack = _context_stack()
    return getattr(stack, "_stack", [stack.current])[0]


@contextlib.contextmanager
def distributed_context(num_workers: int = DEFAULT_NUM_WORKERS, *, recover: bool = False,
                        addresses: Sequence[str] | None = None,
                        lost_after: float | None = DEFAULT_LOST_AFTER):
    """Start `num_workers` workers and make TFF run every computation across them.

    On exit TFF's previous default context (course_utils' worker-safe local one) is
    restored and the workers are stopped, also when the body raised. Yields the
    `WorkerPool`. With ``recover=True`` a worker that dies mid-round is restarted and
    its subround retried; otherwise the round fails with `WorkerLostError`.

    ``addresses=["host:port", ...]`` uses workers that run elsewhere instead (a real
    cluster, each started with ``python -m course_utils worker --port P``): nothing is
    started or stopped, `num_workers` is ignored, and the list of `RemoteWorker`s is
    yielded. A remote worker that stops answering mid-round is waited for: when it (or
    a replacement at the same address) answers again within `lost_after` seconds, TFF
    re-runs its share of the round; otherwise the round fails with `WorkerLostError`
    (``lost_after=None``: wait as long as it takes).
    """
    stack = _context_stack()
    previous = _default_context()
    if addresses is not None:
        remote = [RemoteWorker(a) for a in addresses]
        context = create_distributed_context(remote, lost_after=lost_after)
        stack.set_default_context(context)
        try:
            yield remote
        finally:
            stack.set_default_context(previous)
            _drain(context, interrupted=sys.exc_info()[0] is KeyboardInterrupt)
            for worker in remote:
                worker.close_stub()
        return
    with WorkerPool(num_workers) as pool:
        context = create_distributed_context(pool, recover=recover)
        stack.set_default_context(context)
        try:
            yield pool
        finally:
            stack.set_default_context(previous)
            _drain(context, interrupted=sys.exc_info()[0] is KeyboardInterrupt)
