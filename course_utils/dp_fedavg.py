"""DP-FedAvg built by hand (notebook 11): FedAvg whose model is released only through a
clipped, noised sum (the server adds the noise, so it sees the clipped sum before it).

One round, on top of the hand-built FedAvg of `course_utils.fedavg`:

  1. broadcast the server weights; each sampled client trains (`fedavg.client_update`);
  2. each client computes its model UPDATE (new weights - server weights) and clips
     the whole update, all tensors together, to L2 norm at most `clip`:
     u <- u * min(1, clip / ||u||);
  3. the server sums the clipped updates (`tff.federated_sum`), adds Gaussian noise of
     std noise_multiplier x clip ONCE, to the sum, and divides by the FIXED expected
     number of clients per round (not by how many came: with Poisson sampling that
     number is random, and it depends on who took part);
  4. the server applies the noisy mean update: w <- w + server_learning_rate x mean.

Clipping bounds what one client can change in the sum (its sensitivity) by `clip`;
noise of std sigma x clip hides any one client's contribution; the accountant in
`course_utils.privacy_accounting` turns (sigma, q, rounds) into (epsilon, delta).

The state is OrderedDict(weights=[kernel, bias], round=int32, noise_multiplier=float32).
The round number seeds the noise (`tf.random.stateless_normal` with noise_seed, round
and tensor), so a run is repeatable: a simulation's convenience; a real server draws
its noise from a secure random source nobody can replay. The noise multiplier is in the
state (as in TFF's DP aggregators) so that one process, built and compiled once, runs
every noise level (`initial_state`, `sweep_noise`).

Also here:
- NumPy references: `clip_update`, `dp_mean_update` (notebook 11's exercise), and
  `GaussianNoise`, the noise source the exercise's checker also uses;
- `build_dp_mean`: steps 2-3 as a federated computation on given client updates, to
  compare with TFF's `tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed`;
- `build_from_settings` and `privacy_of_run`: the ``dp-fedavg`` algorithm of
  `python -m course_utils train` (its entry, with its options, is in
  course_utils.cli.algorithms), whose clients are Poisson-sampled and whose JSON
  result carries a "privacy" report.
"""

from __future__ import annotations

import collections
import math

import numpy as np
import tensorflow as tf

from course_utils import fedavg, models, variants
from course_utils.settings import COURSE, DP_CLIP, DP_NOISE_MULTIPLIER, CourseSettings

DEFAULT_CLIP = DP_CLIP
DEFAULT_NOISE_MULTIPLIER = DP_NOISE_MULTIPLIER


# --- NumPy references ------------------------------------------------------------------

def global_norm(tensors) -> float:
    """The L2 norm of all tensors' values together (as one long vector)."""
    return float(np.sqrt(sum(np.sum(np.square(np.asarray(t, np.float64)))
                             for t in tensors)))


def clip_update(update, clip: float) -> list[np.ndarray]:
    """`update` (a list of arrays) scaled to global norm at most `clip`."""
    norm = global_norm(update)
    scale = min(1.0, clip / norm) if norm > 0 else 1.0
    return [np.asarray(t, np.float64) * scale for t in update]


class GaussianNoise:
    """`noise(stddev)`: a list of arrays shaped like `like`, i.i.d. N(0, stddev^2).

    Seeded (the same draws for the same seed); `calls` records the stddev of every
    draw, so a checker can see how often and how much noise was asked for.
    """

    def __init__(self, like, seed: int = 0):
        self.shapes = [np.shape(t) for t in like]
        self.rng = np.random.default_rng(seed)
        self.calls: list[float] = []

    def __call__(self, stddev: float) -> list[np.ndarray]:
        self.calls.append(float(stddev))
        return [self.rng.standard_normal(shape) * float(stddev) for shape in self.shapes]


