"""Scale-out across separate hosts on this machine: two network namespaces joined to
this one by veth pairs (tests/netns.py), one `python -m course_utils worker` in each,
and the hand-built FedAvg driven from here through
`cluster.distributed_context(addresses=[...])`, the code a real cluster uses.

Needs root and iproute2 (CI runs as root; `make test` installs iproute2). Elsewhere it
skips with the reason, or fails with COURSE_REQUIRE_TIERS=1.
"""

import os
import signal
import threading

import numpy as np
import psutil
import pytest

import netns
from conftest import REQUIRE_TIERS_ENV, require_or_skip, wait_gone

from course_utils import data, fedavg
from course_utils.runtime import cluster

PORT = 8000  # every namespace has its own ports: no clash with this host's
ROUNDS = 2
_PROXY_VARS = ("http_proxy", "https_proxy", "grpc_proxy", "HTTP_PROXY", "HTTPS_PROXY")


@pytest.fixture(scope="module")
def hosts():
    """Two namespaces, one course worker in each, removed afterwards in any case."""
    reason = netns.unavailable_reason()
    if reason:
        require_or_skip(f"network-namespace tier: {reason}")
    with pytest.MonkeyPatch.context() as patch:
        for name in _PROXY_VARS:  # gRPC must go straight to the namespaces
            patch.delenv(name, raising=False)
        with netns.NetnsHosts(2) as made:
            yield made


@pytest.fixture(scope="module")
def workers(hosts, sample_dir):
    """The running worker of each namespace (a test that replaces one updates it)."""
    return [hosts.start_worker(i, PORT, data=str(sample_dir)) for i in range(2)]


@pytest.fixture(scope="module")
def rounds(sample_dir):
    """FedAvg, its initial state, two rounds of data (course settings) and the weights
    and metrics of running them in this process's usual local context."""
    train, _ = data.load_emnist(data=str(sample_dir), verbose=False)
    process = fedavg.build_unweighted_fedavg_process()
    rounds_data = [data.make_federated_data(
        train, data.sample_clients(train.client_ids, 10, r, seed=0), epochs=5)
        for r in range(ROUNDS)]
    state = process.initialize()
    local = _run(process, state, rounds_data)
    return process, state, rounds_data, local


def _run(process, state, rounds_data):
    for federated_data in rounds_data:
        state, metrics = process.next(state, federated_data)
    return state, metrics


def _assert_same_as_local(local, result):
    """Notebook 08's check: weights and metrics equal to float tolerance."""
    (local_state, local_metrics), (state, metrics) = local, result
    for a, b in zip(local_state, state, strict=True):
        assert np.allclose(a, b, atol=1e-5), float(np.max(np.abs(a - b)))
    for key in local_metrics:
        assert np.isclose(local_metrics[key], metrics[key], atol=1e-5), key


def _veth_bytes(host) -> int:
    stats = f"/sys/class/net/{host.root_veth}/statistics"
    return sum(int(open(f"{stats}/{kind}_bytes").read()) for kind in ("rx", "tx"))


def _kill_before(remote_worker, request, kill):
    """Call `kill()` once, just before `remote_worker` receives `request`: the worker
    has the model and its clients' data and dies before it answers (like
    `WorkerPool.crash_on_next` for local workers)."""
    real_stub, done = remote_worker.stub, []

    class KillingStub:
        def __init__(self, stub):
            self._stub = stub

        def __getattr__(self, name):
            method = getattr(self._stub, name)
            if name != request or done:
                return method

            def killed_first(arg):
                done.append(True)
                kill()
                return method(arg)
            return killed_first

    remote_worker.stub = lambda: KillingStub(real_stub())
    return done


def _sigkill_worker(worker):
    """SIGKILL the worker command in its namespace; its worker_binary dies with it."""
    binaries = worker.worker_binary_pids()
    assert binaries, "the worker command had no worker_binary child"
    assert worker.stop(signal.SIGKILL) == -signal.SIGKILL
    assert all(wait_gone(pid) for pid in binaries)


def victim_data(worker) -> str:
    """The --data a worker was started with (its replacement gets the same)."""
    return worker.process.args[worker.process.args.index("--data") + 1]


# --- the hosts and the worker command ---------------------------------------------------

