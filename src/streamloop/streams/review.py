"""The review desk: items whose annotators disagreed, or that a supervisor flagged, waiting for
a reviewer to settle what the model learns from them.

A reviewer's connection holds one item at a time under an exclusive lease, as an annotator's
does; a lease that ends unanswered returns the item to the desk, a skip returns it and it is not
offered to that reviewer again. An item stays in the desk until a reviewer's outcome for it is
stored, so none is lost between the queue, the overlap pool and the desk.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from streamloop.store import ReviewRecord
from streamloop.streams.notices import Idle, LeaseExpired, ReviewOffered

__all__ = ["ReviewDesk", "ReviewNotice", "ReviewSession"]

ReviewNotice = ReviewOffered | Idle | LeaseExpired


@dataclass(slots=True, eq=False)
class ReviewSession:
    """One reviewer's connection; ``send`` must not block."""

    reviewer: str
    send: Callable[[ReviewNotice], None]
    holder: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: The item it holds now, if any.
    held: ReviewRecord | None = None
    idle_sent: bool = False
    #: A lease ran out unanswered: nothing more is offered until the reviewer is back.
    stalled: bool = False


@dataclass(slots=True)
class _Desk:
    record: ReviewRecord
    holder: str | None = None
    skipped_by: set[str] = field(default_factory=set)


class ReviewDesk:
    """Items waiting for review, oldest first, and the reviewers' leases on them."""

    def __init__(self, lease_seconds: float, *, changed: Callable[[], None]) -> None:
        self.lease_seconds = lease_seconds
        self._changed = changed
        self._items: dict[int, _Desk] = {}
        # Items sent to review whose labels are still being read from the store.
        self._coming: set[int] = set()
        # Items settled here, in order: a store read begun before one was settled must not
        # bring it back (`mark`, `resync`).
        self._settled: deque[int] = deque(maxlen=1000)
        self._settled_total = 0
        self._sessions: dict[str, ReviewSession] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._items) + len(self._coming)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items or item_id in self._coming

    def coming(self, item_id: int) -> None:
        """An item was sent to review; its record follows (`add`), or it is `dropped`."""
        self._coming.add(item_id)
        self._changed()

    def dropped(self, item_id: int) -> None:
        self._coming.discard(item_id)

    @property
    def leased(self) -> int:
        return sum(1 for desk in self._items.values() if desk.holder is not None)

    def reviewers(self) -> set[str]:
        return {s.reviewer for s in self._sessions.values()}

    def add(self, records: Sequence[ReviewRecord]) -> None:
        """Items to review (again: their competing labels are brought up to date)."""
        for record in records:
            self._coming.discard(record.item_id)
            desk = self._items.get(record.item_id)
            if desk is None:
                self._items[record.item_id] = _Desk(record)
            else:
                desk.record = record
        self._serve()
        self._changed()

    def item_ids(self) -> set[int]:
        return set(self._items)

    def mark(self) -> int:
        """Where the settled items stand, before a store read (`resync`)."""
        return self._settled_total

    def resync(self, stored: Sequence[ReviewRecord], known: set[int], mark: int) -> None:
        """The items the shared store says are in review: new ones come in; those of
        ``known`` (here before the store was read) settled elsewhere, held by nobody here,
        leave."""
        found = {record.item_id for record in stored}
        for item_id in known - found:
            desk = self._items.get(item_id)
            if desk is not None and desk.holder is None:
                del self._items[item_id]
        since = self._settled_total - mark
        settled = set(list(self._settled)[-since:]) if since else set()
        self.add(
            [
                record
                for record in stored
                if record.item_id not in self._items and record.item_id not in settled
            ]
        )

    def join(self, session: ReviewSession) -> None:
        self._sessions[session.holder] = session
        self._fill(session)
        self._changed()

    def leave(self, session: ReviewSession) -> None:
        self._sessions.pop(session.holder, None)
        if session.held is not None:
            self._release(session.held.item_id)
            session.held = None
            self._serve()
        self._changed()

    def touch(self, session: ReviewSession) -> None:
        """The reviewer is active again: offer them items again."""
        if session.stalled:
            session.stalled = False
            self._fill(session)

    def holding(self, session: ReviewSession, event_id: str) -> ReviewRecord | None:
        held = session.held
        return held if held is not None and held.event_id == event_id else None

    def find(self, event_id: str) -> ReviewRecord | None:
        for desk in self._items.values():
            if desk.record.event_id == event_id:
                return desk.record
        return None

    def holder_of(self, item_id: int) -> str | None:
        desk = self._items.get(item_id)
        return None if desk is None else desk.holder

    def skip(self, session: ReviewSession, item_id: int) -> None:
        desk = self._items.get(item_id)
        if desk is not None:
            desk.skipped_by.add(session.reviewer)
        self._release(item_id)
        session.held = None
        self._fill(session)
        self._serve()

    def settle(self, item_id: int) -> None:
        """A reviewer's outcome for the item is stored: it leaves the desk."""
        desk = self._items.pop(item_id, None)
        self._coming.discard(item_id)
        self._settled.append(item_id)
        self._settled_total += 1
        self._cancel_timer(item_id)
        if desk is not None and desk.holder is not None:
            session = self._sessions.get(desk.holder)
            if session is not None:
                session.held = None  # its next item follows the ack (see `fill`)
        self._changed()

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._sessions.clear()

    def report(self) -> dict[str, Any]:
        return {"waiting": len(self), "leased": self.leased}

    # -- internals --------------------------------------------------------------------------

    def _serve(self) -> None:
        for session in list(self._sessions.values()):
            if session.held is None:
                self._fill(session)

    def fill(self, session: ReviewSession) -> None:
        """Offer the session an item if it holds none (the socket calls it after a reply)."""
        self._fill(session)

    def _fill(self, session: ReviewSession) -> None:
        if session.holder not in self._sessions or session.held is not None or session.stalled:
            return
        for item_id, desk in self._items.items():
            if desk.holder is None and session.reviewer not in desk.skipped_by:
                desk.holder = session.holder
                session.held = desk.record
                session.idle_sent = False
                loop = asyncio.get_running_loop()
                self._timers[item_id] = loop.call_later(self.lease_seconds, self._expire, item_id)
                expires = datetime.now(UTC) + timedelta(seconds=self.lease_seconds)
                session.send(ReviewOffered(desk.record, expires))
                return
        if not session.idle_sent:
            session.idle_sent = True
            session.send(Idle())

    def _release(self, item_id: int) -> None:
        self._cancel_timer(item_id)
        desk = self._items.get(item_id)
        if desk is not None:
            desk.holder = None

    def _expire(self, item_id: int) -> None:
        self._timers.pop(item_id, None)
        desk = self._items.get(item_id)
        if desk is None or desk.holder is None:
            return
        session = self._sessions.get(desk.holder)
        desk.holder = None
        if session is not None:
            session.held = None
            session.stalled = True
            session.send(LeaseExpired(desk.record.event_id))
        self._serve()
        self._changed()

    def _cancel_timer(self, item_id: int) -> None:
        timer = self._timers.pop(item_id, None)
        if timer is not None:
            timer.cancel()
