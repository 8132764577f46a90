"""tools/retry.sh: every pip install of the Makefile is tried again when it fails (a
registry download that broke off mid-file once failed a whole CI run)."""

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RETRY = ROOT / "tools" / "retry.sh"


def _flaky(tmp_path, failures):
    """A command that fails its first `failures` runs, counting runs in a file."""
    count = tmp_path / "runs"
    script = tmp_path / "flaky.sh"
    script.write_text(f"#!/usr/bin/env bash\nn=$(( $(cat {count} 2>/dev/null || echo 0) + 1 ))\n"
                      f"echo $n > {count}\n[ $n -gt {failures} ] || exit 7\n")
    script.chmod(0o755)
    return script, count


def _retry(command):
    return subprocess.run([RETRY, command], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "RETRY_WAIT": "0"})


def test_a_command_that_fails_twice_succeeds_on_the_third_try(tmp_path):
    command, runs = _flaky(tmp_path, failures=2)
    result = _retry(command)
    assert result.returncode == 0, result.stderr
    assert runs.read_text().strip() == "3"
    assert "try 2 of 3" in result.stderr


def test_a_command_that_always_fails_stops_after_three_tries_with_its_status(tmp_path):
    command, runs = _flaky(tmp_path, failures=99)
    result = _retry(command)
    assert result.returncode == 7
    assert runs.read_text().strip() == "3"
    assert "failed 3 times" in result.stderr and "run the same make command again" in result.stderr


def test_a_command_that_succeeds_runs_once(tmp_path):
    command, runs = _flaky(tmp_path, failures=0)
    assert _retry(command).returncode == 0
    assert runs.read_text().strip() == "1"


def test_every_pip_install_in_the_makefile_goes_through_retry():
    bare = [line for line in (ROOT / "Makefile").read_text().splitlines()
            if line.startswith("\t") and re.search(r"pip install", line)
            and not line.lstrip().startswith("$(RETRY) ")]
    assert not bare, bare
