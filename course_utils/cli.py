"""The course's terminal entry point: `python -m course_utils <command>`.

  doctor   check the environment (versions, a federated computation, data)
  data     build/check the dataset the course would use, and describe it
  nav      write notebooks' header/setup/footer cells and the README's syllabus
           table from course_utils/syllabus.py (--check: only compare)
  train    train one of the course's algorithms and evaluate it (--json for scripts);
           `python -m course_utils train --help` lists the algorithms
  worker   run a TFF worker on --port for other hosts: give the address it prints to
           course_utils.cluster.distributed_context(addresses=[...])
"""

from __future__ import annotations

import argparse
import sys


def _doctor(args) -> int:
    import course_utils

    return 0 if course_utils.doctor() else 1


def _data(args) -> int:
    from course_utils import data

    source = data.resolve_source(args.data)
    splits = data.prepare(source)
    print(f"{source.description}\n{source.sqlite_path}")
    for split, clients in sorted(splits.items()):
        print(f"  {split}: {clients} clients")
    return 0


def _nav(args) -> int:
    from course_utils import navigation

    return navigation.main(check=args.check, paths=args.paths)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _algorithm_names() -> tuple[list[str] | None, str]:
    """The registry's algorithms, and a help text listing them with descriptions."""
    try:
        from course_utils import algorithms

        entries = algorithms.available()
    except Exception as error:  # noqa: BLE001 - keep doctor/data usable; train reports it
        return None, f"(the algorithm registry failed to load: {type(error).__name__}: {error})"
    return list(entries), "; ".join(f"{name}: {a.description}" for name, a in entries.items())


def _add_train_parser(commands) -> None:
    names, described = _algorithm_names()
    train = commands.add_parser(
        "train", help="train an algorithm and evaluate it centrally",
        description="Train one of the course's federated algorithms (the same code as the "
                    "notebooks), then evaluate the final model centrally on one split. "
                    "Progress goes to stderr; --json prints one JSON object on stdout.")
    train.add_argument("--algorithm", required=True, choices=names, metavar="NAME",
                       help=f"one of: {described}")
    train.add_argument("--rounds", type=_positive_int, default=15)
    train.add_argument("--clients-per-round", type=_positive_int, default=10)
    train.add_argument("--seed", type=int, default=0,
                       help="seeds client sampling and shuffling (default 0)")
    train.add_argument("--data", default=None,
                       help="auto | emnist | offline | a directory with emnist_all.sqlite "
                            "(default: $COURSE_DATA or auto)")
    train.add_argument("--eval-split", default=None,
                       help="split of that SQLite file to evaluate on "
                            "(default: digits_only_test)")
    train.add_argument("--epochs", type=_positive_int, default=5,
                       help="local epochs per round (default 5)")
    train.add_argument("--batch-size", type=_positive_int, default=20)
    train.add_argument("--client-learning-rate", type=float, default=0.3)
    train.add_argument("--server-learning-rate", type=float, default=1.0)
    train.add_argument("--no-invert", dest="invert", action="store_false",
                       help="keep TFF's pixels (1.0 = background), as the original tutorial")
    train.add_argument("--fixed-clients", action="store_true",
                       help="the same first clients every round (the original tutorial) "
                            "instead of a fresh random sample per round")
    train.add_argument("--extra", type=_key_value, action="append", default=[],
                       metavar="KEY=VALUE", help="an algorithm-specific option (repeatable)")
    train.add_argument("--workers", type=_positive_int, default=1,
                       help="run on N local TFF workers (TFF's distributed runtime, "
                            "notebook 08); default 1")
    train.add_argument("--json", action="store_true",
                       help="print exactly one JSON object on stdout")
    train.add_argument("--no-progress", dest="progress", action="store_false",
                       help="no progress bar")
    train.set_defaults(run=_train)


def _train(args) -> int:
    from course_utils import experiment
    from course_utils.algorithms import TrainConfig

    config = TrainConfig(
        rounds=args.rounds, clients_per_round=args.clients_per_round, seed=args.seed,
        epochs=args.epochs, batch_size=args.batch_size,
        client_learning_rate=args.client_learning_rate,
        server_learning_rate=args.server_learning_rate, invert=args.invert,
        extra=dict(args.extra), fixed_clients=args.fixed_clients)

    def run():
        if args.workers == 1:
            return experiment.run_experiment(args.algorithm, config, args.data,
                                              args.eval_split, progress=args.progress)
        from course_utils import cluster  # only needed here: train works without it

        with cluster.distributed_context(args.workers):
            result = experiment.run_experiment(args.algorithm, config, args.data,
                                                args.eval_split, progress=args.progress)
        result["config"]["workers"] = args.workers
        return result

    if not args.json:
        print(experiment.format_result(run()))
        return 0
    import json
    import os

    # Only the JSON object may reach stdout: send everything else (prints, C++ logs)
    # to stderr while training.
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        result = run()
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    print(json.dumps(result))
    return 0


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is at most 65535, got {value}")
    return value


def _add_worker_parser(commands) -> None:
    worker = commands.add_parser(
        "worker", help="run a TFF worker that other hosts use",
        description="Start TFF's executor service (worker_binary) on --port of this host "
                    "and print one line, 'ready at HOST:PORT ...', when it answers; give "
                    "that address to course_utils.cluster.distributed_context(addresses="
                    "[...]) on the host that runs the training loop. Stops on Ctrl-C, "
                    "SIGTERM, or when the process that started it exits.")
    worker.add_argument("--port", type=_port, required=True)
    worker.add_argument("--host", default=None,
                        help="the address other hosts reach this one at, printed in the "
                             "ready line (default: this host's first non-loopback IPv4 "
                             "address). TFF 0.87's worker listens on all interfaces "
                             "whatever this says: restrict access with a firewall.")
    worker.add_argument("--data", default=None,
                        help="check that this data is here, at the same path as on the "
                             "host that runs the training loop: the same value it uses "
                             "(a directory with emnist_all.sqlite, or a mode)")
    worker.add_argument("--start-timeout", type=float, default=60.0,
                        help="seconds to wait for the worker to answer (default 60)")
    worker.set_defaults(run=_worker)


def _worker(args) -> int:
    from course_utils import worker_service

    return worker_service.serve(args.port, args.host, args.data,
                                start_timeout=args.start_timeout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check the environment").set_defaults(run=_doctor)
    data_parser = commands.add_parser("data", help="prepare and describe the dataset")
    data_parser.add_argument("--data", default=None,
                             help="auto | emnist | offline | a directory with emnist_all.sqlite "
                                  "(default: $COURSE_DATA or auto)")
    data_parser.set_defaults(run=_data)
    nav_parser = commands.add_parser(
        "nav", help="generate notebook headers/setup/footers and README syllabus")
    nav_parser.add_argument("--check", action="store_true",
                            help="write nothing; exit 1 listing what differs")
    nav_parser.add_argument("paths", nargs="*",
                            help="only these notebooks / README.md (default: all)")
    nav_parser.set_defaults(run=_nav)
    _add_train_parser(commands)
    _add_worker_parser(commands)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from course_utils.data import DataError
    from course_utils.experiment import ExperimentError
    from course_utils.worker_service import WorkerServiceError
    from course_utils.workers import WorkerError

    try:
        return args.run(args)
    except (DataError, ExperimentError, WorkerServiceError, WorkerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
