"""Aggregation rules for federated learning (notebook 07), in NumPy and in TFF.

How the server combines the clients' models is a choice. This module has:

- NumPy references for checking: `mean_of_models` (simple or weighted mean),
  `incremental_weighted_average` (a running weighted mean, one client at a time) and
  `article_simple_average` (a popular but wrong "average" loop, kept to show the bug).
- The rules as TFF federated computations: `mean_computation` (``tff.federated_mean``
  with or without weights) and `robust_computation` (a `tff.federated_aggregate` per
  tensor whose accumulator keeps every client value, then e.g. a coordinate-wise
  trimmed mean: `stacking_parts`, `trimmed_mean_parts`).
- Training processes built on `course_utils.fedavg.client_update`, one per *method*
  (`METHODS`): ``simple`` (unweighted mean), ``weighted`` (by number of examples:
  FedAvg), ``quality`` (by each client's accuracy on a held-out part of its own data),
  ``hybrid`` (examples x quality) and ``fedsgd`` (one full-batch gradient step per
  round instead of several local epochs). `build_process(method)` returns a
  `tff.templates.IterativeProcess` with the course's usual shape::

      initialize: ( -> <kernel, bias>@SERVER)
      next:       (<kernel, bias>@SERVER, {<x, y>*}@CLIENTS -> <state, metrics>@SERVER)

- `traffic(method)`: the bytes that cross the network per client and round,
  read from the TFF types of what is broadcast and what is uploaded.
- `run_comparison`: the same rounds, seeds and sampled clients for every method
  (`course_utils.plots.plot_method_comparison` draws the results).

Client data. Every method holds out the same examples, so that all methods train on
the same data; only ``quality`` and ``hybrid`` use them. A client's dataset carries
its held-out examples as its FIRST batch (`client_dataset`, `federated_data`: 20% of
its shuffled examples), then its training batches, one pass; the process skips the
first batch and runs `local_epochs` passes over the rest. (`holdout=False` trains on
everything. Data that repeats its epochs already, as `python -m course_utils train`
makes it, works with `local_epochs=1`, but its held-out examples come back in later
epochs.) Keeping the split out of the TFF computation also keeps each client's
computation small, which matters: per client and round, TFF's runtime cost grows with
the number of dataset operations.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

from course_utils import fedavg, models
from course_utils.settings import COURSE

WEIGHTINGS = ("uniform", "examples", "quality", "hybrid")
QUALITY_FLOOR = 1e-3  # a client's quality weight is at least this, so weights never all vanish


@dataclass(frozen=True)
class Method:
    """One aggregation rule of notebook 07: its name, how the server weights each
    client's model in the mean (`weighting`, one of WEIGHTINGS), a description, and
    whether clients take one full-batch gradient step instead of local epochs (FedSGD)."""

    name: str
    weighting: str             # one of WEIGHTINGS
    description: str
    one_step: bool = False     # FedSGD: one full-batch gradient step instead of epochs


METHODS = {
    "simple": Method("simple", "uniform",
                     "unweighted mean of the client models"),
    "weighted": Method("weighted", "examples",
                       "mean weighted by each client's number of training examples (FedAvg)"),
    "quality": Method("quality", "quality",
                      "mean weighted by each client's accuracy on its own held-out examples"),
    "hybrid": Method("hybrid", "hybrid",
                     "mean weighted by number of examples x held-out accuracy"),
    "fedsgd": Method("fedsgd", "examples",
                     "FedSGD: one full-batch gradient step per round, weighted by examples",
                     one_step=True),
}


# --- NumPy references --------------------------------------------------------------

def _as_model(model) -> list[np.ndarray]:
    if isinstance(model, np.ndarray) or np.isscalar(model):
        return [np.asarray(model, np.float64)]
    return [np.asarray(layer, np.float64) for layer in model]


def mean_of_models(client_models, weights=None) -> list[np.ndarray]:
    """Layer by layer, the (weighted) mean of `client_models` (each a list of arrays).

    Without `weights` every client counts the same (the simple mean); with them, the
    result is sum_i w_i * model_i / sum_i w_i.
    """
    client_models = [_as_model(m) for m in client_models]
    if not client_models:
        raise ValueError("No client models to average.")
    w = np.ones(len(client_models)) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (len(client_models),):
        raise ValueError(f"Need one weight per client: {len(client_models)} models, "
                         f"weights of shape {w.shape}.")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("Weights must be non-negative and not all zero.")
    return [sum(wi * m[layer] for wi, m in zip(w, client_models)) / w.sum()
            for layer in range(len(client_models[0]))]


def article_simple_average(client_models) -> list[np.ndarray]:
    """The popular snippet's "simple average" loop, which is NOT the mean.

    It adds the clients one at a time and divides *each* pairwise sum by the number of
    devices, so earlier clients are divided again and again: for three clients it
    returns (m1 + m2) / 9 + m3 / 3 instead of (m1 + m2 + m3) / 3.
    """
    client_models = [_as_model(m) for m in client_models]
    num_devices = len(client_models)
    global_model = client_models[0]
    for model in client_models[1:]:
        global_model = [(g + m) / num_devices for g, m in zip(global_model, model)]
    return global_model


def incremental_weighted_average(client_models, weights) -> list[np.ndarray]:
    """A running weighted mean, one client at a time (this formula is correct):

        average <- (average * seen + n_i * model_i) / (seen + n_i);  seen <- seen + n_i

    After the last client it equals `mean_of_models(client_models, weights)`, and the
    server never holds more than one model and one count.
    """
    average, seen = None, 0.0
    for model, n in zip((_as_model(m) for m in client_models), weights):
        if average is None:
            average, seen = model, float(n)
            continue
        average = [(a * seen + n * m) / (seen + n) for a, m in zip(average, model)]
        seen += n
    if average is None:
        raise ValueError("No client models to average.")
    return average


def trimmed_mean_reference(values, trim: int) -> np.ndarray:
    """Coordinate-wise trimmed mean of `values` (shape [clients, ...]): per coordinate,
    drop the `trim` smallest and `trim` largest client values and average the rest."""
    values = np.asarray(values, np.float64)
    n = values.shape[0]
    if not 0 <= 2 * trim < n:
        raise ValueError(f"Cannot drop 2 x {trim} of {n} clients and keep any.")
    return np.sort(values, axis=0)[trim:n - trim].mean(axis=0)


# --- what crosses the network ------------------------------------------------------

def type_bytes(type_spec) -> int:
    """Bytes of one value of a TFF type (tensors of known shape, nested in structures)."""
    import tensorflow_federated as tff

    if isinstance(type_spec, tff.FederatedType):
        return type_bytes(type_spec.member)
    if isinstance(type_spec, tff.TensorType):
        shape = tuple(type_spec.shape or ())
        if any(d is None for d in shape):
            raise ValueError(f"{type_spec} has an unknown size.")
        return int(np.prod(shape, dtype=np.int64)) * np.dtype(type_spec.dtype).itemsize
    if isinstance(type_spec, tff.StructType):
        return sum(type_bytes(member) for member in type_spec)
    raise TypeError(f"Cannot count the bytes of {type_spec}.")


@dataclass(frozen=True)
class Traffic:
    """Bytes per client per round: `download` (server -> client) and `upload`."""
    download: int
    upload: int
    upload_parts: dict  # name of each uploaded value -> bytes

    @property
    def per_client(self) -> int:
        return self.download + self.upload

    def per_round(self, clients: int) -> int:
        return clients * self.per_client


def traffic_of(client_work) -> Traffic:
    """The traffic of a client computation `(dataset, server_weights) -> outputs`:
    the server weights come down, every output goes up."""
    result = client_work.type_signature.result
    parts = {name or f"output {i}": type_bytes(member) for i, (name, member) in
             enumerate(zip(_names(result), result))}
    return Traffic(download=type_bytes(client_work.type_signature.parameter[1]),
                   upload=sum(parts.values()), upload_parts=parts)


def _names(struct_type):
    from tensorflow_federated.python.common_libs import structure

    return [name for name, _ in structure.iter_elements(struct_type)]


def traffic(method: str = "weighted", **build_kwargs) -> Traffic:
    """What one client sends and receives per round under `method` (see `Traffic`)."""
    return traffic_of(build_client_work(method, **build_kwargs))


# --- aggregation rules as federated computations ----------------------------------

def mean_computation(value_type, weighted: bool):
    """`tff.federated_mean` as a computation over client values of `value_type`:
    ({T}@CLIENTS -> T@SERVER), or with weights ({T}@CLIENTS, {float32}@CLIENTS -> T@SERVER).
    """
    import tensorflow_federated as tff

    values = tff.FederatedType(value_type, tff.CLIENTS)
    if not weighted:
        @tff.federated_computation(values)
        def simple_mean(client_values):
            return tff.federated_mean(client_values)
        return simple_mean

    @tff.federated_computation(values, tff.FederatedType(np.float32, tff.CLIENTS))
    def weighted_mean(client_values, client_weights):
        return tff.federated_mean(client_values, weight=client_weights)
    return weighted_mean


def trimmed_mean(stack, trim: int):
    """In TensorFlow: per coordinate of `stack` (clients along axis 0), drop the `trim`
    smallest and `trim` largest client values and average the rest (NaN if
    2 x trim >= clients: nothing is left to average)."""
    import tensorflow as tf

    num_clients = tf.shape(stack)[0]  # not stack.shape[0]: None inside TFF
    ordered = tf.sort(stack, axis=0)
    return tf.reduce_mean(ordered[trim:num_clients - trim], axis=0)


def stacking_parts(value_type, report_fn):
    """The four arguments of `tff.federated_aggregate` (zero, accumulate, merge, report)
    for client values of `value_type` (a `tff.TensorType`) that keep every value: the
    accumulator stacks them along a new first axis ([clients so far, ...]), and
    `report` returns `report_fn(stack)` (a TensorFlow function, e.g. a median).

    `tff.federated_mean` can add values up as they arrive (and under secure
    aggregation the server only sees the sum); a median or trimmed mean needs all
    values side by side, so here the accumulator keeps them all.
    """
    import tensorflow as tf
    import tensorflow_federated as tff

    stack_type = tff.TensorType(value_type.dtype, [None, *value_type.shape])

    @tff.tensorflow.computation
    def zero():
        return tf.zeros([0, *value_type.shape], value_type.dtype)  # no client yet

    @tff.tensorflow.computation(stack_type, value_type)
    def accumulate(stack, value):
        return tf.concat([stack, value[tf.newaxis]], axis=0)  # one more row

    @tff.tensorflow.computation(stack_type, stack_type)
    def merge(stack_a, stack_b):
        return tf.concat([stack_a, stack_b], axis=0)  # every row of both

    @tff.tensorflow.computation(stack_type)
    def report(stack):
        return tf.cast(report_fn(stack), value_type.dtype)

    return zero, accumulate, merge, report


def trimmed_mean_parts(value_type, trim: int):
    """`stacking_parts` whose report is the coordinate-wise trimmed mean (`trimmed_mean`)."""
    return stacking_parts(value_type, lambda stack: trimmed_mean(stack, trim))


def aggregate_each_tensor(client_values, value_type, parts_fn):
    """Inside a federated computation: one `tff.federated_aggregate` per tensor of
    `value_type` (a tensor or a structure of tensors), with the four computations
    `parts_fn(tensor_type)` returns; the results zipped back into one value."""
    import tensorflow_federated as tff

    if not isinstance(value_type, tff.StructType):
        zero, accumulate, merge, report = parts_fn(value_type)
        return tff.federated_aggregate(client_values, zero(), accumulate, merge, report)
    results = []
    for i, tensor_type in enumerate(value_type):
        zero, accumulate, merge, report = parts_fn(tensor_type)
        results.append(tff.federated_aggregate(client_values[i], zero(), accumulate,
                                               merge, report))
    return tff.federated_zip(results)


def robust_computation(value_type, parts_fn):
    """({T}@CLIENTS -> T@SERVER): each tensor of T aggregated by a
    `tff.federated_aggregate` of the computations `parts_fn(tensor_type)` returns
    (e.g. `trimmed_mean_parts` with a fixed trim)."""
    import tensorflow_federated as tff

    @tff.federated_computation(tff.FederatedType(value_type, tff.CLIENTS))
    def robust_aggregate(client_values):
        return aggregate_each_tensor(client_values, value_type, parts_fn)
    return robust_aggregate


# --- client data and client work ---------------------------------------------------

def client_dataset(examples, holdout_fraction: float = 0.2,
                   batch_size: int = COURSE.batch_size):
    """One client's dataset for these processes, from its preprocessed examples
    (`examples`: {"x": [n, 784], "y": [n, 1]} arrays, already shuffled).

    The first floor(n * holdout_fraction) examples (at least 1, and at least 1 left
    for training when n >= 2) form the FIRST batch: the held-out batch. The rest
    follow in batches of `batch_size`. With `holdout_fraction=0` there is no held-out
    batch.
    """
    import tensorflow as tf

    x, y = np.asarray(examples["x"]), np.asarray(examples["y"])
    n = len(y)
    k = 0
    if holdout_fraction > 0:
        k = min(max(int(np.floor(n * holdout_fraction)), 1), max(n - 1, 1))

    def batches(start, stop, size):
        part = collections.OrderedDict(x=x[start:stop], y=y[start:stop])
        return tf.data.Dataset.from_tensor_slices(part).batch(max(size, 1))

    train = batches(k, n, batch_size)
    return batches(0, k, k).concatenate(train) if k else train


def federated_data(client_data, client_ids, *, holdout_fraction: float = 0.2,
                   batch_size: int = COURSE.batch_size, seed: int = 0,
                   invert: bool = True) -> list:
    """`client_dataset` for each client of `client_ids`: one pass over its examples,
    shuffled (the same way for the same `seed`) and preprocessed as
    `course_utils.data.preprocess` does (784 pixels, inverted with `invert`).

    In-memory clients (`course_utils.partitions.as_client_data`) are prepared with
    NumPy, which is much faster than a tf.data pipeline per client.
    """
    return [client_dataset(_shuffled_examples(client_data, cid, seed, invert),
                           holdout_fraction, batch_size) for cid in client_ids]


def _shuffled_examples(client_data, cid, seed, invert):
    import zlib

    arrays_for_client = getattr(client_data, "arrays_for_client", None)
    if arrays_for_client is None:  # any ClientData: through the course's preprocessing
        from course_utils import data

        everything = data.preprocess(client_data.create_tf_dataset_for_client(cid),
                                     batch_size=1_000_000, seed=seed, invert=invert)
        return next(iter(everything.as_numpy_iterator()))
    arrays = arrays_for_client(cid)
    n = len(arrays["label"])
    pixels = arrays["pixels"].reshape(n, -1).astype(np.float32)
    order = np.random.default_rng([seed, zlib.crc32(str(cid).encode())]).permutation(n)
    return {"x": (1.0 - pixels if invert else pixels)[order],
            "y": arrays["label"].reshape(n, 1).astype(np.int32)[order]}


def _accuracy_on_batch(model, batch):
    import tensorflow as tf

    labels = tf.reshape(tf.cast(batch["y"], tf.int64), [-1])
    predicted = tf.argmax(model(batch["x"], training=False), axis=1)
    hits = tf.cast(tf.equal(predicted, labels), tf.float32)
    return tf.reduce_sum(hits) / tf.maximum(tf.cast(tf.size(labels), tf.float32), 1.0)


def build_client_work(method: str = "weighted", *, local_epochs: int = COURSE.epochs,
                      client_learning_rate: float = COURSE.client_learning_rate,
                      holdout: bool = True,
                      model_fn=models.create_keras_model, element_spec=None):
    """The client's part of a round under `method`, as a TFF computation.

    (dataset, server_weights) -> <weights, [weight,] metrics, num_examples>: the trained
    model, the aggregation weight (none for ``simple``), the client's training metrics
    and its number of training examples (to average the metrics).

    With `holdout`, the first batch of the client's dataset is held out (see
    `client_dataset`): never trained on; ``quality`` and ``hybrid`` measure the trained
    model's accuracy on it. The rest is trained on for `local_epochs` passes of
    plain SGD (`course_utils.fedavg.client_update`), or, for ``fedsgd``, in one
    full-batch gradient step.
    """
    import tensorflow as tf
    import tensorflow_federated as tff

    spec = _method(method)
    uses_quality = spec.weighting in ("quality", "hybrid")
    if uses_quality and not holdout:
        raise ValueError(f"Method {method!r} weights clients by their accuracy on a "
                         "held-out batch: it needs holdout=True.")
    element_spec = element_spec or models.input_spec()
    weights_type, data_type = fedavg.federated_types(model_fn, element_spec)

    @tff.tensorflow.computation(data_type, weights_type)
    def client_work(dataset, server_weights):
        model = model_fn()
        train = dataset.skip(1) if holdout else dataset
        if spec.one_step:  # all training examples in one batch, one step
            train = train.unbatch().batch(1_000_000_000)
        else:
            train = train.repeat(local_epochs)
        weights, totals = fedavg.client_update(model, train, server_weights,
                                               client_learning_rate)
        epochs = 1 if spec.one_step else local_epochs
        n_train = totals["num_examples"] / epochs
        seen = tf.maximum(totals["num_examples"], 1.0)
        metrics = collections.OrderedDict(loss=totals["loss_sum"] / seen,
                                          accuracy=totals["correct"] / seen)
        output = collections.OrderedDict(weights=weights)
        if uses_quality:  # the trained model (still in `model`) on the held-out batch
            # This graph has no automatic control dependencies: without this block the
            # model's variables could be read before client_update has trained them.
            with tf.control_dependencies(tf.nest.flatten(weights)):
                quality = _accuracy_on_batch(model, dataset.take(1).get_single_element())
            metrics["holdout_accuracy"] = quality
            quality = tf.maximum(quality, QUALITY_FLOOR)
            output["weight"] = quality if spec.weighting == "quality" else n_train * quality
        elif spec.weighting == "examples":
            output["weight"] = n_train
        output["metrics"] = metrics
        output["num_examples"] = n_train
        return output

    return client_work


def _method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; choose one of {', '.join(METHODS)}.")
    return METHODS[name]


# --- processes ---------------------------------------------------------------------

def _initial_weights_fn(model_fn):
    import tensorflow as tf
    import tensorflow_federated as tff

    @tff.tensorflow.computation
    def initial_weights():
        return [tf.identity(v) for v in model_fn().trainable_variables]
    return initial_weights


def build_process(method: str = "weighted", *, local_epochs: int = COURSE.epochs,
                  client_learning_rate: float = COURSE.client_learning_rate,
                  holdout: bool = True,
                  model_fn=models.create_keras_model, element_spec=None):
    """A `tff.templates.IterativeProcess` that trains with `method` (see `METHODS`).

    Each round: broadcast the server model; each client trains (`build_client_work`);
    the server adopts the mean of the client models, weighted as the method says.
    `next` returns (new weights, metrics{loss, accuracy[, holdout_accuracy]}).
    Client datasets: see `client_dataset` / `federated_data`.
    """
    import tensorflow_federated as tff

    spec = _method(method)
    client_work = build_client_work(
        method, local_epochs=local_epochs, client_learning_rate=client_learning_rate,
        holdout=holdout, model_fn=model_fn, element_spec=element_spec)
    data_type, weights_type = client_work.type_signature.parameter
    initial_weights = _initial_weights_fn(model_fn)

    # The initialize/next skeleton of notebook 05 (fedavg.build_unweighted_fedavg_process),
    # repeated on purpose: notebook 07 reads the aggregation step in full here.
    @tff.federated_computation
    def initialize_fn():
        return tff.federated_eval(initial_weights, tff.SERVER)

    @tff.federated_computation(tff.FederatedType(weights_type, tff.SERVER),
                               tff.FederatedType(data_type, tff.CLIENTS))
    def next_fn(server_weights, federated_dataset):
        outputs = tff.federated_map(
            client_work, (federated_dataset, tff.federated_broadcast(server_weights)))
        if spec.weighting == "uniform":
            new_weights = tff.federated_mean(outputs.weights)
        else:
            new_weights = tff.federated_mean(outputs.weights, weight=outputs.weight)
        metrics = tff.federated_mean(outputs.metrics, weight=outputs.num_examples)
        return new_weights, metrics

    return tff.templates.IterativeProcess(initialize_fn, next_fn)


def build_robust_process(parts_fn, *, local_epochs: int = COURSE.epochs,
                         client_learning_rate: float = COURSE.client_learning_rate,
                         holdout: bool = True,
                         model_fn=models.create_keras_model, element_spec=None):
    """Like `build_process("simple")`, but the server aggregates each weight tensor with
    the `tff.federated_aggregate` of `parts_fn(tensor_type)` (see `robust_computation`;
    e.g. `lambda t: trimmed_mean_parts(t, 2)`), and each client
    scales its update by a factor it is given, to simulate corrupted clients:

        next: (<weights>@SERVER, {<x, y>*}@CLIENTS, {float32}@CLIENTS -> <state, metrics>)

    A client with factor s sends server + s * (its model - server): 1.0 is honest.
    Use `WithCorruptedClients` to run it with `course_utils.training_loop.run_training`.
    """
    import tensorflow_federated as tff

    client_work = build_client_work(
        "simple", local_epochs=local_epochs, client_learning_rate=client_learning_rate,
        holdout=holdout, model_fn=model_fn, element_spec=element_spec)
    data_type, weights_type = client_work.type_signature.parameter
    initial_weights = _initial_weights_fn(model_fn)

    @tff.tensorflow.computation(weights_type, weights_type, np.float32)
    def scale_update(client_weights, server_weights, factor):
        return [s + factor * (c - s) for c, s in zip(client_weights, server_weights)]

    # The initialize/next skeleton of notebook 05 (fedavg.build_unweighted_fedavg_process),
    # repeated on purpose, with a third argument: each client's update factor.
    @tff.federated_computation
    def initialize_fn():
        return tff.federated_eval(initial_weights, tff.SERVER)

    @tff.federated_computation(tff.FederatedType(weights_type, tff.SERVER),
                               tff.FederatedType(data_type, tff.CLIENTS),
                               tff.FederatedType(np.float32, tff.CLIENTS))
    def next_fn(server_weights, federated_dataset, update_factor):
        weights_at_clients = tff.federated_broadcast(server_weights)
        outputs = tff.federated_map(client_work, (federated_dataset, weights_at_clients))
        sent = tff.federated_map(scale_update,
                                 (outputs.weights, weights_at_clients, update_factor))
        new_weights = aggregate_each_tensor(sent, weights_type, parts_fn)
        metrics = tff.federated_mean(outputs.metrics, weight=outputs.num_examples)
        return new_weights, metrics

    return tff.templates.IterativeProcess(initialize_fn, next_fn)


class WithCorruptedClients:
    """A robust process (see `build_robust_process`) with the usual two-argument
    `next(state, federated_data)`: in every round the first `num_corrupted` clients
    of `federated_data` scale their update by `factor`, the others send it as is."""

    def __init__(self, process, num_corrupted: int, factor: float = -10.0):
        self.process, self.num_corrupted, self.factor = process, num_corrupted, factor

    def initialize(self):
        return self.process.initialize()

    def next(self, state, federated_data):
        factors = [np.float32(self.factor if i < self.num_corrupted else 1.0)
                   for i in range(len(federated_data))]
        return self.process.next(state, federated_data, factors)


def tf_mean(stacked):
    """The plain mean over clients (axis 0), a report for `stacking_parts`."""
    import tensorflow as tf

    return tf.reduce_mean(stacked, axis=0)


# --- experiments ----------------------------------------------------

def run_comparison(processes: dict, client_data, client_ids, *, rounds: int,
                   clients_per_round: int = COURSE.clients_per_round, seed: int = 0,
                   evaluate=None,
                   batch_size: int = COURSE.batch_size, holdout_fraction: float = 0.2,
                   progress: bool = True, description: str = "methods") -> dict:
    """Train every process in `processes` (name -> process) on equal terms: the same
    clients sampled for round r (`data.sample_clients(..., r, seed)`), the same
    shuffled data and held-out batches (`federated_data`), the same number of rounds. Returns name -> history (the rows of
    `course_utils.training_loop.run_training`)."""
    from course_utils import data
    from course_utils import training_loop

    cache = {}

    def data_for_round(round_num):
        if round_num not in cache:
            ids = data.sample_clients(client_ids, clients_per_round, round_num, seed)
            cache[round_num] = federated_data(client_data, ids, batch_size=batch_size,
                                              holdout_fraction=holdout_fraction, seed=seed)
        return cache[round_num]

    histories = {}
    bar = training_loop.progress_bar(processes.items(), description, "method", progress)
    for name, process in bar:
        bar.set_postfix(method=name)
        _, histories[name] = training_loop.run_training(process, rounds, data_for_round,
                                                   evaluate=evaluate, progress=False)
    return histories


def client_objectives(arrays, *, invert: bool = True):
    """`evaluate(weights)` on the clients' own examples (`arrays`: client id ->
    {label, pixels}, e.g. a partition of `course_utils.partitions`), for the course's
    linear model: the two objectives a weighting rule can optimise, and how the clients
    fare one by one.

    - ``example_loss``: the loss over all examples, every example counting alike, which
      weighting by examples minimises (and ``example_accuracy`` alongside);
    - ``client_loss``: the mean of the clients' own losses, every client counting alike,
      which the simple (uniform) mean minimises;
    - ``client_accuracy``: the mean of the clients' accuracies, and
      ``client_accuracy_p10``: the worst decile's, the accuracy that 90% of the clients
      reach or beat (its 10th percentile).
    """
    from course_utils import evaluation

    ids = list(arrays)
    x = np.concatenate([arrays[c]["pixels"].reshape(len(arrays[c]["label"]), -1)
                        for c in ids]).astype(np.float32)
    x = 1.0 - x if invert else x
    y = np.concatenate([np.reshape(arrays[c]["label"], -1) for c in ids]).astype(np.int64)
    owner = np.repeat(np.arange(len(ids)), [len(arrays[c]["label"]) for c in ids])
    count = np.bincount(owner, minlength=len(ids))
    rows = np.arange(len(y))

    def evaluate(weights) -> dict[str, float]:
        kernel, bias = evaluation.kernel_and_bias(weights)
        logits = (x @ kernel + bias).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        loss = -(logits[rows, y] - np.log(np.exp(logits).sum(axis=1)))
        hit = (logits.argmax(axis=1) == y).astype(np.float64)
        client_accuracy = np.bincount(owner, hit, len(ids)) / count
        return {"example_loss": float(loss.mean()), "example_accuracy": float(hit.mean()),
                "client_loss": float(np.mean(np.bincount(owner, loss, len(ids)) / count)),
                "client_accuracy": float(client_accuracy.mean()),
                "client_accuracy_p10": float(np.percentile(client_accuracy, 10))}

    return evaluate


def with_client_objectives(evaluate, arrays, *, invert: bool = True):
    """`evaluate(weights)` (e.g. the central test evaluator) plus `client_objectives`
    on `arrays`, in one dict."""
    objectives = client_objectives(arrays, invert=invert)
    return lambda weights: {**evaluate(weights), **objectives(weights)}


OBJECTIVE_COLUMNS = {  # history key -> column of `objectives_table`
    "eval_accuracy": "test accuracy (all test examples)",
    "eval_client_accuracy": "clients' accuracy: mean",
    "eval_client_accuracy_p10": "clients' accuracy: worst decile",
    "eval_example_loss": "loss over all examples",
    "eval_client_loss": "mean of the clients' losses",
}


def objectives_table(results: dict, methods=None) -> str:
    """A Markdown table of the final round of every run in `results` (scenario ->
    method -> history with `with_client_objectives`' keys): the test accuracy, the
    clients' accuracy (mean and worst decile) and both objectives."""
    lines = ["| partition | method | " + " | ".join(OBJECTIVE_COLUMNS.values()) + " |",
             "|---|---" + "|---:" * len(OBJECTIVE_COLUMNS) + "|"]
    for scenario, histories in results.items():
        for method, history in histories.items():
            if methods is None or method in methods:
                cells = [f"{history[-1][key]:.3f}" for key in OBJECTIVE_COLUMNS]
                lines.append(f"| {scenario} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def final_table(results: dict, traffic: dict, clients_per_round: int, rounds: int,
                metric: str = "eval_accuracy") -> str:
    """A Markdown table: final `metric` per scenario and method, and megabytes sent
    over the network in all rounds (`traffic`: method -> Traffic)."""
    scenarios = list(results)
    methods = list(next(iter(results.values())))
    lines = ["| method | " + " | ".join(scenarios) + " | MB per round | MB in total |",
             "|---" * (len(scenarios) + 3) + "|"]
    for method in methods:
        per_round = traffic[method].per_round(clients_per_round)
        cells = [f"{results[s][method][-1][metric]:.3f}" for s in scenarios]
        lines.append(f"| {method} | " + " | ".join(cells)
                     + f" | {per_round / 1e6:.3f} | {per_round * rounds / 1e6:.2f} |")
    return "\n".join(lines)