def dp_mean_update(client_updates, clip: float, noise_multiplier: float,
                   clients_per_round: float, gaussian_noise) -> list[np.ndarray]:
    """DP-FedAvg's aggregate (the reference for notebook 11's exercise): clip each
    client's whole update to norm `clip`, sum, add noise of std
    noise_multiplier x clip once, divide by the fixed `clients_per_round`."""
    clipped = [clip_update(update, clip) for update in client_updates]
    total = [np.sum([u[i] for u in clipped], axis=0) for i in range(len(clipped[0]))]
    noise = gaussian_noise(noise_multiplier * clip)
    return [(t + z) / clients_per_round for t, z in zip(total, noise)]


def noise_in(result, client_updates, clip: float, clients_per_round: float) -> np.ndarray:
    """The noise in a DP mean `result`, as one flat vector: (result x
    clients_per_round) minus the sum of the clipped updates. Its std should be
    noise_multiplier x clip."""
    clipped = [clip_update(update, clip) for update in client_updates]
    return np.concatenate([
        (np.asarray(r, np.float64) * clients_per_round - sum(u[i] for u in clipped)).ravel()
        for i, r in enumerate(result)])


# --- the TFF pieces --------------------------------------------------------------------

def clip_by_global_norm(update, clip: float):
    """TensorFlow: `update` (list of tensors) scaled to global norm at most `clip`."""
    clipped, _ = tf.clip_by_global_norm(list(update), clip)
    return clipped


def noise_and_average(total, round_num, noise_multiplier, clip: float,
                      clients_per_round: float, noise_seed: int = 0):
    """TensorFlow, on the server: (sum + N(0, (sigma clip)^2)) / clients_per_round.

    The noise of tensor i in round r is `tf.random.stateless_normal` seeded with
    (noise_seed, 1000 r + i): repeatable, different every round and every tensor."""
    stddev = tf.cast(noise_multiplier, tf.float32) * clip
    averaged = []
    for index, tensor in enumerate(total):
        seed = tf.stack([tf.constant(noise_seed, tf.int64),
                         tf.cast(round_num, tf.int64) * 1000 + index])
        noise = tf.random.stateless_normal(tf.shape(tensor), seed, dtype=tensor.dtype)
        averaged.append((tensor + stddev * noise) / clients_per_round)
    return averaged


def build_dp_mean(update_type, clip: float, clients_per_round: float, noise_seed: int = 0):
    """Steps 2-3 as a federated computation on client updates of `update_type`:

        ({update}@CLIENTS, int32@SERVER, float32@SERVER -> update@SERVER)

    The int32 is the round number (it seeds the noise), the float32 the noise
    multiplier sigma (so one computation serves every noise level)."""
    import tensorflow_federated as tff

    _check_dp_parameters(clip, 0.0, clients_per_round)

    @tff.tensorflow.computation(update_type)
    def clip_fn(update):
        return clip_by_global_norm(update, clip)

    @tff.tensorflow.computation(update_type, np.int32, np.float32)
    def noise_fn(total, round_num, noise_multiplier):
        return noise_and_average(total, round_num, noise_multiplier, clip,
                                 clients_per_round, noise_seed)

    @tff.federated_computation(tff.FederatedType(update_type, tff.CLIENTS),
                               tff.FederatedType(np.int32, tff.SERVER),
                               tff.FederatedType(np.float32, tff.SERVER))
    def dp_mean(client_updates, round_num, noise_multiplier):
        clipped = tff.federated_map(clip_fn, client_updates)   # on each client
        total = tff.federated_sum(clipped)                      # the server sees a sum
        return tff.federated_map(noise_fn, (total, round_num, noise_multiplier))

    return dp_mean


