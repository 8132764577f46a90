"""Where the course lives: the GitHub repository the Binder and Colab links, the web
book's links to source files and its address on GitHub Pages all name.

Forking the course? `REPOSITORY` is the ONE place that names the repository: set it to
your fork ("owner/name") and run `python -m course_utils nav`, which rewrites every link.
No dependencies: the runtime (for its messages) and the syllabus both read it.
"""

# "tff-course/build-your-own-fl" is a PLACEHOLDER: set your repository here.
REPOSITORY = "tff-course/build-your-own-fl"
BRANCH = "main"

NOTEBOOK_DIR = "notebooks"  # relative to the repository root
SOLUTIONS_DIR = "solutions"  # relative to NOTEBOOK_DIR

BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def binder_url(path: str | None = None) -> str:
    """Binder link opening JupyterLab at `path` (from the repository root), or at the
    notebooks folder."""
    return (f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}"
            f"?urlpath=lab/tree/{path or NOTEBOOK_DIR}")


def colab_url(path: str) -> str:
    """Colab link opening the notebook at `path` (from the repository root)."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{path}"


def source_url(path: str = "") -> str:
    """A file or folder of the repository (`path` from its root) on GitHub; with no
    path, the repository itself."""
    return f"https://github.com/{REPOSITORY}" + (f"/blob/{BRANCH}/{path}" if path else "")


def book_url() -> str:
    """Where GitHub Pages publishes the course's web book (.github/workflows/book.yml)."""
    owner, name = REPOSITORY.split("/")
    return f"https://{owner.lower()}.github.io/{name}/"


# The Binder link for the whole course (JupyterLab at notebooks/), used in messages.
BINDER_URL = binder_url()
