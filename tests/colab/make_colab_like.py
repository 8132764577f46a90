"""Make this venv (the Colab-equivalent tier's, `make test-colab`) look like a Colab
runtime to the course. Run with that venv's Python.

    python tests/colab/make_colab_like.py                  # once, after pip install
    python tests/colab/make_colab_like.py --fresh-runtime  # before each run of the tier

- `google.colab` becomes importable (a `.pth` file puts tests/colab/fake_google_colab
  on the path) and is imported at every kernel start, as on Colab: an IPython startup
  file in <venv>/ipython, the IPYTHONDIR the tier runs kernels with.
- `--fresh-runtime` uninstalls what a fresh Colab runtime does not have (the course's
  package, TFF and the four packages it imports), so the notebooks' first cell must
  install them, as on Colab.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).resolve().parent / "fake_google_colab"
VENV = Path(sys.prefix)
STARTUP = VENV / "ipython" / "profile_default" / "startup" / "00-google-colab.py"


def make_colab_like() -> None:
    site_packages = Path(sysconfig.get_paths()["purelib"])
    (site_packages / "course_fake_google_colab.pth").write_text(f"{FAKE}\n")
    STARTUP.parent.mkdir(parents=True, exist_ok=True)
    STARTUP.write_text("import google.colab  # as in every Colab kernel (test stand-in)\n")


def fresh_runtime() -> None:
    names = ["course-utils"] + re.findall(
        r"^([A-Za-z0-9_.-]+)==", (ROOT / "requirements-tff-modern.txt").read_text(), re.M)
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *names],
                   check=True, stderr=subprocess.DEVNULL)
    print(f"fresh Colab-like runtime: uninstalled {', '.join(names)} (if present)")


if __name__ == "__main__":
    if sys.prefix == sys.base_prefix:
        sys.exit("run this with the tier's venv Python (.venv-colab/bin/python)")
    make_colab_like()
    if "--fresh-runtime" in sys.argv[1:]:
        fresh_runtime()
