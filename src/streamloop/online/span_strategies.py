"""Span uncertainty: how unsure a tagged sequence is, as one number in [0, 1].

The strategies follow Settles & Craven (2008), "An analysis of active learning strategies for
sequence labeling tasks". Each reads what the decoder (`spans.decode`) gives for an item: the
probability of its best tag sequence and every token's tag marginals, both from the forward
algorithm over the scores the Viterbi search maximises. As with single labels (`strategies`),
1.0 means a blind guess and 0.0 certainty, whatever the length of the text or the number of
labels; a text without tokens has nothing to tag and scores 0.0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = [
    "DEFAULT_SPAN_STRATEGY",
    "SPAN_STRATEGIES",
    "span_uncertainty",
    "valid_sequences",
]

SPAN_STRATEGIES: tuple[str, ...] = (
    "least_confidence",
    "token_entropy",
    "total_token_entropy",
    "min_margin",
    "random",
)

# Chosen by bench/spans.py (BENCHMARKS.md, "Spans"): as a project runs it (20 random labels
# first, then 20% exploration), least confidence matched random's 200-label F1 after 63 to 70
# labels on each of the three generated domains, 397 labels saved over them; the noisy-or of
# token entropies tied (392), the smallest margin saved 326 and the mean token entropy 195:
# averaging over a text's tokens lets its many sure ones hide the few that are not.
DEFAULT_SPAN_STRATEGY = "least_confidence"

# Beyond this length 1 / (number of valid sequences) is below 1e-30: it no longer changes a
# float's scale, and the exact count (a big integer) is not worth its cost.
_COUNTED_UP_TO = 64


def valid_sequences(length: int, labels: int) -> int:
    """How many BIO tag sequences of ``length`` tokens are valid with ``labels`` labels.

    A sequence is valid when every ``I-X`` follows a ``B-X`` or an ``I-X``.

    Examples
    --------
    >>> valid_sequences(1, 2)  # O, B-a, B-b
    3
    >>> valid_sequences(2, 1)  # OO, OB, BO, BB, BI
    5
    >>> valid_sequences(0, 4)
    1
    """
    total, inside = 1, 0  # sequences so far; those ending in an I- tag or B- tag, per label
    begun = 0
    for _ in range(length):
        # Next: O or any B- after anything; I-X after B-X or I-X.
        total, begun, inside = (
            total * (1 + labels),
            total,
            begun + inside,
        )
        total += labels * inside
    return total


def span_uncertainty(
    strategy: str, best_probability: float, marginals: Sequence[Sequence[float]]
) -> float:
    """Score how unsure a tagging is: 0.0 is certain, 1.0 a blind guess.

    Parameters
    ----------
    strategy
        One of `SPAN_STRATEGIES`:

        - ``"least_confidence"``: one minus the probability of the best tag sequence, divided
          by its largest value, ``1 - 1 / n`` for ``n`` valid sequences (every sequence
          equally likely); long texts score higher, as they have more ways to be wrong;
        - ``"token_entropy"``: the mean over tokens of the entropy of each token's tag
          marginals, divided by its maximum, ``log k`` for ``k`` tags;
        - ``"total_token_entropy"``: the tokens' entropies (each divided by ``log k``, so in
          [0, 1]) combined as a noisy-or, ``1 - prod(1 - h)``: like the sum of Settles &
          Craven it grows with every unsure token, so long texts score higher, and it is 1.0
          when any token is a blind guess;
        - ``"min_margin"``: one minus the smallest gap, over tokens, between a token's two
          likeliest tags;
        - ``"random"``: routing picks items at random and ignores the score, which is then the
          default strategy's, so it still means something on a dashboard.
    best_probability
        The probability of the decoded tag sequence, in [0, 1].
    marginals
        One row per token: the probability of each of the ``k`` tags (``O``, then each label's
        ``B-`` and ``I-``); each row sums to 1.

    Returns
    -------
    float
        The score, clamped to [0, 1].

    Raises
    ------
    ValueError
        If the strategy is unknown.

    Examples
    --------
    >>> sure = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    >>> [span_uncertainty(s, 1.0, sure) for s in SPAN_STRATEGIES]
    [0.0, 0.0, 0.0, 0.0, 0.0]
    >>> one_unsure = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]
    >>> span_uncertainty("min_margin", 0.5, one_unsure)
    1.0
    >>> round(span_uncertainty("token_entropy", 0.5, one_unsure), 3)
    0.315
    >>> round(span_uncertainty("least_confidence", 0.5, one_unsure), 3)  # 5 valid sequences
    0.625
    """
    score = _SCORES.get(strategy)
    if score is None:
        raise ValueError(
            f"unknown strategy {strategy!r}; expected one of: {', '.join(SPAN_STRATEGIES)}"
        )
    if not marginals:
        return 0.0
    return _clamp(score(best_probability, marginals))


def _least_confidence(best: float, marginals: Sequence[Sequence[float]]) -> float:
    length = len(marginals)
    if length > _COUNTED_UP_TO:
        return 1.0 - best
    labels = (len(marginals[0]) - 1) // 2
    return (1.0 - best) / (1.0 - 1.0 / valid_sequences(length, labels))


def _entropies(marginals: Sequence[Sequence[float]]) -> list[float]:
    most = math.log(len(marginals[0]))
    return [-math.fsum(p * math.log(p) for p in row if p > 0.0) / most for row in marginals]


def _token_entropy(_best: float, marginals: Sequence[Sequence[float]]) -> float:
    return math.fsum(_entropies(marginals)) / len(marginals)


def _total_token_entropy(_best: float, marginals: Sequence[Sequence[float]]) -> float:
    sure = 1.0
    for entropy in _entropies(marginals):
        sure *= 1.0 - min(1.0, entropy)
    return 1.0 - sure


def _min_margin(_best: float, marginals: Sequence[Sequence[float]]) -> float:
    smallest = 1.0
    for row in marginals:
        first = second = 0.0
        for p in row:
            if p > first:
                first, second = p, first
            elif p > second:
                second = p
        smallest = min(smallest, first - second)
    return 1.0 - smallest


def _clamp(score: float) -> float:
    if score >= 1.0:
        return 1.0
    if score >= 0.0:
        return score
    # A NaN fails both comparisons; a score that cannot be trusted is treated as unsure.
    return 0.0 if score < 0.0 else 1.0


_SCORES: dict[str, Callable[[float, Sequence[Sequence[float]]], float]] = {
    "least_confidence": _least_confidence,
    "token_entropy": _token_entropy,
    "total_token_entropy": _total_token_entropy,
    "min_margin": _min_margin,
}
_SCORES["random"] = _SCORES[DEFAULT_SPAN_STRATEGY]
