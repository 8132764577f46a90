"""Checker for notebook 02's exercise: a fresh random sample of clients every round.

The learner writes `clients_for_round(round_num) -> list of client ids`. A good answer:

- returns exactly `num_clients` ids, all of them real client ids, none twice;
- is reproducible: the same `round_num` always gives the same clients (seeded by the
  round, not by how often the function was called);
- draws a new sample each round, from all the clients, at random (not the same
  clients every round, not consecutive blocks of the client list).
"""

from __future__ import annotations

import collections
import math

from course_utils import exercises
from course_utils.exercises import Mistake, checker

# Rounds whose clients are checked: 10 of 383 clients drawn with replacement repeat one
# in about one round in nine, but with some seeds only from round 24 on.
ROUNDS_CHECKED = 200
SAMPLES_COMPARED = 20  # rounds whose samples are compared with each other
EXERCISE = "Exercise 2.1 · random clients per round"


def _call(clients_for_round, round_num: int) -> list:
    chosen = clients_for_round(round_num)
    if chosen is None:
        raise Mistake(f"clients_for_round({round_num}) returned None: `return` the list "
                      "of client ids.")
    if isinstance(chosen, (str, bytes)) or not hasattr(chosen, "__iter__"):
        raise Mistake(f"clients_for_round({round_num}) should return a list of client "
                      f"ids, got {type(chosen).__name__} {chosen!r:.60}.")
    return list(chosen)


def _check_round(chosen: list, round_num: int, valid: set, num_clients: int) -> None:
    if chosen and all(isinstance(c, int) or type(c).__name__.startswith("int")
                      for c in chosen):
        raise Mistake(f"round {round_num}: you returned numbers ({chosen[:3]}...), "
                      "probably indices. Return client ids (strings from "
                      "client_ids), e.g. rng.choice(client_ids, ...).")
    if len(chosen) != num_clients:
        raise Mistake(f"wrong number of clients: round {round_num} has {len(chosen)} "
                      f"clients, expected {num_clients} (NUM_CLIENTS).")
    unknown = [c for c in chosen if str(c) not in valid]
    if unknown:
        raise Mistake(f"round {round_num}: {unknown[0]!r} is not a client id. Sample "
                      "from the dataset's client ids (train_data.client_ids).")
    repeated = [c for c, n in collections.Counter(map(str, chosen)).items() if n > 1]
    if repeated:
        count = [str(c) for c in chosen].count(repeated[0])
        raise Mistake(f"duplicates: round {round_num} has client {repeated[0]!r} "
                      f"{count} times. Sample without replacement "
                      "(rng.choice(..., replace=False)): a client takes part at most "
                      "once per round.")


def _wraps(indices: list, n: int) -> bool:
    """Are `indices` one block of consecutive positions (possibly wrapping past n)?"""
    present = set(indices)
    return any(all((start + k) % n in present for k in range(len(indices)))
               for start in indices)


@checker(EXERCISE)
def check_clients_for_round(clients_for_round, client_ids, num_clients: int,
                            rounds: int = ROUNDS_CHECKED) -> str:
    """Grade `clients_for_round(round_num)` on rounds 1..`rounds` (see module doc)."""
    client_ids = [str(c) for c in client_ids]
    valid = set(client_ids)
    if not 0 < num_clients < len(client_ids):
        raise ValueError(f"num_clients must be between 1 and {len(client_ids) - 1}")

    samples = {}
    for round_num in range(1, rounds + 1):
        chosen = _call(clients_for_round, round_num)
        _check_round(chosen, round_num, valid, num_clients)
        samples[round_num] = [str(c) for c in chosen]

    for round_num in (1, 2, rounds):
        again = [str(c) for c in _call(clients_for_round, round_num)]
        if sorted(again) != sorted(samples[round_num]):
            raise Mistake(
                f"not reproducible: calling clients_for_round({round_num}) twice gave "
                "different clients. The sample must depend only on the round number: "
                "create the generator inside the function, seeded with the round, e.g. "
                "np.random.default_rng([SEED, round_num]). (An unseeded or shared "
                "generator makes every run different and experiments impossible to "
                "repeat.)")

    samples = {r: samples[r] for r in range(1, min(rounds, SAMPLES_COMPARED) + 1)}
    distinct = {tuple(sorted(s)) for s in samples.values()}
    if len(distinct) == 1:
        raise Mistake("the same clients every round: that is the fixed set of the "
                      "original tutorial. Draw a new sample for each round_num (use the "
                      "round number in the seed).")
    position = {cid: i for i, cid in enumerate(client_ids)}
    if all(_wraps(sorted(position[c] for c in s), len(client_ids))
           for s in samples.values()):
        raise Mistake("every round is a consecutive block of the client list: that "
                      "cycles through the clients in a fixed order, it is not a random "
                      "sample. Use rng.choice(client_ids, NUM_CLIENTS, replace=False).")

    if math.comb(len(client_ids), num_clients) > 10**6 and len(distinct) < len(samples):
        raise Mistake(f"only {len(distinct)} different samples in {len(samples)} rounds: "
                      "some rounds repeat an earlier round's clients. Seed with the "
                      "round number so every round gets its own sample.")

    seen = set().union(*samples.values())
    n, k = len(client_ids), num_clients
    expected = n * (1 - (1 - k / n) ** len(samples))
    if len(seen) < 0.5 * expected:
        raise Mistake(f"over {len(samples)} rounds only {len(seen)} distinct clients took part; "
                      f"a random sample from all {n} clients would reach about "
                      f"{expected:.0f}. Sample from all of client_ids, not a subset.")
    return (f"correct! Each of the {rounds} rounds checked gets {num_clients} different "
            f"clients; the first {len(samples)} rounds draw {len(distinct)} different "
            f"random samples from all the clients; and rounds 1, 2 and {rounds}, asked "
            "again, give the same clients.")


def use(verdict, yours, client_ids, num_clients: int, seed: int):
    """Your `clients_for_round` if its check passed, else the course's sampler (says
    which), so that the training cells after the exercise run either way."""
    from course_utils import data

    def reference(round_num):
        return data.sample_clients(client_ids, num_clients, round_num, seed=seed)

    return exercises.use(verdict, yours, reference, "clients_for_round",
                         "course_utils.data.sample_clients")
