"""Separate hosts on one machine: Linux network namespaces, each joined to the root
namespace by a veth pair, with a course worker (`python -m course_utils worker`) in each.

Used by tests/test_netns_cluster.py and `benchmarks/scaling.py --netns N`, so that both
build the same hosts in one way. Needs root and iproute2's `ip`.

Host i of a `NetnsHosts` is a namespace ``course-utils-P-N`` (P: this process's pid,
N: a number unique in this process) with one veth pair: ``cuPrN`` in the root namespace
with 10.231.S.(4i+1)/30, and ``cuPnN`` inside with 10.231.S.(4i+2)/30, S chosen so
that no address of this machine is already in 10.231.S.0/24. The only traffic is between those two addresses. `NetnsHosts.close()`
stops every process it started (by pid), then deletes the veths and namespaces it made
(by name), also after a failure half-way; namespaces left by a run that was killed
(its pid is gone) are removed at the next start.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

NAME_PREFIX = "course-utils-"
NETWORK = ipaddress.ip_network("10.231.0.0/16")
_READY = re.compile(r"^ready at (\S+) ", re.MULTILINE)
_host_numbers = itertools.count()  # unique in this process, so names are unique per run


def unavailable_reason() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if sys.platform != "linux":
        return f"network namespaces are Linux-only (this is {sys.platform})"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (run the tests as root, as CI does)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed (apt-get install iproute2; make test does it as root)"
    probe = f"{NAME_PREFIX}probe-{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed here: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _our_namespaces() -> list[str]:
    listed = _ip("netns", "list", check=False).stdout.split("\n")
    return [line.split()[0] for line in listed if line.startswith(NAME_PREFIX)]


def _kill_namespace_processes(name: str) -> None:
    """SIGKILL every process still running inside *our* namespace `name`."""
    for pid in _ip("netns", "pids", name, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def remove_stale() -> list[str]:
    """Delete namespaces (and their veths) of earlier runs whose process is gone."""
    removed = []
    for name in _our_namespaces():
        match = re.fullmatch(rf"{NAME_PREFIX}(\d+)-(\d+)", name)
        if match is None or _pid_alive(int(match[1])):
            continue
        _kill_namespace_processes(name)
        _ip("link", "del", f"cu{match[1]}r{match[2]}", check=False)
        _ip("netns", "del", name, check=False)
        removed.append(name)
    return removed


def _free_subnet() -> int:
    """A third octet S such that this machine has no address in 10.231.S.0/24."""
    import psutil

    used = {ipaddress.ip_address(a.address).packed[2]
            for addresses in psutil.net_if_addrs().values() for a in addresses
            if a.family == socket.AF_INET and ipaddress.ip_address(a.address) in NETWORK}
    start = os.getpid() % 256
    for offset in range(256):
        if (start + offset) % 256 not in used:
            return (start + offset) % 256
    raise RuntimeError("every 10.231.S.0/24 is in use on this machine")


@dataclass
class WorkerProcess:
    """`python -m course_utils worker` running inside one namespace."""

    host: "NetnsHost"
    port: int
    process: subprocess.Popen
    stdout: Path
    stderr: Path
    ready: str = ""

    @property
    def address(self) -> str:
        return f"{self.host.address}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def worker_binary_pids(self) -> list[int]:
        import psutil

        try:
            return [c.pid for c in psutil.Process(self.pid).children()
                    if c.name() == "worker_binary"]
        except psutil.NoSuchProcess:
            return []

    def log(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig` (SIGKILL after `timeout`) and reap; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@dataclass
class NetnsHost:
    name: str            # the namespace
    root_veth: str       # its veth end in the root namespace
    inside_veth: str
    root_address: str    # 10.231.S.(4i+1)
    address: str         # 10.231.S.(4i+2), where its worker is reached
    workers: list[WorkerProcess] = field(default_factory=list)


class NetnsHosts:
    """`count` network namespaces, each a separate host reachable from this one.

        with NetnsHosts(2) as hosts:
            worker = hosts.start_worker(0, port=8000)
            ... distributed_context(addresses=[worker.address, ...]) ...
    """

    def __init__(self, count: int):
        self.count = count
        self.hosts: list[NetnsHost] = []
        self._tmp = Path(tempfile.mkdtemp(prefix="course-netns-"))
        # Workers are started from one thread that lives as long as the hosts: a worker
        # stops when the *thread* that started it ends (Linux's parent-death signal).
        self._spawner = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="netns-worker-spawner")

    def __enter__(self) -> "NetnsHosts":
        return self.create()

    def __exit__(self, *exc) -> None:
        self.close()

    def create(self) -> "NetnsHosts":
        remove_stale()
        pid, subnet = os.getpid(), _free_subnet()
        try:
            for i in range(self.count):
                base, n = f"10.231.{subnet}.{4 * i}", next(_host_numbers)
                host = NetnsHost(name=f"{NAME_PREFIX}{pid}-{n}", root_veth=f"cu{pid}r{n}",
                                 inside_veth=f"cu{pid}n{n}",
                                 root_address=str(ipaddress.ip_address(base) + 1),
                                 address=str(ipaddress.ip_address(base) + 2))
                self.hosts.append(host)  # before creating it: close() removes what exists
                self._create(host)
        except BaseException:
            self.close()
            raise
        return self

    @staticmethod
    def _create(host: NetnsHost) -> None:
        _ip("netns", "add", host.name)
        _ip("link", "add", host.root_veth, "type", "veth", "peer", "name", host.inside_veth)
        _ip("link", "set", host.inside_veth, "netns", host.name)
        _ip("addr", "add", f"{host.root_address}/30", "dev", host.root_veth)
        _ip("link", "set", host.root_veth, "up")
        inside = ("netns", "exec", host.name, "ip")
        _ip(*inside, "addr", "add", f"{host.address}/30", "dev", host.inside_veth)
        _ip(*inside, "link", "set", host.inside_veth, "up")
        _ip(*inside, "link", "set", "lo", "up")  # a host reaches its own address via lo

    def start_worker(self, index: int, port: int, *, data: str | None = None,
                     python: str = sys.executable, timeout: float = 120.0
                     ) -> WorkerProcess:
        """Start the course's worker command in namespace `index`; wait for its ready
        line (raises with its log if it exits or does not get ready). Any thread may
        call it."""
        return self._spawner.submit(self._start_worker, index, port, data, python,
                                    timeout).result()

    def _start_worker(self, index, port, data, python, timeout) -> WorkerProcess:
        host = self.hosts[index]
        n = len(host.workers)
        stdout = self._tmp / f"{host.name}-{n}.out"
        stderr = self._tmp / f"{host.name}-{n}.err"
        command = ["ip", "netns", "exec", host.name, python, "-m", "course_utils",
                   "worker", "--port", str(port), "--host", host.address]
        if data is not None:
            command += ["--data", str(data)]
        # Output to files, not pipes: nobody must block on a pipe that fills up.
        with open(stdout, "w") as out, open(stderr, "w") as err:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=err)
        worker = WorkerProcess(host, port, process, stdout, stderr)
        host.workers.append(worker)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _READY.search(stdout.read_text())
            if match:
                worker.ready = stdout.read_text().strip()
                return worker
            if process.poll() is not None:
                raise RuntimeError(f"the worker in {host.name} exited with "
                                   f"{process.returncode}:\n{worker.log()[-3000:]}")
            time.sleep(0.1)
        worker.stop()
        raise RuntimeError(f"the worker in {host.name} was not ready in {timeout:.0f} s:\n"
                           f"{worker.log()[-3000:]}")

    def close(self) -> None:
        """Stop our processes (by pid), then delete our veths and namespaces (by name)."""
        for host in self.hosts:
            for worker in host.workers:
                worker.stop(timeout=10.0)
            _kill_namespace_processes(host.name)
        for host in self.hosts:
            _ip("link", "del", host.root_veth, check=False)
            _ip("netns", "del", host.name, check=False)
        self.hosts = []
        self._spawner.shutdown(wait=True)
        shutil.rmtree(self._tmp, ignore_errors=True)


def leftovers(names: list[str]) -> list[str]:
    """Which of these namespace / interface names still exist on this machine."""
    links = _ip("-o", "link", "show", check=False).stdout
    present = set(_our_namespaces()) | set(re.findall(r"^\d+: ([^:@]+)", links, re.M))
    return [n for n in names if n in present]
