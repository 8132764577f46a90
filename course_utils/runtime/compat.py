"""Compatibility shims: what lets TFF 0.87 run on the modern stack (Colab's).

The course supports two stacks (see `stack()`):

- **classic**: Python 3.11 with the pins of requirements.txt (TensorFlow 2.14). TFF 0.87
  was built for it: no shim below has anything to do there.
- **modern**: Python 3.12/3.13 with Colab's versions (requirements-modern.txt:
  TensorFlow 2.20, tf_keras, Keras 3, numpy 2, jax 0.7) and TFF 0.87 installed with
  `pip install --no-deps --ignore-requires-python`. TFF's wheel is pure Python plus a
  standalone C++ worker, so it runs there once the shims below are applied.

`apply()` runs in `course_utils.setup()` and `course_utils.activate()`, before
TensorFlow or TFF is imported. Each shim names the upstream problem it works around and when it can be dropped. None
edits an installed package's files: they set environment variables, register
placeholder modules or attributes, filter log lines, or redirect a log handler at exit.

Not a shim, because the course avoids the problem: on Python 3.13 TFF 0.87's
`ServiceManager.__del__` raises AttributeError when it runs during interpreter shutdown.
A ServiceManager lives as long as TFF's default execution context, and
`course_utils.activate()` replaces that context at once (`install_execution_context`), so
the manager is released while the interpreter is whole (tests/test_compat.py checks).
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.abc
import importlib.machinery
import importlib.util
import mmap
import os
import re
import sys
import types
from dataclasses import dataclass
from importlib import metadata

CLASSIC, MODERN = "classic", "modern"
# Which TensorFlow (major.minor) each stack pins; anything else is unsupported.
STACK_TENSORFLOW = {CLASSIC: "2.14", MODERN: "2.20"}
STACK_PYTHONS = {CLASSIC: ((3, 11),), MODERN: ((3, 12), (3, 13))}


class RestartRequiredError(RuntimeError):
    """TensorFlow was imported before course_utils could choose its Keras."""

    def _render_traceback_(self):  # IPython/Jupyter/Colab: the message, no traceback
        return [f"{type(self).__name__}: {self}"]


@dataclass(frozen=True)
class Stack:
    name: str  # CLASSIC, MODERN or "unknown"
    python: str
    tensorflow: str | None

    @property
    def supported(self) -> bool:
        return self.name in (CLASSIC, MODERN)

    def describe(self) -> str:
        if self.name == CLASSIC:
            return (f"pinned classic stack (Python {self.python}, TensorFlow "
                    f"{self.tensorflow}): supported")
        if self.name == MODERN:
            return (f"modern stack (Python {self.python}, TensorFlow {self.tensorflow} "
                    "with tf_keras, Colab's versions): supported")
        return (f"Python {self.python} with TensorFlow {self.tensorflow or 'not installed'}"
                ": not a stack the course supports (classic: Python 3.11 + TensorFlow "
                "2.14; modern: Python 3.12/3.13 + TensorFlow 2.20)")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def stack(version_info=None, tensorflow: str | None = "installed") -> Stack:
    """Which of the course's stacks this interpreter has (read from package metadata,
    without importing TensorFlow)."""
    version_info = version_info or sys.version_info
    if tensorflow == "installed":
        tensorflow = _version("tensorflow")
    python = tuple(version_info[:2])
    name = "unknown"
    for candidate, minor in STACK_TENSORFLOW.items():
        if (tensorflow and ".".join(tensorflow.split(".")[:2]) == minor
                and python in STACK_PYTHONS[candidate]):
            name = candidate
    return Stack(name, ".".join(map(str, python)), tensorflow)


# ------------------------------------------------------------------------ the shims


def use_legacy_keras(modules=sys.modules, environ=os.environ) -> None:
    """Make `tf.keras` the Keras 2 API (tf_keras) that TFF 0.87 was written for.

    Upstream: TensorFlow >= 2.16 maps `tf.keras` to Keras 3 unless TF_USE_LEGACY_KERAS=1
    is set before TensorFlow is imported; TFF 0.87's `from_keras_model` accepts only
    Keras 2 models. Drop when TFF accepts Keras 3 models (or the course leaves TFF 0.87).
    """
    environ["TF_USE_LEGACY_KERAS"] = "1"
    tensorflow = modules.get("tensorflow")
    if tensorflow is not None and getattr(tensorflow, "_tf_uses_legacy_keras", True) is False:
        raise RestartRequiredError(
            "TensorFlow was imported before the course's first cell, so it uses Keras 3, "
            "which TFF 0.87 cannot use. Restart the runtime (Colab: Runtime > Restart "
            "session; Jupyter: Kernel > Restart Kernel), then run the notebook's first "
            "code cell first.")


# tensorflow_privacy's __init__ imports these; they need tensorflow_estimator.
ESTIMATOR_MODULES = ("tensorflow_privacy.v1", "tensorflow_privacy.privacy.estimators.dnn")


class _Unavailable(types.ModuleType):
    """A placeholder module: any name imported from it is a placeholder object that
    raises a clear error only when it is used."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _placeholder(f"{self.__name__}.{name}", self.__doc__)


