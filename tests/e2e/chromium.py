"""Headless Chromium for the browser tests: Debian's chromium (never a downloaded
browser), driven by playwright (requirements-dev.txt)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
MISSING = f"no Chromium at {CHROMIUM}: `make test-browser` installs Debian's chromium"


def launch(playwright, profile: Path, viewport=(1400, 1800)):
    """A persistent context with a fresh profile (a fresh --user-data-dir)."""
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
        viewport={"width": viewport[0], "height": viewport[1]})


def descendants(since: float) -> dict[int, tuple[str, float]]:
    """This test process's descendants started at `since` (a time.time()) or later:
    pid -> (name, start time). Not older ones: under pytest-xdist the same process ran
    other tests before, and keeps, e.g., the course's local TFF worker."""
    found = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.create_time() >= since - 1:  # create_time is rounded to clock ticks
                found[proc.pid] = (proc.name(), proc.create_time())
        except psutil.Error:
            pass
    return found


def end_leftovers(processes: dict[int, tuple[str, float]], alive) -> list[str]:
    """Wait for `processes` to end; kill (by pid) and return those still running."""
    leftovers = []
    for pid, (name, created) in processes.items():
        deadline = time.monotonic() + 10
        while alive(pid, created) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid, created):
            leftovers.append(f"{name} (pid {pid})")
            os.kill(pid, 9)
    return leftovers


def non_blank(png: Path) -> tuple[bool, str]:
    from PIL import Image, ImageStat

    image = Image.open(png).convert("RGB")
    gray = image.convert("L")
    colors = image.getcolors(maxcolors=1 << 20) or []
    dark = sum(1 for value in gray.getdata() if value < 128) / (gray.width * gray.height)
    spread = ImageStat.Stat(gray).stddev[0]
    ok = len(colors) > 50 and dark > 0.005 and spread > 10
    return ok, f"{image.size}, {len(colors)} colours, {dark:.1%} dark pixels, sd {spread:.0f}"
