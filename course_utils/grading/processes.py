"""Finding and ending, by pid, every process a graded notebook started.

A notebook's kernel is started in a session of its own, with an environment variable
naming its grading job (JOB_ENV), and the grader is a "child subreaper"
(`workers.set_child_subreaper`): a process the learner's code starts belongs to the
kernel's tree, its session, or carries the job's name, and when its parent dies it is
adopted by the grader rather than by init. `job_processes` finds them all, even one that
left the session (setsid) or dropped the variable; `end` kills them (SIGKILL) until none
is left. TFF workers are found the course's way too (`workers.workers_started_by`).
Nothing is ever looked up by name.
"""

from __future__ import annotations

import os
import signal
import time

from course_utils.runtime import workers

JOB_ENV = "COURSE_GRADE_JOB"
_PAGE = os.sysconf("SC_PAGE_SIZE")
_adopting = False  # is this process a subreaper (adopt_orphans)?


def adopt_orphans() -> None:
    """Make this process (the grader's command, not a library caller such as a test
    session) adopt the orphaned processes of the notebooks it grades; `job_processes`
    and `end_adopted_orphans` then find them among its children."""
    global _adopting
    workers.set_child_subreaper()
    _adopting = True


def adopter() -> int | None:
    """This process's pid if it adopts orphans, else None."""
    return os.getpid() if _adopting else None


def end_adopted_orphans() -> None:
    """Kill the processes this process adopted (its children, when it is a subreaper and
    runs no kernel any more)."""
    if _adopting:
        me = os.getpid()
        end(lambda: {pid for pid in workers.running_pids()
                     if workers.parent_pid(pid) == me and workers.is_running(pid)})


def descendants(pid: int) -> set[int]:
    """The processes below `pid` in the process tree now (not `pid` itself)."""
    children: dict[int, list[int]] = {}
    for other in workers.running_pids():
        parent = workers.parent_pid(other)
        if parent is not None:
            children.setdefault(parent, []).append(other)
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def job_processes(kernel_pid: int, job: str, adopter: int | None = None,
                  keep: frozenset[int] = frozenset()) -> set[int]:
    """Every live process of grading job `job`: the kernel, its tree and session, the
    processes whose environment names the job, the TFF workers the kernel started, and,
    when `adopter` (the grader) is given, the orphans it adopted (its children other
    than those in `keep`: the kernels it runs)."""
    found = {kernel_pid} | descendants(kernel_pid)
    me = os.getpid()
    for pid in workers.running_pids():
        if pid == me or pid in keep:
            continue
        if (workers.session_id(pid) == kernel_pid
                or workers.environment_of(pid).get(JOB_ENV) == job
                or (adopter is not None and workers.parent_pid(pid) == adopter)):
            found.add(pid)
    for pid in list(found):
        found |= descendants(pid) - keep
    return {pid for pid in found if workers.is_running(pid)} - {me}


def memory_bytes(pids) -> int:
    """Resident memory of processes `pids`, summed (those gone count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as statm:
                total += int(statm.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def end(find, rounds: int = 50) -> None:
    """SIGKILL what `find()` returns until it returns nothing (a process may fork while
    we kill), then reap those that were our children."""
    killed: set[int] = set()
    for _ in range(rounds):
        pids = find()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        killed |= pids
        time.sleep(0.05)
    for pid in killed:
        try:
            os.waitpid(pid, 0)  # SIGKILLed: returns at once
        except ChildProcessError:
            pass  # not our child: its parent (or init) reaps it
