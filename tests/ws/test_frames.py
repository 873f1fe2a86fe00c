"""The contract's frames and bodies, as `ws/frames.py` makes them from what the loop reports."""

from __future__ import annotations

from datetime import UTC, datetime

from streamloop.errors import Conflict
from streamloop.online import Prediction
from streamloop.store import LabelOutcome, NewLabel
from streamloop.streams.notices import Idle, ItemOffered, LeaseExpired, LeaseRevoked, Scored
from streamloop.ws import frames

PREDICTION = Prediction("bug", {"bug": 0.75, "billing": 0.25}, 0.5, 41)
AS_JSON = {
    "prediction": "bug",
    "probabilities": {"bug": 0.75, "billing": 0.25},
    "uncertainty": 0.5,
    "model_version": 41,
}


def test_the_notices_an_annotator_is_sent():
    moment = datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)
    offered = ItemOffered("evt-1", {"text": "charged twice"}, PREDICTION, moment)
    assert frames.notice(offered) == {
        "type": "item",
        "item": {**AS_JSON, "id": "evt-1", "data": {"text": "charged twice"}},
        "lease_expires_at": "2026-01-31T12:00:00.123Z",
    }
    assert frames.notice(Idle()) == {"type": "idle"}
    assert frames.notice(LeaseExpired("evt-1")) == {"type": "lease_expired", "item_id": "evt-1"}
    assert frames.notice(LeaseRevoked("evt-1", "labelled")) == {
        "type": "lease_revoked",
        "item_id": "evt-1",
        "reason": "labelled",
    }


def test_an_ack_names_the_label_and_a_correction_what_it_corrects():
    label = NewLabel("l-2", "bug", "annotator", event_id="evt-1", annotator="ana")
    outcome = LabelOutcome(label=label, model_version=7)
    assert frames.ack(outcome) == {
        "type": "ack",
        "item_id": "evt-1",
        "label_id": "l-2",
        "model_version": 7,
        "duplicate": False,
    }
    correction = NewLabel("l-3", "billing", "annotator", event_id="evt-1", corrects="l-2")
    assert frames.ack(LabelOutcome(label=correction, model_version=8, duplicate=True)) == {
        "type": "ack",
        "item_id": "evt-1",
        "label_id": "l-3",
        "corrects": "l-2",
        "model_version": 8,
        "duplicate": True,
    }


def test_the_bodies_of_events_and_production_labels():
    assert frames.scored(Scored("evt-1", PREDICTION, queued=True, duplicate=False)) == {
        **AS_JSON,
        "id": "evt-1",
        "queued": True,
        "duplicate": False,
    }
    label = NewLabel("event:evt-1", "bug", "production", event_id="evt-1")
    assert frames.production_result(LabelOutcome(label=label, model_version=3)) == {
        "event_id": "evt-1",
        "label_id": "event:evt-1",
        "model_version": 3,
        "duplicate": False,
    }
    refused = Conflict("already labelled", code="already_labelled")
    assert frames.production_result(LabelOutcome(label=label, error=refused)) == {
        "event_id": "evt-1",
        "label_id": "event:evt-1",
        "error": {"code": "already_labelled", "message": "already labelled", "retryable": False},
    }
