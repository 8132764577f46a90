"""The pins: the runtime locks (what Binder's image, the worker image and Colab get)
hold no test tool; the test tools are one file for both stacks; tools/lock.py
regenerates each lock."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("lock", ROOT / "tools" / "lock.py")
lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock)

RUNTIME = ["requirements.txt", "requirements-tff.txt", "requirements-modern.txt",
           "requirements-tff-modern.txt"]


def pinned(name: str) -> dict:
    return lock.pins((ROOT / name).read_text())


def test_the_runtime_locks_hold_no_test_tool():
    tools = set(pinned("requirements-dev.txt"))
    assert {"pytest", "nbval", "playwright", "ruff"} <= tools
    for name in RUNTIME:
        assert not tools & set(pinned(name)), name


def test_binder_and_the_worker_image_install_only_runtime_pins():
    binder = (ROOT / "binder" / "requirements.txt").read_text()
    dockerfile = (ROOT / "deploy" / "worker" / "Dockerfile").read_text()
    for text in (binder, (ROOT / "binder" / "postBuild").read_text(), dockerfile):
        assert "requirements-dev" not in text
    steps = "\n".join(line for line in dockerfile.splitlines() if not line.startswith("#"))
    assert set(re.findall(r"pip install [^&]*-r (\S+)", steps)) == {
        "requirements.txt", "requirements-tff.txt"}


def test_one_pytest_version_for_both_stacks():
    files = sorted(ROOT.glob("requirements*.txt"))
    assert [f.name for f in files if "pytest" in pinned(f.name)] == ["requirements-dev.txt"]


def test_every_lock_is_what_tools_lock_writes():
    """Regenerating a lock from a venv that holds exactly its pins (and those of the
    files it leaves out) gives the file back: header, comments and order included."""
    for name, (path, others) in lock.LOCKS.items():
        text = (ROOT / path).read_text()
        freeze = text + "".join((ROOT / other).read_text() for other in others)
        assert lock.lock_text(name, freeze + "pip==25.3\ncourse-utils==0.1.0\n") == text, path


def test_a_lock_leaves_out_what_other_files_pin_and_keeps_its_comments(tmp_path):
    (tmp_path / "requirements.txt").write_text(
        "# header\n#\nnumpy==1.0  # why this one\nzzz==1.0\n")
    (tmp_path / "requirements-tff.txt").write_text("tensorflow-federated==0.87.0\n")
    (tmp_path / "requirements-dev.txt").write_text("pytest==9.1.1\n")
    freeze = ("Jinja2==3.1.6\nnumpy==1.1\npip==25.3\npytest==9.1.1\nsetuptools==80.0\n"
              "tensorflow_federated==0.87.0\ncourse_utils==0.1.0\n"
              "-e git+https://example.invalid/course@abc#egg=course_utils\n")
    assert lock.lock_text("classic", freeze, root=tmp_path) == (
        "# header\n#\nJinja2==3.1.6\nnumpy==1.1  # why this one\n")
