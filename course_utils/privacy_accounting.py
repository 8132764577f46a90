"""How private is a DP-FedAvg run? (epsilon, delta) with Google's `dp_accounting`.

A run of DP-FedAvg (`course_utils.dp_fedavg`) is `rounds` repetitions of one
mechanism: every client joins a round independently with probability
q = clients_per_round / num_clients (Poisson sampling), the server sums their clipped
updates and adds Gaussian noise of std noise_multiplier x clip. Its privacy account is
that event composed `rounds` times:

    SelfComposed(PoissonSampled(q, Gaussian(noise_multiplier)), rounds)

`epsilon(...)` asks an accountant for the smallest epsilon such that the whole run is
(epsilon, delta)-differentially private *for a client* (user-level DP: adding or
removing one client's entire data changes what the server releases only a little).
Two accountants are offered:

- ``"rdp"``: `dp_accounting.rdp.RdpAccountant` (Renyi DP), what TFF's DP tutorial uses;
- ``"pld"``: `dp_accounting.pld.PLDAccountant` (privacy loss distributions), tighter
  (a smaller, still valid epsilon) and slower.

Without noise (noise_multiplier = 0) there is no differential privacy at all:
epsilon is infinite, and the reports here say so in words.

A run that trains the same clients every round (`train --fixed-clients`) samples
nobody: each of those clients takes part in every round, q = 1, and no amplification by
sampling applies. `privacy_report(..., sampling="fixed")` accounts it so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ACCOUNTANTS = {
    "rdp": "RDP (dp_accounting.rdp.RdpAccountant)",
    "pld": "PLD (dp_accounting.pld.PLDAccountant)",
}
DEFAULT_ACCOUNTANT = "rdp"
SAMPLINGS = ("poisson", "fixed")
NO_NOISE_NOTE = ("noise_multiplier=0 adds no noise, so the run is not differentially "
                 "private: epsilon is infinite.")


def default_delta(num_clients: int) -> float:
    """A delta well below 1 / num_clients: the largest power of ten <= 1 / (10 N).

    (383 writers -> 1e-4, 3,383 -> 1e-5 as in TFF's tutorial, 1,000,000 -> 1e-7.)
    delta is an additive slack in P[M(D) in S] <= e^eps P[M(D') in S] + delta (not the
    probability that the guarantee fails); it must be far below 1/N, since a mechanism
    that publishes one random client's data satisfies delta = 1/N.
    """
    if num_clients < 1:
        raise ValueError(f"num_clients must be at least 1, got {num_clients}.")
    return 10.0 ** math.floor(math.log10(1.0 / (10 * num_clients)))


def sampling_rate(clients_per_round: float, num_clients: int) -> float:
    """q: the probability that one client takes part in a round."""
    if not 0 < clients_per_round <= num_clients:
        raise ValueError(f"clients_per_round must be in (0, {num_clients}] "
                         f"(the number of clients), got {clients_per_round}.")
    return clients_per_round / num_clients


def training_event(noise_multiplier: float, q: float, rounds: int):
    """The `dp_accounting.DpEvent` of a whole DP-FedAvg run."""
    import dp_accounting

    if noise_multiplier < 0:
        raise ValueError(f"noise_multiplier must be >= 0, got {noise_multiplier}.")
    if not 0 < q <= 1:
        raise ValueError(f"the sampling rate q must be in (0, 1], got {q}.")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}.")
    one_round = dp_accounting.PoissonSampledDpEvent(
        q, dp_accounting.GaussianDpEvent(noise_multiplier))
    return dp_accounting.SelfComposedDpEvent(one_round, rounds)


def _accountant(name: str):
    import dp_accounting

    if name == "rdp":
        return dp_accounting.rdp.RdpAccountant()
    if name == "pld":
        return dp_accounting.pld.PLDAccountant()
    raise ValueError(f"Unknown accountant {name!r}; choose one of "
                     f"{', '.join(ACCOUNTANTS)}.")


def epsilon(noise_multiplier: float, q: float, rounds: int, delta: float,
            accountant: str = DEFAULT_ACCOUNTANT) -> float:
    """epsilon of `rounds` rounds at sampling rate `q` and `delta` (math.inf without
    noise)."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}.")
    event = training_event(noise_multiplier, q, rounds)
    if noise_multiplier == 0:
        return math.inf
    account = _accountant(accountant)
    account.compose(event)
    return float(account.get_epsilon(delta))


@dataclass(frozen=True)
class PrivacyReport:
    """What a DP-FedAvg run guarantees, with everything needed to recompute it."""
    epsilon: float  # math.inf without noise
    delta: float
    noise_multiplier: float
    clip: float
    q: float
    rounds: int
    num_clients: int
    clients_per_round: float
    accountant: str  # a key of ACCOUNTANTS
    delta_is_default: bool = False
    sampling: str = "poisson"  # one of SAMPLINGS: how the run chose its clients

    @property
    def is_private(self) -> bool:
        return math.isfinite(self.epsilon)

    def sentence(self) -> str:
        """One line for people."""
        if not self.is_private:
            return NO_NOISE_NOTE
        delta = (f"delta {self.delta:g} is the default for {self.num_clients} clients, "
                 f"<= 1/(10 x {self.num_clients}); " if self.delta_is_default else "")
        return (f"({self.epsilon:.3g}, {self.delta:g})-DP for each of the "
                f"{self.who()} after {self.rounds} rounds ({delta}noise "
                f"multiplier {self.noise_multiplier:g}, clip {self.clip:g}, "
                f"{self.how_sampled()}; {ACCOUNTANTS[self.accountant]}).")

    def who(self) -> str:
        """The clients the guarantee is about."""
        if self.sampling == "fixed":
            return (f"{self.clients_per_round:g} clients that train every round (the "
                    f"others of the {self.num_clients} never take part)")
        return f"{self.num_clients} clients"

    def how_sampled(self) -> str:
        if self.sampling == "fixed":
            return "q = 1: the same clients every round, no amplification by sampling"
        return (f"q = {self.clients_per_round:g}/{self.num_clients} = {self.q:.4g}, "
                "Poisson sampling")

    def delta_rule(self) -> str:
        """Where delta came from, in words."""
        if self.delta_is_default:
            return (f"default for {self.num_clients} clients: the largest power of ten "
                    f"<= 1 / (10 x {self.num_clients}), well below 1 / {self.num_clients}")
        return "given"

    def as_json(self) -> dict:
        """JSON-safe: epsilon is null (with a note) when it is infinite."""
        result = {
            "epsilon": self.epsilon if self.is_private else None,
            "delta": self.delta,
            "delta_rule": self.delta_rule(),
            "noise_multiplier": self.noise_multiplier,
            "clip": self.clip,
            "accountant": ACCOUNTANTS[self.accountant],
            "sampling": {"kind": self.sampling, "q": self.q,
                         "expected_clients_per_round": self.clients_per_round,
                         "num_clients": self.num_clients},
            "rounds": self.rounds,
            "note": self.sentence(),
        }
        return result


def privacy_report(noise_multiplier: float, clip: float, clients_per_round: float,
                   num_clients: int, rounds: int, delta: float | None = None,
                   accountant: str = DEFAULT_ACCOUNTANT,
                   sampling: str = "poisson") -> PrivacyReport:
    """The `PrivacyReport` of a run (delta defaults to `default_delta(num_clients)`).

    `sampling` is how the run chose its clients: "poisson" (q = clients_per_round /
    num_clients) or "fixed" (the same clients every round: q = 1)."""
    if sampling not in SAMPLINGS:
        raise ValueError(f"Unknown sampling {sampling!r}; choose one of "
                         f"{', '.join(SAMPLINGS)}.")
    q = sampling_rate(clients_per_round, num_clients)
    if sampling == "fixed":
        q = 1.0
    delta_is_default = delta is None
    delta = default_delta(num_clients) if delta is None else float(delta)
    return PrivacyReport(
        epsilon=epsilon(noise_multiplier, q, rounds, delta, accountant), delta=delta,
        noise_multiplier=float(noise_multiplier), clip=float(clip), q=q, rounds=rounds,
        num_clients=num_clients, clients_per_round=float(clients_per_round),
        accountant=accountant, delta_is_default=delta_is_default, sampling=sampling)


def epsilon_at_scale(noise_multiplier: float, clients_per_round: float, rounds: int,
                     populations, accountant: str = DEFAULT_ACCOUNTANT,
                     delta: float | None = None) -> list[dict]:
    """The same training (same noise multiplier, same expected clients per round q*N,
    so the same noise on the averaged update) on larger populations: one row per
    population N with q, delta (`default_delta(N)`, or the one given) and epsilon.
    Computed, not trained.
    """
    rows = []
    for num_clients in populations:
        q = sampling_rate(clients_per_round, num_clients)
        row_delta = default_delta(num_clients) if delta is None else delta
        if row_delta >= 1 / num_clients:
            raise ValueError(f"delta={row_delta:g} is not below 1/{num_clients}: no "
                             "guarantee at all for that population.")
        rows.append({"num_clients": num_clients, "q": q, "delta": row_delta,
                     "epsilon": epsilon(noise_multiplier, q, rounds, row_delta, accountant)})
    return rows


def format_epsilon(value: float) -> str:
    """epsilon for a table: 'inf (no privacy)' rather than a number when infinite."""
    return f"{value:.3g}" if math.isfinite(value) else "inf (no privacy)"
