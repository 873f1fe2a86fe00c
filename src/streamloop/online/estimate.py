"""Estimates of the current model's accuracy on production traffic.

`prediction_powered` is the one the service reports (`OnlineModel.accuracy_estimate`): the
current model's mean confidence over recent traffic, corrected per confidence bin by the
residuals (hit minus confidence) of random draws, each scored by a shadow model that never
learned it (see BENCHMARKS.md for the study that chose it). `RandomSampleAccuracy`, below, is
what it falls back on while too few draws are held out.


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
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["RandomSampleAccuracy", "prediction_powered", "wilson_interval"]

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
        """``estimate`` with its 95% interval ``low``/``high``, from ``samples`` draws, which
        weigh as ``effective_samples`` equal ones would (Kish)."""
        if not self._hits:
            return {
                "estimate": None,
                "low": None,
                "high": None,
                "samples": 0,
                "effective_samples": 0,
            }
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
            # What the interval rests on: recent draws weigh more, so fewer than ``samples``.
            "effective_samples": max(1, round(effective)),
        }


def _mean_and_variance(values: np.ndarray) -> tuple[float, float]:
    """The mean of ``values`` and the variance of that mean (0 for a single value)."""
    n = len(values)
    return float(values.mean()), (float(values.var(ddof=1)) / n if n > 1 else 0.0)


def prediction_powered(
    traffic: Sequence[float],
    hits: Sequence[bool],
    confidences: Sequence[float],
    *,
    bins: int = 5,
    min_draws: int = 10,
) -> dict[str, Any] | None:
    """Accuracy on traffic: mean confidence there plus the calibration gap per bin.

    ``traffic`` holds the current model's confidence (its largest probability) in each recent
    production event. ``hits`` and ``confidences`` are fair labelled draws, each scored by a
    model as current as the deployed one that never learned it. The bins are quantiles of the
    traffic's confidences, merged until each holds ``min_draws`` draws; each bin's gap (mean of
    hit minus confidence over its draws) is weighted by its share of traffic (Angelopoulos et
    al. 2023, stratified). The 95% interval is the normal one, from the variance of the
    traffic's mean and of each bin's gap. ``None`` without traffic or draws.

    Examples
    --------
    >>> report = prediction_powered([0.9] * 100, [True] * 7 + [False] * 3, [0.9] * 10)
    >>> round(report["estimate"], 3), report["samples"], report["bins"]
    (0.7, 10, 1)
    """
    c = np.asarray(traffic, dtype=float)
    h = np.asarray(hits, dtype=float)
    ch = np.asarray(confidences, dtype=float)
    if not len(c) or not len(h):
        return None
    edges = list(np.quantile(c, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    while edges:  # drop the inner edge beside the first bin short of draws
        counts = np.bincount(np.searchsorted(edges, ch, side="right"), minlength=len(edges) + 1)
        short = np.flatnonzero(counts < min_draws)
        if not len(short):
            break
        edges.pop(min(int(short[0]), len(edges) - 1))
    estimate, variance = _mean_and_variance(c)
    in_traffic = np.searchsorted(edges, c, side="right")
    in_draws = np.searchsorted(edges, ch, side="right")
    for b in range(len(edges) + 1):
        members = in_draws == b
        share = float((in_traffic == b).mean())
        if members.any() and share > 0.0:
            gap, gap_variance = _mean_and_variance(h[members] - ch[members])
            estimate += share * gap
            variance += share * share * gap_variance
    half = Z_95 * math.sqrt(variance)
    estimate = min(1.0, max(0.0, estimate))
    return {
        "estimate": estimate,
        "low": max(0.0, estimate - half),
        "high": min(1.0, estimate + half),
        "samples": len(h),
        "traffic": len(c),
        "bins": len(edges) + 1,
    }
