"""The course's syllabus: ONE table that the notebooks' headers and footers, the README's
syllabus table and the Binder/Colab links are all generated from.

Change the course's order, titles, objectives or time estimates here, then run

    python -m course_utils nav          # rewrite headers, setup cells, footers, README table
    python -m course_utils nav --check  # what a test runs: non-zero if anything drifted

Forking the course? `REPOSITORY` in course_utils/repository.py is the ONE place that names the GitHub
repository the Binder and Colab links open; set it to your fork ("owner/name") and run
`python -m course_utils nav`.

This module has no dependencies beyond `course_utils.repository` (no TensorFlow).
"""

from __future__ import annotations

from dataclasses import dataclass

from course_utils.repository import (  # noqa: F401 - part of this module's interface
    BINDER_BADGE, BINDER_URL, BRANCH, COLAB_BADGE, NOTEBOOK_DIR, REPOSITORY, SOLUTIONS_DIR,
    binder_url, book_url, colab_url, source_url,
)

GLOSSARY = f"{NOTEBOOK_DIR}/GLOSSARY.md"  # the course's words: every footer links it


@dataclass(frozen=True)
class Lesson:
    """One notebook of the course."""

    number: str  # "00" .. "11"
    file: str  # file name in notebooks/
    title: str  # without the number: the header is "# {number} · {title}"
    summary: str  # one line for the README's syllabus table
    objectives: tuple[str, ...]  # "What you will learn" bullets
    prerequisites: tuple[str, ...]  # numbers of earlier notebooks to have done
    background: str  # what else the learner needs to know
    minutes: int  # honest time estimate for reading, running and exercises
    has_solution: bool = False  # a solved copy lives in notebooks/solutions/<file>

    @property
    def label(self) -> str:
        return f"{self.number} · {self.title}"

    @property
    def solved_label(self) -> str:
        """The solved copy's label: "02 · X (solved)", "06 · Y (exercises, solved)"."""
        if self.label.endswith(")"):
            return self.label[:-1] + ", solved)"
        return self.label + " (solved)"

    def path(self, solution: bool = False) -> str:
        """Path from the repository root, e.g. notebooks/solutions/02_x.ipynb."""
        parts = [NOTEBOOK_DIR] + ([SOLUTIONS_DIR] if solution else []) + [self.file]
        return "/".join(parts)


