"""Candidate estimators of the current model's accuracy on production traffic.

Pure functions on arrays, shared by ``bench/estimate_study.py``. Every estimator returns
``(estimate, low, high, effective_samples)`` with a 95% interval, or ``None`` when it has
nothing to go on. Notation, for the model f_t as it is now:

- ``c`` is a model's confidence in its prediction: its largest probability;
- ``h`` is a hit: the prediction was the label;
- production: the last N events, re-scored by f_t (``c_now``), or as scored at arrival by the
  model of that moment (``c_arrival``);
- labelled items: each with ``(h, c)`` as the model of *its* moment saw it (prequential: the
  prediction made just before the label was learned).

The target, f_t's accuracy on traffic, splits as E[c_t] + E[h_t - c_t]: the first term from
unlabelled production (large N, no labels), the second, the calibration gap, from labels
(Angelopoulos et al. 2023, "prediction-powered inference").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z_95 = 1.959963984540054

Estimate = tuple[float, float, float, float]


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def _interval(estimate: float, variance: float, samples: float) -> Estimate:
    half = Z_95 * math.sqrt(max(variance, 0.0))
    return estimate, _clip(estimate - half), _clip(estimate + half), samples


def decay_weights(n: int, half_life: float | None) -> np.ndarray:
    """Weights of n items, oldest first: the newest weighs 1, each halves every half_life."""
    if half_life is None or half_life <= 0:
        return np.ones(n)
    ages = np.arange(n - 1, -1, -1, dtype=float)
    return 0.5 ** (ages / half_life)


def weighted_mean_var(values: np.ndarray, weights: np.ndarray) -> tuple[float, float, float]:
    """(mean, variance of that mean, Kish effective n) of weighted values."""
    total = weights.sum()
    mean = float((weights * values).sum() / total)
    effective = float(total * total / (weights * weights).sum())
    # The sandwich variance of a weighted mean, with a small-sample correction (n/(n-1)).
    spread = float((weights * weights * (values - mean) ** 2).sum() / (total * total))
    if effective > 1.0:
        spread *= effective / (effective - 1.0)
    return mean, spread, effective


def self_estimate(c_now: np.ndarray) -> Estimate | None:
    """Mean confidence of the current model over recent production: no labels at all.

    Its interval only covers the sampling of events; it knows nothing of miscalibration.
    """
    if len(c_now) == 0:
        return None
    n = len(c_now)
    return _interval(float(c_now.mean()), float(c_now.var(ddof=1)) / n, n)


def ppi(
    c_now: np.ndarray,
    hits: np.ndarray,
    confidences: np.ndarray,
    *,
    half_life: float | None = None,
    window: int | None = None,
    power_tuning: bool = False,
) -> Estimate | None:
    """Prediction-powered mean: mean(c_now) + weighted mean(h - lambda * c) over labels.

    ``hits``/``confidences`` are the labelled items' (oldest first), ``half_life`` and
    ``window`` weigh or cut them towards the latest. With ``power_tuning`` (PPI++), lambda is
    cov(h, c) / ((1 + n/N) var(c)), clipped to [0, 1]; otherwise 1. The variance is
    var(lambda c_now)/N + var(h - lambda c)/n_eff.
    """
    if len(c_now) == 0 or len(hits) == 0:
        return None
    if window is not None:
        hits, confidences = hits[-window:], confidences[-window:]
    weights = decay_weights(len(hits), half_life)
    lam = 1.0
    if power_tuning and len(hits) > 2:
        _, _, effective = weighted_mean_var(hits, weights)
        mh = (weights * hits).sum() / weights.sum()
        mc = (weights * confidences).sum() / weights.sum()
        cov = float((weights * (hits - mh) * (confidences - mc)).sum() / weights.sum())
        var_c = float(np.var(np.concatenate([c_now, confidences])))
        if var_c > 0:
            lam = min(1.0, max(0.0, cov / ((1.0 + effective / len(c_now)) * var_c)))
    residual, residual_var, effective = weighted_mean_var(hits - lam * confidences, weights)
    estimate = lam * float(c_now.mean()) + residual
    variance = lam * lam * float(c_now.var(ddof=1)) / len(c_now) + residual_var
    return _interval(estimate, variance, effective)


def binned_ppi(
    c_now: np.ndarray,
    hits: np.ndarray,
    confidences: np.ndarray,
    *,
    half_life: float | None = None,
    bins: int = 5,
    min_samples: float = 10.0,
) -> Estimate | None:
    """PPI with the calibration gap estimated per confidence bin (stratified rectifier).

    Bins are quantiles of the current model's confidences over production (equal mass), merged
    until each holds ``min_samples`` effective labelled items. Each bin's gap (mean of h - c
    over the labelled items whose confidence fell in it) is weighted by the bin's share of
    production. Labels routed for their uncertainty may be used too: routing picks items by
    the model's probabilities, so *given the confidence* a routed item is a fair one (exactly
    so for margin sampling of two labels), which is what a per-bin gap needs.
    """
    if len(c_now) == 0 or len(hits) == 0:
        return None
    weights = decay_weights(len(hits), half_life)
    edges = list(np.quantile(c_now, np.linspace(0, 1, bins + 1))[1:-1])
    # Merge bins (drop inner edges) until every bin has enough effective labelled items.
    while True:
        idx = np.searchsorted(edges, confidences, side="right")
        ok = True
        for b in range(len(edges) + 1):
            w = weights[idx == b]
            eff = w.sum() ** 2 / (w * w).sum() if len(w) else 0.0
            if eff < min_samples and edges:
                # drop the edge shared with the neighbour holding more labels
                ok = False
                edges.pop(min(b, len(edges) - 1))
                break
        if ok:
            break
    idx_labelled = np.searchsorted(edges, confidences, side="right")
    idx_prod = np.searchsorted(edges, c_now, side="right")
    estimate = float(c_now.mean())
    variance = float(c_now.var(ddof=1)) / len(c_now)
    effective_total = 0.0
    for b in range(len(edges) + 1):
        share = float((idx_prod == b).mean())
        members = idx_labelled == b
        if not members.any() or share == 0.0:
            continue
        gap, gap_var, eff = weighted_mean_var(
            hits[members] - confidences[members], weights[members]
        )
        estimate += share * gap
        variance += share * share * gap_var
        effective_total += eff
    return _interval(estimate, variance, effective_total)


def proportion(hits: Sequence[bool] | np.ndarray) -> Estimate | None:
    """A plain share of hits with its Wilson interval."""
    n = len(hits)
    if n == 0:
        return None
    share = float(np.mean(hits))
    z2 = Z_95 * Z_95
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_95 * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return share, _clip(min(share, centre - half)), _clip(max(share, centre + half)), n
