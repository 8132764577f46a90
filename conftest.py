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
    time.sleep(1)  # give workers of just-ended kernels a moment to be killed
    leftovers = orphaned_workers(since=_SESSION_START)
    if leftovers:
        session.config.get_terminal_writer().line(
            "ERROR: TFF worker processes left running after the tests (their starting "
            f"process is gone): {', '.join(map(str, leftovers))}", red=True)
        session.exitstatus = 1
