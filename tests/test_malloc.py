"""course_utils.runtime.malloc: freed arrays go back to the system (the budget of
notebook 11's peak memory depends on it). The kernel's and the worker's settings are
checked in tests/test_kernel_worker.py."""

import os
import subprocess
import sys
from pathlib import Path

from course_utils.runtime import malloc

ROOT = Path(__file__).resolve().parents[1]

# Prints how many MiB this process's resident memory drops when 200 blocks of 256 KiB,
# allocated after a 16 MiB block was freed and interleaved with small blocks, are freed.
RELEASED_MIB = """
def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
big = bytearray(16 * 2**20)
del big  # glibc by default now serves blocks below 16 MiB from the heap
blocks, pins = [], []
for _ in range(200):
    blocks.append(bytearray(256 * 1024))
    pins.append(bytearray(1024))  # small blocks in between keep the heap from shrinking
before = rss_mib()
del blocks
print(round(before - rss_mib(), 1))
"""


def _released_mib(tune: bool, env=None) -> float:
    code = ("from course_utils.runtime import malloc\n"
            f"assert malloc.tune_this_process() is {tune}\n" if tune is not None else "")
    result = subprocess.run([sys.executable, "-c", code + RELEASED_MIB], cwd=ROOT,
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return float(result.stdout)


def test_tuned_freed_blocks_go_back_to_the_system():
    assert _released_mib(tune=True) > 40  # of the 50 MiB freed


def test_untuned_glibc_keeps_them():
    """What the tuning is for (and proof that the check above can fail)."""
    assert _released_mib(tune=None) < 10


def test_a_setting_in_the_environment_wins(monkeypatch):
    assert _released_mib(tune=False, env={"MALLOC_ARENA_MAX": "4"}) < 10
    assert malloc.worker_environment() == {"MALLOC_ARENA_MAX": "2"}
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert malloc.worker_environment() == {"MALLOC_ARENA_MAX": "4"}
