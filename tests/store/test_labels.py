"""The label path's store rules that need a database: a fenced learner refuses a quarantined
annotator's labels in the transaction that would store them."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamloop.errors import Conflict
from streamloop.store import NewEvent, NewLabel, Store
from support import make_project


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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    url = (
        f"sqlite:///{tmp_path / 'test.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    store = Store(url)
    yield store
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
