"""``streamloop worker``: a faust-streaming worker that scores events from Kafka.

Any number of workers share the events topic's partitions. Each scores an event with the newest
model version of its project it has seen on the models topic (hot-swapped, never redeployed),
stores the item (a redelivered event is a duplicate, not a second item), and publishes the
result on the scored topic, from which ``serve`` routes the queued items to annotators. An
event that cannot be scored is retried when the failure may pass (the database), and otherwise
goes to the dead-letter topic with the reason: a faust agent that raises would skip it silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer

from streamloop.config import Settings
from streamloop.errors import NotReady
from streamloop.online import OnlineModel
from streamloop.store import NewEvent, ProjectRecord, Store
from streamloop.streams import topics
from streamloop.streams.project import new_model, prediction_json

__all__ = ["EventScorer", "create_worker_app"]

log = logging.getLogger(__name__)

#: Which worker scored an event, in its scored record.
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
#: Attempts at an event whose failure may pass (the store unavailable) before it is dead-lettered.
ATTEMPTS = 5


class EventScorer:
    """Scores events for every project with the newest model version seen."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._projects: dict[str, ProjectRecord] = {}
        self._blobs: dict[str, tuple[int, bytes]] = {}
        self._models: dict[str, OnlineModel] = {}
        self._sample_rng = random.Random()

    def offer_model(self, project: str, version: int, blob: bytes) -> None:
        """A model version from the models topic: kept if newer than the one in use."""
        current = self._blobs.get(project)
        if current is None or version > current[0]:
            self._blobs[project] = (version, blob)
            self._models.pop(project, None)  # restored on next use: the hot swap

    def model_version(self, project: str) -> int:
        current = self._blobs.get(project)
        return current[0] if current else 0

    async def score(self, message: dict[str, Any]) -> dict[str, Any]:
        """Score, store and describe one event message; ``ValueError`` if it is bad."""
        name, event_id, data = message.get("project"), message.get("id"), message.get("data")
        if not isinstance(name, str) or not isinstance(event_id, str) or not event_id:
            raise ValueError("an event needs a string project and a non-empty string id")
        if not isinstance(data, dict):
            raise ValueError("an event's data must be an object")
        record = await self._project(name)
        model = self._model(record)
        prediction = model.predict(data)  # ValueError for data that does not fit the project
        # As serve's ingest does: an exploration share of arrivals is a random sample.
        sampled = record.strategy != "random" and self._sample_rng.random() < record.exploration
        [item] = await self.store.run(
            self.store.insert_events,
            record.id,
            [NewEvent(event_id, data, "queued", prediction.uncertainty, sampled)],
        )
        result = prediction_json(prediction)
        result.update(
            project=name,
            id=event_id,
            item_id=item.id,
            data=item.data,
            status=item.status,
            duplicate=item.duplicate,
            drawn_at_random=item.drawn_at_random,
            origin="worker",
            worker=WORKER_ID,
        )
        return result

    async def _project(self, name: str) -> ProjectRecord:
        if name not in self._projects:
            for record in await self.store.run(self.store.list_projects):
                self._projects[record.name] = record
        try:
            return self._projects[name]
        except KeyError:
            raise ValueError(f"no project named {name!r}") from None

    def _model(self, record: ProjectRecord) -> OnlineModel:
        model = self._models.get(record.name)
        if model is None:
            blob = self._blobs.get(record.name)
            model = OnlineModel.restore(blob[1]) if blob else new_model(record)
            self._models[record.name] = model
        return model


def create_worker_app(settings: Settings) -> faust.App:
    """The faust app of a scoring worker."""
    assert settings.broker is not None
    names = topics.Topics(settings.topic_prefix)
    app = faust.App(
        f"{settings.topic_prefix}-workers",
        broker=settings.broker,
        web_enabled=False,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=4,
        producer_max_request_size=topics.MODEL_MESSAGE_MAX,
        # A worker that dies hands its partitions over within seconds, not a minute.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
    )
    store = Store(settings.database_url)
    scorer = EventScorer(store)
    events = app.topic(names.events, key_type=bytes, value_type=bytes)
    scored = app.topic(names.scored, key_type=bytes, value_type=bytes)
    dead = app.topic(names.dead_letter, key_type=bytes, value_type=bytes)

    @app.agent(events)
    async def score(stream: Any) -> None:
        async for key, value in stream.items():
            result = await _score_with_retries(scorer, key, value)
            if "error" in result:
                await dead.send(key=key, value=topics.encode(result))
            else:
                await scored.send(key=key, value=topics.encode(result))

    @app.task  # type: ignore[untyped-decorator]
    async def follow_models() -> None:
        bootstrap = topics.bootstrap_servers(settings.broker or "")
        await topics.ensure_topics(bootstrap, names)
        await _follow_models(settings.broker or "", names, scorer)

    return app


async def _score_with_retries(scorer: EventScorer, key: bytes | None, raw: bytes) -> dict[str, Any]:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await scorer.score(topics.decode(raw))
        except ValueError as exc:
            return {"error": str(exc), "event": raw.decode("utf-8", "replace")}
        except NotReady as exc:
            if attempt == ATTEMPTS:
                return {"error": exc.message, "event": raw.decode("utf-8", "replace")}
            log.warning("scoring event %r failed (%s); retrying", key, exc.message)
            await asyncio.sleep(0.2 * 2**attempt)
        except Exception as exc:  # anything else: dead-letter it rather than skip silently
            log.exception("scoring event %r failed", key)
            return {
                "error": f"{type(exc).__name__}: {exc}",
                "event": raw.decode("utf-8", "replace"),
            }
    raise AssertionError("unreachable")


async def _follow_models(broker: str, names: topics.Topics, scorer: EventScorer) -> None:
    """Read every project's model versions, from the start, outside any consumer group."""
    consumer = AIOKafkaConsumer(
        names.models,
        bootstrap_servers=topics.bootstrap_servers(broker),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_bytes=topics.MODEL_MESSAGE_MAX,
        max_partition_fetch_bytes=topics.MODEL_MESSAGE_MAX,
    )
    await consumer.start()
    try:
        async for message in consumer:
            headers = dict(message.headers or ())
            if message.key is None or message.value is None or "version" not in headers:
                continue
            scorer.offer_model(message.key.decode(), int(headers["version"]), message.value)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
