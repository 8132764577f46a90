"""The two stacks `make` can build, and how `make test` decides on the Colab tier."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import SHARED, require_or_skip, require_shared

ROOT = Path(__file__).resolve().parent.parent
COLAB_FREEZE = SHARED / "colab" / "pip-freeze.txt"


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#;]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def test_modern_pins_are_colabs_versions():
    require_shared(COLAB_FREEZE)
    colab, modern = pins(COLAB_FREEZE), pins(ROOT / "requirements-modern.txt")
    marked = {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower()
              for line in (ROOT / "requirements-modern.txt").read_text().splitlines()
              if "# not in Colab's list" in line}
    assert {"tensorflow", "tf-keras", "keras", "numpy", "jax", "jaxlib", "protobuf",
            "ipykernel", "ipython"} <= set(modern)
    differ = {name: (version, colab.get(name)) for name, version in modern.items()
              if name not in marked and colab.get(name) != version}
    assert not differ, f"not Colab's versions (ours, Colab's): {differ}"
    assert marked == {name for name in modern if name not in colab}


def test_tff_and_its_helpers_are_not_in_the_modern_requirements():
    modern = pins(ROOT / "requirements-modern.txt")
    for name in pins(ROOT / "requirements-tff-modern.txt"):
        assert name not in modern, name


def find_python(*args, path: str) -> str:
    result = subprocess.run([str(ROOT / "tools" / "find_python.sh"), *args], text=True,
                            capture_output=True, env={**os.environ, "PATH": path,
                                                      "PYENV_ROOT": "/nonexistent"})
    return result.stdout.strip()


def fake_pythons(tmp_path: Path, versions: dict[str, str]) -> str:
    """A PATH whose python3.X answer find_python's probe (`-c "...not in ("3.11",...)"`)
    as a Python of the given version would, and nothing else."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "bash").symlink_to("/bin/bash")  # find_python.sh's interpreter, no Python
    for name, version in versions.items():
        script = folder / name
        script.write_text(f"#!/bin/sh\ncase \"$2\" in *\'\"{version}\"\'*) exit 0;; esac\nexit 1\n")
        script.chmod(0o755)
    return str(folder)


def test_find_python_prefers_3_11_then_3_13_then_3_12(tmp_path):
    path = fake_pythons(tmp_path, {"python3.11": "3.11", "python3.12": "3.12", "python3.13": "3.13"})
    assert find_python(path=path).endswith("/bin/python3.11")


def test_find_python_on_a_3_13_only_machine(tmp_path):
    path = fake_pythons(tmp_path, {"python3.13": "3.13", "python3.12": "3.12"})
    assert find_python(path=path).endswith("/bin/python3.13")


def test_a_shim_that_does_not_run_does_not_count(tmp_path):
    path = fake_pythons(tmp_path, {"python3.13": "3.10"})  # answers, but wrong version
    assert find_python("3.13", path=path) == ""


def run_make(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "--no-print-directory", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


TIERS = [("test-colab-when-possible", "COLAB_PYTHON",
          "skipped the Colab-equivalent tier (make test-colab): no Python 3.13 found"),
         ("test-py312-when-possible", "PY312_PYTHON",
          "skipped the Python 3.12 tier (make test-py312): no Python 3.12 found")]


@pytest.mark.parametrize("target, variable, message", TIERS)
def test_make_test_says_why_it_skips_a_tier(target, variable, message):
    result = run_make(target, f"{variable}=", env={"COURSE_REQUIRE_TIERS": ""})
    assert result.returncode == 0, result.stderr
    assert message in result.stdout


@pytest.mark.parametrize("target, variable, message", TIERS)
def test_a_skipped_tier_fails_when_tiers_are_required(target, variable, message):
    result = run_make(target, f"{variable}=", env={"COURSE_REQUIRE_TIERS": "1"})
    assert result.returncode != 0
    assert "forbids skipping it" in result.stderr


def path_without_python_3_11(tmp_path: Path, python: str) -> str:
    """A PATH like this machine's, minus every Python, plus `python` (e.g. a 3.13) as
    python3.13: a machine whose only Python is that one."""
    folder = tmp_path / "path"
    folder.mkdir()
    for directory in ("/usr/local/bin", "/usr/bin", "/bin"):
        for tool in Path(directory).glob("*"):
            if not tool.name.startswith(("python", "pydoc", "idle", "2to3")) and \
                    not (folder / tool.name).exists():
                (folder / tool.name).symlink_to(tool)
    version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
    (folder / f"python{version}").symlink_to(python)
    return str(folder)


def test_make_picks_the_modern_stack_on_a_machine_without_python_3_11(tmp_path):
    """`make lab`/`make test` on a 3.13-only machine (PATH without 3.11): .venv is built
    with that Python from requirements-modern.txt, TFF with --ignore-requires-python.
    (A dry run: tests/test_lab.py and the README's check start the real `make lab`.)"""
    python = find_python("3.13", path=os.environ["PATH"]) or subprocess.run(
        [str(ROOT / "tools" / "find_python.sh"), "3.13"], capture_output=True,
        text=True).stdout.strip()
    if not python:
        require_or_skip("no Python 3.13 here (pyenv install 3.13)")
    path = path_without_python_3_11(tmp_path, python)
    result = subprocess.run(["make", "-n", "-B", "setup"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60,
                            env={**os.environ, "PATH": path, "PYENV_ROOT": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert "the modern stack (requirements-modern.txt)" in result.stdout
    assert "pip install -r requirements-modern.txt" in result.stdout
    assert "--no-deps --ignore-requires-python -r requirements-tff-modern.txt" in result.stdout
    assert "-r requirements.txt" not in result.stdout
