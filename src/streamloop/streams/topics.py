"""The Kafka topics of the scaled-out loop, and the messages on them.

Names carry a prefix (``STREAMLOOP_TOPIC_PREFIX``, default ``streamloop``), so several
deployments can share a cluster:

- ``streamloop.events``: production events, ``{"project", "id", "data"}``, keyed by event id
  so one project's events spread over every partition (and every worker).
- ``streamloop.scored``: what a worker made of each event, for production consumers and for
  the ``serve`` process that routes the queued ones to annotators.
- ``streamloop.models``: compacted, keyed by project: the newest model snapshot of each
  project (headers ``version`` and ``signature``, :mod:`streamloop.streams.signing`), which
  every worker follows and hot-swaps once its signature is verified.
- ``streamloop.labels``: labels on their way to their project's learner, keyed by project so
  one worker (the partition's owner) learns each project, in order.
- ``streamloop.learned``: what the learner made of each batch of labels (stored, duplicate or
  refused, and the model version), which the web process that took a label waits for.
- ``streamloop.dead-letter``: events that could not be scored, with the reason.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from streamloop import errors
from streamloop.online import AnyPrediction
from streamloop.store import ItemRecord, LabelOutcome, NewLabel
from streamloop.streams.signing import Refused, Signer

log = logging.getLogger(__name__)

__all__ = [
    "MODEL_MESSAGE_MAX",
    "BrokerProbe",
    "ModelRecord",
    "Topics",
    "bootstrap_servers",
    "control_message",
    "decode",
    "encode",
    "ensure_topics",
    "error_from",
    "error_message",
    "faust_app",
    "follower",
    "label_from",
    "label_message",
    "missing_topics",
    "model_from",
    "model_headers",
    "outcome_from",
    "outcome_message",
    "partition_counts",
    "prepare_topics",
    "remove_data_dirs",
    "scored_record",
    "shown_key",
    "verified_model",
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
    def labels(self) -> str:
        return f"{self.prefix}.labels"

    @property
    def learned(self) -> str:
        return f"{self.prefix}.learned"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dead-letter"

    def all(self) -> list[str]:
        """Every topic of the deployment, the models topic last."""
        return [
            self.events,
            self.scored,
            self.labels,
            self.learned,
            self.dead_letter,
            self.models,
        ]


#: Partitions of each topic but the models topic, when streamloop creates them: the most
#: workers that score at once (an operator may make more with ``streamloop topics create``).
PARTITIONS = 4
#: Longest wait, in seconds, for faust's Kafka consumer to stop (it waits for the broker).
STOP_WAIT = 8.0
#: Largest model snapshot a message may carry (forests of text models reach megabytes).
MODEL_MESSAGE_MAX = 32 * 1024 * 1024
#: Headers of a models-topic record: the model version, and the snapshot's signature.
VERSION_HEADER = "version"
SIGNATURE_HEADER = "signature"
#: Most characters of a record's key shown in a log line (keys of forged records are anything).
_KEY_SHOWN = 64


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A model snapshot from the models topic, its signature verified: safe to restore."""

    project: str
    version: int
    blob: bytes = dataclasses.field(repr=False)


def model_headers(signer: Signer, project: str, version: int, blob: bytes) -> dict[str, bytes]:
    """The headers of a models-topic record: its version, and its signature."""
    return {
        VERSION_HEADER: str(version).encode(),
        SIGNATURE_HEADER: signer.sign(project, version, blob),
    }


