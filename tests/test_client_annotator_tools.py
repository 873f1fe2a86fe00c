"""streamloop.client and the annotators' tools: project fields on create and update, comments,
skip reasons, the history of one's answers, and the guidelines changing under a session."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from streamloop.client import AsyncClient, Client
from streamloop.client.session import SessionState
from streamloop.streams.export import export_labels
from support import RECEIVE_TIMEOUT, Service, ticket

LABELS = ["billing", "bug", "other"]


async def test_the_async_client_carries_every_tool(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        created = await client.create_project(
            "tickets", LABELS, guidelines="Read it all.", target=3, exploration=0.0, warmup=0
        )
        assert created["guidelines"] == "Read it all." and created["target"] == 3
        await client.send_events("tickets", [(f"e{n}", ticket("bug", n)) for n in range(4)])
        async with client.annotate("tickets", annotator="bot") as session:
            assert session.labelled == 0 and session.project["guidelines"] == "Read it all."
            item = await asyncio.wait_for(session.next_item(), RECEIVE_TIMEOUT)
            ack = await session.label(item.id, "bug", "l-1", comment="looks broken")
            assert ack["type"] == "ack"
            fixed = await session.correct("l-1", "other", comment="a question after all")
            [latest] = await session.recent()
            assert latest["label_id"] == fixed["label_id"] and latest["label"] == "other"
            assert latest["comment"] == "a question after all"
            skipped = await asyncio.wait_for(session.next_item(), RECEIVE_TIMEOUT)
            await session.skip(skipped.id, reason="unreadable")
            updated = await client.update_project("tickets", guidelines="Read twice.")
            assert updated["guidelines"] == "Read twice."
            # The session takes the project the server sends on (read with the next reply).
            assert len(await session.recent(limit=5)) == 1
            assert session.project["guidelines"] == "Read twice."
        skips = await client.skips("tickets", limit=10)
        assert [(s["event_id"], s["reason"]) for s in skips] == [(skipped.id, "unreadable")]
        metrics = await client.metrics("tickets")
        assert metrics["progress"] == {"labels": 1, "target": 3}
        assert metrics["skip_reasons"] == {"unreadable": 1}
        results = await client.send_labels(
            "tickets", [{"event_id": "e0", "label": "billing", "comment": "from the CRM"}]
        )
        assert results[0]["model_version"] == 3
    store = service.core.store
    rows = await store.run(lambda: list(export_labels(store, "tickets")))
    comments = {row["label_id"]: row["comment"] for row in rows}
    assert comments["l-1"] == "looks broken" and comments["event:e0"] == "from the CRM"


def _sync(base: str) -> dict[str, Any]:
    """The blocking client's tools (in a thread: the service runs on the test's loop)."""
    seen: dict[str, Any] = {}
    with Client(base) as client:
        client.update_project("tickets", target=10, hide_suggestion=True)
        with client.annotate("tickets", annotator="script") as session:
            seen["project"] = session.project
            item = session.next_item(timeout=RECEIVE_TIMEOUT)
            session.label(item.id, "bug", label_id="s-1", comment="sure")
            seen["fixed"] = session.correct("s-1", "billing", comment="surer")
            seen["recent"] = session.recent(limit=1)
            skipped = session.next_item(timeout=RECEIVE_TIMEOUT)
            session.skip(skipped.id, reason="duplicate")
            seen["skipped"] = skipped.id
        with client.annotate("tickets", annotator="script") as session:
            seen["labelled"] = session.labelled
        seen["skips"] = client.skips("tickets")
    return seen


async def test_the_blocking_client_carries_every_tool(service: Service) -> None:
    await service.create_project()
    await service.send_events(
        "tickets", [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(3)]
    )
    seen = await asyncio.to_thread(_sync, service.base)
    assert seen["project"]["target"] == 10 and seen["project"]["hide_suggestion"] is True
    [latest] = seen["recent"]
    assert (latest["label_id"], latest["label"], latest["comment"]) == (
        seen["fixed"]["label_id"],
        "billing",
        "surer",
    )
    assert seen["labelled"] == 1
    assert [(s["event_id"], s["reason"]) for s in seen["skips"]] == [(seen["skipped"], "duplicate")]


def test_a_session_keeps_recent_replies_and_the_project_as_it_changes() -> None:
    state = SessionState()
    state.feed(orjson.dumps({"type": "hello", "annotator": "a", "project": {"target": 1}}))
    assert state.recent_ready() is None
    state.feed(orjson.dumps({"type": "recent", "labels": [{"label_id": "l-1"}]}))
    assert state.recent_ready() == [{"label_id": "l-1"}]
    state.feed(orjson.dumps({"type": "project", "project": {"target": 2}}))
    assert state.hello is not None and state.hello["project"] == {"target": 2}
