"""The label path's statements at the driver write and read what SQLAlchemy's would."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import insert, select

from streamloop.errors import NotReady
from streamloop.store import NewEvent, NewLabel, Store
from streamloop.store.driver import LABEL_COLUMNS, LabelStatements, check_driver
from streamloop.store.statements import ITEM_COLUMNS, ITEMS, LABELS, item_record
from streamloop.store.tables import utcnow
from support import make_project

#: More than one statement's worth of rows (500 a statement), and a chunk that is not full.
COUNT = 1_203


def label_row(project_id: int, item_id: int, n: int) -> tuple[Any, ...]:
    """A label's values in `LABEL_COLUMNS`' order, each column's kinds of value in turn."""
    return (
        project_id,
        f"label-{n}",
        item_id,
        ["plain", 'ünïcødé ✓ "quoted" \\', '["a", "b"]', ""][n % 4],
        None if n % 3 == 0 else f"annotator-{n % 5}",
        ["annotator", "review", "model"][n % 3],
        n % 2 == 0,
        None if n % 4 else f"label-{n - 1}",
        n % 3 != 1,
        n,
        None if n % 2 else "a comment, with 'quotes'",
        utcnow() + timedelta(microseconds=n),
    )


def stored_labels(store: Store, project_id: int) -> list[tuple[object, ...]]:
    """Each stored label column as the database holds it, with its type where SQLite keeps one."""
    columns = [c for c in LABEL_COLUMNS if c != "project_id"]
    select_ = "SELECT " + ", ".join(columns)
    if store.engine.dialect.name == "sqlite":
        select_ += ", " + ", ".join(f"typeof({c})" for c in columns)
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"{select_} FROM labels WHERE project_id = {project_id} ORDER BY label_id"
        )
        return [tuple(row) for row in rows]


def test_label_rows_are_those_sqlalchemy_writes(store: Store):
    ours, theirs = make_project(store, "ours"), make_project(store, "theirs")
    [our_item] = store.insert_events(ours.id, [NewEvent("e", {"text": "x"}, "queued", 0.5)])
    [their_item] = store.insert_events(theirs.id, [NewEvent("e", {"text": "x"}, "queued", 0.5)])
    rows = [label_row(ours.id, our_item.id, n) for n in range(COUNT)]
    with store.engine.begin() as conn:
        created = LabelStatements(conn).insert_labels(rows)
        conn.execute(
            insert(LABELS),
            [
                dict(
                    zip(LABEL_COLUMNS, (theirs.id, *row[1:2], their_item.id, *row[3:]), strict=True)
                )
                for row in rows
            ],
        )
    ours_stored = stored_labels(store, ours.id)
    assert len(ours_stored) == COUNT
    # The item ids differ between the projects; every other column is the same, typed alike.
    assert [r[:1] + r[2:] for r in ours_stored] == [
        r[:1] + r[2:] for r in stored_labels(store, theirs.id)
    ]
    with store.engine.connect() as conn:
        ids = dict(
            conn.execute(
                select(LABELS.c.label_id, LABELS.c.id).where(LABELS.c.project_id == ours.id)
            ).all()
        )
    assert created == ids


def test_items_and_labels_read_back_as_sqlalchemy_reads_them(store: Store):
    project = make_project(store)
    data = [
        {"text": "ünïcødé ✓", "n": 3},
        {"f0": 1.5, "f1": None, "f2": True, "f3": "red", "f4": 1e150},
        {"nested": {"a": [1, {"b": [2.5, None]}]}, "empty": {}, "list": []},
    ]
    events = [
        NewEvent(f"e{n}", data[n % 3], "queued", n / 7, drawn_at_random=n % 2 == 0)
        for n in range(COUNT)
    ]
    items = store.insert_events(project.id, events)
    labelled = [item.id for item in items[::2]]
    rows = [label_row(project.id, item_id, n) for n, item_id in enumerate(labelled)]
    with store.engine.begin() as conn:
        run = LabelStatements(conn)
        run.insert_labels(rows)
        run.set_status(labelled, "labelled")
        run.set_wanted(items[1].id, 3)
    with store.engine.connect() as conn:
        expected = {
            r.id: item_record(r)
            for r in conn.execute(select(*ITEM_COLUMNS).where(ITEMS.c.project_id == project.id))
        }
        run = LabelStatements(conn)
        by_id = run.items(project.id, [item.id for item in items[:700]], [])
        by_event = run.items(project.id, [], [e.event_id for e in events[500:]])
        found = run.stored_labels(project.id, [f"label-{n}" for n in range(-5, COUNT)])
        said = list(run.labels_on(labelled))
    assert by_id == {item.id: expected[item.id] for item in items[:700]}
    assert by_event == {item.event_id: expected[item.id] for item in items[500:]}
    assert all(type(item.drawn_at_random) is bool for item in by_id.values())
    assert expected[items[1].id].wanted == 3
    assert {item.id for item in by_id.values() if item.status == "labelled"} == set(labelled[:350])
    # Every label stored once, found by its label_id; one never stored is not found.
    assert sorted(found) == sorted(row[1] for row in rows)
    assert all(found[row[1]].item_id == row[2] for row in rows)
    assert [(s.item_id, s.label_id, s.learned) for s in said] == [
        (row[2], row[1], row[8]) for row in rows
    ]
    # Booleans, as SQLAlchemy reads them (a review's labels are sent as JSON).
    assert all(type(s.learned) is bool for s in said)


async def test_a_locked_database_refuses_a_label_with_a_503(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'test.db'}", busy_timeout=0)
    project = make_project(store)
    [item] = store.insert_events(project.id, [NewEvent("e", {"text": "x"}, "queued", 0.5)])
    label = NewLabel("l1", "a", "annotator", item_id=item.id, annotator="ann")
    locker = sqlite3.connect(store.url.removeprefix("sqlite:///"), timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(NotReady) as refused:
            await store.run(store.commit_labels, project.id, [label], 0)
        assert refused.value.code == "store_unavailable"
    finally:
        locker.rollback()
        locker.close()
    [outcome] = await store.run(store.commit_labels, project.id, [label], 0)
    assert outcome.error is None and not outcome.duplicate and outcome.model_version == 1
    store.close()


def test_a_driver_whose_bound_values_it_cannot_mark_is_refused():
    named = SimpleNamespace(paramstyle="named", driver="oracledb")
    with pytest.raises(ValueError, match="'named' style"):
        check_driver(named)  # type: ignore[arg-type]
    for paramstyle in ("qmark", "format", "pyformat"):
        check_driver(SimpleNamespace(paramstyle=paramstyle, driver="x"))  # type: ignore[arg-type]
