"""Shared fixtures. Tests use a private cache directory and the bundled real writers.

Tests that need something outside the repository (Chromium, a second Python, a slow
fresh install) call `require_or_skip(reason)` when it is missing: a skip, or with
COURSE_REQUIRE_TIERS=1 (set by .ci/run) a failure, so that a CI run proves every tier
the README promises instead of skipping it silently. The checks against the development
repository's files (../shared) call `require_shared(path)`: they skip wherever there is
no ../shared (a clone, a fork, GitHub), also in CI.
"""

import hashlib
import importlib.util
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_TIERS_ENV = "COURSE_REQUIRE_TIERS"

# Where TensorFlow is installed, every test runs as a script of the course does: the
# stack's shims before any test module imports TensorFlow, and TFF computations on a
# worker that stops with this process. (Pure-Python test runs without TensorFlow skip it.)
if importlib.util.find_spec("tensorflow") is not None:
    import course_utils

    course_utils.activate()


def tiers_required() -> bool:
    """True when COURSE_REQUIRE_TIERS=1: no environment-dependent test may skip."""
    return os.environ.get(REQUIRE_TIERS_ENV, "") == "1"


def require_or_skip(reason: str, allow_module_level: bool = False):
    """Skip the calling test because `reason` (what is missing and how to get it), or
    fail it when COURSE_REQUIRE_TIERS=1."""
    if tiers_required():
        pytest.fail(f"{reason} ({REQUIRE_TIERS_ENV}=1: this tier must run, not skip)",
                    pytrace=False)
    pytest.skip(reason, allow_module_level=allow_module_level)


SHARED = ROOT.parent / "shared"
SHARED_WRITERS = SHARED / "data" / "femnist_leaf_digits" / "emnist_all.sqlite.xz"


def require_shared(path: Path) -> None:
    """For the checks against the development repository's files (../shared): skip when
    there is no ../shared at all (a clone or a fork: never a failure, whatever
    COURSE_REQUIRE_TIERS says); where it is, a missing `path` is a missing tier."""
    if not SHARED.is_dir():
        pytest.skip(f"no {SHARED}: this check runs only beside the course's development "
                    "repository (its shared folder), not in a clone or a fork")
    if not path.exists():
        require_or_skip(f"{path} is not in {SHARED}")


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory):
    """The bundled 383 real writers, built once per test session into a temp dir."""
    from course_utils.emnist import sample_writers

    directory = tmp_path_factory.mktemp("sample")
    sample_writers.build(directory)
    return directory


@pytest.fixture(scope="session")
def shared_writers_sqlite(tmp_path_factory):
    """The development copy of the 383 writers that the bundle was packed from
    (../shared), unpacked; skips where it is absent (learners' machines)."""
    require_shared(SHARED_WRITERS)
    path = tmp_path_factory.mktemp("shared") / "emnist_all.sqlite"
    with lzma.open(SHARED_WRITERS) as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst, length=2**22)
    return path


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """COURSE_CACHE_DIR and HOME in a temp dir, COURSE_DATA unset."""
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("COURSE_DATA", raising=False)
    return tmp_path


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def process_gone(pid: int) -> bool:
    """True when `pid` no longer runs (gone, or a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def wait_until(condition, timeout: float = 10.0) -> bool:
    """Poll `condition()` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    return wait_until(lambda: process_gone(pid), timeout)


def run_python(code: str, timeout: float = 180, env=None) -> subprocess.CompletedProcess:
    """Run `code` in a child Python of this environment. Output goes to files, not
    pipes: a leftover worker holding a pipe open would make us wait forever."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        result = subprocess.run([sys.executable, "-c", code], timeout=timeout,
                                stdout=out, stderr=err, env={**os.environ, **(env or {})})
        out.seek(0)
        err.seek(0)
        result.stdout, result.stderr = out.read(), err.read()
    return result


def run_benchmark(script: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run benchmarks/`script` as its command line would, with `args`, in a child
    Python (`run_python`); the caller asserts on what it wrote."""
    path = ROOT / "benchmarks" / script
    code = (f"import sys; sys.argv = [{script!r}, *{list(args)!r}]\n"
            f"import runpy; runpy.run_path({str(path)!r}, run_name='__main__')")
    return run_python(code, timeout=timeout)


def assert_same_round_data(ours: list, theirs: list) -> None:
    """Two lists of client datasets (one round's federated data) hold the same batches."""
    import numpy as np
    import tensorflow as tf

    assert len(ours) == len(theirs), f"{len(ours)} clients vs {len(theirs)}"
    for client, (a, b) in enumerate(zip(ours, theirs)):
        batches_a, batches_b = list(a.as_numpy_iterator()), list(b.as_numpy_iterator())
        assert len(batches_a) == len(batches_b), f"client {client}: batch counts differ"
        for x, y in zip(batches_a, batches_b):
            for u, v in zip(tf.nest.flatten(x), tf.nest.flatten(y), strict=True):
                np.testing.assert_array_equal(u, v, err_msg=f"client {client}")
