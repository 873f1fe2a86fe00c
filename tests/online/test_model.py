"""The model contract, which every preset passes for every input kind, and the model's edges."""

from __future__ import annotations

import json
import math
import pickle
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamloop.online import (
    DEFAULT_STRATEGY,
    INPUT_KINDS,
    PRESETS,
    STRATEGIES,
    OnlineModel,
    uncertainty,
)
from streamloop.online.linear import _normalised
from support import predicted_as_one_matrix, same_predictions

LABEL_SETS = {"2": ("spam", "ham"), "3": ("spam", "ham", "eggs")}
TRAIN_SIZE = 300
HOLDOUT_SIZE = 150


@dataclass(frozen=True)
class Case:
    preset: str
    input_kind: str
    labels: tuple[str, ...]

    def model(self, **overrides: Any) -> OnlineModel:
        arguments: dict[str, Any] = {
            "labels": self.labels,
            "input_kind": self.input_kind,
            "preset": self.preset,
            "strategy": DEFAULT_STRATEGY,
        }
        return OnlineModel(**(arguments | overrides))


@dataclass(frozen=True)
class Trained:
    case: Case
    model: OnlineModel
    blob: bytes
    train: list[tuple[dict[str, Any], str]]
    holdout: list[tuple[dict[str, Any], str]]


CASES = [
    pytest.param(Case(preset, kind, labels), id=f"{preset}-{kind}-{count}")
    for preset in PRESETS
    for kind in INPUT_KINDS
    for count, labels in LABEL_SETS.items()
]


@pytest.fixture(scope="module", params=CASES)
def trained(request: pytest.FixtureRequest, make_items: Any) -> Trained:
    """A model of each case that has learned the same training stream; tests must not teach it."""
    case: Case = request.param
    train = make_items(case.input_kind, case.labels, TRAIN_SIZE, seed=1)
    holdout = make_items(case.input_kind, case.labels, HOLDOUT_SIZE, seed=2)
    model = case.model()
    for data, label in train:
        model.learn(data, label)
    return Trained(case, model, model.snapshot(), train, holdout)


def _json_copy(value: Any) -> Any:
    # Fresh objects for every string, as a model fed from a queue or the store would get.
    return json.loads(json.dumps(value))


# The contract: every preset, every input kind, two and three labels.


@pytest.mark.parametrize("case", CASES)
def test_untrained_model_predicts_uniform_without_a_label(case: Case, make_items: Any) -> None:
    model = case.model()
    data, _ = make_items(case.input_kind, case.labels, 1)[0]

    prediction = model.predict(data)

    k = len(case.labels)
    assert prediction.label is None
    assert prediction.probabilities == dict.fromkeys(case.labels, 1.0 / k)
    assert prediction.uncertainty == 1.0
    assert prediction.model_version == 0


def test_learns_separable_data_better_than_chance(trained: Trained) -> None:
    predictions = trained.model.predict_many([data for data, _ in trained.holdout])
    hits = sum(p.label == label for p, (_, label) in zip(predictions, trained.holdout, strict=True))

    chance = 1 / len(trained.case.labels)
    assert hits / len(trained.holdout) > chance + 0.2
    assert trained.model.metrics.report()["accuracy"] > chance


def test_probabilities_cover_the_labels_in_order_and_sum_to_one(trained: Trained) -> None:
    for data, _ in trained.holdout:
        prediction = trained.model.predict(data)

        probabilities = prediction.probabilities
        assert tuple(probabilities) == trained.case.labels
        assert math.isclose(sum(probabilities.values()), 1.0, rel_tol=1e-9)
        assert all(0.0 <= p <= 1.0 for p in probabilities.values())
        assert prediction.label == max(probabilities, key=probabilities.__getitem__)
        assert prediction.uncertainty == uncertainty(DEFAULT_STRATEGY, probabilities)
        assert prediction.model_version == TRAIN_SIZE


