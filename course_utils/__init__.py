"""Shared helpers for the course "Build your own federated learning algorithm" (TFF 0.87).

Importing this package does nothing else: no shims, no TensorFlow, no TFF context, so
the course's tools (`python -m course_utils nav`, `make book`) stay light. What TFF needs
happens in `course_utils.setup()` (every notebook's first call) or, in a script,
`course_utils.activate()`: the compatibility shims of the stack, before TensorFlow is
imported (`course_utils.runtime.compat`), the platform check, and TFF computations run
on a worker process that stops with this Python process (`course_utils.runtime`).

The package map, and which notebook each module serves.

What learners call (this folder):
    data            EMNIST through TFF's loader: the bundled writers, full EMNIST (01-)
    models          the Keras models (linear, CNN) and their TFF wrappers (02-)
    settings        the course settings every builder and the CLI read
    training_loop   rounds with a progress bar, history, central evaluation (02-)
    tff_learning    tff.learning's FedAvg and federated evaluation, course settings (02, 03)
    evaluation      the one central evaluator: test loss and accuracy after a round (02-)
    fedavg          the hand-built FedAvg, unweighted and example-weighted (05; reused after)
    variants        VariantProcess: what every hand-built variant of FedAvg returns (06-)
    aggregation     the aggregation rules (07)
    partitions      IID / unequal-size / label-skewed re-partitions of the writers (07, 09-)
    comparison      training algorithms on equal terms: same clients, same order (06)
    drift           client drift, measured (09)
    fedprox, scaffold, server_optimizers   the remedies for drift, built by hand (10)
    remedies        the remedies' comparison, one setting each (10)
    dp_fedavg       DP-FedAvg built by hand, and TFF's DP aggregators (11)
    privacy_accounting  (epsilon, delta) of a DP-FedAvg run with dp_accounting (11)
    secure_sum      what tff.federated_secure_sum_bitwidth computes (11)
    update_leakage  what one client's update reveals (11)
    plots           sample grids, label distributions, training curves (01-)
    diagrams        the course's diagrams, drawn by code: `diagrams.draw(name)` (02-)
    benchmark_results  the recorded runs over seeds, as tables (02, 05-07, 09, 10)
    exercises/      the checkers, one module per notebook (nbNN); _harness: what they share
Plumbing that learners do not call: emnist/ (sqlite, download, sample_writers: the data
files), repository (where the course lives: the Binder/Colab links; the one place a
fork edits, so it stays at the top).
What runs TFF (runtime/): compat (the shims of the modern stack), bootstrap (Colab's
first cell), context, malloc (the memory settings of the kernel and its workers),
workers, executor_stub, cluster, worker_service, doctor, tff_private.
What builds the course (authoring/): syllabus, navigation, learner_copy, exercise_cells,
diagram_cells, book.
What grades it (grading/, the instructors' grader): submissions, plan, kernel,
processes, in_kernel, grader, gradebook.
The terminal (cli/): main, experiment, algorithms (the one registry), builders.
"""

_LAZY = {  # name -> (module, attribute): imported on first use
    "activate": ("course_utils.runtime.context", "activate"),
    "setup": ("course_utils.runtime.context", "setup"),
    "doctor": ("course_utils.runtime.doctor", "doctor"),
    "load_emnist": ("course_utils.data", "load_emnist"),
    "diagrams": ("course_utils.diagrams", None),  # a notebook's diagram cell: one line
}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'course_utils' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    module = importlib.import_module(module)
    return module if attribute is None else getattr(module, attribute)