def build_dp_mean_update(weights_type, clip: float, noise_multiplier: float,
                         clients_per_round: float, noise_seed: int = 0):
    """`build_dp_mean` from the clients' weights, as the privacy notebook's exercise
    asks for it:

        (server_weights@SERVER, {client_weights}@CLIENTS -> update@SERVER)

    Each client's update is its weights minus the server's (computed on the client);
    then `build_dp_mean`'s clip, sum, noise (of round 0's seed) and division."""
    import tensorflow_federated as tff

    _check_dp_parameters(clip, noise_multiplier, clients_per_round)
    dp_mean = build_dp_mean(weights_type, clip, clients_per_round, noise_seed)

    @tff.tensorflow.computation(weights_type, weights_type)
    def update_fn(client_weights, server_weights):
        return [c - s for c, s in zip(client_weights, server_weights)]

    @tff.federated_computation(tff.FederatedType(weights_type, tff.SERVER),
                               tff.FederatedType(weights_type, tff.CLIENTS))
    def dp_mean_update(server_weights, client_weights):
        updates = tff.federated_map(
            update_fn, (client_weights, tff.federated_broadcast(server_weights)))
        return dp_mean(updates, tff.federated_value(np.int32(0), tff.SERVER),
                       tff.federated_value(np.float32(noise_multiplier), tff.SERVER))

    return dp_mean_update


def _check_dp_parameters(clip, noise_multiplier, clients_per_round):
    if not clip > 0:
        raise ValueError(f"clip must be positive, got {clip}.")
    if not noise_multiplier >= 0:
        raise ValueError(f"noise_multiplier must be >= 0, got {noise_multiplier}.")
    if not clients_per_round > 0:
        raise ValueError(f"clients_per_round must be positive, got {clients_per_round}.")


def build_dp_fedavg_process(clip: float = DEFAULT_CLIP,
                            noise_multiplier: float = DEFAULT_NOISE_MULTIPLIER,
                            clients_per_round: float = COURSE.clients_per_round,
                            client_learning_rate: float = COURSE.client_learning_rate,
                            server_learning_rate: float = 1.0, noise_seed: int = 0,
                            model_fn=models.create_keras_model, element_spec=None):
    """DP-FedAvg (the module docstring) as a `variants.VariantProcess`:

        initialize: ( -> <weights=<kernel,bias>,round=int32,noise_multiplier=float32>@SERVER)
        next:       (<state@SERVER, {<x, y>*}@CLIENTS> -> <state@SERVER, metrics@SERVER>)

    Like TFF's DP aggregators, the server state carries the noise multiplier
    (`initial_state(process, sigma)` starts a run with another one, on the same
    computations). `clients_per_round` is the FIXED denominator: the expected number
    of clients per round of the Poisson sampling that the privacy account assumes.
    The metrics (the clients' training loss and accuracy) are a diagnostic and are
    NOT private.
    """
    import tensorflow_federated as tff


    _check_dp_parameters(clip, noise_multiplier, clients_per_round)
    weights_type, data_type = fedavg.federated_types(model_fn, element_spec)
    dp_mean = build_dp_mean(weights_type, clip, clients_per_round, noise_seed)

    @tff.tensorflow.computation
    def initial_state():
        return collections.OrderedDict(
            weights=[tf.identity(v) for v in model_fn().trainable_variables],
            round=tf.constant(0, tf.int32),
            noise_multiplier=tf.constant(noise_multiplier, tf.float32))

    state_type = initial_state.type_signature.result

    @tff.tensorflow.computation(data_type, weights_type)
    def client_update_fn(dataset, server_weights):
        weights, totals = fedavg.client_update(model_fn(), dataset, server_weights,
                                               client_learning_rate)
        update = [w - s for w, s in zip(weights, server_weights)]
        return update, fedavg.finalize_metrics(totals), totals["num_examples"]

    @tff.tensorflow.computation(state_type, weights_type)
    def server_update_fn(state, mean_update):
        weights = [w + server_learning_rate * u
                   for w, u in zip(state["weights"], mean_update)]
        return collections.OrderedDict(weights=weights, round=state["round"] + 1,
                                       noise_multiplier=state["noise_multiplier"])

    @tff.tensorflow.computation(state_type)
    def next_round(state):
        return state["round"] + 1

    @tff.federated_computation
    def initialize_fn():
        return tff.federated_eval(initial_state, tff.SERVER)

    @tff.federated_computation(tff.FederatedType(state_type, tff.SERVER),
                               tff.FederatedType(data_type, tff.CLIENTS))
    def next_fn(state, federated_dataset):
        weights_at_clients = tff.federated_broadcast(state.weights)
        updates, client_metrics, num_examples = tff.federated_map(
            client_update_fn, (federated_dataset, weights_at_clients))
        mean_update = dp_mean(updates, tff.federated_map(next_round, state),
                              state.noise_multiplier)
        new_state = tff.federated_map(server_update_fn, (state, mean_update))
        return new_state, tff.federated_mean(client_metrics, weight=num_examples)

    process = variants.VariantProcess(
        initialize_fn, next_fn, client_update_fn=client_update_fn,
        server_update_fn=server_update_fn, weights_of=lambda state: state["weights"])
    fedavg.restore_eager_keras(model_fn)
    return process


