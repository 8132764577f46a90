"""Seconds per FedAvg round: hand-built vs tff.learning vs a plain TensorFlow floor.

    .venv/bin/python benchmarks/fedavg_rounds.py [--data DIR_OR_MODE] [--rounds 10]

In one run, on the same data (the same sampled clients, the same seeded shuffles), it
times one FedAvg round of:

  hand-built    course_utils.fedavg.build_fedavg_process (notebook 05)
  tff.learning  tff.learning.algorithms.build_unweighted_fed_avg with client SGD and
                server SGD(1.0): the same algorithm, so the same weights come out
  plain TF      the same local training (course_utils.fedavg.client_update) run client
                after client in this process, then a NumPy mean: no federated runtime
                at all. No FedAvg implementation on TFF can beat this floor.
  tutorial port (with --tutorial-port) the official tutorial's code ported to TFF 0.87
                as is: a tff.learning model with metrics, a Keras SGD optimizer built
                inside the client computation and a model rebuilt for the server update.

The methods take turns round by round, so a busy machine slows all of them alike. The
first round of each method (tracing, compiling, starting the runtime) is not timed. It
prints the median wall-clock seconds per round, the ratios, and checks that the methods
ended with the same weights. It also prints CPU seconds per round (this process plus its
TFF worker): TFF's runtime trains the clients of a round concurrently, so on several
cores its wall time can drop below the sequential floor's while its CPU time cannot.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import numpy as np  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None,
                        help="auto | emnist | offline | a directory with emnist_all.sqlite "
                             "(default: $COURSE_DATA or auto)")
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds (default 10)")
    parser.add_argument("--clients-per-round", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--client-learning-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tutorial-port", action="store_true",
                        help="also time the tutorial's code ported as is")
    return parser.parse_args(argv)


def plain_tensorflow_round(model, learning_rate):
    """One FedAvg round with no federated runtime: the floor."""
    from course_utils import fedavg

    def run_round(weights, client_datasets):
        client_weights = [fedavg.client_update(model, dataset, weights, learning_rate)[0]
                          for dataset in client_datasets]
        return [np.mean([w[i].numpy() for w in client_weights], axis=0)
                for i in range(len(weights))]

    return run_round


def tutorial_port_process(learning_rate):
    """The official tutorial's FedAvg, ported to 0.87 names and nothing else."""
    import tensorflow as tf

    from course_utils import fedavg, models

    @tf.function
    def train(model, dataset, server_weights, client_optimizer):
        client_weights = model.trainable_variables
        tf.nest.map_structure(lambda x, y: x.assign(y), client_weights, server_weights)
        totals = fedavg.zero_metrics()
        for batch in dataset:
            with tf.GradientTape() as tape:
                outputs = model.forward_pass(batch)
            grads = tape.gradient(outputs.loss, client_weights)
            client_optimizer.apply_gradients(zip(grads, client_weights))
            totals = fedavg.add_batch_metrics(totals, outputs.loss, batch["y"],
                                              outputs.predictions)
        return [tf.identity(w) for w in client_weights], totals

    def client_update(model, dataset, server_weights, lr):
        client_optimizer = tf.keras.optimizers.SGD(learning_rate=lr)  # built every time
        return train(model, dataset, server_weights, client_optimizer)

    @tf.function
    def assign_server_weights(model, mean_client_weights):
        weights = model.trainable_variables
        tf.nest.map_structure(lambda x, y: x.assign(y), weights, mean_client_weights)
        return [tf.identity(w) for w in weights]

    def server_update(mean_client_weights):
        model = models.tff_model_fn()  # the tutorial rebuilds the model here
        return assign_server_weights(model, mean_client_weights)

    return fedavg.build_fedavg_process(learning_rate, model_fn=models.tff_model_fn,
                                       client_update=client_update,
                                       server_update=server_update)


