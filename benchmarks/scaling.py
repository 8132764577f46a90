"""Seconds per FedAvg round vs clients per round, on 1 TFF worker vs N workers.

    .venv/bin/python benchmarks/scaling.py --data /tmp/femnist
        [--clients 10 50 200] [--workers 1 2] [--netns 2] [--rounds 3] [--out FILE]

Writes benchmarks/results/scaling.json, which notebook 08 plots (regenerate the
notebook's stored outputs afterwards with tools/run_notebooks.py). Configurations:

  local      course_utils' default context: one worker, no splitting (what notebooks
             02-07 use)
  N worker(s) course_utils.runtime.cluster's distributed context (TFF's
             MergeableCompExecutionContext): each round's clients split across N workers
             on loopback ports
  N netns workers  (--netns N, needs root) the same context over
             `distributed_context(addresses=[...])`, the code a real cluster uses: N
             separate network namespaces (tests/netns.py, as in
             tests/test_netns_cluster.py), each running `python -m course_utils worker`

Every configuration runs course_utils.fedavg unchanged, on the same sampled clients
(course settings: 5 local epochs, batch 20, lr 0.3). All workers are started up front
and the configurations take turns round by round, so a machine that gets busier during
the run slows all of them alike. The first round of each (configuration, clients)
pair is not timed (tracing, compiling, loading the computation on the workers). Also
recorded: CPU seconds the workers and this Python process used per round (how many
cores a configuration actually kept busy), how many cores *other* programs kept busy
meanwhile (from /proc/stat: the measurement's noise; near 0 on a quiet machine), and
the load average before and after (which includes this benchmark's own load).
Timings on a shared machine are noisy: run it when `uptime` shows a quiet machine.
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

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "scaling.json"


def parse_args(argv=None):
    from benchmarks._common import add_client_training, parser as course_parser

    parser = course_parser(__doc__, DEFAULT_OUT)
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 50, 200],
                        help="clients per round to measure (default 10 50 200)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="numbers of workers to compare (default 1 2)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per point")
    add_client_training(parser, learning_rate=False)
    parser.add_argument("--netns", type=int, default=0, metavar="N",
                        help="also N workers in N network namespaces (needs root)")
    parser.add_argument("--no-local", action="store_true",
                        help="skip the default (unsplit) context")
    return parser.parse_args(argv)


def _system_busy_seconds() -> float:
    """CPU-seconds all programs on this machine have used since boot (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def measure(args) -> dict:
    import course_utils

    course_utils.setup(verbose=False)
    import tensorflow_federated as tff
    from tensorflow_federated.python.core.impl.context_stack import context_stack_impl

    from course_utils import data, fedavg
    from course_utils.runtime import cluster
    from course_utils.runtime import context as runtime

    stack = context_stack_impl.context_stack
    train, _ = data.load_emnist(data=args.data)
    ids = list(train.client_ids)
    too_many = [c for c in args.clients if c > len(ids)]
    if too_many:
        raise SystemExit(f"error: {too_many} clients per round, but the data has only "
                         f"{len(ids)} clients (use --data /tmp/femnist or fewer clients)")

    process = fedavg.build_unweighted_fedavg_process()
    pools = {n: cluster.WorkerPool(n).start() for n in args.workers}
    configs = {}  # name -> (context or None for the default, pids of its workers)
    if not args.no_local:
        configs["local"] = (None, lambda: [runtime.local_worker().pid])
    for n, pool in pools.items():
        name = f"{n} worker" + ("s" if n > 1 else "")
        configs[name] = (cluster.create_distributed_context(pool), lambda p=pool: p.pids)
    hosts = _netns_hosts(args.netns, args.data) if args.netns else None
    if hosts is not None:
        remote = [w for h in hosts.hosts for w in h.workers]
        configs[f"{args.netns} netns workers"] = (
            cluster.create_distributed_context([w.address for w in remote]),
            lambda: [pid for w in remote for pid in w.worker_binary_pids()])

    def run_round(config, state, federated_data):
        context, pids = configs[config]
        worker_cpu, python_cpu = _cpu_seconds(pids()), time.process_time()
        busy = _system_busy_seconds()
        start = time.perf_counter()
        if context is None:
            new_state, _ = process.next(state, federated_data)
        else:
            with stack.install(context):
                new_state, _ = process.next(state, federated_data)
        seconds = time.perf_counter() - start
        worker_cpu = _cpu_seconds(pids()) - worker_cpu
        python_cpu = time.process_time() - python_cpu
        # Cores other programs kept busy meanwhile: the measurement's noise.
        background = (_system_busy_seconds() - busy - worker_cpu - python_cpu) / seconds
        return new_state, seconds, (worker_cpu, python_cpu, max(background, 0.0))

    load_before = os.getloadavg()
    rows, final_states = [], {}
    try:
        state = process.initialize()
        for clients in args.clients:
            rounds = [data.make_federated_data(
                train, data.sample_clients(ids, clients, r, args.seed),
                epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
                for r in range(args.rounds + 1)]
            results = {c: {"seconds": [], "worker_cpu": [], "python_cpu": [],
                           "background": []} for c in configs}
            for r, federated_data in enumerate(rounds):
                names = list(configs)
                names = names[r % len(names):] + names[:r % len(names)]  # take turns
                for config in names:
                    new_state, seconds, (w_cpu, p_cpu, bg) = run_round(
                        config, state, federated_data)
                    final_states.setdefault(clients, {})[config] = new_state
                    if r == 0:
                        continue  # warm-up round, not timed
                    results[config]["seconds"].append(seconds)
                    results[config]["worker_cpu"].append(w_cpu)
                    results[config]["python_cpu"].append(p_cpu)
                    results[config]["background"].append(bg)
            for config, res in results.items():
                row = {"config": config, "clients": clients,
                       "seconds_per_round": statistics.median(res["seconds"]),
                       "seconds": [round(s, 3) for s in res["seconds"]],
                       "worker_cpu_per_round": statistics.median(res["worker_cpu"]),
                       "python_cpu_per_round": statistics.median(res["python_cpu"]),
                       "background_cores": round(statistics.mean(res["background"]), 2)}
                rows.append(row)
                print(f"{clients:4d} clients  {config:15s} {row['seconds_per_round']:6.2f} s/round"
                      f"  (workers used {row['worker_cpu_per_round']:5.2f} CPU-s, "
                      f"python {row['python_cpu_per_round']:4.2f} CPU-s; other programs "
                      f"kept {row['background_cores']:.2f} cores busy)", flush=True)
    finally:
        for pool in pools.values():
            pool.stop()
        if hosts is not None:
            hosts.close()

    # All configurations computed the same rounds: their final weights must agree.
    import numpy as np

    def difference(a, b):
        return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
                   for x, y in zip(a, b, strict=True))

    first = next(iter(configs))
    max_diff = max(difference(states[first], s)
                   for states in final_states.values() for s in states.values())
    diff_vs_first = {c: max(difference(states[first], states[c])
                            for states in final_states.values()) for c in configs}
    return {
        "command": "python benchmarks/scaling.py " + " ".join(sys.argv[1:]),
        "data": data.resolve_source(args.data).description,
        "tff": tff.__version__, "cpus": os.cpu_count(), "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "epochs": args.epochs, "batch_size": args.batch_size, "timed_rounds": args.rounds,
        "max_weight_difference_between_configs": max_diff,
        f"max_weight_difference_vs_{first}": diff_vs_first,
        "rows": rows,
    }


def _netns_hosts(count: int, data_arg):
    """`count` network namespaces with a course worker each (tests/netns.py)."""
    from tests import netns

    reason = netns.unavailable_reason()
    if reason:
        raise SystemExit(f"error: --netns needs network namespaces: {reason}")
    hosts = netns.NetnsHosts(count).create()
    try:
        for i in range(count):
            hosts.start_worker(i, 8000, data=data_arg)
    except BaseException:
        hosts.close()
        raise
    return hosts


def table(result: dict) -> str:
    """Markdown table: clients per round x configuration, seconds per round."""
    configs = list(dict.fromkeys(r["config"] for r in result["rows"]))
    clients = sorted({r["clients"] for r in result["rows"]})
    cell = {(r["clients"], r["config"]): r["seconds_per_round"] for r in result["rows"]}
    lines = ["| clients per round | " + " | ".join(configs) + " |",
             "|---:|" + "---:|" * len(configs)]
    for c in clients:
        lines.append(f"| {c} | " + " | ".join(f"{cell[c, k]:.2f} s" for k in configs) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    result = measure(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    background = max(r["background_cores"] for r in result["rows"])
    print(f"other programs kept at most {background:.2f} cores busy during a point")
    print(f"load average before/after: {result['load_average_before'][0]} / "
          f"{result['load_average_after'][0]}; max weight difference between "
          f"configurations: {result['max_weight_difference_between_configs']:.1e}")
    first, diffs = next((k, v) for k, v in result.items()
                        if k.startswith("max_weight_difference_vs_"))
    print(f"max weight difference to {first.removeprefix('max_weight_difference_vs_')}: "
          + ", ".join(f"{c} {d:.1e}" for c, d in diffs.items()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
