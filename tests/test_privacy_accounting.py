"""The privacy account of DP-FedAvg: epsilon from (noise, sampling rate, rounds, delta)."""

import json
import math

import pytest

from course_utils import privacy_accounting as pa


def test_reproduces_tff_tutorial():
    """TFF's DP tutorial calibrates 120 clients of 3,383 with noise multiplier 1.2 over
    100 rounds to (2, 1e-5)-DP with the RDP accountant."""
    eps = pa.epsilon(1.2, 120 / 3383, 100, 1e-5, "rdp")
    assert 1.9 < eps <= 2.0


def test_more_noise_fewer_rounds_smaller_sampling_give_smaller_epsilon():
    def eps(sigma=1.0, q=0.05, rounds=10):
        return pa.epsilon(sigma, q, rounds, 1e-5, "rdp")

    assert eps(sigma=1.5) < eps(sigma=1.0) < eps(sigma=0.7)
    assert eps(rounds=5) < eps(rounds=10) < eps(rounds=20)
    assert eps(q=0.01) < eps(q=0.05) < eps(q=0.2)


def test_pld_is_tighter_than_rdp():
    rdp = pa.epsilon(1.5, 10 / 383, 5, 1e-4, "rdp")
    pld = pa.epsilon(1.5, 10 / 383, 5, 1e-4, "pld")
    assert 0 < pld < rdp
    assert pa.epsilon(2.0, 10 / 383, 5, 1e-4, "pld") < pld  # more noise, smaller


def test_no_noise_is_infinite_and_said_in_words():
    report = pa.privacy_report(0.0, 1.0, 10, 383, 15)
    assert report.epsilon == math.inf and not report.is_private
    as_json = report.as_json()
    assert as_json["epsilon"] is None
    assert "infinite" in as_json["note"] and "not differentially private" in as_json["note"]
    json.loads(json.dumps(as_json, allow_nan=False))  # valid JSON, no Infinity


def test_default_delta_is_below_one_over_population():
    assert pa.default_delta(383) == pytest.approx(1e-4)
    assert pa.default_delta(3383) == pytest.approx(1e-5)
    assert pa.default_delta(1_000_000) == pytest.approx(1e-7)
    for n in (1, 7, 10, 383, 1000, 3383, 10**6):
        assert pa.default_delta(n) <= 1 / (10 * n)


def test_report_states_its_inputs():
    report = pa.privacy_report(0.5, 2.0, 10, 383, 15)
    as_json = report.as_json()
    assert as_json["delta"] == pytest.approx(1e-4)
    assert "default" in as_json["delta_rule"] and "383" in as_json["delta_rule"]
    assert as_json["noise_multiplier"] == 0.5 and as_json["clip"] == 2.0
    assert as_json["sampling"]["q"] == pytest.approx(10 / 383)
    assert "RdpAccountant" in as_json["accountant"]
    assert math.isfinite(as_json["epsilon"]) and as_json["epsilon"] > 0
    given = pa.privacy_report(0.5, 2.0, 10, 383, 15, delta=1e-6)
    assert given.delta == 1e-6 and given.epsilon > report.epsilon  # smaller delta, larger eps


def test_same_noise_and_clients_per_round_on_larger_populations():
    rows = pa.epsilon_at_scale(1.0, 10, 15, [383, 3383, 1_000_000])
    assert [row["q"] for row in rows] == pytest.approx([10 / 383, 10 / 3383, 1e-5])
    epsilons = [row["epsilon"] for row in rows]
    assert epsilons[0] > epsilons[1] > epsilons[2] > 0
    same_delta = pa.epsilon_at_scale(1.0, 10, 15, [383, 10**6], delta=1e-7)
    assert [row["delta"] for row in same_delta] == [1e-7, 1e-7]
    with pytest.raises(ValueError, match="not below 1/1000000"):
        pa.epsilon_at_scale(1.0, 10, 15, [10**6], delta=1e-5)


@pytest.mark.parametrize("kwargs, words", [
    (dict(noise_multiplier=-1.0), "noise_multiplier"),
    (dict(q=0.0), "sampling rate"),
    (dict(rounds=0), "rounds"),
    (dict(delta=1.0), "delta"),
    (dict(accountant="moments"), "rdp, pld"),
])
def test_bad_input_says_what_is_wrong(kwargs, words):
    args = dict(noise_multiplier=1.0, q=0.1, rounds=5, delta=1e-5, accountant="rdp")
    args.update(kwargs)
    with pytest.raises(ValueError, match=words):
        pa.epsilon(**args)


def test_more_clients_per_round_than_clients_is_refused():
    with pytest.raises(ValueError, match="clients_per_round"):
        pa.privacy_report(1.0, 1.0, 500, 383, 5)


def test_fixed_clients_are_accounted_without_sampling():
    poisson = pa.privacy_report(1.0, 0.5, 10, 383, 12)
    fixed = pa.privacy_report(1.0, 0.5, 10, 383, 12, sampling="fixed")
    assert fixed.q == 1.0 and fixed.as_json()["sampling"]["kind"] == "fixed"
    assert fixed.epsilon == pytest.approx(
        pa.epsilon(1.0, 1.0, 12, fixed.delta))
    assert fixed.epsilon > 5 * poisson.epsilon  # no amplification by sampling
    assert "q = 1" in fixed.sentence() and "10 clients that train every round" in fixed.sentence()
    with pytest.raises(ValueError, match="choose one of poisson, fixed"):
        pa.privacy_report(1.0, 0.5, 10, 383, 12, sampling="uniform")
