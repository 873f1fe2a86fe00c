"""The store: duplicate events, group-committed labels, replay order, snapshots."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from streamloop.errors import Conflict, NotFound, NotReady
from streamloop.store import NewEvent, NewLabel, ProjectRecord, Store
from streamloop.store.database import sqlalchemy_url
from streamloop.store.driver import LabelStatements
from streamloop.store.journal import Journal
from streamloop.store.records import ItemsShed, LeaseEnded, LeaseStarted
from streamloop.store.statements import ITEMS
from streamloop.store.tables import utcnow
from support import callbacks_run, make_project


@pytest.fixture
def sqlite_store(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'test.db'}")
    yield store
    store.close()


@pytest.fixture
def project(store: Store) -> ProjectRecord:
    return make_project(store)


def events(*ids: str) -> list[NewEvent]:
    return [NewEvent(i, {"text": f"text of {i}"}, "queued", 1.0) for i in ids]


def statuses(store: Store, project: ProjectRecord) -> list[tuple[str, str]]:
    """(event id, status) of the project's items, in the order they were stored."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(ITEMS.c.event_id, ITEMS.c.status)
            .where(ITEMS.c.project_id == project.id)
            .order_by(ITEMS.c.id)
        )
        return [(event_id, status) for event_id, status in rows]


def test_sqlite_runs_in_wal_mode_with_full_sync(sqlite_store: Store):
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2


def test_an_existing_project_name_conflicts(store: Store, project: ProjectRecord):
    with pytest.raises(Conflict):
        store.create_project(
            name="tickets",
            labels=["x", "y"],
            input="text",
            model="naive_bayes",
            strategy="margin",
            exploration=0.0,
            lease_seconds=1.0,
        )
    assert [p.name for p in store.list_projects()] == ["tickets"]


def test_an_event_id_seen_before_is_a_duplicate(store: Store, project: ProjectRecord):
    first = store.insert_events(project.id, events("e1", "e2", "e1"))
    assert [r.duplicate for r in first] == [False, False, True]
    assert first[0].id == first[2].id
    again = store.insert_events(project.id, events("e2", "e3"))
    assert [r.duplicate for r in again] == [True, False]
    assert again[0].id == first[1].id
    assert store.count_events(project.id) == 3


def test_labels_get_consecutive_versions_and_a_retried_label_id_is_a_duplicate(
    store: Store, project: ProjectRecord
):
    items = store.insert_events(project.id, events("e1", "e2"))
    outcomes = store.commit_labels(
        project.id,
        [
            NewLabel("l1", "a", "annotator", item_id=items[0].id, annotator="alice"),
            NewLabel("l2", "b", "production", event_id="e2"),
            NewLabel("l1", "a", "annotator", item_id=items[0].id, annotator="alice"),
        ],
        base_version=7,
    )
    assert [(o.model_version, o.duplicate) for o in outcomes] == [(8, False), (9, False), (8, True)]
    retried = store.commit_labels(
        project.id, [NewLabel("l2", "b", "production", event_id="e2")], base_version=9
    )
    assert retried[0].duplicate and retried[0].model_version == 9
    assert [r.label for r in store.replay_labels(project.id, 0)] == ["a", "b"]


def test_refused_labels_leave_the_rest_of_the_batch_stored(store: Store, project: ProjectRecord):
    items = store.insert_events(project.id, events("e1"))
    outcomes = store.commit_labels(
        project.id,
        [
            NewLabel("l1", "a", "annotator", item_id=items[0].id),
            NewLabel("l2", "b", "annotator", item_id=items[0].id),
            NewLabel("l3", "b", "annotator", event_id="nope"),
        ],
        base_version=0,
    )
    assert outcomes[0].error is None and outcomes[0].model_version == 1
    assert isinstance(outcomes[1].error, Conflict)
    assert isinstance(outcomes[2].error, NotFound)
    assert len(store.replay_labels(project.id, 0)) == 1


