"""Overlapped items: learned from their first label, then offered to more annotators, each to
label it independently; and the draw that says which items are overlapped.

An overlapped item leaves the routing queue with its first label (the model learns it at once,
so the loop stays fast) and waits here for the other annotators' labels, which are recorded and
not learned. It is offered before anything in the queue, so the share of overlapped items is
labelled soon, and never to an annotator who labelled or skipped it. One annotator holds it at a
time, as any item; nobody is told an item is overlapped or sees another's label.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from streamloop.online import AnyPrediction
from streamloop.store import ProjectRecord
from streamloop.streams.queue import QueuedItem

__all__ = ["OverlapPool", "Waiting", "wanted"]

#: How many items that left the pool are remembered (see `OverlapPool.done`).
_DONE_KEPT = 1000


def wanted(record: ProjectRecord, item_id: int) -> int:
    """How many annotators are to label this item: ``overlap.annotators`` for a share
    ``overlap.share`` of items, drawn from the project's seed and the item, else 1.

    The same item always draws the same, in any process and after any restart.
    """
    overlap = record.overlap
    if not overlap:
        return 1
    digest = hashlib.blake2b(f"{record.seed}:overlap:{item_id}".encode(), digest_size=8).digest()
    draw = int.from_bytes(digest, "big") / 2**64
    return int(overlap["annotators"]) if draw < float(overlap["share"]) else 1


@dataclass(slots=True)
class Waiting:
    """An overlapped item waiting for more labels."""

    item: QueuedItem
    wanted: int
    #: The annotators who labelled it, or skipped it: never offered to them (again).
    seen_by: set[str] = field(default_factory=set)
    #: The session holding it now, if one does.
    holder: str | None = None
    #: What the model predicted before it learned the first label: what the others are shown.
    prediction: AnyPrediction | None = None


class OverlapPool:
    """Items learned once and waiting for other annotators' labels, oldest first."""

    def __init__(self) -> None:
        self._items: dict[int, Waiting] = {}
        #: The latest items that left the pool done: a store read older than their last label
        #: (another process's resync) must not bring them back.
        self.done: deque[int] = deque(maxlen=_DONE_KEPT)
        self.done_total = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def get(self, item_id: int) -> Waiting | None:
        return self._items.get(item_id)

    def add(
        self,
        item: QueuedItem,
        wanted: int,
        seen_by: Iterable[str],
        prediction: AnyPrediction | None = None,
    ) -> None:
        if item.item_id not in self._items:
            self._items[item.item_id] = Waiting(item, wanted, set(seen_by), None, prediction)

    def pick(self, annotator: str) -> Waiting | None:
        """The oldest item nobody holds that ``annotator`` has not labelled or skipped."""
        for waiting in self._items.values():
            if waiting.holder is None and annotator not in waiting.seen_by:
                return waiting
        return None

    def seen(self, item_id: int, annotator: str) -> None:
        """``annotator`` labelled or skipped it: never offered to them again."""
        waiting = self._items.get(item_id)
        if waiting is not None:
            waiting.seen_by.add(annotator)

    def free(self, item_id: int) -> None:
        """Its lease ended without a label: another annotator may have it."""
        waiting = self._items.get(item_id)
        if waiting is not None:
            waiting.holder = None

    def remove(self, item_id: int) -> Waiting | None:
        waiting = self._items.pop(item_id, None)
        if waiting is not None:
            self.done.append(item_id)
            self.done_total += 1
        return waiting

    def done_since(self, mark: int) -> set[int]:
        """The items that left the pool since ``mark`` (an earlier ``done_total``)."""
        since = self.done_total - mark
        return set(list(self.done)[-since:]) if since else set()

    def event_ids(self) -> dict[str, int]:
        return {w.item.event_id: item_id for item_id, w in self._items.items()}
