"""What runs TFF for the course: the compatibility shims of the modern stack (`compat`,
applied by `context.activate()` before anything imports TensorFlow), Colab's first cell
(`bootstrap`), its execution context on workers that die with their parent (`context`,
`workers`, `executor_stub`), several workers (`cluster`, `worker_service`), the
environment check (`doctor`) and the one place that touches TFF's private modules
(`tff_private`).

Learners call `course_utils.setup()`; the names below are for notebooks 00 and 08.
Importing this package imports neither TensorFlow nor TFF.
"""

_FROM_CONTEXT = ("activate", "check_python", "install_execution_context", "local_worker",
                 "seed_everything", "setup")


def __getattr__(name: str):  # lazily: `import course_utils.runtime.workers` stays light
    if name not in _FROM_CONTEXT:
        raise AttributeError(f"module 'course_utils.runtime' has no attribute {name!r}")
    from course_utils.runtime import context

    return getattr(context, name)
