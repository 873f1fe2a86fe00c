"""The Kafka topics of the scaled-out loop, and the messages on them.

Names carry a prefix (``STREAMLOOP_TOPIC_PREFIX``, default ``streamloop``), so several
deployments can share a cluster:

- ``streamloop.events``: production events, ``{"project", "id", "data"}``, keyed by event id
  so one project's events spread over every partition (and every worker).
- ``streamloop.scored``: what a worker made of each event, for production consumers and for
  the ``serve`` process that routes the queued ones to annotators.
- ``streamloop.models``: compacted, keyed by project: the newest model snapshot of each
  project (header ``version``), which every worker follows and hot-swaps.
- ``streamloop.dead-letter``: events that could not be scored, with the reason.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

__all__ = [
    "MODEL_MESSAGE_MAX",
    "Topics",
    "bootstrap_servers",
    "decode",
    "encode",
    "ensure_topics",
]


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic names of one deployment: ``<prefix>.events`` and so on.

    >>> Topics("acme").models
    'acme.models'
    """

    prefix: str = "streamloop"

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def scored(self) -> str:
        return f"{self.prefix}.scored"

    @property
    def models(self) -> str:
        return f"{self.prefix}.models"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dead-letter"


#: Largest model snapshot a message may carry (forests of text models reach megabytes).
MODEL_MESSAGE_MAX = 32 * 1024 * 1024


def bootstrap_servers(broker: str) -> str:
    """``host:port[,host:port]`` from a ``kafka://`` URL.

    >>> bootstrap_servers("kafka://127.0.0.1:9092")
    '127.0.0.1:9092'
    """
    if not broker.startswith("kafka://"):
        raise ValueError(f"broker {broker!r} must look like kafka://host:port")
    return broker.removeprefix("kafka://").rstrip("/")


async def ensure_topics(bootstrap: str, names: Topics, partitions: int = 4) -> None:
    """Create the topics that are missing; the models topic compacted, for big messages."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, partitions, 1)
            for name in (names.events, names.scored, names.dead_letter)
            if name not in existing
        ]
        if names.models not in existing:
            wanted.append(
                NewTopic(
                    names.models,
                    1,
                    1,
                    topic_configs={
                        "cleanup.policy": "compact",
                        "max.message.bytes": str(MODEL_MESSAGE_MAX),
                    },
                )
            )
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
    finally:
        await admin.close()


def encode(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message)


def decode(raw: bytes | None) -> dict[str, Any]:
    """A message as a dict; ``ValueError`` when it is not a JSON object."""
    try:
        value = orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value
