"""The multi-label model contract for every supported preset, its metrics and uncertainty."""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from river import naive_bayes
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    hamming_loss,
    precision_recall_fscore_support,
)
from sklearn.preprocessing import MultiLabelBinarizer

from streamloop.online import INPUT_KINDS, PRESETS
from streamloop.online.inputs import model_input
from streamloop.online.linear import BATCH_FROM, LinearScorer
from streamloop.online.multilabel import (
    DEFAULT_THRESHOLD,
    MULTILABEL_PRESETS,
    UNSUPPORTED_PAIRS,
    MultiLabelModel,
)
from streamloop.online.multilabel_metrics import MultiLabelMetrics
from streamloop.online.multilabel_strategies import (
    DEFAULT_MULTILABEL_STRATEGY,
    MULTILABEL_STRATEGIES,
    label_uncertainties,
    multilabel_uncertainties,
    multilabel_uncertainty,
)
from streamloop.online.presets import build_front, logistic
from support import predicted_as_one_matrix, same_predictions

LABELS = ("bug", "billing", "ui", "docs")
TRAIN_SIZE = 250
HOLDOUT_SIZE = 120
Items = list[tuple[dict[str, Any], list[str]]]


@dataclass(frozen=True)
class Trained:
    preset: str
    input_kind: str
    model: MultiLabelModel
    blob: bytes
    train: Items
    holdout: Items


def _model(preset: str, input_kind: str, **overrides: Any) -> MultiLabelModel:
    arguments: dict[str, Any] = {"labels": LABELS, "input_kind": input_kind, "preset": preset}
    return MultiLabelModel(**(arguments | overrides))


def _json_copy(value: Any) -> Any:
    # Fresh objects for every string, as a model fed from a queue or the store would get.
    return json.loads(json.dumps(value))


CASES = [
    pytest.param((preset, kind), id=f"{preset}-{kind}")
    for preset in MULTILABEL_PRESETS
    for kind in INPUT_KINDS
    if (preset, kind) not in UNSUPPORTED_PAIRS
]


@pytest.fixture(scope="module", params=CASES)
def trained(request: pytest.FixtureRequest, make_multilabel_items: Any) -> Trained:
    """A model of each case taught the same stream; tests must not teach it."""
    preset, kind = request.param
    train = make_multilabel_items(kind, LABELS, TRAIN_SIZE, seed=1)
    holdout = make_multilabel_items(kind, LABELS, HOLDOUT_SIZE, seed=2)
    model = _model(preset, kind)
    for data, labels in train:
        model.learn(data, labels)
    return Trained(preset, kind, model, model.snapshot(), train, holdout)


# The contract: every supported preset, both input kinds.


def test_untrained_model_predicts_nothing_and_is_unsure() -> None:
    prediction = _model("logistic_regression", "text").predict({"text": "anything"})

    assert prediction.labels is None
    assert prediction.probabilities == dict.fromkeys(LABELS, 0.5)
    assert prediction.uncertainty == 1.0
    assert prediction.model_version == 0
    assert prediction.as_json()["labels"] is None


def test_learns_better_than_predicting_nothing(trained: Trained) -> None:
    metrics = MultiLabelMetrics(LABELS)
    for data, labels in trained.holdout:
        metrics.update(labels, trained.model.predict(data).labels)

    report = metrics.report()
    assert report["micro_f1"] > 0.5
    # Predicting no label at all would get the share of item-label pairs that apply wrong.
    base_rate = sum(len(labels) for _, labels in trained.holdout) / (
        len(trained.holdout) * len(LABELS)
    )
    assert report["hamming_loss"] < base_rate
    assert trained.model.metrics.report()["labels_total"] == TRAIN_SIZE