def initial_state(process, noise_multiplier: float):
    """`process.initialize()` with another noise multiplier in the server state."""
    _check_dp_parameters(1.0, noise_multiplier, 1)
    state = process.initialize()
    state["noise_multiplier"] = np.float32(noise_multiplier)
    return state


# --- experiments -----------------------------------------------------------------------

def sweep_noise(noise_multipliers, client_data, client_ids, *, rounds: int,
                clients_per_round: float = COURSE.clients_per_round,
                clip: float = DEFAULT_CLIP, epochs: int = COURSE.epochs,
                batch_size: int = COURSE.batch_size,
                client_learning_rate: float = COURSE.client_learning_rate,
                evaluate=None, seed: int = 0, progress: bool = True) -> dict:
    """Train DP-FedAvg once per noise multiplier, on equal terms: in round r the same
    Poisson-sampled clients (`data.poisson_sample_clients(ids, clients_per_round, r,
    seed)`) with the same shuffled data (`aggregation.federated_data`, `epochs` passes)
    for every noise level; the noise itself is seeded by `seed`. Rounds are padded
    with empty clients to the largest round (`data.pad_with_empty_clients`). Returns
    {noise multiplier: history of `training_loop.run_training`}, each row with the number
    of clients that took part ("clients")."""
    from course_utils import aggregation, data
    from course_utils import training_loop

    sampled = {r: data.poisson_sample_clients(client_ids, clients_per_round, r, seed)
               for r in range(1, rounds + 1)}
    padded_size = max(len(ids) for ids in sampled.values())

    def datasets_of(ids):
        return [d.repeat(epochs) for d in aggregation.federated_data(
            client_data, ids, holdout_fraction=0.0, batch_size=batch_size, seed=seed)]

    template = datasets_of(list(client_data.client_ids)[:1])[0]

    def data_for_round(round_num):
        return data.pad_with_empty_clients(datasets_of(sampled[round_num]), padded_size,
                                           template)

    histories = {}
    process = build_dp_fedavg_process(clip, 0.0, clients_per_round, client_learning_rate,
                                      noise_seed=seed)  # one process: sigma is in its state
    for sigma in noise_multipliers:
        _, history = training_loop.run_training(process, rounds, data_for_round,
                                           state=initial_state(process, sigma),
                                           evaluate=evaluate, progress=progress,
                                           description=f"noise multiplier {sigma:g}")
        histories[sigma] = [{**row, "clients": len(sampled[row["round"]])}
                            for row in history]
    return histories


def noise_to_signal(noise_multiplier: float, clients_per_round: float,
                    num_parameters: int) -> float:
    """Expected norm of the noise in the averaged update, in units of the clip:
    sigma x sqrt(num_parameters) / clients_per_round (each clipped update has norm
    at most 1 in these units)."""
    return noise_multiplier * math.sqrt(num_parameters) / clients_per_round


# --- the train command -----------------------------------------------------------------

