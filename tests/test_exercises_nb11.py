"""The privacy notebook's checker for DP-FedAvg's aggregation in TFF: the reference
passes; each plausible mistake (where to clip, what to clip, where the noise goes, its
std, the denominator) is rejected with its own message; an untouched stub is "not
attempted"; without its key comparisons the checker would pass wrong answers."""

import numpy as np
import pytest
import tensorflow as tf

import course_utils  # noqa: F401  (first: it makes TFF importable on every stack)
import tensorflow_federated as tff
from course_utils import dp_fedavg
from course_utils.exercises import nb11


def _clip(update, clip):
    clipped, _ = tf.clip_by_global_norm(update, clip)
    return clipped


def _noise(tensor, stddev):
    return tf.random.normal(tf.shape(tensor), stddev=stddev)


def _update(client, server):
    return [c - s for c, s in zip(client, server)]


def right_client(client, server, clip, sigma, m):
    return _clip(_update(client, server), clip)


def right_server(total, clip, sigma, m):
    return [(t + _noise(t, sigma * clip)) / m for t in total]


def learner_form(client_fn=right_client, server_fn=right_server, mean=False,
                 add_server=False):
    """build_dp_mean as the notebook's exercise cell shapes it, with parts replaced."""
    def build_dp_mean(model_type, clip, noise_multiplier, clients_per_round):
        sigma, m = noise_multiplier, clients_per_round

        @tff.tensorflow.computation(model_type, model_type)
        def clipped_update(client_weights, server_weights):
            return client_fn(client_weights, server_weights, clip, sigma, m)

        @tff.tensorflow.computation(model_type)
        def noisy_mean(total):
            return server_fn(total, clip, sigma, m)

        @tff.tensorflow.computation(model_type, model_type)
        def add(server_weights, update):
            return [s + u for s, u in zip(server_weights, update)]

        @tff.federated_computation(tff.FederatedType(model_type, tff.SERVER),
                                   tff.FederatedType(model_type, tff.CLIENTS))
        def dp_mean(server_weights, client_weights):
            updates = tff.federated_map(clipped_update, (
                client_weights, tff.federated_broadcast(server_weights)))
            total = tff.federated_mean(updates) if mean else tff.federated_sum(updates)
            result = tff.federated_map(noisy_mean, total)
            return tff.federated_map(add, (server_weights, result)) if add_server else result
        return dp_mean
    return build_dp_mean


def stub(model_type, clip, noise_multiplier, clients_per_round):
    @tff.tensorflow.computation(model_type, model_type)
    def clipped_update(client_weights, server_weights):
        raise NotImplementedError
    return clipped_update


def _divide(total, clip, sigma, m):
    return [t / m for t in total]


def _noisy_client(share):
    """Each client adds noise of std sigma x clip x share to its clipped update."""
    def client_fn(c, s, clip, sigma, m):
        return [u + _noise(u, sigma * clip * share(m))
                for u in right_client(c, s, clip, sigma, m)]
    return client_fn


