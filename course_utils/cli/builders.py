"""What each entry of `course_utils.cli.algorithms.ALGORITHMS` builds: one function per
algorithm, `settings -> iterative process`, with `settings.extra` already parsed."""

from __future__ import annotations

from course_utils.settings import CourseSettings


def _keras_model_fn(settings: CourseSettings):
    from course_utils import models

    return models.model_fn(settings.model)


def fedavg(settings: CourseSettings):
    from course_utils import fedavg

    return fedavg.build_unweighted_fedavg_process(settings.client_learning_rate,
                                                  model_fn=_keras_model_fn(settings))


def tff_fedavg(settings: CourseSettings):
    import functools

    from course_utils import models, tff_learning

    return tff_learning.build_fedavg(
        settings.client_learning_rate, settings.server_learning_rate,
        model_fn=functools.partial(models.tff_model_fn, _keras_model_fn(settings)))


def fedavg_midpoint(settings: CourseSettings):
    from course_utils import variants

    return variants.build_midpoint_process(settings.client_learning_rate)


def fedavg_clip(settings: CourseSettings):
    from course_utils import variants

    return variants.build_clipped_process(settings.client_learning_rate,
                                                settings.extra["clip_norm"])


def fedavg_lr_decay(settings: CourseSettings):
    from course_utils import variants

    return variants.build_lr_decay_process(settings.client_learning_rate,
                                                 settings.extra["decay"])


def _aggregation(method: str, settings: CourseSettings):
    """notebook 07's processes. The train command gives each client one dataset that
    already repeats `settings.epochs` epochs, so the process runs `local_epochs` passes
    over it (default 1), holding out its first batch; since the held-out examples come
    back in later epochs, the quality weights are then optimistic. For a clean held-out
    batch: `train --algorithm agg-quality --epochs 1 --extra local_epochs=5`."""
    from course_utils import aggregation

    return aggregation.build_process(method, local_epochs=settings.extra["local_epochs"],
                                     client_learning_rate=settings.client_learning_rate)


def aggregation_simple(settings):
    return _aggregation("simple", settings)


def aggregation_weighted(settings):
    return _aggregation("weighted", settings)


def aggregation_quality(settings):
    return _aggregation("quality", settings)


def aggregation_hybrid(settings):
    return _aggregation("hybrid", settings)


def aggregation_fedsgd(settings):
    return _aggregation("fedsgd", settings)


def dp_fedavg(settings: CourseSettings):
    from course_utils import dp_fedavg

    return dp_fedavg.build_from_settings(settings)


# --- notebook 10: remedies for drift -------------------------------------------------------

def fedprox(settings: CourseSettings):
    from course_utils import fedprox

    return fedprox.build_fedprox_process(settings.client_learning_rate,
                                         settings.extra["mu"],
                                         model_fn=_keras_model_fn(settings))


def scaffold(settings: CourseSettings):
    from course_utils import scaffold

    return scaffold.ScaffoldSimulation(scaffold.build_scaffold_process(
        settings.client_learning_rate, settings.server_learning_rate,
        model_fn=_keras_model_fn(settings)))


def fedavgm(settings: CourseSettings):
    from course_utils import server_optimizers

    return server_optimizers.build_server_optimizer_process(
        server_optimizers.fedavgm_optimizer(settings.server_learning_rate,
                                            settings.extra["momentum"]),
        settings.client_learning_rate, model_fn=_keras_model_fn(settings))


def fedadam(settings: CourseSettings):
    from course_utils import server_optimizers

    return server_optimizers.build_server_optimizer_process(
        server_optimizers.fedadam_optimizer(settings.server_learning_rate,
                                            **settings.extra),
        settings.client_learning_rate, model_fn=_keras_model_fn(settings))