def model_from(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] | None,
    signer: Signer,
) -> ModelRecord:
    """The snapshot a models-topic record carries, once its signature is verified.

    Nothing here unpickles: only the record's bytes are read.

    Raises
    ------
    Refused
        ``unsigned_model`` for a record without a signature, ``forged_model`` for one whose
        signature does not verify or that cannot be verified (no key, no value, no version).

    Examples
    --------
    >>> signer = Signer(b"k" * 32)
    >>> headers = list(model_headers(signer, "tickets", 2, b"model").items())
    >>> model_from(b"tickets", b"model", headers, signer)
    ModelRecord(project='tickets', version=2)
    >>> model_from(b"tickets", b"model", headers[:1], signer)
    Traceback (most recent call last):
    ...
    streamloop.streams.signing.Refused: the snapshot is not signed
    """
    found = dict(headers or ())
    signature = found.get(SIGNATURE_HEADER)
    if not signature:
        raise Refused("unsigned_model", "the snapshot is not signed")
    if key is None or value is None:
        raise Refused("forged_model", "a signed record without a key or a snapshot")
    try:
        project = key.decode()
        version = int(found[VERSION_HEADER])
    except (KeyError, UnicodeDecodeError, ValueError):
        raise Refused("forged_model", "a signed record without a project or version") from None
    signer.verify(project, version, value, signature)
    return ModelRecord(project, version, value)


async def verified_model(
    message: ConsumerRecord[bytes, bytes], signer: Signer, refused: Counter[str]
) -> ModelRecord | None:
    """The snapshot a models-topic record carries, verified off the event loop (hashing
    megabytes takes milliseconds); a refused record is counted in ``refused`` by reason,
    logged, and gives None. Only a verified record may be unpickled."""
    try:
        return await asyncio.to_thread(
            model_from, message.key, message.value, message.headers, signer
        )
    except Refused as exc:
        refused[exc.reason] += 1
        log.warning(
            "refused the model record at offset %d of %s (key %s): %s; %s refused so far",
            message.offset,
            message.topic,
            shown_key(message.key),
            exc,
            dict(refused),
        )
        return None


def follower(bootstrap: str, *topics: str, from_start: bool = False) -> AIOKafkaConsumer:
    """A consumer outside any consumer group (it commits nothing), able to fetch whole model
    snapshots; where it has no position it starts at the end, or ``from_start``."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest" if from_start else "latest",
        enable_auto_commit=False,
        fetch_max_bytes=MODEL_MESSAGE_MAX,
        max_partition_fetch_bytes=MODEL_MESSAGE_MAX,
    )


def shown_key(key: bytes | None) -> str:
    """A record's key as a log line may show it: escaped, and cut short.

    >>> print(shown_key(b"tickets\\nFAKE LOG LINE"), shown_key(b"x" * 100)[-6:])
    'tickets\\nFAKE LOG LINE' xx'...
    """
    if key is None:
        return "none"
    return repr(key[:_KEY_SHOWN].decode("utf-8", "replace")) + (
        "..." if len(key) > _KEY_SHOWN else ""
    )


def faust_app(app_id: str, broker: str) -> faust.App:
    """A faust app as streamloop runs them: raw bytes in and out, no web server, no tables.

    A process that dies hands its partitions over within seconds, not a minute. Its Kafka
    client id names the process (``<app id>-<host>-<pid>``), so the broker's tools match
    each consumer's lag to a process. faust's data folder (unused: the tables are in memory)
    is a private temporary folder, removed at exit, instead of ``<app id>-data`` in the
    working folder.
    """
    # mode gives a stopping service 60 s; faust's consumer thread, stopping while the broker
    # is down, waits all of it (to leave the group and commit), so a SIGTERM took a minute.
    # Uncommitted offsets are only redelivered, and redelivery is idempotent here.
    AIOKafkaConsumerThread.shutdown_timeout = STOP_WAIT
    datadir = tempfile.mkdtemp(prefix=f"{app_id}-")
    if not _DATA_DIRS:
        atexit.register(remove_data_dirs)
    _DATA_DIRS.append(datadir)
    return faust.App(
        app_id,
        broker=broker,
        broker_client_id=f"{app_id}-{socket.gethostname()}-{os.getpid()}",
        datadir=datadir,
        web_enabled=False,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=PARTITIONS,
        producer_max_request_size=MODEL_MESSAGE_MAX,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
    )


#: faust's data folders made by this process (`faust_app`), removed at exit.
_DATA_DIRS: list[str] = []


def remove_data_dirs() -> None:
    """Remove the data folders `faust_app` made (at exit, or before a forced one)."""
    while _DATA_DIRS:
        shutil.rmtree(_DATA_DIRS.pop(), ignore_errors=True)


class BrokerProbe:
    """Asks the broker, on one connection kept between asks, whether it answers."""

    def __init__(self, bootstrap: str, within: float = 5.0) -> None:
        self.within = within
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(within * 1000)
        )
        self._started = False

    async def answers(self) -> bool:
        """Whether the broker answers a metadata request within ``within`` seconds."""
        try:
            async with asyncio.timeout(self.within):
                if not self._started:
                    await self._admin.start()
                    self._started = True
                await self._admin.list_topics()
            return True
        except Exception:
            return False

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._admin.close()


async def prepare_topics(bootstrap: str, names: Topics, poll: float = 1.0) -> None:
    """Make sure the deployment's topics exist before a process joins its consumer group.

    A consumer that joins before its topics exist gets no partitions until its next
    metadata refresh, minutes later. So the missing topics are created here; where this
    process may not create them (an operator manages topics), or the broker is not up yet,
    it waits, saying so once, and goes on as soon as they all exist.
    """
    said = ""
    while True:
        try:
            await ensure_topics(bootstrap, names)
            missing = await missing_topics(bootstrap, names)
            if not missing:
                if said:
                    log.info("the topics are in place; starting")
                return
            why = f"topics {', '.join(missing)} are missing (streamloop topics create makes them)"
        except Exception as exc:  # refused rights, no broker yet: wait, as for missing topics
            why = f"cannot create the topics at {bootstrap}: {type(exc).__name__}: {exc}"
        if why != said:
            log.warning("waiting: %s", why)
            said = why
        await asyncio.sleep(poll)


async def missing_topics(bootstrap: str, names: Topics) -> list[str]:
    """The deployment's topics the broker does not have (yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [name for name in names.all() if name not in existing]


