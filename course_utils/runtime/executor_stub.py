"""The gRPC stub through which the course reaches a TFF worker's executor service.

TFF 0.87's `RemoteExecutorGrpcStub` answers `is_ready` from a subscription to its
channel's connectivity. A subscription keeps a gRPC polling thread running for as long
as the channel is open. When the worker then stops at interpreter exit (the `atexit`
hook in `course_utils.runtime.workers`), that thread sees the connection go and starts
a thread to deliver the news, which Python 3.12 and later refuse: "RuntimeError: can't
create new thread at interpreter shutdown", printed as a traceback after a command
that succeeded (6 of 8 runs of `doctor` on Python 3.12.1).

`ExecutorStub` is TFF's stub without the subscription: it asks the worker when it needs
to know (`ready`), and `close()` closes its channel, which `Worker.stop()` does before
it stops the worker. No thread is left to notice the worker going. An executor TFF
keeps from before gets a retryable error from the closed stub and is built again.
"""

from __future__ import annotations

import grpc
from tensorflow_federated.proto.v0 import executor_pb2, executor_pb2_grpc
from tensorflow_federated.python.core.impl.executors import (
    executors_errors, remote_executor_grpc_stub, value_serialization,
)
from tensorflow_federated.python.core.impl.types import placements

_GRPC_MAX_MESSAGE_BYTES = 2 * 1000 * 1000 * 1000
GRPC_OPTIONS = [
    ("grpc.max_message_length", _GRPC_MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", _GRPC_MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", _GRPC_MAX_MESSAGE_BYTES),
    # After failed connections gRPC waits 1 s, 1.6 s, 2.6 s, ... up to 2 minutes before
    # it tries again, even when the worker is back meanwhile (a restart, a replacement
    # pod): measured, seconds of "connection refused". Try at least every second.
    ("grpc.max_reconnect_backoff_ms", 1000),
    # A worker being started is not listening yet at the first try: try again after
    # 0.1 s instead of 1 s (measured: `Worker().start()` took 0.9-1.2 s with gRPC's
    # default, 0.14-0.17 s with this, on both stacks).
    ("grpc.initial_reconnect_backoff_ms", 100),
]


class ExecutorStub(remote_executor_grpc_stub.RemoteExecutorGrpcStub):
    """TFF's gRPC stub of the executor service at one address, without a subscription
    to the channel's connectivity (see the module's docstring)."""

    def __init__(self, address: str):  # no super().__init__(): it would subscribe
        self.address = address
        self._channel = grpc.insecure_channel(address, GRPC_OPTIONS)
        self._stub = executor_pb2_grpc.ExecutorGroupStub(self._channel)

    def ready(self, timeout: float) -> bool:
        """Does the worker answer a real request (get an executor, dispose of it)
        within `timeout` seconds? Waits for the connection meanwhile."""
        request = executor_pb2.GetExecutorRequest(
            cardinalities=value_serialization.serialize_cardinalities({placements.CLIENTS: 0}))
        try:
            executor = self._stub.GetExecutor(request, timeout=timeout,
                                              wait_for_ready=True).executor
            self._stub.DisposeExecutor(executor_pb2.DisposeExecutorRequest(executor=executor),
                                       timeout=timeout)
        except (grpc.RpcError, executors_errors.RetryableError):
            return False
        return True

    @property
    def is_ready(self) -> bool:
        """True when the worker answers within a second."""
        return self.ready(timeout=1.0)

    def close(self) -> None:
        """Close the channel (idempotent). Calls made afterwards fail as retryable, as
        calls to a worker that is gone do, so TFF builds its executor again, on the
        stub of the worker that runs now."""
        self._channel.close()
        self._stub = _ClosedChannel(self.address)


class _ClosedChannel:
    """Stands in for the gRPC stub of a closed channel: every call raises TFF's
    RetryableError (a closed gRPC channel raises a plain ValueError, which TFF does not
    retry)."""

    def __init__(self, address: str):
        self.address = address

    def __getattr__(self, method: str):
        def closed(*args, **kwargs):
            raise executors_errors.RetryableError(
                f"{method}: the channel to the TFF worker at {self.address} is closed "
                "(the worker was stopped)")
        return closed
