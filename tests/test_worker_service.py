"""`python -m course_utils worker` (course_utils.runtime.worker_service): the ready line, clean
stops, dying with its parent, and one-line errors. No root needed: on this host's
loopback address (tests/test_netns_cluster.py runs it on separate hosts)."""

import re
import signal
import socket
import subprocess
import sys
import time
import tomllib

import pytest

from conftest import ROOT, run_python, wait_gone

from course_utils.cli import main as cli
from course_utils.runtime import cluster
from course_utils.runtime import worker_service
from course_utils.runtime import workers

READY = re.compile(r"^ready at (\S+) \(TFF 0\.87\.0 worker_binary pid (\d+), ")
COMMAND = [sys.executable, "-m", "course_utils", "worker"]


def _start(tmp_path, *args):
    """The worker command with output to files; returns (process, stdout path, stderr path)."""
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "w") as o, open(err, "w") as e:
        process = subprocess.Popen([*COMMAND, *args], stdout=o, stderr=e,
                                   stdin=subprocess.DEVNULL)
    return process, out, err


def _wait_ready(process, out, err, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = READY.match(out.read_text())
        if match:
            return match[1], int(match[2])
        assert process.poll() is None, err.read_text()[-3000:]
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"not ready in {timeout} s:\n{err.read_text()[-3000:]}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_prints_one_ready_line_serves_and_stops_cleanly(tmp_path, sig):
    port = workers.free_port()
    process, out, err = _start(tmp_path, "--port", str(port), "--host", "127.0.0.1")
    try:
        address, binary = _wait_ready(process, out, err)
        assert address == f"127.0.0.1:{port}"
        assert out.read_text().count("\n") == 1          # exactly one line on stdout
        assert cluster.ping(cluster.RemoteWorker(address))  # TFF's executor service
        process.send_signal(sig)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert wait_gone(binary)
    assert f"stopping ({sig.name})" in err.read_text()


def test_default_address_is_one_other_hosts_can_use(tmp_path):
    port = workers.free_port()
    process, out, err = _start(tmp_path, "--port", str(port))
    try:
        address, binary = _wait_ready(process, out, err)
    finally:
        process.terminate()
        process.wait(30)
    host = address.rsplit(":", 1)[0]
    assert host == worker_service.local_addresses()[0]
    assert not host.startswith("127.") or worker_service.local_addresses() == ["127.0.0.1"]
    assert wait_gone(binary)


PARENT = """
import subprocess, sys, time, os, signal, re
out = open({out!r}, "w")
p = subprocess.Popen([sys.executable, "-m", "course_utils", "worker", "--port", "{port}",
                      "--host", "127.0.0.1"], stdout=out, stderr=subprocess.DEVNULL)
while "ready at" not in open({out!r}).read():
    time.sleep(0.1)
print(p.pid, re.search(r"pid (\\d+)", open({out!r}).read())[1], flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_stops_with_the_process_that_started_it(tmp_path):
    """The parent is SIGKILLed: the worker command stops, and its worker_binary too."""
    result = run_python(PARENT.format(out=str(tmp_path / "out"), port=workers.free_port()))
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    command_pid, binary_pid = (int(p) for p in result.stdout.split())
    assert wait_gone(command_pid, 30), "the worker command outlived its parent"
    assert wait_gone(binary_pid, 30), "worker_binary outlived the worker command"


# --- one-line errors, exit code 2 (in this process: nothing starts) -----------------------

def _error(capsys, *args) -> str:
    assert cli.main(["worker", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.strip().splitlines()
    assert line.startswith("python -m course_utils: error: ")
    return line


def test_port_in_use_is_one_line(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = _error(capsys, "--port", str(port))
    assert f"Port {port} is already in use" in line and "another port" in line


def test_missing_data_is_one_line_that_says_same_path(capsys, tmp_path):
    line = _error(capsys, "--port", str(workers.free_port()), "--data",
                  str(tmp_path / "not-here"))
    assert "not-here" in line and "same path" in line


def test_an_address_of_another_host_is_one_line(capsys):
    line = _error(capsys, "--port", str(workers.free_port()), "--host", "203.0.113.7")
    assert "203.0.113.7 is not an address of this host" in line


def test_unsupported_platform_is_one_line(capsys, monkeypatch):
    monkeypatch.setattr(worker_service.platform, "machine", lambda: "aarch64")
    line = _error(capsys, "--port", str(workers.free_port()))
    assert "Linux x86-64" in line and "aarch64" in line


@pytest.mark.parametrize("system, machine", [("darwin", "arm64"), ("win32", "AMD64"),
                                             ("linux", "aarch64")])
def test_platform_check(system, machine):
    with pytest.raises(worker_service.WorkerServiceError, match="only on Linux x86-64"):
        worker_service.check_platform(system, machine)
    worker_service.check_platform("linux", "x86_64")


def test_data_present_is_checked_and_named(sample_dir):
    assert worker_service.check_data(str(sample_dir)) == sample_dir / "emnist_all.sqlite"


def test_bad_port_is_refused_by_the_parser():
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["worker", "--port", "70000"])


def test_console_script_runs_the_same_entry_point():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["course-utils"] == "course_utils.cli.main:main"
    args = cli.build_parser().parse_args(["worker", "--port", "8000", "--host", "h"])
    assert (args.port, args.host, args.run) == (8000, "h", cli._worker)
