"""Writing new events' rows: SQLite's driver-level insert stores what SQLAlchemy's would."""

from __future__ import annotations

import pytest

from streamloop.store import NewEvent, Store
from streamloop.store.events import _insert_core, insert_items
from streamloop.store.tables import utcnow
from support import make_project

#: Every kind of value a row's data may hold, and each column's edge values.
DATA = [
    {"text": "plain"},
    {"text": 'ünïcødé ✓ and "quotes" and \\ backslash', "n": 3},
    {"f0": 1.5, "f1": -2, "f2": None, "f3": True, "f4": "red", "f5": 1e150},
    {"nested": {"a": [1, {"b": [2.5, None]}]}, "empty": {}, "list": []},
]


def new_events(prefix: str, count: int) -> list[NewEvent]:
    return [
        NewEvent(
            f"{prefix}{n}",
            DATA[n % len(DATA)],
            "queued" if n % 3 else "scored",
            n / 7,
            drawn_at_random=n % 2 == 0,
        )
        for n in range(count)
    ]


def stored_rows(store: Store, project_id: int) -> list[tuple[object, ...]]:
    """Each stored column as the database holds it, with its type where SQLite keeps one."""
    columns = "event_id, data, status, uncertainty, drawn_at_random, wanted, created_at"
    typed = ", ".join(f"typeof({c})" for c in columns.split(", "))
    select = f"SELECT {columns}"
    if store.engine.dialect.name == "sqlite":
        select += f", {typed}"
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"{select}, lease_id, lease_until FROM items WHERE project_id = {project_id} "
            "ORDER BY id"
        )
        return [tuple(row) for row in rows]


def test_the_rows_are_those_sqlalchemy_writes(store: Store):
    if store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's rows go through SQLAlchemy's own path: nothing to compare")
    now = utcnow()
    ours, theirs = make_project(store, "ours"), make_project(store, "theirs")
    # More than one statement's worth, and a chunk that is not full.
    count = 1_203
    with store.engine.begin() as conn:
        created = insert_items(conn, ours.id, new_events("e", count), now)
        expected = _insert_core(conn, theirs.id, new_events("e", count), now)
    assert sorted(created) == sorted(expected)  # RETURNING's order is not documented
    assert len(set(created.values())) == count
    assert stored_rows(store, ours.id) == stored_rows(store, theirs.id)


def test_ids_are_those_of_the_stored_rows(store: Store):
    project = make_project(store)
    with store.engine.begin() as conn:
        created = insert_items(conn, project.id, new_events("e", 600), utcnow())
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT event_id, id FROM items WHERE project_id = {project.id}"
        )
        assert dict(rows.all()) == created


def test_a_batch_with_duplicates_stores_each_event_once(store: Store):
    project = make_project(store)
    first = store.insert_events(project.id, new_events("e", 700))
    again = store.insert_events(project.id, new_events("e", 900))
    assert [r.duplicate for r in again] == [True] * 700 + [False] * 200
    assert [r.id for r in again[:700]] == [r.id for r in first]
    assert store.count_events(project.id) == 900
    assert store.insert_events(project.id, []) == []


def test_events_already_stored_are_left_as_they_are(store: Store):
    project = make_project(store)
    with store.engine.begin() as conn:
        first = insert_items(conn, project.id, new_events("e", 3), utcnow())
    before = stored_rows(store, project.id)
    again = [
        NewEvent("e1", {"text": "sent again, changed"}, "scored", 0.9),
        NewEvent("new", {"text": "new"}, "queued", 0.1),
    ]
    with store.engine.begin() as conn:
        created = insert_items(conn, project.id, again, utcnow())
    assert list(created) == ["new"]
    assert created["new"] not in first.values()
    assert stored_rows(store, project.id)[:3] == before  # e1 as first stored


def test_one_event_twice_in_a_batch_is_stored_once(store: Store):
    project = make_project(store)
    event = NewEvent("e1", {"text": "twice"}, "queued", 0.5)
    records = store.insert_events(project.id, [event, event])
    assert [r.duplicate for r in records] == [False, True]
    assert records[0].id == records[1].id and store.count_events(project.id) == 1


def test_a_batch_sent_again_spends_no_item_ids(store: Store):
    # PostgreSQL draws an id for each row an insert offers, written or not.
    project = make_project(store)
    [first] = store.insert_events(project.id, new_events("e", 1))
    again = store.insert_events(project.id, new_events("e", 2))
    assert [r.duplicate for r in again] == [True, False]
    assert again[1].id == first.id + 1