def options_from_settings(settings: CourseSettings) -> dict:
    """clip, noise_multiplier, delta (None: default), accountant from `settings.extra`."""
    extra = dict(settings.extra)

    def number(name, default):
        value = extra.get(name, default)
        try:
            return None if value is None else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"Option {name!r} must be a number, got {value!r}.") from None

    options = {"clip": number("clip", DEFAULT_CLIP),
               "noise_multiplier": number("noise_multiplier", DEFAULT_NOISE_MULTIPLIER),
               "delta": number("delta", None),
               "accountant": str(extra.get("accountant", "rdp"))}
    _check_dp_parameters(options["clip"], options["noise_multiplier"], 1)
    from course_utils import privacy_accounting

    if options["accountant"] not in privacy_accounting.ACCOUNTANTS:
        raise ValueError(f"accountant must be one of "
                         f"{', '.join(privacy_accounting.ACCOUNTANTS)}, got "
                         f"{options['accountant']!r}.")
    if options["delta"] is not None and not 0 < options["delta"] < 1:
        raise ValueError(f"delta must be in (0, 1), got {options['delta']}.")
    return options


def privacy_of_run(settings: CourseSettings, num_clients: int) -> dict:
    """The "privacy" entry of a `train --algorithm dp-fedavg` result, accounted for the
    sampler the run used: Poisson, or the same clients every round (`--fixed-clients`)."""
    from course_utils import privacy_accounting

    options = options_from_settings(settings)
    report = privacy_accounting.privacy_report(
        options["noise_multiplier"], options["clip"], settings.clients_per_round,
        num_clients, settings.rounds, options["delta"], options["accountant"],
        sampling="fixed" if settings.fixed_clients else "poisson")
    return {"privacy": report.as_json()}


def build_from_settings(settings: CourseSettings):
    """The `dp-fedavg` entry of course_utils.cli.algorithms."""
    options = options_from_settings(settings)
    return build_dp_fedavg_process(
        options["clip"], options["noise_multiplier"], settings.clients_per_round,
        settings.client_learning_rate, settings.server_learning_rate, noise_seed=settings.seed)


# --- TFF's own DP aggregators, for comparison ------------------------------------------

def run_tff_aggregator(factory, client_updates):
    """One round of a `tff.aggregators` factory (e.g.
    `tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed(...)` or
    `tff.learning.dp_aggregator(...)`) on `client_updates` (one list of arrays per
    client). Returns (the aggregate as a list of arrays, the process's output)."""
    import tensorflow_federated as tff

    update_type = tff.types.tensorflow_to_type(
        [tf.TensorSpec(np.shape(t), tf.float32) for t in client_updates[0]])
    process = factory.create(update_type)
    output = process.next(process.initialize(),
                          [[np.asarray(t, np.float32) for t in u] for u in client_updates])
    return [np.asarray(r, np.float64) for r in output.result], output


_DP_MEANS: dict = {}  # built computations, so repeated calls do not rebuild them


def run_dp_mean(client_updates, clip: float, noise_multiplier: float,
                clients_per_round: float, round_num: int = 1, noise_seed: int = 0):
    """`build_dp_mean` (this module's TFF aggregation) on `client_updates`. The
    computation is built once per shapes, clip, denominator and seed, then reused."""
    import tensorflow_federated as tff

    _check_dp_parameters(clip, noise_multiplier, clients_per_round)
    shapes = tuple(tuple(np.shape(t)) for t in client_updates[0])
    key = (shapes, float(clip), float(clients_per_round), int(noise_seed))
    if key not in _DP_MEANS:
        update_type = tff.types.tensorflow_to_type(
            [tf.TensorSpec(shape, tf.float32) for shape in shapes])
        _DP_MEANS[key] = build_dp_mean(update_type, clip, clients_per_round, noise_seed)
    result = _DP_MEANS[key]([[np.asarray(t, np.float32) for t in u] for u in client_updates],
                            np.int32(round_num), np.float32(noise_multiplier))
    return [np.asarray(r, np.float64) for r in result]
