"""Prequential metrics: every label first tests the model, then trains it.

Each label is scored against the prediction the model made *before* learning it, so accuracy is
never measured on data the model has already seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["PrequentialMetrics"]


class PrequentialMetrics:
    """Accuracy, rolling accuracy and per-label precision and recall of a project's model.

    Parameters
    ----------
    labels
        The project's labels, in the order reports list them.
    window
        How many of the latest labels the rolling accuracy covers.

    Examples
    --------
    >>> scores = PrequentialMetrics(["spam", "ham"], window=2)
    >>> scores.update("spam", None)  # the untrained model had no answer
    >>> scores.update("spam", "spam")
    >>> scores.update("ham", "ham")
    >>> report = scores.report()
    >>> report["labels_total"], round(report["accuracy"], 3), report["rolling_accuracy"]
    (3, 0.667, 1.0)
    >>> report["per_class"]["spam"]
    {'precision': 1.0, 'recall': 0.5, 'support': 2}
    """

    def __init__(self, labels: Sequence[str], window: int = 200) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self._labels = tuple(labels)
        self._window = window
        # River (and scipy with it) takes about a second to import: only a model's metrics
        # need it, not the service that shows them.
        from river import metrics, utils

        # River leaves these metrics unannotated, hence Any and the ignores.
        self._confusion: Any = metrics.ConfusionMatrix()  # type: ignore[no-untyped-call]
        # Sharing the confusion matrix keeps one copy of the counts for both views.
        self._accuracy: Any = metrics.Accuracy(cm=self._confusion)  # type: ignore[no-untyped-call]
        self._rolling: Any = utils.Rolling(metrics.Accuracy, window_size=window)

    @property
    def labels(self) -> tuple[str, ...]:
        """The project's labels."""
        return self._labels

    @property
    def window(self) -> int:
        """How many of the latest labels the rolling accuracy covers."""
        return self._window

    def update(self, y_true: str, y_pred: str | None) -> None:
        """Count one label against the prediction made before it was learned.

        Parameters
        ----------
        y_true
            The label an annotator gave.
        y_pred
            What the model predicted beforehand; ``None`` when it had no prediction, which
            counts as wrong.

        Raises
        ------
        ValueError
            If either label is not one of the project's.
        """
        self._check(y_true)
        if y_pred is not None:
            self._check(y_pred)
        self._accuracy.update(y_true, y_pred)
        self._rolling.update(y_true, y_pred)

    @property
    def labels_total(self) -> int:
        """How many labels were counted."""
        return int(self._confusion.n_samples)

    def accuracies(self) -> tuple[float | None, float | None]:
        """(accuracy, rolling accuracy) now, cheaply; ``None`` before any label."""
        if not self._confusion.n_samples:
            return None, None
        return self._accuracy.get(), self._rolling.get()

    def report(self) -> dict[str, Any]:
        """Summarise the metrics; undefined values (such as before any label) are ``None``.

        Returns
        -------
        dict
            ``labels_total``, ``accuracy``, ``rolling_accuracy``, ``window`` and ``per_class``,
            which maps every project label to its ``precision``, ``recall`` and ``support``.

        Examples
        --------
        >>> PrequentialMetrics(["spam", "ham"]).report()["per_class"]["ham"]
        {'precision': None, 'recall': None, 'support': 0}
        """
        total = self._confusion.n_samples
        return {
            "labels_total": total,
            "accuracy": self._accuracy.get() if total else None,
            "rolling_accuracy": self._rolling.get() if total else None,
            "window": self._window,
            "per_class": {label: self._per_class(label) for label in self._labels},
        }

    def label_counts(self) -> dict[str, int]:
        """How many labels of each class were learned.

        >>> scores = PrequentialMetrics(["spam", "ham"])
        >>> scores.update("spam", None)
        >>> scores.label_counts()
        {'spam': 1, 'ham': 0}
        """
        rows = self._confusion.sum_row
        return {label: int(rows.get(label, 0)) for label in self._labels}

    def confusion(self) -> dict[str, dict[str, int]]:
        """Count every pair of true and predicted labels, zeros included.

        Labels learned while the model had no prediction appear in ``support`` but in no cell.

        Examples
        --------
        >>> scores = PrequentialMetrics(["spam", "ham"])
        >>> scores.update("spam", "ham")
        >>> scores.confusion()
        {'spam': {'spam': 0, 'ham': 1}, 'ham': {'spam': 0, 'ham': 0}}
        """
        return {
            true: {predicted: self._count(true, predicted) for predicted in self._labels}
            for true in self._labels
        }

    def _per_class(self, label: str) -> dict[str, float | int | None]:
        hits = self._count(label, label)
        support = int(self._confusion.sum_row.get(label, 0))
        predicted = int(self._confusion.sum_col.get(label, 0))
        return {
            "precision": hits / predicted if predicted else None,
            "recall": hits / support if support else None,
            "support": support,
        }

    def _count(self, true: str, predicted: str) -> int:
        # Read with get: the matrix is a defaultdict, and indexing it would insert zero cells,
        # making a report change the pickled state.
        return int(self._confusion.data.get(true, {}).get(predicted, 0))

    def _check(self, label: str) -> None:
        if label not in self._labels:
            raise ValueError(f"unknown label {label!r}; expected one of: {self._labels}")
