"""A JupyterLab server for tests: started on a free loopback port with a token and
private Jupyter config/runtime dirs, and stopped with every process it started (kernels
and their TFF workers included), checked by pid."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LabServer:
    def __init__(self, jupyter: Path | str, root_dir: Path, scratch: Path,
                 env: dict | None = None, token: str = "course-e2e-token"):
        self.jupyter, self.root_dir, self.scratch = str(jupyter), Path(root_dir), Path(scratch)
        self.token, self.port = token, free_port()
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None
        # every process seen in the server's tree: pid -> (name, start time)
        self.seen: dict[int, tuple[str, float]] = {}
        self.log_path = self.scratch / "jupyterlab.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> "LabServer":
        for name in ("config", "runtime", "data", "lab-settings", "lab-workspaces"):
            (self.scratch / name).mkdir(parents=True, exist_ok=True)
        env = {**os.environ,
               "JUPYTER_CONFIG_DIR": str(self.scratch / "config"),
               "JUPYTER_RUNTIME_DIR": str(self.scratch / "runtime"),
               "JUPYTER_DATA_DIR": str(self.scratch / "data"),
               "JUPYTERLAB_SETTINGS_DIR": str(self.scratch / "lab-settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(self.scratch / "lab-workspaces"),
               **self.extra_env}
        command = [self.jupyter, "lab", "--no-browser", "--ip=127.0.0.1",
                   f"--port={self.port}", "--port-retries=0",
                   f"--ServerApp.root_dir={self.root_dir}",
                   f"--IdentityProvider.token={self.token}",
                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if os.geteuid() == 0:
            command.append("--allow-root")
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited:\n{self.log()}")
            try:
                self.api("status")
                return self
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"JupyterLab did not answer in {timeout} s:\n{self.log()}")

    def api(self, path: str, method: str = "GET", timeout: float = 5):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def get(self, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(f"{self.url}/{path}?token={self.token}",
                                    timeout=30) as response:
            return response.status, response.read().decode()

    def log(self) -> str:
        return self.log_path.read_text()[-5000:] if self.log_path.exists() else ""

    def remember_processes(self) -> dict[int, tuple[str, float]]:
        """Record the server's process tree (kernels, TFF workers); call it while the
        things to check are running."""
        try:
            root = psutil.Process(self.process.pid)
            for proc in [root] + root.children(recursive=True):
                self.seen.setdefault(proc.pid, (proc.name(), proc.create_time()))
        except psutil.Error:
            pass
        return dict(self.seen)

    def stop(self, timeout: float = 30) -> list[str]:
        """Shut the server down (it shuts its kernels down); then end by pid anything
        of its tree still alive. Returns what had to be killed (should be empty)."""
        if self.process is None:
            return []
        self.remember_processes()
        try:
            self.api("shutdown", method="POST")
        except OSError:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        killed = []
        deadline = time.monotonic() + 10
        for pid, (name, started) in self.seen.items():
            while alive(pid, started) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(pid, started):
                killed.append(f"{name} (pid {pid})")
                os.kill(pid, signal.SIGKILL)
        self._log.close()
        self.process = None
        return killed


def alive(pid: int, started: float | None = None) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped counts as gone); with
    `started`, only if it is still the process that started then (pids get reused)."""
    try:
        proc = psutil.Process(pid)
        if started is not None and abs(proc.create_time() - started) > 0.01:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
