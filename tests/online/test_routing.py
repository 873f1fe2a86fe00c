"""The routing policy: warm-up, exploration share, starvation guard."""

from __future__ import annotations

import random

from streamloop.online import Prediction
from streamloop.online.routing import RoutingPolicy, StreamGate, default_rehearsal


def prediction(probabilities: dict[str, float], uncertainty: float) -> Prediction:
    return Prediction(max(probabilities, key=probabilities.get), probabilities, uncertainty, 1)


def test_the_warmup_draws_at_random_then_uncertainty_takes_over():
    policy = RoutingPolicy("margin", exploration=0.0, warmup=20)
    rng = random.Random(0)
    assert all(policy.explore(n, rng) for n in range(20))
    assert not any(policy.explore(n, rng) for n in range(20, 200))


def test_the_exploration_share_is_kept():
    policy = RoutingPolicy("margin", exploration=0.2)
    rng = random.Random(0)
    share = sum(policy.explore(100, rng) for _ in range(10_000)) / 10_000
    assert 0.18 < share < 0.22


def test_random_strategy_always_explores():
    policy = RoutingPolicy("random")
    assert all(policy.explore(n, random.Random(n)) for n in range(100))


def test_without_the_guard_priority_is_uncertainty():
    predictions = [prediction({"a": 0.5, "b": 0.5}, 1.0), prediction({"a": 0.9, "b": 0.1}, 0.2)]
    assert RoutingPolicy("margin").priorities(predictions, {"a": 10, "b": 0}) == [1.0, 0.2]


def test_the_guard_lifts_items_likely_of_a_starved_label():
    sure_a = prediction({"a": 0.7, "b": 0.1, "c": 0.2}, 0.5)
    maybe_c = prediction({"a": 0.2, "b": 0.2, "c": 0.6}, 0.4)
    counts = {"a": 30, "b": 30, "c": 0}
    plain = RoutingPolicy("margin").priorities([sure_a, maybe_c], counts)
    guarded = RoutingPolicy("margin", starvation_boost=1.0).priorities([sure_a, maybe_c], counts)
    assert plain[0] > plain[1]
    assert guarded[1] > guarded[0]


def test_rehearsal_is_on_by_default_for_sgd_models_only():
    assert default_rehearsal("logistic_regression") > 0
    assert default_rehearsal("naive_bayes") == default_rehearsal("hoeffding_tree") == 0


def admitted_share(gate: StreamGate, uncertainties: list[float], annotators: int) -> float:
    rng = random.Random(0)
    decisions = [
        gate.admit(u, now=float(i), annotators=annotators, rng=rng)
        for i, u in enumerate(uncertainties)
    ]
    return sum(routed for routed, _ in decisions[len(decisions) // 2 :]) / (len(decisions) // 2)


def test_the_stream_gate_admits_what_the_annotators_online_can_label():
    # One event a second; one annotator labels 360 an hour: a tenth can be labelled.
    uncertainties = [random.Random(i).random() for i in range(4000)]
    one = admitted_share(StreamGate(360, exploration=0.0), uncertainties, annotators=1)
    three = admitted_share(StreamGate(360, exploration=0.0), uncertainties, annotators=3)
    assert 0.08 < one < 0.12
    assert 0.27 < three < 0.33


def test_the_stream_gate_admits_the_most_uncertain():
    gate = StreamGate(360, exploration=0.0)
    rng = random.Random(1)
    for i in range(2000):
        gate.admit(rng.random(), now=float(i), annotators=1, rng=rng)
    assert gate.admit(0.99, now=2000.0, annotators=1, rng=rng) == (True, False)
    assert gate.admit(0.10, now=2001.0, annotators=1, rng=rng) == (False, False)


def test_ties_at_the_threshold_keep_the_budget():
    # An untrained model: every event is equally (fully) uncertain.
    share = admitted_share(StreamGate(360, exploration=0.0), [1.0] * 4000, annotators=1)
    assert 0.07 < share < 0.13


def test_the_gate_flags_its_random_draws():
    gate = StreamGate(360, exploration=0.5)
    rng = random.Random(2)
    decisions = [gate.admit(0.0, now=float(i), annotators=1, rng=rng) for i in range(4000)]
    routed = [drawn for admitted, drawn in decisions[2000:] if admitted]
    # The budget (a tenth) is kept, and half of it is random draws, flagged as such.
    assert 0.08 < len(routed) / 2000 < 0.12
    assert 0.4 < sum(routed) / len(routed) < 0.6


def test_the_warmup_spends_the_whole_budget_on_random_draws():
    gate = StreamGate(360, exploration=0.05)
    rng = random.Random(3)
    decisions = [
        gate.admit(rng.random(), now=float(i), annotators=1, rng=rng, warming_up=True)
        for i in range(4000)
    ]
    routed = [drawn for admitted, drawn in decisions[2000:] if admitted]
    assert 0.08 < len(routed) / 2000 < 0.12
    assert all(routed)


def test_the_gate_rate_recovers_after_a_long_idle_spell():
    gate = StreamGate(360, exploration=0.0)
    rng = random.Random(4)
    for i in range(2000):
        gate.admit(rng.random(), now=float(i), annotators=1, rng=rng)
    start = 2000.0 + 10 * 3600  # ten hours later, the stream resumes at one event a second
    decisions = [
        gate.admit(rng.random(), now=start + i, annotators=1, rng=rng) for i in range(1000)
    ]
    # A tenth of 1000 is the budget; the rate needs about two minutes of stream to catch up,
    # which costs a few dozen extra, not the whole stream.
    assert sum(routed for routed, _ in decisions) < 200


def test_a_burst_is_not_admitted_wholesale():
    gate = StreamGate(360, exploration=0.0)
    rng = random.Random(5)
    burst = [gate.admit(rng.random(), now=0.0, annotators=1, rng=rng) for _ in range(5000)]
    assert sum(routed for routed, _ in burst) < 100
