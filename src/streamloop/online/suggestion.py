"""Whether the model's suggestion means something yet, and its record to say so in words.

An annotator shown a suggestion tends to copy it (anchoring), so a suggestion is worth showing
only once the model's answers are clearly better than a guess, and then with its record rather
than its own probability: after a handful of labels a model can be "100% sure" and wrong. The
record is the model's answers on the latest items annotators were given (the prequential
rolling window, the same items as those it suggests for), each predicted before it was learned.
"""

from __future__ import annotations

from typing import Any, Protocol

from streamloop.online.estimate import wilson_interval

__all__ = ["SUGGEST_AFTER", "track_record"]

#: The fewest tested answers behind a suggestion: fewer says too little (the 95% interval of a
#: share from 10 answers is still about 0.6 wide).
SUGGEST_AFTER = 10


class _Scored(Protocol):
    @property
    def labels_total(self) -> int: ...

    @property
    def window(self) -> int: ...

    def accuracies(self) -> tuple[float | None, float | None]: ...


def track_record(metrics: _Scored, chance: float = 0.0) -> dict[str, Any]:
    """``{"right", "of", "trusted"}``: how many of the model's latest ``of`` answers were
    right (the whole answer: the label, the very set, the very spans), and whether that is
    clearly better than ``chance`` (the share a guess gets right): the lower end of its 95%
    Wilson interval above it, from ``SUGGEST_AFTER`` answers or more.

    Examples
    --------
    >>> from streamloop.online.metrics import PrequentialMetrics
    >>> scores = PrequentialMetrics(["spam", "ham"], window=20)
    >>> for n in range(12):
    ...     scores.update("spam" if n % 2 else "ham", "spam" if n % 2 or n < 2 else "ham")
    >>> track_record(scores, chance=0.5)
    {'right': 11, 'of': 12, 'trusted': True}
    >>> track_record(PrequentialMetrics(["spam", "ham"]), chance=0.5)
    {'right': 0, 'of': 0, 'trusted': False}
    """
    of = min(metrics.labels_total, metrics.window)
    _, rolling = metrics.accuracies()
    right = round((rolling or 0.0) * of)
    interval = wilson_interval(right, of)
    trusted = of >= SUGGEST_AFTER and interval is not None and interval[1] > chance
    return {"right": right, "of": of, "trusted": trusted}