@pytest.mark.parametrize("size", [3, 20, 64])
def test_predict_many_matches_predict(trained: Trained, size: int) -> None:
    rows = [data for data, _ in trained.holdout[:size]]

    same_predictions(trained.model.predict_many(rows), [trained.model.predict(r) for r in rows])


def trained_tabular_model(make_items: Any) -> OnlineModel:
    """The tabular linear preset (the one with a batch path), taught 200 rows."""
    model = OnlineModel(
        labels=LABEL_SETS["3"],
        input_kind="tabular",
        preset="logistic_regression",
        strategy="margin",
    )
    for data, label in make_items("tabular", LABEL_SETS["3"], 200, seed=3):
        model.learn(data, label)
    return model


@pytest.mark.parametrize(
    "extra",
    [
        {},  # every row has the same fields
        {"unseen_number": 3.0, "colour": "never-seen"},
        {"mixed": "a string"},  # a field that is a number in other rows: one at a time
        {"flag_sometimes": True},  # a boolean missing from other rows: one at a time
    ],
    ids=["plain", "unseen", "mixed-types", "sparse-boolean"],
)
def test_predict_many_matches_predict_on_uneven_tabular_rows(
    make_items: Any, extra: dict[str, Any]
) -> None:
    model = trained_tabular_model(make_items)
    rows = [dict(data) for data, _ in make_items("tabular", LABEL_SETS["3"], 40, seed=4)]
    for n, row in enumerate(rows):
        row["mixed"] = float(n)
        if n % 4 == 1:
            del row["x"]  # a known number missing from some rows
        if n % 3 == 0:
            row.update(extra)
    before = model.snapshot()

    same_predictions(model.predict_many(rows), [model.predict(row) for row in rows])
    assert model.snapshot() == before


def test_predicting_leaves_the_model_unchanged(trained: Trained) -> None:
    trained.model.predict_many([data for data, _ in trained.holdout])
    trained.model.metrics.report()
    trained.model.metrics.confusion()

    assert trained.model.snapshot() == trained.blob


def test_scoring_unseen_fields_and_words_leaves_the_model_unchanged(trained: Trained) -> None:
    novel = [
        {"text": f"never seen word{i} zz{i}"}
        if trained.case.input_kind == "text"
        else {f"new_number_{i}": float(i), f"new_text_{i}": f"v{i}"}
        for i in range(50)
    ]
    trained.model.predict_many(novel)

    assert trained.model.snapshot() == trained.blob


def test_restored_model_has_the_same_bytes_and_predictions(trained: Trained) -> None:
    restored = OnlineModel.restore(trained.blob)

    assert restored.snapshot() == trained.blob
    assert restored.version == TRAIN_SIZE
    assert restored.metrics.report() == trained.model.metrics.report()
    rows = [data for data, _ in trained.holdout]
    assert restored.predict_many(rows) == trained.model.predict_many(rows)


def test_replaying_the_labels_gives_identical_bytes(trained: Trained) -> None:
    replayed = trained.case.model()
    for data, label in _json_copy(trained.train):
        replayed.learn(data, label)

    assert replayed.snapshot() == trained.blob


def test_restored_model_learns_on_exactly_like_one_never_stopped(
    trained: Trained, make_items: Any
) -> None:
    more = make_items(trained.case.input_kind, trained.case.labels, 30, seed=3)
    uninterrupted = OnlineModel.restore(trained.blob)
    resumed = OnlineModel.restore(OnlineModel.restore(trained.blob).snapshot())
    for data, label in more:
        uninterrupted.learn(data, label)
        resumed.learn(*_json_copy([data, label]))

    assert resumed.snapshot() == uninterrupted.snapshot()


def test_learn_scores_the_prediction_made_before_learning(trained: Trained) -> None:
    model = OnlineModel.restore(trained.blob)
    data, label = trained.holdout[0]
    before = model.predict(data)

    learned = model.learn(data, label)

    assert learned.predicted == before.label
    assert learned.correct == (before.label == label)
    assert learned.model_version == model.version == TRAIN_SIZE + 1
    assert model.metrics.report()["labels_total"] == TRAIN_SIZE + 1


