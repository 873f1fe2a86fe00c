"""The routing policy: warm-up, exploration share, starvation guard."""

from __future__ import annotations

import random

from streamloop.online import Prediction
from streamloop.online.routing import RoutingPolicy, default_rehearsal


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
