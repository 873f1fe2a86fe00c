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

import bisect
import math
import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from streamloop.online.diversity import diversify
from streamloop.online.tasks import AnyModel, AnyPrediction

__all__ = [
    "DEFAULT_REHEARSAL",
    "DEFAULT_WARMUP",
    "Ranking",
    "RoutingPolicy",
    "StreamGate",
    "default_rehearsal",
    "exploration_now",
]

#: Labels drawn at random before uncertainty ranking starts (see BENCHMARKS.md).
DEFAULT_WARMUP = 20
#: Earlier labels re-learned after each new one, for SGD-trained presets (see BENCHMARKS.md);
#: the others count what they learn, and re-learning would only skew their counts.
DEFAULT_REHEARSAL = {"logistic_regression": 3}


#: Exploration while a drift warning lasts: every pick is a random draw, and arrivals are
#: sampled at this share, so the evidence that confirms or clears the warning comes quickly.
WARNING_EXPLORATION = 1.0
#: Exploration (at least) while a confirmed drift is shown: the model meets the new concept
#: across the stream, not only at its old boundary (BENCHMARKS.md, drift).
DRIFT_EXPLORATION = 0.5


def exploration_now(base: float, drift_state: str) -> float:
    """The exploration share to route with, given the model's drift state.

    A project that turned exploration off keeps it off: drift then shows no more than warnings.

    >>> exploration_now(0.2, "none"), exploration_now(0.2, "warning"), exploration_now(0.2, "drift")
    (0.2, 1.0, 0.5)
    >>> exploration_now(0.0, "warning")
    0.0
    """
    if base <= 0.0:
        return base
    if drift_state == "warning":
        return WARNING_EXPLORATION
    if drift_state == "drift":
        return max(base, DRIFT_EXPLORATION)
    return base


