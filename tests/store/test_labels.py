"""The label path's store rules that need a database: a fenced learner refuses a quarantined
annotator's labels in the transaction that would store them."""

from __future__ import annotations

from pathlib import Path

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
