"""The annotators' tools on Kafka (serve --broker, workers, PostgreSQL): comments travel with
labels to the learner, skip reasons, the history, progress, coming back to the items held, and
a project's new guidelines reaching the sockets of every web process."""

from __future__ import annotations

import httpx
import pytest

from kafka_cluster import Cluster, event, metrics_until
from streamloop.store import Store
from streamloop.streams.export import export_labels
from support import annotator, project_spec

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


async def test_comments_skips_history_progress_and_coming_back_on_kafka(cluster: Cluster):
    first = await cluster.start_serve()
    spec = project_spec(exploration=0.0, warmup=0, target=10, guidelines="old")
    async with httpx.AsyncClient(base_url=first.base) as http:
        assert (await http.post("/api/projects", json=spec)).status_code == 201
    cluster.start_worker()
    await cluster.produce([event(n) for n in range(4)])
    for _ in range(4):
        await cluster.next_scored()
    second = await cluster.start_serve()

    async with annotator(first.base, "tickets", "alice") as alice:
        assert (await alice.expect("hello"))["labelled"] == 0
        item = (await alice.next_item())["item"]["id"]
        await alice.send(
            {
                "type": "label",
                "item_id": item,
                "label": "bug",
                "label_id": "a-1",
                "comment": "crash on login",
            }
        )
        assert (await alice.expect("ack"))["label_id"] == "a-1"
        await alice.send({"type": "recent"})
        [answer] = (await alice.expect("recent", keep_items=True))["labels"]
        assert (answer["label_id"], answer["item"]["id"], answer["comment"]) == (
            "a-1",
            item,
            "crash on login",
        )
        skipped = (await alice.next_item())["item"]["id"]
        await alice.send({"type": "skip", "item_id": skipped, "reason": "unclear"})
        held = (await alice.next_item())["item"]["id"]
    # Back on a new connection before the lease would have ended: the same item.
    async with annotator(first.base, "tickets", "alice") as alice:
        assert (await alice.expect("hello"))["labelled"] == 1
        assert (await alice.next_item())["item"]["id"] == held

    async with httpx.AsyncClient(base_url=first.base) as http:
        skips = (await http.get("/api/projects/tickets/skips")).json()["skips"]
        assert [(s["event_id"], s["reason"]) for s in skips] == [(skipped, "unclear")]
    # Both web processes count the label the learner stored, whichever took it.
    for serve in (first, second):
        metrics = await metrics_until(serve, lambda m: m["progress"]["labels"] == 1)
        assert metrics["progress"] == {"labels": 1, "target": 10}
    metrics = await metrics_until(first, lambda m: bool(m["skip_reasons"]))
    assert metrics["skip_reasons"] == {"unclear": 1}

    # New guidelines reach an annotator of the other web process too (at its next resync).
    async with annotator(second.base, "tickets", "bob") as bob:
        assert (await bob.expect("hello"))["project"]["guidelines"] == "old"
        async with httpx.AsyncClient(base_url=first.base) as http:
            response = await http.patch("/api/projects/tickets", json={"guidelines": "new"})
            assert response.status_code == 200, response.text
        assert (await bob.expect("project", keep_items=True))["project"]["guidelines"] == "new"

    # The worker's learner stored the comment with the label.
    store = Store(cluster.database)
    try:
        rows = {row["label_id"]: row for row in export_labels(store, "tickets")}
    finally:
        store.close()
    assert rows["a-1"]["comment"] == "crash on login"
