"""`make test` runs in two pytest-xdist processes; the tests that judge or disturb the
whole machine's processes must share one xdist group (conftest.MACHINE_WIDE), or one of
them could see the other's workers as leftovers."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _machine_wide() -> set[str]:
    """conftest.MACHINE_WIDE of the project's root conftest.py (not tests/conftest.py)."""
    tree = ast.parse((ROOT / "conftest.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "MACHINE_WIDE":
            return ast.literal_eval(node.value)
    raise AssertionError("conftest.py defines no MACHINE_WIDE")


# What marks a test file as machine-wide: it runs the doctor (its leftover check), scans
# every process, or makes an orphan on purpose.
MACHINE_WIDE_CALLS = re.compile(
    r"orphaned_workers\(|running_pids\(|check_leftovers\(|\[\"doctor\"\]|doctor\(\)|SUBREAPER")


def _test_files() -> list[Path]:
    return sorted([*ROOT.glob("tests/test_*.py"), *ROOT.glob("tests/e2e/test_*.py")])


def test_every_machine_wide_name_is_a_real_file():
    names = {p.name for p in _test_files()} | {p.name for p in ROOT.glob("notebooks/*.ipynb")}
    assert _machine_wide() <= names, _machine_wide() - names


def test_every_file_that_scans_the_machine_is_in_the_group():
    scanning = {p.name for p in _test_files()
                if p.name != "test_parallel.py" and MACHINE_WIDE_CALLS.search(p.read_text())}
    scanning |= {p.name for p in ROOT.glob("notebooks/*.ipynb")
                 if "course_utils.doctor()" in p.read_text()}
    assert scanning <= _machine_wide(), scanning - _machine_wide()
