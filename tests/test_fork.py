"""GitHub's fast job passes in a fork: `make test-fast` (its one command) in a copy of
this checkout's tracked files, with nothing beside it (no ../shared), builds its own
.venv-fast and passes. Slow for a unit test (a pip install, from pip's cache when warm)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import require_or_skip

ROOT = Path(__file__).resolve().parent.parent


def tracked_copy(destination: Path) -> Path:
    """The working tree's tracked files (what a clone of it would hold, with today's
    edits), without .venv*, untracked files or anything beside the repository."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        source = ROOT / name
        if source.is_file() or source.is_symlink():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name, follow_symlinks=False)
    return destination


def test_the_fast_job_passes_in_a_clone_without_the_shared_folder(tmp_path):
    if not (ROOT / ".git").exists():
        require_or_skip("not a git checkout (e.g. a downloaded archive): no list of "
                        "tracked files to copy")
    clone = tracked_copy(tmp_path / "course")
    assert not (clone.parent / "shared").exists()
    # as on GitHub: no COURSE_REQUIRE_TIERS (the fast job does not set it)
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL",
                          "COURSE_REQUIRE_TIERS")}
    log = tmp_path / "make-test-fast.log"
    with open(log, "w") as out:
        result = subprocess.run(["make", "test-fast"], cwd=clone, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                timeout=900)
    output = log.read_text()
    assert result.returncode == 0, output[-6000:]
    assert " passed" in output and "All checks passed!" in output, output[-3000:]
