"""The course's TFF runtime: `setup()` for notebooks and a worker-safe execution context.

`install_execution_context()` replaces TFF's default local runtime with one that runs
computations on a `course_utils.runtime.workers.Worker`, which dies with this process.
`activate()` (what scripts call; `setup()` calls it) applies the stack's shims before
TensorFlow is imported, checks the platform and installs that context.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import warnings

# Quiet TensorFlow's C++ logging; must be set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Workers are started by fork+exec. gRPC's fork handlers are not needed for that, and
# when gRPC threads are running (a second worker, a restart) they log "skipping fork()
# handlers" to stderr. Must be set before gRPC is imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import numpy as np  # noqa: E402

from course_utils.repository import BINDER_URL  # noqa: E402
from course_utils.runtime import bootstrap  # noqa: E402
from course_utils.runtime.workers import Worker  # noqa: E402

DEFAULT_SEED = 42
# Pythons TFF 0.87 runs on with one of the course's stacks (see runtime/compat.py).
SUPPORTED_PYTHONS = ((3, 11), (3, 12), (3, 13))

_context_lock = threading.Lock()
_local_worker: Worker | None = None


class UnsupportedEnvironmentError(RuntimeError):
    """TFF 0.87 cannot run here (not Linux x86-64, or a Python it cannot run on)."""

    def _render_traceback_(self):  # IPython/Jupyter: show the message, no traceback
        return [f"{type(self).__name__}: {self}"]


def unsupported_environment_message(where: str, binder_url: str = BINDER_URL) -> str:
    """The one message for a place TFF 0.87 cannot run in (the same one the notebooks'
    setup cell shows before course_utils is installed: `course_utils.runtime.bootstrap`)."""
    return bootstrap.unsupported_message(where, binder_url)


def check_python(version_info=sys.version_info, platform: str = sys.platform,
                 machine: str | None = None) -> None:
    """Raise one clear message when TFF 0.87 cannot run in this interpreter."""
    import platform as platform_module

    machine = machine or platform_module.machine()
    where = f"Python {version_info[0]}.{version_info[1]} on {platform}/{machine}"
    if (tuple(version_info[:2]) not in SUPPORTED_PYTHONS or platform != "linux"
            or machine != "x86_64"):
        raise UnsupportedEnvironmentError(unsupported_environment_message(where))


def local_worker() -> Worker:
    """The worker that runs this process's computations, (re)started on demand."""
    global _local_worker
    with _context_lock:
        if _local_worker is None:
            _local_worker = Worker()
        if not _local_worker.is_alive():
            _local_worker.start()
        return _local_worker


def create_worker_context(worker_fn=local_worker, default_num_clients: int = 0,
                          compiler_fn=None):
    """A synchronous TFF execution context that runs on the worker `worker_fn()` returns.

    This is TFF's own local C++ runtime (the same compiler and RemoteExecutor that
    `tff.backends.native` uses); only the worker process is ours. `compiler_fn`
    replaces TFF's native compiler (e.g. to put a transformation in front of it, as
    `course_utils.secure_sum` does).
    """
    from course_utils.runtime import tff_private

    return tff_private.native_context(lambda: worker_fn().stub(), default_num_clients,
                                      asynchronous=False, compiler_fn=compiler_fn)


def activate() -> None:
    """Make this Python ready for TFF the course's way (idempotent): malloc's settings
    and the stack's shims (before TensorFlow is imported), the platform check, the
    worker-safe context."""
    from course_utils.runtime import compat, malloc

    malloc.tune_this_process()  # before TensorFlow starts its threads
    compat.apply()
    check_python()
    install_execution_context()


def install_execution_context() -> None:
    """Make the worker-safe context TFF's default (idempotent)."""
    from course_utils.runtime import tff_private

    stack = tff_private.context_stack()
    if getattr(stack.current, "_course_utils_context", False):
        return
    context = create_worker_context()
    context._course_utils_context = True
    stack.set_default_context(context)


def seed_everything(seed: int = DEFAULT_SEED) -> None:
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)


def quiet_logs() -> None:
    import absl.logging
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    absl.logging.set_verbosity(absl.logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def setup(seed: int = DEFAULT_SEED, verbose: bool = True) -> None:
    """The one call at the top of every notebook.

    Checks the interpreter, applies nest_asyncio (Jupyter already runs an event loop),
    quiets TensorFlow's logs, seeds Python/NumPy/TensorFlow and installs the
    worker-safe TFF execution context.
    """
    activate()
    import nest_asyncio

    nest_asyncio.apply()
    quiet_logs()
    seed_everything(seed)
    install_execution_context()
    if verbose:
        import tensorflow as tf
        import tensorflow_federated as tff

        print(f"TFF {tff.__version__}, TensorFlow {tf.__version__}, seed {seed}. "
              "Computations run on a TFF worker that stops with this kernel.")
