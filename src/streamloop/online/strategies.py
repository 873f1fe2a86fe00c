"""Uncertainty strategies: how unsure a prediction is, as one number in [0, 1].

Every score is scaled so that uniform probabilities score 1.0 and a certain (one-hot) prediction
scores 0.0, whatever the number of labels, so one routing threshold means the same for every
strategy and every project.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["DEFAULT_STRATEGY", "STRATEGIES", "uncertainties", "uncertainty"]

STRATEGIES: tuple[str, ...] = ("margin", "entropy", "least_confidence", "random")

# With online models, margin sampling beat random sampling in our benchmark, and entropy
# sampling did worse than random.
DEFAULT_STRATEGY = "margin"


def uncertainty(strategy: str, probabilities: Mapping[str, float]) -> float:
    """Score how unsure a prediction is: 0.0 is certain, 1.0 is a blind guess.

    Parameters
    ----------
    strategy
        One of `STRATEGIES`:

        - ``"margin"``: one minus the gap between the two likeliest labels;
        - ``"entropy"``: the entropy of the probabilities, divided by its maximum, log(k);
        - ``"least_confidence"``: one minus the top probability, times k / (k - 1);
        - ``"random"``: routing picks items at random and ignores the score, which is then the
          default strategy's, so it still means something on a dashboard.
    probabilities
        Label to probability, summing to 1. With no labels the score is 1.0 (nothing is
        known); with one label it is 0.0 (there is nothing to choose).

    Returns
    -------
    float
        The score, clamped to [0, 1] against rounding.

    Raises
    ------
    ValueError
        If the strategy is unknown.

    Examples
    --------
    >>> uncertainty("margin", {"spam": 0.5, "ham": 0.5})
    1.0
    >>> round(uncertainty("margin", {"spam": 0.9, "ham": 0.1}), 3)
    0.2
    >>> uncertainty("entropy", {"spam": 1.0, "ham": 0.0, "eggs": 0.0})
    0.0
    >>> round(uncertainty("least_confidence", {"spam": 0.6, "ham": 0.2, "eggs": 0.2}), 3)
    0.6
    """
    score = _SCORES.get(strategy)
    if score is None:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of: {', '.join(STRATEGIES)}")
    values = list(probabilities.values())
    if len(values) < 2:
        return 0.0 if values else 1.0
    return _clamp(score(values))


def uncertainties(strategy: str, probabilities: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """`uncertainty` of each row of a matrix (a row per item, a column per label, each row
    summing to 1), in array operations: the same scores within rounding (entropy sums its
    terms in another order, with numpy's logarithm).

    Examples
    --------
    >>> rows = np.array([[0.5, 0.5], [0.9, 0.1]])
    >>> [round(score, 3) for score in uncertainties("margin", rows).tolist()]
    [1.0, 0.2]
    """
    if strategy not in _SCORES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of: {', '.join(STRATEGIES)}")
    rows, k = probabilities.shape
    if k < 2:
        return np.full(rows, 0.0 if k else 1.0)
    if strategy == "entropy":
        positive = probabilities > 0.0
        logs = np.log(np.where(positive, probabilities, 1.0))
        raw = np.where(positive, -probabilities * logs, 0.0).sum(axis=1) / math.log(k)
    elif strategy == "least_confidence":
        raw = (1.0 - probabilities.max(axis=1)) * k / (k - 1)
    else:  # margin, and random's score
        second, first = np.partition(probabilities, k - 2, axis=1)[:, -2:].T
        raw = 1.0 - (first - second)
    # `_clamp`: a NaN fails every comparison and is treated as unsure.
    return np.where(raw >= 1.0, 1.0, np.where(raw >= 0.0, raw, np.where(raw < 0.0, 0.0, 1.0)))


def _margin(values: Sequence[float]) -> float:
    first, second = sorted(values, reverse=True)[:2]
    return 1.0 - (first - second)


def _entropy(values: Sequence[float]) -> float:
    entropy = sum(-p * math.log(p) for p in values if p > 0.0)
    return entropy / math.log(len(values))


def _least_confidence(values: Sequence[float]) -> float:
    k = len(values)
    return (1.0 - max(values)) * k / (k - 1)


def _clamp(score: float) -> float:
    if score >= 1.0:
        return 1.0
    if score >= 0.0:
        return score
    # A NaN fails both comparisons; a score that cannot be trusted is treated as unsure.
    return 0.0 if score < 0.0 else 1.0


_SCORES: dict[str, Callable[[Sequence[float]], float]] = {
    "margin": _margin,
    "entropy": _entropy,
    "least_confidence": _least_confidence,
    "random": _margin,
}
