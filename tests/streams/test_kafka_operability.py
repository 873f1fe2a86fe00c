"""An operator's view of workers on Kafka: any start order, and every worker observable.

Real services: the broker scripts/kafka/broker starts, the PostgreSQL scripts/postgres starts,
``streamloop worker`` and ``streamloop serve`` processes, a plain aiokafka producer.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from kafka_cluster import Cluster, event
from streamloop.store import Store
from support import RECEIVE_TIMEOUT, free_port, make_project, project_spec

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


async def _until(check: Callable[[], object], what: str, within: float = RECEIVE_TIMEOUT * 3):
    """Polls ``check`` (a coroutine function) until it returns something true; that value."""
    try:
        async with asyncio.timeout(within):
            while not (found := await check()):  # type: ignore[misc]  # noqa: ASYNC110
                await asyncio.sleep(0.2)  # another process's state: polled
    except TimeoutError:
        raise AssertionError(f"{what}: not so within {within:g} s") from None
    return found


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_workers_started_before_anything_else_score_at_once_and_can_be_watched(
    cluster: Cluster, tmp_path: Path
):
    # A fresh prefix: none of its topics exist. The worker starts first, as the docs say.
    port = free_port()
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    worker = cluster.start_worker("--port", str(port), cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as http:

        async def ready() -> dict[str, object] | None:
            try:
                answer = await http.get("/readyz")
            except httpx.TransportError:
                return None  # not listening yet
            assert answer.status_code in (200, 503), answer.text
            return answer.json() if answer.status_code == 200 else None

        # It holds partitions of both topics without waiting for a rebalance minutes later.
        readiness = await _until(ready, "the worker's /readyz")
        assert f"{cluster.prefix}.events[0]" in readiness["partitions"]
        assert f"{cluster.prefix}.labels[0]" in readiness["partitions"]
        assert (await http.get("/healthz")).json()["status"] == "ok"

        serve = await cluster.start_serve()
        async with httpx.AsyncClient(base_url=serve.base) as web:
            assert (await web.post("/api/projects", json=project_spec())).status_code == 201
        await cluster.produce([event(n) for n in range(5)])
        scored = [await cluster.next_scored() for _ in range(5)]
        assert {record["id"] for record in scored} == {f"evt-{n}" for n in range(5)}
        assert {record["worker"] for record in scored} == {
            f"{socket.gethostname()}:{worker.process.pid}"
        }

        events0 = (("partition", "0"), ("topic", f"{cluster.prefix}.events"))

        async def metrics() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            found = _samples((await http.get("/metrics")).text)
            done = found.get(("streamloop_worker_events_scored_total", (("project", "tickets"),)))
            lags = [k for k in found if k[0] == "streamloop_worker_consumer_lag"]
            # The lag is looked at every few seconds: a look taken while the worker was still
            # reading says 1 until the next one, so the figure is awaited, not read once.
            caught_up = found.get(("streamloop_worker_consumer_lag", events0)) == 0
            return found if done == 5 and len(lags) == 8 and caught_up else None

        figures = await _until(metrics, "the worker's metrics, its lag on events[0] at 0")
        assert figures[("streamloop_worker_model_version", (("project", "tickets"),))] == 0
        assert figures[("streamloop_worker_broker_connected", ())] == 1
        assert figures[("streamloop_worker_ready", ())] == 1
        assert figures[("streamloop_worker_rebalances_total", ())] >= 1

    # Its consumer is named after the process, so the broker's lag figures say whose they are.
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await admin.start()
    try:
        [answer] = await admin.describe_consumer_groups([f"{cluster.prefix}-workers"])
    finally:
        await admin.close()
    [group] = answer.to_object()["groups"]
    clients = {member["client_id"] for member in group["members"]}
    assert clients == {f"{cluster.prefix}-workers-{socket.gethostname()}-{worker.process.pid}"}
    # faust's data folder is not left in the working folder.
    assert list(workdir.iterdir()) == []


async def test_a_dead_letter_says_where_it_came_from_and_replays_once_fixed(cluster: Cluster):
    port = free_port()
    worker = cluster.start_worker("--port", str(port))
    # An event of a project that does not exist yet: dead-lettered, with its context.
    await cluster.produce([event(7, project="later")])
    letters = AIOKafkaConsumer(
        f"{cluster.prefix}.dead-letter",
        bootstrap_servers=cluster.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await letters.start()
    try:
        letter = await asyncio.wait_for(letters.getone(), RECEIVE_TIMEOUT * 3)
    finally:
        await letters.stop()
    headers = {name: value.decode() for name, value in letter.headers}
    assert letter.key == b"evt-7"
    assert headers["source_topic"] == f"{cluster.prefix}.events"
    assert headers["reason"] == "unknown_project"
    assert headers["worker"] == f"{socket.gethostname()}:{worker.process.pid}"
    assert {"source_partition", "source_offset", "source_timestamp", "dead_lettered_at"} <= set(
        headers
    )
    log = worker.log.read_text()
    assert "dead letter (unknown_project)" in log and "'evt-7'" in log
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        found = _samples((await http.get("/metrics")).text)
    assert found[("streamloop_worker_dead_letters_total", (("reason", "unknown_project"),))] == 1

    # Fixed (the project made), the letter goes back to the events topic and is scored.
    store = Store(cluster.database)
    try:
        make_project(store, "later")
    finally:
        store.close()
    broker = f"kafka://{cluster.bootstrap}"
    replay = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "streamloop", "dead-letters", "replay", "--broker", broker],
        env={**os.environ, **cluster.env},
        capture_output=True,
        text=True,
        timeout=RECEIVE_TIMEOUT * 3,
    )
    assert replay.returncode == 0, replay.stderr
    record = await cluster.next_scored()
    assert (record["project"], record["id"]) == ("later", "evt-7")
