"""How far a project has come, for its metrics: the items labelled against its target, and the
reasons annotators gave for the items they skipped.

Counted from the store when the project opens, then as labels are learned and items skipped
here; with a shared store, read again at each resync for what other processes did (both only
ever grow, so the larger figure is the newer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from streamloop.store import LabelOutcome, SkipRecord, Store

__all__ = ["SKIP_REASONS_SHOWN", "Progress"]

#: Most reasons the metrics list (the most frequent): reasons are free text.
SKIP_REASONS_SHOWN = 50


class Progress:
    """Labelled items and skip reasons of one project."""

    def __init__(self, store: Store, project_id: int, *, changed: Callable[[], None]) -> None:
        self.store = store
        self.project_id = project_id
        self._changed = changed
        #: Items with a stored label (an annotator's, a reviewer's or production's).
        self.labelled = 0
        self.skip_reasons: Counter[str] = Counter()

    async def load(self) -> None:
        """The figures as the store has them (on opening, and at each resync)."""
        store = self.store
        labelled = await store.run(store.labelled_items, self.project_id)
        reasons = await store.run(store.skip_reasons, self.project_id)
        self.labelled = max(self.labelled, labelled)
        for reason, count in reasons.items():
            self.skip_reasons[reason] = max(self.skip_reasons[reason], count)

    def learned(self, outcomes: Sequence[LabelOutcome]) -> None:
        """Labels were stored: each first label of an item labels one more item (a later
        annotator's label of an overlapped item is not learned, a review's outcome or a
        correction labels an item labelled before)."""
        for outcome in outcomes:
            label = outcome.label
            first = outcome.learned and label.corrects is None and label.source != "review"
            stored = outcome.error is None and not outcome.duplicate
            if stored and first and outcome.item_id is not None:
                self.labelled += 1

    async def skipped(self, annotator: str, event_id: str, reason: str | None) -> SkipRecord:
        """Store an annotator's skip and its reason; the reason is counted."""
        skip = await self.store.run(
            self.store.add_skip, self.project_id, event_id, annotator, reason
        )
        if reason is not None:
            self.skip_reasons[reason] += 1
            self._changed()
        return skip

    def report(self, target: int | None) -> dict[str, Any]:
        """``progress`` (``labels``, ``target``) and ``skip_reasons`` for the metrics."""
        return {
            "progress": {"labels": self.labelled, "target": target},
            "skip_reasons": dict(self.skip_reasons.most_common(SKIP_REASONS_SHOWN)),
        }
