"""COURSE_REQUIRE_TIERS=1 (set by .ci/run) turns every environment-dependent skip into
a failure, so CI proves every tier of the README (see tests/conftest.py)."""

import re
from pathlib import Path

import pytest

from conftest import REQUIRE_TIERS_ENV, require_or_skip

TESTS = Path(__file__).resolve().parent

# Skips that do not depend on the environment, by file: (what the line contains, why).
NOT_ENVIRONMENT_SKIPS = {
    "test_structure.py": ("not in the syllabus", "reported by another test"),
    "test_binder.py": ("make test-binder", "opt-in for speed; CI runs it when its inputs changed"),
    "test_compat.py": ("modern_only = pytest.mark.skipif",
                       "the modern stack's shims: make test-colab runs them there"),
}


def test_without_the_switch_a_missing_tier_skips(monkeypatch):
    monkeypatch.delenv(REQUIRE_TIERS_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no widget"):
        require_or_skip("no widget here")


def test_with_the_switch_a_missing_tier_fails(monkeypatch):
    monkeypatch.setenv(REQUIRE_TIERS_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=f"no widget.*{REQUIRE_TIERS_ENV}=1"):
        require_or_skip("no widget here")


def test_every_environment_skip_goes_through_require_or_skip():
    """A bare pytest.skip / skipif / importorskip would skip silently even in CI."""
    bare = re.compile(r"pytest\.(skip\(|mark\.skipif|importorskip)")
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name in ("conftest.py", Path(__file__).name):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            allowed = NOT_ENVIRONMENT_SKIPS.get(path.name, ("\0",))[0]
            if bare.search(line) and allowed not in line:
                found.append(f"{path.relative_to(TESTS)}:{number}: {line.strip()}")
    assert not found, "use conftest.require_or_skip(reason) instead:\n" + "\n".join(found)


def test_ci_sets_the_switch():
    ci = (TESTS.parent / ".ci" / "run").read_text()
    assert re.search(rf"^export {REQUIRE_TIERS_ENV}=1$", ci, re.M), ci


def test_without_the_shared_folder_its_checks_skip_even_when_tiers_are_required(
        tmp_path, monkeypatch):
    """A clone or a fork has no ../shared: its checks skip there, also in CI."""
    import conftest

    monkeypatch.setenv(REQUIRE_TIERS_ENV, "1")
    monkeypatch.setattr(conftest, "SHARED", tmp_path / "shared")
    with pytest.raises(pytest.skip.Exception, match="not in a clone or a fork"):
        conftest.require_shared(tmp_path / "shared" / "colab" / "pip-freeze.txt")
    (tmp_path / "shared").mkdir()
    with pytest.raises(pytest.fail.Exception, match="pip-freeze.txt is not in"):
        conftest.require_shared(tmp_path / "shared" / "colab" / "pip-freeze.txt")
