"""course_utils.runtime.cluster: several TFF workers, a context that splits clients across them."""

import os
import signal
import socket
import time

import numpy as np
import psutil
import pytest

from conftest import process_gone, run_python, wait_gone, wait_until

from course_utils import data, fedavg
from course_utils.runtime import cluster
from course_utils.runtime import workers


def _current_context():
    from tensorflow_federated.python.core.impl.context_stack import context_stack_impl

    return context_stack_impl.context_stack.current


def _worker_children() -> set[int]:
    return {p.pid for p in psutil.Process().children()
            if p.name() == "worker_binary" and p.status() != psutil.STATUS_ZOMBIE}


# --- the pool ------------------------------------------------------------------------

def test_pool_starts_answers_and_stops():
    with cluster.WorkerPool(2) as pool:
        health = pool.health()
        assert [h.ok for h in health] == [True, True], health
        assert len(set(pool.addresses)) == 2
        assert all(a.startswith("127.0.0.1:") for a in pool.addresses)
        pids = pool.pids
        assert set(pids) <= _worker_children()
    assert all(wait_gone(pid) for pid in pids)
    assert not set(pids) & _worker_children()


def test_crashed_worker_is_seen_and_restarted():
    with cluster.WorkerPool(2) as pool:
        old = pool.pids
        os.kill(old[1], signal.SIGKILL)          # a crash, from outside the pool
        assert wait_gone(old[1])
        # /proc shows a zombie while the worker's other threads still exit; waitpid
        # (is_alive) can reap it only after them: wait for that too.
        assert wait_until(lambda: not pool.workers[1].is_alive())
        health = pool.health()
        assert health[0].ok and not health[1].alive and not health[1].ok
        assert "DEAD" in str(health[1])
        assert pool.restart_dead() == [1]
        assert pool.healthy()
        assert pool.pids[0] == old[0] and pool.pids[1] != old[1]
        assert pool.restarts == 1
        new = pool.pids
    assert all(wait_gone(pid) for pid in new)


def test_port_in_use_is_a_clear_error_and_leaves_nothing_running():
    before = _worker_children()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        pool = cluster.WorkerPool(2, ports=[workers.free_port(), port])
        with pytest.raises(workers.WorkerError, match=f"Port {port} .* already in use"):
            pool.start()
    assert not any(w.is_alive() for w in pool.workers)
    assert _worker_children() <= before


def test_pool_arguments_are_checked():
    with pytest.raises(ValueError, match="at least 1"):
        cluster.WorkerPool(0)
    with pytest.raises(ValueError, match="one port per worker"):
        cluster.WorkerPool(2, ports=[1234])


# --- the distributed context -----------------------------------------------------------

@pytest.fixture(scope="module")
def small_round(sample_dir):
    """FedAvg, its initial state and one small round of the bundled writers."""
    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    process = fedavg.build_unweighted_fedavg_process()
    federated_data = data.make_federated_data(train, train.client_ids[:6], epochs=1)
    state = process.initialize()
    return process, state, federated_data


def _assert_same_weights(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-6)


def test_distributed_round_equals_single_process(small_round):
    process, state, federated_data = small_round
    local = _current_context()
    expected_state, expected_metrics = process.next(state, federated_data)
    with cluster.distributed_context(2) as pool:
        assert _current_context() is not local
        state_2, metrics_2 = process.next(state, federated_data)
        # Both workers trained: the round's 6 clients were split 3 + 3 (the worker that
        # merged may also get a share again, for TFF's after_merge step).
        assert [sent[0] for sent in pool.clients_sent] == [3, 3], pool.clients_sent
        assert process.initialize() is not None  # a computation with no clients
        before = [len(sent) for sent in pool.clients_sent]
        process.next(state, federated_data[:4])              # a round of 4: 2 + 2
        assert [sent[n] for sent, n in zip(pool.clients_sent, before)] == [2, 2]
        pids = pool.pids
    _assert_same_weights(expected_state, state_2)
    assert metrics_2["loss"] == pytest.approx(expected_metrics["loss"], abs=1e-5)
    assert metrics_2["accuracy"] == pytest.approx(expected_metrics["accuracy"], abs=1e-6)
    assert _current_context() is local                  # restored
    assert all(wait_gone(pid) for pid in pids)           # stopped


def test_context_is_restored_and_workers_stopped_when_the_body_raises():
    local = _current_context()
    with pytest.raises(KeyError):
        with cluster.distributed_context(1) as pool:
            pids = pool.pids
            raise KeyError("boom")
    assert _current_context() is local
    assert all(wait_gone(pid) for pid in pids)


def test_worker_dying_mid_round_is_an_error_then_recovers(small_round):
    process, state, federated_data = small_round
    expected, _ = process.next(state, federated_data)
    with cluster.distributed_context(2) as pool:
        old_pid = pool.pids[1]
        pool.crash_on_next(1)
        with pytest.raises(cluster.WorkerLostError, match="worker 1 .* died .*SIGKILL"):
            process.next(state, federated_data)
        assert process_gone(old_pid)
        assert pool.restart_dead() == [1]
        retried, _ = process.next(state, federated_data)      # retry the round
        pids = pool.pids
    _assert_same_weights(expected, retried)
    assert all(wait_gone(pid) for pid in pids)


def test_recovering_context_restarts_the_worker_and_retries_its_share(small_round):
    process, state, federated_data = small_round
    expected, _ = process.next(state, federated_data)
    with cluster.distributed_context(2, recover=True) as pool:
        old_pid = pool.pids[0]
        pool.crash_on_next(0)
        result, _ = process.next(state, federated_data)
        assert pool.restarts == 1 and pool.pids[0] != old_pid and pool.healthy()
        pids = pool.pids
    _assert_same_weights(expected, result)
    assert all(wait_gone(pid) for pid in pids)


