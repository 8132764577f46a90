"""Notebooks show some of course_utils' code in their cells, so that learners read it
where it is taught; course_utils keeps the copy the rest of the course runs. Every such
copy is one row of COPIES below, and must stay the package's code:

- "same source": the notebook's definition is the package's, up to formatting,
  comments and docstrings (compared as Python syntax trees);
- otherwise the row's check runs the notebook's definition next to the package's on
  the same inputs and asserts the same results (for copies written with the
  notebook's own constants or helpers).

A notebook's definitions are taken from its code cells without running the notebook:
its imports, functions, classes and UPPER_CASE constants, plus the few other names a
row lists (`also`), in cell order.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_same_round_data
from notebook_code import (NOTEBOOKS, definitions, notebook_cells, notebook_function_node,
                           notebook_namespace, normalised_source, package_node)

import course_utils
from course_utils import (aggregation, data, fedavg, fedprox, models, scaffold,
                          server_optimizers, variants)
from course_utils.settings import CourseSettings

# --- comparing behaviour -------------------------------------------------------------

def as_arrays(value) -> list[np.ndarray]:
    return [np.asarray(x) for x in tf.nest.flatten(value)]


def assert_same_values(ours, theirs, atol=0.0):
    a, b = as_arrays(ours), as_arrays(theirs)
    assert len(a) == len(b), f"{len(a)} values vs {len(b)}"
    for x, y in zip(a, b):
        assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, x.dtype, y.shape, y.dtype)
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)


def assert_same_datasets(ours, theirs):
    assert_same_round_data([ours], [theirs])


def small_client_data(train, clients=2, epochs=1):
    return data.make_federated_data(train, train.client_ids[:clients], epochs=epochs,
                                    shuffle_buffer=0)


def random_models(seed, count=4, shapes=((3, 2), (2,))):
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=s) for s in shapes] for _ in range(count)]


# --- the checks ----------------------------------------------------------------------

@dataclass(frozen=True)
class Copy:
    notebook: str
    name: str                          # what the notebook defines
    package: object                    # the package's version (for the message)
    check: Callable | None = None      # None: same source; else check(namespace, train)
    also: tuple[str, ...] = ()         # other names the check needs from the notebook
    given: dict = field(default_factory=dict, hash=False)

    def __str__(self) -> str:
        return f"{self.notebook}:{self.name}"


def _check_preprocess(ns, train):
    client = train.create_tf_dataset_for_client(train.client_ids[0])
    assert_same_datasets(ns["preprocess"](client), data.preprocess(
        client, epochs=ns["NUM_EPOCHS"], batch_size=ns["BATCH_SIZE"],
        shuffle_buffer=ns["SHUFFLE_BUFFER"], seed=0, invert=True))


def _check_make_federated_data(ns, train):
    ids = train.client_ids[:3]
    assert_same_round_data(ns["make_federated_data"](train, ids), data.make_federated_data(
        train, ids, epochs=ns["NUM_EPOCHS"], batch_size=ns["BATCH_SIZE"],
        shuffle_buffer=ns["SHUFFLE_BUFFER"], seed=0))


def _layers(model) -> list:
    return [(type(layer).__name__,
             {k: v for k, v in layer.get_config().items() if k != "name"})
            for layer in model.layers]


def _check_create_keras_model(ns, train):
    ours, theirs = ns["create_keras_model"](), models.create_keras_model()
    assert _layers(ours) == _layers(theirs)
    assert ours.input_shape == theirs.input_shape
    assert_same_values(ours.get_weights(), theirs.get_weights())


def _check_model_fn(ns, train):
    batch = next(iter(small_client_data(train, 1)[0]))
    ns["federated_train_data"] = small_client_data(train, 1)
    ours, theirs = ns["model_fn"](), models.tff_model_fn()
    assert ours.input_spec == theirs.input_spec
    weights = random_models(0, 1, [(784, 10), (10,)])[0]
    for model in (ours, theirs):
        for variable, value in zip(model.trainable_variables, weights):
            variable.assign(value.astype(np.float32))
    assert_same_values(ours.forward_pass(batch).loss, theirs.forward_pass(batch).loss)
    assert list(ours.report_local_unfinalized_metrics()) == list(
        theirs.report_local_unfinalized_metrics())


def _round_data_check(function: str, settings: Callable[[dict], CourseSettings]):
    """The notebook's data-for-round function gives the datasets the terminal's
    `train` command builds (`data.federated_data_for_round`) for its settings."""
    def check(ns, train):
        ns.update(train_data=train, train=train, client_ids=train.client_ids)
        theirs = data.federated_data_for_round(train, settings(ns))
        for round_num in (1, 2):
            assert_same_round_data(ns[function](round_num), theirs(round_num))
    return check


def _check_fedavg_process(ns, train):
    """Notebook 05's initialize_fn/next_fn: the package's process, type and result."""
    import tensorflow_federated as tff

    ours = tff.templates.IterativeProcess(ns["initialize_fn"], ns["next_fn"])
    theirs = fedavg.build_unweighted_fedavg_process(ns["CLIENT_LEARNING_RATE"])
    assert str(ours.next.type_signature) == str(theirs.next.type_signature)
    assert str(ours.initialize.type_signature) == str(theirs.initialize.type_signature)
    clients = small_client_data(train)
    (a, a_metrics), (b, b_metrics) = (p.next(p.initialize(), clients) for p in (ours, theirs))
    assert_same_values(a, b, atol=1e-6)
    assert_same_values(a_metrics, b_metrics, atol=1e-6)


def _check_clipped_client_update(ns, train):
    weights = [w.astype(np.float32) for w in random_models(1, 1, [(784, 10), (10,)])[0]]
    dataset = small_client_data(train, 1)[0]
    for clip_norm in (0.01, 100.0):
        ours = ns["clipped_client_update"](models.create_keras_model(), dataset, weights,
                                           0.3, clip_norm)
        theirs = variants.clipped_client_update(models.create_keras_model(), dataset,
                                                      weights, 0.3, clip_norm)
        assert_same_values(ours, theirs, atol=1e-6)


def _check_lr_decay_process(ns, train):
    ours = ns["build_lr_decay_process"](0.3, 0.5)
    theirs = variants.build_lr_decay_process(0.3, 0.5)
    assert str(ours.next.type_signature) == str(theirs.next.type_signature)
    clients = small_client_data(train)
    (a, _), (b, _) = (p.next(p.initialize(), clients) for p in (ours, theirs))
    assert_same_values(a, b, atol=1e-6)


def _same_on_models(name: str, package_fn, with_weights: bool):
    def check(ns, train):
        for seed in range(3):
            client_models = random_models(seed)
            args = (client_models, [10, 30, 60, 5]) if with_weights else (client_models,)
            assert_same_values(ns[name](*args), package_fn(*args))
    return check


def _check_tff_means(ns, train):
    models_ = [[m.astype(np.float32) for m in model] for model in random_models(3, 3, ((2, 2), (2,)))]
    weights = [np.float32(w) for w in (10, 30, 60)]
    simple = aggregation.mean_computation(ns["model_type"], weighted=False)
    weighted = aggregation.mean_computation(ns["model_type"], weighted=True)
    assert_same_values(ns["simple_mean"](models_), simple(models_), atol=1e-6)
    assert_same_values(ns["weighted_mean"](models_, weights), weighted(models_, weights),
                       atol=1e-6)


def _check_plain_mean(ns, train):
    values = tf.constant(np.random.default_rng(0).normal(size=(7, 3, 2)), tf.float32)
    assert_same_values(ns["plain_mean"](values), aggregation.tf_mean(values))


def _check_trimmed_mean_parts(ns, train):
    import tensorflow_federated as tff

    values = np.random.default_rng(0).normal(size=(9, 4, 3)).astype(np.float32)
    value_type = tff.TensorType(np.float32, [4, 3])
    for trim in (0, 1, 3):
        ours = ns["trimmed_mean_parts"](value_type, trim)
        package = aggregation.trimmed_mean_parts(value_type, trim)
        for notebook_part, package_part, args in zip(
                ours, package, [(), (values[:3], values[3]), (values[:2], values[2:]),
                                (values,)]):
            assert_same_values(notebook_part(*args), package_part(*args), atol=1e-6)


def _both(notebook: str) -> list[str]:
    """A notebook and its solved copy (the copies outside the exercise cells)."""
    return [notebook, f"solutions/{notebook}"]


COPIES = [
    Copy("01_federated_emnist.ipynb", "preprocess", data.preprocess, _check_preprocess),
    Copy("01_federated_emnist.ipynb", "make_federated_data", data.make_federated_data,
         _check_make_federated_data),
    *[Copy(nb, "create_keras_model", models.create_keras_model, _check_create_keras_model)
      for nb in _both("02_fedavg_with_tff_learning.ipynb")],
    *[Copy(nb, "model_fn", models.tff_model_fn, _check_model_fn)
      for nb in _both("02_fedavg_with_tff_learning.ipynb")],
    # Notebook 05 is an exercise notebook: the parts the learner writes are compared in
    # the solved copy (in the learner copy they are stubs, graded by exercises/nb05).
    Copy("solutions/05_fedavg_from_scratch.ipynb", "client_update", fedavg.client_update),
    *[Copy(nb, "server_update", fedavg.server_update)
      for nb in _both("05_fedavg_from_scratch.ipynb")],
    *[Copy(nb, "federated_data_for_round", data.federated_data_for_round,
           _round_data_check("federated_data_for_round", lambda ns: CourseSettings(
               clients_per_round=ns["CLIENTS_PER_ROUND"], epochs=ns["EPOCHS"],
               batch_size=ns["BATCH_SIZE"], seed=ns["SEED"])))
      for nb in _both("05_fedavg_from_scratch.ipynb")],
    # Notebook 06's rounds come from course_utils.comparison.Comparison (no copy in the
    # notebook); tests/test_comparison.py holds its data to federated_data_for_round.
    Copy("solutions/06_modifying_fedavg.ipynb", "midpoint_server_update",
         variants.midpoint_server_update),
    Copy("solutions/06_modifying_fedavg.ipynb", "clipped_client_update",
         variants.clipped_client_update, _check_clipped_client_update),
    Copy("solutions/06_modifying_fedavg.ipynb", "build_lr_decay_process",
         variants.build_lr_decay_process, _check_lr_decay_process),
    *[Copy(nb, "article_simple_average", aggregation.article_simple_average,
           _same_on_models("article_simple_average", aggregation.article_simple_average,
                           with_weights=False))
      for nb in _both("07_aggregation_methods.ipynb")],
    *[Copy(nb, "incremental_weighted_average", aggregation.incremental_weighted_average,
           _same_on_models("incremental_weighted_average",
                           aggregation.incremental_weighted_average, with_weights=True))
      for nb in _both("07_aggregation_methods.ipynb")],
    *[Copy(nb, "weighted_mean", aggregation.mean_computation, _check_tff_means,
           also=("model_type",))
      for nb in _both("07_aggregation_methods.ipynb")],
    *[Copy(nb, "plain_mean", aggregation.tf_mean, _check_plain_mean)
      for nb in _both("07_aggregation_methods.ipynb")],
    Copy("solutions/07_aggregation_methods.ipynb", "trimmed_mean_parts",
         aggregation.trimmed_mean_parts, _check_trimmed_mean_parts),
    Copy("08_scaling_out.ipynb", "data_for_round", data.federated_data_for_round,
         _round_data_check("data_for_round", lambda ns: CourseSettings(
             clients_per_round=ns["CLIENTS_PER_ROUND"], epochs=5, batch_size=20, seed=0))),
    # Notebook 10 is an exercise notebook: the learner writes fedprox_client_update,
    # scaffold_client_update, build_scaffold_next_fn and server_update (stubs in the
    # learner copy, graded by exercises/nb10); the solved copy's are the package's.
    Copy("solutions/10_remedies_for_drift.ipynb", "fedprox_client_update",
         fedprox.fedprox_client_update),
    Copy("solutions/10_remedies_for_drift.ipynb", "scaffold_client_update",
         scaffold.scaffold_client_update),
    Copy("solutions/10_remedies_for_drift.ipynb", "build_scaffold_next_fn",
         scaffold.build_scaffold_next_fn),
    Copy("solutions/10_remedies_for_drift.ipynb", "server_update",
         server_optimizers.server_update),
]


@pytest.fixture(scope="module")
def train(sample_dir):
    return data.load_emnist(data=str(sample_dir), verbose=False)[0]


@pytest.mark.parametrize("copy", COPIES, ids=str)
def test_notebook_copy_is_the_package_code(copy, train):
    node = notebook_function_node(copy.notebook, copy.name)
    if copy.check is None:
        assert normalised_source(node) == normalised_source(package_node(copy.package)), (
            f"{copy}: the notebook's {copy.name} drifted from {copy.package.__module__}")
        return
    namespace = notebook_namespace(copy.notebook, copy.also, **copy.given)
    assert copy.name in namespace, namespace["undefined"].get(copy.name)
    copy.check(namespace, train)


def _is_exercise_stub(node) -> bool:
    return any(isinstance(sub, ast.Raise) and "NotImplementedError" in ast.unparse(sub)
               for sub in ast.walk(node))


def test_every_notebook_definition_of_a_package_name_is_in_the_table():
    """A notebook function named like a public course_utils function is a copy of it:
    it must be a row of COPIES (or be listed here as a different thing)."""
    import pkgutil
    import importlib

    # Same name, different thing: 04's count_examples counts a client's examples in
    # TFF; emnist_sqlite.count_examples counts the rows of a database.
    # build_*_next_fn: written out in notebook 05, factored into one round in the package;
    # the solved copy's checker cells (exercises/nb05, under nbval) hold them to the
    # package's behaviour.
    # build_dp_mean: notebook 11's exercise takes the model's weights type and returns
    # the noised mean *update* from weights; dp_fedavg.build_dp_mean takes updates. The
    # exercise's checker holds it to dp_fedavg.build_dp_mean_update.
    different = {"count_examples", "build_unweighted_next_fn", "build_weighted_next_fn",
                 "build_dp_mean"}
    public = set()
    for module_info in pkgutil.walk_packages(course_utils.__path__, "course_utils."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        public |= {n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                   and getattr(v, "__module__", "").startswith("course_utils")}
    covered = {(c.notebook, c.name) for c in COPIES}
    missing = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")) + sorted(NOTEBOOKS.glob("solutions/*.ipynb")):
        notebook = str(path.relative_to(NOTEBOOKS))
        for source in notebook_cells(notebook):
            for node in definitions(source, ()):
                name = getattr(node, "name", None)
                if name in public and _is_exercise_stub(node):
                    continue  # the learner writes it; checked by the exercise's checker
                if name in public and name not in different and (notebook, name) not in covered:
                    missing.append(f"{notebook}: {name}")
    assert not missing, f"notebook copies of package functions not in COPIES: {missing}"
