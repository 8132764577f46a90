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

from course_utils.settings import CLIP_NORM, LR_DECAY, CourseSettings


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

    def parse(self, text) -> float:
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
        settings = replace(settings, extra=self.parse_options(settings.extra))
        module, function = self.builder.split(":")
        return getattr(importlib.import_module(module), function)(settings)

    def help_line(self) -> str:
        options = "; ".join(f"{o.name} (default {o.default}): {o.help}" for o in self.options)
        return self.description + (f" [--extra {options}]" if options else "")


_POSITIVE = dict(valid=lambda value: value > 0, valid_text="greater than 0")
_BUILDERS = "course_utils.cli.builders"

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (
    Algorithm("fedavg", "unweighted FedAvg built by hand (course_utils.fedavg, notebook 05)",
              f"{_BUILDERS}:fedavg"),
    Algorithm("tff-fedavg", "tff.learning.algorithms.build_weighted_fed_avg (notebook 02)",
              f"{_BUILDERS}:tff_fedavg"),
    Algorithm("fedavg-midpoint", "unweighted FedAvg; the server moves halfway to the "
              "clients' mean (notebook 06, exercise 1)", f"{_BUILDERS}:fedavg_midpoint"),
    Algorithm("fedavg-clip", "unweighted FedAvg with each batch's client gradients clipped "
              "to a global norm (notebook 06, exercise 2)", f"{_BUILDERS}:fedavg_clip",
              (Option("clip_norm", CLIP_NORM, "the global norm gradients are clipped to",
                      **_POSITIVE),)),
    Algorithm("fedavg-lr-decay", "unweighted FedAvg whose client learning rate, kept in "
              "the server state, decays each round (notebook 06, exercise 3)",
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
)}


def available() -> dict[str, Algorithm]:
    return dict(sorted(ALGORITHMS.items()))


def get(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {name!r}. Choose one of: "
                         f"{', '.join(available())}.")
    return ALGORITHMS[name]