def test_replay_starts_after_the_snapshot(store: Store, project: ProjectRecord):
    store.insert_events(project.id, events("e1", "e2", "e3"))
    outcomes = store.commit_labels(
        project.id,
        [NewLabel(f"l{i}", "a", "production", event_id=f"e{i}") for i in (1, 2, 3)],
        base_version=0,
    )
    store.save_snapshot(project.id, 1, outcomes[0].row_id, b"model at 1")
    version, last_label_id, blob = store.latest_snapshot(project.id)
    assert (version, blob) == (1, b"model at 1")
    assert [r.model_version for r in store.replay_labels(project.id, last_label_id)] == [2, 3]


def test_only_the_newest_snapshots_are_kept(store: Store, project: ProjectRecord):
    for version in range(1, 7):
        store.save_snapshot(project.id, version, 0, f"v{version}".encode())
    with store.engine.connect() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM snapshots").scalar()
    assert count == 3
    assert store.latest_snapshot(project.id)[2] == b"v6"


def test_missing_events_names_what_was_never_received(store: Store, project: ProjectRecord):
    store.insert_events(project.id, events("e1"))
    assert store.missing_events(project.id, ["e1", "x", "y", "x"]) == ["x", "y"]


def test_journal_entries_record_leases_and_shed_items(store: Store, project: ProjectRecord):
    items = store.insert_events(project.id, events("e1", "e2", "e3"))
    with store.engine.begin() as conn:
        LabelStatements(conn).set_status([items[2].id], "labelled")
    now = utcnow()
    store.apply_journal(
        [
            LeaseStarted("l1", project.id, items[0].id, "alice", now, now),
            LeaseEnded("l1", "skipped", now),
            LeaseStarted("l2", project.id, items[1].id, "bob", now, now),
            ItemsShed((items[1].id, items[2].id)),
        ]
    )
    assert store.skips(project.id) == [(items[0].id, "alice")]
    assert [i.event_id for i in store.queued_items(project.id)] == ["e1"]
    # Only a queued item is shed: one labelled in the meantime stays labelled.
    assert statuses(store, project) == [("e1", "queued"), ("e2", "shed"), ("e3", "labelled")]
    assert store.end_open_leases() == 1  # bob's lease, left open by a stopped process
    assert store.end_open_leases() == 0


def test_readmit_stores_shed_items_as_queued_and_leaves_others(
    store: Store, project: ProjectRecord
):
    items = store.insert_events(
        project.id,
        [
            NewEvent("e1", {"text": "a"}, "shed", 0.1),
            NewEvent("e2", {"text": "b"}, "shed", 0.2),
            *events("e3"),
        ],
    )
    with store.engine.begin() as conn:
        LabelStatements(conn).set_status([items[1].id], "labelled")
    assert store.readmit([i.id for i in items]) == {items[0].id}
    # Only a shed item is readmitted: one labelled in the meantime stays labelled.
    assert statuses(store, project) == [("e1", "queued"), ("e2", "labelled"), ("e3", "queued")]
    assert store.readmit([items[0].id]) == set()  # not shed any more