def test_probabilities_are_per_label_and_labels_follow_thresholds(trained: Trained) -> None:
    thresholds = trained.model.thresholds
    for data, _ in trained.holdout:
        prediction = trained.model.predict(data)

        probabilities = prediction.probabilities
        assert tuple(probabilities) == LABELS
        assert all(0.0 <= p <= 1.0 for p in probabilities.values())
        assert prediction.labels == tuple(
            label for label in LABELS if probabilities[label] > thresholds[label]
        )
        assert prediction.uncertainty == multilabel_uncertainty(
            trained.model.strategy, list(probabilities.values()), list(thresholds.values())
        )
        assert prediction.model_version == TRAIN_SIZE
        assert prediction.as_json()["labels"] == list(prediction.labels)


@pytest.mark.parametrize("size", [3, 20, 64])
def test_predict_many_matches_predict(trained: Trained, size: int) -> None:
    rows = [data for data, _ in trained.holdout[:size]]

    same_predictions(trained.model.predict_many(rows), [trained.model.predict(r) for r in rows])


def test_logistic_regression_scores_a_batch_as_one(trained: Trained) -> None:
    # The batch path is taken (so the comparison above is of two paths) by logistic
    # regression alone; the other presets score each row as `predict` does.
    rows = [data for data, _ in trained.holdout[:64]]
    scored = []
    scores = LinearScorer.scores

    def spy(self: LinearScorer, inputs: Any) -> Any:
        scored.append(len(inputs))
        return scores(self, inputs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LinearScorer, "scores", spy)
        trained.model.predict_many(rows)
    if trained.preset == "logistic_regression":
        assert trained.model.batch_rows == BATCH_FROM[trained.input_kind]
        # Tabular rows that are not all numbers are read row by row into one batch.
        assert scored == [64]
    else:
        assert trained.model.batch_rows is None
        assert scored == []


def test_an_untrained_model_scores_no_batch() -> None:
    model = _model("logistic_regression", "tabular")
    rows = [{"x": float(n)} for n in range(5)]

    assert model.batch_rows is None
    assert model.predict_many(rows) == [model.predict(row) for row in rows]


@pytest.mark.parametrize("strategy", MULTILABEL_STRATEGIES)
def test_rows_of_numbers_are_scored_as_one_matrix(
    make_multilabel_items: Any, strategy: str
) -> None:
    # The usual batch from one source, numbers only of the same fields (`numeric_rows`): the
    # same predictions, beyond the logits' bound too (probabilities of exactly 0 and 1).
    model = _model("logistic_regression", "tabular", strategy=strategy, thresholds={"ui": 0.2})
    fields = [f"x_{label}" for label in LABELS]
    for data, labels in make_multilabel_items("tabular", LABELS, 200, seed=3):
        model.learn({f: data[f] for f in fields}, labels)
    rng = random.Random(0)
    rows = [{f: rng.uniform(-1e4, 1e4) for f in fields} for _ in range(100)]
    rows += [
        {f: data[f] for f in fields}
        for data, _ in make_multilabel_items("tabular", LABELS, 40, seed=4)
    ]
    many = predicted_as_one_matrix(model, rows)
    ones = [model.predict(row) for row in rows]
    assert {p for one in ones for p in one.probabilities.values()} >= {0.0, 1.0}
    same_predictions(many, ones)


def test_a_batch_keeps_probabilities_in_bounds_as_one_at_a_time_does() -> None:
    # A misbehaving estimator's NaN counts as 0, as `_probability` counts it.
    model = _model("logistic_regression", "text")
    scores = np.array([[float("nan"), 1.0, 0.7, -0.0], [0.5, 0.25, 1e-300, 0.0]])

    first, second = model._predictions(scores)

    assert first.probabilities == {"bug": 0.0, "billing": 1.0, "ui": 0.7, "docs": 0.0}
    assert first.labels == ("billing", "ui")
    assert second.labels == ()
    assert [first.uncertainty, second.uncertainty] == [
        multilabel_uncertainty(model.strategy, list(p.probabilities.values()), [0.5] * 4)
        for p in (first, second)
    ]


def test_predicting_leaves_the_model_unchanged(trained: Trained) -> None:
    trained.model.predict_many([data for data, _ in trained.holdout])
    trained.model.features(trained.holdout[0][0])
    trained.model.metrics.report()

    assert trained.model.snapshot() == trained.blob


