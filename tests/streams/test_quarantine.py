"""Quarantine where the model is learned elsewhere: asked of the learner, or refused clearly."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from streamloop.errors import Conflict
from streamloop.streams.quarantine import Quarantine, store_state
from streamloop.streams.remote import RemoteLearner


async def _send(_project: str, _labels: Any) -> None:
    raise AssertionError("nothing is sent")


async def test_a_learner_that_cannot_rebuild_refuses_quarantine_and_release():
    quarantine = Quarantine(SimpleNamespace(learner=object()))  # type: ignore[arg-type]
    for release in (False, True):
        with pytest.raises(Conflict) as refused:
            await quarantine.change("alice", quarantine=not release)
        assert refused.value.code == "not_supported_scaled_out"
        assert refused.value.retryable is False
    assert quarantine.state("alice") == "active"


async def test_a_remote_learner_without_a_control_channel_refuses_to_rebuild():
    learner = RemoteLearner("tickets", _send, lambda _outcomes: None, timeout=1.0, pending_max=1)
    with pytest.raises(Conflict) as refused:
        await learner.change("alice", "quarantine")
    assert refused.value.code == "not_supported_scaled_out"


async def test_a_remote_learner_answers_a_change_with_what_the_learner_said():
    sent: list[tuple[str, str, str, str]] = []
    learner: RemoteLearner

    async def send_control(project: str, action: str, annotator: str, request: str) -> None:
        sent.append((project, action, annotator, request))
        assert not learner.changed({"request": "another"})  # not ours: the caller is told
        assert learner.changed({"request": request, "state": "quarantined", "model_version": 7})

    learner = RemoteLearner(
        "tickets", _send, lambda _o: None, timeout=1.0, pending_max=1, send_control=send_control
    )
    answer = await learner.change("alice", "quarantine")
    assert answer["model_version"] == 7 and sent[0][:3] == ("tickets", "quarantine", "alice")


@pytest.mark.parametrize("ending", ["cancelled", "failed"])
async def test_snapshots_stay_held_unless_the_change_is_known_not_stored(ending: str):
    # A caller cancelled (the service stopping) while the store's thread commits the change:
    # the model still holds the annotator's labels and must not be saved as if rebuilt. Only
    # a change the store refused lets the snapshots go on.
    entered, release = threading.Event(), threading.Event()

    def set_annotator_state(_project: int, _annotator: str, _state: str) -> tuple[list, list]:
        entered.set()
        release.wait()
        if ending == "failed":
            raise RuntimeError("the store refused it")
        return [], []

    async def run(fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    store = SimpleNamespace(run=run, set_annotator_state=set_annotator_state)
    learner = SimpleNamespace(lock=asyncio.Lock(), saving=asyncio.Lock(), snapshots_held=False)
    record = SimpleNamespace(id=1)
    change = asyncio.create_task(store_state(store, record, learner, "alice", "quarantined"))  # type: ignore[arg-type]
    await asyncio.to_thread(entered.wait)
    if ending == "cancelled":
        change.cancel()
    release.set()
    with pytest.raises((asyncio.CancelledError, RuntimeError)):
        await change
    assert learner.snapshots_held is (ending == "cancelled")
