"""Properties of the annotate and dashboard sockets under any frame a client may send.

A bad frame gets the contract's error message and never ends a connection that could go on, nor
loses a label that was already acknowledged; the dashboard ignores what clients send.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import event, given, note, settings

from properties.frames import Frame, annotator_steps, dashboard_junk
from properties.live import MAX_FRAME_BYTES, assert_error_frame
from properties.strategies import LABELS, PROPERTY, SEEDED
from support import ticket

#: Hundreds of Hypothesis examples against a live service: `-m "not slow"` leaves them out of
#: a quick run; CI runs them.
pytestmark = pytest.mark.slow


@settings(PROPERTY, max_examples=60)
@given(steps=annotator_steps)
def test_the_annotate_socket_answers_every_bad_frame_and_goes_on(live, steps):
    note(f"steps: {steps!r}")
    project = live.new_project()
    live.send_events(
        project, [{"id": e, "data": ticket(LABELS[n % 3], n)} for n, e in enumerate(SEEDED)]
    )
    acks: dict[str, dict[str, Any]] = {}  # label_id -> its first ack
    skipped: set[str] = set()
    with live.annotator(project) as alice:
        alice.expect("hello")
        for step in steps:
            if isinstance(step, Frame):
                frame = step.render(alice.held_item() or SEEDED[0])
                alice.send(frame)
                error = alice.expect("error")
                note(f"{step.why}: {frame!r:.200} -> {error}")
                code = assert_error_frame(error)
                event(f"frame -> {code}")
                size = len(frame.encode() if isinstance(frame, str) else frame)
                codes = step.codes if size <= MAX_FRAME_BYTES else {"frame_too_large"}
                assert not codes or code in codes, (step, error)
                if step.label_id is not None and size <= MAX_FRAME_BYTES:
                    assert error.get("label_id") == step.label_id, (step, error)
            elif step == "retry" and acks:
                label_id, first = next(reversed(acks.items()))
                again = alice.label(first["item_id"], "bug", label_id)
                assert again == {**first, "duplicate": True}, (first, again)
            elif step == "skip" and (item := alice.held_item()) is not None:
                alice.send({"type": "skip", "item_id": item})
                alice.forget(item)
                skipped.add(item)
            elif step == "label" and (item := alice.held_item()) is not None:
                label_id = uuid.uuid4().hex
                ack = alice.label(item, "bug", label_id)
                assert ack == {
                    "type": "ack",
                    "item_id": item,
                    "label_id": label_id,
                    "model_version": len(acks) + 1,
                    "duplicate": False,
                }, ack
                alice.forget(item)
                acks[label_id] = ack
                event("label -> ack")
            # A skipped item is never sent to this annotator again.
            assert not skipped & set(alice.held), (skipped, alice.held)
    # Every acknowledged label is learned, once.
    metrics = live.metrics(project)
    assert (metrics["labels_total"], metrics["model_version"]) == (len(acks), len(acks))
    live.assert_no_server_errors()


@PROPERTY
@given(frames=dashboard_junk)
def test_the_dashboard_socket_ignores_what_clients_send_and_keeps_pushing(live, frames):
    note(f"frames: {frames!r}")
    project = live.new_project()
    with live.dashboard(project) as dashboard:
        first = dashboard.recv()
        assert first["type"] == "history", first
        for frame in frames:
            dashboard.send(frame)
        # Changes are still pushed: the socket goes on, and so does the project's hub. Twice,
        # so that the server has long read the junk by the second push.
        for n in (1, 2):
            live.send_events(project, [{"id": f"evt-{n}", "data": ticket("bug", n)}])
            while True:
                message = dashboard.recv()
                assert message["type"] == "metrics", message
                if message["events_total"] == n:
                    break
    assert live.http.get("/healthz").status_code == 200
    live.assert_no_server_errors()