def test_each_worker_runs_in_its_own_namespace_at_its_own_address(hosts, workers):
    own_netns = os.readlink("/proc/self/ns/net")
    for host, worker in zip(hosts.hosts, workers):
        assert worker.ready.startswith(f"ready at {host.address}:{PORT} "), worker.ready
        assert worker.address == f"{host.address}:{PORT}"
        [binary] = worker.worker_binary_pids()
        assert os.readlink(f"/proc/{binary}/ns/net") != own_netns
        assert cluster.ping(cluster.RemoteWorker(worker.address))
    assert len({h.address for h in hosts.hosts}) == 2


def test_fedavg_on_two_namespaced_workers_equals_a_local_run(hosts, workers, rounds):
    process, state, rounds_data, local = rounds
    before = [_veth_bytes(h) for h in hosts.hosts]
    with cluster.distributed_context(addresses=[w.address for w in workers]) as remote:
        assert [r.address for r in remote] == [w.address for w in workers]
        result = _run(process, state, rounds_data)
    _assert_same_as_local(local, result)
    # The rounds really crossed both veth pairs (each worker got its clients' share).
    after = [_veth_bytes(h) for h in hosts.hosts]
    assert all(b - a > 10_000 for a, b in zip(before, after)), (before, after)


# --- a worker killed in the middle of a round ---------------------------------------------

def test_worker_killed_mid_round_is_lost_then_the_round_is_retried(hosts, workers, rounds):
    process, state, rounds_data, local = rounds
    victim = workers[1]
    with cluster.distributed_context(addresses=[w.address for w in workers],
                                     lost_after=3) as remote:
        killed = _kill_before(remote[1], "create_call", lambda: _sigkill_worker(victim))
        with pytest.raises(cluster.WorkerLostError,
                           match=f"worker 1 at {victim.address} stopped answering "
                                 "during create_call"):
            process.next(state, rounds_data[0])
        assert killed
        workers[1] = hosts.start_worker(1, PORT, data=victim_data(victim))
        result = _run(process, state, rounds_data)  # the course's advice: retry the round
    _assert_same_as_local(local, result)


def test_worker_killed_mid_round_is_replaced_and_only_its_share_rerun(
        hosts, workers, rounds):
    """As on Kubernetes: a replacement comes up at the same address while the round
    waits; TFF re-runs the lost subround on it and the round finishes."""
    process, state, rounds_data, local = rounds
    victim, replacements, starters = workers[1], [], []

    def kill_and_replace():
        _sigkill_worker(victim)
        starter = threading.Thread(target=lambda: replacements.append(
            hosts.start_worker(1, PORT, data=victim_data(victim))))
        starters.append(starter)
        starter.start()

    try:
        with cluster.distributed_context(addresses=[w.address for w in workers],
                                         lost_after=300) as remote:
            killed = _kill_before(remote[1], "create_call", kill_and_replace)
            result = _run(process, state, rounds_data)
    finally:
        # The round can finish while the replacement's ready line is still on its way:
        # wait for its starter, so it is asserted on, and stopped with the hosts.
        for starter in starters:
            starter.join(180)
    assert killed and replacements, "the worker was not killed and replaced mid-round"
    assert replacements[0].pid != victim.pid
    workers[1] = replacements[0]
    _assert_same_as_local(local, result)


# --- clean-up and skipping -----------------------------------------------------------------

def test_everything_made_is_removed_even_when_the_body_fails(sample_dir):
    reason = netns.unavailable_reason()
    if reason:
        require_or_skip(f"network-namespace tier: {reason}")
    made = netns.NetnsHosts(1)
    with pytest.raises(KeyError):
        with made:
            worker = made.start_worker(0, PORT, data=str(sample_dir))
            pids = [worker.pid, *worker.worker_binary_pids()]
            names = [made.hosts[0].name, made.hosts[0].root_veth]
            assert netns.leftovers(names) == names
            raise KeyError("a failing test body")
    assert netns.leftovers(names) == []
    assert all(wait_gone(pid) for pid in pids)
    assert not any(p.info["name"] == "worker_binary" and p.pid in pids
                   for p in psutil.process_iter(["name"]))


def test_without_root_or_ip_the_reason_is_given(monkeypatch):
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert "needs root" in netns.unavailable_reason()
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    assert "apt-get install iproute2" in netns.unavailable_reason()


def test_a_tier_that_cannot_run_skips_or_fails_when_required(monkeypatch):
    monkeypatch.delenv(REQUIRE_TIERS_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no root"):
        require_or_skip("no root")
    monkeypatch.setenv(REQUIRE_TIERS_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="no root .*must run, not skip"):
        require_or_skip("no root")
