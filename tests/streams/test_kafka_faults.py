"""Faults on Kafka: a broker restart, and the worker learning a project killed mid-stream.

A broker of this test's own (scripts/kafka/broker, its own folder and ports) is restarted under
a running serve and worker; the worker holding a project's labels partition is killed with
SIGKILL between labels. Nothing acknowledged is lost, and learning goes on.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kafka_cluster import Broker, Cluster, event, metrics_until
from streamloop.store import Store
from support import RECEIVE_TIMEOUT, ServeProcess, Socket, annotator, project_spec

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
async def own_cluster(broker: Broker, postgres_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    cluster = Cluster(broker.bootstrap, postgres_url, tmp_path)
    try:
        yield cluster
    finally:
        await cluster.close()


async def label_items(socket: Socket, count: int, prefix: str) -> list[int]:
    """Label the next ``count`` items sent, as a client should; the model version of each.

    A label the server could not confirm (a 503-like error frame) is sent again with the same
    ``label_id``, which the contract makes safe: it is learned once whatever happened to the
    first attempt.
    """
    # A broker reconnecting or a labels partition moving may hold a label's answer a while.
    socket.timeout = RECEIVE_TIMEOUT * 3
    versions: dict[str, int] = {}
    sent: list[dict[str, str]] = []
    while len(versions) < count:
        message = await socket.expect("item", "ack", "error")
        if message["type"] == "item":
            item = message["item"]["id"]
            label = {"type": "label", "item_id": item, "label": "bug", "label_id": prefix + item}
            sent.append(label)
            await socket.send(label)
        elif message["type"] == "ack":
            assert message["label_id"] in {label["label_id"] for label in sent}, message
            versions[message["label_id"]] = message["model_version"]
        else:
            assert message["code"] in ("learner_timeout", "broker_unavailable"), message
            for label in sent:
                if label["label_id"] not in versions:
                    await socket.send(label)
    return sorted(versions.values())


async def start_project(cluster: Cluster) -> ServeProcess:
    serve = await cluster.start_serve()
    async with httpx.AsyncClient(base_url=serve.base) as http:
        spec = project_spec(lease_seconds=600.0)
        assert (await http.post("/api/projects", json=spec)).status_code == 201
    return serve


async def test_a_broker_restart_loses_nothing_acknowledged(own_cluster: Cluster, broker: Broker):
    cluster = own_cluster
    serve = await start_project(cluster)
    worker = cluster.start_worker()
    await cluster.produce([event(n) for n in range(20)])
    for _ in range(20):
        await cluster.next_scored()
    async with annotator(serve.base, "tickets", "a") as socket:
        assert await label_items(socket, 5, "before-") == [1, 2, 3, 4, 5]

    broker.stop()
    broker.start()

    # The producer, serve, the worker and its learner all reconnect by themselves.
    await cluster.produce([event(n) for n in range(20, 40)])
    async with annotator(serve.base, "tickets", "a") as socket:
        assert await label_items(socket, 5, "after-") == [6, 7, 8, 9, 10]
    metrics = await metrics_until(serve, lambda m: m["model_version"] == 10)
    assert metrics["labels_total"] == 10
    while True:  # every event acknowledged by the broker was scored and stored
        record = await cluster.next_scored()
        if record["id"] == "evt-39":
            break
    assert worker.process.poll() is None
    store = Store(cluster.database)
    try:
        [project] = store.list_projects()
        assert store.count_events(project.id) == 40
        assert len(store.replay_labels(project.id, 0)) == 10
    finally:
        store.close()


async def test_the_learner_killed_mid_stream_hands_its_project_over(cluster: Cluster):
    serve = await start_project(cluster)
    first = cluster.start_worker()
    await cluster.produce([event(n) for n in range(30)])
    for _ in range(30):
        await cluster.next_scored()
    async with annotator(serve.base, "tickets", "a") as socket:
        assert await label_items(socket, 5, "") == [1, 2, 3, 4, 5]
        second = cluster.start_worker()
        first.kill(signal.SIGKILL)
        # The labels partition moves to the second worker, which rebuilds the model from
        # the store (snapshot plus labels) and goes on from version 5: none lost or repeated.
        assert await label_items(socket, 5, "") == [6, 7, 8, 9, 10]
    metrics = await metrics_until(serve, lambda m: m["model_version"] == 10)
    assert metrics["labels_total"] == 10
    assert second.process.poll() is None
