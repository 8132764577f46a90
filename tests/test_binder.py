"""binder/ builds the course on mybinder.org (repo2docker).

Docker is not available here, so the slow test does what repo2docker does with binder/,
in a fresh virtual environment with Python 3.11 and a copy of the repository:

  1. runtime.txt says python-3.11          -> `python3.11 -m venv`
  2. pip install -r binder/requirements.txt (run from the repository folder)
  3. binder/postBuild                       (run from the repository folder)

then imports course_utils and runs a federated computation, executes notebook 00 in
that environment's kernel, and checks that its JupyterLab serves the Binder badge's
path (lab/tree/notebooks/<notebook>). Differences from a real Binder build: no conda
base environment (repo2docker installs JupyterLab there first; our pins replace it),
and pip may use its cache (repo2docker passes --no-cache-dir).

The slow test takes minutes (it installs TensorFlow): it runs with `make test-binder`
(RUN_BINDER_TEST=1), and under COURSE_REQUIRE_TIERS=1 (CI) when the build's inputs
(BUILD_INPUTS) differ from those of the last replay that passed, whose digest it writes
to REPLAYED (commit that file); otherwise it is skipped, and a quick test checks that
the inputs are still the replayed ones. The checks of binder/'s files always run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import tiers_required
from lab_server import LabServer

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
NOTEBOOK = "00_setup_and_hello_federated.ipynb"
# What a Binder build depends on; a change to any of them makes CI replay the build.
BUILD_INPUTS = ["binder/runtime.txt", "binder/requirements.txt", "binder/postBuild",
                "requirements.txt", "requirements-tff.txt", "pyproject.toml",
                "tools/jupyterlab-overrides.json"]
REPLAYED = ROOT / "tests" / "binder_replayed.sha256"
COPY_IGNORE = shutil.ignore_patterns(".venv", ".venv-*", ".git", "__pycache__", "*.egg-info",
                                     ".pytest_cache", ".ipynb_checkpoints", "build")


def test_runtime_is_python_3_11():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"


def test_binder_requirements_are_the_pinned_ones():
    lines = [line.split("#")[0].strip()
             for line in (BINDER / "requirements.txt").read_text().splitlines()]
    assert [line for line in lines if line] == ["-r ../requirements.txt"]


def test_postbuild_installs_tff_without_deps_and_the_package():
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), "binder/postBuild must be executable"
    text = post_build.read_text()
    assert text.startswith("#!/bin/bash\n") and "set -euo pipefail" in text
    assert "pip install --no-deps -r requirements-tff.txt" in text
    assert "pip install --no-deps -e ." in text
    assert "cp tools/jupyterlab-overrides.json \"$settings/overrides.json\"" in text


def test_binder_badge_opens_jupyterlab_at_the_notebook():
    from course_utils.authoring import syllabus

    url = syllabus.binder_url(f"notebooks/{NOTEBOOK}")
    assert url.endswith(f"?urlpath=lab/tree/notebooks/{NOTEBOOK}")
    assert (ROOT / "notebooks" / NOTEBOOK).exists()


def build_inputs_digest() -> str:
    digest = hashlib.sha256()
    for name in BUILD_INPUTS:
        digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes() + b"\0")
    return digest.hexdigest()


def inputs_replayed() -> bool:
    """Did a replay pass with exactly today's build inputs?"""
    return REPLAYED.exists() and REPLAYED.read_text().split()[0] == build_inputs_digest()


def test_the_build_inputs_were_replayed_or_the_replay_runs():
    """Quick check in place of the replay: today's inputs are the replayed ones, or this
    run replays the build (CI) and then records them."""
    if not inputs_replayed() and not (os.environ.get("RUN_BINDER_TEST") or tiers_required()):
        pytest.fail("binder/'s build inputs changed since the last replay: run "
                    "`make test-binder`, then commit tests/binder_replayed.sha256")


def _python311() -> str:
    for candidate in (shutil.which("python3.11"), getattr(sys, "_base_executable", None)):
        if candidate and subprocess.run(
                [candidate, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 11))"]
        ).returncode == 0:
            return candidate
    pytest.fail("no python3.11 found for the fresh environment")


