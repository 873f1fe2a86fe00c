"""Uncertainty strategies: how unsure a prediction is, as one number in [0, 1].

Every score is scaled so that uniform probabilities score 1.0 and a certain (one-hot) prediction
scores 0.0, whatever the number of labels, so one routing threshold means the same for every
strategy and every project.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

__all__ = ["DEFAULT_STRATEGY", "STRATEGIES", "uncertainty"]

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
