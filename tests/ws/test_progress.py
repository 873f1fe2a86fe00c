"""Progress toward a project's target: items with a stored human label, in the metrics."""

from __future__ import annotations

from support import running, ticket

TWICE = {"share": 1.0, "annotators": 2}


async def test_progress_counts_labelled_items_not_corrections_gold_or_second_labels(settings):
    async with running(settings) as service:
        await service.create_project(target=5, gold_share=1.0, overlap=TWICE)
        gold = {"items": [{"id": "g0", "data": ticket("bug", 9), "label": "bug"}]}
        assert (await service.http.post("/api/projects/tickets/gold", json=gold)).status_code == 200
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(4)]
        await service.send_events("tickets", events)
        assert (await service.metrics("tickets"))["progress"] == {"labels": 0, "target": 5}
        async with service.annotator("tickets", "alice") as alice:
            answered = []
            for n in range(3):  # the gold item, then two items
                item = (await alice.next_item())["item"]["id"]
                assert (await alice.label(item, "bug", f"a-{n}"))["type"] == "ack"
                answered.append(item)
            assert answered[0] == "g0"
            await alice.send(
                {"type": "correct", "corrects": "a-1", "label": "other", "label_id": "a-fix"}
            )
            assert (await alice.expect("ack", keep_items=True))["corrects"] == "a-1"
        async with service.annotator("tickets", "bob") as bob:
            # An overlapped item's second label labels no new item.
            item = (await bob.next_item())["item"]["id"]
            assert item in answered[1:]
            assert (await bob.label(item, "bug", "b-0"))["type"] == "ack"
        rest = sorted({"e0", "e1", "e2", "e3"} - set(answered))
        body = {"labels": [{"event_id": rest[0], "label": "billing"}]}
        response = await service.http.post("/api/projects/tickets/labels", json=body)
        assert response.status_code == 200, response.text
        assert (await service.metrics("tickets"))["progress"] == {"labels": 3, "target": 5}
    async with running(settings) as service:  # counted again from the store
        assert (await service.metrics("tickets"))["progress"] == {"labels": 3, "target": 5}
        response = await service.http.patch("/api/projects/tickets", json={"target": None})
        assert response.status_code == 200
        assert (await service.metrics("tickets"))["progress"] == {"labels": 3, "target": None}


async def test_the_dashboard_is_pushed_progress(service):
    await service.create_project(target=2)
    await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
    async with service.dashboard("tickets") as board:
        metrics = await board.expect("metrics")
        assert metrics["progress"] == {"labels": 0, "target": 2}
        body = {"labels": [{"event_id": "e0", "label": "bug"}]}
        assert (
            await service.http.post("/api/projects/tickets/labels", json=body)
        ).status_code == 200
        while metrics["progress"]["labels"] == 0:
            metrics = await board.expect("metrics")
        assert metrics["progress"] == {"labels": 1, "target": 2}
