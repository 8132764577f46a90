"""Checkers for notebook 04's exercises (the Federated Core).

Each exercise asks for a function `make_...()` that defines the computations and
returns the federated computation. (A decorated computation is traced as soon as it is
defined, so the stub is a plain function: an untouched stub raises NotImplementedError
when the checker calls it, which reports "not attempted yet".)

1. `make_fraction_above()` -> ({float32}@CLIENTS, float32@SERVER -> float32@SERVER):
   the fraction of clients whose reading is strictly above the server's threshold.
2. `make_mean_of_client_means()` -> ({float32*}@CLIENTS -> float32@SERVER): every
   client averages its own sequence of readings, the server averages those client
   means, each client counting once.
"""

from __future__ import annotations

from course_utils.exercises import Mistake, checker

TOLERANCE = 1e-5


def _computation(make, name: str):
    """Call the learner's `make_...()` and return the computation it builds."""
    import tensorflow_federated as tff

    computation = make()
    if computation is None:
        raise Mistake(f"{make.__name__}() returned None: end it with `return {name}`.")
    if not isinstance(computation, tff.Computation):
        raise Mistake(f"{make.__name__}() should return a TFF computation (the function "
                      f"decorated with @tff.federated_computation(...)), but it returned "
                      f"a {type(computation).__name__}.")
    return computation


def _parameter_types(signature) -> list[str]:
    import tensorflow_federated as tff

    parameter = signature.parameter
    if parameter is None:
        return []
    if isinstance(parameter, tff.StructType):
        return [str(t) for t in parameter]
    return [str(parameter)]


def _check_result_type(signature, what: str) -> None:
    result = str(signature.result)
    if result == "float32@SERVER":
        return
    if result.endswith("@CLIENTS"):
        raise Mistake(f"the result is still at the clients ({result}): the server needs "
                      f"one number, {what}. Aggregate the client values with "
                      "tff.federated_mean.")
    raise Mistake(f"the result should be one float32 at the server (float32@SERVER), "
                  f"yours is {result}.")


def _near(got, expected: float) -> bool:
    try:
        return abs(float(got) - expected) <= TOLERANCE
    except (TypeError, ValueError):
        return False


# --- exercise 4.1 ----------------------------------------------------------------------

FRACTION_CASES = [
    ([1.0, 5.0, 7.0, 4.0, 9.0], 4.0),   # one reading equals the threshold
    ([10.0, 20.0, 30.0, 40.0], 25.0),
    ([-1.0, 0.5, 2.0], 0.0),
]


@checker("Exercise 4.1 · fraction of clients above a threshold")
def check_fraction_above(make_fraction_above):
    """Exercise 4.1: grade `make_fraction_above()`, which returns the federated
    computation (<readings={float32}@CLIENTS, threshold=float32@SERVER> -> float32@SERVER):
    the fraction of clients whose reading is strictly above the threshold, no reading
    leaving its client."""
    computation = _computation(make_fraction_above, "fraction_above")
    signature = computation.type_signature
    params = _parameter_types(signature)
    if len(params) != 2:
        raise Mistake(f"fraction_above should take two arguments, the clients' readings "
                      f"and the server's threshold; its type signature is {signature}.")
    if params[0] != "{float32}@CLIENTS":
        raise Mistake(f"the readings (first argument) should be one float32 per client, "
                      f"{{float32}}@CLIENTS = tff.FederatedType(np.float32, tff.CLIENTS); "
                      f"yours is {params[0]}.")
    if params[1] != "float32@SERVER":
        raise Mistake(f"the threshold (second argument) is one value held by the server, "
                      f"float32@SERVER = tff.FederatedType(np.float32, tff.SERVER); yours "
                      f"is {params[1]}.")
    _check_result_type(signature, "the fraction of clients")
    for readings, threshold in FRACTION_CASES:
        got = computation(readings, threshold)
        n = len(readings)
        above = sum(r > threshold for r in readings)
        expected = above / n
        if _near(got, expected):
            continue
        call = f"fraction_above({readings}, {threshold})"
        if _near(got, above):
            raise Mistake(f"{call} returned {float(got):g}: that is how many clients are "
                          f"above the threshold, not the fraction ({expected:g}). "
                          "tff.federated_mean of 0/1 values gives the fraction.")
        if _near(got, sum(r >= threshold for r in readings) / n):
            raise Mistake(f"{call} returned {float(got):g}, expected {expected:g}: a "
                          "reading equal to the threshold is not above it. Compare with "
                          "`>`, not `>=`.")
        if _near(got, 1 - expected) or _near(got, sum(r < threshold for r in readings) / n):
            raise Mistake(f"{call} returned {float(got):g}, expected {expected:g}: that "
                          "is the fraction of clients *below* the threshold. Flip the "
                          "comparison.")
        raise Mistake(f"{call} should be {expected:g}, got {got!r}. Did you use the "
                      "threshold you were given (broadcast to the clients)?")
    return ("correct! The threshold travels to the clients (federated_broadcast), each "
            "client computes 0 or 1 (federated_map), the server averages (federated_mean).")


# --- exercise 4.2 ----------------------------------------------------------------------

MEANS_CASES = [
    [[1.0, 2.0, 3.0], [10.0]],
    [[2.0, 2.0], [4.0, 4.0, 4.0, 4.0], [0.0]],
]


@checker("Exercise 4.2 · mean of the client means")
def check_mean_of_client_means(make_mean_of_client_means):
    """Exercise 4.2: grade `make_mean_of_client_means()`, which returns the federated
    computation ({float32*}@CLIENTS -> float32@SERVER): each client averages its own
    readings, then the server averages the clients' means, each client counting once."""
    computation = _computation(make_mean_of_client_means, "mean_of_client_means")
    signature = computation.type_signature
    params = _parameter_types(signature)
    if params != ["{float32*}@CLIENTS"]:
        raise Mistake(f"mean_of_client_means should take one argument, a sequence of "
                      f"float32 readings per client: {{float32*}}@CLIENTS = "
                      f"tff.FederatedType(tff.SequenceType(np.float32), tff.CLIENTS). "
                      f"Its type signature is {signature}.")
    _check_result_type(signature, "the mean of the client means")
    for client_readings in MEANS_CASES:
        got = computation(client_readings)
        means = [sum(r) / len(r) for r in client_readings]
        expected = sum(means) / len(means)
        if _near(got, expected):
            continue
        call = f"mean_of_client_means({client_readings})"
        everything = [x for r in client_readings for x in r]
        sums = [sum(r) for r in client_readings]
        if _near(got, sum(everything) / len(everything)):
            raise Mistake(f"{call} returned {float(got):g}, the mean of all readings: "
                          f"clients with more readings counted more. Each client's mean "
                          f"should count once (expected {expected:g}): use "
                          "tff.federated_mean without a weight.")
        if _near(got, sum(sums) / len(sums)):
            raise Mistake(f"{call} returned {float(got):g}: each client sent the *sum* of "
                          f"its readings. Divide by the number of readings inside the "
                          f"TensorFlow computation (expected {expected:g}).")
        if _near(got, sum(means)):
            raise Mistake(f"{call} returned {float(got):g}: you added up the client means "
                          f"(federated_sum); average them with federated_mean (expected "
                          f"{expected:g}).")
        raise Mistake(f"{call} should be {expected:g}, got {got!r}.")
    return ("correct! Clients reduce their own tf.data sequence in a TensorFlow "
            "computation; only one number per client leaves it, and the server "
            "receives only their mean.")
