"""Record notebook 08's "on a real cluster" example: the worker command on two separate
hosts (network namespaces of this machine, tests/netns.py; needs root), then the
notebook's two FedAvg rounds driven from here with `distributed_context(addresses=...)`.

    sudo .venv/bin/python benchmarks/netns_example.py --data sample

Writes benchmarks/results/netns_example.txt, which notebook 08 and the README show as a
recorded example. The data directory is written as $DATA (it is a path of this machine).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "netns_example.txt"
PORT = 8000


def record(data_dir: str) -> str:
    import numpy as np

    import course_utils

    course_utils.setup(verbose=False)
    from course_utils import data, fedavg
    from course_utils.runtime import cluster
    from tests import netns

    reason = netns.unavailable_reason()
    if reason:
        raise SystemExit(f"error: {reason}")
    train, _ = data.load_emnist(data=data_dir, verbose=False)
    process = fedavg.build_unweighted_fedavg_process()
    rounds_data = [data.make_federated_data(
        train, data.sample_clients(train.client_ids, 10, r, seed=0), epochs=5,
        batch_size=20) for r in (1, 2)]  # notebook 08's two rounds

    def run_rounds():
        state = process.initialize()
        for federated_data in rounds_data:
            start = time.perf_counter()
            state, metrics = process.next(state, federated_data)
            print(f"round done in {time.perf_counter() - start:.2f} s:",
                  {k: round(float(v), 3) for k, v in metrics.items()})
        return state

    out = io.StringIO()
    with netns.NetnsHosts(2) as hosts, redirect_stdout(out):
        workers = []
        for i, host in enumerate(hosts.hosts):
            worker = hosts.start_worker(i, PORT, data=data_dir)
            command = worker.process.args[worker.process.args.index("-m") - 1:]
            command[0] = "python"  # the command ran as `ip netns exec <host> <command>`
            print(f"# on host {'AB'[i]} ({host.address}):\n$ {' '.join(command)}\n"
                  f"{worker.ready}\n")
            workers.append(worker)
        addresses = [w.address for w in workers]
        print(f"# on the training host:\n>>> with cluster.distributed_context("
              f"addresses={addresses}):\n...     state = run_rounds()")
        with cluster.distributed_context(addresses=addresses):
            distributed = run_rounds()
        print(">>> reference = run_rounds()   # the usual local context")
        reference = run_rounds()
        largest = max(float(np.max(np.abs(a - b))) for a, b in zip(reference, distributed))
        print(f"largest weight difference to the local run: {largest:.1e}")
    header = (f"Recorded by benchmarks/netns_example.py on {time.strftime('%Y-%m-%d')}: "
              f"two network namespaces of one {os.cpu_count()}-core machine as hosts A "
              "and B (the first round includes compiling and loading the computation).")
    return header + "\n\n" + out.getvalue().replace(data_dir.rstrip("/"), "$DATA")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True,
                        help="a directory with emnist_all.sqlite (shown as $DATA)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    text = record(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
