"""Dead letters: records the workers could not use, with their context, and their replay.

A worker that cannot use a record (an event it cannot score, a labels message it cannot read)
sends :func:`letter` to ``<prefix>.dead-letter``: the record's own key, the value
``{"error", "reason", "event"|"label"}`` (the record as text), and headers that say where it
came from (``source_topic``, ``source_partition``, ``source_offset``, ``source_timestamp``),
when and by whom it was given up (``dead_lettered_at``, ``worker``), why (``reason``, one of
:data:`REASONS`) and with which exception (``exception``). It logs :func:`describe` once.

``streamloop dead-letters replay`` (:func:`replay_command`) sends the records back to the
topic they came from, once the cause is fixed: events are stored once by event id and labels
once by label id, so a record replayed twice changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRecord,
    OffsetAndMetadata,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streamloop.config import Settings
from streamloop.streams import topics

__all__ = [
    "REASONS",
    "REPLAY_DESCRIPTION",
    "Kind",
    "Reason",
    "Source",
    "add_replay_arguments",
    "describe",
    "letter",
    "replay_command",
]

log = logging.getLogger(__name__)

Kind = Literal["event", "label"]
Reason = Literal[
    "not_json",
    "not_an_object",
    "not_an_event",
    "unknown_project",
    "unscorable",
    "store_failed",
    "not_a_label",
    "internal",
]
#: Why a record was dead-lettered: its ``reason`` header, and what ``--reason`` chooses.
REASONS: Mapping[Reason, str] = {
    "not_json": "the record is not JSON (or not UTF-8)",
    "not_an_object": "the record is JSON, but not an object",
    "not_an_event": "an event's fields are missing or of the wrong type",
    "unknown_project": "no project has the event's name",
    "unscorable": "the project's model refuses the event's data",
    "store_failed": "the database failed after every retry",
    "not_a_label": "a labels-topic message that is not a label (fields missing or wrong)",
    "internal": "an error in the worker itself (a bug): see the worker's log",
}
#: The reason of a dead letter written before reason codes (no header, no ``reason`` field).
UNKNOWN_REASON = "unknown"
#: Reasons in the record's own bytes, which a replay sends unchanged: replayed only when named
#: with ``--reason`` (after a worker that reads them differently, say).
IN_THE_RECORD = frozenset({"not_json", "not_an_object", "not_an_event", "not_a_label"})
#: Most characters of an exception in the ``exception`` header, and of an error in a log line.
EXCEPTION_MAX = 1000
ERROR_SHOWN = 200

REPLAY_DESCRIPTION = (
    "Send dead-lettered records back to the topic they came from (their source_topic header; "
    "<prefix>.events or <prefix>.labels for letters written before headers), with their "
    "original key and exact payload, once the cause is fixed; then print how many were "
    "replayed, by reason, and how many skipped, and why. Only the letters already on the "
    "topic when the command starts are read. How far replay went is remembered for each "
    "reason (consumer group <prefix>-dead-letters-replay), so the next run replays only "
    "letters added since, and --reason replays one cause without passing over the others; "
    "--all starts again from the oldest letter kept. Replaying is safe to repeat: an event "
    "is stored once by its event id and a label once by its label_id, so a record replayed "
    "twice comes back as a duplicate and changes nothing. A record that fails again is "
    "dead-lettered again. Letters whose record itself is at fault (not_json, not_an_object, "
    "not_an_event, not_a_label) would only fail again: they are skipped unless named with "
    "--reason (with --all, for those a run has passed over)."
)
#: Longest wait for the next records of the dead-letter topic before replay gives up (s).
READ_TIMEOUT = 30.0
#: Seconds between two asks for the replay group's coordinator on a cluster making one.
COORDINATOR_RETRY = 0.5


@dataclass(frozen=True, slots=True)
class Source:
    """Where a dead-lettered record came from: its topic, partition, offset, time and key."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None

    @classmethod
    def of_faust(cls, message: Any) -> Source:
        """The source of a record a faust stream gave (``event.message``, from
        ``stream.take_events``), whose timestamp is in seconds.

        >>> from faust.types import Message
        >>> Source.of_faust(Message("a.events", 1, 7, 1700000000.25, 0, [], b"e-1", b"{}", None))
        Source(topic='a.events', partition=1, offset=7, timestamp_ms=1700000000250, key=b'e-1')
        """
        seconds = message.timestamp
        milliseconds = round(seconds * 1000) if seconds is not None else None
        return cls(message.topic, message.partition, message.offset, milliseconds, message.key)


