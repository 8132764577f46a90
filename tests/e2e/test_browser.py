"""End to end in a real browser: JupyterLab serves the course, headless Chromium opens
notebook 00 at the Binder badge's path, checks that it renders with its title and
badges, clears its outputs and runs all cells through JupyterLab's menus, checks the
results, takes a screenshot that must not be blank, and then stops JupyterLab and every
process the test started (the kernel and its TFF worker, Chromium) - checked by pid.

Needs Debian's chromium (`apt-get install chromium`; no browser downloads here) and
Python's playwright (requirements-dev.txt); `make test-browser` (and `make test`)
install both. Set COURSE_E2E_SCREENSHOT=path.png to keep the screenshot.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from chromium import CHROMIUM, MISSING, descendants, end_leftovers, launch, non_blank
from conftest import require_or_skip
from lab_server import LabServer, alive, load_syllabus

try:
    from playwright import sync_api
except ImportError:
    require_or_skip("playwright is not installed: `make test-browser`",
                    allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "00_setup_and_hello_federated.ipynb"
TIMEOUT_MS = 180_000

if not Path(CHROMIUM).exists():
    require_or_skip(f"no Chromium at {CHROMIUM}: `make test-browser` installs Debian's "
                    "chromium", allow_module_level=True)


@pytest.fixture
def course(tmp_path):
    """A copy of the course (notebooks + README), so JupyterLab's autosave cannot touch
    the repository's notebooks."""
    root = tmp_path / "course"
    shutil.copytree(ROOT / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(ROOT / "README.md", root / "README.md")
    return root


def lab_settings(scratch: Path) -> None:
    """Render every cell (no windowing), so the test sees all of them; no news toast."""
    for plugin, values in (("notebook-extension/tracker", {"windowingMode": "none"}),
                           ("apputils-extension/notification",
                            {"fetchNews": "false", "checkForUpdates": False})):
        path = scratch / "lab-settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def test_notebook_00_renders_and_runs_in_jupyterlab(course, tmp_path):
    syllabus = load_syllabus()
    started = time.perf_counter()
    scratch = tmp_path / "lab"
    lab_settings(scratch)
    lab = LabServer(Path(sys.executable).parent / "jupyter", course, scratch,
                    env={"COURSE_DATA": "sample"})
    lab.start()
    leftovers, browser_pids = [], {}

    def remember_browser():  # our descendants outside JupyterLab's tree
        lab_tree = lab.remember_processes()
        browser_pids.update({pid: info for pid, info in descendants().items()
                             if pid not in lab_tree})

    try:
        with sync_api.sync_playwright() as playwright:
            context = launch(playwright, tmp_path / "chromium-profile")
            remember_browser()
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                run_notebook_through_the_ui(page, lab, syllabus, tmp_path)
            finally:
                remember_browser()
                context.close()
        leftovers += end_leftovers(browser_pids, alive)
    finally:
        leftovers += lab.stop()
    assert not leftovers, f"processes left running: {leftovers}"
    names = {name for name, _ in lab.seen.values()}
    assert "worker_binary" in names, f"the kernel's TFF worker was not seen: {names}"
    print(f"\nbrowser test: {time.perf_counter() - started:.1f} s, "
          f"stopped {len(lab.seen)} server/kernel/worker and {len(browser_pids)} "
          "browser processes")


def run_notebook_through_the_ui(page, lab, syllabus, tmp_path):
    # The Binder badge opens exactly this path: lab/tree/notebooks/<notebook>.
    page.goto(f"{lab.url}/lab/tree/notebooks/{NOTEBOOK}?token={lab.token}")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    title = notebook.locator(".jp-RenderedMarkdown h1").first
    title.wait_for()
    assert title.inner_text().startswith('00 · Setup and "Hello, federated world"')
    path = f"notebooks/{NOTEBOOK}"
    for alt, url in (("Open in Binder", syllabus.binder_url(path)),
                     ("Open in Colab", syllabus.colab_url(path))):
        badge = notebook.locator(f'a:has(img[alt="{alt}"])').first
        assert badge.get_attribute("href") == url
    # wait for the kernel, then clear the stored outputs and run everything via menus
    page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for()
    prompts = notebook.locator(".jp-CodeCell .jp-InputArea-prompt")
    cells = prompts.count()
    assert cells >= 5
    click_menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(
        """() => ![...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                 .some(p => /\\[\\d+\\]/.test(p.textContent))""")
    outputs = notebook.locator(".jp-OutputArea-output")
    assert outputs.count() == 0
    click_menu(page, "Run", "Run All Cells")
    page.wait_for_function(
        """(n) => {
             const prompts = [...document.querySelectorAll(
               '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')];
             return prompts.length === n && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
           }""", arg=cells, timeout=TIMEOUT_MS)
    page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for()
    text = "\n".join(outputs.all_inner_texts())
    for expected in ("TFF 0.87.0", "The environment is healthy.",
                     "({float32}@CLIENTS -> float32@SERVER)", "69.53333", "Hello, World!"):
        assert expected in text, f"missing output: {expected}"
    errors = notebook.locator(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    assert errors.count() == 0, errors.first.inner_text()
    lab.remember_processes()  # the kernel and its TFF worker, to check they stop
    notebook.locator(".jp-Cell").first.scroll_into_view_if_needed()
    shot = Path(os.environ.get("COURSE_E2E_SCREENSHOT", tmp_path / "notebook00.png"))
    page.screenshot(path=str(shot))
    ok, description = non_blank(shot)
    assert ok, f"screenshot looks blank: {description}"
    print(f"\nscreenshot {shot}: {description}")


def click_menu(page, menu: str, item: str) -> None:
    exactly = lambda text: re.compile(f"^{re.escape(text)}$")  # noqa: E731
    page.locator(".lm-MenuBar-itemLabel", has_text=exactly(menu)).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=exactly(item)).first.click()
