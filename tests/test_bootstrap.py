"""course_utils/runtime/bootstrap.py: what the notebooks' first cell runs on Colab. These tests
replace pip; `make test-colab` runs the real thing in every notebook (a Python 3.13 venv
with Colab's versions and google.colab imported at kernel start)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from course_utils.authoring import navigation, syllabus
from course_utils.runtime import bootstrap
from course_utils.runtime.doctor import EXPECTED

ROOT = Path(__file__).resolve().parent.parent
RAW = navigation.bootstrap_source()  # https://raw.githubusercontent.com/OWNER/NAME/BRANCH


def test_github_source_names_the_course_repository():
    assert bootstrap.repository_of(RAW) == (syllabus.REPOSITORY, syllabus.BRANCH)
    assert bootstrap.repository_of(str(ROOT)) == (syllabus.REPOSITORY, syllabus.BRANCH)
    assert bootstrap.binder_url(RAW) == syllabus.BINDER_URL
    assert bootstrap.package_source(RAW) == (
        f"course-utils @ git+https://github.com/{syllabus.REPOSITORY}@{syllabus.BRANCH}")
    assert bootstrap.package_source(str(ROOT)) == str(ROOT)


def test_it_installs_the_pins_of_requirements_tff_modern():
    pins = dict(bootstrap.pinned(bootstrap.read_text(str(ROOT), bootstrap.TFF_REQUIREMENTS)))
    assert pins == {"tensorflow-federated": "0.87.0", "tensorflow-privacy": "0.9.0",
                    "dp-accounting": "0.4.3", "tensorflow-model-optimization": "0.8.1",
                    "google-vizier": "0.1.11"}
    modern = EXPECTED["modern"]  # what the doctor then checks
    assert all(modern[name] == version for name, version in pins.items())


@pytest.fixture
def fake_colab(monkeypatch):
    """A runtime with some packages: records what pip would be asked to install."""
    installed = {"tensorflow-privacy": "0.9.0", "dp-accounting": "0.3.0"}
    calls = []
    monkeypatch.setattr(bootstrap, "installed_version", installed.get)
    monkeypatch.setattr(bootstrap, "pip_install", calls.append)
    monkeypatch.setattr(bootstrap, "course_installed", lambda: False)
    return calls


def test_it_installs_only_what_is_missing_in_one_pip_call(fake_colab):
    out = io.StringIO()
    bootstrap.install_on_colab(str(ROOT), out)
    assert fake_colab == [[str(ROOT), "tensorflow-federated==0.87.0", "dp-accounting==0.4.3",
                           "tensorflow-model-optimization==0.8.1", "google-vizier==0.1.11"]]
    line = out.getvalue()
    assert line.count("\n") == 1 and line.startswith("Colab: installed the course's package")
    assert "tensorflow-federated 0.87.0" in line and "no restart needed" in line
    assert "tensorflow-privacy" not in line  # it was there already


def test_running_the_cell_again_installs_nothing(monkeypatch):
    pins = dict(bootstrap.pinned(bootstrap.read_text(str(ROOT), bootstrap.TFF_REQUIREMENTS)))
    monkeypatch.setattr(bootstrap, "installed_version", pins.get)
    monkeypatch.setattr(bootstrap, "pip_install", lambda args: pytest.fail(f"pip {args}"))
    out = io.StringIO()
    assert bootstrap.install_on_colab(str(ROOT), out) == []  # course_utils is importable
    assert out.getvalue() == "Colab: the course's package and TFF 0.87 are already installed.\n"


def test_a_failing_pip_says_what_it_ran_and_what_pip_said(monkeypatch, tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ERROR: No matching distribution found for x'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(bootstrap.sys, "executable", str(fake))
    with pytest.raises(bootstrap.InstallFailed) as error:
        bootstrap.pip_install(["x==1"])
    assert "pip install --quiet --no-deps --ignore-requires-python x==1" in str(error.value)
    assert "No matching distribution found for x" in str(error.value)


def test_off_linux_it_raises_one_message_with_the_binder_link(monkeypatch):
    monkeypatch.setattr(bootstrap.sys, "platform", "darwin")
    with pytest.raises(bootstrap.UnsupportedEnvironment) as error:
        bootstrap.main(RAW)
    assert syllabus.BINDER_URL in str(error.value) and "on darwin" in str(error.value)


def test_importing_it_runs_nothing(monkeypatch):
    monkeypatch.setattr(bootstrap, "install_on_colab", lambda *a: pytest.fail("ran"))
    text = (ROOT / "course_utils" / "runtime" / "bootstrap.py").read_text()
    exec(compile(text, "bootstrap.py", "exec"), {"__name__": "imported"})  # no SOURCE


def test_executed_with_a_source_on_linux_outside_colab_it_does_nothing(monkeypatch, capsys):
    monkeypatch.delitem(__import__("sys").modules, "google.colab", raising=False)
    text = (ROOT / "course_utils" / "runtime" / "bootstrap.py").read_text()
    exec(compile(text, "bootstrap.py", "exec"), {"__name__": "course_bootstrap",
                                                 "SOURCE": os.fspath(ROOT)})
    assert capsys.readouterr().out == ""
