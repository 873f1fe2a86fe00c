"""Prequential metrics, checked against numbers worked out by hand."""

from __future__ import annotations

import pickle

import pytest

from streamloop.online import PrequentialMetrics

LABELS = ("spam", "ham", "eggs")

# (label given, prediction made before learning it)
HISTORY = [
    ("spam", None),  # the untrained model had no answer: wrong
    ("spam", "spam"),
    ("ham", "spam"),
    ("eggs", "eggs"),
    ("ham", "ham"),
]


def _metrics(window: int = 3) -> PrequentialMetrics:
    metrics = PrequentialMetrics(LABELS, window=window)
    for y_true, y_pred in HISTORY:
        metrics.update(y_true, y_pred)
    return metrics


def test_report_matches_the_hand_worked_history() -> None:
    report = _metrics().report()

    assert report == {
        "labels_total": 5,
        "accuracy": pytest.approx(3 / 5),
        # The window holds the last three: ham/spam (wrong), eggs/eggs, ham/ham.
        "rolling_accuracy": pytest.approx(2 / 3),
        "window": 3,
        "per_class": {
            # Predicted spam twice, right once; two spam labels, one predicted.
            "spam": {"precision": 0.5, "recall": 0.5, "support": 2},
            "ham": {"precision": 1.0, "recall": 0.5, "support": 2},
            "eggs": {"precision": 1.0, "recall": 1.0, "support": 1},
        },
    }


def test_confusion_counts_true_then_predicted_labels() -> None:
    assert _metrics().confusion() == {
        "spam": {"spam": 1, "ham": 0, "eggs": 0},
        "ham": {"spam": 1, "ham": 1, "eggs": 0},
        "eggs": {"spam": 0, "ham": 0, "eggs": 1},
    }


def test_empty_report_is_undefined_not_zero() -> None:
    report = PrequentialMetrics(LABELS).report()

    assert report["labels_total"] == 0
    assert report["accuracy"] is None
    assert report["rolling_accuracy"] is None
    assert report["window"] == 200
    assert report["per_class"] == {
        label: {"precision": None, "recall": None, "support": 0} for label in LABELS
    }


def test_precision_is_undefined_for_a_label_never_predicted() -> None:
    metrics = PrequentialMetrics(LABELS)
    metrics.update("eggs", "spam")

    per_class = metrics.report()["per_class"]

    assert per_class["eggs"] == {"precision": None, "recall": 0.0, "support": 1}
    assert per_class["spam"] == {"precision": 0.0, "recall": None, "support": 0}


def test_rolling_accuracy_forgets_labels_outside_the_window() -> None:
    metrics = PrequentialMetrics(LABELS, window=2)
    for y_true, y_pred in [("spam", "ham"), ("spam", "ham"), ("spam", "spam"), ("ham", "ham")]:
        metrics.update(y_true, y_pred)

    report = metrics.report()

    assert report["rolling_accuracy"] == 1.0
    assert report["accuracy"] == 0.5


def test_reports_leave_the_state_unchanged() -> None:
    metrics = _metrics()
    before = pickle.dumps(metrics)

    metrics.report()
    metrics.confusion()

    assert pickle.dumps(metrics) == before


def test_metrics_survive_pickling() -> None:
    metrics = _metrics()

    restored = pickle.loads(pickle.dumps(metrics))
    restored.update("eggs", "eggs")
    metrics.update("eggs", "eggs")

    assert restored.report() == metrics.report()
    assert restored.confusion() == metrics.confusion()


@pytest.mark.parametrize(("y_true", "y_pred"), [("toast", "spam"), ("spam", "toast")])
def test_unknown_labels_are_refused(y_true: str, y_pred: str) -> None:
    metrics = PrequentialMetrics(LABELS)

    with pytest.raises(ValueError, match="unknown label 'toast'"):
        metrics.update(y_true, y_pred)
    assert metrics.report()["labels_total"] == 0


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window"):
        PrequentialMetrics(LABELS, window=0)
