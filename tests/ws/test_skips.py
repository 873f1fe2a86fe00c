"""Skips with a reason: stored, listed by GET /skips, counted in the metrics."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from streamloop.store import Store
from streamloop.store.database import sqlalchemy_url
from support import project_spec, running, ticket

LABELS = ["billing", "bug", "other"]


async def seed(service, n: int, **project) -> None:
    await service.create_project(**project)
    events = [{"id": f"evt-{i}", "data": ticket(LABELS[i % 3], i)} for i in range(n)]
    await service.send_events("tickets", events)


async def skip(socket, reason: str | None = None) -> str:
    """Skip the next item (with ``reason``, if any); its id, once the next item came."""
    item = (await socket.next_item())["item"]["id"]
    message = {"type": "skip", "item_id": item}
    if reason is not None:
        message["reason"] = reason
    await socket.send(message)
    following = await socket.expect("item", "error")
    assert following["type"] == "item", following
    socket.items.append(following)
    return item


async def test_skip_reasons_are_listed_newest_first_and_counted(service):
    await seed(service, 6)
    async with service.annotator("tickets", "alice") as alice:
        first = await skip(alice, "unclear")
        second = await skip(alice)  # no reason
        third = await skip(alice, "")  # empty: no reason
        fourth = await skip(alice, "unclear")
    async with service.annotator("tickets", "bob") as bob:
        fifth = await skip(bob, "not English")
    response = await service.http.get("/api/projects/tickets/skips")
    assert response.status_code == 200, response.text
    skips = response.json()["skips"]
    assert [(s["event_id"], s["annotator"], s["reason"]) for s in skips] == [
        (fifth, "bob", "not English"),
        (fourth, "alice", "unclear"),
        (third, "alice", None),
        (second, "alice", None),
        (first, "alice", "unclear"),
    ]
    assert all(s["skipped_at"].endswith("Z") for s in skips)
    limited = (await service.http.get("/api/projects/tickets/skips?limit=2")).json()["skips"]
    assert [s["event_id"] for s in limited] == [fifth, fourth]
    metrics = await service.metrics("tickets")
    assert metrics["skip_reasons"] == {"unclear": 2, "not English": 1}


async def test_skip_reasons_survive_a_restart(settings):
    async with running(settings) as service:
        await seed(service, 3)
        async with service.annotator("tickets", "alice") as alice:
            item = await skip(alice, "offensive")
    async with running(settings) as service:
        assert (await service.metrics("tickets"))["skip_reasons"] == {"offensive": 1}
        skips = (await service.http.get("/api/projects/tickets/skips")).json()["skips"]
        assert [(s["event_id"], s["reason"]) for s in skips] == [(item, "offensive")]


async def test_a_reason_too_long_refuses_the_skip_and_the_item_stays_held(service):
    await seed(service, 2)
    async with service.annotator("tickets", "alice") as alice:
        item = (await alice.next_item())["item"]["id"]
        await alice.send({"type": "skip", "item_id": item, "reason": "x" * 501})
        error = await alice.expect("error")
        assert error["code"] == "invalid_input" and "reason" in error["message"]
        # Still hers: labelling it is acked.
        assert (await alice.label(item, "bug", "l-1"))["type"] == "ack"
    assert (await service.http.get("/api/projects/tickets/skips")).json()["skips"] == []


async def test_a_skip_of_an_item_not_held_is_refused_and_not_stored(service):
    await seed(service, 1)
    async with service.annotator("tickets", "alice") as alice:
        await alice.next_item()
        await alice.send({"type": "skip", "item_id": "nothing", "reason": "why not"})
        assert (await alice.expect("error"))["code"] == "not_leased"
    assert (await service.http.get("/api/projects/tickets/skips")).json()["skips"] == []
    assert (await service.metrics("tickets"))["skip_reasons"] == {}


@pytest.mark.parametrize("limit", ["0", "1001", "ten", "-1", "1.5"])
async def test_a_bad_limit_is_refused(service, limit):
    await service.create_project()
    response = await service.http.get(f"/api/projects/tickets/skips?limit={limit}")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


async def test_skips_of_an_unknown_project_are_404(service):
    response = await service.http.get("/api/projects/nothing/skips")
    assert response.status_code == 404


async def test_skips_are_read_by_supervisors_not_annotators(settings):
    store = Store(settings.database_url)
    try:
        admin = store.tokens.create("root", "admin")[1]
        supervisor = store.tokens.create("sue", "supervisor")[1]
        annotator = store.tokens.create("alice", "annotator")[1]
    finally:
        store.close()
    async with running(settings) as service:
        response = await service.http.post(
            "/api/projects", json=project_spec(), headers={"authorization": f"Bearer {admin}"}
        )
        assert response.status_code == 201
        for token, status in ((supervisor, 200), (annotator, 403)):
            response = await service.http.get(
                "/api/projects/tickets/skips", headers={"authorization": f"Bearer {token}"}
            )
            assert response.status_code == status


async def test_a_skip_is_remembered_across_a_restart_from_the_skips_table(settings):
    async with running(settings) as service:
        await seed(service, 1)
        async with service.annotator("tickets", "alice") as alice:
            item = (await alice.expect("item"))["item"]["id"]
            await alice.send({"type": "skip", "item_id": item, "reason": "unclear"})
            await alice.expect("idle")
    # The lease history lost the skip (its write is one nobody waits for, and may be dropped
    # when the store is far behind); the skips table, written before the skip, has it.
    engine = create_engine(sqlalchemy_url(settings.database_url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE leases SET outcome = 'released' WHERE outcome = 'skipped'"))
    engine.dispose()
    async with running(settings) as service:
        async with service.annotator("tickets", "alice") as alice:
            assert (await alice.expect("idle"))["type"] == "idle"
        async with service.annotator("tickets", "bob") as bob:
            assert (await bob.expect("item"))["item"]["id"] == item
