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

from chromium import CHROMIUM, descendants, end_leftovers, launch, non_blank
from conftest import require_or_skip
from lab_server import LabServer, alive

from course_utils.authoring import syllabus

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
    started = time.perf_counter()
    scratch = tmp_path / "lab"
    lab_settings(scratch)
    lab = LabServer(Path(sys.executable).parent / "jupyter", course, scratch,
                    env={"COURSE_DATA": "sample"})
    lab.start()
    leftovers, browser_pids = [], {}
    launched = time.time()

    def remember_browser():  # our descendants outside JupyterLab's tree
        lab_tree = lab.remember_processes()
        browser_pids.update({pid: info for pid, info in descendants(since=launched).items()
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


def test_diagrams_and_the_glossary_in_jupyterlab(course, tmp_path):
    """A notebook opened as a learner first opens it (not trusted, not run) shows each
    diagram: JupyterLab picks the output's PNG (it shows an SVG output only in a trusted
    notebook), as wide as the notebook allows. (JupyterLab 4 gives output images no alt
    attribute: the output's `alt` metadata is for nbconvert and the book.) The footer's glossary link opens the
    glossary rendered (the course's JupyterLab settings: tools/jupyterlab-overrides.json).
    Set COURSE_E2E_SCREENSHOTS=DIR to keep the screenshots."""
    import nbformat

    from course_utils.authoring import diagram_cells

    scratch = tmp_path / "lab"
    lab_settings(scratch)
    overrides = json.loads((ROOT / "tools" / "jupyterlab-overrides.json").read_text())
    for plugin, values in overrides.items():  # as the course's environments install them
        package, name = plugin.rsplit(":", 1)
        path = scratch / "lab-settings" / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    shutil.copytree(ROOT / "notebooks", course / "notebooks", dirs_exist_ok=True)
    shots = Path(os.environ.get("COURSE_E2E_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    with_diagrams = {}
    for path in sorted((course / "notebooks").rglob("*.ipynb")):
        names = [n for n in map(diagram_cells.name_of,
                                nbformat.read(path, as_version=4).cells) if n]
        if names:
            with_diagrams[path.relative_to(course).as_posix()] = names
    assert len(with_diagrams) >= 3, with_diagrams
    lab = LabServer(Path(sys.executable).parent / "jupyter", course, scratch,
                    env={"COURSE_DATA": "sample"})
    lab.start()
    leftovers, browser_pids = [], {}
    launched = time.time()
    try:
        with sync_api.sync_playwright() as playwright:
            context = launch(playwright, tmp_path / "chromium-profile", viewport=(1400, 1000))
            browser_pids.update({pid: info for pid, info in descendants(since=launched).items()
                                 if pid not in lab.remember_processes()})
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                for path, names in with_diagrams.items():
                    look_at_diagrams(page, lab, path, names, shots)
                follow_the_glossary_link(page, lab, next(iter(with_diagrams)), shots)
            finally:
                lab.remember_processes()
                context.close()
        leftovers += end_leftovers(browser_pids, alive)
    finally:
        leftovers += lab.stop()
    assert not leftovers, f"processes left running: {leftovers}"


def open_notebook(page, lab, path: str):
    """`path` opened alone (`reset`: the tabs of earlier pages are not restored)."""
    page.goto(f"{lab.url}/lab/tree/{path}?reset&token={lab.token}")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    notebook.locator(".jp-RenderedMarkdown h1").first.wait_for()
    return notebook


def look_at_diagrams(page, lab, path: str, names: list[str], shots: Path) -> None:
    notebook = open_notebook(page, lab, path)
    for name in names:
        cell = notebook.locator(".jp-CodeCell", has_text=f'diagrams.draw("{name}")')
        image = cell.locator(".jp-RenderedImage img")
        image.scroll_into_view_if_needed()
        image.wait_for()
        page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=image.element_handle())
        width, natural, src = image.evaluate(
            "i => [i.getBoundingClientRect().width, i.naturalWidth, i.src.slice(0, 22)]")
        assert src == "data:image/png;base64,", f"{path}: {name} is not the PNG: {src}"
        assert width >= 700, f"{path}: {name} is {width} px wide (natural {natural})"
        solved = "-solved" if "/solutions/" in path else ""
        shot = shots / f"lab-{name}{solved}.png"
        image.screenshot(path=str(shot))
        ok, description = non_blank(shot)
        assert ok, f"{shot.name} looks blank: {description}"
        print(f"\nscreenshot {shot}: {description}")
    untrusted = notebook.locator(".jp-OutputArea-output", has_text="untrusted")
    assert untrusted.count() == 0, untrusted.first.inner_text()


def follow_the_glossary_link(page, lab, path: str, shots: Path) -> None:
    notebook = open_notebook(page, lab, path)
    link = notebook.locator(".jp-RenderedMarkdown a", has_text="the glossary").last
    link.scroll_into_view_if_needed()
    link.click()
    preview = page.locator(".jp-MarkdownViewer:not(.lm-mod-hidden) .jp-RenderedMarkdown h1")
    preview.first.wait_for()
    assert preview.first.inner_text().startswith("Glossary")
    shot = shots / "lab-glossary.png"
    page.screenshot(path=str(shot))
    print(f"\nscreenshot {shot}: {non_blank(shot)[1]}")
