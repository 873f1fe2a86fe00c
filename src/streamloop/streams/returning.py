"""Items an annotator held when their connection closed, offered to them first when they come
back before those leases would have ended (a reload, a dropped network).

Nothing is reserved meanwhile: the items return to the queue at once, as any abandoned lease's
do, and go to whoever asks next. The annotator gets back those still waiting, so that coming
back shows the item they were reading rather than another one.
"""

from __future__ import annotations

from collections.abc import Iterable

from streamloop.streams.queue import Lease

__all__ = ["Returning"]


class Returning:
    """What each annotator held as their connection closed, until it would have expired."""

    def __init__(self) -> None:
        self._held: dict[str, dict[int, Lease]] = {}

    def left(self, annotator: str, leases: Iterable[Lease], now: float) -> None:
        """``annotator``'s connection closed holding ``leases`` (on the loop's clock ``now``).
        Leases already past their end are forgotten, whoever held them: this stays bounded by
        the leases in force."""
        kept = self._held.setdefault(annotator, {})
        for lease in leases:
            kept[lease.item.item_id] = lease
        for name in list(self._held):
            alive = {i: lease for i, lease in self._held[name].items() if lease.expires_at > now}
            if alive:
                self._held[name] = alive
            else:
                del self._held[name]

    def next(self, annotator: str, now: float) -> Lease | None:
        """The oldest lease ``annotator`` left that has not ended by ``now``, taken out."""
        kept = self._held.get(annotator)
        while kept:
            item_id = next(iter(kept))
            lease = kept.pop(item_id)
            if not kept:
                del self._held[annotator]
            if lease.expires_at > now:
                return lease
        return None

    def forget_gold(self, annotator: str, gold_id: int) -> None:
        """``annotator`` answered a gold item from elsewhere: not offered to them again."""
        kept = self._held.get(annotator, {})
        for item_id, lease in list(kept.items()):
            if lease.gold is not None and lease.gold.id == gold_id:
                del kept[item_id]