class Ranking(NamedTuple):
    """Scores of candidates: ``uncertainty`` to keep, ``priority`` to choose by now."""

    uncertainty: Sequence[float]
    priority: Sequence[float]


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
    #: Weight of the penalty for resembling an item already leased (0: off).
    diversity: float = 0.0

    def explore(self, labelled: int, rng: random.Random, share: float | None = None) -> bool:
        """Whether the next item is drawn at random rather than by uncertainty.

        ``share`` overrides the policy's exploration for this pick (see `exploration_now`).
        """
        if self.strategy == "random" or labelled < self.warmup:
            return True
        share = self.exploration if share is None else share
        return share > 0.0 and rng.random() < share

    def score(
        self,
        model: AnyModel,
        rows: Sequence[Mapping[str, Any]],
        held: Sequence[Mapping[Any, float]] = (),
        predictions: Sequence[AnyPrediction] | None = None,
    ) -> Ranking:
        """Rank candidate items under the model as it is now.

        ``held`` are the features of items leased already, for the diversity penalty. The
        uncertainty is what an item keeps as its score; the guard and the diversity penalty
        only shape this one choice, since they depend on what is leased and labelled now.
        ``predictions``, when given, are the model's own for ``rows`` (made at its current
        version), so they are not made again.
        """
        if predictions is None:
            predictions = model.predict_many(rows)
        priorities = self.priorities(predictions, model.metrics.label_counts())
        if self.diversity > 0.0 and held:
            features = [model.features(row) for row in rows]
            priorities = diversify(priorities, features, held, self.diversity)
        return Ranking([p.uncertainty for p in predictions], priorities)

    def random_counts(self, labelled: int) -> bool:
        """Whether a random pick from the whole pool is a fair sample of the stream.

        True while nothing has been chosen for its uncertainty yet (the warm-up), or when
        nothing ever is (the ``random`` strategy).
        """
        return self.strategy == "random" or labelled < self.warmup

    def priorities(
        self, predictions: Sequence[AnyPrediction], label_counts: Mapping[str, int]
    ) -> list[float]:
        """Rank candidates: their uncertainty, plus the starvation guard when it is on.

        Examples
        --------
        >>> from streamloop.online.model import Prediction
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


class StreamGate:
    """Stream mode: decide at arrival whether an event is worth a label.

    The labelling budget per hour follows the annotators online (``per_annotator_hour`` each,
    at least one annotator's worth, so a queue is ready when someone arrives). The gate admits
    the share of events the budget can label: those whose uncertainty is above the matching
    quantile of recent uncertainties, plus an ``exploration`` share of that budget drawn at
    random, which keeps the unbiased accuracy estimate fed.

    Parameters
    ----------
    per_annotator_hour
        Labels one annotator gives in an hour.
    exploration
        Share of the admitted events drawn at random.
    memory
        How many recent uncertainties the threshold is computed from.

    Examples
    --------
    >>> gate = StreamGate(per_annotator_hour=360, exploration=0.0)
    >>> rng = random.Random(0)
    >>> decisions = [gate.admit(i % 10 / 10, now=i, annotators=1, rng=rng) for i in range(3600)]
    >>> admitted = [routed for routed, _drawn_at_random in decisions]
    >>> # 1 event a second, one annotator labelling 360 an hour: about a tenth get through,
    >>> # the most uncertain ones.
    >>> 0.08 < sum(admitted) / len(admitted) < 0.15
    True
    """

    def __init__(
        self,
        per_annotator_hour: float,
        exploration: float = 0.05,
        memory: int = 200,
        time_constant: float = 120.0,
    ) -> None:
        self.per_annotator_hour = per_annotator_hour
        self.exploration = exploration
        self.time_constant = time_constant
        # Recent uncertainties only: the model improves, and scores from its weaker past
        # would set the bar where little of today's stream reaches it.
        self._recent: deque[float] = deque(maxlen=memory)
        self._sorted: list[float] = []
        self._weight = 0.0  # arrivals, each decaying with time_constant
        self._first: float | None = None
        self._last = 0.0
        self._rate = 0.0  # events per second
        self.threshold = 0.0
        self.share = 1.0

    def admit(
        self,
        uncertainty: float,
        *,
        now: float,
        annotators: int,
        rng: random.Random,
        warming_up: bool = False,
    ) -> tuple[bool, bool]:
        """Whether the event arriving ``now`` (seconds) is routed, and whether by random draw.

        While ``warming_up``, the whole budget goes to random draws: an untrained model's
        uncertainty says nothing yet (after one label it is sure of everything).
        """
        self._observe(uncertainty, now)
        budget = max(1, annotators) * self.per_annotator_hour / 3600.0
        self.share = 1.0 if self._rate <= 0.0 else min(1.0, budget / self._rate)
        if self.share >= 1.0:
            self.threshold = 0.0
            return True, warming_up or rng.random() < self.exploration
        if rng.random() < (1.0 if warming_up else self.exploration) * self.share:
            return True, True
        if warming_up:
            return False, False
        uncertain_share = self.share * (1.0 - self.exploration)
        ranked = self._sorted
        rank = min(len(ranked) - 1, int(len(ranked) * (1.0 - uncertain_share)))
        self.threshold = ranked[rank]
        if uncertainty != self.threshold:
            return uncertainty > self.threshold, False
        # Ties at the threshold (an untrained model finds everything equally uncertain) are
        # admitted at random, in the proportion that keeps the budget.
        above = len(ranked) - bisect.bisect_right(ranked, uncertainty)
        tied = len(ranked) - above - bisect.bisect_left(ranked, uncertainty)
        wanted = uncertain_share * len(ranked) - above
        return rng.random() < wanted / tied, False

    def report(self, annotators: int) -> dict[str, float]:
        return {
            "arrivals_per_hour": self._rate * 3600.0,
            "budget_per_hour": max(1, annotators) * self.per_annotator_hour,
            "admitted_share": self.share,
            "threshold": self.threshold,
        }

    def _observe(self, uncertainty: float, now: float) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._sorted.pop(bisect.bisect_left(self._sorted, self._recent[0]))
        self._recent.append(uncertainty)
        bisect.insort(self._sorted, uncertainty)
        # Arrivals decay exponentially with time, so the rate follows the stream: a burst
        # raises it at once (each event counts as it comes), an idle spell lets it fall.
        if self._first is None:
            self._first = now
        self._weight = self._weight * math.exp(-max(0.0, now - self._last) / self.time_constant)
        self._weight += 1.0
        self._last = now
        observed = min(self.time_constant, max(1.0, now - self._first))
        self._rate = self._weight / observed