def letter(
    source: Source,
    raw: bytes,
    *,
    kind: Kind,
    reason: Reason,
    error: str,
    exception: BaseException | None,
    worker: str,
) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """The key, value and headers of the dead letter of ``raw``, a record from ``source``.

    Examples
    --------
    >>> source = Source("acme.events", 2, 41, 1700000000000, b"e-1")
    >>> key, value, headers = letter(
    ...     source, b"{oops", kind="event", reason="not_json", error="not JSON",
    ...     exception=ValueError("bad"), worker="host:7",
    ... )
    >>> key, value
    (b'e-1', b'{"error":"not JSON","reason":"not_json","event":"{oops"}')
    >>> dict(headers)["source_offset"], dict(headers)["exception"]
    (b'41', b'ValueError: bad')
    """
    value = topics.encode({"error": error, "reason": reason, kind: raw.decode("utf-8", "replace")})
    headers = [
        ("source_topic", source.topic.encode()),
        ("source_partition", str(source.partition).encode()),
        ("source_offset", str(source.offset).encode()),
    ]
    if source.timestamp_ms is not None:
        headers.append(("source_timestamp", str(source.timestamp_ms).encode()))
    headers += [
        ("dead_lettered_at", str(time.time_ns() // 1_000_000).encode()),
        ("worker", worker.encode("utf-8", "replace")),
        ("reason", reason.encode()),
    ]
    if exception is not None:
        text = f"{type(exception).__qualname__}: {exception}"[:EXCEPTION_MAX]
        headers.append(("exception", text.encode("utf-8", "replace")))
    return source.key, value, headers


def describe(source: Source, reason: str, error: str) -> str:
    """The worker's log line for one dead letter, ``topic[partition]@offset``: the record's
    key and the error (its words come from the record) escaped and cut short, so a record
    cannot forge a line.

    >>> print(describe(Source("a.events", 2, 41, None, b"e\\nX"), "unknown_project",
    ...                "no project 'x\\nX'"))
    dead letter (unknown_project) from a.events[2]@41, key 'e\\nX': "no project 'x\\nX'"
    """
    return (
        f"dead letter ({_plain(reason)}) from {_plain(source.topic)}[{source.partition}]"
        f"@{source.offset}, key {topics.shown_key(source.key)}: {_shown(error, ERROR_SHOWN)}"
    )


def _shown(text: str, limit: int) -> str:
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _plain(name: str) -> str:
    """A topic name or reason code as it is, if it is one (anything else, escaped)."""
    return name if re.fullmatch(r"[A-Za-z0-9._-]{1,249}", name) else _shown(name, 64)


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``streamloop dead-letters replay``."""
    parser.add_argument(
        "--reason",
        action="append",
        choices=[*REASONS, UNKNOWN_REASON],
        metavar="CODE",
        help="replay only letters of this reason (repeat for several): "
        + "; ".join(f"{code}: {sentence}" for code, sentence in REASONS.items())
        + f"; {UNKNOWN_REASON}: written by a version before reason codes",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would be replayed; send nothing and remember nothing",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="start from the first letter the topic keeps, not where the last run stopped",
    )


def replay_command(settings: Settings, args: argparse.Namespace) -> int:
    assert settings.broker is not None
    reasons = frozenset(args.reason) if args.reason else None
    try:
        tally = asyncio.run(
            _replay(
                topics.bootstrap_servers(settings.broker),
                topics.Topics(settings.topic_prefix),
                reasons,
                dry_run=args.dry_run,
                from_start=args.all,
            )
        )
    except Exception as exc:  # unreachable broker, missing topic: said in one line
        print(f"streamloop dead-letters: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(tally.summary(dry_run=args.dry_run))
    return 0


def replay_group(names: topics.Topics) -> str:
    """The consumer group that remembers how far replay went.

    >>> replay_group(topics.Topics("acme"))
    'acme-dead-letters-replay'
    """
    return f"{names.prefix}-dead-letters-replay"


@dataclass(frozen=True, slots=True)
class Place:
    """How far replay went in one partition: every reason to ``offset``, and the reasons
    replayed alone (``--reason``) further, as the commit's metadata says. A run for one reason
    so never passes over the letters of another, nor replays its own twice.

    >>> place = Place(10).advanced(frozenset({"unscorable"}), 25)
    >>> place.of("unscorable"), place.of("not_json"), place.metadata()
    (25, 10, '{"unscorable":25}')
    >>> place.advanced(None, 30)
    Place(offset=30, further={})
    """

    offset: int
    further: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_commit(cls, offset: int, metadata: str) -> Place:
        try:
            further = orjson.loads(metadata) if metadata else {}
        except orjson.JSONDecodeError:
            further = {}
        if not isinstance(further, dict):
            further = {}
        return cls(offset, {str(r): o for r, o in further.items() if isinstance(o, int)})

    def of(self, reason: str) -> int:
        return max(self.offset, self.further.get(reason, self.offset))

    def advanced(self, reasons: frozenset[str] | None, end: int) -> Place:
        """The place once ``reasons`` (None: every reason) are replayed up to ``end``."""
        if reasons is None:
            return Place(end)
        further = {**self.further, **dict.fromkeys(reasons, end)}
        return Place(self.offset, {r: o for r, o in further.items() if o > self.offset})

    def metadata(self) -> str:
        return orjson.dumps(dict(sorted(self.further.items()))).decode() if self.further else ""


@dataclass(frozen=True, slots=True)
class Replayed:
    """A dead letter as replay sends it back."""

    topic: str
    key: bytes | None
    value: bytes
    reason: str


class Tally:
    """What one replay run did: letters replayed by reason, and skipped by why."""

    def __init__(self) -> None:
        self.replayed: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()

    def summary(self, *, dry_run: bool) -> str:
        verb = "would replay" if dry_run else "replayed"
        lines = [f"{verb} {self.replayed.total()}{_by(self.replayed)}"]
        lines.append(f"skipped {self.skipped.total()}{_by(self.skipped)}")
        if dry_run:
            lines.append("nothing sent (--dry-run)")
        return "\n".join(lines)


def _by(counts: Counter[str]) -> str:
    return "".join(f", {name} {n}" for name, n in sorted(counts.items()))


def replayed(record: ConsumerRecord[bytes, bytes], names: topics.Topics) -> Replayed | str:
    """What replaying a dead-letter record sends, or why it cannot be replayed."""
    headers = {name: value for name, value in record.headers or ()}
    try:
        message = topics.decode(record.value)
    except ValueError:
        return "not a dead letter"
    kind: Kind
    if isinstance(message.get("event"), str):
        kind, home = "event", names.events
    elif isinstance(message.get("label"), str):
        kind, home = "label", names.labels
    else:
        return "not a dead letter"
    topic = headers.get("source_topic", home.encode()).decode("utf-8", "replace")
    if topic != home:  # a letter of another deployment, or forged: never to another topic
        return "foreign source topic"
    header_reason = headers.get("reason")
    reason = (
        header_reason.decode("utf-8", "replace")
        if header_reason is not None
        else str(message.get("reason") or UNKNOWN_REASON)
    )
    payload = str(message[kind])
    # A letter written before headers has an empty key: its payload says the key it had.
    key = record.key if "source_topic" in headers else record.key or _key_of(payload, kind)
    return Replayed(topic, key, payload.encode(), reason)


def _key_of(payload: str, kind: Kind) -> bytes | None:
    """The key a letter written before headers (with an empty key) had on its topic: events
    are keyed by event id, labels by project (so the project's learner gets them)."""
    try:
        field = topics.decode(payload.encode()).get("id" if kind == "event" else "project")
    except ValueError:
        return None
    return field.encode() if isinstance(field, str) and field else None


async def _replay(
    bootstrap: str,
    names: topics.Topics,
    reasons: frozenset[str] | None,
    *,
    dry_run: bool,
    from_start: bool,
) -> Tally:
    """Replay the letters of ``reasons`` (None: every reason) up to the end offsets taken at
    the start; remember the place reached once every record sent is delivered."""
    counts = await topics.partition_counts(bootstrap, [names.dead_letter])
    partitions = [TopicPartition(names.dead_letter, p) for p in range(counts[names.dead_letter])]
    group = replay_group(names)
    places = await _places(bootstrap, group, partitions)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await consumer.start()
    try:
        await producer.start()
        try:
            consumer.assign(partitions)
            ends = await _start(consumer, places, reasons, from_start=from_start)
            tally = Tally()
            sends = []
            async for record in _read_to(consumer, ends):
                chosen = replayed(record, names)
                if isinstance(chosen, str):
                    tally.skipped[chosen] += 1
                elif reasons is not None and chosen.reason not in reasons:
                    tally.skipped["reason not chosen"] += 1
                elif not from_start and record.offset < _place(places, record).of(chosen.reason):
                    tally.skipped["replayed before"] += 1  # by a run for its reason alone
                elif reasons is None and chosen.reason in IN_THE_RECORD:
                    # Sent back unchanged, it would only come back: the same bytes, refused.
                    tally.skipped["the record itself is at fault"] += 1
                else:
                    tally.replayed[chosen.reason] += 1
                    if not dry_run:
                        sends.append(
                            await producer.send(chosen.topic, chosen.value, key=chosen.key)
                        )
            if not dry_run:
                await asyncio.gather(*sends)  # delivered: now the place may move past them
                await consumer.commit(
                    {
                        tp: OffsetAndMetadata(place.offset, place.metadata())
                        for tp, end in ends.items()
                        for place in [places[tp].advanced(reasons, end)]
                    }
                )
            return tally
        finally:
            await producer.stop()
    finally:
        await consumer.stop()


def _place(places: Mapping[TopicPartition, Place], record: ConsumerRecord[bytes, bytes]) -> Place:
    return places[TopicPartition(record.topic, record.partition)]


async def _places(
    bootstrap: str, group: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, Place]:
    """Where the last runs stopped (offset 0 where none did: the oldest letters kept)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            while True:
                try:
                    committed = await admin.list_consumer_group_offsets(
                        group, partitions=partitions
                    )
                    break
                except KafkaError as exc:
                    # A fresh cluster has no group coordinator until it has made its
                    # offsets topic, moments after the first group asks for one.
                    if not exc.retriable:
                        raise
                    await asyncio.sleep(COORDINATOR_RETRY)
    finally:
        await admin.close()
    places = {tp: Place(0) for tp in partitions}
    for tp, found in committed.items():
        if tp in places and found.offset >= 0:
            places[tp] = Place.from_commit(found.offset, found.metadata or "")
    return places


async def _start(
    consumer: AIOKafkaConsumer,
    places: Mapping[TopicPartition, Place],
    reasons: frozenset[str] | None,
    *,
    from_start: bool,
) -> dict[TopicPartition, int]:
    """Seek each partition to where replay starts; give the end offsets it reads up to.

    Only plain seeks: ``seek_to_beginning`` can lose a race with the consumer's own first
    reset of a freshly assigned partition and leave it elsewhere (aiokafka 0.14)."""
    partitions = list(places)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    starts: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
    for tp, place in places.items():
        start = place.offset if reasons is None else min(place.of(r) for r in reasons)
        consumer.seek(tp, starts[tp] if from_start else max(start, starts[tp]))
    return ends


async def _read_to(
    consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int]
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """The records before ``ends``, taken when replay started: letters added meanwhile wait
    for the next run. Raises ``TimeoutError`` when no record comes for :data:`READ_TIMEOUT`."""
    pending = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    progress = time.monotonic()
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=1000)
        if batch:
            progress = time.monotonic()
        elif time.monotonic() - progress > READ_TIMEOUT:
            raise TimeoutError(
                f"no record came from partitions {sorted(tp.partition for tp in pending)} of "
                f"{next(iter(pending)).topic} in {READ_TIMEOUT:.0f} s"
            )
        for tp, records in batch.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
        pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
