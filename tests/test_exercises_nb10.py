"""Notebook 10's checker: the reference clip-and-noise aggregation passes; an untouched
stub is "not attempted"; each named wrong variant is rejected with a message naming it."""

import numpy as np
import pytest

from course_utils import dp_fedavg
from course_utils.exercises import nb10


def norm(update):
    return np.sqrt(sum(np.sum(np.square(t)) for t in update))


def clip(update, c):
    return [t * min(1.0, c / norm(update)) for t in update]


def total(updates):
    return [sum(u[i] for u in updates) for i in range(2)]


def learner_reference(client_updates, clip_norm, noise_multiplier, clients_per_round,
                      gaussian_noise):
    summed = total([clip(u, clip_norm) for u in client_updates])
    noise = gaussian_noise(noise_multiplier * clip_norm)
    return [(s + z) / clients_per_round for s, z in zip(summed, noise)]


def own_rng(client_updates, clip_norm, noise_multiplier, clients_per_round, gaussian_noise):
    """Right, with its own random numbers (and noise added to the average)."""
    rng = np.random.default_rng(3)
    summed = total([clip(u, clip_norm) for u in client_updates])
    std = noise_multiplier * clip_norm / clients_per_round
    return [s / clients_per_round + rng.normal(0, std, s.shape) for s in summed]


def stub(*args):
    raise NotImplementedError


def per_tensor(updates, c, s, m, noise):
    summed = total([[t * min(1.0, c / np.linalg.norm(t)) for t in u] for u in updates])
    return [(x + z) / m for x, z in zip(summed, noise(s * c))]


def after_averaging(updates, c, s, m, noise):
    mean = [x / m for x in total(updates)]
    return [x + z / m for x, z in zip(clip(mean, c), noise(s * c))]


def noise_per_client(updates, c, s, m, noise):
    noisy = [[t + z for t, z in zip(clip(u, c), noise(s * c))] for u in updates]
    return [x / m for x in total(noisy)]


def std_not_scaled_by_clip(updates, c, s, m, noise):
    summed = total([clip(u, c) for u in updates])
    return [(x + z) / m for x, z in zip(summed, noise(s))]


def noise_after_dividing(updates, c, s, m, noise):
    summed = total([clip(u, c) for u in updates])
    return [x / m + z for x, z in zip(summed, noise(s * c))]


def divides_by_arrivals(updates, c, s, m, noise):
    summed = total([clip(u, c) for u in updates])
    return [(x + z) / len(updates) for x, z in zip(summed, noise(s * c))]


def divides_by_noisy_count(updates, c, s, m, noise):
    count = len(updates) + float(np.random.default_rng(0).normal(0, s))
    summed = total([clip(u, c) for u in updates])
    return [(x + z) / count for x, z in zip(summed, noise(s * c))]


def per_coordinate(updates, c, s, m, noise):
    summed = total([[np.clip(t, -c, c) for t in u] for u in updates])
    return [(x + z) / m for x, z in zip(summed, noise(s * c))]


def normalizes(updates, c, s, m, noise):
    summed = total([[t * c / norm(u) for t in u] for u in updates])
    return [(x + z) / m for x, z in zip(summed, noise(s * c))]


def no_clipping(updates, c, s, m, noise):
    return [(x + z) / m for x, z in zip(total(updates), noise(s * c))]


def no_noise(updates, c, s, m, noise):
    return [x / m for x in total([clip(u, c) for u in updates])]


def hard_coded_clip(updates, c, s, m, noise):
    return learner_reference(updates, 0.3, s, m, noise)


@pytest.mark.parametrize("solution", [learner_reference, own_rng, dp_fedavg.dp_mean_update])
def test_right_answers_pass(solution):
    verdict = nb10.check_dp_aggregate(solution, verbose=False)
    assert verdict.passed, verdict.message


def test_untouched_stub_is_not_attempted():
    verdict = nb10.check_dp_aggregate(stub, verbose=False)
    assert verdict.status == "not attempted"


@pytest.mark.parametrize("wrong, words", [
    (per_tensor, "each tensor"),
    (after_averaging, "after averaging"),
    (noise_per_client, "for every client"),
    (std_not_scaled_by_clip, "not noise_multiplier x clip"),
    (noise_after_dividing, "AFTER dividing"),
    (divides_by_arrivals, "number of updates that arrived"),
    (divides_by_noisy_count, "noisy count"),
    (per_coordinate, "each number"),
    (normalizes, "also updates that were smaller"),
    (no_clipping, "did not clip"),
    (no_noise, "no noise"),
    (hard_coded_clip, "clip=1"),
])
def test_wrong_variants_are_named(wrong, words):
    verdict = nb10.check_dp_aggregate(wrong, verbose=False)
    assert verdict.status == "wrong", verdict
    assert words in verdict.message, verdict.message


def test_wrong_answers_of_the_cases_are_distinct():
    """Every named mistake gives a different answer from the right one and from the
    other mistakes on the checker's cases, so a message can only name the mistake made."""
    for updates, c, m in nb10.cases():
        groups = [[nb10._expected(updates, c, m)]]
        for wrong in nb10._wrong_answers(updates, c, m).values():
            groups.append(nb10._after_averaging(updates, c, m) if wrong is None else [wrong])
        for i, group in enumerate(groups):
            for other in groups[i + 1:]:
                assert not any(nb10._close(a, b) for a in group for b in other)


def test_use_picks_the_reference_until_it_passes(capsys):
    failed = nb10.check_dp_aggregate(no_noise, verbose=False)
    assert nb10.use(failed, no_noise) is dp_fedavg.dp_mean_update
    passed = nb10.check_dp_aggregate(learner_reference, verbose=False)
    assert nb10.use(passed, learner_reference) is learner_reference