def cpu_seconds() -> float:
    """CPU time used so far by this process and its children (the TFF worker)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def main(argv=None) -> int:
    args = parse_args(argv)
    import course_utils

    course_utils.setup(verbose=False)
    import tensorflow_federated as tff

    from course_utils import data, fedavg, models

    train, _ = data.load_emnist(data=args.data)
    ids = train.client_ids
    total_rounds = args.rounds + 1  # round 0 warms up

    def round_data(round_num):
        clients = data.sample_clients(ids, args.clients_per_round, round_num, args.seed)
        return data.make_federated_data(train, clients, epochs=args.epochs,
                                        batch_size=args.batch_size, seed=args.seed)

    lr = args.client_learning_rate
    hand = fedavg.build_fedavg_process(lr)
    learning = tff.learning.algorithms.build_unweighted_fed_avg(
        models.tff_model_fn,
        client_optimizer_fn=tff.learning.optimizers.build_sgdm(learning_rate=lr),
        server_optimizer_fn=tff.learning.optimizers.build_sgdm(learning_rate=1.0))
    port = tutorial_port_process(lr) if args.tutorial_port else None
    # Built last: building TFF computations creates Keras models inside graphs, which
    # invalidates Keras models created eagerly before them.
    floor = plain_tensorflow_round(models.create_keras_model(), lr)

    methods = {
        "hand-built": [hand.next, hand.initialize()],
        "tff.learning": [lambda s, d: learning.next(s, d).state, learning.initialize()],
        "plain TF": [floor, [np.zeros_like(w) for w in hand.initialize()]],
    }
    if port is not None:
        methods["tutorial port"] = [lambda s, d: port.next(s, d)[0], port.initialize()]
    seconds = {name: [] for name in methods}
    cpu = {name: [] for name in methods}

    examples = 0
    for round_num in range(total_rounds):
        federated_data = round_data(round_num)
        if round_num:
            examples += sum(int(ds.reduce(0, lambda n, b: n + tf_size(b)))
                            for ds in federated_data)
        for name, method in methods.items():
            step, state = method
            cpu_start, start = cpu_seconds(), time.perf_counter()
            output = step(state, federated_data)
            elapsed, cpu_used = time.perf_counter() - start, cpu_seconds() - cpu_start
            method[1] = output[0] if name == "hand-built" else output
            if round_num:
                seconds[name].append(elapsed)
                cpu[name].append(cpu_used)
        print(f"round {round_num}: " + ", ".join(
            f"{name} {seconds[name][-1]:.3f} s" if round_num else f"{name} (warm-up)"
            for name in methods), file=sys.stderr, flush=True)

    final = {name: method[1] for name, method in methods.items()}
    final["tff.learning"] = learning.get_model_weights(final["tff.learning"]).trainable
    median = {name: statistics.median(times) for name, times in seconds.items()}
    load = os.getloadavg()
    source = data.resolve_source(args.data)
    print(f"FedAvg seconds per round: {args.rounds} timed rounds after 1 warm-up, "
          f"{args.clients_per_round} clients/round, {args.epochs} epochs, batch "
          f"{args.batch_size}, {examples / args.rounds:.0f} examples/round on average")
    print(f"data: {source.description}")
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} / {load[1]:.2f} / "
          f"{load[2]:.2f} (1/5/15 min) at the end")
    print()
    print(f"{'method':<14} {'median s/round':>15} {'mean':>8} {'min':>8} {'max':>8}"
          f" {'CPU s/round':>12}")
    for name, times in seconds.items():
        print(f"{name:<14} {median[name]:>15.3f} {statistics.mean(times):>8.3f} "
              f"{min(times):>8.3f} {max(times):>8.3f} {statistics.median(cpu[name]):>12.3f}")
    print()
    floor_s, tff_s, hand_s = median["plain TF"], median["tff.learning"], median["hand-built"]
    print(f"hand-built / tff.learning = {hand_s / tff_s:.2f}x   (goal: <= 1.0x)")
    print(f"hand-built / plain TF     = {hand_s / floor_s:.2f}x")
    print(f"tff.learning / plain TF   = {tff_s / floor_s:.2f}x")
    cpu_median = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"CPU time: hand-built / tff.learning = "
          f"{cpu_median['hand-built'] / cpu_median['tff.learning']:.2f}x, hand-built / "
          f"plain TF = {cpu_median['hand-built'] / cpu_median['plain TF']:.2f}x, "
          f"tff.learning / plain TF = "
          f"{cpu_median['tff.learning'] / cpu_median['plain TF']:.2f}x")
    if "tutorial port" in median:
        port_s = median["tutorial port"]
        print(f"tutorial port / hand-built = {port_s / hand_s:.2f}x, "
              f"/ tff.learning = {port_s / tff_s:.2f}x")
    print()
    for name in methods:
        if name != "hand-built":
            diff = fedavg.max_weight_difference(final["hand-built"], final[name])
            print(f"same final weights as hand-built: {name:<14} max |difference| "
                  f"{diff:.1e} -> {'yes' if diff < 1e-4 else 'NO'}")
    return 0


def tf_size(batch):
    import tensorflow as tf

    return tf.shape(batch["y"])[0]


if __name__ == "__main__":
    sys.exit(main())
