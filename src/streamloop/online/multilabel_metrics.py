"""Prequential metrics of a multi-label model: every label set first tests it, then trains it.

Each item's label set is scored against the set the model predicted *before* learning it, so
nothing is measured on data the model has already seen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Sequence
from typing import Any

from streamloop.online.suggestion import AnswerWindow, CommonestAnswer

__all__ = ["MultiLabelMetrics"]


class MultiLabelMetrics(AnswerWindow):
    """Micro- and macro-F1, Hamming loss, exact-match ratio and per-label figures.

    An item the model had no prediction for (it was untrained) counts as wrong in the same
    way as a single-label model's: missed exactly, every label wrong for the Hamming loss,
    and its true labels missed (false negatives) for F1, precision and recall.

    Parameters
    ----------
    labels
        The project's labels, in the order reports list them.
    window
        How many of the latest label sets the rolling micro-F1 covers.

    Examples
    --------
    >>> scores = MultiLabelMetrics(["bug", "billing", "ui"])
    >>> scores.update({"bug"}, None)  # the untrained model had no answer
    >>> scores.update({"bug", "ui"}, {"bug"})
    >>> scores.update(set(), set())
    >>> report = scores.report()
    >>> report["labels_total"], round(report["exact_match"], 3), round(report["hamming_loss"], 3)
    (3, 0.333, 0.444)
    >>> round(report["micro_f1"], 3), report["per_label"]["bug"]
    (0.5, {'precision': 1.0, 'recall': 0.5, 'f1': 0.6666666666666666, 'support': 2})
    """

    def __init__(self, labels: Sequence[str], window: int = 200) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self._labels = tuple(labels)
        self._window = window
        # Each latest item's (true positives, false positives, false negatives, exactly right),
        # and their sums.
        self._recent: deque[tuple[int, int, int, int]] = deque()
        self._recent_sums = [0, 0, 0, 0]
        self._true_positives = dict.fromkeys(self._labels, 0)
        self._false_positives = dict.fromkeys(self._labels, 0)
        self._false_negatives = dict.fromkeys(self._labels, 0)
        self._total = 0
        self._exact = 0
        self._answers = CommonestAnswer(window)
        self._wrong_labels = 0  # over every item and label: the Hamming loss's numerator

    @property
    def labels(self) -> tuple[str, ...]:
        """The project's labels."""
        return self._labels

    @property
    def window(self) -> int:
        """How many of the latest label sets the rolling micro-F1 covers."""
        return self._window

    @property
    def labels_total(self) -> int:
        """How many label sets were counted."""
        return self._total

    def update(self, y_true: Collection[str], y_pred: Collection[str] | None) -> None:
        """Count one item's label set against the set predicted before it was learned.

        Parameters
        ----------
        y_true
            The labels an annotator gave (possibly none).
        y_pred
            What the model predicted beforehand; ``None`` when it had no prediction.

        Raises
        ------
        ValueError
            If a label is not one of the project's; nothing is counted then.
        """
        self._check(y_true)
        if y_pred is not None:
            self._check(y_pred)
        self._total += 1
        self._answers_counted().add(tuple(sorted(set(y_true))))
        if y_pred is None:
            self._wrong_labels += len(self._labels)
            for label in y_true:
                self._false_negatives[label] += 1
            self._roll(0, 0, len(set(y_true)), 0)
            return
        truth, predicted = set(y_true), set(y_pred)
        self._exact += truth == predicted
        self._wrong_labels += len(truth ^ predicted)
        for label in truth & predicted:
            self._true_positives[label] += 1
        for label in predicted - truth:
            self._false_positives[label] += 1
        for label in truth - predicted:
            self._false_negatives[label] += 1
        self._roll(
            len(truth & predicted),
            len(predicted - truth),
            len(truth - predicted),
            int(truth == predicted),
        )

    def _roll(self, *counts: int) -> None:
        sums = self._recent_sums
        self._recent.append((counts[0], counts[1], counts[2], counts[3]))
        for n, count in enumerate(counts):
            sums[n] += count
        if len(self._recent) > self._window:
            for n, count in enumerate(self._recent.popleft()):
                sums[n] -= count

    def commonest_share(self) -> float | None:
        """The share of the commonest exact answer among the latest ``window``: what always
        giving it would get right (``None`` before any is counted).

        Examples
        --------
        >>> scores = MultiLabelMetrics(["bug", "ui"])
        >>> for given in [{"bug"}, set(), {"ui", "bug"}, {"bug"}]:
        ...     scores.update(given, None)
        >>> scores.commonest_share()  # {"bug"} on two of four
        0.5
        """
        return self._answers_counted().share()

    def accuracies(self) -> tuple[float | None, float | None]:
        """The exact-match ratio over every label set, and over the latest ``window``."""
        recent = len(self._recent)
        return (
            self._exact / self._total if self._total else None,
            self._recent_sums[3] / recent if recent else None,
        )

    def report(self) -> dict[str, Any]:
        """Summarise the metrics; undefined values (such as before any label) are ``None``.

        Returns
        -------
        dict
            ``labels_total``; ``micro_f1`` (over every label's counts pooled);
            ``rolling_micro_f1``, the same over the latest ``window`` label sets, as
            ``rolling_exact_match`` is of ``exact_match``; ``macro_f1``
            (the mean of the per-label F1 of the labels that were given or predicted at least
            once; the others have no F1); ``hamming_loss`` (the share of item-label pairs
            wrong); ``exact_match`` (the share of items whose set was predicted exactly); and
            ``per_label``, every project label to its ``precision``, ``recall``, ``f1`` and
            ``support`` (items it was given to).

        Examples
        --------
        >>> MultiLabelMetrics(["bug", "ui"]).report()["micro_f1"] is None
        True
        """
        tp = sum(self._true_positives.values())
        fp = sum(self._false_positives.values())
        fn = sum(self._false_negatives.values())
        per_label = {label: self._per_label(label) for label in self._labels}
        f1s = [f1 for label in self._labels if (f1 := _f1(*self._counts(label))) is not None]
        cells = self._total * len(self._labels)
        return {
            "labels_total": self._total,
            "micro_f1": _f1(tp, fp, fn),
            "rolling_micro_f1": _f1(*self._recent_sums[:3]),
            "window": self._window,
            "macro_f1": sum(f1s) / len(f1s) if f1s else None,
            "hamming_loss": self._wrong_labels / cells if cells else None,
            "exact_match": self._exact / self._total if self._total else None,
            "rolling_exact_match": self.accuracies()[1],
            "per_label": per_label,
        }

    def label_counts(self) -> dict[str, int]:
        """How many learned items were given each label.

        >>> scores = MultiLabelMetrics(["bug", "ui"])
        >>> scores.update({"bug"}, None)
        >>> scores.label_counts()
        {'bug': 1, 'ui': 0}
        """
        return {
            label: self._true_positives[label] + self._false_negatives[label]
            for label in self._labels
        }

    def _counts(self, label: str) -> tuple[int, int, int]:
        return (
            self._true_positives[label],
            self._false_positives[label],
            self._false_negatives[label],
        )

    def _per_label(self, label: str) -> dict[str, float | int | None]:
        tp, fp, fn = self._counts(label)
        f1 = _f1(tp, fp, fn)
        return {
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "f1": f1,
            "support": tp + fn,
        }

    def _check(self, labels: Collection[str]) -> None:
        for label in labels:
            if label not in self._true_positives:
                raise ValueError(f"unknown label {label!r}; expected one of: {self._labels}")


def _f1(tp: int, fp: int, fn: int) -> float | None:
    # Undefined when the label was neither given nor predicted: there is nothing to score.
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
