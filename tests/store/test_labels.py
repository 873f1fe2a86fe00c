"""The label path's store rules that need a database: a fenced learner refuses a quarantined
annotator's labels in the transaction that would store them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from streamloop.errors import Conflict
from streamloop.store import NewEvent, NewLabel, Store
from streamloop.store.driver import LabelStatements
from streamloop.store.tables import utcnow
from support import RECEIVE_TIMEOUT, make_project, until


def test_a_fenced_commit_refuses_a_quarantined_annotators_label(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'test.db'}")
    try:
        project = make_project(store)
        events = [NewEvent(f"e{n}", {"text": f"item {n}"}, "queued", 1.0) for n in range(2)]
        store.insert_events(project.id, events)
        store.set_annotator_state(project.id, "alice", "quarantined")
        labels = [
            NewLabel("l0", "a", "annotator", event_id="e0", annotator="alice"),
            NewLabel("l1", "b", "annotator", event_id="e1", annotator="bob"),
        ]
        # A worker's learner commits fenced: alice's label is refused there, bob's stored.
        fenced = store.commit_labels(project.id, labels, 0, after_label_id=0)
        assert [o.error.code if o.error else None for o in fenced] == ["quarantined", None]
        assert fenced[1].model_version == 1
    finally:
        store.close()


def test_a_fenced_commit_is_refused_after_another_learners_labels(store: Store) -> None:
    project = make_project(store)
    events = [NewEvent(f"e{n}", {"text": f"item {n}"}, "queued", 1.0) for n in range(3)]
    store.insert_events(project.id, events)
    first = NewLabel("l0", "a", "annotator", event_id="e0", annotator="alice")
    [stored] = store.commit_labels(project.id, [first], 0, after_label_id=0)
    assert stored.error is None and stored.row_id is not None
    # Another learner stored l0 after the label this one last knew of (none): refused whole.
    late = NewLabel("l1", "b", "annotator", event_id="e1", annotator="bob")
    with pytest.raises(Conflict) as refused:
        store.commit_labels(project.id, [late], 0, after_label_id=0)
    assert refused.value.code == "stale_learner"
    # Fenced on the newest label, it is stored, next in the learning order.
    [after] = store.commit_labels(project.id, [late], 1, after_label_id=stored.row_id)
    assert after.error is None and after.model_version == 2


@pytest.mark.postgres
def test_a_fenced_commit_waits_for_the_learner_holding_the_project(postgres_url: str) -> None:
    # Two workers' learners fenced on the same newest label: the second waits for the first's
    # transaction (the project's row, locked FOR UPDATE), then sees its label and is refused.
    store = Store(postgres_url)
    try:
        project = make_project(store)
        events = [NewEvent(f"e{n}", {"text": f"item {n}"}, "queued", 1.0) for n in range(3)]
        store.insert_events(project.id, events)
        [first] = store.commit_labels(
            project.id, [NewLabel("l0", "a", "annotator", event_id="e0")], 0, after_label_id=0
        )
        assert first.row_id is not None
        with store.engine.connect() as holder:
            transaction = holder.begin()
            # The holder stores its label as a fenced learner does, and has not committed.
            held = LabelStatements(holder)
            assert held.lock_project(project.id) == first.row_id
            [item] = held.items(project.id, [], ["e1"]).values()
            held.insert_labels(
                [
                    (
                        project.id,
                        "l1",
                        item.id,
                        "b",
                        None,
                        "annotator",
                        False,
                        None,
                        True,
                        2,
                        None,
                        utcnow(),
                    )
                ]
            )
            with ThreadPoolExecutor(1) as pool:
                fenced = pool.submit(
                    store.commit_labels,
                    project.id,
                    [NewLabel("l2", "a", "annotator", event_id="e2")],
                    1,
                    after_label_id=first.row_id,
                )
                until(lambda: _waiting_for_a_lock(holder) or fenced.done())
                assert not fenced.done(), fenced.result()
                transaction.commit()
                with pytest.raises(Conflict) as refused:
                    fenced.result(timeout=RECEIVE_TIMEOUT)
        assert refused.value.code == "stale_learner"
    finally:
        store.close()


def _waiting_for_a_lock(conn: Any) -> bool:
    # Within a transaction the activity view is read once; read it afresh.
    conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
    waiting = conn.exec_driver_sql(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    ).scalar()
    return bool(waiting)
