"""Secure aggregation in TFF 0.87: what `tff.federated_secure_sum_bitwidth` computes.

Secure aggregation is a cryptographic protocol (Bonawitz et al. 2017) by which the
server learns the SUM of the clients' integer vectors and nothing else about any one
of them. In TFF it is the intrinsic `tff.federated_secure_sum_bitwidth(value, bitwidth)`:
each client's value is an integer in [0, 2^bitwidth - 1], the server gets the sum.

What runs here, and what does not:

- TFF 0.87's native runtime (the course's worker) does not implement the secure
  intrinsics: calling such a computation fails with an `_InactiveRpcError`.
- `simulated_secure_aggregation()` runs them on the course's own worker (which dies with
  this process) after TFF's test compiler (`tff.backends.test`'s
  `replace_secure_intrinsics_with_bodies`) has rewritten each secure sum into a plain
  sum that first checks every value is in range. It SIMULATES secure aggregation's
  RESULT; it does not run the cryptographic protocol, and nothing is hidden from
  anyone in this simulation. (`tff.backends.test.set_sync_test_cpp_execution_context()`
  does the same but starts a worker of its own, which can outlive its process.)

Secure sums add integers, so floats are quantized first (`quantize` / `dequantize_sum`):
clip to [-value_range, value_range], map linearly to the integers 0 .. 2^bits - 2 (an
odd number of levels, so that 0.0 is one of them: updates are full of exact zeros),
round; the server decodes the integer sum. The error per client and coordinate is at
most half a quantization step, `step(value_range, bits) / 2`.
"""

from __future__ import annotations

import contextlib

import numpy as np

MAX_SUM_BITS = 31  # the simulated sum is an int32 (TFF's own secure sums go up to 62 bits)


# --- quantization ----------------------------------------------------------------------

def step(value_range: float, bits: int) -> float:
    """The quantization step: the width of [-value_range, value_range] / (2^bits - 2),
    so that the levels 0 .. 2^bits - 2 include 0.0 (level 2^(bits-1) - 1)."""
    return 2.0 * value_range / (2 ** bits - 2)


def _check(value_range, bits):
    if not value_range > 0:
        raise ValueError(f"value_range must be positive, got {value_range}.")
    if not 2 <= bits <= MAX_SUM_BITS - 1:
        raise ValueError(f"bits must be between 2 and {MAX_SUM_BITS - 1}, got {bits}.")


def quantize(values, value_range: float, bits: int) -> np.ndarray:
    """Floats -> int32 in [0, 2^bits - 2]: clip to +-value_range, shift, scale, round."""
    _check(value_range, bits)
    clipped = np.clip(np.asarray(values, np.float64), -value_range, value_range)
    return np.round((clipped + value_range) / step(value_range, bits)).astype(np.int32)


def dequantize_sum(total, num_clients: int, value_range: float, bits: int) -> np.ndarray:
    """The float sum from the integer sum of `num_clients` quantized vectors. Each
    client's value range starts at -value_range, so the server must know how many
    clients are in the sum."""
    _check(value_range, bits)
    return np.asarray(total, np.float64) * step(value_range, bits) - num_clients * value_range


def sum_bits_needed(bits: int, num_clients: int) -> int:
    """Bits the SUM of `num_clients` values of `bits` bits can need."""
    return int(np.ceil(np.log2(num_clients * (2 ** bits - 1) + 1)))


def check_fits(bits: int, num_clients: int) -> None:
    """Raise if the simulated int32 sum of `num_clients` values could overflow."""
    needed = sum_bits_needed(bits, num_clients)
    if needed > MAX_SUM_BITS:
        raise ValueError(f"{num_clients} values of {bits} bits need {needed} bits for "
                         f"their sum; this simulation sums in int32 ({MAX_SUM_BITS} "
                         "bits). Use fewer bits or fewer clients.")


# --- running secure sums ---------------------------------------------------------------

def _compile_secure_as_plain(computation):
    """TFF's test compiler: secure intrinsics -> plain, range-checked sums; then TFF's
    native compiler, as the course's runtime uses it."""
    from tensorflow_federated.python.core.backends.native import compiler
    from tensorflow_federated.python.core.backends.test import compiler as test_compiler

    computation = test_compiler.replace_secure_intrinsics_with_bodies(computation)
    return compiler.desugar_and_transform_to_native(computation)


@contextlib.contextmanager
def simulated_secure_aggregation():
    """Inside this block, TFF computations that use secure intrinsics run: on the
    course's own worker (it dies with this process), with every secure sum compiled
    into a plain sum. A simulation of the protocol's result, not the protocol."""
    from tensorflow_federated.python.core.impl.context_stack import context_stack_impl

    from course_utils.runtime import context as runtime

    context = runtime.create_worker_context(compiler_fn=_compile_secure_as_plain)
    with context_stack_impl.context_stack.install(context):
        yield context


def secure_sum_computation(value_type, bitwidth: int):
    """({value_type}@CLIENTS -> value_type@SERVER) by `tff.federated_secure_sum_bitwidth`.
    `value_type`: an integer TFF type, e.g. tff.TensorType(np.int32, [784])."""
    import tensorflow_federated as tff

    @tff.federated_computation(tff.FederatedType(value_type, tff.CLIENTS))
    def secure_total(client_values):
        return tff.federated_secure_sum_bitwidth(client_values, bitwidth)

    return secure_total


def secure_float_sum_computation(length: int, value_range: float, bits: int):
    """Quantize on each client, secure-sum, decode on the server:

        ({float32[length]}@CLIENTS -> <sum=float32[length], clients=int32>@SERVER)

    The number of clients in the sum is itself a secure sum of ones (the decoder needs
    it)."""
    import tensorflow as tf
    import tensorflow_federated as tff

    _check(value_range, bits)
    quantum = step(value_range, bits)
    vector = tff.TensorType(np.float32, [length])
    integers = tff.TensorType(np.int32, [length])

    @tff.tensorflow.computation(vector)
    def encode(values):
        clipped = tf.clip_by_value(values, -value_range, value_range)
        return tf.cast(tf.round((clipped + value_range) / quantum), tf.int32)

    @tff.tensorflow.computation
    def one():
        return tf.constant(1, tf.int32)

    @tff.tensorflow.computation(integers, np.int32)
    def decode(total, clients):
        as_float = tf.cast(total, tf.float64) * quantum
        return tf.cast(as_float - tf.cast(clients, tf.float64) * value_range, tf.float32)

    @tff.federated_computation(tff.FederatedType(vector, tff.CLIENTS))
    def secure_float_sum(client_values):
        codes = tff.federated_map(encode, client_values)
        total = tff.federated_secure_sum_bitwidth(codes, bits)
        clients = tff.federated_secure_sum_bitwidth(tff.federated_eval(one, tff.CLIENTS), 1)
        return tff.federated_zip(
            {"sum": tff.federated_map(decode, (total, clients)), "clients": clients})

    return secure_float_sum


def quantization_error(values, value_range: float, bits: int) -> dict:
    """Measured error of summing `values` ([clients, ...]) through quantization, in
    NumPy: the largest absolute error of the sum, and the bound clients x step / 2."""
    values = np.asarray(values, np.float64)
    codes = quantize(values, value_range, bits)
    decoded = dequantize_sum(codes.astype(np.int64).sum(axis=0), len(values), value_range,
                             bits)
    exact = np.clip(values, -value_range, value_range).sum(axis=0)
    return {"max_error": float(np.max(np.abs(decoded - exact))),
            "bound": len(values) * step(value_range, bits) / 2}