async def test_a_locked_database_is_a_503_not_a_crash(sqlite_store: Store):
    store = sqlite_store
    project = make_project(store)
    locker = sqlite3.connect(store.url.removeprefix("sqlite:///"), timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA busy_timeout=0")
    try:
        with pytest.raises(NotReady) as refused:
            await store.run(store.insert_events, project.id, events("e1"))
        assert refused.value.code == "store_unavailable"
    finally:
        locker.rollback()
        locker.close()
    stored = await store.run(store.insert_events, project.id, events("e1"))
    assert stored[0].duplicate is False


def test_the_random_sample_flag_is_kept_with_the_item(store: Store, project: ProjectRecord):
    new = [NewEvent("e1", {"text": "x"}, "queued", 1.0, drawn_at_random=True)]
    assert store.insert_events(project.id, new)[0].drawn_at_random
    assert store.insert_events(project.id, new)[0].drawn_at_random  # the duplicate too
    assert store.queued_items(project.id)[0].drawn_at_random


def test_still_queued_leaves_out_labelled_items(store: Store, project: ProjectRecord):
    items = store.insert_events(project.id, events("e1", "e2"))
    store.commit_labels(project.id, [NewLabel("l1", "a", "production", event_id="e1")], 0)
    assert store.still_queued(project.id, [i.id for i in items]) == {items[1].id}


@pytest.mark.postgres
def test_concurrent_claims_on_postgres_lease_each_item_once(postgres_url: str):
    # Several processes' stores race for the same items from many threads, as web processes
    # sharing one database do: each item is claimed by exactly one lease.
    stores = [Store(postgres_url) for _ in range(4)]
    try:
        project = make_project(stores[0])
        items = stores[0].insert_events(project.id, events(*(f"e{n}" for n in range(40))))
        ids = [item.id for item in items]

        def claim_all(store: Store, worker: int) -> list[int]:
            return [
                item_id
                for item_id in ids
                if store.claim_item(project.id, item_id, f"w{worker}-{item_id}", f"a{worker}", 60)
            ]

        with ThreadPoolExecutor(8) as pool:
            claims = list(pool.map(claim_all, stores * 2, range(8)))
        claimed = [item_id for batch in claims for item_id in batch]
        assert sorted(claimed) == sorted(ids)
        with stores[0].engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT count(*) FROM leases").scalar()
        assert rows == len(ids)
    finally:
        for store in stores:
            store.close()


@pytest.mark.postgres
def test_a_claim_ends_with_its_lease_and_a_labelled_item_cannot_be_claimed(postgres_url: str):
    store = Store(postgres_url)
    try:
        project = make_project(store)
        first, second = store.insert_events(project.id, events("e1", "e2"))
        assert store.claim_item(project.id, first.id, "lease-1", "ann", 60)
        assert not store.claim_item(project.id, first.id, "lease-2", "other", 60)
        assert [i.id for i in store.unclaimed_items(project.id, [])] == [second.id]
        store.apply_journal([LeaseEnded("lease-1", "released", utcnow())])
        assert store.claim_item(project.id, first.id, "lease-3", "other", 60)
        store.commit_labels(project.id, [NewLabel("l1", "a", "annotator", item_id=second.id)], 0)
        assert not store.claim_item(project.id, second.id, "lease-4", "ann", 60)
        # A lease past its end no longer holds the item.
        assert store.claim_item(project.id, first.id, "lease-5", "ann", 60) is False
        with store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE items SET lease_until = now() - interval '1 second'")
        assert store.claim_item(project.id, first.id, "lease-5", "ann", 60)
    finally:
        store.close()


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_tables_of_an_earlier_version_get_the_columns_added_since(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
):
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    old = create_engine(sqlalchemy_url(url))
    with old.begin() as conn:  # projects and items as the first release made them
        conn.exec_driver_sql(
            "CREATE TABLE projects (id INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL UNIQUE, "
            "labels JSON NOT NULL, input VARCHAR NOT NULL, model VARCHAR NOT NULL, "
            "strategy VARCHAR NOT NULL, exploration FLOAT NOT NULL, "
            "lease_seconds FLOAT NOT NULL, created_at TIMESTAMP)"
        )
        conn.exec_driver_sql(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, project_id INTEGER, event_id VARCHAR, "
            "data JSON NOT NULL, status VARCHAR, uncertainty FLOAT, created_at TIMESTAMP)"
        )
        conn.exec_driver_sql(
            "INSERT INTO projects (id, name, labels, input, model, strategy, exploration, "
            "lease_seconds, created_at) VALUES (1, 'old', '[\"a\", \"b\"]', 'text', "
            "'logistic_regression', 'margin', 0.1, 60, '2026-01-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO items (id, project_id, event_id, data, status, uncertainty, created_at) "
            "VALUES (1, 1, 'e1', '{}', 'queued', 0.5, '2026-01-01 00:00:00')"
        )
    old.dispose()
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            row = conn.exec_driver_sql(
                "SELECT drawn_at_random, lease_id, lease_until FROM items"
            ).one()
        assert (bool(row[0]), row[1], row[2]) == (False, None, None)
        [project] = store.list_projects()
        assert project.warmup == 0 and project.routing == "pool"
        assert project.gold_share is None
    finally:
        store.close()


def test_labels_to_export_come_in_learning_order_with_their_items(
    store: Store, project: ProjectRecord
):
    store.insert_events(project.id, events("e1", "e2"))
    store.commit_labels(
        project.id,
        [
            NewLabel("l2", "b", "annotator", event_id="e2", annotator="alice"),
            NewLabel("l1", "a", "production", event_id="e1", drawn_at_random=True),
        ],
        0,
    )
    store.commit_labels(
        project.id, [NewLabel("l3", "a", "annotator", event_id="e2", corrects="l2")], 2
    )
    exported = list(store.labels_to_export(project.id))
    assert [(e.label_id, e.event_id, e.label) for e in exported] == [
        ("l2", "e2", "b"),
        ("l1", "e1", "a"),
        ("l3", "e2", "a"),
    ]
    assert exported[0].annotator == "alice" and exported[0].source == "annotator"
    assert exported[1].drawn_at_random is True and exported[1].data == {"text": "text of e1"}
    assert exported[2].corrects == "l2" and exported[0].corrects is None
    assert list(store.labels_to_export(project.id + 1)) == []


def test_a_request_admitted_counts_in_flight_until_it_is_answered(sqlite_store: Store):
    store = sqlite_store
    assert store.in_flight == 0

    def failing_request() -> None:
        with store.admitting():
            assert store.in_flight == 2
            raise RuntimeError("the request failed")

    with store.admitting():
        assert store.in_flight == 1
        with pytest.raises(RuntimeError):
            failing_request()
        assert store.in_flight == 1
    assert store.in_flight == 0


async def test_a_full_journal_drops_its_oldest_entries_and_counts_them(sqlite_store: Store):
    store = sqlite_store
    project = make_project(store)
    items = store.insert_events(project.id, events("e1", "e2", "e3"))
    journal = Journal(store, capacity=2)
    journal.items_shed([items[0].id])  # dropped: the oldest when the third entry arrives
    journal.items_shed([items[1].id])
    journal.items_shed([items[2].id])
    assert journal.dropped == 1
    await journal.flush()
    assert [i.event_id for i in store.queued_items(project.id)] == ["e1"]
    assert journal.dropped == 1


async def test_closing_the_journal_writes_the_batch_waiting_for_the_store(sqlite_store: Store):
    # Stopping the service closes the journal just after the last snapshot: its writer may
    # have taken a batch that still waits for the store's one thread. Closing waits for it.
    store = sqlite_store
    project = make_project(store)
    items = store.insert_events(project.id, events("e1", "e2"))
    journal = Journal(store)
    journal.start()
    busy = threading.Event()
    snapshot = asyncio.ensure_future(store.run(busy.wait))  # holds the store's thread
    await callbacks_run()
    journal.items_shed([items[0].id])
    await callbacks_run()
    assert store.backlog == 2  # the journal's write is queued behind it
    closing = asyncio.ensure_future(journal.close())
    await callbacks_run()  # closing goes as far as it can
    busy.set()
    await closing
    await snapshot
    assert [i.event_id for i in store.queued_items(project.id)] == ["e2"]


def test_a_project_is_found_by_name_or_is_unknown(store: Store, project: ProjectRecord):
    assert store.project("tickets") == project
    with pytest.raises(NotFound) as missing:
        store.project("nope")
    assert missing.value.code == "unknown_project"