def scored_record(
    project: str, item: ItemRecord, prediction: AnyPrediction, origin: str
) -> dict[str, Any]:
    """A scored-topic record: the prediction (as the events endpoint gives it) and the item."""
    return {
        **prediction.as_json(),
        "project": project,
        "id": item.event_id,
        "item_id": item.id,
        "data": item.data,
        "status": item.status,
        "duplicate": item.duplicate,
        "drawn_at_random": item.drawn_at_random,
        "origin": origin,
    }


def bootstrap_servers(broker: str) -> str:
    """``host:port[,host:port]`` from a ``kafka://`` URL.

    >>> bootstrap_servers("kafka://127.0.0.1:9092")
    '127.0.0.1:9092'
    """
    if not broker.startswith("kafka://"):
        raise ValueError(f"broker {broker!r} must look like kafka://host:port")
    return broker.removeprefix("kafka://").rstrip("/")


async def ensure_topics(
    bootstrap: str, names: Topics, partitions: int = PARTITIONS, replication: int = 1
) -> set[str]:
    """Create the topics that are missing, and return their names; the models topic has one
    partition, compacted, for big messages. A topic another process creates meanwhile is no
    error."""
    big = {"max.message.bytes": str(MODEL_MESSAGE_MAX)}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name,
                partitions,
                replication,
                # A letter carries its record escaped as text, and headers: larger than it.
                topic_configs=big if name == names.dead_letter else {},
            )
            for name in names.all()
            if name != names.models and name not in existing
        ]
        if names.models not in existing:
            wanted.append(
                NewTopic(
                    names.models,
                    1,
                    replication,
                    topic_configs={"cleanup.policy": "compact", **big},
                )
            )
        if not wanted:
            return set()
        answer = (await admin.create_topics(wanted)).to_object()
    finally:
        await admin.close()
    created, refused = set(), []
    for topic in answer["topic_errors"]:
        code = topic["error_code"]
        if code == 0:
            created.add(topic["topic"])
        elif code != TopicAlreadyExistsError.errno:  # made meanwhile by another process
            why = topic.get("error_message") or for_code(code).__name__
            refused.append(f"{topic['topic']}: {why}")
    if refused:
        raise RuntimeError("the broker refused to create " + "; ".join(refused))
    return created


