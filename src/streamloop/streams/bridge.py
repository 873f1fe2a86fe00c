"""The serve process on Kafka: model versions out to the workers, their scored items in.

The ``serve`` process keeps the embedded engine's loop (leases, the learner, snapshots) and
connects it to the workers through Kafka: after labels are learned it publishes the project's
new model to the compacted models topic (at most one publication in flight per project, the
newest version always last), and it routes the items workers scored and queued to annotators.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamloop.errors import StreamloopError
from streamloop.streams import topics
from streamloop.streams.embedded import EmbeddedEngine
from streamloop.streams.project import ProjectRuntime

__all__ = ["KafkaBridge"]

log = logging.getLogger(__name__)


class KafkaBridge:
    """Publishes model versions and routes worker-scored items, for one serve process."""

    def __init__(self, engine: EmbeddedEngine, broker: str, prefix: str = "streamloop") -> None:
        self.engine = engine
        self.bootstrap = topics.bootstrap_servers(broker)
        self.names = topics.Topics(prefix)
        self.published: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._publishing: dict[str, asyncio.Task[None]] = {}
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._router: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await topics.ensure_topics(self.bootstrap, self.names)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            max_request_size=topics.MODEL_MESSAGE_MAX,
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            self.names.scored,
            bootstrap_servers=self.bootstrap,
            group_id=f"{self.names.prefix}-serve",
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        self._router = asyncio.create_task(self._route(), name="kafka-router")
        self.engine.project_listeners.append(self.watch)
        for runtime in self.engine.projects():
            self.watch(runtime)

    async def stop(self) -> None:
        if self._router is not None:
            self._router.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._router
        for task in list(self._publishing.values()):
            with contextlib.suppress(Exception):
                await task
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    def watch(self, runtime: ProjectRuntime) -> None:
        """Publish this project's model now and after every change."""
        runtime.model_listeners.append(lambda: self._schedule(runtime))
        self._schedule(runtime)

    def _schedule(self, runtime: ProjectRuntime) -> None:
        name = runtime.record.name
        self._dirty.add(name)
        if name not in self._publishing:
            task = asyncio.create_task(self._publish(runtime), name=f"publish-{name}")
            self._publishing[name] = task

    async def _publish(self, runtime: ProjectRuntime) -> None:
        name = runtime.record.name
        try:
            while name in self._dirty:
                self._dirty.discard(name)
                version, blob = await runtime.model_blob()
                if self.published.get(name, -1) >= version:
                    continue
                assert self._producer is not None
                await self._producer.send_and_wait(
                    self.names.models,
                    key=name.encode(),
                    value=blob,
                    headers=[("version", str(version).encode())],
                )
                self.published[name] = version
        except Exception:
            log.exception("publishing the model of %s failed", name)
        finally:
            self._publishing.pop(name, None)

    async def _route(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=1000)
            by_project: dict[str, list[dict[str, Any]]] = {}
            for messages in batch.values():
                for message in messages:
                    try:
                        result = topics.decode(message.value)
                    except ValueError as exc:
                        log.warning("a scored record could not be read: %s", exc)
                        continue
                    if result.get("origin") == "worker" and result.get("status") == "queued":
                        by_project.setdefault(str(result.get("project")), []).append(result)
            for name, results in by_project.items():
                try:
                    await self._route_project(name, results)
                except (StreamloopError, ValueError, KeyError) as exc:
                    log.warning("scored records of %s could not be routed: %s", name, exc)

    async def _route_project(self, name: str, results: list[dict[str, Any]]) -> None:
        # Records come again after a restart (at-least-once): route only the items the
        # store still has waiting, never one labelled since it was scored.
        runtime = self.engine.project(name)
        store = self.engine.store
        waiting = await store.run(
            store.still_queued, runtime.record.id, [int(r["item_id"]) for r in results]
        )
        for result in results:
            if int(result["item_id"]) in waiting:
                runtime.route_scored(result)
