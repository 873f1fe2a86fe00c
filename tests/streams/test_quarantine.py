"""Quarantine where the model is learned elsewhere: asked of the learner, or refused clearly."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from streamloop.errors import Conflict
from streamloop.streams.quarantine import Quarantine
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
