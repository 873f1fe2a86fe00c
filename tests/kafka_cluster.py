"""A streamloop cluster on Kafka for the tests: serve and worker processes, plain clients."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamloop.streams.signing import create_key_file
from support import RECEIVE_TIMEOUT, ServeProcess, WorkerProcess, dashboard, ticket

LABELS = ["billing", "bug", "other"]


class Cluster:
    """serve, workers, and plain Kafka clients, on one topic prefix and one database."""

    def __init__(self, bootstrap: str, database: str, tmp_path: Path) -> None:
        self.bootstrap = bootstrap
        self.database = database
        self.tmp_path = tmp_path
        self.prefix = f"t{uuid.uuid4().hex[:10]}"
        #: The key every process of this cluster shares, made as an operator would make it.
        self.key_file = tmp_path / f"{self.prefix}.key"
        create_key_file(self.key_file)
        self.env = {
            "STREAMLOOP_TOPIC_PREFIX": self.prefix,
            "STREAMLOOP_SECRET_KEY_FILE": str(self.key_file),
            "STREAMLOOP_SECRET_KEY": "",  # unset: a key in the caller's environment is not ours
        }
        self.serves: list[ServeProcess] = []
        self.workers: list[WorkerProcess] = []
        self.producer: AIOKafkaProducer | None = None
        self.scored: AIOKafkaConsumer | None = None

    @property
    def broker_args(self) -> list[str]:
        return ["--broker", f"kafka://{self.bootstrap}", "--database", self.database]

    async def start_serve(self) -> ServeProcess:
        args = [*self.broker_args, "--data-dir", str(self.tmp_path), "--log-level", "error"]
        serve = ServeProcess(args, self.env)
        self.serves.append(serve)
        await serve.ready()
        return serve

    def start_worker(self, *args: str, cwd: Path | None = None) -> WorkerProcess:
        """A worker (``args``: more options, such as ``--port``), its log in a file."""
        n = len(self.workers)
        log = self.tmp_path / f"worker-{n}.log"
        worker = WorkerProcess(
            [*self.broker_args, "--log-level", "warning", *args], log, self.env, cwd=cwd
        )
        self.workers.append(worker)
        return worker

    async def produce(self, events: list[dict[str, Any]]) -> None:
        if self.producer is None:
            self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
            await self.producer.start()
        for event in events:
            await self.producer.send_and_wait(
                f"{self.prefix}.events", orjson.dumps(event), key=event["id"].encode()
            )

    async def next_scored(self) -> dict[str, Any]:
        if self.scored is None:
            self.scored = AIOKafkaConsumer(
                f"{self.prefix}.scored",
                bootstrap_servers=self.bootstrap,
                group_id=None,
                auto_offset_reset="earliest",
            )
            await self.scored.start()
        message = await asyncio.wait_for(self.scored.getone(), RECEIVE_TIMEOUT * 3)
        record: dict[str, Any] = orjson.loads(message.value)
        return record

    async def close(self) -> None:
        for client in (self.producer, self.scored):
            if client is not None:
                await client.stop()
        for worker in self.workers:
            worker.kill(signal.SIGTERM)
        for serve in self.serves:
            serve.kill(signal.SIGTERM)


def event(n: int, project: str = "tickets") -> dict[str, Any]:
    return {"project": project, "id": f"evt-{n}", "data": ticket(LABELS[n % 3], n)}


async def metrics_until(
    serve: ServeProcess, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first metrics pushed on a dashboard socket for which ``done(metrics)`` holds."""
    async with dashboard(serve.base, "tickets") as socket:
        while not done(message := await socket.expect("metrics")):
            pass
        return dict(message)


#: The project's own broker script.
BROKER = Path(__file__).resolve().parents[1] / "scripts" / "kafka" / "broker"


class Broker:
    """A broker started and stopped by the project's own script, in a folder of its own."""

    def __init__(self, folder: Path) -> None:
        port = two_free_ports()
        self.env = {
            **os.environ,
            "STREAMLOOP_KAFKA_DIR": str(folder),
            "STREAMLOOP_KAFKA_PORT": str(port),
        }
        if "STREAMLOOP_KAFKA_DIR" in os.environ:  # the suite's broker: reuse its jars
            self.env["STREAMLOOP_KAFKA_LIBS"] = os.path.join(
                os.environ["STREAMLOOP_KAFKA_DIR"], "libs"
            )
        self.bootstrap = f"127.0.0.1:{port}"

    def start(self) -> None:
        out = subprocess.run([BROKER, "start"], env=self.env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == self.bootstrap

    def stop(self) -> None:
        subprocess.run([BROKER, "stop"], env=self.env, check=True)


def two_free_ports() -> int:
    """A free port whose next one is free too (the broker's controller listens there)."""
    for _ in range(100):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no two consecutive free ports")
