"""The ONE registry of the algorithms `python -m course_utils train --algorithm NAME` runs.

Each entry names its builder (imported only when it runs) and the `--extra` options it
takes, with their types and defaults; `parse_options` refuses unknown keys and bad
values with a message listing the valid ones. To add an algorithm, add an entry to
`ALGORITHMS` below: nothing registers itself on import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from typing import Callable

from course_utils.settings import (
    CLIP_NORM, DP_CLIP, DP_NOISE_MULTIPLIER, FEDADAM_BETA_1, FEDADAM_BETA_2,
    FEDADAM_EPSILON, FEDADAM_SERVER_LEARNING_RATE, FEDAVGM_MOMENTUM, FEDPROX_MU, LR_DECAY,
    CourseSettings,
)


class OptionError(ValueError):
    """An `--extra` option is unknown or its value is unusable."""


@dataclass(frozen=True)
class Option:
    name: str
    default: float
    help: str
    kind: type = float
    valid: Callable[[float], bool] = lambda value: True
    valid_text: str = ""  # what `valid` accepts, for the error message

    def parse(self, text):
        if text is None:  # an option whose default is "decided by the algorithm"
            return None
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            raise OptionError(f"--extra {self.name}={text}: {self.name} must be "
                              f"{'an integer' if self.kind is int else 'a number'} "
                              f"({self.help}).") from None
        if not self.valid(value):
            raise OptionError(f"--extra {self.name}={text}: {self.name} must be "
                              f"{self.valid_text}.")
        return value


@dataclass(frozen=True)
class Algorithm:
    name: str
    description: str
    builder: str  # "module:function", called as function(settings)
    options: tuple[Option, ...] = ()
    # "uniform": exactly clients_per_round clients a round; "poisson": each client
    # independently with probability clients_per_round / number of clients
    # (course_utils.data.federated_data_for_round).
    client_sampling: str = "uniform"
    # "module:function", called as function(settings, num_clients) -> extra entries of
    # the JSON result (dp-fedavg: "privacy").
    report: str | None = None
    # the --model values it can train (course_utils.models.MODELS)
    models: tuple[str, ...] = ("linear",)
    # --server-learning-rate when the command line does not give one (None: the course's)
    server_learning_rate: float | None = None

    def parse_options(self, extra: dict) -> dict:
        """`extra` (strings from the command line, or values) with every option typed and
        defaulted; an unknown key raises OptionError listing the known ones."""
        known = {option.name: option for option in self.options}
        unknown = sorted(set(extra) - set(known))
        if unknown:
            choices = ", ".join(known) if known else "none"
            raise OptionError(f"--extra {unknown[0]}: {self.name} has no option "
                              f"{unknown[0]!r}; its options are: {choices}.")
        return {name: option.parse(extra.get(name, option.default))
                for name, option in known.items()}

    def build(self, settings: CourseSettings):
        """The iterative process, with `settings.extra` parsed into typed options."""
        return _call(self.builder, self._parsed(settings))

    def run_report(self, settings: CourseSettings, num_clients: int) -> dict:
        return _call(self.report, self._parsed(settings), num_clients) if self.report else {}

    def check_model(self, model: str) -> None:
        """OptionError unless this algorithm can train `model`."""
        if model not in self.models:
            raise OptionError(f"--model {model}: {self.name} trains only --model "
                              f"{' or '.join(self.models)}.")

    def _parsed(self, settings: CourseSettings) -> CourseSettings:
        return replace(settings, extra=self.parse_options(settings.extra))

    def help_line(self) -> str:
        options = "; ".join(f"{o.name}" + (f" (default {o.default})" if o.default is not None
                                            else "") + f": {o.help}" for o in self.options)
        models = f" [--model {'|'.join(self.models)}]" if len(self.models) > 1 else ""
        return (self.description + models
                + (f" [--extra {options}]" if options else ""))


def _call(target: str, *args):
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)(*args)


def _one_of(*choices: str) -> dict:
    return dict(kind=str, valid=lambda value: value in choices,
                valid_text=f"one of {', '.join(choices)}")


_POSITIVE = dict(valid=lambda value: value > 0, valid_text="greater than 0")
_BOTH_MODELS = ("linear", "cnn")
_BUILDERS = "course_utils.cli.builders"

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (
    Algorithm("fedavg", "unweighted FedAvg built by hand (course_utils.fedavg, notebook 05)",
              f"{_BUILDERS}:fedavg", models=_BOTH_MODELS),
    Algorithm("tff-fedavg", "tff.learning.algorithms.build_weighted_fed_avg (notebook 02)",
              f"{_BUILDERS}:tff_fedavg", models=_BOTH_MODELS),
    Algorithm("fedavg-midpoint", "unweighted FedAvg; the server moves halfway to the "
              "clients' mean (exercise 6.1)", f"{_BUILDERS}:fedavg_midpoint"),
    Algorithm("fedavg-clip", "unweighted FedAvg with each batch's client gradients clipped "
              "to a global norm (exercise 6.2)", f"{_BUILDERS}:fedavg_clip",
              (Option("clip_norm", CLIP_NORM, "the global norm gradients are clipped to",
                      **_POSITIVE),)),
    Algorithm("fedavg-lr-decay", "unweighted FedAvg whose client learning rate, kept in "
              "the server state, decays each round (exercise 6.3)",
              f"{_BUILDERS}:fedavg_lr_decay",
              (Option("decay", LR_DECAY, "the factor the rate is multiplied by each round",
                      valid=lambda value: 0 < value <= 1, valid_text="in (0, 1]"),)),
    *(Algorithm(name, f"notebook 07's {method!r} rule (course_utils.aggregation.METHODS)",
                f"{_BUILDERS}:aggregation_{method}",
                (Option("local_epochs", 1, "passes over each client's dataset per round",
                        kind=int, **_POSITIVE),))
      for name, method in (("agg-simple", "simple"), ("agg-weighted", "weighted"),
                           ("agg-quality", "quality"), ("agg-hybrid", "hybrid"),
                           ("fedsgd", "fedsgd"))),
    Algorithm("dp-fedavg", "DP-FedAvg built by hand: each client's whole update clipped "
              "to norm clip, Gaussian noise noise_multiplier x clip on the sum, fixed "
              "denominator, Poisson-sampled clients, (epsilon, delta) reported "
              "(course_utils.dp_fedavg, notebook 11)", f"{_BUILDERS}:dp_fedavg",
              (Option("clip", DP_CLIP, "the L2 norm bound of each client's whole update",
                      **_POSITIVE),
               Option("noise_multiplier", DP_NOISE_MULTIPLIER,
                      "noise std / clip (0 = no noise, no privacy)",
                      valid=lambda value: value >= 0, valid_text="0 or more"),
               Option("delta", None, "delta of the privacy report (default: the largest "
                      "power of ten <= 1 / (10 x number of clients))",
                      valid=lambda value: 0 < value < 1, valid_text="in (0, 1)"),
               Option("accountant", "rdp", "rdp (as TFF's tutorial) or pld",
                      **_one_of("rdp", "pld"))),
              client_sampling="poisson", report="course_utils.dp_fedavg:privacy_of_run"),
    Algorithm("fedprox", "FedProx built by hand: clients add mu/2 |w - w_server|^2 to their "
              "loss; example-weighted mean (course_utils.fedprox, notebook 10)",
              f"{_BUILDERS}:fedprox",
              (Option("mu", FEDPROX_MU, "the proximal strength (0 = weighted FedAvg)",
                      valid=lambda value: value >= 0, valid_text="0 or more"),),
              models=_BOTH_MODELS),
    Algorithm("scaffold", "SCAFFOLD built by hand (control variates, option II; server step "
              "--server-learning-rate; course_utils.scaffold, notebook 10)",
              f"{_BUILDERS}:scaffold", models=_BOTH_MODELS),
    Algorithm("fedavgm", "weighted FedAvg whose server applies SGD with momentum to the "
              "pseudo-gradient (step --server-learning-rate; "
              "course_utils.server_optimizers, notebook 10)", f"{_BUILDERS}:fedavgm",
              (Option("momentum", FEDAVGM_MOMENTUM, "the server's momentum",
                      valid=lambda value: 0 <= value < 1, valid_text="in [0, 1)"),),
              models=_BOTH_MODELS),
    Algorithm("fedadam", "weighted FedAvg whose server applies Adam to the pseudo-gradient "
              f"(step --server-learning-rate, default {FEDADAM_SERVER_LEARNING_RATE:g} "
              "here; course_utils.server_optimizers, notebook 10)", f"{_BUILDERS}:fedadam",
              (Option("beta_1", FEDADAM_BETA_1, "Adam's first-moment decay",
                      valid=lambda value: 0 <= value < 1, valid_text="in [0, 1)"),
               Option("beta_2", FEDADAM_BETA_2, "Adam's second-moment decay",
                      valid=lambda value: 0 <= value < 1, valid_text="in [0, 1)"),
               Option("epsilon", FEDADAM_EPSILON, "Adam's epsilon (Reddi et al.'s tau; TFF's "
                      "bias-corrected step is theirs times sqrt(1 - beta_2^t) / "
                      "(1 - beta_1^t) at round t)",
                      **_POSITIVE)),
              models=_BOTH_MODELS, server_learning_rate=FEDADAM_SERVER_LEARNING_RATE),
)}


def available() -> dict[str, Algorithm]:
    return dict(sorted(ALGORITHMS.items()))


def get(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {name!r}. Choose one of: "
                         f"{', '.join(available())}.")
    return ALGORITHMS[name]