WRONG = {  # name: (build_dp_mean, words of the message)
    "clips the sum": (learner_form(
        client_fn=lambda c, s, clip, sigma, m: _update(c, s),
        server_fn=lambda t, clip, sigma, m: right_server(_clip(t, clip), clip, sigma, m)),
        "you clipped the sum"),
    "noise per client": (learner_form(client_fn=_noisy_client(lambda m: 1.0),
                                      server_fn=_divide), "noise on every client"),
    "noise before the sum is complete": (learner_form(
        client_fn=_noisy_client(lambda m: 1 / np.sqrt(m)), server_fn=_divide),
        "before the sum was complete"),
    "divides by who came": (learner_form(
        server_fn=lambda t, clip, sigma, m: [x + _noise(x, sigma * clip) / m for x in t],
        mean=True), "number of clients who came"),
    "federated_mean, then divides again": (learner_form(mean=True),
                                           "number of clients who came"),
    "std sigma": (learner_form(
        server_fn=lambda t, clip, sigma, m: [(x + _noise(x, sigma)) / m for x in t]),
        "not noise_multiplier x clip"),
    "clips weights": (learner_form(
        client_fn=lambda c, s, clip, sigma, m: _update(_clip(c, clip), s)),
        "clipped the client's weights, not its update"),
    "clips each tensor": (learner_form(
        client_fn=lambda c, s, clip, sigma, m: [tf.clip_by_norm(u, clip) for u in _update(c, s)]),
        "each tensor"),
    "clips each number": (learner_form(
        client_fn=lambda c, s, clip, sigma, m: [
            tf.clip_by_value(u, -clip, clip) for u in _update(c, s)]),
        "each number"),
    "no clipping": (learner_form(client_fn=lambda c, s, clip, sigma, m: _update(c, s)),
                    "did not clip"),
    "noise after dividing": (learner_form(
        server_fn=lambda t, clip, sigma, m: [x / m + _noise(x, sigma * clip) for x in t]),
        "AFTER dividing"),
    "no division": (learner_form(
        server_fn=lambda t, clip, sigma, m: [x + _noise(x, sigma * clip) for x in t]),
        "divide it by"),
    "no noise": (learner_form(server_fn=_divide), "no noise in it"),
    "returns the new weights": (learner_form(add_server=True), "return the noisy mean update"),
}


def test_reference_passes():
    verdict = nb11.check_dp_mean(dp_fedavg.build_dp_mean_update, verbose=False)
    assert verdict.passed, verdict.message


def test_learner_form_of_the_answer_passes():
    verdict = nb11.check_dp_mean(learner_form(), verbose=False)
    assert verdict.passed, verdict.message


def test_untouched_stub_is_not_attempted():
    verdict = nb11.check_dp_mean(stub, verbose=False)
    assert verdict.status == "not attempted", verdict


@pytest.mark.parametrize("name", list(WRONG))
def test_wrong_answers_are_named(name):
    answer, words = WRONG[name]
    verdict = nb11.check_dp_mean(answer, verbose=False)
    assert verdict.status == "wrong", verdict
    assert words in verdict.message, verdict.message


SAME_MISTAKE = {"federated_mean, then divides again": "divides by who came"}


def test_each_mistake_has_its_own_message():
    messages = [nb11.check_dp_mean(answer, verbose=False).message
                for name, (answer, _) in WRONG.items() if name not in SAME_MISTAKE]
    assert len(set(messages)) == len(messages)


def test_wrong_answers_differ_from_the_right_one_on_every_case():
    for server, updates, clip, m in nb11.cases():
        right = nb11.expected(server, updates, clip, m)
        for message, candidates in nb11._wrong_answers(server, updates, clip, m).items():
            for candidate in candidates:
                assert not nb11.close(candidate, right), message


def test_use_falls_back_to_the_course_version_until_the_check_passes():
    stubbed = nb11.check_dp_mean(stub, verbose=False)
    assert nb11.use(stubbed, stub) is dp_fedavg.build_dp_mean_update
    passed = nb11.check_dp_mean(learner_form(), verbose=False)
    mine = learner_form()
    assert nb11.use(passed, mine) is mine


# --- mutation tests: the comparisons that reject wrong answers are the checker's ----

def test_without_the_comparison_of_the_clipped_mean_a_wrong_clip_passes(monkeypatch):
    wrong = WRONG["clips the sum"][0]
    monkeypatch.setattr(nb11, "_check_with_noise", lambda *a, **k: 1.0)
    assert nb11.check_dp_mean(wrong, verbose=False).status == "wrong"
    monkeypatch.setattr(nb11, "close", lambda a, b, **k: True)
    assert nb11.check_dp_mean(wrong, verbose=False).passed


def test_without_the_noise_measurement_noise_per_client_passes(monkeypatch):
    wrong = WRONG["noise per client"][0]
    assert nb11.check_dp_mean(wrong, verbose=False).status == "wrong"
    monkeypatch.setattr(nb11, "RATIO_TOLERANCE", 10.0)
    assert nb11.check_dp_mean(wrong, verbose=False).passed
