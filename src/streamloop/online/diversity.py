"""Diversity across concurrent leases: do not hand several annotators the same kind of item.

The most uncertain items are often near-duplicates (the same template, the same corner of the
feature space); labelling several of them at once teaches the model little more than one. Each
candidate's priority is lowered by its cosine similarity, in the model's own feature space, to
the most similar item already leased.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

__all__ = ["cosine", "diversify"]

Features = Mapping[Hashable, float]


def cosine(a: Features, b: Features) -> float:
    """Cosine similarity of two sparse vectors; 0 when either is all zeros.

    >>> cosine({"x": 1.0, "y": 1.0}, {"x": 2.0, "y": 2.0})
    1.0
    >>> cosine({"x": 1.0}, {"y": 1.0})
    0.0
    """
    if len(a) > len(b):
        a, b = b, a
    dot = math.fsum(value * b.get(key, 0.0) for key, value in a.items())
    norm = math.sqrt(math.fsum(v * v for v in a.values()) * math.fsum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def diversify(
    priorities: Sequence[float],
    candidates: Sequence[Features],
    held: Sequence[Features],
    weight: float,
) -> list[float]:
    """Lower each priority by ``weight`` times its similarity to the closest held item.

    >>> diversify([0.9, 0.8], [{"x": 1.0}, {"y": 1.0}], held=[{"x": 1.0}], weight=0.5)
    [0.4, 0.8]
    """
    if weight <= 0.0 or not held:
        return list(priorities)
    return [
        priority - weight * max(0.0, max(cosine(features, other) for other in held))
        for priority, features in zip(priorities, candidates, strict=True)
    ]
