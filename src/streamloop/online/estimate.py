"""An unbiased accuracy estimate, from the labels of items drawn at random.

Prequential accuracy over routed items is pessimistic: they were chosen *because* the model
found them hard. Items drawn at random (the warm-up and the exploration share) are a fair
sample of what arrives, so the model's prequential hits on them estimate its accuracy on the
production stream without that bias. Only the latest ``window`` of them count, so the estimate
follows the model as it learns.
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
    """Prequential hits on randomly drawn items, over a sliding window.

    Examples
    --------
    >>> estimate = RandomSampleAccuracy(window=3)
    >>> for hit in [False, True, True, True]:
    ...     estimate.update(hit)
    >>> estimate.report()["estimate"], estimate.report()["samples"]
    (1.0, 3)
    """

    def __init__(self, window: int = 200) -> None:
        self.window = window
        self._hits: deque[bool] = deque(maxlen=window)

    def update(self, correct: bool) -> None:
        self._hits.append(correct)

    def report(self) -> dict[str, Any]:
        """``estimate`` with its 95% interval ``low``/``high`` over ``samples`` draws."""
        interval = wilson_interval(sum(self._hits), len(self._hits))
        estimate, low, high = interval if interval is not None else (None, None, None)
        return {"estimate": estimate, "low": low, "high": high, "samples": len(self._hits)}