def test_restored_model_has_the_same_bytes_and_predictions(trained: Trained) -> None:
    restored = MultiLabelModel.restore(trained.blob)

    assert restored.snapshot() == trained.blob
    assert restored.version == TRAIN_SIZE
    rows = [data for data, _ in trained.holdout]
    assert restored.predict_many(rows) == trained.model.predict_many(rows)


def test_a_replay_is_bit_for_bit(trained: Trained) -> None:
    replay = _model(trained.preset, trained.input_kind)
    for data, labels in _json_copy(trained.train):
        replay.learn(data, labels)

    assert replay.snapshot() == trained.blob
    rows = [data for data, _ in trained.holdout]
    # Equal floats, not close ones: the probabilities themselves are replayed.
    assert [p.probabilities for p in replay.predict_many(rows)] == [
        p.probabilities for p in trained.model.predict_many(rows)
    ]


def test_a_restored_model_learns_on_as_the_original(trained: Trained) -> None:
    original = MultiLabelModel.restore(trained.blob)
    restored = MultiLabelModel.restore(original.snapshot())
    for data, labels in trained.holdout[:30]:
        assert original.learn(data, labels) == restored.learn(_json_copy(data), list(labels))

    assert original.snapshot() == restored.snapshot()


@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_logistic_regression_is_raw_river_bit_for_bit(
    kind: str, make_multilabel_items: Any
) -> None:
    # The shared front learns each item once, as each label's own pipeline would.
    items = make_multilabel_items(kind, LABELS, 120, seed=5)
    model = _model("logistic_regression", kind)
    raw = {label: build_front("logistic_regression", kind) | logistic(kind) for label in LABELS}
    for data, labels in items[:100]:
        model.learn(data, labels)
        for label, pipeline in raw.items():
            pipeline.learn_one(dict(data), label in labels)

    for data, _ in items[100:]:
        clean = {k: v for k, v in data.items() if v is not None}
        assert model.predict(data).probabilities == {
            label: pipeline.predict_proba_one(clean)[True] for label, pipeline in raw.items()
        }


@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_naive_bayes_matches_raw_river(kind: str, make_multilabel_items: Any) -> None:
    # Its probabilities skip River's logsumexp for the two-class closed form: equal up to
    # rounding.
    items = make_multilabel_items(kind, LABELS, 120, seed=6)
    model = _model("naive_bayes", kind)
    binary = naive_bayes.MultinomialNB if kind == "text" else naive_bayes.GaussianNB
    raw = {label: build_front("naive_bayes", kind) | binary() for label in LABELS}
    for data, labels in items[:100]:
        model.learn(data, labels)
        for label, pipeline in raw.items():
            pipeline.learn_one(dict(data), label in labels)

    for data, _ in items[100:]:
        clean = {k: v for k, v in data.items() if v is not None}
        expected = [pipeline.predict_proba_one(clean)[True] for pipeline in raw.values()]
        got = list(model.predict(data).probabilities.values())
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_rehearsal_is_replayed_bit_for_bit(make_multilabel_items: Any) -> None:
    items = make_multilabel_items("tabular", LABELS, 150, seed=3)
    first, second = (
        _model("logistic_regression", "tabular", rehearsal=3, memory=40, seed=7) for _ in "ab"
    )
    for data, labels in items:
        first.learn(data, labels)
    for data, labels in _json_copy(items):
        second.learn(data, labels)

    assert first.snapshot() == second.snapshot()


_CHILD = """
import hashlib, json, sys
from streamloop.online import MultiLabelModel
request = json.load(sys.stdin)
digests = {}
for preset, kind in request["cases"]:
    model = MultiLabelModel(
        labels=request["labels"], input_kind=kind, preset=preset, rehearsal=2, memory=10
    )
    for data, labels in request["items"][kind]:
        model.learn(data, labels)
    digests[preset + "/" + kind] = hashlib.sha256(model.snapshot()).hexdigest()
json.dump(digests, sys.stdout)
"""


