"""The course settings: ONE object that the notebooks' builders, the command line's
defaults and the tests read.

`COURSE` holds the values every notebook uses unless it says otherwise (pixels inverted,
5 local epochs of SGD at 0.3, batch 20, 10 clients per round, server SGD 1.0). Change
a run's settings with `dataclasses.replace(COURSE, rounds=30)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CourseSettings:
    """The settings of one training run: how many rounds, which clients, how each client
    trains, and the server's step.

    rounds: training rounds. clients_per_round: clients sampled each round. seed: the
    seed of the sampling and of every client's shuffle. epochs, batch_size,
    client_learning_rate: each client's local SGD. server_learning_rate: the server's
    step on the mean update (1.0 = take the mean). invert: pixels inverted (0 =
    background). fixed_clients: the same first clients every round instead of a fresh
    sample. model: "linear" or "cnn". extra: an algorithm's own options (e.g. FedProx's
    mu), as `train --extra` parses them.

    Frozen: change a copy, `dataclasses.replace(COURSE, rounds=30)`.
    """

    rounds: int = 15
    clients_per_round: int = 10
    seed: int = 0
    epochs: int = 5
    batch_size: int = 20
    client_learning_rate: float = 0.3
    server_learning_rate: float = 1.0
    invert: bool = True  # 0 = background, as Keras' initial weights expect
    # True: the same first clients every round (the original tutorial); False: a fresh
    # seeded sample per round (course_utils.data.federated_data_for_round).
    fixed_clients: bool = False
    model: str = "linear"  # "linear" or "cnn" (course_utils.models.MODELS, notebook 09)
    extra: dict = field(default_factory=dict)  # algorithm options (--extra), as parsed


COURSE = CourseSettings()

# Defaults of notebook 06's variants (and of their --extra options).
CLIP_NORM = 1.0
LR_DECAY = 0.9
# Defaults of notebook 11's DP-FedAvg (and of dp-fedavg's --extra options).
DP_CLIP = 1.0
DP_NOISE_MULTIPLIER = 1.0
# Defaults of notebook 10's remedies (and of their --extra options). FedProx's mu and
# FedAdam's step are what notebook 10's sweep chose (remedies.CHOSEN: mu 0.0111, here
# rounded to 0.01; FedAdam 0.09); FedAvgM's momentum is Hsu et al.'s.
FEDPROX_MU = 0.01
FEDAVGM_MOMENTUM = 0.9
FEDADAM_SERVER_LEARNING_RATE = 0.09
# Adam's constants (Reddi et al.'s choices). epsilon is their "tau" (it keeps steps
# on tiny pseudo-gradients from being blown up to full size), but TFF's Adam is
# bias-corrected: its step is theirs times sqrt(1 - beta_2^t) / (1 - beta_1^t) at
# round t (1.0 at t = 1, 0.47 at t = 10).
FEDADAM_BETA_1, FEDADAM_BETA_2, FEDADAM_EPSILON = 0.9, 0.99, 1e-3
