"""The GitHub workflows (.github/workflows/): valid for actionlint, offline (its binary
comes in requirements-dev.txt's wheel), and every job runs a target of the Makefile,
so that what GitHub runs, `make` runs locally."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def actionlint() -> str:
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    if not found:
        require_or_skip("actionlint is not installed: pip install -r requirements-dev.txt "
                        "(make test-fast does)")
    return found


def test_every_workflow_passes_actionlint():
    assert WORKFLOWS
    # no shellcheck or pyflakes: the same verdict wherever they happen to be installed
    result = subprocess.run([actionlint(), "-no-color", "-shellcheck=", "-pyflakes=",
                             *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_a_broken_workflow(tmp_path):
    """The check above can fail: an unknown job key and a wrong expression are caught."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n"
                      "    steps:\n      - run: echo ${{ github.nope }}\n")
    result = subprocess.run([actionlint(), "-no-color", "-shellcheck=", "-pyflakes=",
                             str(broken)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "stepz" in result.stdout and "nope" in result.stdout


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z0-9-]+):", text, re.M))


def test_every_make_command_of_a_workflow_is_a_target_of_the_makefile():
    targets = make_targets()
    for workflow in WORKFLOWS:
        for run in re.findall(r"- run: (.+)", workflow.read_text()):
            for command in re.findall(r"\bmake ([a-z0-9 -]+)", run):
                for target in command.split():
                    assert target in targets, f"{workflow.name}: make {target}"


def test_the_fast_job_runs_make_test_fast():
    tests = (ROOT / ".github" / "workflows" / "tests.yml").read_text()
    fast = tests.split("\n  fast:\n", 1)[1].split("\n\n", 1)[0]
    assert re.findall(r"- run: (.+)", fast) == ["make test-fast"]


def test_the_slow_tiers_run_on_a_schedule():
    tests = (ROOT / ".github" / "workflows" / "tests.yml").read_text()
    assert re.search(r"^  schedule:\n    - cron: ", tests, re.M)
    for target in ("test-binder", "test-netns", "test-colab-solutions"):
        assert f"run: make {target}" in tests, target
