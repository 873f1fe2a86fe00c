"""What an annotator held when their connection closed, until those leases would have ended."""

from __future__ import annotations

from streamloop.store import GoldRecord
from streamloop.streams.queue import Lease, QueuedItem
from streamloop.streams.returning import Returning


def lease(item_id: int, until: float, gold: GoldRecord | None = None) -> Lease:
    item = QueuedItem(item_id, f"e{item_id}", {"text": "x"}, 0.5)
    return Lease(item, holder="h", annotator="alice", expires_at=until, gold=gold)


def test_the_leases_left_come_back_oldest_first_until_they_would_have_ended():
    returning = Returning()
    returning.left("alice", [lease(1, 10.0), lease(2, 20.0), lease(3, 30.0)], now=0.0)
    assert returning.next("bob", now=5.0) is None
    first = returning.next("alice", now=15.0)  # item 1 ended at 10: passed over
    assert first is not None and first.item.item_id == 2
    again = returning.next("alice", now=15.0)
    assert again is not None and again.item.item_id == 3
    assert returning.next("alice", now=15.0) is None


def test_ended_leases_of_anyone_are_forgotten_as_others_leave():
    returning = Returning()
    returning.left("alice", [lease(1, 10.0)], now=0.0)
    returning.left("bob", [lease(2, 100.0)], now=50.0)
    assert returning.next("alice", now=5.0) is None  # forgotten at 50, not kept for ever
    kept = returning.next("bob", now=60.0)
    assert kept is not None and kept.item.item_id == 2


def test_a_gold_item_answered_from_elsewhere_is_forgotten():
    returning = Returning()
    gold = GoldRecord(7, "g7", {"text": "x"}, "bug")
    returning.left("alice", [lease(-1, 10.0, gold), lease(2, 10.0)], now=0.0)
    returning.forget_gold("alice", 7)
    kept = returning.next("alice", now=1.0)
    assert kept is not None and kept.item.item_id == 2
    assert returning.next("alice", now=1.0) is None
