"""pytest settings for the whole project (unit tests and nbval on notebooks/).

- Notebooks run on the bundled sample of real writers unless COURSE_DATA says otherwise:
  deterministic, no network. Kernels inherit this environment.
- After the run, any TFF worker_binary that was started during the run and still runs
  although the process that started it is gone fails the session: the course must
  never leave one behind. (`course_utils.runtime.workers.orphaned_workers`: it does not
  depend on who adopted the worker, init or a subreaper.)
- Under pytest-xdist (`make test` runs two processes), the tests that judge the whole
  machine's processes (a doctor's leftover check, the grader's and the orphan tests'
  scans) and the tests that deliberately leave an orphan share one xdist group, so they
  never run beside each other (every other file is a group of its own); the leftover
  check runs once, in the controller, at the very end.
"""

import os
import time

import pytest

os.environ.setdefault("COURSE_DATA", "sample")
_SESSION_START = time.time()
LEFTOVER_GRACE = 15.0
# Files whose tests scan or leave machine-wide processes (see above).
MACHINE_WIDE = {"test_runtime.py", "test_grading.py", "test_clean_exit.py", "test_cli.py",
                "test_browser.py", "test_binder.py", "00_setup_and_hello_federated.ipynb"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:  # one group per file (a notebook's cells run in order, in one kernel)
        group = "machine-wide" if item.path.name in MACHINE_WIDE else item.path.name
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller checks
        return
    from course_utils.runtime.workers import orphaned_workers  # standard library only

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
