"""The loop on Kafka: faust workers score events from the topic; serve routes and learns.

Real services: the broker scripts/kafka/broker starts, the PostgreSQL scripts/postgres starts,
and ``streamloop serve`` and ``streamloop worker`` processes. Events are produced by a plain
aiokafka producer, not by streamloop's code.
"""

from __future__ import annotations

import asyncio
import signal

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from kafka_cluster import Cluster, event, metrics_until
from streamloop.store import Store
from support import RECEIVE_TIMEOUT, ServeProcess, Socket, annotator, project_spec, reviewer

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


async def test_events_from_a_plain_producer_are_scored_and_reach_annotators(cluster: Cluster):
    serve = await cluster.start_serve()
    async with httpx.AsyncClient(base_url=serve.base) as http:
        assert (await http.post("/api/projects", json=project_spec())).status_code == 201
    cluster.start_worker()
    await cluster.produce([event(n) for n in range(5)])
    await cluster.produce([{"project": "tickets", "id": "bad", "data": {"no": "text"}}])
    scored = {(await cluster.next_scored())["id"] for _ in range(5)}
    assert scored == {f"evt-{n}" for n in range(5)}
    dead = AIOKafkaConsumer(
        f"{cluster.prefix}.dead-letter",
        bootstrap_servers=cluster.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await dead.start()
    try:
        refused = orjson.loads((await asyncio.wait_for(dead.getone(), RECEIVE_TIMEOUT)).value)
    finally:
        await dead.stop()
    assert "text" in refused["error"] and '"bad"' in refused["event"]

    async with annotator(serve.base, "tickets", "a", prefetch=5) as socket:
        items = [(await socket.next_item())["item"]["id"] for _ in range(5)]
    assert sorted(items) == sorted(scored)  # each scored event once, the refused one never


async def test_a_label_reaches_every_worker_as_a_new_model_version(cluster: Cluster):
    serve = await cluster.start_serve()
    async with httpx.AsyncClient(base_url=serve.base) as http:
        await http.post("/api/projects", json=project_spec())
    first, second = cluster.start_worker(), cluster.start_worker()
    await cluster.produce([event(0)])
    assert (await cluster.next_scored())["model_version"] == 0

    async with annotator(serve.base, "tickets", "a") as socket:
        assert (await socket.next_item())["item"]["id"] == "evt-0"
        ack = await socket.label("evt-0", "billing", "l-0")
        assert ack["type"] == "ack" and ack["model_version"] == 1, ack

    # Events keyed over every partition, so both workers score some; each must have
    # hot-swapped to version 1 by the time it scores them.
    by_worker: dict[str, int] = {}
    for n in range(1, 400):
        await cluster.produce([event(n)])
        record = await cluster.next_scored()
        by_worker[record["worker"]] = max(
            by_worker.get(record["worker"], 0), record["model_version"]
        )
        if len(by_worker) == 2 and min(by_worker.values()) >= 1:
            break
    assert len(by_worker) == 2, f"the two workers did not share the partitions: {by_worker}"
    assert min(by_worker.values()) == 1
    assert first.process.poll() is None and second.process.poll() is None


async def test_a_worker_killed_mid_stream_loses_no_event(cluster: Cluster):
    serve = await cluster.start_serve()
    async with httpx.AsyncClient(base_url=serve.base) as http:
        await http.post("/api/projects", json=project_spec())
    doomed, survivor = cluster.start_worker(), cluster.start_worker()
    await cluster.produce([event(n) for n in range(300)])
    seen: set[str] = set()
    while len(seen) < 50:
        seen.add((await cluster.next_scored())["id"])
    doomed.kill(signal.SIGKILL)
    while len(seen) < 300:
        seen.add((await cluster.next_scored())["id"])
    assert survivor.process.poll() is None
    store = Store(cluster.database)
    try:
        [project] = store.list_projects()
        assert store.count_events(project.id) == 300
    finally:
        store.close()


async def test_an_overlapped_item_is_learned_once_and_its_review_reaches_the_workers(
    cluster: Cluster,
):
    serve = await cluster.start_serve()
    async with httpx.AsyncClient(base_url=serve.base) as http:
        spec = project_spec(overlap={"share": 1.0, "annotators": 2})
        assert (await http.post("/api/projects", json=spec)).status_code == 201
    cluster.start_worker()
    await cluster.produce([event(0)])
    await cluster.next_scored()
    async with annotator(serve.base, "tickets", "alice") as alice:
        assert (await alice.next_item())["item"]["id"] == "evt-0"
        assert (await alice.label("evt-0", "bug", "a-0"))["model_version"] == 1
    async with annotator(serve.base, "tickets", "bob") as bob:
        assert (await bob.next_item())["item"]["id"] == "evt-0"
        ack = await bob.label("evt-0", "billing", "b-0")
        assert ack["type"] == "ack" and ack["model_version"] == 1, ack  # recorded, not learned
    await metrics_until(serve, lambda m: m["review"]["waiting"] == 1)
    async with reviewer(serve.base, "tickets", "rita") as rita:
        offered = await rita.expect("review")
        assert [x["annotator"] for x in offered["labels"]] == ["alice", "bob"]
        await rita.send(
            {"type": "resolve", "item_id": "evt-0", "label": "billing", "label_id": "r"}
        )
        assert (await rita.expect("ack"))["model_version"] == 2
    # The worker learned the review as a correction: what it scores next is version 2.
    for n in range(1, 200):
        await cluster.produce([event(n)])
        if (await cluster.next_scored())["model_version"] == 2:
            break
    else:
        raise AssertionError("the worker never scored with the reviewed model")


async def test_two_web_processes_on_one_postgresql_never_lease_an_item_twice(cluster: Cluster):
    first = await cluster.start_serve()
    async with httpx.AsyncClient(base_url=first.base) as http:
        spec = project_spec(lease_seconds=600.0)
        assert (await http.post("/api/projects", json=spec)).status_code == 201
    cluster.start_worker()
    total = 40
    await cluster.produce([event(n) for n in range(total)])
    for _ in range(total):
        await cluster.next_scored()
    # Started now, the second process takes every waiting item from the store, as the first
    # holds them all in its queue: both rank the same items first, and only the claims in
    # PostgreSQL keep their annotators apart.
    second = await cluster.start_serve()

    received: dict[str, list[str]] = {}
    acked: set[str] = set()
    all_acked = asyncio.Event()

    async def annotate(serve: ServeProcess, name: str) -> None:
        async with annotator(serve.base, "tickets", name, prefetch=3) as socket:
            await label_everything(socket, name)

    async def label_everything(socket: Socket, name: str) -> None:
        # Every item is labelled as it comes, without waiting for the acks before it.
        while not all_acked.is_set():
            message = await socket.expect("item", "ack")
            if message["type"] == "item":
                item = message["item"]["id"]
                received.setdefault(item, []).append(name)
                await socket.send(
                    {"type": "label", "item_id": item, "label": "bug", "label_id": item}
                )
            else:
                assert not message["duplicate"], message
                assert message["label_id"] == message["item_id"], message
                acked.add(message["item_id"])
                if len(acked) == total:
                    all_acked.set()

    annotators = [
        asyncio.create_task(annotate(serve, f"{tag}{n}"))
        for serve, tag in ((first, "a"), (second, "b"))
        for n in range(2)
    ]
    finished = asyncio.create_task(all_acked.wait())
    await asyncio.wait(
        [finished, *annotators], timeout=RECEIVE_TIMEOUT * 3, return_when=asyncio.FIRST_COMPLETED
    )
    for task in annotators:
        if task.done():
            task.result()  # an annotator's failed assertion fails the test
        task.cancel()
    assert all_acked.is_set(), f"{len(acked)} of {total} labels acked"

    twice = {item: names for item, names in received.items() if len(names) > 1}
    assert not twice, f"items leased twice: {twice}"
    assert set(received) == {f"evt-{n}" for n in range(total)}
    assert {names[0][0] for names in received.values()} == {"a", "b"}, "one process did all"
    # Every label was learned once, by the project's one learner, and both web processes
    # hot-swapped to the version holding all of them.
    for serve in (first, second):
        metrics = await metrics_until(serve, lambda m: m["model_version"] == total)
        assert metrics["labels_total"] == total


async def test_a_multilabel_project_runs_on_kafka_with_label_sets(cluster: Cluster):
    serve = await cluster.start_serve()
    spec = project_spec(task="multilabel", model="naive_bayes", exploration=0.0)
    async with httpx.AsyncClient(base_url=serve.base) as http:
        assert (await http.post("/api/projects", json=spec)).status_code == 201
    cluster.start_worker()
    await cluster.produce([event(0)])
    scored = await cluster.next_scored()
    assert scored["labels"] is None and scored["model_version"] == 0
    async with annotator(serve.base, "tickets", "a") as socket:
        item = (await socket.next_item())["item"]
        assert item["id"] == "evt-0" and item["labels"] is None
        ack = await socket.label("evt-0", ["bug", "billing"], "l-0")
        assert ack["type"] == "ack" and ack["model_version"] == 1, ack
        again = await socket.label("evt-0", ["billing", "bug"], "l-0")
        assert again["duplicate"] and again["model_version"] == 1
    # The worker learns the set and scores with it.
    for n in range(1, 200):
        await cluster.produce([event(n)])
        record = await cluster.next_scored()
        if record["model_version"] >= 1:
            break
    assert record["model_version"] == 1 and isinstance(record["labels"], list)
    assert set(record["probabilities"]) == {"billing", "bug", "other"}


async def test_a_spans_project_runs_on_kafka_with_spans(cluster: Cluster):
    serve = await cluster.start_serve()
    spec = project_spec(task="spans", exploration=0.0)
    async with httpx.AsyncClient(base_url=serve.base) as http:
        assert (await http.post("/api/projects", json=spec)).status_code == 201
    cluster.start_worker()
    await cluster.produce([event(0)])
    scored = await cluster.next_scored()
    assert scored["spans"] is None and scored["model_version"] == 0
    first_word = event(0)["data"]["text"].split()[0]
    spans = [{"start": 0, "end": len(first_word), "label": "billing"}]
    async with annotator(serve.base, "tickets", "a") as socket:
        item = (await socket.next_item())["item"]
        assert item["id"] == "evt-0" and item["spans"] is None and item["tokens"][0][0] == 0
        beyond = [{"start": 0, "end": 999, "label": "billing"}]
        refused = await socket.label("evt-0", beyond, "l-bad")
        assert refused["type"] == "error" and "outside the text" in refused["message"]
        ack = await socket.label("evt-0", spans, "l-0")
        assert ack["type"] == "ack" and ack["model_version"] == 1, ack
        again = await socket.label("evt-0", spans, "l-0")
        assert again["duplicate"] and again["model_version"] == 1
    # The worker learns the spans and tags with them.
    for n in range(1, 200):
        await cluster.produce([event(n)])
        record = await cluster.next_scored()
        if record["model_version"] >= 1:
            break
    assert record["model_version"] == 1 and isinstance(record["spans"], list)
