"""Where the course lives: the GitHub repository the Binder and Colab links open.

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


# The Binder link for the whole course (JupyterLab at notebooks/), used in messages.
BINDER_URL = binder_url()
