"""Drift and the accuracy estimate, on a loop as the service runs it (its routing and queue).

A synthetic binary stream: a tilted hyperplane over four features. The abrupt drift flips the
class of every item on one side of a second hyperplane (about a third of them).
"""

from __future__ import annotations

import random

import pytest

from streamloop.online import OnlineModel
from streamloop.online.drift import DriftMonitor
from streamloop.online.routing import RoutingPolicy, default_rehearsal, exploration_now
from streamloop.streams.queue import QueuedItem, RoutingQueue

EXPLORATION = 0.2


def _item(rng: random.Random) -> dict[str, float]:
    return {f"x{k}": rng.uniform(-1, 1) for k in range(4)}


def _label(x: dict[str, float], drifted: bool) -> str:
    positive = x["x0"] + 0.5 * x["x1"] - 0.3 * x["x2"] > 0
    if drifted and x["x3"] > 0.35:
        positive = not positive
    return "yes" if positive else "no"


def _run(seed: int, labels: int, drift_at: int | None) -> tuple[OnlineModel, list[tuple]]:
    """Label ``labels`` items as the service routes them; returns the model and its changes."""
    rng, sample_rng, pick_rng = (
        random.Random(seed),
        random.Random(seed + 3),
        random.Random(seed + 1),
    )
    model = OnlineModel(
        labels=["yes", "no"],
        input_kind="tabular",
        preset="logistic_regression",
        strategy="margin",
        seed=seed,
        rehearsal=default_rehearsal("logistic_regression"),
    )
    policy = RoutingPolicy("margin", exploration=EXPLORATION, warmup=20)
    queue = RoutingQueue(10_000, random.Random(seed))
    changes: list[tuple] = []
    arrived = 0
    state = "none"
    for n in range(labels):
        drifted = drift_at is not None and n >= drift_at
        share = exploration_now(EXPLORATION, state)
        for _ in range(3):  # three events arrive for each label given
            x = _item(rng)
            p = model.predict(x)
            sampled = sample_rng.random() < share
            queue.push(
                QueuedItem(
                    arrived,
                    str(arrived),
                    x | {"_y": _label(x, drifted)},
                    p.uncertainty,
                    drawn_at_random=sampled,
                )
            )
            arrived += 1
        lease = queue.lease(
            holder="a",
            annotator="a",
            now=0.0,
            duration=1e9,
            scorer=lambda items: policy.score(model, [i.data for i in items]),
            candidates=32,
            explore=policy.explore(model.version, pick_rng, share=share),
            random_counts=policy.random_counts(model.version),
        )
        assert lease is not None
        queue.remove(lease.item.item_id)
        x = {k: v for k, v in lease.item.data.items() if k != "_y"}
        model.learn(x, lease.item.data["_y"], drawn_at_random=lease.drawn_at_random)
        drift = model.drift
        if drift["state"] != state:
            state = drift["state"]
            changes.append((n + 1, state))
            if state == "drift":
                queue.age_out()
    return model, changes


SEEDS = range(8)


def test_a_stationary_stream_never_shows_drift():
    for seed in SEEDS:
        model, changes = _run(seed, 400, drift_at=None)
        # Warnings come now and then (they only draw more items at random); drift never.
        assert "drift" not in {state for _, state in changes}, (seed, changes)
        assert model.drift["drifts_total"] == 0


def test_an_abrupt_change_warns_at_once_and_mostly_shows_as_drift_within_100_labels():
    confirmed = 0
    for seed in SEEDS:
        model, changes = _run(seed, 300, drift_at=150)
        first_warning = next(n for n, state in changes if state == "warning")
        assert 150 < first_warning <= 200, (seed, changes)
        drifts = [n for n, state in changes if state == "drift"]
        if drifts and drifts[0] <= 250:
            confirmed += 1
            assert model.drift["drifts"][0] == drifts[0]
    # The random draws confirm it in most runs, not all (BENCHMARKS.md, drift).
    assert confirmed >= 6, confirmed


def test_a_drift_restarts_the_rehearsal_memory():
    model, changes = _run(0, 300, drift_at=150)
    at = next(n for n, state in changes if state == "drift")
    # Only labels learned from the drift on are left to rehearse.
    assert 0 < len(model._memory) <= 300 - at + 1


@pytest.mark.parametrize("seed", [0, 1])
def test_the_estimate_covers_the_current_models_accuracy_on_traffic(seed):
    model, _ = _run(seed, 300, drift_at=None)
    rng = random.Random(100 + seed)
    traffic = [_item(rng) for _ in range(500)]
    held_out = [_item(rng) for _ in range(2000)]
    truth = sum(model.predict(x).label == _label(x, False) for x in held_out) / len(held_out)
    estimate = model.accuracy_estimate(traffic)
    assert estimate["method"] == "cross_fit_prediction_powered"
    assert estimate["low"] <= truth <= estimate["high"], (truth, estimate)
    assert abs(estimate["estimate"] - truth) < 0.05, (truth, estimate)


def test_a_replayed_model_reaches_the_same_drift_state():
    model, _ = _run(0, 300, drift_at=150)
    again = OnlineModel.restore(model.snapshot())
    assert again.drift == model.drift
    assert again.accuracy_estimate() == model.accuracy_estimate()


def test_a_model_from_before_drift_was_watched_reports_none():
    model = OnlineModel(
        labels=["yes", "no"], input_kind="tabular", preset="logistic_regression", strategy="margin"
    )
    del model._drift, model._shadows
    assert model.drift["state"] == "none"
    assert model.accuracy_estimate()["method"] == "random_draws"


def test_the_monitor_warns_before_it_confirms():
    monitor = DriftMonitor(min_labels=0)
    states = []
    for n in range(1, 400):
        wrong_and_sure = n > 200 and n % 2 == 0
        change = monitor.update(
            n, hit=not wrong_and_sure and n % 10 != 0, confidence=0.9, drawn_at_random=n % 3 == 0
        )
        if change:
            states.append(change)
    assert states[:2] == ["warning", "drift"]
