"""The review desk's bookkeeping, without a server: a store read older than a settlement does
not bring the settled item back; a newer one does (it was sent to review again)."""

from __future__ import annotations

from streamloop.store import ReviewRecord
from streamloop.streams.review import ReviewDesk


def record(item_id: int) -> ReviewRecord:
    return ReviewRecord(item_id, f"e{item_id}", {"text": "x"}, "flagged", ())


def test_a_read_begun_before_a_settlement_does_not_bring_the_item_back() -> None:
    desk = ReviewDesk(60.0, changed=lambda: None)
    desk.add([record(1), record(2)])
    known, mark = desk.item_ids(), desk.mark()
    stale = [record(1), record(2)]  # read from the store, then item 1 is settled here
    desk.settle(1)
    desk.resync(stale, known, mark)
    assert desk.item_ids() == {2} and len(desk) == 1
    # A read begun after the settlement says it is in review again: it is.
    desk.resync([record(1), record(2)], desk.item_ids(), desk.mark())
    assert desk.item_ids() == {1, 2}


def test_a_read_drops_what_was_settled_elsewhere_but_keeps_what_came_during_it() -> None:
    desk = ReviewDesk(60.0, changed=lambda: None)
    desk.add([record(1)])
    known, mark = desk.item_ids(), desk.mark()
    desk.add([record(3)])  # came while the store was read
    desk.resync([], known, mark)
    assert desk.item_ids() == {3}