def _placeholder(qualified_name: str, reason: str):
    def unavailable(*args, **kwargs):
        raise NotImplementedError(f"{qualified_name} is not available on this stack: "
                                  f"{reason}")

    return type(qualified_name.rsplit(".", 1)[-1], (), {
        "__new__": lambda cls, *a, **k: unavailable(), "__doc__": reason,
        "__module__": qualified_name.rsplit(".", 1)[0]})


class _EstimatorPlaceholders(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves `_Unavailable` modules for ESTIMATOR_MODULES."""

    REASON = ("it needs tensorflow_estimator, which TensorFlow >= 2.16 no longer has "
              "(the course does not use TF Privacy's Estimator API)")

    def find_spec(self, fullname, path=None, target=None):
        if fullname in ESTIMATOR_MODULES:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        return _Unavailable(spec.name, self.REASON)

    def exec_module(self, module):
        pass


def skip_privacy_estimators(meta_path=sys.meta_path) -> None:
    """Let `import tensorflow_privacy` (which TFF imports) succeed without
    tensorflow_estimator.

    Upstream: tensorflow_privacy 0.9.0's `__init__` imports its Estimator API (`from
    tensorflow_privacy import v1`, `...estimators.dnn`), which needs tensorflow_estimator,
    gone since TensorFlow 2.16. Those two modules become placeholders; the rest of
    tensorflow_privacy (DP queries, which TFF's DP aggregators use) is the real one.
    Drop when tensorflow_privacy imports without tensorflow_estimator.
    """
    if importlib.util.find_spec("tensorflow_estimator") is not None:
        return
    if not any(isinstance(finder, _EstimatorPlaceholders) for finder in meta_path):
        meta_path.insert(0, _EstimatorPlaceholders())


def jax_xla_client_names() -> None:
    """Give `jax.lib.xla_client` the two names TFF 0.87 mentions at import.

    Upstream: jax >= 0.5 removed `xla_client.XlaComputation` and `xla_client.Shape`;
    TFF 0.87's JAX/XLA backend names them in annotations, so `import
    tensorflow_federated` fails. They become placeholders that raise when used:
    `tff.jax` does not work on this stack (the course does not use it). Drop when TFF
    no longer names them (or the stack's jax has them again).
    """
    from jax.lib import xla_client

    reason = "jax >= 0.5 removed it, so tff.jax does not work with this jax"
    for name in ("XlaComputation", "Shape"):
        if not hasattr(xla_client, name):
            setattr(xla_client, name, _placeholder(f"jax.lib.xla_client.{name}", reason))


# absl's `SetMinLogLevel(absl::LogSeverityAtLeast)` as TensorFlow 2.20's
# libtensorflow_framework exports it (absl LTS 2025-01-27); other versions are looked up.
_ABSL_SET_MIN_LOG_LEVEL = "_ZN4absl12lts_2025012714SetMinLogLevelENS0_18LogSeverityAtLeastE"
_ABSL_SET_MIN_LOG_LEVEL_ANY = re.compile(
    rb"_ZN4absl12lts_\d+14SetMinLogLevelENS0_18LogSeverityAtLeastE")


def _absl_set_min_log_level(library: str):
    """The exported `absl::SetMinLogLevel` of a shared library, or None."""
    lib = ctypes.CDLL(library)
    try:
        return getattr(lib, _ABSL_SET_MIN_LOG_LEVEL)
    except AttributeError:
        pass
    with open(library, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        found = _ABSL_SET_MIN_LOG_LEVEL_ANY.search(data)
    return getattr(lib, found.group().decode()) if found else None


def quiet_native_logs(environ=os.environ) -> bool:
    """Make TF_CPP_MIN_LOG_LEVEL (the course sets 3) silence TensorFlow's C++ logs
    again; returns whether absl's level could be set.

    Upstream: TensorFlow 2.20 writes many C++ log lines through absl logging (before
    `absl::InitializeLog()`, so straight to stderr: `I0000 00:00:... single_machine.cc:376]
    Starting new session`, `devices.cc:67] ...`, `grappler_item_builder.cc:435] ...`),
    and absl reads none of TF_CPP_MIN_LOG_LEVEL, GLOG_minloglevel or ABSL_MIN_LOG_LEVEL.
    In Jupyter they land in the learner's cell. What silences them is absl's own
    `SetMinLogLevel`, exported by TensorFlow's libtensorflow_framework: it is called
    here through ctypes, before TensorFlow is imported (loading the library early only
    loads it once). Also: jax sets TF_CPP_MIN_LOG_LEVEL=1 when it is imported first
    unless it is already set, so it is set here, before jax. Drop when TensorFlow
    honours TF_CPP_MIN_LOG_LEVEL for its absl logs.
    """
    environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        level = min(max(int(environ["TF_CPP_MIN_LOG_LEVEL"]), 0), 3)  # INFO .. FATAL
    except ValueError:
        level = 3
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        return False
    library = os.path.join(spec.submodule_search_locations[0], "libtensorflow_framework.so.2")
    try:
        set_min_log_level = _absl_set_min_log_level(library)
    except OSError:
        return False
    if set_min_log_level is None:
        return False
    set_min_log_level(ctypes.c_int(level))
    return True


# Lines the TFF worker logs on the modern stack that say nothing is wrong.
HARMLESS_WORKER_LINES = (
    # The worker embeds an older TensorFlow than the one that built the graphs it runs.
    re.compile(r"NodeDef mentions attribute debug_name"),
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
)


def without_harmless_worker_lines(log: str) -> str:
    """A worker's log without the lines that are harmless noise on the modern stack.

    Upstream: TFF 0.87's `worker_binary` embeds TensorFlow 2.14, which warns about the
    `debug_name` attribute that TensorFlow 2.20 adds to the nodes it serializes; the
    graphs run correctly. The course's workers log at TF_CPP_MIN_LOG_LEVEL=2 to a file
    that is shown only when a worker fails (`Worker.log_tail`), and then the real error
    must not drown in these lines. Drop with TFF 0.87.
    """
    return "\n".join(line for line in log.splitlines()
                     if not any(pattern.search(line) for pattern in HARMLESS_WORKER_LINES))


def _absl_handler_to_the_process_stderr() -> None:
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is None:
        return
    handler = absl_logging.get_absl_handler().python_handler
    if handler.stream not in (sys.__stderr__, sys.__stdout__):
        handler.setStream(sys.__stderr__)


def absl_leaves_kernel_streams_open() -> None:
    """At exit, point absl's logging handler at the process's own stderr before
    `logging.shutdown` closes it.

    Upstream: absl's handler keeps the `sys.stderr` of the moment absl was imported. In
    a Jupyter kernel that is ipykernel's OutStream; at exit ipykernel puts the original
    streams back, so `logging.shutdown` finds a stream absl thinks it owns and closes
    it, and ipykernel 6.17.1 (Colab's) fails to close an OutStream whose fd watcher
    never started: "Exception ignored in atexit callback ... AttributeError:
    'OutStream' object has no attribute 'watch_fd_thread'" after a kernel shutdown.
    Nothing is logged after that hook, so nothing is lost. Drop when Colab's ipykernel
    checks for its watcher in `OutStream.close` (7.2.0, the classic stack's, does).
    """
    import logging  # noqa: F401  (its shutdown hook is registered first: ours runs before it)

    atexit.unregister(_absl_handler_to_the_process_stderr)  # idempotent
    atexit.register(_absl_handler_to_the_process_stderr)


def apply() -> Stack:
    """Apply every shim this interpreter's stack needs (idempotent); return the stack.
    Called by `course_utils.activate()` (and so `setup()`), before TensorFlow is imported."""
    found = stack()
    if found.name == MODERN:
        quiet_native_logs()
        use_legacy_keras()
        skip_privacy_estimators()
        jax_xla_client_names()
        absl_leaves_kernel_streams_open()
    return found