SYLLABUS: tuple[Lesson, ...] = (
    Lesson(
        "00", "00_setup_and_hello_federated.ipynb", 'Setup and "Hello, federated world"',
        "environment check, your first federated computation, how the course works",
        ("check that your environment can run TensorFlow Federated (TFF) 0.87",
         "run your first *federated computation* and read its type signature",
         "how this course works: notebooks, checkers, data, and the helper package "
         "`course_utils`"),
        (), "Python and a little NumPy. No federated learning yet.", 10),
    Lesson(
        "01", "01_federated_emnist.ipynb", "Federated EMNIST",
        "ClientData, writers as clients, non-IID data seen in plots, preprocessing, "
        "federated data, sampling clients",
        ("load federated EMNIST as TFF `ClientData`, where each writer is one client",
         "see in plots why federated data is *non-IID*: writers differ in style and in how "
         "much they wrote; measure how uneven their digit mixes are",
         "preprocess a client's dataset and build the list of client datasets a round "
         "trains on",
         "choose the clients of a round: fixed, or sampled at random per round"),
        ("00",), "Python, NumPy and `tf.data` basics.", 25),
    Lesson(
        "02", "02_fedavg_with_tff_learning.ipynb", "Federated Averaging with tff.learning",
        "Keras model to TFF model, build_weighted_fed_avg, training rounds with progress "
        "and curves, federated evaluation",
        ("wrap a Keras model for TFF with `tff.learning.models.from_keras_model`",
         "build Federated Averaging with `tff.learning.algorithms.build_weighted_fed_avg` "
         "and run training rounds with a progress bar and learning curves",
         "evaluate the global model with `build_fed_eval` and on a central test set",
         "which hyperparameters make FedAvg learn, and the 0.87 names of older tutorials' "
         "API"),
        ("01",), "Keras: `Sequential` models, losses, optimizers.", 35, has_solution=True),
    Lesson(
        "03", "03_custom_variable_model.ipynb", "A custom VariableModel",
        "model variables, forward pass, metrics and finalizers, same results as the Keras "
        "path",
        ("write a model for TFF by hand as a `tff.learning.models.VariableModel`",
         "define its variables, forward pass and batch output",
         "report local metrics and finalize them at the server "
         "(`report_local_unfinalized_metrics`, `metric_finalizers`)",
         "check that it trains like the Keras model of notebook 02, to float precision"),
        ("02",), "TensorFlow variables and `tf.function`.", 30),
    Lesson(
        "04", "04_federated_core.ipynb", "The Federated Core",
        "federated types and placements, federated and TensorFlow computations, "
        "federated_map/broadcast/mean, type signatures, composition",
        ("read and write federated types and placements (`{float32}@CLIENTS`)",
         "write TensorFlow computations (`tff.tensorflow.computation`) and federated "
         "computations (`tff.federated_computation`)",
         "move values with `federated_broadcast`, `federated_map` and `federated_mean`",
         "read type signatures and compose computations"),
        ("00",), "Python; notebooks 01-03 help but are not required.", 40,
        has_solution=True),
    Lesson(
        "05", "05_fedavg_from_scratch.ipynb", "FedAvg from scratch",
        "the four steps (broadcast, client update, aggregate, server update) written "
        "by you, initialize/next, IterativeProcess, evaluation, unweighted and "
        "example-weighted, checked equal to tff.learning's FedAvg",
        ("build Federated Averaging by hand from its four steps: broadcast, client "
         "update, aggregation, server update",
         "write the client's local training and `next_fn` yourself, then make it "
         "example-weighted, with a checker for each exercise",
         "package them as a `tff.templates.IterativeProcess` with `initialize` and `next`",
         "train and evaluate it on federated EMNIST",
         "show that it computes the same model as `tff.learning`'s unweighted and "
         "weighted FedAvg"),
        ("02", "04"), "From them: a FedAvg round and federated computations.", 60,
        has_solution=True),
    Lesson(
        "06", "06_modifying_fedavg.ipynb", "Modifying FedAvg (exercises)",
        "midpoint server update, gradient clipping, client learning-rate decay in server "
        "state, fair comparisons on the same sampled clients",
        ("change the server update (a midpoint update) and see its effect",
         "clip gradients inside `client_update`",
         "carry a client learning-rate schedule in the server state",
         "compare algorithms fairly: every run meets the same randomly sampled clients "
         "(notebook 02 grades the sampler itself)",
         "find the library's clipping (`tff.aggregators.clipping_factory` as "
         "`model_aggregator=`) and check it against update clipping written by hand",
         "get immediate feedback from a checker on each exercise"),
        ("05",), "Notebook 05's hand-built FedAvg.", 60, has_solution=True),
    Lesson(
        "07", "07_aggregation_methods.ipynb", "Aggregation methods",
        "simple vs weighted averaging, federated averaging, hybrids, IID vs non-IID, "
        "where popular snippets get it wrong",
        ("compare weighting rules (simple, by examples as in FedAvg, by quality), and "
         "federated averaging against federated SGD",
         "try hybrid aggregation rules",
         "see how each behaves on IID and on non-IID clients",
         "spot where popular code snippets get aggregation wrong",
         "count what each method sends over the network, and write a robust aggregator "
         "(trimmed mean, as a `tff.federated_aggregate`) against corrupted clients",
         "tune FedSGD before comparing it, and check the library's equivalents "
         "(`build_fed_sgd`, `model_aggregator=`, `tff.aggregators`) against the course's"),
        ("05",), "The hand-built FedAvg of notebook 05 (its `next_fn` and client step).", 40, has_solution=True),
    Lesson(
        "08", "08_scaling_out.ipynb", "Scaling out",
        "the same computation on several TFF workers (TFF's distributed runtime), what "
        "changes and what does not",
        ("see how TFF splits a round across workers: the mergeable form of `next`",
         "run the same federated computation on several TFF workers with TFF's own "
         "distributed runtime, and check that it computes the same model",
         "what changes when a simulation scales out, and what does not"),
        ("05",), "Notebook 05's hand-built FedAvg.", 20),
    Lesson(
        "09", "09_better_model_and_drift.ipynb", "A better model, and client drift",
        "a CNN through the same FedAvg to 0.95, and its traffic; label-skewed clients; "
        "client drift made visible",
        ("train a small CNN with the hand-built FedAvg of notebook 05, unchanged, to 0.95 "
         "test accuracy, and count what it costs on the network",
         "deal the same examples to clients three ways (IID, as written, label-skewed) "
         "and measure how skewed they are",
         "make client drift visible: label-skewed clients, more local epochs, a worse "
         "averaged model, on ten samples of clients"),
        ("05", "07"), "The hand-built FedAvg (05); from notebook 07, writers held in memory and re-partitioned, and bytes read from the types.", 30),
    Lesson(
        "10", "10_remedies_for_drift.ipynb", "Remedies for drift, built by you",
        "FedProx, SCAFFOLD and the server optimizers, each written by you, graded and "
        "checked against TFF or NumPy; one comparison on skewed clients",
        ("write FedProx's client update (graded), and find where `tff.learning`'s "
         "FedProx differs from the paper",
         "write SCAFFOLD's client step and its `next_fn`, with a stateful client (a "
         "value placed at CLIENTS), graded and checked against NumPy",
         "write the server optimizers' step (FedAvgM, FedAdam) on the pseudo-gradient, "
         "graded and checked against `tff.learning`",
         "compare the remedies on equal terms, tuned alike"),
        ("05", "06", "09"), "Notebooks 05, 06 and 09 (its skewed clients and drift).", 75,
        has_solution=True),
    Lesson(
        "11", "11_privacy.ipynb", "Privacy",
        "what an update leaks, DP-FedAvg by hand with a real privacy account "
        "(dp_accounting), secure aggregation",
        ("reconstruct a client's digit from its model update, and from a sum of many "
         "clients' updates; see what still leaks with more examples and epochs",
         "build DP-FedAvg by hand (clip each update, add noise once, a fixed "
         "denominator) and check it against TFF's DP aggregators",
         "compute epsilon with `dp_accounting`, and see accuracy against privacy on the "
         "real writers",
         "simulate secure aggregation with `tff.federated_secure_sum_bitwidth`: what it "
         "protects and what it does not",
         "write DP-FedAvg's clip-and-noise aggregation yourself, with a checker"),
        ("05", "07"), "The hand-built FedAvg (05) and how a server aggregates client updates (07).", 50, has_solution=True),
)

BY_FILE = {lesson.file: lesson for lesson in SYLLABUS}


def lesson(number_or_file: str) -> Lesson:
    """The lesson with this number ("03") or file name."""
    for item in SYLLABUS:
        if number_or_file in (item.number, item.file):
            return item
    raise KeyError(f"{number_or_file!r} is not in the syllabus (course_utils/authoring/syllabus.py)")


def neighbours(item: Lesson) -> tuple[Lesson | None, Lesson | None]:
    """(previous, next) lessons of `item`."""
    index = SYLLABUS.index(item)
    previous = SYLLABUS[index - 1] if index > 0 else None
    following = SYLLABUS[index + 1] if index + 1 < len(SYLLABUS) else None
    return previous, following


def total_minutes() -> int:
    return sum(item.minutes for item in SYLLABUS)

