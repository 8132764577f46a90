"""Client drift, measured (notebook 09).

When clients' data differ, each client's local training pulls the model towards its
own optimum; the longer it trains, the further apart the client models end up, and
their mean can be a poor model. Two measures, on the updates (deltas) of one round's
clients, all starting from the same server weights:

- `mean_pairwise_cosine(deltas)`: the mean cosine similarity between two clients'
  updates. Near 1: they agree on the direction; near 0: unrelated directions.
- `update_agreement(deltas)`: |mean of the updates| / mean |update|. 1 when all
  clients move the same way; small when their moves cancel out in the average, so
  most of the local work is lost.

`client_deltas` computes the updates in TensorFlow with `course_utils.fedavg`'s
client update (no TFF needed: it is one client's local SGD, run here for each client).
"""

from __future__ import annotations

import numpy as np

from course_utils import fedavg, models


def client_deltas(server_weights, datasets, learning_rate: float,
                  model_fn=models.create_keras_model,
                  client_update=fedavg.client_update, model=None) -> list[np.ndarray]:
    """Each client's update `its trained weights - server_weights`, flattened into one
    vector, after `client_update` on its dataset (one dataset per client).

    One Keras model serves all clients (client_update starts by setting its weights);
    pass `model` to reuse one across calls and save TensorFlow retracing it."""
    model = model if model is not None else model_fn()
    start = [np.asarray(w, np.float32) for w in server_weights]
    deltas = []
    for dataset in datasets:
        trained, _ = client_update(model, dataset, start, learning_rate)
        deltas.append(np.concatenate([(np.asarray(t) - s).ravel()
                                      for t, s in zip(trained, start)]))
    return deltas


def cosine_matrix(deltas) -> np.ndarray:
    """Cosine similarity between every pair of updates ([clients, clients])."""
    stacked = np.stack([np.asarray(d, np.float64).ravel() for d in deltas])
    norms = np.linalg.norm(stacked, axis=1, keepdims=True)
    unit = stacked / np.maximum(norms, 1e-12)
    return unit @ unit.T


def mean_pairwise_cosine(deltas) -> float:
    """The mean cosine similarity over all pairs of distinct clients."""
    matrix = cosine_matrix(deltas)
    n = len(matrix)
    if n < 2:
        raise ValueError("Need at least two clients' updates to compare.")
    return float((matrix.sum() - np.trace(matrix)) / (n * (n - 1)))


def update_agreement(deltas) -> float:
    """|mean update| / mean |update|: the share of the clients' movement that
    survives averaging (1: all agree; near 0: they cancel out)."""
    stacked = np.stack([np.asarray(d, np.float64).ravel() for d in deltas])
    mean_norm = np.linalg.norm(stacked, axis=1).mean()
    return float(np.linalg.norm(stacked.mean(axis=0)) / max(mean_norm, 1e-12))


def averaged_model(server_weights, deltas) -> list[np.ndarray]:
    """The server weights plus the mean client update (FedAvg's new model, unweighted
    as `course_utils.fedavg`), back in the weights' shapes."""
    mean = np.mean(np.stack(deltas), axis=0)
    result, start = [], 0
    for w in server_weights:
        w = np.asarray(w, np.float32)
        result.append(w + mean[start:start + w.size].reshape(w.shape).astype(np.float32))
        start += w.size
    return result


def measure_round(server_weights, datasets, learning_rate: float, evaluate,
                  model_fn=models.create_keras_model, model=None) -> dict[str, float]:
    """One FedAvg round from `server_weights` on `datasets` (one per client): the
    averaged model's `evaluate(weights)["accuracy"]`, and how much the clients'
    updates agree (`mean_pairwise_cosine`, `update_agreement`). `model`: as in
    `client_deltas`."""
    deltas = client_deltas(server_weights, datasets, learning_rate, model_fn, model=model)
    return {"accuracy": evaluate(averaged_model(server_weights, deltas))["accuracy"],
            "cosine": mean_pairwise_cosine(deltas), "agreement": update_agreement(deltas)}


def measure_over_samples(server_weights, partitioned: dict, epochs_list, seeds,
                         learning_rate: float, evaluate, clients_per_round: int,
                         round_num: int, model=None, progress: bool = True) -> dict:
    """`measure_round` for each partition (name -> in-memory clients), each number of
    local epochs and each seed of the client sampling: {partition: {epochs: [result per
    seed]}}. For one seed every number of epochs trains the same clients on the same
    examples (`partitions.federated_data_for_round(..., seed=seed)(round_num)`)."""
    from course_utils import partitions
    from course_utils.training_loop import progress_bar

    model = model if model is not None else models.create_keras_model()
    results = {}
    for name, arrays in partitioned.items():
        results[name] = {epochs: [] for epochs in epochs_list}
        for seed in progress_bar(seeds, name, "sample", progress):
            for epochs in epochs_list:
                datasets = partitions.federated_data_for_round(
                    arrays, clients_per_round, epochs=epochs, seed=seed)(round_num)
                results[name][epochs].append(measure_round(
                    server_weights, datasets, learning_rate, evaluate, model=model))
    return results


def summarize(results: dict) -> dict:
    """Per partition and number of epochs of `measure_over_samples`'s results: the mean,
    min and max over the samples of the accuracy and the cosine, and on how many samples
    the accuracy was below the fewest epochs' on the same sample ("below_fewest")."""
    summary = {}
    for name, by_epochs in results.items():
        fewest = [r["accuracy"] for r in by_epochs[min(by_epochs)]]
        summary[name] = {}
        for epochs, rows in by_epochs.items():
            accuracy = np.array([r["accuracy"] for r in rows])
            cosine = np.array([r["cosine"] for r in rows])
            summary[name][epochs] = {
                "accuracy": float(accuracy.mean()), "accuracy_min": float(accuracy.min()),
                "accuracy_max": float(accuracy.max()), "cosine": float(cosine.mean()),
                "cosine_min": float(cosine.min()), "cosine_max": float(cosine.max()),
                "below_fewest": int(np.sum(accuracy < np.array(fewest))),
                "samples": len(rows)}
    return summary
