"""The loop on Kafka: model-version propagation lag, and events scored per second by workers.

Needs a broker and a PostgreSQL server (the project's scripts start both):

    export STREAMLOOP_BENCH_KAFKA=$(scripts/kafka/broker start)
    export STREAMLOOP_BENCH_DATABASE=$(scripts/postgres start)
    python bench/kafka_loop.py --labels 40 --events 5000

serve and the workers sign model snapshots with the key in ``STREAMLOOP_SECRET_KEY`` or
``STREAMLOOP_SECRET_KEY_FILE``; with neither set, the benchmark makes a key of its own.

Label round trip: from sending a label over the WebSocket to its ack, which comes once the
project's learner (in a worker) has stored and learned it and its outcome is back. Propagation
lag: from the moment a label's ack reaches the annotator to the moment *every* worker scores an
event with the version that includes it (probed with back-to-back events keyed over all
partitions). Throughput: events produced by a plain producer until all are scored, stored and
published, with one worker and with two (measured once every worker is scoring).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from server import Server, label_frame, machine_line
from websockets.asyncio.client import connect

LABELS = ["billing", "bug", "other"]
#: No wait in this benchmark may exceed this (seconds): it fails instead of hanging.
PATIENCE = 60.0


def text(n: int) -> dict[str, str]:
    words = [
        ["invoice", "refund", "charged"],
        ["crash", "error", "broken"],
        ["hello", "idea", "thanks"],
    ]
    return {"text": f"{words[n % 3][n % 2]} {words[n % 3][2]} {n}"}


class Loop:
    def __init__(self, bootstrap: str, database: str, workers: int) -> None:
        self.bootstrap = bootstrap
        self.prefix = f"bench{uuid.uuid4().hex[:8]}"
        os.environ["STREAMLOOP_TOPIC_PREFIX"] = self.prefix
        if not (
            os.environ.get("STREAMLOOP_SECRET_KEY") or os.environ.get("STREAMLOOP_SECRET_KEY_FILE")
        ):
            # Every process started here inherits it: they all sign and verify with one key.
            os.environ["STREAMLOOP_SECRET_KEY"] = secrets.token_hex(32)
        args = ["--broker", f"kafka://{bootstrap}", "--database", database]
        self.server = Server(tempfile.mkdtemp(prefix="streamloop-bench-"), *args)
        self.workers = [
            subprocess.Popen(
                [sys.executable, "-m", "streamloop", "worker", *args, "--log-level", "warning"],
                stdout=open(f"/tmp/bench-worker-{n}.log", "w"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )
            for n in range(workers)
        ]

    async def __aenter__(self) -> Loop:
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
        await self.producer.start()
        self.scored = AIOKafkaConsumer(
            f"{self.prefix}.scored",
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
        )
        await self.scored.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()
        await self.scored.stop()
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
        self.server.stop()

    async def produce(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            await self.producer.send(
                f"{self.prefix}.events", orjson.dumps(event), key=event["id"].encode()
            )
        await self.producer.flush()

    async def all_scoring(self, project: str, workers: int) -> set[str]:
        """Probe until every worker has scored an event (partitions assigned to each)."""
        seen: set[str] = set()
        probe = 0
        while len(seen) < workers:
            probe += 1
            event = {"project": project, "id": f"warm-{probe}", "data": text(probe)}
            await self.produce([event])
            seen.add((await self.until_scored({event["id"]}))[-1]["worker"])
        return seen

    async def until_scored(self, ids: set[str]) -> list[dict[str, Any]]:
        records = []
        while ids:
            batch = await self.scored.getmany(timeout_ms=int(PATIENCE * 1000))
            if not batch:
                raise TimeoutError(f"{len(ids)} events never came back scored")
            for messages in batch.values():
                for message in messages:
                    record = orjson.loads(message.value)
                    ids.discard(record["id"])
                    records.append(record)
        return records


async def propagation(bootstrap: str, database: str, labels: int) -> dict[str, Any]:
    async with Loop(bootstrap, database, workers=2) as loop:
        project = loop.prefix
        async with httpx.AsyncClient(base_url=loop.server.base) as http:
            await http.post("/api/projects", json={"name": project, "labels": LABELS})
        seeds = [{"project": project, "id": f"seed-{n}", "data": text(n)} for n in range(labels)]
        await loop.produce(seeds)
        await loop.until_scored({e["id"] for e in seeds})
        # Both workers must be scoring before the clock starts.
        workers = await loop.all_scoring(project, 2)
        probe = 0
        lags, round_trips = [], []
        url = (
            loop.server.base.replace("http", "ws") + f"/ws/projects/{project}/annotate?annotator=b"
        )
        async with connect(url) as ws:
            while len(lags) < labels:
                message = orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
                if message["type"] != "item":
                    continue
                n = int(message["item"]["id"].split("-")[1])
                sent = time.perf_counter()
                await ws.send(label_frame(message["item"]["id"], LABELS[n % 3]))
                while True:
                    ack = orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
                    if ack["type"] == "ack":
                        break
                    assert ack["type"] != "error", ack
                acked, version = time.perf_counter(), ack["model_version"]
                round_trips.append(acked - sent)
                caught_up: set[str] = set()
                while caught_up != workers:
                    probe += 1
                    event = {"project": project, "id": f"probe-{probe}", "data": text(probe)}
                    await loop.produce([event])
                    for record in await loop.until_scored({event["id"]}):
                        if record["model_version"] >= version:
                            caught_up.add(record["worker"])
                lags.append(time.perf_counter() - acked)
    return {
        "labels": len(lags),
        "ack_p50_ms": _ms(round_trips, 0.5),
        "ack_p99_ms": _ms(round_trips, 0.99),
        "lag_p50_ms": _ms(lags, 0.5),
        "lag_p99_ms": _ms(lags, 0.99),
        "probes": probe,
    }


def _ms(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    if quantile == 0.5:
        return round(1000 * statistics.median(ordered), 1)
    return round(1000 * ordered[int(quantile * (len(ordered) - 1))], 1)


async def throughput(bootstrap: str, database: str, workers: int, events: int) -> dict[str, Any]:
    async with Loop(bootstrap, database, workers=workers) as loop:
        async with httpx.AsyncClient(base_url=loop.server.base) as http:
            await http.post("/api/projects", json={"name": loop.prefix, "labels": LABELS})
        await loop.all_scoring(loop.prefix, workers)
        batch = [{"project": loop.prefix, "id": f"evt-{n}", "data": text(n)} for n in range(events)]
        started = time.perf_counter()
        await loop.produce(batch)
        records = await loop.until_scored({e["id"] for e in batch})
        elapsed = time.perf_counter() - started
    return {
        "workers": workers,
        "events": events,
        "events_per_second": round(events / elapsed, 1),
        "workers_seen": len({r["worker"] for r in records}),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=40)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    bootstrap = os.environ["STREAMLOOP_BENCH_KAFKA"]
    database = os.environ["STREAMLOOP_BENCH_DATABASE"]
    print(machine_line())
    print(orjson.dumps(await propagation(bootstrap, database, args.labels)).decode(), flush=True)
    for workers in (1, 2):
        result = await throughput(bootstrap, database, workers, args.events)
        print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