# Edges.


def test_learning_counts_versions_from_zero(make_items: Any) -> None:
    model = Case("naive_bayes", "text", LABEL_SETS["2"]).model()
    outcomes = [model.learn(data, label) for data, label in make_items("text", model.labels, 3)]

    assert [outcome.model_version for outcome in outcomes] == [1, 2, 3]
    assert outcomes[0].predicted is None
    assert not outcomes[0].correct


def test_labels_the_model_has_not_seen_get_zero() -> None:
    model = Case("logistic_regression", "tabular", LABEL_SETS["3"]).model()
    model.learn({"x": 1.0}, "ham")

    prediction = model.predict({"x": 1.0})

    assert prediction.probabilities == {"spam": 0.0, "ham": 1.0, "eggs": 0.0}
    assert prediction.label == "ham"
    assert prediction.uncertainty == 0.0


def test_ties_go_to_the_earlier_project_label() -> None:
    model = Case("naive_bayes", "text", LABEL_SETS["2"]).model()
    model.learn({"text": "same words"}, "ham")
    model.learn({"text": "same words"}, "spam")

    prediction = model.predict({"text": "same words"})

    assert prediction.probabilities["spam"] == prediction.probabilities["ham"]
    assert prediction.label == "spam"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_uncertainty_follows_the_project_strategy(strategy: str, make_items: Any) -> None:
    model = Case("naive_bayes", "tabular", LABEL_SETS["3"]).model(strategy=strategy)
    items = make_items("tabular", model.labels, 20)
    for data, label in items:
        model.learn(data, label)

    prediction = model.predict(items[0][0])

    assert model.strategy == strategy
    assert prediction.uncertainty == uncertainty(strategy, prediction.probabilities)