def test_remote_addresses_are_the_only_change(small_round):
    """Workers started elsewhere (here: by hand), reached by "host:port" only."""
    process, state, federated_data = small_round
    expected, _ = process.next(state, federated_data)
    local = _current_context()
    with workers.Worker() as a, workers.Worker() as b:
        with cluster.distributed_context(addresses=[a.address, b.address]) as remote:
            assert [w.address for w in remote] == [a.address, b.address]
            result, _ = process.next(state, federated_data)
        assert _current_context() is local
        assert a.is_alive() and b.is_alive()  # not ours to stop
    _assert_same_weights(expected, result)


def test_drain_waits_for_abandoned_subrounds_except_after_ctrl_c():
    """A round that failed on one worker may leave the other workers' subrounds
    running: leaving the context waits for them (`_drain`), but not after Ctrl-C."""
    import asyncio
    import types

    class SlowSubround:
        async def invoke(self, comp, arg):
            await asyncio.sleep(1.5)
            return arg

    worker_context = cluster._own_loop_context(SlowSubround())
    context = types.SimpleNamespace(_course_worker_contexts=[worker_context])
    caller = asyncio.new_event_loop()
    try:
        subround = caller.create_task(worker_context.invoke(None, 1))
        caller.run_until_complete(asyncio.wait([subround], timeout=0.2))  # abandoned
        assert len(worker_context._running) == 1

        start = time.monotonic()
        cluster._drain(context, timeout=10, interrupted=True)   # Ctrl-C: stop at once
        # It returned without waiting for the subround (which sleeps 1.5 s).
        assert len(worker_context._running) == 1

        cluster._drain(context, timeout=10)                     # a failed round: wait
        assert not worker_context._running
        assert 0.8 < time.monotonic() - start < 5
        assert caller.run_until_complete(subround) == 1
    finally:
        caller.close()


def test_after_ctrl_c_abandoned_subrounds_fail_quietly(caplog):
    """After Ctrl-C, asyncio's "Task exception was never retrieved" about a subround
    that then failed against its stopped worker is not printed; other errors are."""
    import asyncio
    import gc
    import types

    async def failing_subround():
        raise cluster.WorkerLostError("TFF worker 1 died during create_call (it was stopped)")

    async def other_failure():
        raise ValueError("a real bug")

    cluster._drain(types.SimpleNamespace(), interrupted=True)
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level("ERROR", logger="asyncio"):
            for coro in (failing_subround(), other_failure()):
                task = loop.create_task(coro)
                loop.run_until_complete(asyncio.wait([task]))
                del task                 # never retrieved: asyncio logs when collected
            gc.collect()
    finally:
        loop.close()
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert [type(e) for e in logged] == [ValueError]


def test_disposing_on_a_stopped_worker_prints_nothing():
    """TFF disposes remote values from weakref finalizers, which print whatever they
    raise; after Ctrl-C stopped the pool, the channel is closed and a dispose is a
    no-op, not a traceback. Other calls still raise."""
    import grpc
    from tensorflow_federated.proto.v0 import executor_pb2

    with cluster.WorkerPool(1) as pool:
        stub = cluster._GuardedStub(pool, 0, pool.workers[0], recover=False, max_restarts=0)
        assert stub.is_ready  # the worker's channel is open
    assert stub.dispose(executor_pb2.DisposeRequest()) is None
    with pytest.raises((grpc.RpcError, cluster.WorkerLostError)):
        stub.get_executor(executor_pb2.GetExecutorRequest())


def test_remote_worker_that_stops_answering_is_lost_then_found_again(small_round):
    """A remote worker gone mid-round: `WorkerLostError` after `lost_after`; once it
    answers again at the same address, the retried round is right."""
    process, state, federated_data = small_round
    expected, _ = process.next(state, federated_data)
    port = workers.free_port()
    with workers.Worker() as a:
        b = workers.Worker(port=port).start()
        with cluster.distributed_context(addresses=[a.address, b.address],
                                         lost_after=2) as remote:
            process.next(state, federated_data)        # both answer
            b.stop()                                   # the other host's worker is gone
            start = time.monotonic()
            with pytest.raises(cluster.WorkerLostError,
                               match=f"worker 1 at {b.address} stopped answering"):
                process.next(state, federated_data)
            assert 2 <= time.monotonic() - start < 60
            b.start()                                  # back, same address
            result, _ = process.next(state, federated_data)
            assert [w.address for w in remote] == [a.address, f"127.0.0.1:{port}"]
        b.stop()
    _assert_same_weights(expected, result)


# --- nothing is left running -----------------------------------------------------------

CHILD = """
import os, signal, sys
from course_utils.runtime import cluster
with cluster.distributed_context(2) as pool:
    print(*pool.pids, flush=True)
    {ending}
"""


@pytest.mark.parametrize("ending, expected_code", [
    ("pass", 0),                                              # the context exits
    ("raise SystemExit(3)", 3),                               # an error in the body
    ("os.kill(os.getpid(), signal.SIGKILL)", -signal.SIGKILL),  # the kernel is killed
])
def test_no_workers_outlive_the_context_or_the_process(ending, expected_code):
    result = run_python(CHILD.format(ending=ending))
    assert result.returncode == expected_code, result.stderr[-3000:]
    pids = [int(p) for p in result.stdout.split()]
    assert len(pids) == 2, result.stderr[-3000:]
    for pid in pids:
        assert wait_gone(pid), f"worker {pid} outlived its Python process ({ending})"
