"""Notebook 02's exercise checker: random clients per round."""

import random

import numpy as np
from verdicts import assert_wrong

from course_utils.exercises import nb02

CLIENT_IDS = [f"f{i:04d}_{i % 7:02d}" for i in range(150)]
NUM_CLIENTS = 10
SEED = 0


def check(fn, **kwargs):
    return nb02.check_clients_for_round(fn, CLIENT_IDS, NUM_CLIENTS, verbose=False,
                                        **kwargs)


def reference(round_num):
    rng = np.random.default_rng([SEED, round_num])
    return list(rng.choice(CLIENT_IDS, size=NUM_CLIENTS, replace=False))


def test_reference_passes(capsys):
    verdict = nb02.check_clients_for_round(reference, CLIENT_IDS, NUM_CLIENTS)
    assert verdict.passed, verdict
    assert "✅ Exercise 2.1 · random clients per round: correct!" in capsys.readouterr().out


def test_course_helper_passes():
    from course_utils import data

    assert check(lambda r: data.sample_clients(CLIENT_IDS, NUM_CLIENTS, r)).passed



def test_use_falls_back_to_a_sampler_that_passes_until_yours_does(capsys):
    def not_attempted(round_num):
        raise NotImplementedError

    verdict = check(not_attempted)
    assert not verdict.passed
    fallback = nb02.use(verdict, not_attempted, CLIENT_IDS, NUM_CLIENTS, SEED)
    assert "reference clients_for_round" in capsys.readouterr().out
    assert fallback is not not_attempted and check(fallback).passed
    assert fallback(3) == fallback(3) != fallback(4)
    assert nb02.use(check(reference), reference, CLIENT_IDS, NUM_CLIENTS, SEED) is reference

def test_message_does_not_depend_on_the_data():
    other_ids = [f"offline_w{i:03d}" for i in range(383)]
    other = nb02.check_clients_for_round(
        lambda r: list(np.random.default_rng(r).choice(other_ids, NUM_CLIENTS, replace=False)),
        other_ids, NUM_CLIENTS, verbose=False)
    assert other.passed and other.message == check(reference).message


def test_stub_is_not_attempted():
    def stub(round_num):
        raise NotImplementedError

    assert check(stub).status == "not attempted"


def test_same_clients_every_round():
    assert_wrong(check(lambda r: CLIENT_IDS[:NUM_CLIENTS]), "the same clients every round")


def test_seed_without_round_is_the_same_every_round():
    def seeded_once(round_num):
        return list(np.random.default_rng(SEED).choice(CLIENT_IDS, NUM_CLIENTS, replace=False))

    assert_wrong(check(seeded_once), "the same clients every round")


def test_duplicates_within_a_round():
    def with_replacement(round_num):
        rng = np.random.default_rng([SEED, round_num])
        return list(rng.choice(CLIENT_IDS, size=NUM_CLIENTS, replace=True))

    assert_wrong(check(with_replacement), "duplicates", "replace=False")


def test_duplicates_that_keep_the_count_right():
    def doubled(round_num):
        chosen = reference(round_num)
        return chosen[:-1] + chosen[:1]

    assert_wrong(check(doubled), "duplicates", "2 times")


def test_wrong_count():
    assert_wrong(check(lambda r: reference(r)[:-1]), "wrong number of clients",
                 "9 clients, expected 10")


def test_unseeded_sampling_is_not_reproducible():
    assert_wrong(check(lambda r: random.sample(CLIENT_IDS, NUM_CLIENTS)),
                 "not reproducible")


def test_shared_generator_is_not_reproducible():
    rng = np.random.default_rng(SEED)  # seeded, but outside the function

    def shared(round_num):
        return list(rng.choice(CLIENT_IDS, NUM_CLIENTS, replace=False))

    assert_wrong(check(shared), "not reproducible", "depend only on the round number")


def test_indices_instead_of_ids():
    def indices(round_num):
        return list(np.random.default_rng(round_num).choice(len(CLIENT_IDS), NUM_CLIENTS,
                                                            replace=False))

    assert_wrong(check(indices), "probably indices")


def test_unknown_ids():
    assert_wrong(check(lambda r: [f"x{r}_{i}" for i in range(NUM_CLIENTS)]),
                 "is not a client id")


def test_consecutive_blocks_are_not_random():
    def round_robin(round_num):
        start = (round_num * NUM_CLIENTS) % len(CLIENT_IDS)
        return (CLIENT_IDS + CLIENT_IDS)[start:start + NUM_CLIENTS]

    assert_wrong(check(round_robin), "consecutive block")


def test_sampling_from_a_small_pool():
    def small_pool(round_num):
        rng = np.random.default_rng([SEED, round_num])
        return list(rng.choice(CLIENT_IDS[:15], NUM_CLIENTS, replace=False))

    assert_wrong(check(small_pool), "distinct clients took part", "not a subset")


def test_returning_none_or_a_string():
    assert_wrong(check(lambda r: None), "returned None")
    assert_wrong(check(lambda r: CLIENT_IDS[0]), "should return a list of client ids")


def test_crash_is_reported():
    verdict = check(lambda r: CLIENT_IDS[1000])
    assert verdict.status == "error" and "IndexError" in verdict.message


def test_bad_num_clients_is_an_error():
    verdict = nb02.check_clients_for_round(reference, CLIENT_IDS, 0, verbose=False)
    assert verdict.status == "error"


def test_duplicates_that_take_more_than_twenty_rounds_to_show():
    """10 of 383 writers drawn with replacement: seeded with the round alone, the first
    round with a client twice is round 24."""
    writers = [f"w{i:03d}" for i in range(383)]

    def with_replacement(round_num):
        return list(np.random.default_rng(round_num).choice(writers, NUM_CLIENTS))

    verdict = nb02.check_clients_for_round(with_replacement, writers, NUM_CLIENTS,
                                           verbose=False)
    assert_wrong(verdict, "duplicates", "round 24", "replace=False")