def _step(name, command, cwd, env, log, timings, timeout=1800):
    start = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(map(str, command))}\n")
        out.flush()
        result = subprocess.run(command, cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                timeout=timeout)
    timings[name] = time.perf_counter() - start
    if result.returncode != 0:
        tail = Path(log).read_text()[-4000:]
        pytest.fail(f"{name} failed (exit {result.returncode}):\n{tail}")


def test_binder_build_steps_in_a_fresh_environment(tmp_path):
    if not (os.environ.get("RUN_BINDER_TEST") or (tiers_required() and not inputs_replayed())):
        pytest.skip("slow: `make test-binder` runs it (it installs TensorFlow in a fresh "
                    "venv); CI does when its inputs are not the replayed ones")
    repo, venv, home = tmp_path / "repo", tmp_path / "env", tmp_path / "home"
    shutil.copytree(ROOT, repo, ignore=COPY_IGNORE, symlinks=True)
    home.mkdir()
    log = tmp_path / "build.log"
    timings: dict[str, float] = {}
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "COURSE_DATA",
                          "COURSE_CACHE_DIR", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR")}
    env.update(PATH=f"{venv / 'bin'}:{env['PATH']}", HOME=str(home),
               # the machine's pip cache, so a second run does not download again
               PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR",
                                            str(Path.home() / ".cache" / "pip")))

    total = time.perf_counter()
    _step("venv (runtime.txt: python-3.11)", [_python311(), "-m", "venv", str(venv)],
          repo, env, log, timings)
    _step("pip install -r binder/requirements.txt",
          [venv / "bin" / "pip", "install", "-r", "binder/requirements.txt"],
          repo, env, log, timings)
    _step("binder/postBuild", ["./binder/postBuild"], repo, env, log, timings)
    install_seconds = time.perf_counter() - total

    python = venv / "bin" / "python"
    # the package is the copy's, installed editable by postBuild
    check = ("import course_utils\ncourse_utils.activate()\n"
             "import numpy as np, tensorflow_federated as tff\n"
             "assert course_utils.__file__.startswith(%r), course_utils.__file__\n"
             "@tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))\n"
             "def mean(x):\n    return tff.federated_mean(x)\n"
             "print('federated mean:', mean([1.0, 2.0, 6.0]))\n"
             "import importlib, pkgutil\n"  # every module, subpackages included
             "for m in pkgutil.walk_packages(course_utils.__path__, 'course_utils.'):\n"
             "    if not m.name.endswith('__main__'):\n"
             "        importlib.import_module(m.name)\n" % str(repo))
    _step("import course_utils (all modules) + federated computation", [python, "-c", check],
          repo, env, log, timings)
    assert "federated mean: 3.0" in log.read_text()
    _step(f"execute {NOTEBOOK} in the environment's kernel",
          [venv / "bin" / "jupyter", "nbconvert", "--to", "notebook", "--execute",
           f"notebooks/{NOTEBOOK}", "--output-dir", str(tmp_path / "executed")],
          repo, {**env, "COURSE_DATA": "sample"}, log, timings, timeout=600)

    # The Binder badge opens JupyterLab at lab/tree/notebooks/<notebook>.
    lab = LabServer(venv / "bin" / "jupyter", repo, tmp_path / "lab", env=env)
    start = time.perf_counter()
    try:
        lab.start()
        status, page = lab.get(f"lab/tree/notebooks/{NOTEBOOK}")
        assert status == 200 and "JupyterLab" in page
        model = lab.api(f"contents/notebooks/{NOTEBOOK}")
        assert model["type"] == "notebook"
        kernels = lab.api("kernelspecs")
        assert "python3" in kernels["kernelspecs"]
    finally:
        leftovers = lab.stop()
    timings["JupyterLab serves the badge's path"] = time.perf_counter() - start
    assert not leftovers, f"processes left running: {leftovers}"

    with open(tmp_path / "timings.txt", "w") as out:
        for name, seconds in timings.items():
            out.write(f"{seconds:7.1f} s  {name}\n")
        out.write(f"{install_seconds:7.1f} s  install (venv + requirements + postBuild)\n")
    print("\n" + (tmp_path / "timings.txt").read_text())
    REPLAYED.write_text(f"{build_inputs_digest()}  the inputs of the last Binder replay "
                        "that passed (tests/test_binder.py)\n")
