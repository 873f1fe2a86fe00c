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
        async for message in self._consumer:
            try:
                result = topics.decode(message.value)
                if result.get("origin") != "worker" or result.get("status") != "queued":
                    continue
                self.engine.project(str(result["project"])).route_scored(result)
            except (StreamloopError, ValueError, KeyError) as exc:
                log.warning("a scored record could not be routed: %s", exc)
