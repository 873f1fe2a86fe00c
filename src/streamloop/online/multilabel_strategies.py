"""Multi-label uncertainty: how unsure a set of independent label probabilities is, in [0, 1].

Each label's probability is judged against its own threshold: a probability at the threshold is
a blind guess (1.0), one at 0 or 1 is certain (0.0). The per-label figures are then combined
into the one score routing ranks by. As with single labels (`strategies`), 1.0 means a blind
guess and 0.0 certainty, whatever the number of labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_MULTILABEL_STRATEGY",
    "MULTILABEL_STRATEGIES",
    "label_uncertainties",
    "multilabel_uncertainties",
    "multilabel_uncertainty",
]

MULTILABEL_STRATEGIES: tuple[str, ...] = ("mean_margin", "min_margin", "entropy", "random")

# Chosen by bench/multilabel.py (BENCHMARKS.md, "Multi-label"): of the three, the least
# certain label saved the most labels against random sampling across its four data sets (with
# and without warm-up and exploration); the mean margin and entropy saved none overall.
DEFAULT_MULTILABEL_STRATEGY = "min_margin"


def label_uncertainties(probabilities: Sequence[float], thresholds: Sequence[float]) -> list[float]:
    """Each label's uncertainty: one minus its distance to its threshold, scaled to [0, 1].

    The distance is scaled by the room on that side of the threshold, so that a threshold of
    0.3 makes 0.3 a blind guess and both 0.0 and 1.0 certain.

    Examples
    --------
    >>> label_uncertainties([0.5, 1.0, 0.0, 0.75], [0.5, 0.5, 0.5, 0.5])
    [1.0, 0.0, 0.0, 0.5]
    >>> [round(u, 3) for u in label_uncertainties([0.3, 0.65, 0.15], [0.3, 0.3, 0.3])]
    [1.0, 0.5, 0.5]
    """
    return [
        _clamp(1.0 - ((p - t) / (1.0 - t) if p >= t else (t - p) / t))
        for p, t in zip(probabilities, thresholds, strict=True)
    ]


def multilabel_uncertainty(
    strategy: str, probabilities: Sequence[float], thresholds: Sequence[float]
) -> float:
    """Score how unsure a multi-label prediction is: 0.0 is certain, 1.0 a blind guess.

    Parameters
    ----------
    strategy
        One of `MULTILABEL_STRATEGIES`:

        - ``"mean_margin"``: the mean of the labels' uncertainties (`label_uncertainties`),
          that is one minus the mean scaled distance to the thresholds;
        - ``"min_margin"``: the uncertainty of the least certain label (its smallest margin);
        - ``"entropy"``: the mean binary entropy, in bits, of each label's probability mapped
          so that its threshold sits at 0.5 (with a threshold of 0.5, the probability itself);
        - ``"random"``: routing picks items at random and ignores the score, which is then the
          default strategy's, so it still means something on a dashboard.
    probabilities
        Each label's probability of applying, in [0, 1]; they need not sum to anything.
    thresholds
        Each label's threshold, in (0, 1), in the same order.

    Returns
    -------
    float
        The score, clamped to [0, 1]; 1.0 with no labels (nothing is known).

    Raises
    ------
    ValueError
        If the strategy is unknown.

    Examples
    --------
    >>> half = [0.5, 0.5]
    >>> multilabel_uncertainty("mean_margin", [0.9, 0.5], half)
    0.6
    >>> multilabel_uncertainty("min_margin", [0.9, 0.5], half)
    1.0
    >>> round(multilabel_uncertainty("entropy", [0.9, 0.5], half), 3)
    0.734
    >>> multilabel_uncertainty("entropy", [1.0, 0.0], half)
    0.0
    """
    score = _score(strategy)
    if not probabilities:
        return 1.0
    return _clamp(score(probabilities, thresholds))


def _score(strategy: str) -> Callable[[Sequence[float], Sequence[float]], float]:
    score = _SCORES.get(strategy)
    if score is None:
        raise ValueError(
            f"unknown strategy {strategy!r}; expected one of: {', '.join(MULTILABEL_STRATEGIES)}"
        )
    return score


def multilabel_uncertainties(
    strategy: str, probabilities: np.ndarray[Any, Any], thresholds: Sequence[float]
) -> list[float]:
    """`multilabel_uncertainty` of each row of ``probabilities`` (a row per item, a column per
    label), the same to the bit, the labels' margins taken in arrays.

    Raises
    ------
    ValueError
        If the strategy is unknown.

    Examples
    --------
    >>> rows = np.array([[0.9, 0.5], [0.2, 0.4]])
    >>> multilabel_uncertainties("min_margin", rows, [0.5, 0.5])
    [1.0, 0.8]
    >>> multilabel_uncertainties("mean_margin", rows, [0.5, 0.5]) == [
    ...     multilabel_uncertainty("mean_margin", row, [0.5, 0.5]) for row in rows.tolist()
    ... ]
    True
    """
    score = _score(strategy)
    rows, labels = probabilities.shape
    if not labels:
        return [1.0] * rows
    if score is not _min_margin and score is not _mean_margin:
        return [_clamp(score(row, thresholds)) for row in probabilities.tolist()]
    t = np.asarray(thresholds, dtype=np.float64)
    p = probabilities
    # `label_uncertainties`, each operation IEEE's as Python's floats do it, in the same order;
    # both sides of the choice are computed, and the one not taken may overflow (t near 0).
    with np.errstate(all="ignore"):
        margins = 1.0 - np.where(p >= t, (p - t) / (1.0 - t), (t - p) / t)
    # `_clamp` of each: NaN fails every comparison and counts as unsure.
    margins = np.where(
        margins >= 1.0,
        1.0,
        np.where(margins >= 0.0, margins, np.where(margins < 0.0, 0.0, 1.0)),
    )
    if score is _min_margin:
        scores = margins.max(axis=1).tolist()
    else:  # summed as `math.fsum` sums
        scores = [math.fsum(row) / labels for row in margins.tolist()]
    return [_clamp(value) for value in scores]


def _mean_margin(probabilities: Sequence[float], thresholds: Sequence[float]) -> float:
    return math.fsum(label_uncertainties(probabilities, thresholds)) / len(probabilities)


def _min_margin(probabilities: Sequence[float], thresholds: Sequence[float]) -> float:
    return max(label_uncertainties(probabilities, thresholds))


def _entropy(probabilities: Sequence[float], thresholds: Sequence[float]) -> float:
    total = 0.0
    for p, t in zip(probabilities, thresholds, strict=True):
        # Piecewise linear: 0 -> 0, t -> 0.5, 1 -> 1, so the entropy peaks at the threshold.
        q = 0.5 * p / t if p < t else 0.5 + 0.5 * (p - t) / (1.0 - t)
        if 0.0 < q < 1.0:
            total -= q * math.log2(q) + (1.0 - q) * math.log2(1.0 - q)
    return total / len(probabilities)


def _clamp(score: float) -> float:
    if score >= 1.0:
        return 1.0
    if score >= 0.0:
        return score
    # A NaN fails both comparisons; a score that cannot be trusted is treated as unsure.
    return 0.0 if score < 0.0 else 1.0


_SCORES: dict[str, Callable[[Sequence[float], Sequence[float]], float]] = {
    "mean_margin": _mean_margin,
    "min_margin": _min_margin,
    "entropy": _entropy,
}
_SCORES["random"] = _SCORES[DEFAULT_MULTILABEL_STRATEGY]
