"""`python -m course_utils train --algorithm dp-fedavg`: the JSON result carries a privacy
report; more noise gives a smaller epsilon; no noise is reported as infinite, in words;
unknown options are refused with the known ones listed."""

import json
import math

import pytest

from course_utils.cli import main as cli


def train_json(sample_dir, capfd, *extra):
    args = ["train", "--algorithm", "dp-fedavg", "--rounds", "2", "--clients-per-round",
            "5", "--epochs", "1", "--data", str(sample_dir), "--json", "--no-progress"]
    for option in extra:
        args += ["--extra", option]
    code = cli.main(args)
    out, err = capfd.readouterr()
    assert code == 0, err
    return json.loads(out, parse_constant=refuse)  # NaN/Infinity are not JSON


def refuse(constant):
    raise AssertionError(f"{constant} in the JSON output")


def test_privacy_report_more_noise_smaller_epsilon(sample_dir, capfd):
    low = train_json(sample_dir, capfd, "noise_multiplier=0.5")
    high = train_json(sample_dir, capfd, "noise_multiplier=1.5", "clip=0.8")
    for result, sigma in ((low, 0.5), (high, 1.5)):
        privacy = result["privacy"]
        assert {"epsilon", "delta", "noise_multiplier", "clip", "accountant"} <= set(privacy)
        assert privacy["noise_multiplier"] == sigma
        assert math.isfinite(privacy["epsilon"]) and privacy["epsilon"] > 0
        assert privacy["delta"] < 1 / privacy["sampling"]["num_clients"]
        assert "default" in privacy["delta_rule"]
        assert privacy["rounds"] == 2 and "Rdp" in privacy["accountant"]
        assert 0 <= result["final"]["accuracy"] <= 1
    assert high["privacy"]["clip"] == 0.8
    assert high["privacy"]["epsilon"] < low["privacy"]["epsilon"]


def test_no_noise_is_infinite_epsilon_in_words(sample_dir, capfd):
    result = train_json(sample_dir, capfd, "noise_multiplier=0", "delta=1e-6",
                        "accountant=pld")
    privacy = result["privacy"]
    assert privacy["epsilon"] is None
    assert "infinite" in privacy["note"] and "not differentially private" in privacy["note"]
    assert privacy["delta"] == 1e-6 and privacy["delta_rule"] == "given"
    json.dumps(result, allow_nan=False)  # no NaN or Infinity anywhere


def test_text_output_has_the_privacy_line(sample_dir, capfd):
    code = cli.main(["train", "--algorithm", "dp-fedavg", "--rounds", "1",
                     "--clients-per-round", "5", "--epochs", "1", "--data",
                     str(sample_dir), "--no-progress", "--extra", "noise_multiplier=1"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert "privacy: (" in out and "-DP for each of the 383 clients after 1 rounds" in out


@pytest.mark.parametrize("option, words", [
    ("noise=1", "dp-fedavg has no option 'noise'; its options are: clip, "
                "noise_multiplier, delta, accountant"),
    ("clip=-1", "clip must be greater than 0"),
    ("accountant=moments", "accountant must be one of rdp, pld"),
])
def test_bad_options_exit_2_with_what_to_do(sample_dir, capsys, option, words):
    code = cli.main(["train", "--algorithm", "dp-fedavg", "--rounds", "1",
                     "--data", str(sample_dir), "--extra", option])
    assert code == 2
    assert words in capsys.readouterr().err


def test_fixed_clients_are_accounted_as_the_sampler_used(sample_dir, capfd):
    sampled = train_json(sample_dir, capfd, "noise_multiplier=1")
    code = cli.main(["train", "--algorithm", "dp-fedavg", "--rounds", "2",
                     "--clients-per-round", "5", "--epochs", "1", "--data", str(sample_dir),
                     "--json", "--no-progress", "--fixed-clients", "--extra",
                     "noise_multiplier=1"])
    out, err = capfd.readouterr()
    assert code == 0, err
    fixed = json.loads(out, parse_constant=refuse)["privacy"]
    assert sampled["privacy"]["sampling"]["kind"] == "poisson"
    assert fixed["sampling"]["kind"] == "fixed" and fixed["sampling"]["q"] == 1.0
    assert fixed["epsilon"] > 5 * sampled["privacy"]["epsilon"]
    assert "q = 1" in fixed["note"]
