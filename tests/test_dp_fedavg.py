"""DP-FedAvg by hand: clipping, noise once with std sigma x clip, a fixed denominator;
equal to TFF's own DP aggregators without noise; equal to FedAvg without clipping or
noise."""

import collections

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_federated as tff

from course_utils import data, dp_fedavg, fedavg
from course_utils.cli import algorithms
from course_utils.settings import CourseSettings

CLIP, CLIENTS_PER_ROUND = 0.5, 5.0


def updates(seed=0, scales=(0.001, 0.01, 0.05, 0.2)):
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=(784, 10)) * s, rng.normal(size=10) * s] for s in scales]


def max_difference(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b))


def test_clip_update_bounds_the_whole_update_and_keeps_small_ones():
    big, small = updates(scales=(1.0, 1e-4))
    clipped = dp_fedavg.clip_update(big, 0.3)
    assert dp_fedavg.global_norm(clipped) == pytest.approx(0.3)
    ratios = [c / b for c, b in zip(clipped, big)]  # one factor for every tensor
    assert np.allclose(ratios[0], ratios[1][0]) and np.allclose(ratios[1], ratios[1][0])
    assert max_difference(dp_fedavg.clip_update(small, 0.3), small) == 0


def test_numpy_reference_adds_noise_once_and_divides_by_the_fixed_count():
    ups = updates()
    noise = dp_fedavg.GaussianNoise(ups[0], seed=1)
    result = dp_fedavg.dp_mean_update(ups, CLIP, 2.0, CLIENTS_PER_ROUND, noise)
    assert noise.calls == [pytest.approx(2.0 * CLIP)]
    replay = dp_fedavg.GaussianNoise(ups[0], seed=1)(2.0 * CLIP)
    clipped = [dp_fedavg.clip_update(u, CLIP) for u in ups]
    expected = [(sum(c[i] for c in clipped) + replay[i]) / CLIENTS_PER_ROUND for i in range(2)]
    assert max_difference(result, expected) < 1e-12


def test_without_noise_equals_numpy_and_tff_gaussian_fixed():
    ups = updates()
    ours = dp_fedavg.run_dp_mean(ups, CLIP, 0.0, CLIENTS_PER_ROUND)
    reference = dp_fedavg.dp_mean_update(ups, CLIP, 0.0, CLIENTS_PER_ROUND,
                                         dp_fedavg.GaussianNoise(ups[0]))
    factory = tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed(
        noise_multiplier=0.0, clients_per_round=CLIENTS_PER_ROUND, clip=CLIP)
    theirs, _ = dp_fedavg.run_tff_aggregator(factory, ups)
    assert max_difference(ours, reference) < 1e-6
    assert max_difference(ours, theirs) < 1e-6
    # the fixed denominator: 4 clients came, the sum is divided by 5
    assert max_difference([t * CLIENTS_PER_ROUND for t in ours],
                          [sum(dp_fedavg.clip_update(u, CLIP)[i] for u in ups)
                           for i in range(2)]) < 1e-5


def test_without_noise_equals_tff_dp_aggregator_at_its_first_clip():
    """tff.learning.dp_aggregator clips adaptively, starting from 0.1. Its zeroing
    zeroes an update with any single coordinate above 21 at first (an L-infinity bound,
    then about 2 x the 98th percentile of L-infinity norms + 1), far above these."""
    ups = updates()
    theirs, output = dp_fedavg.run_tff_aggregator(
        tff.learning.dp_aggregator(noise_multiplier=0.0, clients_per_round=CLIENTS_PER_ROUND),
        ups)
    assert output.measurements["zeroed_count"] == 0
    ours = dp_fedavg.run_dp_mean(ups, 0.1, 0.0, CLIENTS_PER_ROUND)
    assert max_difference(ours, theirs) < 1e-6


@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_noise_std_is_sigma_times_clip(sigma):
    ups = updates()
    noise = np.concatenate([
        dp_fedavg.noise_in(dp_fedavg.run_dp_mean(ups, CLIP, sigma, CLIENTS_PER_ROUND,
                                                 round_num=r),
                           ups, CLIP, CLIENTS_PER_ROUND) for r in (1, 2, 3)])
    assert np.std(noise) / (sigma * CLIP) == pytest.approx(1.0, abs=0.03)
    assert abs(np.mean(noise)) < 0.03 * sigma * CLIP
    factory = tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed(
        sigma, CLIENTS_PER_ROUND, CLIP)
    theirs = dp_fedavg.noise_in(dp_fedavg.run_tff_aggregator(factory, ups)[0], ups, CLIP,
                                CLIENTS_PER_ROUND)
    assert np.std(theirs) / (sigma * CLIP) == pytest.approx(1.0, abs=0.05)


def test_noise_is_repeatable_and_new_every_round():
    ups = updates(scales=(0.1, 0.2))
    first = dp_fedavg.run_dp_mean(ups, CLIP, 1.0, 2, round_num=1)
    again = dp_fedavg.run_dp_mean(ups, CLIP, 1.0, 2, round_num=1)
    second = dp_fedavg.run_dp_mean(ups, CLIP, 1.0, 2, round_num=2)
    other_seed = dp_fedavg.run_dp_mean(ups, CLIP, 1.0, 2, round_num=1, noise_seed=7)
    assert max_difference(first, again) == 0
    assert max_difference(first, second) > 0.01
    assert max_difference(first, other_seed) > 0.01


def tiny_clients(n=3, examples=6, seed=0):
    rng = np.random.default_rng(seed)
    return [tf.data.Dataset.from_tensor_slices(collections.OrderedDict(
        x=rng.random((examples, 784)).astype(np.float32),
        y=rng.integers(0, 10, (examples, 1)).astype(np.int32))).batch(3)
        for _ in range(n)]


