"""Tag transitions counted online, and decoding: the best valid BIO sequence and its odds.

Tag bigram counts, smoothed, give transition scores: how much likelier a tag is after the one
before than overall (`Transitions`). A constrained Viterbi search finds the best tag sequence
that is valid BIO, and the forward-backward algorithm over the same scores gives that
sequence's probability and each token's tag marginals (`decode`, `decode_many`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from streamloop.online.compiled import kernels
from streamloop.online.tokens import OUTSIDE

__all__ = ["SMOOTHING", "Decoded", "Transitions", "decode", "decode_many"]

#: Add-k smoothing of the tag bigram counts.
SMOOTHING = 1.0


class Transitions:
    """Tag bigram counts, and the transition scores they give.

    Rows are the previous tag, with a start row first; columns the next tag, with an end
    column last. A transition BIO forbids (``I-X`` after anything but ``B-X`` or ``I-X``, or
    first) scores 0; the allowed ones share add-`SMOOTHING` counts.

    Examples
    --------
    >>> from streamloop.online.tokens import tag_set
    >>> transitions = Transitions(tag_set(["PER"]))  # O, B-PER, I-PER
    >>> transitions.count([1, 2, 0])  # B-PER I-PER O
    >>> start, _, _ = transitions.probabilities()
    >>> [round(p, 3) for p in start]  # from the start: O, B-PER (seen once), never I-PER
    [0.25, 0.5, 0.0]
    """

    def __init__(self, tags: Sequence[str]) -> None:
        size = len(tags)
        self._allowed = [
            [_allowed(before, after) for after in tags] + [True] for before in (None, *tags)
        ]
        self._counts = [[0] * (size + 1) for _ in range(size + 1)]

    def count(self, path: Sequence[int]) -> None:
        """Count the bigrams of a tag sequence (tag indices), from the start to the end."""
        end = len(self._counts) - 1
        previous = 0  # the start row
        for tag in path:
            self._counts[previous][tag] += 1
            previous = tag + 1
        self._counts[previous][end] += 1

    def probabilities(self) -> tuple[list[float], list[list[float]], list[float]]:
        """``(start, matrix, end)``: P(first tag), P(tag | previous tag), P(end | last tag)."""
        rows = []
        for counts, allowed in zip(self._counts, self._allowed, strict=True):
            total = sum(c + SMOOTHING for c, ok in zip(counts, allowed, strict=True) if ok)
            rows.append(
                [
                    (c + SMOOTHING) / total if ok else 0.0
                    for c, ok in zip(counts, allowed, strict=True)
                ]
            )
        return rows[0][:-1], [row[:-1] for row in rows[1:]], [row[-1] for row in rows[1:]]

    def scores(
        self, weight: float, *, relative: bool = True
    ) -> tuple[list[float], list[list[float]], list[float]]:
        """`probabilities` as `decode` multiplies them in: each P(tag | previous tag) divided by
            P(tag) when ``relative``, then raised to ``weight`` (0: BIO's constraints alone).

            The token classifiers' probabilities already hold how common each tag is; dividing
            by P(tag) leaves what the previous tag adds to that, so it is not counted twice.

            >>> from streamloop.online.tokens import tag_set
        >>> transitions = Transitions(tag_set(["PER"]))
            >>> transitions.count([1, 2, 0])
            >>> start, matrix, end = transitions.scores(1.0)
            >>> [round(s, 3) for s in start]  # P(O) = P(B-PER) = P(I-PER) = 1/3, smoothed
            [0.75, 1.5, 0.0]
        """
        start, matrix, end = self.probabilities()
        if relative:
            tags = len(start)
            seen = [sum(row[j] for row in self._counts) + SMOOTHING for j in range(tags)]
            total = math.fsum(seen)
            prior = [count / total for count in seen]
            start = [p / q for p, q in zip(start, prior, strict=True)]
            matrix = [[p / q for p, q in zip(row, prior, strict=True)] for row in matrix]
        if weight != 1.0:
            start = [p**weight if p else 0.0 for p in start]
            matrix = [[p**weight if p else 0.0 for p in row] for row in matrix]
            end = [p**weight for p in end]
        return start, matrix, end


def _allowed(before: str | None, after: str) -> bool:
    if not after.startswith("I-"):
        return True
    return before is not None and before != OUTSIDE and before[2:] == after[2:]


class Decoded(NamedTuple):
    """What `decode` makes of a lattice."""

    #: The best valid tag sequence, as tag indices.
    path: tuple[int, ...]
    #: Its probability: its score over the sum of every sequence's score.
    probability: float
    #: Per token, each tag's marginal probability (each row sums to 1).
    marginals: list[list[float]]


def decode(first: ArrayLike, steps: ArrayLike, last: ArrayLike) -> Decoded:
    """The best tag sequence of a linear chain, its probability and the tag marginals.

    A sequence ``y`` scores ``first[y0] * steps[0][y0][y1] * ... * last[yn]``; its probability
    is its score over the sum of all sequences' scores (the forward algorithm's total). A zero
    potential rules a transition out: `SpanModel` puts zeros where BIO forbids a tag, so the
    best sequence is always valid BIO. Ties go to the lower tag index.

    Parameters
    ----------
    first
        The first token's potential for each of the ``k`` tags.
    steps
        For each following token, ``steps[t][i][j]``: the potential of tag ``j`` after ``i``
        (an array of shape ``(n - 1, k, k)`` for ``n`` tokens).
    last
        Each tag's potential of ending the sequence.

    Raises
    ------
    ArithmeticError
        If every sequence scores zero.

    Examples
    --------
    >>> decoded = decode([0.6, 0.4], [[[0.9, 0.1], [0.5, 0.5]]], [1.0, 1.0])
    >>> decoded.path, round(decoded.probability, 3)
    ((0, 0), 0.54)
    >>> [[round(p, 2) for p in row] for row in decoded.marginals]
    [[0.6, 0.4], [0.74, 0.26]]
    """
    start = np.asarray(first, dtype=np.float64)
    size = len(start)
    if not size:
        return Decoded((), 1.0, [])
    chain = np.asarray(steps, dtype=np.float64).reshape(-1, size, size)
    return decode_many(start[np.newaxis], chain[np.newaxis], last, [len(chain) + 1])[0]


def decode_many(
    first: ArrayLike, steps: ArrayLike, last: ArrayLike, lengths: Sequence[int]
) -> list[Decoded]:
    """`decode` several chains at once, each the same as alone, to the last bit.

    Parameters
    ----------
    first
        Shape ``(m, k)``: each chain's first potentials.
    steps
        Shape ``(m, n - 1, k, k)`` for the longest chain's ``n`` tokens; a shorter chain's
        steps past its end are not read.
    last
        Shape ``(k,)``, the end potentials of every chain, or ``(m, k)``.
    lengths
        Each chain's number of tokens, at least 1.

    Raises
    ------
    ArithmeticError
        If every sequence of a chain scores zero.

    Examples
    --------
    >>> first = [[0.6, 0.4], [0.2, 0.8]]
    >>> steps = [[[[0.9, 0.1], [0.5, 0.5]]], [[[0.0, 0.0], [0.0, 0.0]]]]
    >>> [d.path for d in decode_many(first, steps, [1.0, 1.0], [2, 1])]
    [(0, 0), (1,)]
    """
    # Arrays of the one layout the compiled passes are loaded for (`kernels.warm`): C order,
    # writable (a read-only array would have them compiled again for it), copied only if not.
    starts = _array(first, np.float64)
    count, size = starts.shape
    sizes = _array(lengths, np.intp)
    if not size or not count or sizes.shape != (count,) or sizes.min() < 1:
        raise ValueError("each chain needs at least one tag and one token, and its length")
    length = int(sizes.max())
    chain = _array(steps, np.float64).reshape(count, length - 1, size, size)
    end = _array(np.broadcast_to(np.asarray(last, dtype=np.float64), (count, size)), np.float64)
    paths = np.zeros((count, length), dtype=np.intp)
    probabilities = np.empty(count)
    marginals = np.zeros((count, length, size))
    # Compiled: a chain's passes are a few loops over its tags (in numpy, a dozen small array
    # calls a token, whose fixed cost was most of a span label's time). Sums are taken in tag
    # order, never by BLAS or in an order numpy picks by shape: the same floats on any CPU.
    failed = kernels().decode_chains(starts, chain, end, sizes, paths, probabilities, marginals)
    if failed >= 0:
        raise ArithmeticError(f"every tag sequence of chain {failed} scores zero")
    return [
        Decoded(
            tuple(paths[n, : sizes[n]].tolist()),
            float(probabilities[n]),
            marginals[n, : sizes[n]].tolist(),
        )
        for n in range(count)
    ]


def _array(values: ArrayLike, dtype: type) -> np.ndarray[Any, Any]:
    return np.require(values, dtype=dtype, requirements=["C", "W"])
