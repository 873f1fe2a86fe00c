"""Coming back: an annotator whose connection closed gets back the items they held, if they
return before those leases would have ended and nobody else took them meanwhile."""

from __future__ import annotations

from support import ticket

LABELS = ["billing", "bug", "other"]
#: Every pick by uncertainty (none at random), so the newest of equally unsure items is next.
BY_UNCERTAINTY = {"exploration": 0.0, "warmup": 0}


async def seed(service, ids: range, **project) -> None:
    if not ids.start:
        await service.create_project(**BY_UNCERTAINTY, **project)
    events = [{"id": f"e{i}", "data": ticket(LABELS[i % 3], i)} for i in ids]
    await service.send_events("tickets", events)


async def test_an_annotator_who_comes_back_gets_the_item_they_held(service):
    await seed(service, range(3))
    async with service.annotator("tickets", "alice") as alice:
        held = (await alice.next_item())["item"]["id"]
    # A newer item, which would come first otherwise.
    await seed(service, range(3, 4))
    async with service.annotator("tickets", "alice") as alice:
        assert (await alice.next_item())["item"]["id"] == held
        assert (await alice.label(held, "bug", "a-1"))["type"] == "ack"
        assert (await alice.next_item())["item"]["id"] == "e3"


async def test_every_item_held_comes_back_with_the_same_prefetch(service):
    await seed(service, range(4))
    async with service.annotator("tickets", "alice", prefetch=2) as alice:
        held = {(await alice.next_item())["item"]["id"] for _ in range(2)}
    await seed(service, range(4, 6))
    async with service.annotator("tickets", "alice", prefetch=2) as alice:
        assert {(await alice.next_item())["item"]["id"] for _ in range(2)} == held


async def test_an_item_taken_meanwhile_stays_with_who_took_it(service):
    await seed(service, range(3))
    async with service.annotator("tickets", "alice") as alice:
        held = (await alice.next_item())["item"]["id"]
    async with service.annotator("tickets", "bob") as bob:
        assert (await bob.next_item())["item"]["id"] == held
        async with service.annotator("tickets", "alice") as alice:
            assert (await alice.next_item())["item"]["id"] != held


async def test_an_item_labelled_meanwhile_does_not_come_back(service):
    await seed(service, range(3))
    async with service.annotator("tickets", "alice") as alice:
        held = (await alice.next_item())["item"]["id"]
    body = {"labels": [{"event_id": held, "label": "bug"}]}
    assert (await service.http.post("/api/projects/tickets/labels", json=body)).status_code == 200
    async with service.annotator("tickets", "alice") as alice:
        assert (await alice.next_item())["item"]["id"] != held


async def test_another_annotator_does_not_get_it_first(service):
    await seed(service, range(3))
    async with service.annotator("tickets", "alice") as alice:
        held = (await alice.next_item())["item"]["id"]
    await seed(service, range(3, 4))
    async with service.annotator("tickets", "bob") as bob:
        # Bob is offered what anyone would be: the newest item, not alice's.
        assert (await bob.next_item())["item"]["id"] == "e3"
    assert held != "e3"


async def test_a_gold_item_held_comes_back(service):
    await seed(service, range(3), gold_share=1.0)
    gold = {"items": [{"id": "g0", "data": ticket("bug", 9), "label": "bug"}]}
    assert (await service.http.post("/api/projects/tickets/gold", json=gold)).status_code == 200
    async with service.annotator("tickets", "alice") as alice:
        assert (await alice.next_item())["item"]["id"] == "g0"
    async with service.annotator("tickets", "alice") as alice:
        assert (await alice.next_item())["item"]["id"] == "g0"
        assert (await alice.label("g0", "bug", "a-g"))["type"] == "ack"
