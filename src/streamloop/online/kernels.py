"""The learning steps of `streamloop.online.one_vs_rest` and `streamloop.online.scaler`, and
the passes of `streamloop.online.decoding` (a span model's Viterbi and forward-backward),
compiled (numba).

A step of a one-vs-rest logistic regression over a tabular item is about a thousand
multiplications: in numpy it is a dozen array calls whose fixed cost is most of the time, and
a label takes eight such steps (the item, its rehearsal, and the accuracy estimate's shadow
heads). Compiled, a step is a few loops over the item's rows.

Each step does River's arithmetic in River's order: a logit is the item's terms added one by
one in the item's order, then the intercept; each label's gradient is River's log loss
gradient (`river.optim.losses.Log`); a weight moves by ``value * gradient * rate``. Nothing is
reordered (no fast-math), so equal histories give equal models on any CPU.

The module is imported by `streamloop.online.compiled` when a step is first needed, not with
the package: numba and the compiled code cost about half a second and 140 MB of memory once
per process. Compiled code is cached beside this file (if that is read-only, in numba's user
cache, or where ``NUMBA_CACHE_DIR`` says), so each step is compiled once per machine (a few
seconds) and later processes load it; with nowhere to write, each process compiles its own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

__all__ = [
    "decode_chains",
    "heads_step",
    "log_loss_gradient",
    "one_vs_rest_step",
    "probabilities",
    "sigmoid",
    "standardise_step",
    "warm",
]

#: Beyond this margin, River's log loss gradient takes its approximations.
_LOSS_CUTOFF = 18.0
#: Beyond this logit, River's sigmoid is exactly 0 or 1 (`river.utils.math.sigmoid`). Here, not
#: imported (`streamloop.online.one_vs_rest.LOGIT_BOUND` says the same; a test holds them
#: equal): numba's cache is refreshed when this file changes, not when another does.
LOGIT_BOUND = 30.0

log = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])


def _compiled(function: _F) -> _F:
    """Compiled on its first call (numba's default: exact IEEE arithmetic, no fast-math), and
    cached where numba finds a directory to write in (else compiled by each process)."""
    try:
        return cast("_F", numba.njit(cache=True)(function))
    except RuntimeError:  # "no locator available": nowhere to write the cache
        if not _uncached:
            log.warning("learning steps compiled by this process: no cache (NUMBA_CACHE_DIR)")
        _uncached.append(function.__name__)
        return cast("_F", numba.njit(function))


#: The steps compiled without a cache.
_uncached: list[str] = []


@_compiled
def log_loss_gradient(positive: bool, logit: float) -> float:
    """River's log loss gradient for one binary model: ``-y / (e^(y z) + 1)``, y in {-1, 1}."""
    sign = 1.0 if positive else -1.0
    margin = logit * sign
    if margin > _LOSS_CUTOFF:
        return math.exp(-margin) * -sign
    if margin < -_LOSS_CUTOFF:
        return -sign
    return -sign / (math.exp(margin) + 1.0)


@_compiled
def sigmoid(logit: float) -> float:
    """River's sigmoid (`river.utils.math.sigmoid`): exactly 0 and 1 beyond a logit of 30."""
    if logit < -LOGIT_BOUND:
        return 0.0
    if logit > LOGIT_BOUND:
        return 1.0
    return 1.0 / (1.0 + math.exp(-logit))


@_compiled
def probabilities(weights: Any, intercepts: Any, rows: Any, values: Any, count: int) -> Any:
    """River's one-vs-rest probabilities of the first ``count`` labels (columns) for the item
    whose features are ``rows`` of ``weights`` with ``values``: each label's intercept plus the
    item's terms added in order, its sigmoid, each divided by their sum (added in order), or
    all equal if that sum is 0."""
    scores = np.empty(count)
    total = 0.0
    for j in range(count):
        logit = intercepts[j]
        if rows.size:
            dot = values[0] * weights[rows[0], j]
            for i in range(1, rows.size):
                dot += values[i] * weights[rows[i], j]
            logit = logit + dot
        scores[j] = sigmoid(logit)
        total += scores[j]
    if total == 0.0:
        scores[:] = 1.0 / count
        return scores
    for j in range(count):
        scores[j] = scores[j] / total
    return scores


@_compiled
def one_vs_rest_step(
    weights: Any,
    intercepts: Any,
    rows: Any,
    values: Any,
    count: int,
    target: int,
    learning_rate: float,
    intercept_rate: float,
) -> None:
    """One SGD step of the first ``count`` labels' binary models (columns) on the item whose
    features are ``rows`` of ``weights`` with ``values``; ``target`` is its label's column."""
    gradients = np.zeros(count)
    for j in range(count):
        logit = 0.0
        if rows.size:
            logit = values[0] * weights[rows[0], j]
            for i in range(1, rows.size):
                logit += values[i] * weights[rows[i], j]
        gradients[j] = log_loss_gradient(j == target, logit + intercepts[j])
    for j in range(count):
        intercepts[j] -= intercept_rate * gradients[j]
    for i in range(rows.size):
        value = values[i]
        for j in range(count):
            weights[rows[i], j] -= value * gradients[j] * learning_rate


@_compiled
def heads_step(
    weights: Any,
    intercepts: Any,
    seen: Any,
    rows: Any,
    values: Any,
    count: int,
    target: int,
    skip: int,
    learning_rate: float,
    intercept_rate: float,
) -> None:
    """`one_vs_rest_step` for every copy of `ShadowHeads` (``weights``: rows by copies by
    labels) but ``skip`` (-1: none): each copy but ``skip`` sees label ``target`` from now on,
    and a copy moves only the columns of the labels it has seen."""
    copies = weights.shape[1]
    for c in range(copies):
        if c != skip:
            seen[c, target] = True
    gradients = np.zeros((copies, count))
    for c in range(copies):
        for j in range(count):
            logit = 0.0
            if rows.size:
                logit = values[0] * weights[rows[0], c, j]
                for i in range(1, rows.size):
                    logit += values[i] * weights[rows[i], c, j]
            gradients[c, j] = log_loss_gradient(j == target, logit + intercepts[c, j])
    for c in range(copies):
        if c == skip:
            continue
        for j in range(count):
            if seen[c, j]:
                intercepts[c, j] -= intercept_rate * gradients[c, j]
        for i in range(rows.size):
            value = values[i]
            for j in range(count):
                if seen[c, j]:
                    weights[rows[i], c, j] -= value * gradients[c, j] * learning_rate


@_compiled
def standardise_step(counts: Any, means: Any, variances: Any, slots: Any, values: Any) -> Any:
    """River's ``StandardScaler.learn_one`` (Welford's update) of the fields in ``slots`` of
    the statistics, then each value standardised by what was just learned, as
    `streamloop.online.scaler.standardised` does: ``(value - mean) / sqrt(variance)``, 0.0
    where the deviation is not above 0 (no variance, or a variance that overflowed)."""
    scaled = np.zeros(values.size)
    for i in range(values.size):
        slot, value = slots[i], values[i]
        count = counts[slot] + 1.0
        counts[slot] = count
        old = means[slot]
        deviation = value - old
        mean = old + deviation / count
        means[slot] = mean
        variance = variances[slot] + (deviation * (value - mean) - variances[slot]) / count
        variances[slot] = variance
        spread = math.sqrt(variance)
        if spread > 0.0:
            scaled[i] = (value - mean) / spread
    return scaled


@_compiled
def decode_chains(
    first: Any,
    chain: Any,
    end: Any,
    lengths: Any,
    paths: Any,
    probabilities: Any,
    marginals: Any,
) -> int:
    """`streamloop.online.decoding.decode_many`'s passes, each chain on its own (so a chain's
    floats are the same in any batch): Viterbi's best path into ``paths``, its probability
    into ``probabilities``, and forward-backward's tag marginals into ``marginals``.

    ``first`` (chains by tags), ``chain`` (chains by steps by tags by tags: the potential of
    the column's tag after the row's), ``end`` (chains by tags), ``lengths`` (each chain's
    tokens, at least 1: its steps past that are not read). Each pass rescales at every token
    so that long chains do not underflow, and sums in tag order. Returns -1, or the first
    chain whose every tag sequence scores zero (its outputs are then not all written)."""
    count, size = first.shape
    longest = paths.shape[1]
    best = np.empty(size)
    moved = np.empty(size)
    ahead = np.empty(size)
    beta = np.empty(size)
    alphas = np.empty((longest, size))
    scales = np.empty(longest)
    back = np.empty((longest, size), dtype=np.intp)
    for n in range(count):
        tokens = lengths[n]
        top = first[n, 0]
        total = first[n, 0]
        for i in range(1, size):
            top = max(top, first[n, i])
            total += first[n, i]
        if not (top > 0.0 and total > 0.0):
            return n
        best_log = math.log(top)
        scales[0] = total
        for i in range(size):
            best[i] = first[n, i] / top
            alphas[0, i] = first[n, i] / total
        for t in range(tokens - 1):
            top = 0.0
            total = 0.0
            for j in range(size):
                pick = 0
                value = best[0] * chain[n, t, 0, j]
                alpha = alphas[t, 0] * chain[n, t, 0, j]
                for i in range(1, size):
                    candidate = best[i] * chain[n, t, i, j]
                    if candidate > value:  # the first of equals: ties go to the lower tag
                        value = candidate
                        pick = i
                    alpha += alphas[t, i] * chain[n, t, i, j]
                moved[j] = value
                back[t, j] = pick
                top = max(top, value)
                ahead[j] = alpha
                total += alpha
            if not (top > 0.0 and total > 0.0):
                return n
            best_log += math.log(top)
            scales[t + 1] = total
            for j in range(size):
                best[j] = moved[j] / top
                alphas[t + 1, j] = ahead[j] / total
        last = tokens - 1
        tag = 0
        final = best[0] * end[n, 0]
        ending = alphas[last, 0] * end[n, 0]
        for j in range(1, size):
            if best[j] * end[n, j] > final:
                final = best[j] * end[n, j]
                tag = j
            ending += alphas[last, j] * end[n, j]
        if not ending > 0.0:
            return n
        paths[n, last] = tag
        for t in range(last - 1, -1, -1):
            tag = back[t, tag]
            paths[n, t] = tag
        # The scale factors' logs added with Neumaier's compensation: long chains whose
        # potentials span many orders of magnitude lose no precision to the order of the sum.
        forward_log = 0.0
        lost = 0.0
        for t in range(tokens):
            term = math.log(scales[t])
            total = forward_log + term
            if abs(forward_log) >= abs(term):
                lost += (forward_log - total) + term
            else:
                lost += (term - total) + forward_log
            forward_log = total
        forward_log = forward_log + lost + math.log(ending)
        probability = 0.0
        if final > 0.0:
            probability = math.exp(best_log + math.log(final) - forward_log)
        probabilities[n] = 1.0 if probability > 1.0 else probability  # NaN stays NaN
        # Backward, with the forward pass's scale factors, from the end's potentials over
        # their total: each token's alphas times betas then sum to about 1, never to 0.
        for i in range(size):
            beta[i] = end[n, i] / ending
            marginals[n, last, i] = alphas[last, i] * beta[i]
        for t in range(last - 1, -1, -1):
            for i in range(size):
                behind = chain[n, t, i, 0] * beta[0]
                for j in range(1, size):
                    behind += chain[n, t, i, j] * beta[j]
                ahead[i] = behind / scales[t + 1]
            for i in range(size):
                beta[i] = ahead[i]
                marginals[n, t, i] = alphas[t, i] * beta[i]
        for t in range(tokens):
            total = marginals[n, t, 0]
            for i in range(1, size):
                total += marginals[n, t, i]
            for i in range(size):
                marginals[n, t, i] = marginals[n, t, i] / total if total > 0.0 else math.nan
    return -1


#: Whether `warm` has run in this process.
warmed = False


def warm() -> None:
    """Take each step once on a model of one feature and one label, with the argument types of
    the calls made of them: each is loaded from the cache (or compiled) now."""
    global warmed
    rows, values = np.zeros(1, dtype=np.intp), np.zeros(1)
    one_vs_rest_step(np.zeros((1, 1)), np.zeros(1), rows, values, 1, 0, 0.01, 0.01)
    seen = np.zeros((1, 1), dtype=np.bool_)
    heads_step(np.zeros((1, 1, 1)), np.zeros((1, 1)), seen, rows, values, 1, 0, -1, 0.01, 0.01)
    standardise_step(np.zeros(1), np.zeros(1), np.zeros(1), rows, values)
    probabilities(np.zeros((1, 1)), np.zeros(1), rows, values, 1)
    one = np.ones((1, 1))
    decode_chains(one, np.ones((1, 0, 1, 1)), one, rows + 1, rows[None], values, one[None])
    warmed = True