@pytest.mark.slow
def test_snapshots_are_equal_across_processes(make_multilabel_items: Any) -> None:
    request: dict[str, Any] = {
        "labels": LABELS,
        "cases": [case.values[0] for case in CASES],
        "items": {kind: make_multilabel_items(kind, LABELS, 80) for kind in INPUT_KINDS},
    }
    digests = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", _CHILD],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONHASHSEED": hash_seed},
            ).stdout
        )
        for hash_seed in ("1", "2")
    ]

    assert digests[0] == digests[1]
    assert len(digests[0]) == len(CASES)


# Arguments and bad input.


@pytest.mark.parametrize("preset", ["adaptive_random_forest", "svm"])
def test_unsupported_presets_are_refused_by_name(preset: str) -> None:
    with pytest.raises(ValueError, match="multi-label projects do not support") as refused:
        _model(preset, "text")

    assert "logistic_regression, naive_bayes, hoeffding_tree" in str(refused.value)
    assert set(MULTILABEL_PRESETS) < set(PRESETS)


def test_a_tree_on_text_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="'hoeffding_tree' with text items: a Hoeffding tree"):
        _model("hoeffding_tree", "text")
    _model("hoeffding_tree", "tabular")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"labels": "bug"}, "sequence of strings"),
        ({"labels": ["bug", "bug"]}, "distinct"),
        ({"labels": []}, "one or more"),
        ({"input_kind": "image"}, "unknown input kind"),
        ({"strategy": "margin"}, "unknown strategy"),
        ({"thresholds": {"nope": 0.5}}, "unknown label"),
        ({"thresholds": {"bug": 1.0}}, "between 0 and 1"),
        ({"thresholds": {"bug": float("nan")}}, "between 0 and 1"),
        ({"thresholds": {"bug": True}}, "between 0 and 1"),
    ],
)
def test_invalid_arguments_are_refused(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MultiLabelModel(
            **({"labels": LABELS, "input_kind": "text", "preset": "naive_bayes"} | arguments)
        )


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("bug", "list of labels"),
        (["bug", "bug"], "must not repeat"),
        (["bug", "feature"], "unknown label 'feature'"),
        (None, "list of labels"),
        ([["bug"]], "must be strings"),
        ([1], "must be strings"),
    ],
)
def test_bad_label_sets_are_refused_and_change_nothing(labels: Any, message: str) -> None:
    model = _model("naive_bayes", "text")
    model.learn({"text": "app crashes"}, ["bug"])
    before = model.snapshot()

    with pytest.raises(ValueError, match=message):
        model.learn({"text": "button hidden"}, labels)

    assert model.snapshot() == before


def test_bad_data_is_refused_and_changes_nothing() -> None:
    model = _model("logistic_regression", "tabular")
    model.learn({"x": 1.0}, ["bug"])
    before = model.snapshot()

    with pytest.raises(ValueError, match="finite"):
        model.learn({"x": float("inf")}, ["bug"])

    assert model.snapshot() == before


def test_an_empty_set_is_learned_and_counts_a_version() -> None:
    model = _model("naive_bayes", "text")
    model.learn({"text": "app crashes"}, ["bug"])

    learned = model.learn({"text": "all good, thanks"}, [])

    assert learned.model_version == 2
    assert learned.predicted == ("bug",)
    assert not learned.correct
    assert model.metrics.report()["labels_total"] == 2


def test_a_correction_is_learned_but_not_scored() -> None:
    model = _model("naive_bayes", "text")
    model.learn({"text": "app crashes"}, ["bug"])

    model.learn({"text": "app crashes"}, ["bug", "ui"], correction=True)

    assert model.version == 2
    assert model.metrics.labels_total == 1


