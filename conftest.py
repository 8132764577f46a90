"""pytest settings for the whole project (unit tests and nbval on notebooks/).

- Notebooks run on the bundled sample of real writers unless COURSE_DATA says otherwise:
  deterministic, no network. Kernels inherit this environment.
- After the run, any TFF worker_binary that was started during the run and still runs
  although the process that started it is gone fails the session: the course must
  never leave one behind. (`course_utils.runtime.workers.orphaned_workers`: it does not
  depend on who adopted the worker, init or a subreaper.)
"""

import importlib.util
import os
import time
from pathlib import Path

os.environ.setdefault("COURSE_DATA", "sample")
_SESSION_START = time.time()
LEFTOVER_GRACE = 15.0


def _workers_module():
    """course_utils/runtime/workers.py loaded on its own (it needs only the standard
    library): importing the course_utils package would import TensorFlow and refuse
    interpreters TFF cannot run on, and this guard must work in any session."""
    path = Path(__file__).parent / "course_utils" / "runtime" / "workers.py"
    spec = importlib.util.spec_from_file_location("_course_worker_guard", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_sessionfinish(session, exitstatus):
    orphaned_workers = _workers_module().orphaned_workers
    # Workers of just-ended kernels get their parent-death signal in a moment: wait for
    # that (up to LEFTOVER_GRACE seconds on a busy machine), then judge.
    deadline = time.monotonic() + LEFTOVER_GRACE
    while (leftovers := orphaned_workers(since=_SESSION_START)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if leftovers:
        session.config.get_terminal_writer().line(
            "ERROR: TFF worker processes left running after the tests (their starting "
            f"process is gone): {', '.join(map(str, leftovers))}", red=True)
        session.exitstatus = 1
