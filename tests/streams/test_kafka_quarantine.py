"""Quarantine scaled out: the project's learner, in a worker, rebuilds the model without the
annotator's labels; serve and every worker swap the new version in.

Real services, as in test_kafka_engine.py: the test broker, PostgreSQL, ``streamloop serve``
and ``streamloop worker`` processes.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kafka_cluster import Cluster, event
from streamloop.store import Store
from support import Socket, annotator, dashboard, project_spec, ticket

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

LABELS = ("billing", "bug", "other")
EVENTS = [{"id": f"e{n}", "data": ticket(LABELS[n % 3], n)} for n in range(8)]
TRUTH = {f"e{n}": LABELS[n % 3] for n in range(8)}
PROBES = [ticket(label, 1000 + n) for n in range(3) for label in LABELS]


async def _label_next(socket: Socket, name: str, given: list[Any], *, wrong: bool) -> None:
    item = (await socket.next_item())["item"]
    label = TRUTH[item["id"]]
    if wrong:
        label = LABELS[(LABELS.index(label) + 1) % 3]
    ack = await socket.label(item["id"], label, f"{name}-{len(given)}")
    assert ack["type"] == "ack", ack
    given.append((name, item["id"], label))


async def _predictions(http: httpx.AsyncClient, project: str) -> list[Any]:
    answers = []
    for data in PROBES:
        response = await http.post(f"/api/projects/{project}/predict", json={"data": data})
        assert response.status_code == 200, response.text
        answers.append(response.json()["probabilities"])
    return answers


def _waiting(cluster: Cluster) -> set[str]:
    """The ids of the items of "tickets" waiting for a label, as stored."""
    store = Store(cluster.database)
    try:
        project = store.project("tickets")
        return {item.event_id for item in store.queued_items(project.id)}
    finally:
        store.close()


async def _served(base: str, project: str, version: int) -> None:
    """Once serve's model of ``project`` is ``version`` (its metrics are pushed on change)."""
    async with dashboard(base, project) as socket:
        while (await socket.expect("metrics"))["model_version"] < version:
            pass


async def test_a_worker_rebuilds_without_the_quarantined_and_everyone_swaps_it_in(
    cluster: Cluster,
):
    serve = await cluster.start_serve()
    cluster.start_worker()
    async with httpx.AsyncClient(base_url=serve.base, timeout=60.0) as http:
        for name in ("tickets", "fresh"):
            created = await http.post("/api/projects", json=project_spec(name, exploration=0.0))
            assert created.status_code == 201, created.text
            posted = await http.post(f"/api/projects/{name}/events", json={"events": EVENTS})
            assert posted.status_code == 200, posted.text
        given: list[Any] = []
        async with (
            annotator(serve.base, "tickets", "alice") as alice,
            annotator(serve.base, "tickets", "bob") as bob,
        ):
            for _ in range(3):
                await _label_next(alice, "alice", given, wrong=True)
                await _label_next(bob, "bob", given, wrong=False)

        path = "/api/projects/tickets/annotators/alice"
        quarantined = await http.post(f"{path}/quarantine", json={})
        assert quarantined.status_code == 202, quarantined.text
        assert quarantined.json() == {
            "annotator": "alice",
            "state": "quarantined",
            "model_version": 7,
        }
        metrics = (await http.get("/api/projects/tickets/metrics")).json()
        assert metrics["model_version"] == 7
        assert metrics["annotators"]["alice"]["state"] == "quarantined"
        assert metrics["queue_depth"] == 2 + 3  # two never labelled, and her three

        bobs = [(event_id, label) for who, event_id, label in given if who == "bob"]
        for n, (event_id, label) in enumerate(bobs):
            body = {"labels": [{"event_id": event_id, "label": label, "label_id": f"f{n}"}]}
            learned = await http.post("/api/projects/fresh/labels", json=body)
            assert learned.status_code == 200 and "error" not in learned.json()["results"][0]
        await _served(serve.base, "fresh", len(bobs))
        assert await _predictions(http, "tickets") == await _predictions(http, "fresh")

        # Her labels are refused by the learner, whichever web process takes them.
        async with annotator(serve.base, "tickets", "alice") as late:
            refused = await late.label("e0", "bug", "alice-late")
            assert refused["type"] == "error" and refused["code"] == "quarantined", refused

        # The workers score with the rebuilt version.
        for n in range(400):
            await cluster.produce([event(100 + n)])
            if (await cluster.next_scored())["model_version"] >= 7:
                break
        else:
            pytest.fail("no worker scored with the rebuilt model")

        hers = {event_id for who, event_id, _label in given if who == "alice"}
        assert hers <= _waiting(cluster)  # back in the queue for others
        released = await http.post(f"{path}/release", json={})
        assert released.status_code == 202, released.text
        assert released.json() == {"annotator": "alice", "state": "active", "model_version": 8}
        metrics = (await http.get("/api/projects/tickets/metrics")).json()
        assert metrics["annotators"]["alice"]["state"] == "active"
        assert not hers & _waiting(cluster)  # labelled again