def test_a_label_threshold_moves_only_that_label(make_multilabel_items: Any) -> None:
    items = make_multilabel_items("text", LABELS, 150, seed=4)
    low = _model("logistic_regression", "text", thresholds={"ui": 0.05})
    plain = _model("logistic_regression", "text")
    for data, labels in items:
        low.learn(data, labels)
        plain.learn(data, labels)

    for data, _ in items[:40]:
        mine, theirs = low.predict(data), plain.predict(data)
        assert mine.probabilities == theirs.probabilities
        assert [x for x in mine.labels or () if x != "ui"] == [
            x for x in theirs.labels or () if x != "ui"
        ]
        assert ("ui" in (mine.labels or ())) == (mine.probabilities["ui"] > 0.05)
    assert low.thresholds == {"bug": 0.5, "billing": 0.5, "ui": 0.05, "docs": DEFAULT_THRESHOLD}


def test_a_snapshot_of_something_else_is_refused() -> None:
    from streamloop.online import OnlineModel

    single = OnlineModel(
        labels=["a", "b"], input_kind="text", preset="naive_bayes", strategy="margin"
    )

    with pytest.raises(ValueError, match="not a multi-label model"):
        MultiLabelModel.restore(single.snapshot())
    with pytest.raises(ValueError, match="not a readable"):
        MultiLabelModel.restore(b"junk")


# Metrics.


def test_metrics_match_hand_computed_values() -> None:
    metrics = MultiLabelMetrics(["a", "b", "c"])
    metrics.update(["a", "b"], ["a"])  # a: TP, b: FN
    metrics.update(["c"], ["b", "c"])  # b: FP, c: TP
    metrics.update([], [])  # exact
    metrics.update(["a"], ["a"])  # exact, a: TP

    report = metrics.report()
    # TP = 3 (a, c, a), FP = 1 (b), FN = 1 (b): micro-F1 = 6 / (6 + 1 + 1).
    assert report["micro_f1"] == 6 / 8
    # a: F1 1.0; b: 0 TP, 1 FP, 1 FN -> 0.0; c: 1.0.
    assert report["macro_f1"] == pytest.approx(2 / 3)
    # Wrong pairs: b (item 1), b (item 2) out of 4 items x 3 labels.
    assert report["hamming_loss"] == 2 / 12
    assert report["exact_match"] == 2 / 4
    assert report["per_label"] == {
        "a": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2},
        "b": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "c": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    }
    assert metrics.label_counts() == {"a": 2, "b": 1, "c": 1}


def test_rolling_micro_f1_covers_the_latest_window() -> None:
    metrics = MultiLabelMetrics(["a", "b"], window=2)
    metrics.update(["a"], ["b"])  # all wrong: FP b, FN a
    metrics.update(["a"], ["a"])
    metrics.update(["a", "b"], ["a", "b"])

    report = metrics.report()
    assert report["rolling_micro_f1"] == 1.0
    assert report["micro_f1"] == 6 / 8
    assert report["window"] == 2
    with pytest.raises(ValueError, match="window"):
        MultiLabelMetrics(["a"], window=0)


def test_metrics_before_any_label_are_undefined() -> None:
    report = MultiLabelMetrics(["a", "b"]).report()

    assert report["micro_f1"] is None
    assert report["rolling_micro_f1"] is None
    assert report["macro_f1"] is None
    assert report["hamming_loss"] is None
    assert report["exact_match"] is None
    assert report["per_label"]["a"] == {
        "precision": None,
        "recall": None,
        "f1": None,
        "support": 0,
    }


def test_no_prediction_counts_as_every_label_wrong() -> None:
    metrics = MultiLabelMetrics(["a", "b"])
    metrics.update(["a"], None)

    report = metrics.report()
    assert report["hamming_loss"] == 1.0
    assert report["exact_match"] == 0.0
    assert report["micro_f1"] == 0.0
    assert report["per_label"]["a"]["recall"] == 0.0
    assert report["per_label"]["b"]["precision"] is None


