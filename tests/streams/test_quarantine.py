"""Quarantine where the model is learned elsewhere (``--broker``): refused clearly, for now."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from streamloop.errors import Conflict
from streamloop.streams.quarantine import Quarantine
from streamloop.streams.remote import RemoteLearner


async def _send(_project: str, _labels: Any) -> None:
    raise AssertionError("nothing is sent")


async def test_with_a_remote_learner_quarantine_and_release_are_refused_as_not_built_yet():
    learner = RemoteLearner("tickets", _send, lambda _outcomes: None, timeout=1.0, pending_max=1)
    quarantine = Quarantine(SimpleNamespace(learner=learner))  # type: ignore[arg-type]
    for release in (False, True):
        with pytest.raises(Conflict) as refused:
            await quarantine.change("alice", quarantine=not release)
        assert refused.value.code == "not_supported_scaled_out"
        assert refused.value.retryable is False
    assert quarantine.state("alice") == "active"