def test_model_exposes_its_settings() -> None:
    model = OnlineModel(
        labels=["spam", "ham"],
        input_kind="tabular",
        preset="hoeffding_tree",
        strategy="entropy",
        seed=7,
        window=50,
    )

    assert model.labels == ("spam", "ham")
    assert (model.input_kind, model.preset, model.strategy, model.seed) == (
        "tabular",
        "hoeffding_tree",
        "entropy",
        7,
    )
    assert model.version == 0
    assert model.metrics.report()["window"] == 50


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"labels": ["spam"]}, "two or more"),
        ({"labels": ["spam", "spam"]}, "distinct"),
        ({"labels": ["spam", 3]}, "strings"),
        ({"labels": "spam"}, "strings"),
        ({"preset": "svm"}, "unknown preset"),
        ({"input_kind": "image"}, "unknown input kind"),
        ({"strategy": "vibes"}, "unknown strategy"),
        ({"window": 0}, "window"),
    ],
)
def test_rejects_invalid_settings(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Case("naive_bayes", "text", LABEL_SETS["2"]).model(**overrides)


@pytest.mark.parametrize(
    ("input_kind", "data", "label", "message"),
    [
        ("text", {"text": "fine"}, "eggs", "unknown label"),
        ("text", {"body": "no text field"}, "spam", "string field 'text'"),
        ("text", {"text": 42}, "spam", "string field 'text'"),
        ("tabular", {"x": float("inf")}, "spam", "finite"),
        ("tabular", {"x": [1, 2]}, "spam", "number, boolean or string"),
    ],
)
def test_bad_input_is_refused_and_leaves_the_model_unchanged(
    input_kind: str, data: dict[str, Any], label: str, message: str
) -> None:
    model = Case("logistic_regression", input_kind, LABEL_SETS["2"]).model()
    model.learn({"text": "good words"} if input_kind == "text" else {"x": 1.0}, "spam")
    before = model.snapshot()

    with pytest.raises(ValueError, match=message):
        model.learn(data, label)
    if label in model.labels:
        with pytest.raises(ValueError, match=message):
            model.predict(data)
    assert model.snapshot() == before


@pytest.mark.parametrize(
    "blob",
    [b"", b"not a pickle", pickle.dumps({"a": "dict"}, protocol=pickle.HIGHEST_PROTOCOL)],
    ids=["empty", "garbage", "other-object"],
)
def test_restore_refuses_what_is_not_a_model_snapshot(blob: bytes) -> None:
    with pytest.raises(ValueError, match="snapshot"):
        OnlineModel.restore(blob)


@pytest.mark.parametrize("input_kind", ["text", "tabular"])
def test_rehearsal_keeps_replays_bit_for_bit(make_items: Any, input_kind: str) -> None:
    items = make_items(input_kind, ("a", "b", "c"), 120, seed=3)
    first, second = (
        OnlineModel(
            labels=("a", "b", "c"),
            input_kind=input_kind,
            preset="logistic_regression",
            strategy="margin",
            seed=5,
            rehearsal=3,
            memory=50,
        )
        for _ in range(2)
    )
    for data, label in items[:80]:
        first.learn(data, label)
        second.learn(data, label)
    restored = OnlineModel.restore(first.snapshot())
    for data, label in items[80:]:
        first.learn(data, label, drawn_at_random=True)
        restored.learn(data, label, drawn_at_random=True)
    assert first.snapshot() == restored.snapshot()
    assert second.snapshot() != first.snapshot()  # it stopped at 80 labels
    assert first.sampled_accuracy.report()["samples"] == 40


def test_only_labels_drawn_at_random_feed_the_unbiased_estimate(make_items: Any) -> None:
    model = OnlineModel(
        labels=("a", "b"), input_kind="tabular", preset="logistic_regression", strategy="margin"
    )
    for n, (data, label) in enumerate(make_items("tabular", ("a", "b"), 30, seed=1)):
        model.learn(data, label, drawn_at_random=n % 3 == 0)
    report = model.sampled_accuracy.report()
    # Ten were drawn at random; the first met an untrained model, which has no accuracy yet.
    assert report["samples"] == 9
    assert report["low"] <= report["estimate"] <= report["high"]


def test_a_model_that_cannot_score_yet_is_unsure_instead_of_failing():
    # River's multinomial naive Bayes divides by zero until it has learned a text with a word.
    model = OnlineModel(
        labels=["spam", "ham"], input_kind="text", preset="naive_bayes", strategy="margin"
    )
    model.learn({"text": ""}, "spam")
    prediction = model.predict({"text": "cheap pills"})
    assert prediction.label is None and prediction.uncertainty == 1.0
    assert model.learn({"text": "cheap pills"}, "spam").model_version == 2
    assert model.predict_many([{"text": "cheap"}] * 20)[0].model_version == 2


def test_a_label_the_estimator_cannot_learn_still_counts_so_versions_match_the_store(caplog):
    model = OnlineModel(
        labels=["spam", "ham"], input_kind="text", preset="naive_bayes", strategy="margin"
    )
    model.learn({"text": "cheap pills"}, "spam")
    learn_one = model._pipeline.learn_one

    def failing(x: Any, y: str) -> None:
        raise ZeroDivisionError("a numeric failure inside the estimator")

    model._pipeline.learn_one = failing  # type: ignore[method-assign]
    assert model.learn({"text": "lunch at noon"}, "ham").model_version == 2
    assert "failed to learn a label" in caplog.text
    model._pipeline.learn_one = learn_one  # type: ignore[method-assign]
    assert model.learn({"text": "lunch at noon"}, "ham").model_version == 3


def test_predict_many_matches_predict_on_outliers(make_items: Any) -> None:
    # Logits beyond ±30, where River's sigmoid is exactly 0 or 1: all-zero rows are uniform
    # (the most uncertain), and ties are ties, in a batch as one at a time.
    model = trained_tabular_model(make_items)
    base = make_items("tabular", LABEL_SETS["3"], 1, seed=4)[0][0]
    rng = random.Random(0)
    fields = ("x", "y", "noise", "count")
    rows = [base | {f: rng.uniform(-300.0, 300.0) for f in fields} for _ in range(400)]

    same_predictions(model.predict_many(rows), [model.predict(row) for row in rows])


@pytest.mark.parametrize(
    ("input_kind", "data"), [("tabular", {"f": 1.0}), ("text", {"text": "hello world"})]
)
def test_a_model_read_after_its_first_label_pickles_as_one_that_was_not(
    input_kind: str, data: dict[str, Any]
) -> None:
    # A served model is read (predictions, features) between labels; its replayed twin is
    # not. River builds a pipeline's plan at its first learn_one: the shadow heads' path,
    # which learns the pipeline's steps itself, builds it then too.
    read, replayed = (
        OnlineModel(
            labels=["a", "b"],
            input_kind=input_kind,
            preset="logistic_regression",
            strategy="margin",
            rehearsal=3,
        )
        for _ in "ab"
    )
    for model in (read, replayed):
        model.learn(data, "a", drawn_at_random=True)
    read.predict(data)
    read.features(data)

    assert read.snapshot() == replayed.snapshot()


@pytest.mark.parametrize("strategy", ["margin", "entropy", "least_confidence"])
@pytest.mark.parametrize("taught", [1, 200], ids=["one-label-seen", "taught"])
def test_predict_many_matches_predict_on_rows_of_numbers(
    make_items: Any, strategy: str, taught: int
) -> None:
    # The usual batch from one source, numbers only of the same fields, is read as one matrix
    # (`numeric_rows`): the same predictions, also beyond the logits' bound (uniform, ties)
    # and while the model has seen one label of three.
    model = OnlineModel(
        labels=LABEL_SETS["3"],
        input_kind="tabular",
        preset="logistic_regression",
        strategy=strategy,
    )
    fields = ("x", "y", "noise", "count")
    for data, label in make_items("tabular", LABEL_SETS["3"], taught, seed=3):
        model.learn({f: data[f] for f in fields}, label)
    rng = random.Random(0)
    rows = [{f: rng.uniform(-1e4, 1e4) for f in fields} for _ in range(200)]
    rows += [
        {f: data[f] for f in fields}
        for data, _ in make_items("tabular", LABEL_SETS["3"], 40, seed=4)
    ]
    many = predicted_as_one_matrix(model, rows)
    same_predictions(many, [model.predict(row) for row in rows])


@settings(max_examples=200, deadline=None)
@given(
    strategy=st.sampled_from(["margin", "entropy", "least_confidence"]),
    seen=st.lists(st.sampled_from(["spam", "ham", "eggs", "other"]), unique=True),
    scores=st.lists(
        st.lists(
            st.sampled_from([0.0, 1.0, 0.5, 1e-300, float("nan")]) | st.floats(0.0, 1.0),
            min_size=4,
            max_size=4,
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_predictions_in_arrays_are_those_of_one_at_a_time(
    strategy: str, seen: list[str], scores: list[list[float]]
) -> None:
    # A batch's predictions from a one-vs-rest's scores (`_predictions`) against the same
    # scores normalised as River does and made a prediction one at a time: the same labels
    # and probabilities to the bit, with labels the classifier has not seen ("eggs") or the
    # project lacks ("other"), ties, all-zero rows and NaN scores.
    model = OnlineModel(
        labels=["spam", "ham", "eggs"], input_kind="text", preset="naive_bayes", strategy=strategy
    )
    matrix = np.array([row[: len(seen)] for row in scores]).reshape(len(scores), len(seen))
    many = model._predictions(seen, matrix)
    raws = _normalised(seen, matrix) if seen else [{} for _ in scores]
    ones = [model._prediction(raw) for raw in raws]
    assert [p.label for p in many] == [p.label for p in ones]
    assert [p.probabilities for p in many] == [p.probabilities for p in ones]
    assert [p.uncertainty for p in many] == pytest.approx([p.uncertainty for p in ones], abs=1e-12)