def test_metrics_match_scikit_learn() -> None:
    labels = ["a", "b", "c", "d", "e"]
    rng = random.Random(0)
    truth = [[x for x in labels if rng.random() < 0.3] for _ in range(400)]
    # Predictions that are right more often than not, with every label given and predicted.
    predicted = [[x for x in labels if (x in t) != (rng.random() < 0.2)] for t in truth]
    metrics = MultiLabelMetrics(labels)
    for t, p in zip(truth, predicted, strict=True):
        metrics.update(t, p)
    binarizer = MultiLabelBinarizer(classes=labels)
    y_true, y_pred = binarizer.fit_transform(truth), binarizer.transform(predicted)

    report = metrics.report()
    assert report["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro"))
    assert report["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert report["hamming_loss"] == pytest.approx(hamming_loss(y_true, y_pred))
    assert report["exact_match"] == pytest.approx(accuracy_score(y_true, y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred)
    for n, label in enumerate(labels):
        assert report["per_label"][label] == {
            "precision": pytest.approx(precision[n]),
            "recall": pytest.approx(recall[n]),
            "f1": pytest.approx(f1[n]),
            "support": int(support[n]),
        }


def test_metrics_refuse_unknown_labels() -> None:
    metrics = MultiLabelMetrics(["a"])

    with pytest.raises(ValueError, match="unknown label"):
        metrics.update(["z"], [])
    with pytest.raises(ValueError, match="unknown label"):
        metrics.update([], ["z"])
    assert metrics.labels_total == 0


# Uncertainty.


_PROBABILITY = st.sampled_from([0.0, 1.0, 0.5, 0.2, 0.9, 1e-300, float("nan")]) | st.floats(
    0.0, 1.0
)
#: Thresholds as a project may set them: anywhere in (0, 1), subnormals and 1 - 2**-53 too.
_THRESHOLD = st.sampled_from([0.5, 0.2, 0.9, 5e-324, 1e-310, 1 - 2**-53]) | st.floats(
    0.0, 1.0, exclude_min=True, exclude_max=True
)


@settings(max_examples=300, deadline=None)
@given(
    strategy=st.sampled_from(MULTILABEL_STRATEGIES),
    thresholds=st.lists(_THRESHOLD, min_size=0, max_size=5),
    rows=st.integers(1, 6),
    data=st.data(),
)
def test_uncertainties_in_arrays_are_those_of_one_at_a_time(
    strategy: str, thresholds: list[float], rows: int, data: st.DataObject
) -> None:
    # To the bit, with probabilities at a threshold, at 0 and 1, NaN, thresholds near 0 and
    # 1 (no warning: the test run turns warnings into errors), and labels of none.
    matrix = np.array(
        [
            data.draw(st.lists(_PROBABILITY, min_size=len(thresholds), max_size=len(thresholds)))
            for _ in range(rows)
        ]
    ).reshape(rows, len(thresholds))
    if len(thresholds) and data.draw(st.booleans()):
        matrix[0] = thresholds  # each label at its threshold: a blind guess

    assert multilabel_uncertainties(strategy, matrix, thresholds) == [
        multilabel_uncertainty(strategy, row, thresholds) for row in matrix.tolist()
    ]


def test_uncertainties_in_arrays_refuse_an_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        multilabel_uncertainties("nope", np.zeros((1, 2)), [0.5, 0.5])


@pytest.mark.parametrize("strategy", MULTILABEL_STRATEGIES)
@pytest.mark.parametrize("thresholds", [[0.5, 0.5, 0.5], [0.2, 0.5, 0.9]])
def test_certain_scores_zero_and_at_threshold_scores_one(
    strategy: str, thresholds: list[float]
) -> None:
    assert multilabel_uncertainty(strategy, [1.0, 0.0, 1.0], thresholds) == 0.0
    assert multilabel_uncertainty(strategy, [0.0, 0.0, 0.0], thresholds) == 0.0
    assert multilabel_uncertainty(strategy, thresholds, thresholds) == 1.0
    assert multilabel_uncertainty(strategy, [], []) == 1.0


@pytest.mark.parametrize("strategy", MULTILABEL_STRATEGIES)
def test_uncertainty_grows_towards_the_threshold(strategy: str) -> None:
    half = [0.5, 0.5]
    scores = [multilabel_uncertainty(strategy, [p, 0.95], half) for p in (1.0, 0.9, 0.7, 0.55)]

    assert scores == sorted(scores)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_the_combinations_differ_as_documented() -> None:
    half = [0.5, 0.5, 0.5]
    probabilities = [0.5, 1.0, 0.0]  # one blind guess, two certain labels

    assert multilabel_uncertainty("min_margin", probabilities, half) == 1.0
    assert multilabel_uncertainty("mean_margin", probabilities, half) == pytest.approx(1 / 3)
    assert multilabel_uncertainty("entropy", probabilities, half) == pytest.approx(1 / 3)
    assert label_uncertainties(probabilities, half) == [1.0, 0.0, 0.0]


def test_random_scores_as_the_default_does() -> None:
    probabilities, thresholds = [0.9, 0.6, 0.2], [0.5, 0.5, 0.3]

    assert multilabel_uncertainty("random", probabilities, thresholds) == multilabel_uncertainty(
        DEFAULT_MULTILABEL_STRATEGY, probabilities, thresholds
    )
    assert _model("naive_bayes", "text").strategy == DEFAULT_MULTILABEL_STRATEGY == "min_margin"


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        multilabel_uncertainty("margin", [0.5], [0.5])


# What the service reads beside the metrics: random draws, annotators, drift, the estimate.


def test_random_draws_alone_make_the_unbiased_figures(make_multilabel_items: Any) -> None:
    model = _model("logistic_regression", "tabular")
    items = make_multilabel_items("tabular", LABELS, 60, seed=3)
    drawn = set(range(0, 60, 3))
    hits = []
    for n, (data, labels) in enumerate(items):
        before = model.predict(data).labels
        model.learn(data, labels, drawn_at_random=n in drawn, annotator="ann")
        if n in drawn and before is not None:
            hits.append(set(before) == set(labels))
    assert model.sampled_metrics.labels_total == len(hits) == len(drawn) - 1  # the first: untrained
    assert model.sampled_metrics.report()["exact_match"] == sum(hits) / len(hits)
    estimate = model.accuracy_estimate()
    assert estimate["method"] == "random_draws" and estimate["samples"] == len(hits)
    # Weighted towards the latest draws, they count as fewer equal ones.
    assert 1 <= estimate["effective_samples"] < estimate["samples"]
    assert model.metrics.labels_total == 60
    assert model.annotators()["ann"]["labels"] == 60
    assert [point[0] for point in model.history()["unbiased"]][-1] <= 60


def test_a_correction_counts_for_its_annotator_and_moves_no_figure() -> None:
    model = _model("naive_bayes", "text")
    model.learn({"text": "crash"}, ["bug"], annotator="ann")
    model.learn({"text": "crash"}, ["ui"], annotator="ann", correction=True)
    assert model.annotators()["ann"] == {"labels": 1, "agreement": 0.0, "corrections": 1}
    assert model.metrics.labels_total == 1 and model.version == 2


def test_a_changed_stream_is_shown_as_drift(make_multilabel_items: Any) -> None:
    model = _model("naive_bayes", "text")
    items = make_multilabel_items("text", LABELS, 300, seed=4)
    for data, labels in items:
        model.learn(data, labels, drawn_at_random=True)
    assert model.drift["drifts_total"] == 0
    # Every label swapped for another: the model is now sure and wrong.
    swap = dict(zip(LABELS, LABELS[1:] + LABELS[:1], strict=True))
    states = set()
    for data, labels in items:
        model.learn(data, [swap[label] for label in labels], drawn_at_random=True)
        states.add(model.drift_state)
    assert "drift" in states and model.drift["drifts_total"] >= 1


def test_the_pickled_model_predicts_as_the_served_one(trained: Trained) -> None:
    parts = pickle.loads(trained.model.pipeline_pickle())
    data, _labels = trained.holdout[0]
    model = MultiLabelModel.restore(trained.blob)
    served = model.predict(data)
    features = parts["front"].transform_one(model_input(model.input_kind, data))
    if trained.preset == "logistic_regression":
        for label, binary in parts["classifiers"].items():
            assert binary.predict_proba_one(features)[True] == served.probabilities[label]
    assert parts["thresholds"] == model.thresholds
