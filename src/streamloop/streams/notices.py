"""What a project's loop tells the outside: typed domain events, never wire messages.

`streams/` speaks in these; the web layer (`streamloop.ws.frames`) turns them into the
contract's frames and bodies, and the Kafka code (`streamloop.streams.topics`) into records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streamloop.online import AnyPrediction
from streamloop.store import ItemRecord, ReviewRecord

__all__ = [
    "Idle",
    "ItemOffered",
    "LeaseExpired",
    "LeaseRevoked",
    "Notice",
    "ReviewOffered",
    "Scored",
    "ScoredItem",
]


@dataclass(frozen=True, slots=True)
class ItemOffered:
    """An item is leased to one annotator session until ``expires_at`` (wall clock)."""

    event_id: str
    data: Mapping[str, Any]
    prediction: AnyPrediction
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Idle:
    """The session holds nothing and the queue has nothing for it; an item follows when one
    is routed."""


@dataclass(frozen=True, slots=True)
class LeaseExpired:
    """A lease ran out unanswered: the item went back to the queue."""

    event_id: str


@dataclass(frozen=True, slots=True)
class LeaseRevoked:
    """A lease was taken back before it ran out (``reason``: why, e.g. ``labelled``)."""

    event_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReviewOffered:
    """An item to review is leased to one reviewer session until ``expires_at``."""

    record: ReviewRecord
    expires_at: datetime


#: What a project sends one annotator session, unasked.
Notice = ItemOffered | Idle | LeaseExpired | LeaseRevoked


# Not frozen, as `Prediction`: one is made for every event answered.
@dataclass(slots=True)
class Scored:
    """One production event as the loop took it: its prediction, and whether it waits for an
    annotator (``queued``) or was sent before (``duplicate``)."""

    event_id: str
    prediction: AnyPrediction
    queued: bool
    duplicate: bool


@dataclass(frozen=True, slots=True)
class ScoredItem:
    """A stored item with the prediction it was scored with (what the scored topic carries)."""

    item: ItemRecord
    prediction: AnyPrediction
