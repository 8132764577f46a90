"""Shared helpers for the course "Build your own federated learning algorithm" (TFF 0.87).

Importing this package applies the compatibility shims of its stack (before TensorFlow
and TFF are imported: `course_utils.runtime.compat`), checks the platform, and makes TFF
run computations on a worker process that stops with this Python process (see
`course_utils.runtime`).

The package map: three layers, and which notebook each module serves.

What learners call (this folder):
    data            EMNIST through TFF's loader: the bundled writers, full EMNIST (01-)
    models          the Keras models and their TFF wrappers (02-)
    settings        the course settings every builder and the CLI read
    training_loop   rounds with a progress bar, history, central evaluation (02-)
    tff_learning    tff.learning's FedAvg and federated evaluation, course settings (02, 03)
    evaluation      the one central evaluator: test loss and accuracy after a round (02-07)
    fedavg          the hand-built FedAvg, unweighted and example-weighted (05; reused
                    by 06-08)
    aggregation     the aggregation rules (07)
    partitions      IID / unequal-size re-partitions of the writers (07)
    plots           sample grids, label distributions, training curves (01-)
    exercises/      checkers per notebook (nbNN) and notebook 06's reference solutions
    repository      where the course lives (the Binder/Colab links' repository)
    benchmark_results  the recorded benchmarks/results/*.json, as notebooks show them (05)
What runs TFF (runtime/): compat (the shims of the modern stack), bootstrap (Colab's
first cell), context, workers, cluster, doctor, tff_private.
What builds the course (authoring/): syllabus, navigation, learner copies.
The terminal (cli/): main, experiment, algorithms (the one registry), builders.
"""

from course_utils.runtime import compat

compat.apply()

from course_utils.runtime.context import check_python  # noqa: E402

check_python()

from course_utils.runtime.context import install_execution_context, setup  # noqa: E402

install_execution_context()

from course_utils.data import load_emnist  # noqa: E402
from course_utils.runtime.doctor import doctor  # noqa: E402

__all__ = ["setup", "doctor", "load_emnist"]
