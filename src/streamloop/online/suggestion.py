"""Whether the model's suggestion means something yet, and its record to say so in words.

An annotator shown a suggestion tends to copy it (anchoring), so a suggestion is worth showing
only once the model's answers are clearly better than a guess, and then with its record rather
than its own probability: after a handful of labels a model can be "100% sure" and wrong. The
record is the model's answers on the latest items annotators were given (the prequential
rolling window, the same items as those it suggests for), each predicted before it was learned.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Hashable
from typing import Any, Protocol

from streamloop.online.estimate import wilson_interval
from streamloop.online.metrics import PrequentialMetrics

__all__ = ["SUGGEST_AFTER", "AnswerWindow", "CommonestAnswer", "chance", "track_record"]

#: The fewest tested answers behind a suggestion: fewer says too little (the 95% interval of a
#: share from 10 answers is still about 0.6 wide).
SUGGEST_AFTER = 10


class CommonestAnswer:
    """The share of the commonest exact answer among the latest ``window`` answers: what
    always giving that one answer (the same set of labels, the same spans, or none) gets
    right, the chance a suggestion for a set must beat.

    Examples
    --------
    >>> answers = CommonestAnswer(window=3)
    >>> answers.share() is None
    True
    >>> for answer in [(), ("bug",), ("bug",), ("billing", "bug")]:
    ...     answers.add(answer)
    >>> round(answers.share(), 3)  # ("bug",) twice in the latest three
    0.667
    """

    def __init__(self, window: int) -> None:
        self._window = window
        self._latest: deque[Hashable] = deque()
        self._counts: Counter[Hashable] = Counter()

    def add(self, answer: Hashable) -> None:
        """Count one answer, dropping the oldest once more than ``window`` are counted."""
        self._latest.append(answer)
        self._counts[answer] += 1
        if len(self._latest) > self._window:
            oldest = self._latest.popleft()
            self._counts[oldest] -= 1
            if not self._counts[oldest]:
                del self._counts[oldest]

    def share(self) -> float | None:
        """The commonest answer's share of the counted ones; ``None`` before any."""
        if not self._latest:
            return None
        return max(self._counts.values()) / len(self._latest)


class AnswerWindow:
    """For a set task's metrics: their ``CommonestAnswer`` over their ``_window``. Metrics
    restored from a snapshot taken before answers were counted have none, and count from
    their restore on."""

    _window: int
    _answers: CommonestAnswer

    def _answers_counted(self) -> CommonestAnswer:
        if not hasattr(self, "_answers"):
            self._answers = CommonestAnswer(self._window)
        return self._answers


class _Scored(Protocol):
    @property
    def labels_total(self) -> int: ...

    @property
    def window(self) -> int: ...

    def accuracies(self) -> tuple[float | None, float | None]: ...


class _SetScored(_Scored, Protocol):
    def commonest_share(self) -> float | None: ...


def chance(metrics: PrequentialMetrics | _SetScored) -> float:
    """What a suggestion must beat: the better of a guess and always giving the commonest
    answer. For one label an item, the larger of one over the labels and the commonest label's
    share so far; for a set of labels or spans, the commonest exact answer's share of the
    latest window (the empty one included), 0 before any.

    Examples
    --------
    >>> scores = PrequentialMetrics(["spam", "ham", "eggs"])
    >>> chance(scores)
    0.3333333333333333
    >>> for label in ["spam", "spam", "spam", "ham"]:
    ...     scores.update(label, None)
    >>> chance(scores)
    0.75
    >>> from streamloop.online.multilabel_metrics import MultiLabelMetrics
    >>> chance(MultiLabelMetrics(["bug", "ui"]))
    0.0
    """
    if isinstance(metrics, PrequentialMetrics):
        counts = metrics.label_counts()
        return max(1 / len(counts), max(counts.values()) / max(1, metrics.labels_total))
    return metrics.commonest_share() or 0.0


def track_record(metrics: _Scored, chance: float = 0.0) -> dict[str, Any]:
    """``{"right", "of", "trusted"}``: how many of the model's latest ``of`` answers were
    right (the whole answer: the label, the very set, the very spans), and whether that is
    clearly better than ``chance`` (the share a guess gets right): the lower end of its 95%
    Wilson interval above it, from ``SUGGEST_AFTER`` answers or more. The service passes
    `chance` of the metrics: the better of guessing and always giving the commonest answer,
    the same label, the same set of labels or the same spans.

    Examples
    --------
    >>> from streamloop.online.metrics import PrequentialMetrics
    >>> scores = PrequentialMetrics(["spam", "ham"], window=20)
    >>> for n in range(12):
    ...     scores.update("spam" if n % 2 else "ham", "spam" if n % 2 or n < 2 else "ham")
    >>> track_record(scores, chance=0.5)
    {'right': 11, 'of': 12, 'trusted': True}
    >>> track_record(scores, chance=0.9)  # always "spam" would be right on 90%
    {'right': 11, 'of': 12, 'trusted': False}
    >>> track_record(PrequentialMetrics(["spam", "ham"]), chance=0.5)
    {'right': 0, 'of': 0, 'trusted': False}
    """
    of = min(metrics.labels_total, metrics.window)
    _, rolling = metrics.accuracies()
    right = round((rolling or 0.0) * of)
    interval = wilson_interval(right, of)
    trusted = of >= SUGGEST_AFTER and interval is not None and interval[1] > chance
    return {"right": right, "of": of, "trusted": trusted}
