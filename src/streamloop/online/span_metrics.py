"""Prequential metrics of a span model: every item's spans first test it, then train it.

Each item's spans are scored against the spans the model predicted *before* learning them, so
nothing is measured on data the model has already seen. A predicted span counts as right only
when its start, end and label all equal a given span's (exact match, as CoNLL scores them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Sequence
from typing import Any, Protocol

from streamloop.online.suggestion import AnswerWindow, CommonestAnswer

__all__ = ["SPAN_FIGURES", "SpanLike", "SpanMetrics"]

#: A spans project's figures beside ``accuracy`` in its metrics (`SpanMetrics.report`'s).
SPAN_FIGURES = (
    "precision",
    "recall",
    "f1",
    "rolling_f1",
    "macro_f1",
    "token_accuracy",
    "exact_match",
    "rolling_exact_match",
)


class SpanLike(Protocol):
    """What the metrics read of a span: `spans.Span` is one."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...

    @property
    def label(self) -> str: ...


class SpanMetrics(AnswerWindow):
    """Span precision, recall and F1 (micro and per label), token accuracy and exact match.

    An item the model had no prediction for (it was untrained) counts as every given span
    missed (false negatives), every token's tag wrong and the item's set of spans wrong, as an
    untrained multi-label model's items count.

    Parameters
    ----------
    labels
        The project's labels, in the order reports list them.
    window
        How many of the latest items the rolling F1 and exact-match ratio cover.

    Examples
    --------
    >>> from streamloop.online.tokens import Span
    >>> scores = SpanMetrics(["PER", "LOC"])
    >>> scores.update([Span(0, 4, "PER")], None, true_tags=["B-PER", "O"])  # untrained
    >>> scores.update(
    ...     [Span(0, 5, "PER"), Span(9, 14, "LOC")],
    ...     [Span(0, 5, "PER"), Span(9, 14, "PER")],
    ...     true_tags=["B-PER", "O", "B-LOC"],
    ...     predicted_tags=["B-PER", "O", "B-PER"],
    ... )
    >>> scores.update([], [], true_tags=["O", "O"], predicted_tags=["O", "O"])
    >>> report = scores.report()
    >>> report["labels_total"], round(report["f1"], 3), round(report["token_accuracy"], 3)
    (3, 0.4, 0.571)
    >>> round(report["exact_match"], 3), report["per_label"]["PER"]
    (0.333, {'precision': 0.5, 'recall': 0.5, 'f1': 0.5, 'support': 2})
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
        self._tokens = 0
        self._right_tags = 0

    @property
    def labels(self) -> tuple[str, ...]:
        """The project's labels."""
        return self._labels

    @property
    def window(self) -> int:
        """How many of the latest items the rolling figures cover."""
        return self._window

    @property
    def labels_total(self) -> int:
        """How many items' spans were counted (an item with no span counts)."""
        return self._total

    def update(
        self,
        y_true: Collection[SpanLike],
        y_pred: Collection[SpanLike] | None,
        *,
        true_tags: Sequence[str] = (),
        predicted_tags: Sequence[str] | None = None,
    ) -> None:
        """Count one item's spans against the spans predicted before they were learned.

        Parameters
        ----------
        y_true
            The spans an annotator gave (possibly none).
        y_pred
            What the model predicted beforehand; ``None`` when it had no prediction.
        true_tags
            The item's tokens' BIO tags from ``y_true``, for the token accuracy (none: the
            item adds nothing to it).
        predicted_tags
            The tags the model predicted, one per token; ``None`` counts every token wrong.

        Raises
        ------
        ValueError
            If a label is not one of the project's, or the tags differ in number; nothing is
            counted then.
        """
        truth = self._keys(y_true)
        predicted = None if y_pred is None else self._keys(y_pred)
        if predicted_tags is not None and len(predicted_tags) != len(true_tags):
            raise ValueError(
                f"{len(predicted_tags)} predicted tags for {len(true_tags)} tokens: they must match"
            )
        self._total += 1
        self._answers_counted().add(tuple(sorted(truth)))
        self._tokens += len(true_tags)
        if predicted is None:
            for _, _, label in truth:
                self._false_negatives[label] += 1
            self._roll(0, 0, len(truth), 0)
            return
        if predicted_tags is not None:
            self._right_tags += sum(t == p for t, p in zip(true_tags, predicted_tags, strict=True))
        for _, _, label in truth & predicted:
            self._true_positives[label] += 1
        for _, _, label in predicted - truth:
            self._false_positives[label] += 1
        for _, _, label in truth - predicted:
            self._false_negatives[label] += 1
        exact = truth == predicted
        self._exact += exact
        self._roll(
            len(truth & predicted), len(predicted - truth), len(truth - predicted), int(exact)
        )

    def _keys(self, spans: Collection[SpanLike]) -> set[tuple[int, int, str]]:
        keys = {(span.start, span.end, span.label) for span in spans}
        for _, _, label in keys:
            if label not in self._true_positives:
                raise ValueError(f"unknown label {label!r}; expected one of: {self._labels}")
        return keys

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
        >>> scores = SpanMetrics(["PER"])
        >>> from streamloop.online.tokens import Span
        >>> for given in [[], [Span(0, 4, "PER")], [], [Span(6, 9, "PER")]]:
        ...     scores.update(given, None)
        >>> scores.commonest_share()  # no span on two of four
        0.5
        """
        return self._answers_counted().share()

    def accuracies(self) -> tuple[float | None, float | None]:
        """The exact-match ratio (the item's whole set of spans right) over every item, and
        over the latest ``window``."""
        recent = len(self._recent)
        return (
            self._exact / self._total if self._total else None,
            self._recent_sums[3] / recent if recent else None,
        )

    def report(self) -> dict[str, Any]:
        """Summarise the metrics; undefined values (such as before any item) are ``None``.

        Returns
        -------
        dict
            ``labels_total`` (items counted); ``precision``, ``recall`` and ``f1`` of the
            spans, every label's counts pooled (micro); ``rolling_f1``, the same over the
            latest ``window`` items, as ``rolling_exact_match`` is of ``exact_match``;
            ``macro_f1`` (the mean of the per-label F1 of the labels given or predicted at
            least once); ``token_accuracy`` (the share of tokens whose BIO tag was right);
            ``exact_match`` (the share of items whose spans were all found and nothing else);
            and ``per_label``, every project label to its ``precision``, ``recall``, ``f1``
            and ``support`` (spans given).

        Examples
        --------
        >>> SpanMetrics(["PER"]).report()["f1"] is None
        True
        """
        tp = sum(self._true_positives.values())
        fp = sum(self._false_positives.values())
        fn = sum(self._false_negatives.values())
        f1s = [f1 for label in self._labels if (f1 := _f1(*self._counts(label))) is not None]
        return {
            "labels_total": self._total,
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "f1": _f1(tp, fp, fn),
            "rolling_f1": _f1(*self._recent_sums[:3]),
            "window": self._window,
            "macro_f1": sum(f1s) / len(f1s) if f1s else None,
            "token_accuracy": self._right_tags / self._tokens if self._tokens else None,
            "exact_match": self._exact / self._total if self._total else None,
            "rolling_exact_match": self.accuracies()[1],
            "per_label": {label: self._per_label(label) for label in self._labels},
        }

    def label_counts(self) -> dict[str, int]:
        """How many spans of each label the learned items were given.

        >>> from streamloop.online.tokens import Span
        >>> scores = SpanMetrics(["PER", "LOC"])
        >>> scores.update([Span(0, 3, "PER"), Span(8, 11, "PER")], None)
        >>> scores.label_counts()
        {'PER': 2, 'LOC': 0}
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
        return {
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "f1": _f1(tp, fp, fn),
            "support": tp + fn,
        }


def _f1(tp: int, fp: int, fn: int) -> float | None:
    # Undefined when no span was given or predicted: there is nothing to score.
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
