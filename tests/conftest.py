"""Shared fixtures. Tests use a private cache directory and the offline dataset."""

import hashlib
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
SHARED_WRITERS = ROOT.parent / "shared" / "data" / "femnist_leaf_digits" / "emnist_all.sqlite.xz"


REQUIRE_TIERS_ENV = "COURSE_REQUIRE_TIERS"


def skip_or_fail(reason: str):
    """Skip a test whose tier cannot run here, or, with COURSE_REQUIRE_TIERS=1 (CI:
    every tier must run), fail it with the same reason."""
    if os.environ.get(REQUIRE_TIERS_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_TIERS_ENV}=1: this tier must run here)",
                    pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def offline_dir(tmp_path_factory):
    """A freshly built offline dataset directory (built once per test session)."""
    from course_utils import offline_data

    directory = tmp_path_factory.mktemp("offline")
    offline_data.build_offline_dataset(directory)
    return directory


@pytest.fixture(scope="session")
def real_writers_dir(tmp_path_factory):
    """The real LEAF writers from ../shared, unpacked to a temp dir (skips if absent)."""
    if not SHARED_WRITERS.exists():
        pytest.skip(f"real-writer tier: {SHARED_WRITERS} is not here (only on the "
                    "course's development machines)")
    directory = tmp_path_factory.mktemp("femnist")
    with lzma.open(SHARED_WRITERS) as src, open(directory / "emnist_all.sqlite", "wb") as dst:
        shutil.copyfileobj(src, dst, length=2**22)
    return directory


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


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.1)
    return False


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
