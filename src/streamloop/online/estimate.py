"""An unbiased accuracy estimate, from the labels of items drawn at random.

Prequential accuracy over routed items is pessimistic: they were chosen *because* the model
found them hard. Items drawn at random (the warm-up and the exploration share) are a fair
sample of what arrives, so the model's prequential hits on them estimate its accuracy on the
production stream without that bias. Recent draws weigh more (each counts half as much every
15 draws), so the estimate follows a model that is still learning; ``samples`` is how many
draws are kept, the interval uses their effective number.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

__all__ = ["RandomSampleAccuracy", "wilson_interval"]

#: Normal quantile of a two-sided 95% interval.
Z_95 = 1.959963984540054


def wilson_interval(hits: int, n: int, z: float = Z_95) -> tuple[float, float, float] | None:
    """The share ``hits / n`` with its Wilson score interval; ``None`` when ``n`` is 0.

    Wilson's interval stays inside [0, 1] and behaves with few samples and shares near 0 or
    1, where the usual normal interval does not.

    Examples
    --------
    >>> [round(x, 3) for x in wilson_interval(8, 10)]
    [0.8, 0.49, 0.943]
    >>> wilson_interval(0, 0) is None
    True
    """
    if n <= 0:
        return None
    share = hits / n
    z2 = z * z
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return share, max(0.0, centre - half), min(1.0, centre + half)


class RandomSampleAccuracy:
    """Prequential hits on randomly drawn items, weighted towards the latest.

    Each hit counts half as much every ``half_life`` draws, so the estimate follows a model
    that is still learning instead of averaging over the weaker models it used to be. The
    interval is Wilson's at the weights' effective sample size (Kish).

    Examples
    --------
    >>> estimate = RandomSampleAccuracy(half_life=2)
    >>> for hit in [False, False, True, True, True, True]:
    ...     estimate.update(hit)
    >>> report = estimate.report()
    >>> round(report["estimate"], 2), report["samples"]
    (0.86, 6)
    """

    def __init__(self, half_life: float = 15.0, memory: int = 200) -> None:
        self.half_life = half_life
        self._hits: deque[bool] = deque(maxlen=memory)

    def update(self, correct: bool) -> None:
        self._hits.append(correct)

    def estimate(self) -> float | None:
        """The weighted share of hits alone: what :meth:`report` says, without the interval."""
        if not self._hits:
            return None
        decay = 0.5 ** (1.0 / self.half_life)
        hit = total = 0.0
        weight = 1.0
        for correct in reversed(self._hits):  # newest first, weight 1
            total += weight
            if correct:
                hit += weight
            weight *= decay
        return hit / total

    def report(self) -> dict[str, Any]:
        """``estimate`` with its 95% interval ``low``/``high``, from ``samples`` draws."""
        if not self._hits:
            return {"estimate": None, "low": None, "high": None, "samples": 0}
        decay = 0.5 ** (1.0 / self.half_life)
        weights = [decay**age for age in range(len(self._hits))]
        hits = reversed(self._hits)  # newest first, matching age 0
        total = math.fsum(weights)
        share = math.fsum(w for w, hit in zip(weights, hits, strict=True) if hit) / total
        effective = total * total / math.fsum(w * w for w in weights)
        interval = wilson_interval(round(share * effective), max(1, round(effective)))
        assert interval is not None
        _, low, high = interval
        return {
            "estimate": share,
            "low": min(low, share),
            "high": max(high, share),
            "samples": len(self._hits),
        }
