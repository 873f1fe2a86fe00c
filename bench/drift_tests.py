"""A two-stage drift test on the errors of random draws, for ``bench/estimate_study.py``.

Why not River's detectors alone: at 20% exploration a loop gets about 20 fair labels per 100,
and ADWIN, DDM and HDDM need far more than that to see an error rate go from 0.1 to 0.25 (they
stay silent for hundreds of labels). So the test is split, as the issue's ``"warning"`` state
allows: a loose test raises a *warning*, which only buys more random draws (more exploration,
cheap if it was a false warning); a strict test on the draws gathered since then confirms the
*drift*, or the warning lapses.

(The service's `streamloop.online.drift.DriftMonitor` grew out of this: it takes its warning
from every label instead.) Both stages are one-sided Fisher exact tests of "recent draws are
wrong more often than the draws before them": the reference is the draws just before the
warning window, which under a model that is still learning are if anything *worse*, so
learning never raises an alarm.
"""

from __future__ import annotations

from streamloop.online.drift import more_errors


class WarnConfirm:
    """State ``"none"`` -> ``"warning"`` -> ``"drift"`` from a stream of errors on random draws.

    Parameters
    ----------
    window, reference
        A warning compares the last ``window`` draws with the ``reference`` draws before them.
    warn_p, drift_p
        p-values below which the warning and the drift are declared.
    confirm_after
        Draws since the warning began (its window included) before a drift can be confirmed.
    patience
        Labels a warning lasts without confirmation before it lapses.
    min_labels
        No test before this many labels (the warm-up's errors say nothing of drift).
    """

    def __init__(
        self,
        window: int = 8,
        reference: int = 32,
        warn_p: float = 0.15,
        drift_p: float = 0.02,
        confirm_after: int = 16,
        patience: int = 40,
        min_labels: int = 40,
    ) -> None:
        self.window, self.reference = window, reference
        self.warn_p, self.drift_p = warn_p, drift_p
        self.confirm_after, self.patience, self.min_labels = confirm_after, patience, min_labels
        self.state = "none"
        self.changed_at = 0
        self._errors: list[bool] = []
        self._start = 0  # index of the first draw of the warning window
        self._ref: list[bool] = []

    def update(self, labelled: int, error: bool) -> str | None:
        """Count one random draw; returns the new state when it changes."""
        self._errors.append(error)
        if labelled < self.min_labels:
            return None
        if self.state == "warning":
            since = self._errors[self._start :]
            if len(since) >= self.confirm_after and more_errors(since, self._ref) < self.drift_p:
                # The drift: later tests compare draws from after it only.
                self._errors = self._errors[self._start :]
                return self._set("drift", labelled)
            if labelled - self.changed_at > self.patience:
                return self._set("none", labelled)
            return None
        if self.state == "drift" and labelled - self.changed_at > self.patience:
            self._set("none", labelled)  # quietly: the drift stays the last change shown
        n = len(self._errors)
        if n < self.window + self.reference:
            return None
        recent = self._errors[n - self.window :]
        before = self._errors[n - self.window - self.reference : n - self.window]
        if self.state == "none" and more_errors(recent, before) < self.warn_p:
            self._start, self._ref = n - self.window, before
            return self._set("warning", labelled)
        return None

    def _set(self, state: str, labelled: int) -> str:
        self.state, self.changed_at = state, labelled
        return state
