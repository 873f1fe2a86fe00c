"""Routing policy: which waiting item an annotator should label next.

Pure decisions, no I/O, shared by the service and the label-efficiency benchmark, so what the
benchmark measures is what the service does.

Three findings shape it (see BENCHMARKS.md): uncertainty sampling from an untrained model picks
noise, so the first labels are drawn at random (a warm-up); a share of random draws afterwards
keeps the model from starving whole regions of the data, and gives an unbiased sample to
estimate accuracy on; and the ranking must use the model as it is now, so candidates are
re-scored at lease time.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streamloop.online.model import Prediction

__all__ = ["DEFAULT_REHEARSAL", "DEFAULT_WARMUP", "RoutingPolicy", "default_rehearsal"]

#: Labels drawn at random before uncertainty ranking starts (see BENCHMARKS.md).
DEFAULT_WARMUP = 20
#: Earlier labels re-learned after each new one, for SGD-trained presets (see BENCHMARKS.md);
#: the others count what they learn, and re-learning would only skew their counts.
DEFAULT_REHEARSAL = {"logistic_regression": 3}


def default_rehearsal(preset: str) -> int:
    """How many earlier labels a preset re-learns after each new one, by default.

    >>> default_rehearsal("logistic_regression"), default_rehearsal("hoeffding_tree")
    (3, 0)
    """
    return DEFAULT_REHEARSAL.get(preset, 0)


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """How items are chosen for annotators.

    Parameters
    ----------
    strategy
        The project's uncertainty strategy; ``"random"`` draws every item at random.
    exploration
        Share of items drawn at random once the warm-up is over.
    warmup
        Labels drawn at random before uncertainty ranking starts.
    starvation_boost
        Extra priority for items the model gives to labels it has seen least, in proportion to
        how far behind their share those labels are; 0 turns the guard off.

    Examples
    --------
    >>> policy = RoutingPolicy("margin", exploration=0.0, warmup=20)
    >>> policy.explore(labelled=5, rng=random.Random(0)), policy.explore(30, random.Random(0))
    (True, False)
    """

    strategy: str
    exploration: float = 0.0
    warmup: int = 0
    starvation_boost: float = 0.0

    def explore(self, labelled: int, rng: random.Random) -> bool:
        """Whether the next item is drawn at random rather than by uncertainty."""
        if self.strategy == "random" or labelled < self.warmup:
            return True
        return self.exploration > 0.0 and rng.random() < self.exploration

    def priorities(
        self, predictions: Sequence[Prediction], label_counts: Mapping[str, int]
    ) -> list[float]:
        """Rank candidates: their uncertainty, plus the starvation guard when it is on.

        Examples
        --------
        >>> p = Prediction("a", {"a": 0.6, "b": 0.4}, 0.8, 3)
        >>> RoutingPolicy("margin").priorities([p], {"a": 3, "b": 0})
        [0.8]
        >>> guarded = RoutingPolicy("margin", starvation_boost=1.0)
        >>> [round(x, 6) for x in guarded.priorities([p], {"a": 3, "b": 0})]
        [1.2]
        """
        scores = [p.uncertainty for p in predictions]
        if self.starvation_boost <= 0.0 or not label_counts:
            return scores
        total = sum(label_counts.values())
        if total == 0:
            return scores
        fair = total / len(label_counts)
        # How far each label is behind an equal share, in [0, 1]: 1 for a label never seen.
        deficit = {label: max(0.0, (fair - count) / fair) for label, count in label_counts.items()}
        return [
            score
            + self.starvation_boost
            * sum(p.probabilities.get(label, 0.0) * gap for label, gap in deficit.items())
            for score, p in zip(scores, predictions, strict=True)
        ]
