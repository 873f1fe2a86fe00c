"""The journal: writes nobody waits for, batched into one transaction at a time.

Lease history and shed items are worth keeping but not worth an fsync each, nor worth making
an annotator wait: they are queued here and written together shortly after. The queue is
bounded; when the store falls that far behind, the oldest entries are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import datetime

from streamloop.errors import NotReady
from streamloop.store.records import ItemsShed, JournalEntry, LeaseEnded, LeaseStarted
from streamloop.store.repository import Store
from streamloop.store.tables import utcnow

__all__ = ["Journal"]

log = logging.getLogger(__name__)


class Journal:
    """Batches background writes to the store."""

    def __init__(self, store: Store, *, capacity: int = 100_000, interval: float = 0.2) -> None:
        self.store = store
        self.capacity = capacity
        self.interval = interval
        #: Entries dropped, oldest first, because the store fell too far behind.
        self.dropped = 0
        self._entries: deque[JournalEntry] = deque()
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="journal")

    def lease_started(
        self, lease_id: str, project_id: int, item_id: int, annotator: str, expires_at: datetime
    ) -> None:
        self._add(LeaseStarted(lease_id, project_id, item_id, annotator, utcnow(), expires_at))

    def lease_ended(self, lease_id: str, outcome: str) -> None:
        self._add(LeaseEnded(lease_id, outcome, utcnow()))

    def items_shed(self, item_ids: list[int]) -> None:
        self._add(ItemsShed(tuple(item_ids)))

    async def flush(self) -> None:
        """Write everything queued so far, including a batch being written right now."""
        async with self._writing:
            while self._entries:
                batch = list(self._entries)
                self._entries.clear()
                try:
                    await self.store.run(self.store.apply_journal, batch)
                except NotReady:
                    # Keep the batch for the next try (the database locked or full for now),
                    # within the journal's bound: the oldest entries go first. Any other
                    # failure would fail again: that batch is dropped (and logged).
                    self._entries.extendleft(reversed(batch))
                    while len(self._entries) > self.capacity:
                        self._entries.popleft()
                        self.dropped += 1
                    raise

    async def close(self) -> None:
        if self._task is not None:
            # Not in the middle of a write: cancelled there, a batch still waiting for the
            # store's thread (behind a snapshot, say) would be cancelled with it, and lost.
            async with self._writing:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    def _add(self, entry: JournalEntry) -> None:
        if len(self._entries) >= self.capacity:
            self._entries.popleft()
            self.dropped += 1
        self._entries.append(entry)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # history is best effort; the loop must go on
                log.exception("writing the journal failed")
            # Gather what arrives meanwhile into the next transaction: one fsync per interval.
            await asyncio.sleep(self.interval)
