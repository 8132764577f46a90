"""What every notebook's first code cell runs on Google Colab, before `course_utils` is
importable (and where the course cannot run at all).

The setup cell (written by `make nav`) executes this file's text with
one global, SOURCE: the raw URL of the course's repository on GitHub
(https://raw.githubusercontent.com/OWNER/NAME/BRANCH), or the checkout named by the
environment variable COURSE_INSTALL_FROM (tests). It uses only the standard library.
Importing it as a module runs nothing.

- On Colab (Python 3.13 with TensorFlow 2.20 and the other packages the course needs,
  at the versions requirements-modern.txt pins) it installs, in ONE pip call, what a
  fresh runtime lacks: the course's package with the data it ships (from the
  repository, or from the checkout), and TFF 0.87 with the four packages TFF imports,
  at the versions of requirements-tff-modern.txt, with `--no-deps
  --ignore-requires-python` (their metadata predates Python 3.12). Whatever is already
  installed at those versions is skipped, so running the cell again takes a second.
  No restart is needed: TensorFlow is imported only afterwards, by `import
  course_utils`, which applies the shims of `course_utils.runtime.compat` first.
- Not on Linux (macOS, Windows without WSL): one message with the Binder link.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

RAW_GITHUB = "https://raw.githubusercontent.com/"
TFF_REQUIREMENTS = "requirements-tff-modern.txt"
PACKAGE = "course-utils"  # the distribution name of course_utils (pyproject.toml)


class UnsupportedEnvironment(Exception):
    def _render_traceback_(self):  # IPython/Jupyter/Colab: the message, no traceback
        return [f"{type(self).__name__}: {self}"]


class InstallFailed(Exception):
    def _render_traceback_(self):
        return [f"{type(self).__name__}: {self}"]


def unsupported_message(where: str, binder_url: str) -> str:
    """The one message for a place TFF 0.87 cannot run in."""
    return (f"This course needs TensorFlow Federated 0.87, which runs only on Linux x86-64 "
            f"(Python 3.11, 3.12 or 3.13; Google Colab works too); this is {where}. Open "
            f"the course on Binder instead: {binder_url} (or run it on Linux, WSL or "
            f"Docker: make lab).")


def repository_of(source: str) -> tuple[str, str]:
    """(owner/name, branch) of a raw GitHub URL, or read from a checkout's
    course_utils/repository.py."""
    if source.startswith(RAW_GITHUB):
        repository, branch = source[len(RAW_GITHUB):].rstrip("/").rsplit("/", 1)
        return repository, branch
    with open(os.path.join(source, "course_utils", "repository.py")) as file:
        text = file.read()
    return tuple(re.search(rf'^{name} = "([^"]+)"', text, re.M).group(1)
                 for name in ("REPOSITORY", "BRANCH"))


def binder_url(source: str) -> str:
    repository, branch = repository_of(source)
    return f"https://mybinder.org/v2/gh/{repository}/{branch}?urlpath=lab/tree/notebooks"


def package_source(source: str) -> str:
    """What pip installs the course's package from."""
    if source.startswith(RAW_GITHUB):
        repository, branch = repository_of(source)
        return f"{PACKAGE} @ git+https://github.com/{repository}@{branch}"
    return os.path.abspath(source)


def read_text(source: str, name: str) -> str:
    if source.startswith(RAW_GITHUB):
        from urllib.request import urlopen

        with urlopen(f"{source.rstrip('/')}/{name}", timeout=60) as response:
            return response.read().decode()
    with open(os.path.join(source, name)) as file:
        return file.read()


def pinned(requirements: str) -> list[tuple[str, str]]:
    """[(name, version)] of the `name==version` lines of a requirements file."""
    found = []
    for line in requirements.splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def installed_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def course_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("course_utils") is not None


def missing(source: str) -> tuple[bool, list[tuple[str, str]]]:
    """(is the course's package missing?, the pinned packages that are missing)."""
    packages = [(name, version) for name, version in pinned(read_text(source, TFF_REQUIREMENTS))
                if installed_version(name) != version]
    return not course_installed(), packages


def pip_install(arguments: list[str]) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
               "--ignore-requires-python", *arguments]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise InstallFailed(f"pip could not install the course ({' '.join(command[1:])}):\n"
                            f"{result.stdout[-3000:]}")


def install_on_colab(source: str, out=sys.stdout) -> list[str]:
    """Install what this Colab runtime lacks; print one line saying what; return it."""
    import importlib

    start = time.perf_counter()
    course_missing, packages = missing(source)
    wanted = ([package_source(source)] if course_missing else []) + [
        f"{name}=={version}" for name, version in packages]
    if not wanted:
        print("Colab: the course's package and TFF 0.87 are already installed.", file=out)
        return []
    pip_install(wanted)
    importlib.invalidate_caches()
    what = (["the course's package (course_utils and its data, from "
             f"{_short(package_source(source))})"] if course_missing else []) + [
        f"{name} {version}" for name, version in packages]
    print(f"Colab: installed {', '.join(what)} in {time.perf_counter() - start:.0f} s; "
          "no restart needed.", file=out)
    return wanted


def _short(source: str) -> str:
    return source.split(" @ git+https://", 1)[-1] if " @ " in source else "a local checkout"


def main(source: str) -> None:
    if sys.platform != "linux":
        where = f"Python {sys.version.split()[0]} on {sys.platform}"
        raise UnsupportedEnvironment(unsupported_message(where, binder_url(source)))
    if "google.colab" in sys.modules:
        install_on_colab(source)


if "SOURCE" in globals():  # executed by a notebook's setup cell (not imported)
    main(SOURCE)  # noqa: F821 - given by the cell
