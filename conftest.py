"""pytest settings for the whole project (unit tests and nbval on notebooks/).

- Notebooks run on the bundled sample of real writers unless COURSE_DATA says otherwise:
  deterministic, no network. Kernels inherit this environment.
- After the run, any TFF worker_binary that was started during the run and is now
  orphaned (its parent died but it still runs) fails the session: the course must never
  leave one behind.
"""

import os
import time

import psutil

os.environ.setdefault("COURSE_DATA", "sample")
_SESSION_START = time.time()


def orphaned_workers_since(start: float) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "ppid", "status", "create_time"]):
        info = process.info
        if (info["name"] == "worker_binary" and info["ppid"] == 1
                and info["status"] != psutil.STATUS_ZOMBIE
                and info["create_time"] >= start - 1):
            found.append(process)
    return found


def pytest_sessionfinish(session, exitstatus):
    time.sleep(1)  # give workers of just-ended kernels a moment to be killed
    leftovers = orphaned_workers_since(_SESSION_START)
    if leftovers:
        pids = ", ".join(str(p.pid) for p in leftovers)
        session.config.get_terminal_writer().line(
            f"ERROR: TFF worker processes left running after the tests: {pids}", red=True)
        session.exitstatus = 1
