"""course_utils.runtime.compat: which stack this is, and the shims that let TFF 0.87 run on the
modern one (Colab's versions). Tests marked by stack run where that stack is installed:
`make test` (classic, or modern on a 3.12/3.13-only machine) and `make test-colab`."""

from __future__ import annotations

import importlib.util
import re
import sys
import types

import pytest

from conftest import run_python

from course_utils.runtime import compat

MODERN = compat.stack().name == compat.MODERN
modern_only = pytest.mark.skipif(not MODERN, reason="a shim of the modern stack (make test-colab)")
# A C++ log line of TensorFlow (absl format "I0000 00:00:..." or TF's "2026-...: I ...").
NATIVE_LOG_LINE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d [\d:.]+: [IWEF] )", re.M)


@pytest.mark.parametrize("python, tensorflow, expected", [
    ((3, 11, 7), "2.14.1", compat.CLASSIC),
    ((3, 13, 0), "2.20.0", compat.MODERN), ((3, 12, 1), "2.20.0", compat.MODERN),
    ((3, 11, 7), "2.20.0", "unknown"), ((3, 13, 0), "2.14.1", "unknown"),
    ((3, 13, 0), "2.19.0", "unknown"), ((3, 12, 1), None, "unknown"),
])
def test_stack_is_told_from_python_and_tensorflow_versions(python, tensorflow, expected):
    found = compat.stack(python, tensorflow)
    assert found.name == expected
    assert found.supported == (expected != "unknown")
    assert found.describe().endswith(": supported") == (expected != "unknown")
    assert ("not a stack the course supports" in found.describe()) == (expected == "unknown")


def test_this_interpreter_is_on_a_supported_stack():
    assert compat.stack().supported, compat.stack().describe()


def test_legacy_keras_is_chosen_before_tensorflow_is_imported(monkeypatch):
    environ = {}
    compat.use_legacy_keras(modules={}, environ=environ)
    assert environ["TF_USE_LEGACY_KERAS"] == "1"
    already = types.SimpleNamespace(_tf_uses_legacy_keras=True)  # imported with it set
    compat.use_legacy_keras(modules={"tensorflow": already}, environ={})


def test_tensorflow_imported_with_keras_3_asks_for_a_restart():
    too_late = types.SimpleNamespace(_tf_uses_legacy_keras=False)
    with pytest.raises(compat.RestartRequiredError) as error:
        compat.use_legacy_keras(modules={"tensorflow": too_late}, environ={})
    message = str(error.value)
    assert "Restart the runtime" in message and "first code cell first" in message
    assert error.value._render_traceback_() == [f"RestartRequiredError: {message}"]


@modern_only
def test_importing_tensorflow_first_gives_the_one_restart_message():
    result = run_python("import tensorflow\nimport course_utils\ncourse_utils.activate()", env={"TF_USE_LEGACY_KERAS": ""})
    assert result.returncode == 1
    assert "RestartRequiredError: TensorFlow was imported before" in result.stderr


@modern_only
def test_tf_keras_is_the_keras_of_the_modern_stack():
    import tensorflow as tf

    assert tf.keras.__name__.startswith("tf_keras"), tf.keras.__name__


def test_estimator_placeholders_import_and_fail_only_when_used():
    finder = compat._EstimatorPlaceholders()
    assert finder.find_spec("tensorflow_privacy.privacy.dp_query") is None  # the real one
    spec = finder.find_spec("tensorflow_privacy.privacy.estimators.dnn")
    module = importlib.util.module_from_spec(spec)
    placeholder = module.DNNClassifier  # `from ... import DNNClassifier` works
    with pytest.raises(NotImplementedError, match="tensorflow_estimator"):
        placeholder()


def test_estimator_placeholders_are_registered_once_and_only_without_estimator():
    meta_path = []
    compat.skip_privacy_estimators(meta_path)
    compat.skip_privacy_estimators(meta_path)
    has_estimator = importlib.util.find_spec("tensorflow_estimator") is not None
    assert len(meta_path) == (0 if has_estimator else 1)


