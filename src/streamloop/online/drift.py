"""Drift: a warning from every label, confirmed on random draws.

A loop gets few fair labels (at 20% exploration, about 20 in 100), and River's detectors on
those alone stay silent for hundreds of labels after an abrupt change (BENCHMARKS.md). Routed
labels are most of what it gets, so the warning listens to all of them: River's Page-Hinkley
test on each label's *surprise*, the model's confidence when its prediction was wrong (about 0
when it was right). That test fires soon after a change, but also now and then on a stream
that does not change, where routed items' surprise creeps as the model learns. So a warning
only asks the loop for evidence: it explores more, and samples arrivals at that share, so
fresh random draws come in quickly. The drift is confirmed when the draws since the warning
are wrong more often than the draws before it (a one-sided Fisher exact test); otherwise the
warning lapses. Everything here is a function of the labels in their order, so a replay from
the store reaches the same state.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from river.drift import PageHinkley

__all__ = ["DRIFT_STATES", "DriftMonitor"]

#: The states `DriftMonitor.state` takes.
DRIFT_STATES = ("none", "warning", "drift")


def more_errors(recent: list[bool], reference: list[bool]) -> float:
    """One-sided p-value that ``recent`` holds a larger share of errors than ``reference``.

    >>> round(more_errors([True] * 6 + [False] * 14, [True] * 2 + [False] * 38), 4)
    0.0131
    >>> more_errors([False] * 20, [True] * 10 + [False] * 30)
    1.0
    """
    # River and scipy take about a second to import: only a model's monitor needs them, not
    # the service that reports its states.
    from scipy.stats import fisher_exact

    a, b = sum(recent), sum(reference)
    table = [[a, len(recent) - a], [b, len(reference) - b]]
    return float(fisher_exact(table, alternative="greater").pvalue)


class DriftMonitor:
    """The drift state of a project: ``"none"``, ``"warning"`` or ``"drift"``.

    Parameters
    ----------
    threshold
        Page-Hinkley's threshold on the summed excess surprise that raises a warning.
    reference
        Random draws before a warning that its draws are compared with.
    confirm_after
        Random draws since the warning before the drift can be confirmed.
    drift_p
        The p-value below which the draws since the warning confirm a drift.
    patience
        Labels a warning lasts without a confirmation.
    hold
        Labels a confirmed drift is shown (and answered) for.
    min_labels
        No warning before this many labels: a young model's errors say nothing of drift.

    Examples
    --------
    >>> monitor = DriftMonitor()
    >>> for n in range(1, 301):  # sure, and right nine times in ten; every other label drawn
    ...     change = monitor.update(n, hit=n % 10 != 0, confidence=0.9, drawn_at_random=n % 2 == 0)
    >>> monitor.report()["state"]
    'none'
    >>> for n in range(301, 451):  # then sure and wrong every other time, all drawn
    ...     change = monitor.update(n, hit=n % 2 == 0, confidence=0.9, drawn_at_random=True)
    ...     if change:
    ...         print(n, change)
    303 warning
    325 drift
    425 none
    """

    def __init__(
        self,
        *,
        threshold: float = 2.0,
        reference: int = 40,
        confirm_after: int = 20,
        drift_p: float = 0.05,
        patience: int = 60,
        hold: int = 100,
        min_labels: int = 40,
    ) -> None:
        self.threshold = threshold
        self.reference = reference
        self.confirm_after = confirm_after
        self.drift_p = drift_p
        self.patience = patience
        self.hold = hold
        self.min_labels = min_labels
        self._test = self._new_test()
        self._draws: deque[bool] = deque(maxlen=reference + 4 * confirm_after)
        self._since: list[bool] = []  # errors of the draws since the warning began
        self._before: list[bool] = []  # and of the draws before it
        self.state = "none"
        self.changed_at = 0
        self.warnings_total = 0
        self.drifts_total = 0
        #: Labels at which each drift was confirmed (the latest 50).
        self.drifts: deque[int] = deque(maxlen=50)

    def _new_test(self) -> PageHinkley:
        from river.drift import PageHinkley

        return PageHinkley(min_instances=10, delta=0.01, threshold=self.threshold, mode="up")

    def update(
        self, labels: int, *, hit: bool, confidence: float, drawn_at_random: bool
    ) -> str | None:
        """Count the ``labels``-th label's test; returns the new state when it changes."""
        if labels < self.min_labels:
            return None
        if drawn_at_random:
            # The reference keeps to draws from before any warning: those during one may show
            # the change it is testing for, even when it lapses unconfirmed.
            (self._since if self.state == "warning" else self._draws).append(not hit)
        self._test.update(confidence - float(hit))  # type: ignore[no-untyped-call]
        if self.state == "warning":
            if (
                len(self._since) >= self.confirm_after
                and more_errors(self._since, self._before) < self.drift_p
            ):
                self.drifts_total += 1
                self.drifts.append(labels)
                # Later warnings compare with draws from after the drift only.
                self._draws.clear()
                self._draws.extend(self._since)
                return self._set("drift", labels)
            if labels - self.changed_at >= self.patience:
                return self._set("none", labels)
            return None
        if self.state == "drift":
            # While a drift is shown the loop explores more already: no warning on top.
            return self._set("none", labels) if labels - self.changed_at >= self.hold else None
        if self._test.drift_detected and len(self._draws) >= self.reference // 2:
            self._before = list(self._draws)[-self.reference :]
            self._since = []
            self.warnings_total += 1
            return self._set("warning", labels)
        return None

    def _set(self, state: str, labels: int) -> str:
        self.state, self.changed_at = state, labels
        self._test = self._new_test()
        return state

    def report(self) -> dict[str, Any]:
        """``state``, ``changed_at`` (labels when it last changed), the counts and drifts."""
        return {
            "state": self.state,
            "changed_at": self.changed_at,
            "warnings_total": self.warnings_total,
            "drifts_total": self.drifts_total,
            "drifts": list(self.drifts),
            "evidence": {
                "draws_since_warning": len(self._since) if self.state == "warning" else 0,
                "needed": self.confirm_after,
            },
        }
