"""A real ``streamloop serve`` process: killed with SIGKILL it loses nothing acknowledged;
stopped with SIGTERM it snapshots and exits 0."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from support import RECEIVE_TIMEOUT, ServeProcess, annotator, free_port, project_spec, ticket

pytestmark = pytest.mark.slow

LABELS = ["billing", "bug", "other"]


@contextlib.asynccontextmanager
async def serve(
    data_dir: Path, port: int, database: str | None = None
) -> AsyncIterator[ServeProcess]:
    env = {"STREAMLOOP_SNAPSHOT_EVERY_LABELS": "10"}
    if database:
        env["STREAMLOOP_DATABASE"] = database
    process = ServeProcess(["--data-dir", str(data_dir), "--log-level", "warning"], env, port)
    try:
        await process.ready()
        yield process
    finally:
        if process.process.poll() is None:
            process.kill(signal.SIGKILL)
        elif process.process.stdout is not None:
            process.process.stdout.close()


async def label_over_websocket(base: str, count: int) -> list[dict]:
    acks = []
    async with annotator(base, "tickets", "alice") as alice:
        while len(acks) < count:
            item = (await alice.next_item())["item"]["id"]
            n = int(item.split("-")[1])
            ack = await alice.label(item, LABELS[n % 3], f"label-{n}")
            assert ack["type"] == "ack", ack
            acks.append(ack)
    return acks


async def predictions(http: httpx.AsyncClient) -> list[dict]:
    probes = [ticket(label, 1000 + n) for n, label in enumerate(LABELS * 4)]
    return [
        (await http.post("/api/projects/tickets/predict", json={"data": data})).json()
        for data in probes
    ]


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_sigkill_after_n_acknowledged_labels_restarts_with_n_labels_and_same_model(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
):
    port = free_port()
    url = None if database == "sqlite" else request.getfixturevalue("postgres_url")
    async with serve(tmp_path, port, url) as first:
        async with first.http() as http:
            assert (await http.post("/api/projects", json=project_spec())).status_code == 201
            events = [{"id": f"evt-{i}", "data": ticket(LABELS[i % 3], i)} for i in range(60)]
            assert (
                await http.post("/api/projects/tickets/events", json={"events": events})
            ).status_code == 200
            acks = await label_over_websocket(first.base, 25)
            before = await predictions(http)
            metrics_before = (await http.get("/api/projects/tickets/metrics")).json()
        first.kill(signal.SIGKILL)
    assert [a["model_version"] for a in acks] == list(range(1, 26))

    async with (
        serve(tmp_path, port, url) as second,
        second.http() as http,
    ):
        metrics = (await http.get("/api/projects/tickets/metrics")).json()
        assert metrics["labels_total"] == 25 and metrics["model_version"] == 25
        assert metrics["accuracy"] == metrics_before["accuracy"]
        # The shadows and their held-out draws are model state, replayed exactly, and the
        # traffic the estimate is about is read back from the store: the same figure.
        assert metrics["unbiased_accuracy"] == metrics_before["unbiased_accuracy"]
        # The warm-up's random draws, each scored by the shadow that never learned it.
        assert metrics["unbiased_accuracy"]["samples"] == 20
        assert metrics["unbiased_accuracy"]["traffic"] == 60
        assert metrics["events_total"] == 60 and metrics["queue_depth"] == 35
        assert await predictions(http) == before
        # A client retrying an acknowledged label after the crash: acked again, learned once.
        async with annotator(second.base, "tickets", "a") as a:
            message = await a.label(acks[0]["item_id"], "bug", acks[0]["label_id"])
        assert message["type"] == "ack", message
        assert message["duplicate"] is True and message["model_version"] == 1
        assert (await http.get("/api/projects/tickets/metrics")).json()["labels_total"] == 25


async def test_sigterm_snapshots_every_model_and_exits_zero(tmp_path: Path):
    port = free_port()
    async with serve(tmp_path, port) as process:
        async with process.http() as http:
            await http.post("/api/projects", json=project_spec())
            events = [{"id": f"evt-{i}", "data": ticket(LABELS[i % 3], i)} for i in range(5)]
            await http.post("/api/projects/tickets/events", json={"events": events})
            await http.post(
                "/api/projects/tickets/labels",
                json={
                    "labels": [
                        {"event_id": e["id"], "label": LABELS[i % 3]} for i, e in enumerate(events)
                    ]
                },
            )
        assert process.kill(signal.SIGTERM) == 0
    with contextlib.closing(sqlite3.connect(tmp_path / "streamloop.db")) as db:
        versions = [row[0] for row in db.execute("SELECT model_version FROM snapshots")]
    assert max(versions) == 5


async def test_sigkill_under_load_keeps_every_ack_and_retries_count_once(tmp_path: Path):
    """Eight annotators at full speed and a producer; SIGKILL with labels in flight. After the
    restart every acknowledged label is there, and retrying every label sent (acknowledged or
    not) with its label_id learns each exactly once."""
    port = free_port()
    sent: dict[str, str] = {}  # label_id -> item id
    acked: set[str] = set()
    enough = asyncio.Event()

    async def annotate(base: str, name: str) -> None:
        """Labels what it is sent until the connection ends (with the process)."""
        async with annotator(base, "tickets", name) as socket:
            while True:
                # A label refused under load (an error) is sent again after the restart.
                message = await socket.expect("item", "ack", "error")
                if message["type"] == "item":
                    item = message["item"]["id"]
                    label_id = f"{name}:{item}"
                    sent[label_id] = item
                    n = int(item.split("-")[1])
                    frame = {"type": "label", "item_id": item, "label": LABELS[n % 3]}
                    await socket.send({**frame, "label_id": label_id})
                elif message["type"] == "ack":
                    acked.add(message["label_id"])
                    if len(acked) >= 60:
                        enough.set()

    async def produce(http: httpx.AsyncClient) -> None:
        for batch in range(1000):
            events = [
                {"id": f"evt-{n}", "data": ticket(LABELS[n % 3], n)}
                for n in range(200 + 20 * batch, 220 + 20 * batch)
            ]
            await http.post("/api/projects/tickets/events", json={"events": events})

    async with serve(tmp_path, port) as first, first.http() as http:
        assert (await http.post("/api/projects", json=project_spec())).status_code == 201
        events = [{"id": f"evt-{n}", "data": ticket(LABELS[n % 3], n)} for n in range(200)]
        assert (
            await http.post("/api/projects/tickets/events", json={"events": events})
        ).status_code == 200
        tasks = [asyncio.create_task(annotate(first.base, f"a{k}")) for k in range(8)]
        tasks.append(asyncio.create_task(produce(http)))
        await asyncio.wait_for(enough.wait(), RECEIVE_TIMEOUT)
        first.kill(signal.SIGKILL)
        await asyncio.gather(*tasks, return_exceptions=True)  # each ends with the connection
    acknowledged = set(acked)
    assert len(acknowledged) >= 60

    async with (
        serve(tmp_path, port) as second,
        second.http() as http,
    ):
        stored = (await http.get("/api/projects/tickets/metrics")).json()["labels_total"]
        assert stored >= len(acknowledged)  # every ack survived; some unacked may have too
        outcomes: dict[str, bool] = {}
        async with annotator(second.base, "tickets", "r") as retrier:
            for label_id, item in sent.items():
                n = int(item.split("-")[1])
                message = await retrier.label(item, LABELS[n % 3], label_id)
                assert message["type"] == "ack", message
                outcomes[label_id] = message["duplicate"]
        # Acknowledged before the crash: a duplicate now. Sent but never acknowledged: stored
        # now if the crash lost it, a duplicate if only its ack was lost. Never learned twice.
        assert all(outcomes[label_id] for label_id in acknowledged)
        assert sum(outcomes.values()) == stored
        metrics = (await http.get("/api/projects/tickets/metrics")).json()
        assert metrics["labels_total"] == len(sent) == metrics["model_version"]
