"""A worker's learners of the projects whose partitions it holds (streams/partitions.py), alone
on SQLite: the models they publish for the other processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streamloop.config import Settings
from streamloop.store import NewEvent, NewLabel, ProjectRecord, Store
from streamloop.streams.learner import LocalLearner
from streamloop.streams.partitions import ProjectLearners
from support import callbacks_run, ticket


async def test_a_stopping_worker_publishes_the_model_of_its_last_labels(
    store: Store, project: ProjectRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Stopped while the model of its last labels is on its way to the models topic, the
    # worker waits for it: cancelled, every other process would serve the version before.
    sending = asyncio.Event()
    snapshotted = asyncio.Event()
    snapshot = LocalLearner.snapshot

    async def snapshot_and_tell(learner: LocalLearner) -> None:
        await snapshot(learner)
        snapshotted.set()

    monkeypatch.setattr(LocalLearner, "snapshot", snapshot_and_tell)
    sent = asyncio.Event()
    published: list[int] = []

    async def publish(name: str, version: int, blob: bytes) -> None:
        sending.set()
        await sent.wait()  # the producer still busy with it
        published.append(version)

    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    learners = ProjectLearners(store, settings, publish)
    events = [NewEvent(f"e{n}", ticket("bug", n), "queued", 1.0) for n in range(3)]
    items = await store.run(store.insert_events, project.id, events)
    labels = [
        NewLabel(f"l-{item.id}", "b", "annotator", item_id=item.id, annotator="alice")
        for item in items
    ]
    outcomes = await learners.learn(project.name, labels)
    await sending.wait()
    closing = asyncio.ensure_future(learners.close())
    await snapshotted.wait()  # the learners are closed: only the publishing is left
    await callbacks_run()  # closing goes as far as it can
    sent.set()
    await closing
    assert published[-1] == max(o.model_version or 0 for o in outcomes) == 3
    assert learners.published[project.name] == 3
