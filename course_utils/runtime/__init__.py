"""What runs TFF for the course: the compatibility shims of the modern stack (`compat`,
applied here, before anything imports TensorFlow), Colab's first cell (`bootstrap`), its
execution context on workers that die with their parent (`context`, `workers`), several
workers (`cluster`), the environment check (`doctor`) and the one place that touches
TFF's private modules (`tff_private`).

Learners call `course_utils.setup()`; the names below are for notebooks 00 and 08.
"""

from course_utils.runtime import compat

compat.apply()  # before context (and through it TensorFlow) is imported

from course_utils.runtime.context import (  # noqa: E402, F401
    check_python, install_execution_context, local_worker, seed_everything, setup,
)