async def partition_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    """How many partitions each of these topics has."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    counts = {str(t["topic"]): len(t["partitions"]) for t in described if not t["error_code"]}
    missing = [name for name in names if not counts.get(name)]
    if missing:
        raise RuntimeError(f"topics {missing} are missing from the cluster")
    return counts


def label_message(project: str, label: NewLabel) -> dict[str, Any]:
    return {"project": project, **dataclasses.asdict(label)}


def label_from(message: dict[str, Any]) -> tuple[str, NewLabel]:
    """(project, label) of a labels-topic message; ``ValueError`` if it is not one."""
    try:
        names = [f.name for f in dataclasses.fields(NewLabel)]
        fields = {name: message[name] for name in names if name in message}
        return str(message["project"]), NewLabel(**fields)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a label: {exc}") from None


def control_message(project: str, action: str, subject: str, request: str) -> dict[str, Any]:
    """A record on the labels topic that is no label, in order with the project's labels:
    ``action`` "quarantine" or "release" an annotator (`streamloop.streams.quarantine`), or
    "promote" a model (`streamloop.streams.promotion`); ``subject`` is its name."""
    field = "model" if action == "promote" else "annotator"
    return {"project": project, "control": action, field: subject, "request": request}


def outcome_message(outcome: LabelOutcome) -> dict[str, Any]:
    """A label's outcome for the learned topic (the item's data stays in the store)."""
    message: dict[str, Any] = {
        "label": dataclasses.asdict(outcome.label),
        "duplicate": outcome.duplicate,
        "row_id": outcome.row_id,
        "model_version": outcome.model_version,
        "item_id": outcome.item_id,
        "event_id": outcome.event_id,
        "learned": outcome.learned,
        "item_status": outcome.item_status,
    }
    if outcome.error is not None:
        message["error"] = error_message(outcome.error)
    return message


def error_message(error: errors.StreamloopError) -> dict[str, Any]:
    """An error as it travels between processes (a label's outcome, a change's answer):
    ``{"kind", "code", "message", "retryable"}``, rebuilt by :func:`error_from`."""
    return {
        "kind": type(error).__name__,
        "code": error.code,
        "message": error.message,
        # Carried, not re-derived: a web process may not know a newer worker's error class.
        "retryable": error.retryable,
    }


def error_from(spec: dict[str, Any]) -> errors.StreamloopError:
    """The error an :func:`error_message` describes, of its class (so of its HTTP status);
    a class this version does not know is a plain ``StreamloopError``."""
    kind = getattr(errors, str(spec.get("kind")), None)
    if not (isinstance(kind, type) and issubclass(kind, errors.StreamloopError)):
        kind = errors.StreamloopError
    retryable = spec.get("retryable")
    return kind(
        str(spec.get("message")),
        code=str(spec.get("code")),
        retryable=retryable if isinstance(retryable, bool) else None,
    )


def outcome_from(message: dict[str, Any]) -> LabelOutcome:
    """The :class:`LabelOutcome` an :func:`outcome_message` describes."""
    error = error_from(message["error"]) if message.get("error") else None
    # Only the fields this version knows: a newer learner's outcome may carry more.
    known = {f.name for f in dataclasses.fields(NewLabel)}
    return LabelOutcome(
        label=NewLabel(**{k: v for k, v in message["label"].items() if k in known}),
        duplicate=bool(message.get("duplicate")),
        row_id=message.get("row_id"),
        model_version=message.get("model_version"),
        item_id=message.get("item_id"),
        event_id=message.get("event_id"),
        error=error,
        learned=message.get("learned", True) is not False,
        item_status=message.get("item_status"),
    )


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