@modern_only
def test_tensorflow_privacys_dp_queries_are_the_real_ones():
    import tensorflow_privacy

    assert tensorflow_privacy.GaussianSumQuery.__module__.startswith("tensorflow_privacy.")
    assert isinstance(sys.modules["tensorflow_privacy.v1"], compat._Unavailable)


@modern_only
def test_jax_xla_client_placeholders_say_tff_jax_does_not_work():
    from jax.lib import xla_client

    with pytest.raises(NotImplementedError, match="tff.jax"):
        xla_client.XlaComputation(b"")


def test_harmless_worker_lines_are_dropped_and_real_errors_kept():
    log = ("W tensorflow/core/framework/node_def_util.cc] NodeDef mentions attribute "
           "debug_name which is not in the op definition: Op<name=VarHandleOp>\n"
           "E tensorflow_federated/cc/core/impl/executors] Out of memory\n")
    assert compat.without_harmless_worker_lines(log) == (
        "E tensorflow_federated/cc/core/impl/executors] Out of memory")


COMPUTATION = """
import course_utils
course_utils.activate()
import numpy as np, tensorflow as tf, tensorflow_federated as tff
{before}
@tff.tensorflow.computation(np.float32)
def add_half(x):
    return tf.add(x, 0.5)

@tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
def mean_plus_half(x):
    return tff.federated_mean(tff.federated_map(add_half, x))

print(mean_plus_half([1.0, 2.0]))
"""


def test_tensorflow_writes_no_native_log_lines():
    """The learner's cell shows no C++ log noise, on either stack."""
    result = run_python(COMPUTATION.format(before=""))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2.0" in result.stdout
    assert not NATIVE_LOG_LINE.search(result.stderr), result.stderr[-3000:]


@modern_only
def test_absl_log_level_is_what_silences_tensorflow_2_20():
    """The control: with absl's level put back to INFO, the lines come back."""
    back_to_info = ("import ctypes, os\n"
                    "lib = os.path.join(os.path.dirname(tf.__file__), 'libtensorflow_framework.so.2')\n"
                    "compat = course_utils.runtime.compat\n"
                    "compat._absl_set_min_log_level(lib)(ctypes.c_int(0))\n")
    result = run_python(COMPUTATION.format(before=back_to_info))
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"^I\d{4} .*single_machine\.cc.*Starting new session", result.stderr, re.M)


def test_no_tff_service_manager_is_left_for_interpreter_shutdown():
    """TFF's ServiceManager.__del__ fails during shutdown on Python 3.13; the course's
    context replaces TFF's at import, so none is alive by then, and the exit is clean."""
    code = ("import gc, course_utils\n"
            "gc.collect()\n"
            "print(sum(type(o).__name__ == 'ServiceManager' for o in gc.get_objects()))\n")
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-1] == "0"
    assert "Exception ignored" not in result.stderr and "ServiceManager" not in result.stderr


class _KernelStream:
    """A stand-in for ipykernel 6.17.1's OutStream: closing it fails (no fd watcher)."""

    def write(self, text):
        pass

    def flush(self):
        pass

    def isatty(self):
        return False

    def close(self):
        raise AttributeError("'OutStream' object has no attribute 'watch_fd_thread'")


def test_at_exit_absl_no_longer_holds_a_kernels_stream(monkeypatch):
    """absl's handler, created while sys.stderr was a kernel's stream, is closed by
    logging.shutdown at exit; the hook moves it to the process's stderr first."""
    import absl.logging

    handler = absl.logging.get_absl_handler().python_handler
    monkeypatch.setattr(handler, "stream", _KernelStream())
    with pytest.raises(AttributeError, match="watch_fd_thread"):
        handler.close()                             # what logging.shutdown did
    compat._absl_handler_to_the_process_stderr()    # the atexit hook
    assert handler.stream is sys.__stderr__
    handler.close()                                 # absl leaves the process's stderr open
    assert not sys.__stderr__.closed

