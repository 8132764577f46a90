"""Shared helpers for the course "Build your own federated learning algorithm" (TFF 0.87).

Importing this package checks the Python version, and makes TFF run computations on a
worker process that stops with this Python process (see `course_utils.runtime`).
"""

from course_utils.runtime import check_python

check_python()

from course_utils.runtime import install_execution_context, setup  # noqa: E402

install_execution_context()

from course_utils.data import load_emnist  # noqa: E402
from course_utils.doctor import doctor  # noqa: E402

__all__ = ["setup", "doctor", "load_emnist"]