def test_without_clipping_or_noise_it_is_fedavg():
    clients = tiny_clients()
    dp = dp_fedavg.build_dp_fedavg_process(clip=1e6, noise_multiplier=0.0,
                                           clients_per_round=len(clients))
    plain = fedavg.build_unweighted_fedavg_process()
    dp_state, plain_state = dp.initialize(), plain.initialize()
    for _ in range(2):
        dp_state, dp_metrics = dp.next(dp_state, clients)
        plain_state, plain_metrics = plain.next(plain_state, clients)
    assert int(dp_state["round"]) == 2
    assert fedavg.max_weight_difference(dp.get_model_weights(dp_state), plain_state) < 1e-5
    assert dp_metrics["loss"] == pytest.approx(plain_metrics["loss"], rel=1e-5)


def test_clipping_bounds_each_round_and_an_empty_round_still_gets_noise():
    clients = tiny_clients(n=2)
    process = dp_fedavg.build_dp_fedavg_process(clip=0.01, noise_multiplier=0.0,
                                                clients_per_round=2)
    state, _ = process.next(process.initialize(), clients)
    assert dp_fedavg.global_norm(state["weights"]) <= 0.01 + 1e-6  # mean of 2 clipped
    noisy = dp_fedavg.build_dp_fedavg_process(clip=0.01, noise_multiplier=1.0,
                                              clients_per_round=2)
    state, _ = noisy.next(noisy.initialize(), [])
    assert dp_fedavg.global_norm(state["weights"]) > 0  # noise, although nobody came


@pytest.mark.parametrize("kwargs, words", [
    (dict(clip=0.0), "clip must be positive"),
    (dict(noise_multiplier=-0.5), "noise_multiplier"),
    (dict(clients_per_round=0), "clients_per_round"),
])
def test_bad_parameters_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=words):
        dp_fedavg.build_dp_fedavg_process(**kwargs)


def test_train_options_are_checked():
    entry = algorithms.get("dp-fedavg")
    assert entry.client_sampling == "poisson"
    with pytest.raises(ValueError, match="its options are: clip, noise_multiplier"):
        entry.parse_options({"noise": "1"})
    with pytest.raises(ValueError, match="must be a number"):
        entry.parse_options({"noise_multiplier": "abc"})
    with pytest.raises(ValueError, match="rdp, pld"):
        entry.parse_options({"accountant": "moments"})
    settings = CourseSettings(extra={"accountant": "moments"})
    with pytest.raises(ValueError, match="rdp, pld"):
        dp_fedavg.options_from_settings(settings)


def test_poisson_sampling_varies_around_the_expected_count():
    ids = [f"c{i}" for i in range(400)]
    rounds = [data.poisson_sample_clients(ids, 20, r, seed=0) for r in range(200)]
    assert rounds[3] == data.poisson_sample_clients(ids, 20, 3, seed=0)
    counts = [len(r) for r in rounds]
    assert 19 < np.mean(counts) < 21 and len(set(counts)) > 5
    with pytest.raises(ValueError, match="expected_clients"):
        data.poisson_sample_clients(ids, 0, 1)


def test_one_process_serves_every_noise_level():
    """The noise multiplier is in the server state: a process built with sigma=0 and
    started with sigma=1 computes what a process built with sigma=1 computes."""
    clients = tiny_clients(n=2)
    built_quiet = dp_fedavg.build_dp_fedavg_process(clip=0.1, noise_multiplier=0.0,
                                                    clients_per_round=2)
    built_noisy = dp_fedavg.build_dp_fedavg_process(clip=0.1, noise_multiplier=1.0,
                                                    clients_per_round=2)
    state = dp_fedavg.initial_state(built_quiet, 1.0)
    assert float(state["noise_multiplier"]) == 1.0
    switched, _ = built_quiet.next(state, clients)
    noisy, _ = built_noisy.next(built_noisy.initialize(), clients)
    quiet, _ = built_quiet.next(built_quiet.initialize(), clients)
    assert fedavg.max_weight_difference(switched["weights"], noisy["weights"]) < 1e-6
    assert fedavg.max_weight_difference(switched["weights"], quiet["weights"]) > 0.01
    with pytest.raises(ValueError, match="noise_multiplier"):
        dp_fedavg.initial_state(built_quiet, -1.0)


def test_padding_with_empty_clients_changes_nothing():
    clients = tiny_clients(n=2)
    process = dp_fedavg.build_dp_fedavg_process(clip=0.1, noise_multiplier=0.5,
                                                clients_per_round=3)
    plain, plain_metrics = process.next(process.initialize(), clients)
    padded_clients = data.pad_with_empty_clients(clients, 5)
    assert len(padded_clients) == 5
    padded, padded_metrics = process.next(process.initialize(), padded_clients)
    assert fedavg.max_weight_difference(plain["weights"], padded["weights"]) < 1e-7
    assert padded_metrics["loss"] == pytest.approx(plain_metrics["loss"], rel=1e-6)
    with pytest.raises(ValueError, match="template"):
        data.pad_with_empty_clients([], 3)


def test_noise_to_signal_is_the_noise_norm_on_the_average_in_clips():
    zero_updates = [[np.zeros((784, 10)), np.zeros(10)]] * 2
    squared = [dp_fedavg.global_norm(dp_fedavg.run_dp_mean(zero_updates, CLIP, 1.0, 10,
                                                           round_num=r)) ** 2
               for r in range(1, 6)]
    measured = np.sqrt(np.mean(squared)) / CLIP
    assert measured == pytest.approx(dp_fedavg.noise_to_signal(1.0, 10, 7850), rel=0.03)
