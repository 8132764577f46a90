"""The course's terminal entry point: `python -m course_utils <command>`.

  doctor   check the environment (versions, a federated computation, data)
  data     build/check the dataset the course would use, and describe it
  nav      write notebooks' header/setup/footer cells and the README's syllabus
           table from course_utils/authoring/syllabus.py, and each exercise notebook's
           learner copy from its solved copy (--check: only compare)
  train    train one of the course's algorithms and evaluate it (--json for scripts);
           `python -m course_utils train --help` lists the algorithms
  worker   run a TFF worker on --port for other hosts: give the address it prints to
           course_utils.runtime.cluster.distributed_context(addresses=[...])
  grade    (instructors) grade learners' exercise notebooks, each in a fresh kernel,
           with the course's checkers: writes gradebook.csv and gradebook.json

Every mistake in the arguments (a name that does not exist, a number out of range,
unusable data, impossible settings) ends with exit code 2 and one line on stderr that
names the problem and what would work, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

USAGE_ERROR = 2      # bad arguments (argparse's code too)
RUN_ERROR = 1        # the run itself failed (e.g. a TFF worker died)
INTERRUPTED = 130    # Ctrl-C (128 + SIGINT), as shells report it


class UsageError(ValueError):
    """The command's arguments cannot work; the message says what would."""


class CourseArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in ONE line (no usage block), plus `hint`
    when a missing argument is `hint_for` (e.g. the algorithm names for --algorithm)."""

    def __init__(self, *args, hint_for: str = "", hint: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.hint_for, self.hint = hint_for, hint

    def error(self, message):
        if self.hint_for and self.hint_for in message and "required" in message:
            message += f" ({self.hint})"
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}. "
                               f"See `{self.prog} --help`.\n")


def _doctor(args) -> int:
    import course_utils

    return 0 if course_utils.doctor() else 1


def _data(args) -> int:
    from course_utils import data

    source = data.resolve_source(args.data)
    splits = data.prepare(source)
    print(f"{data.describe(source)}\n{source.sqlite_path}")
    for split, clients in sorted(splits.items()):
        print(f"  {split}: {clients} clients")
    return 0


def _nav(args) -> int:
    from course_utils.authoring import navigation

    for path in args.paths:
        if not (Path(path).suffix == ".ipynb" or Path(path).name == "README.md") \
                or not Path(path).is_file():
            raise UsageError(f"nav {path}: not a notebook (.ipynb) or README.md that "
                             "exists; give paths like notebooks/05_fedavg_from_scratch.ipynb "
                             "or none (all of them).")
    return navigation.main(check=args.check, paths=args.paths)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:  # NumPy's seed sequences take non-negative integers only
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number greater than 0, got {text}")
    return value


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _add_train_parser(commands) -> None:
    from course_utils.cli import algorithms
    from course_utils.settings import COURSE

    entries = algorithms.available()
    described = "; ".join(f"{name}: {a.help_line()}" for name, a in entries.items())
    train = commands.add_parser(
        "train", hint_for="--algorithm", hint=f"one of: {', '.join(entries)}",
        help="train an algorithm and evaluate it centrally",
        description="Train one of the course's federated algorithms (the same code as the "
                    "notebooks), then evaluate the final model centrally on one split. "
                    "Progress goes to stderr; --json prints one JSON object on stdout.")
    train.add_argument("--algorithm", required=True, choices=list(entries), metavar="NAME",
                       help=f"one of: {described}")
    train.add_argument("--rounds", type=_positive_int, default=COURSE.rounds)
    train.add_argument("--clients-per-round", type=_positive_int,
                       default=COURSE.clients_per_round)
    train.add_argument("--seed", type=_seed, default=COURSE.seed,
                       help=f"seeds client sampling and shuffling (default {COURSE.seed})")
    train.add_argument("--data", default=None,
                       help="sample | emnist | a directory with emnist_all.sqlite "
                            "(default: $COURSE_DATA or sample)")
    train.add_argument("--eval-split", default=None,
                       help="split of that SQLite file to evaluate on (default: "
                            "digits_only_test), or heldout_writers: all examples of a "
                            "fixed fifth of the writers, who are then left out of "
                            "training")
    train.add_argument("--epochs", type=_positive_int, default=COURSE.epochs,
                       help=f"local epochs per round (default {COURSE.epochs})")
    train.add_argument("--batch-size", type=_positive_int, default=COURSE.batch_size)
    train.add_argument("--client-learning-rate", type=_positive_number,
                       default=COURSE.client_learning_rate)
    train.add_argument("--server-learning-rate", type=_positive_number, default=None,
                       help=f"the server's step (default {COURSE.server_learning_rate:g}; "
                            "fedadam: its own, see above)")
    train.add_argument("--model", choices=["linear", "cnn"], default=COURSE.model,
                       help="linear: one dense softmax layer (7,850 parameters); cnn: a "
                            "small CNN (56,714 parameters, notebook 09). Default "
                            f"{COURSE.model}")
    train.add_argument("--no-invert", dest="invert", action="store_false",
                       help="keep TFF's pixels (1.0 = background), as the original tutorial")
    train.add_argument("--fixed-clients", action="store_true",
                       help="the same first clients every round (the original tutorial) "
                            "instead of a fresh random sample per round (dp-fedavg then "
                            "accounts its privacy with q = 1: no amplification by "
                            "sampling)")
    train.add_argument("--extra", type=_key_value, action="append", default=[],
                       metavar="KEY=VALUE", help="an algorithm-specific option (repeatable)")
    train.add_argument("--workers", type=_positive_int, default=1,
                       help="run on N local TFF workers (TFF's distributed runtime, "
                            "notebook 08), at most --clients-per-round; default 1")
    train.add_argument("--json", action="store_true",
                       help="print exactly one JSON object on stdout")
    train.add_argument("--no-progress", dest="progress", action="store_false",
                       help="no progress bar")
    train.set_defaults(run=_train)


def _train(args) -> int:
    from course_utils import training_loop
    from course_utils.cli import algorithms, experiment
    from course_utils.settings import COURSE, CourseSettings

    entry = algorithms.get(args.algorithm)
    server_learning_rate = args.server_learning_rate
    if server_learning_rate is None:
        server_learning_rate = entry.server_learning_rate or COURSE.server_learning_rate
    settings = CourseSettings(
        rounds=args.rounds, clients_per_round=args.clients_per_round, seed=args.seed,
        epochs=args.epochs, batch_size=args.batch_size,
        client_learning_rate=args.client_learning_rate,
        server_learning_rate=server_learning_rate, invert=args.invert,
        extra=dict(args.extra), fixed_clients=args.fixed_clients, model=args.model)

    # Refuse unknown or malformed --extra options, or a model the algorithm cannot
    # train, before any data is read.
    entry.parse_options(settings.extra)
    entry.check_model(settings.model)
    if args.workers > args.clients_per_round:
        raise UsageError(f"--workers {args.workers} with --clients-per-round "
                         f"{args.clients_per_round}: each worker trains a share of a "
                         f"round's clients, so use at most {args.clients_per_round} "
                         "workers (or more clients per round).")

    def run():
        with training_loop.ctrl_c_never_lost():
            return train_with_workers()

    def train_with_workers():
        if args.workers == 1:
            return experiment.run_experiment(args.algorithm, settings, args.data,
                                              args.eval_split, progress=args.progress)
        from course_utils.runtime import cluster  # only needed here: train works without it

        with cluster.distributed_context(args.workers):
            result = experiment.run_experiment(args.algorithm, settings, args.data,
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
                    "that address to course_utils.runtime.cluster.distributed_context("
                    "addresses=[...]) on the host that runs the training loop. Stops on "
                    "Ctrl-C, SIGTERM, or when the process that started it exits.")
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
    from course_utils.runtime import compat, worker_service

    compat.apply()  # the readiness check speaks TFF's gRPC protocol: TFF is imported
    return worker_service.serve(args.port, args.host, args.data,
                                start_timeout=args.start_timeout)


def _add_grade_parser(commands) -> None:
    from course_utils.grading import grader

    grade = commands.add_parser(
        "grade", help="grade learners' exercise notebooks (for instructors)",
        description="Grade learners' copies of the exercise notebooks. Each notebook runs "
                    "in a fresh kernel, in a scratch copy, with a time and a memory "
                    "limit: only its exercise cells and the cells they need; then the "
                    "course's checkers, imported afresh, judge the learner's code. Nothing "
                    "the notebook printed or stored counts. Writes gradebook.csv and "
                    "gradebook.json to --out and prints a summary. It runs learners' "
                    "code: for stronger isolation run it in the course's container "
                    "(GRADING.md).")
    grade.add_argument("paths", nargs="+", metavar="PATH",
                       help="a learner's notebook, or a folder of them, e.g. "
                            "submissions/ holding submissions/<learner>/05_*.ipynb")
    grade.add_argument("--out", default="grades", metavar="DIR",
                       help="folder for gradebook.csv and gradebook.json (default: grades)")
    grade.add_argument("--timeout", type=_positive_number, default=grader.DEFAULT_SECONDS,
                       metavar="S", help="seconds per notebook, kernel start included "
                                         f"(default {grader.DEFAULT_SECONDS:g})")
    grade.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                       help="notebooks graded at the same time (default 1; each needs "
                            "about 1 GB of memory and a core)")
    grade.add_argument("--memory", type=_positive_number, default=grader.DEFAULT_MEMORY_GB,
                       metavar="GB", help="memory limit of a notebook's kernel and its "
                                          f"processes (default {grader.DEFAULT_MEMORY_GB:g})")
    grade.set_defaults(run=_grade)


def _grade(args) -> int:
    from course_utils.grading import gradebook, grader, processes, submissions

    try:
        found, skipped = submissions.collect(args.paths)
    except submissions.SubmissionError as error:
        raise UsageError(f"grade {error}") from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"grade --out {out}: a file, not a folder: give a folder for "
                         "gradebook.csv and gradebook.json")
    for path in skipped:
        print(f"skipped {path}: not a copy of an exercise notebook", file=sys.stderr)
    print(f"grading {len(found)} notebook(s), {args.jobs} at a time, at most "
          f"{args.timeout:g} s each", file=sys.stderr)

    def progress(rows):
        passed = sum(row.status == "passed" for row in rows)
        print(f"  {rows[0].learner}/{Path(rows[0].submission).name}: {passed}/{len(rows)} "
              f"passed ({rows[0].notebook_seconds:.0f} s)", file=sys.stderr)

    processes.adopt_orphans()  # a learner's process whose parent died comes to us
    limits = grader.Limits(args.timeout, int(args.memory * 2**30))
    rows = grader.grade_all(found, limits, args.jobs, progress)
    csv_path, json_path = gradebook.write(rows, out)
    print(gradebook.summary(rows))
    print(f"gradebook: {csv_path} and {json_path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = CourseArgumentParser(prog="python -m course_utils", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter,
                                  hint_for="command")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check the environment").set_defaults(run=_doctor)
    data_parser = commands.add_parser("data", help="prepare and describe the dataset")
    data_parser.add_argument("--data", default=None,
                             help="sample | emnist | a directory with emnist_all.sqlite "
                                  "(default: $COURSE_DATA or sample)")
    data_parser.set_defaults(run=_data)
    nav_parser = commands.add_parser(
        "nav", help="generate notebook headers/setup/footers, learner copies of the "
                    "exercise notebooks and the README syllabus")
    nav_parser.add_argument("--check", action="store_true",
                            help="write nothing; exit 1 listing what differs")
    nav_parser.add_argument("paths", nargs="*",
                            help="only these notebooks / README.md (default: all)")
    nav_parser.set_defaults(run=_nav)
    _add_train_parser(commands)
    _add_worker_parser(commands)
    _add_grade_parser(commands)
    parser.hint = f"one of: {', '.join(commands.choices)}"
    return parser


def main(argv=None) -> int:
    """Run one command; return its exit code (argparse exits 2 itself on bad syntax)."""
    args = build_parser().parse_args(argv)
    from course_utils.cli.algorithms import OptionError
    from course_utils.cli.experiment import ExperimentError
    from course_utils.data import DataError
    from course_utils.runtime.cluster import WorkerLostError
    from course_utils.runtime.worker_service import WorkerServiceError
    from course_utils.runtime.workers import WorkerError

    try:
        if args.run in _COMMANDS_THAT_RUN_TFF:
            from course_utils.runtime.context import activate

            activate()
        return args.run(args)
    except (DataError, ExperimentError, OptionError, UsageError, WorkerServiceError) as e:
        return _fail(USAGE_ERROR, e)
    except (WorkerError, WorkerLostError) as e:
        return _fail(RUN_ERROR, e)
    except KeyboardInterrupt:
        from course_utils.runtime import workers

        workers.stop_all_workers()
        print("\ninterrupted (Ctrl-C); the TFF workers were stopped.", file=sys.stderr)
        _exit_now(INTERRUPTED)


# nav and grade never import TensorFlow here (grade's kernels set up their own); worker
# applies the shims only (it runs no computation here).
_COMMANDS_THAT_RUN_TFF = (_doctor, _data, _train)


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown. After a Ctrl-C, subrounds
    that the round abandoned may still run on TFF's C++ threads, and tearing the
    interpreter down under them can abort the process ("terminate called after
    throwing an instance of ... FATAL: exception not rethrown") instead of exiting with
    `code`. The workers are stopped by then, and nothing else is left to clean up."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _fail(code: int, error: Exception) -> int:
    """One line on stderr: what went wrong and what to do (the exception's message)."""
    message = " ".join(str(error).split())  # one line, even for multi-line messages
    print(f"python -m course_utils: error: {message}", file=sys.stderr)
    return code
