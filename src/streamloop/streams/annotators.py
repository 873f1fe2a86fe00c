"""An annotator's seat in a project: who they are, what they hold, how to reach them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from streamloop.streams.notices import Notice
from streamloop.streams.queue import Lease

__all__ = ["AnnotatorSession"]


@dataclass(slots=True, eq=False)
class AnnotatorSession:
    """One annotator connection.

    ``send`` must not block: the transport queues the notice and writes it in its own time.
    ``stalled`` is set when a lease expired unanswered, so an absent annotator is not handed
    item after item; any message from them clears it.
    """

    annotator: str
    prefetch: int
    send: Callable[[Notice], None]
    holder: str = field(default_factory=lambda: uuid.uuid4().hex)
    held: dict[int, Lease] = field(default_factory=dict)
    idle_sent: bool = False
    stalled: bool = False

    def holding(self, event_id: str) -> Lease | None:
        for lease in self.held.values():
            if lease.item.event_id == event_id:
                return lease
        return None
