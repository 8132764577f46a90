"""The one place the course reaches into TFF 0.87's private modules.

TFF's public API builds its local runtime only on a worker it starts itself (and never
stops); the course needs the same runtime on workers it controls. These are the pieces
`tff.backends.native` wires together, taken as they are. Check them first when moving
to another TFF version.
"""

from __future__ import annotations

from typing import Callable


def native_context(stub_fn: Callable[[], object], default_num_clients: int = 0, *,
                   asynchronous: bool, compiler_fn=None):
    """TFF's native execution context (its compiler and RemoteExecutor) on the worker
    whose gRPC stub `stub_fn()` returns: sync (TFF's default context) or async (one
    member of a mergeable, multi-worker context). `compiler_fn` replaces TFF's native
    compiler (course_utils.secure_sum puts a transformation in front of it)."""
    from tensorflow_federated.python.core.backends.native import compiler
    from tensorflow_federated.python.core.environments.tensorflow_frontend import (
        tensorflow_computation,
    )
    from tensorflow_federated.python.core.impl.execution_contexts import (
        async_execution_context, sync_execution_context,
    )
    from tensorflow_federated.python.core.impl.executor_stacks import (
        python_executor_stacks,
    )
    from tensorflow_federated.python.core.impl.executors import remote_executor
    from tensorflow_federated.python.core.impl.types import placements

    def executor_for(cardinalities):
        cardinalities.setdefault(placements.CLIENTS, default_num_clients)
        executor = remote_executor.RemoteExecutor(stub_fn())
        executor.set_cardinalities(cardinalities)
        return executor

    context_class = (async_execution_context.AsyncExecutionContext if asynchronous
                     else sync_execution_context.SyncExecutionContext)
    return context_class(
        executor_fn=python_executor_stacks.ResourceManagingExecutorFactory(
            executor_stack_fn=executor_for),
        compiler_fn=compiler_fn or compiler.desugar_and_transform_to_native,
        transform_args=tensorflow_computation.transform_args,
        transform_result=tensorflow_computation.transform_result,
    )


def context_stack():
    """TFF's global context stack (to install the course's default context)."""
    from tensorflow_federated.python.core.impl.context_stack import context_stack_impl

    return context_stack_impl.context_stack
