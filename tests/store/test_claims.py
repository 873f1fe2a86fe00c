"""Claims on a shared store when an annotator comes back on a new connection."""

from __future__ import annotations

import pytest

from streamloop.store import NewEvent, Store
from streamloop.store.records import LeaseEnded
from streamloop.store.tables import utcnow
from support import make_project

pytestmark = pytest.mark.postgres


def test_an_annotator_may_claim_again_an_item_under_their_own_lease(postgres_url: str):
    store = Store(postgres_url)
    try:
        project = make_project(store)
        [item] = store.insert_events(project.id, [NewEvent("e1", {"text": "x"}, "queued", 1.0)])
        assert store.claim_item(project.id, item.id, "lease-1", "ann", 60)
        # Her connection closed; the end of lease-1 is not written yet. Another annotator
        # may not take it, she may.
        assert not store.claim_item(project.id, item.id, "lease-2", "bob", 60, "lease-1")
        assert store.claim_item(project.id, item.id, "lease-3", "ann", 60, returned="lease-1")
        # The old lease's end, written late, leaves the new claim alone.
        store.apply_journal([LeaseEnded("lease-1", "released", utcnow())])
        assert not store.claim_item(project.id, item.id, "lease-4", "bob", 60)
    finally:
        store.close()


def test_a_second_live_connection_of_an_annotator_never_takes_over_the_first_ones_item(
    postgres_url: str,
):
    store = Store(postgres_url)
    try:
        project = make_project(store)
        [item] = store.insert_events(project.id, [NewEvent("e1", {"text": "x"}, "queued", 1.0)])
        # Two tabs of one annotator, on two web processes: the first holds the item.
        assert store.claim_item(project.id, item.id, "lease-1", "ann", 60)
        assert not store.claim_item(project.id, item.id, "lease-2", "ann", 60)
        # Nor does a lease given back for another (ended) connection unlock it.
        assert not store.claim_item(project.id, item.id, "lease-3", "ann", 60, returned="lease-9")
        store.apply_journal([LeaseEnded("lease-1", "released", utcnow())])
        assert store.claim_item(project.id, item.id, "lease-4", "ann", 60)
    finally:
        store.close()
