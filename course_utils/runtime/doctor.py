"""`course_utils.doctor()`: is this environment ready for the course? Each problem comes
with its fix. Also `python -m course_utils doctor` in a terminal."""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata

from course_utils import data
from course_utils.runtime import compat
from course_utils.runtime import context as runtime
from course_utils.runtime import workers

# The versions each stack pins (prefixes): requirements.txt / requirements-modern.txt and
# their TFF files. The modern stack's TFF helpers are installed with --no-deps.
EXPECTED = {
    compat.CLASSIC: {"tensorflow-federated": "0.87.0", "tensorflow": "2.14.", "jax": "0.4.14",
                     "jaxlib": "0.4.13"},
    compat.MODERN: {"tensorflow-federated": "0.87.0", "tensorflow": "2.20.", "tf_keras": "2.20.",
                    "jax": "0.7.", "tensorflow-privacy": "0.9.0", "dp-accounting": "0.4.3",
                    "tensorflow-model-optimization": "0.8.1", "google-vizier": "0.1.11"},
}
SETUP_FIX = "run `make test` or `make lab` in the course folder (they install the pinned versions)"
STACK_FIX = ("use Python 3.11 with requirements.txt (classic) or Python 3.12/3.13 with "
             "requirements-modern.txt (modern): `make lab` picks one; or use Binder or Colab")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: str = ""  # worth knowing, not a problem of the course's environment


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def check_versions() -> list[Check]:
    found = compat.stack()
    checks = [Check("python", tuple(sys.version_info[:2]) in runtime.SUPPORTED_PYTHONS
                    and sys.platform == "linux" and platform.machine() == "x86_64",
                    f"Python {platform.python_version()} on {sys.platform}/{platform.machine()}",
                    "TFF 0.87 runs on Linux x86-64 with Python 3.11-3.13 only: use Linux, "
                    "WSL, Docker, Binder or Colab"),
              Check("stack", found.supported, found.describe(), STACK_FIX)]
    for package, wanted in EXPECTED.get(found.name, {}).items():
        version = _version(package)
        checks.append(Check(package, bool(version and version.startswith(wanted)),
                            version or "not installed", f"need {wanted}: {SETUP_FIX}"))
    return checks


def check_federated_computation() -> Check:
    """Run the course's 'hello' computation on the worker and time it."""
    try:
        import numpy as np
        import tensorflow_federated as tff

        @tff.federated_computation(tff.FederatedType(np.float32, tff.CLIENTS))
        def mean(values):
            return tff.federated_mean(values)

        start = time.perf_counter()
        result = mean([1.0, 2.0, 6.0])
        seconds = time.perf_counter() - start
    except Exception as e:  # noqa: BLE001 - report whatever went wrong
        return Check("federated computation", False, f"{type(e).__name__}: {e}", SETUP_FIX)
    ok = abs(float(result) - 3.0) < 1e-6
    return Check("federated computation", ok,
                 f"federated_mean([1, 2, 6]) = {float(result):g} in {seconds:.2f} s on "
                 f"this kernel's TFF worker", "" if ok else SETUP_FIX)


def _kill_fix(pids: list[int]) -> str:
    return f"each burns a CPU core: end them with `kill {' '.join(map(str, pids))}`"


def check_leftovers() -> Check:
    """Orphaned TFF workers: a problem when the course started them (it must never
    leave one), a warning when another program or TFF's own runtime did."""
    own, others = [], []
    for pid in workers.orphaned_workers():
        try:
            (own if workers.started_by_course(pid) else others).append(pid)
        except OSError:  # gone meanwhile
            continue
    if own:
        return Check("leftover TFF workers", False,
                     f"started by the course: pids {', '.join(map(str, own))}",
                     "the course processes that started these TFF workers are gone, and "
                     + _kill_fix(own))
    if others:
        return Check("leftover TFF workers", True, "none of the course's", warning=(
            f"TFF workers left by another program (pids {', '.join(map(str, others))}); "
            + _kill_fix(others)))
    return Check("leftover TFF workers", True, "none")


def check_data() -> Check:
    mode = data.requested_mode()
    try:
        source = data.resolve_source()
    except data.DataError as e:
        return Check("data", False, f"{data.DATA_ENV}={mode}", str(e))
    detail = f"{data.DATA_ENV}={mode}: {source.description}"
    if source.sqlite_path.exists():
        try:
            data.check_sqlite(source.sqlite_path)
        except data.DataError as e:
            return Check("data", False, detail, str(e))
        detail = f"{data.DATA_ENV}={mode}: {data.describe(source)} ({data.display_path(source.sqlite_path)})"
    else:
        detail += f"; will be {'built' if source.mode == 'sample' else 'downloaded'} " \
                  f"into {data.display_path(source.directory)} on first use"
    if source.mode != "emnist" and data.full_emnist_cached():
        detail += (f". TFF's full EMNIST is in {data.display_path(data.tff_cache_dir())}: "
                   f"{data.DATA_ENV}=emnist uses it")
    return Check("data", True, detail)


def run_checks() -> list[Check]:
    return [*check_versions(), check_federated_computation(), check_leftovers(), check_data()]


def doctor() -> bool:
    """Print each check with its fix; return True when everything is healthy."""
    checks = run_checks()
    for check in checks:
        print(f"[{'ok' if check.ok else 'PROBLEM'}] {check.name}: {check.detail}")
        if check.warning:
            print(f"      warning: {check.warning}")
        if not check.ok and check.fix:
            print(f"      fix: {check.fix}")
    healthy = all(c.ok for c in checks)
    print("The environment is healthy." if healthy else "Fix the problems above, then run "
          "`python -m course_utils doctor` again.")
    return healthy
