"""glibc malloc settings that keep TensorFlow's memory down, in the kernel (or script)
and in its TFF workers.

Two habits of glibc's malloc hold on to memory that TensorFlow and NumPy have freed:
- every thread gets an arena of its own (up to 8 per core), and TensorFlow runs many
  threads; freed memory stays in its arena;
- after a large block is freed, glibc raises its mmap threshold (up to 32 MB), so the
  arrays of a client's examples (a few hundred KB each) then come from the heap, and
  stay there when they are freed.

This process (the kernel) gets two arenas and a fixed mmap threshold of 128 KiB, which
hand large blocks back to the system at once; its workers, which run the training, get
the two arenas only (a fixed threshold there made notebook 09's CNN 7% slower on the
modern stack and saved no memory). Measured with tools/run_notebooks.py --no-store:
notebook 11's peak memory (kernel plus worker, classic stack) 1,640 -> 1,414 MiB;
notebook 09 on the modern stack 104.5 s untuned, 100.5 s tuned. A setting the user
gives in the environment (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_) wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

PROCESS_SETTINGS = {"MALLOC_ARENA_MAX": 2, "MALLOC_MMAP_THRESHOLD_": 128 * 1024}
WORKER_SETTINGS = {"MALLOC_ARENA_MAX": 2}
# mallopt's parameter numbers for the same settings (glibc's malloc.h)
_MALLOPT_PARAMETERS = {"MALLOC_ARENA_MAX": -8, "MALLOC_MMAP_THRESHOLD_": -3}


def worker_environment() -> dict[str, str]:
    """The workers' settings as environment variables (glibc reads them when the
    process starts); the user's own values are kept."""
    return {name: os.environ.get(name, str(value)) for name, value in WORKER_SETTINGS.items()}


def tune_this_process() -> bool:
    """Apply PROCESS_SETTINGS to this process's malloc with mallopt, before TensorFlow
    starts its threads. Does nothing where there is no glibc, or where the user set
    either variable. Returns whether they were applied."""
    if (not sys.platform.startswith("linux")
            or any(name in os.environ for name in PROCESS_SETTINGS)):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(_MALLOPT_PARAMETERS[name], value) == 1
               for name, value in PROCESS_SETTINGS.items())
