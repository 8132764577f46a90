"""Regenerate one lock file from the venv it describes:

    python tools/lock.py classic .venv          # -> requirements.txt (Python 3.11)
    python tools/lock.py modern  .venv-colab    # -> requirements-modern.txt
    python tools/lock.py dev     .venv          # -> requirements-dev.txt (the test tools)
    python tools/lock.py book    .venv-book     # -> requirements-book.txt

To change a pin: edit it (or `VENV/bin/pip install -U NAME` in that venv), make the venv
(`make setup-dev`, `make .venv-colab/.installed`, `make book-deps`), then run the line
above and review `git diff`. A lock is the venv's `pip freeze --all` minus what other
files pin (the TFF packages, installed with --no-deps; the test tools, for a runtime
lock; the runtime pins, for the test tools' lock), the course itself and pip. The
file's opening comment and the comment after each pin are kept; pins are sorted.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# lock -> (its file, the files whose pins it leaves out)
LOCKS = {
    "classic": ("requirements.txt", ["requirements-tff.txt", "requirements-dev.txt"]),
    "modern": ("requirements-modern.txt", ["requirements-tff-modern.txt",
                                           "requirements-dev.txt"]),
    "dev": ("requirements-dev.txt", ["requirements.txt", "requirements-tff.txt",
                                     "requirements-modern.txt", "requirements-tff-modern.txt"]),
    "book": ("requirements-book.txt", []),
}
NEVER = {"pip", "course-utils"}
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s#;]+)\s*(#.*)?$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, tuple[str, str, str]]:
    """canonical name -> (name as written, version, comment) of each `name==version`."""
    found = {}
    for line in text.splitlines():
        if match := PIN.match(line.strip()):
            found[canonical(match[1])] = (match[1], match[2], match[3] or "")
    return found


def lock_text(lock: str, freeze: str, root: Path = ROOT) -> str:
    """The new text of `lock`'s file from a venv's `pip freeze --all` output."""
    path, others = LOCKS[lock]
    old = (root / path).read_text()
    header = "".join(f"{line}\n" for line in old.splitlines()[:_header_lines(old)])
    left_out = set(NEVER)
    for other in others:
        left_out |= set(pins((root / other).read_text()))
    old_pins = pins(old)
    lines = []
    # pip freeze's order: by name as written, lowercased
    for key, (name, version, _) in sorted(pins(freeze).items(),
                                          key=lambda item: item[1][0].lower()):
        if key in left_out or (key in ("setuptools", "wheel") and key not in old_pins):
            continue
        comment = old_pins.get(key, ("", "", ""))[2]
        lines.append(f"{name}=={version}" + (f"  {comment}" if comment else ""))
    return header + "\n".join(lines) + "\n"


def _header_lines(text: str) -> int:
    """How many lines the opening comment (up to the first pin) has."""
    for number, line in enumerate(text.splitlines()):
        if line.strip() and not line.lstrip().startswith("#"):
            return number
    return len(text.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lock", choices=sorted(LOCKS))
    parser.add_argument("venv", type=Path, help="the venv built from that lock")
    args = parser.parse_args()
    freeze = subprocess.run([str(args.venv / "bin" / "python"), "-m", "pip", "freeze", "--all"],
                            check=True, capture_output=True, text=True).stdout
    path = ROOT / LOCKS[args.lock][0]
    path.write_text(lock_text(args.lock, freeze))
    print(f"wrote {path.relative_to(ROOT)}: review it with `git diff`", file=sys.stderr)


if __name__ == "__main__":
    main()
