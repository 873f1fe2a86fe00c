"""serve on Kafka as an operator watches it: a label whose learner is not there, /readyz that
says why serve is not ready, and the metrics that count it.

Real services: the broker scripts/kafka/broker starts (and one of the test's own, stopped
under a running serve), the PostgreSQL scripts/postgres starts, and ``streamloop serve`` and
``streamloop worker`` processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kafka_cluster import Broker, Cluster, event
from streamloop.store import Store
from support import RECEIVE_TIMEOUT, ServeProcess, annotator, project_spec

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
#: Most learner timeouts a test sits through before it calls the learner gone.
ATTEMPTS_MAX = 20

#: A learner timeout short enough that a label with no worker is answered quickly.
LEARNER_TIMEOUT = "1"


async def start_serve(cluster: Cluster) -> ServeProcess:
    """serve with a short learner timeout, and the project ``tickets``."""
    args = [*cluster.broker_args, "--data-dir", str(cluster.tmp_path), "--log-level", "error"]
    env = {**cluster.env, "STREAMLOOP_LEARNER_TIMEOUT_SECONDS": LEARNER_TIMEOUT}
    serve = ServeProcess(args, env)
    cluster.serves.append(serve)
    await serve.ready()
    async with httpx.AsyncClient(base_url=serve.base) as http:
        assert (await http.post("/api/projects", json=project_spec())).status_code == 201
    return serve


async def until(probe: Callable[[], Awaitable[Any]], done: Callable[[Any], bool]) -> Any:
    """Poll ``probe`` until ``done`` holds of what it returns (a safety net, not a timing)."""
    deadline = time.monotonic() + RECEIVE_TIMEOUT * 3
    while not done(found := await probe()):
        assert time.monotonic() < deadline, f"still {found}"
        await asyncio.sleep(0.2)
    return found


async def readiness(serve: ServeProcess) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=serve.base) as http:
        response = await http.get("/readyz")
    return response.status_code, response.json()


def code(found: tuple[int, dict[str, Any]]) -> str | None:
    """The error code of a /readyz answer, None when ready."""
    return found[1]["error"]["code"] if found[0] != 200 else None


async def scraped(serve: ServeProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The serve process's Prometheus samples, by name and labels."""
    async with httpx.AsyncClient(base_url=serve.base) as http:
        text = (await http.get("/metrics")).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


TIMEOUTS = ("streamloop_learner_timeouts_total", (("project", "tickets"),))
WORKERS = ("streamloop_workers", ())
CONNECTED = ("streamloop_broker_connected", ())


async def test_a_label_that_timed_out_with_no_worker_is_learned_once_when_sent_again(
    cluster: Cluster,
):
    serve = await start_serve(cluster)
    async with httpx.AsyncClient(base_url=serve.base) as http:
        events = {"events": [{"id": e["id"], "data": e["data"]} for e in (event(0), event(1))]}
        assert (await http.post("/api/projects/tickets/events", json=events)).status_code == 200
    status, body = await readiness(serve)
    assert status == 503 and body["error"]["code"] == "no_workers", body
    label = {"type": "label", "item_id": "evt-0", "label": "bug", "label_id": "l-0"}

    async with annotator(serve.base, "tickets", "a", prefetch=2) as ws:
        ws.timeout = RECEIVE_TIMEOUT * 3
        await ws.send(label)
        refused = await ws.expect("error", keep_items=True)
        assert refused["code"] == "learner_timeout" and refused["label_id"] == "l-0", refused
        # The broker has it: the learner will learn it when one runs, and the error says so.
        assert refused["delivered"] is True, refused
        timeouts = 1
        metrics = await scraped(serve)
        assert metrics[TIMEOUTS] == timeouts
        assert metrics[WORKERS] == 0 and metrics[CONNECTED] == 1

        cluster.start_worker()
        status, body = await until(lambda: readiness(serve), lambda found: found[0] == 200)
        assert body["workers"] == 1, body
        # Sent again, with the same label_id, until the learner answers.
        while (answer := await ws.label("evt-0", "bug", "l-0"))["type"] == "error":
            assert answer["code"] == "learner_timeout", answer
            timeouts += 1
            assert timeouts < ATTEMPTS_MAX, "the learner never answered"
        assert answer["label_id"] == "l-0" and answer["model_version"] == 1, answer

        # Labels reach the learner in order: the next one's version shows that no copy of
        # the first was learned again.
        while (answer := await ws.label("evt-1", "bug", "l-1"))["type"] == "error":
            assert answer["code"] == "learner_timeout", answer
            timeouts += 1
            assert timeouts < ATTEMPTS_MAX, "the learner never answered"
        assert answer["label_id"] == "l-1" and answer["model_version"] == 2, answer

    store = Store(cluster.database)
    try:
        [project] = store.list_projects()
        stored = store.replay_labels(project.id, 0)
    finally:
        store.close()
    assert len(stored) == 2
    metrics = await scraped(serve)
    assert metrics[TIMEOUTS] == timeouts
    assert metrics[WORKERS] == 1


async def test_readyz_says_the_broker_is_unavailable_while_it_is_down(
    broker: Broker, postgres_url: str, tmp_path: Path
):
    cluster = Cluster(broker.bootstrap, postgres_url, tmp_path)
    try:
        serve = await start_serve(cluster)
        status, body = await readiness(serve)
        assert status == 503 and body["error"]["code"] == "no_workers", body

        broker.stop()
        status, body = await until(
            lambda: readiness(serve), lambda found: code(found) != "no_workers"
        )
        assert status == 503 and body["error"]["code"] == "broker_unavailable", body
        assert body["error"]["retryable"] is True
        assert (await scraped(serve))[CONNECTED] == 0

        broker.start()
        status, body = await until(
            lambda: readiness(serve),
            lambda found: code(found) != "broker_unavailable",
        )
        assert status == 503 and body["error"]["code"] == "no_workers", body
        assert (await scraped(serve))[CONNECTED] == 1
    finally:
        await cluster.close()
