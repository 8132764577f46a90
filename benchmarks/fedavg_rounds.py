"""Seconds per FedAvg round: hand-built vs tff.learning vs a plain TensorFlow floor.

    .venv/bin/python benchmarks/fedavg_rounds.py [--data DIR_OR_MODE] [--rounds 10]
        [--tutorial-port] [--out FILE]

Writes benchmarks/results/fedavg_rounds.json (or --out FILE), which the instructors'
appendix of notebook 05 shows as its table (regenerate the notebook's stored outputs
afterwards with tools/run_notebooks.py): the one source of those figures.

In one run, on the same data (the same sampled clients, the same seeded shuffles), it
times one FedAvg round of:

  hand-built    course_utils.fedavg.build_unweighted_fedavg_process (notebook 05)
  tff.learning  tff.learning.algorithms.build_unweighted_fed_avg with client SGD and
                server SGD(1.0): the same algorithm, so the same weights come out
  plain TF      the same local training (course_utils.fedavg.client_update) run client
                after client in this process, then a NumPy mean: no federated runtime
                at all. No FedAvg implementation on TFF can beat this floor.
  tutorial port (with --tutorial-port) the official tutorial's code ported to TFF 0.87
                as is, and the hand-built process with one of the tutorial's choices at
                a time (see `tutorial_port_processes`).

The methods take turns round by round, so a busy machine slows all of them alike. The
first round of each method (tracing, compiling, starting the runtime) is not timed. It
prints the median wall-clock seconds per round, the ratios, and checks that the methods
ended with the same weights. It also prints CPU seconds per round (this process plus its
TFF worker): TFF's runtime trains the clients of a round concurrently, so on several
cores its wall time can drop below the sequential floor's while its CPU time cannot.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "fedavg_rounds.json"

import numpy as np  # noqa: E402


def parse_args(argv=None):
    from benchmarks._common import add_client_training, parser as course_parser

    parser = course_parser(__doc__, DEFAULT_OUT)
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds (default 10)")
    parser.add_argument("--clients-per-round", type=int, default=10)
    add_client_training(parser)
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


def tutorial_port_processes(learning_rate) -> dict:
    """The official tutorial's FedAvg ported to TFF 0.87 names and nothing else, and the
    hand-built process with one of the tutorial's choices at a time, to see where the
    port's time goes:

      tutorial port         a tff.learning model (model.forward_pass, which updates
                            Keras metric objects on every batch), a Keras SGD optimizer
                            built in every client computation, a model rebuilt in the
                            server update to copy the mean weights into
      + tff.learning model  hand-built, but training through the tff.learning model
      + Keras optimizer     hand-built, but applying gradients with a Keras SGD
      + server rebuild      hand-built, but the server update rebuilds a model
    """
    import tensorflow as tf

    from course_utils import fedavg, models

    def assign(variables, values):
        tf.nest.map_structure(lambda x, y: x.assign(y), variables, values)

    @tf.function
    def train_tutorial(model, dataset, server_weights, client_optimizer):
        client_weights = model.trainable_variables
        assign(client_weights, server_weights)
        totals = fedavg.zero_metrics()
        for batch in dataset:
            with tf.GradientTape() as tape:
                outputs = model.forward_pass(batch)
            grads = tape.gradient(outputs.loss, client_weights)
            client_optimizer.apply_gradients(zip(grads, client_weights))
            totals = fedavg.add_batch_metrics(totals, outputs.loss, batch["y"],
                                              outputs.predictions)
        return [tf.identity(w) for w in client_weights], totals

    def tutorial_client_update(model, dataset, server_weights, lr):
        client_optimizer = tf.keras.optimizers.SGD(learning_rate=lr)  # built every time
        return train_tutorial(model, dataset, server_weights, client_optimizer)

    @tf.function
    def train_tff_model_plain_sgd(model, dataset, server_weights, lr):
        client_weights = model.trainable_variables
        assign(client_weights, server_weights)
        totals = fedavg.zero_metrics()
        for batch in dataset:
            with tf.GradientTape() as tape:
                outputs = model.forward_pass(batch)
            grads = tape.gradient(outputs.loss, client_weights)
            for variable, grad in zip(client_weights, grads):
                variable.assign_sub(lr * grad)
            totals = fedavg.add_batch_metrics(totals, outputs.loss, batch["y"],
                                              outputs.predictions)
        return [tf.identity(w) for w in client_weights], totals

    @tf.function
    def train_keras_optimizer(model, dataset, server_weights, client_optimizer):
        client_weights = model.trainable_variables
        assign(client_weights, server_weights)
        loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()
        totals = fedavg.zero_metrics()
        for batch in dataset:
            with tf.GradientTape() as tape:
                predictions = model(batch["x"], training=True)
                loss = loss_fn(batch["y"], predictions)
            grads = tape.gradient(loss, client_weights)
            client_optimizer.apply_gradients(zip(grads, client_weights))
            totals = fedavg.add_batch_metrics(totals, loss, batch["y"], predictions)
        return [tf.identity(w) for w in client_weights], totals

    def keras_optimizer_client_update(model, dataset, server_weights, lr):
        return train_keras_optimizer(model, dataset, server_weights,
                                     tf.keras.optimizers.SGD(learning_rate=lr))

    @tf.function
    def copy_into_model(model, mean_client_weights):
        weights = model.trainable_variables
        assign(weights, mean_client_weights)
        return [tf.identity(w) for w in weights]

    def tutorial_server_update(mean_client_weights):
        return copy_into_model(models.tff_model_fn(), mean_client_weights)

    def rebuild_server_update(mean_client_weights):
        return copy_into_model(models.create_keras_model(), mean_client_weights)

    build = fedavg.build_unweighted_fedavg_process
    return {
        "tutorial port": build(learning_rate, model_fn=models.tff_model_fn,
                               client_update=tutorial_client_update,
                               server_update=tutorial_server_update),
        "+ tff.learning model": build(learning_rate, model_fn=models.tff_model_fn,
                                      client_update=train_tff_model_plain_sgd),
        "+ Keras optimizer": build(learning_rate,
                                   client_update=keras_optimizer_client_update),
        "+ server rebuild": build(learning_rate, server_update=rebuild_server_update),
    }


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
    load_before = os.getloadavg()
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
    hand = fedavg.build_unweighted_fedavg_process(lr)
    learning = tff.learning.algorithms.build_unweighted_fed_avg(
        models.tff_model_fn,
        client_optimizer_fn=tff.learning.optimizers.build_sgdm(learning_rate=lr),
        server_optimizer_fn=tff.learning.optimizers.build_sgdm(learning_rate=1.0))
    ports = tutorial_port_processes(lr) if args.tutorial_port else {}
    # Built last: building TFF computations creates Keras models inside graphs, which
    # invalidates Keras models created eagerly before them.
    floor = plain_tensorflow_round(models.create_keras_model(), lr)

    methods = {
        "hand-built": [hand.next, hand.initialize()],
        "tff.learning": [lambda s, d: learning.next(s, d).state, learning.initialize()],
        "plain TF": [floor, [np.zeros_like(w) for w in hand.initialize()]],
    }
    for name, process in ports.items():
        methods[name] = [lambda s, d, p=process: p.next(s, d)[0], process.initialize()]
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
    print(f"{'method':<22} {'median s/round':>15} {'mean':>8} {'min':>8} {'max':>8}"
          f" {'CPU s/round':>12}")
    for name, times in seconds.items():
        print(f"{name:<22} {median[name]:>15.3f} {statistics.mean(times):>8.3f} "
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
    for name in ports:
        print(f"{name} / hand-built = {median[name] / hand_s:.2f}x (CPU "
              f"{cpu_median[name] / cpu_median['hand-built']:.2f}x), / tff.learning = "
              f"{median[name] / tff_s:.2f}x")
    print()
    differences = {}
    for name in methods:
        if name != "hand-built":
            diff = differences[name] = fedavg.max_weight_difference(final["hand-built"],
                                                                    final[name])
            print(f"same final weights as hand-built: {name:<22} max |difference| "
                  f"{diff:.1e} -> {'yes' if diff < 1e-4 else 'no'}")
    result = {
        "command": "python benchmarks/fedavg_rounds.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "data": source.description, "clients_total": len(ids),
        "tff": tff.__version__, "cpus": os.cpu_count(), "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load],
        "timed_rounds": args.rounds, "clients_per_round": args.clients_per_round,
        "epochs": args.epochs, "batch_size": args.batch_size,
        "client_learning_rate": lr, "examples_per_round": round(examples / args.rounds),
        "rows": [{"method": name, "seconds_per_round": median[name],
                  "cpu_seconds_per_round": cpu_median[name],
                  "relative_to_tff_learning": median[name] / tff_s,
                  "max_weight_difference_to_hand_built": differences.get(name, 0.0)}
                 for name in methods],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    print("(Methods that train through a tff.learning model differ from the others when "
          "some predictions saturate, e.g. on the offline data at learning rate 0.3: its "
          "Keras wrapper computes the cross-entropy from clipped probabilities, the others "
          "from the logits. See notebook 05.)")
    return 0


def tf_size(batch):
    import tensorflow as tf

    return tf.shape(batch["y"])[0]


if __name__ == "__main__":
    sys.exit(main())
