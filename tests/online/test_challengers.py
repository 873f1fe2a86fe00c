"""Challengers: models that learn the same answers in the same order beside the one serving,
and that one of them may replace (`ModelBase.promoted`)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from streamloop.online import MultiLabelModel, OnlineModel

LABELS = ["billing", "bug", "other"]
WORDS = {
    "billing": ["refund", "invoice", "charge", "price"],
    "bug": ["crash", "error", "freeze", "broken"],
    "other": ["thanks", "hello", "question", "idea"],
}


def stream(count: int, seed: int = 0) -> list[tuple[dict[str, Any], str, bool]]:
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        label = rng.choice(LABELS)
        words = [rng.choice(WORDS[label]), rng.choice(WORDS[rng.choice(LABELS)]), str(n % 7)]
        rows.append(({"text": " ".join(words)}, label, n % 3 == 0))
    return rows


def model(preset: str = "logistic_regression", **options: Any) -> OnlineModel:
    return OnlineModel(
        labels=LABELS, input_kind="text", preset=preset, strategy="margin", rehearsal=2, **options
    )


def teach(target: OnlineModel, rows: list[tuple[dict[str, Any], str, bool]], **options: Any):
    for x, label, drawn in rows:
        target.learn(x, label, drawn_at_random=drawn, annotator="ann", **options)
    return target


def test_a_challenger_learns_exactly_what_a_model_of_its_own_learns() -> None:
    rows = stream(120)
    served = teach(model(challengers=["naive_bayes", "hoeffding_tree"]), rows)
    for name in ("naive_bayes", "hoeffding_tree"):
        alone = teach(model(name), rows)
        assert served.challengers[name].snapshot() == alone.snapshot()
    # The one serving is as it would be without challengers, too.
    served.__dict__.pop("_challengers")
    assert served.snapshot() == teach(model(), rows).snapshot()


def test_deferred_stepwise_learning_ends_as_learning_at_once() -> None:
    rows = stream(90)
    at_once = teach(model(challengers=["naive_bayes"]), rows)
    deferred = model(challengers=["naive_bayes"])
    rng = random.Random(3)
    for x, label, drawn in rows:
        deferred.learn(x, label, drawn_at_random=drawn, annotator="ann", defer=True)
        deferred.settle(rng.randint(0, 6))
    assert deferred.unsettled > 0
    assert deferred.snapshot() == at_once.snapshot()
    assert deferred.unsettled == 0


def test_unsettled_counts_what_the_challengers_lag() -> None:
    served = model(challengers=["naive_bayes"], shadows=0)
    for x, label, _ in stream(5):
        served.learn(x, label, defer=True)
    assert served.unsettled == 5
    served.settle(2)
    assert served.unsettled == 3


def test_challengers_survive_a_snapshot_and_go_on_as_if_never_stopped() -> None:
    rows = stream(100)
    whole = teach(model(challengers=["naive_bayes"]), rows)
    first = teach(model(challengers=["naive_bayes"]), rows[:60])
    restored = teach(OnlineModel.restore(first.snapshot()), rows[60:])
    assert restored.snapshot() == whole.snapshot()


def test_promotion_serves_the_challenger_and_keeps_the_old_model_as_one() -> None:
    rows = stream(80)
    served = teach(model(challengers=["naive_bayes", "hoeffding_tree"]), rows)
    probe = {"text": "refund crash 3"}
    expected = served.challengers["naive_bayes"].predict(probe).probabilities
    promoted = served.promoted("naive_bayes", ["logistic_regression", "hoeffding_tree"])
    assert promoted.preset == "naive_bayes"
    assert list(promoted.challengers) == ["logistic_regression", "hoeffding_tree"]
    assert promoted.challengers["logistic_regression"] is served
    assert served.challengers == {}
    assert promoted.version == 81  # a new version of the project's model
    assert promoted.predict(probe).probabilities == expected
    # Every model goes on learning the same answers.
    more = stream(20, seed=9)
    teach(promoted, more)
    alone = teach(teach(model(), rows), more)
    served_now = promoted.challengers["logistic_regression"]
    assert served_now.snapshot() == alone.snapshot()


def test_promotion_refuses_what_is_not_a_challenger_or_a_wrong_order() -> None:
    served = model(challengers=["naive_bayes"])
    with pytest.raises(ValueError, match="'hoeffding_tree' is not a challenger"):
        served.promoted("hoeffding_tree", ["logistic_regression"])
    with pytest.raises(ValueError, match="must name"):
        served.promoted("naive_bayes", ["hoeffding_tree"])
    assert list(served.challengers) == ["naive_bayes"]


def test_a_challenger_that_fails_never_stops_the_model_serving(caplog) -> None:
    served = model(challengers=["naive_bayes"])
    broken = served.challengers["naive_bayes"]

    def fails(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("out of cheese")

    broken.learn = fails  # type: ignore[method-assign]
    teach(served, stream(10))
    assert served.version == 10
    assert served.unsettled == 0
    assert "challenger naive_bayes failed to learn" in caplog.text


def test_multilabel_challengers_learn_the_same_sets() -> None:
    def multilabel(preset: str, **options: Any) -> MultiLabelModel:
        return MultiLabelModel(labels=LABELS, input_kind="text", preset=preset, **options)

    rows = [
        (x, sorted({label, "other"}) if n % 4 == 0 else [label])
        for n, (x, label, _) in enumerate(stream(60))
    ]
    served = multilabel("logistic_regression", challengers=["naive_bayes"])
    alone = multilabel("naive_bayes")
    for x, labels in rows:
        served.learn(x, labels, defer=True)
        alone.learn(x, labels)
    served.settle()
    assert served.challengers["naive_bayes"].snapshot() == alone.snapshot()
    promoted = served.promoted("naive_bayes", ["logistic_regression"])
    assert promoted.preset == "naive_bayes" and promoted.version == 61
