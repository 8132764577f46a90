"""`make lab` (the README's first command) starts JupyterLab serving notebooks/."""

import json
import os
import signal
import subprocess
import time
import urllib.request

from conftest import ROOT

from course_utils.runtime.workers import free_port


NOTIFICATION_SETTINGS = "@jupyterlab/apputils-extension:notification"


def no_news_toast(port: int, token: str) -> bool:
    """JupyterLab's effective settings: never fetch news, so no "get notified about
    official Jupyter news?" toast (tools/jupyterlab-overrides.json, installed by make)."""
    url = f"http://127.0.0.1:{port}/lab/api/settings/{NOTIFICATION_SETTINGS}?token={token}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    # overrides.json changes the schema's defaults; the user's own settings come on top
    effective = {name: spec.get("default") for name, spec in answer["schema"]["properties"].items()}
    effective.update(answer.get("settings") or {})
    return effective["fetchNews"] == "false" and effective["checkForUpdates"] is False


def test_overrides_turn_the_news_toast_off():
    overrides = json.loads((ROOT / "tools" / "jupyterlab-overrides.json").read_text())
    assert overrides[NOTIFICATION_SETTINGS] == {"checkForUpdates": False, "fetchNews": "false"}


def test_overrides_open_markdown_files_rendered():
    """The notebooks' footers link the glossary, a .md file: a click shows it rendered,
    not in the text editor."""
    overrides = json.loads((ROOT / "tools" / "jupyterlab-overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"markdown": "Markdown Preview"}


def test_make_lab_serves_the_course(tmp_path):
    port, token = free_port(), "course-test"
    log = open(tmp_path / "lab.log", "w")
    lab = subprocess.Popen(
        ["make", "-s", "lab", f"LAB_ARGS=--no-browser --port={port} --ip=127.0.0.1 "
         f"--IdentityProvider.token={token}"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")})
    try:
        url = f"http://127.0.0.1:{port}/api/contents?token={token}"
        listing = None
        for _ in range(120):
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    listing = json.load(response)
                break
            except OSError:
                time.sleep(0.5)
        assert listing, (tmp_path / "lab.log").read_text()[-3000:]
        names = {item["name"] for item in listing["content"]}
        assert "00_setup_and_hello_federated.ipynb" in names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}") as page:
            assert b"JupyterLab" in page.read()
        assert no_news_toast(port, token)
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)
        log.close()
