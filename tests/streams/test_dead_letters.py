"""Dead letters carry their context, and ``streamloop dead-letters replay`` sends them home."""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from streamloop import cli
from streamloop.config import Settings
from streamloop.streams import topics
from streamloop.streams.dead_letters import (
    EXCEPTION_MAX,
    Reason,
    Replayed,
    Source,
    describe,
    letter,
    replay_command,
    replayed,
)

EVENT = '{"project": "tickets", "id": "e-1", "data": {"text": "caf\u00e9 \u2615"}}'.encode()
NAMES = topics.Topics("acme")


def test_a_dead_letter_says_where_its_record_came_from_and_why():
    source = Source("acme.events", 3, 1234, 1_700_000_000_123, b"e-1")
    before = time.time_ns() // 1_000_000
    key, value, headers = letter(
        source,
        EVENT,
        kind="event",
        reason="unscorable",
        error="the model refuses the data",
        exception=ValueError("no text field"),
        worker="host-a:41",
    )
    after = time.time_ns() // 1_000_000
    found = dict(headers)
    assert len(found) == len(headers), "a header appears twice"
    assert key == b"e-1"
    assert orjson.loads(value) == {
        "error": "the model refuses the data",
        "reason": "unscorable",
        "event": EVENT.decode(),
    }
    dead_lettered_at = int(found.pop("dead_lettered_at"))
    assert before <= dead_lettered_at <= after
    assert found == {
        "source_topic": b"acme.events",
        "source_partition": b"3",
        "source_offset": b"1234",
        "source_timestamp": b"1700000000123",
        "worker": b"host-a:41",
        "reason": b"unscorable",
        "exception": b"ValueError: no text field",
    }


def test_a_label_letter_keeps_the_documented_value_and_says_only_what_is_known():
    raw = b'{"project": "tickets", "label": "bug"}'
    source = Source("acme.labels", 0, 7, None, None)
    key, value, headers = letter(
        source,
        raw,
        kind="label",
        reason="not_a_label",
        error="not a label: 'label_id'",
        exception=None,
        worker="w",
    )
    assert key is None
    assert orjson.loads(value) == {
        "error": "not a label: 'label_id'",
        "reason": "not_a_label",
        "label": raw.decode(),
    }
    assert {name for name, _ in headers} == {
        "source_topic",
        "source_partition",
        "source_offset",
        "dead_lettered_at",
        "worker",
        "reason",
    }


def test_a_huge_exception_is_cut_and_bytes_that_are_not_utf8_still_make_a_letter():
    _, value, headers = letter(
        Source("acme.events", 0, 1, None, b"\xff"),
        b"\xff\xfe not text",
        kind="event",
        reason="not_json",
        error="not JSON",
        exception=RuntimeError("x" * 100_000),
        worker="w",
    )
    assert len(dict(headers)["exception"]) == EXCEPTION_MAX
    assert orjson.loads(value)["event"].endswith(" not text")


def test_a_hostile_record_cannot_forge_or_flood_a_log_line():
    forged = "\n2026-01-01 00:00:00 ERROR streamloop: FORGED\r\x1b[2J"
    line = describe(
        Source("acme.events", 1, 99, None, forged.encode() * 50),
        "unknown_project",
        f"no project named {forged * 50}",
    )
    assert line.isprintable()  # no newline, carriage return or escape: one line, as written
    assert "acme.events[1]@99" in line and "unknown_project" in line
    assert len(line) < 500


def _record(value: dict[str, str], key: bytes | None, headers: dict[str, bytes]) -> ConsumerRecord:
    return ConsumerRecord(
        "acme.dead-letter", 0, 5, 0, 0, key, orjson.dumps(value), None, 0, 0, list(headers.items())
    )


def test_a_letter_written_before_headers_goes_home_keyed_as_on_its_topic():
    event = _record({"error": "no project", "event": EVENT.decode()}, b"", {})
    assert replayed(event, NAMES) == Replayed("acme.events", b"e-1", EVENT, "unknown")
    label = b'{"project": "tickets", "label": "bug"}'
    old_label = _record({"error": "not a label", "label": label.decode()}, None, {})
    assert replayed(old_label, NAMES) == Replayed("acme.labels", b"tickets", label, "unknown")


def test_a_letter_naming_another_topic_is_never_sent_there():
    key, value, headers = letter(
        Source("acme.models", 0, 1, None, b"tickets"),
        b"not a model",
        kind="event",
        reason="internal",
        error="forged",
        exception=None,
        worker="w",
    )
    record = ConsumerRecord("acme.dead-letter", 0, 1, 0, 0, key, value, None, 0, 0, headers)
    assert replayed(record, NAMES) == "foreign source topic"


def test_replay_says_in_one_line_that_the_broker_is_unreachable(
    capsys: pytest.CaptureFixture[str],
):
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings = Settings.from_env({}, broker=f"kafka://127.0.0.1:{port}")
    args = argparse.Namespace(reason=None, dry_run=False, all=False)
    assert replay_command(settings, args) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# The broker.


def _replay(bootstrap: str, capsys: pytest.CaptureFixture[str], *options: str) -> str:
    """What ``streamloop dead-letters replay`` prints (the prefix is in the environment)."""
    assert cli.main(["dead-letters", "replay", *options, "--broker", f"kafka://{bootstrap}"]) == 0
    return capsys.readouterr().out


async def _topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every record of a topic, as (key, value), in offset order per partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(topics.PARTITIONS)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for partition, start in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(partition, start)  # seek_to_beginning races the first reset
        found: list[tuple[bytes | None, bytes]] = []
        deadline = time.monotonic() + 60
        while sum(ends.values()) > len(found):
            assert time.monotonic() < deadline, f"{topic} gave {len(found)} of {ends}"
            batch = await consumer.getmany(timeout_ms=1000)
            found += [(r.key, r.value) for records in batch.values() for r in records]
        return found
    finally:
        await consumer.stop()


Letter = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


async def _dead_letter(bootstrap: str, names: topics.Topics, *letters: Letter) -> None:
    """Letters on the dead-letter topic, as a worker sends them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in letters:
            await producer.send_and_wait(names.dead_letter, value, key=key, headers=headers or None)
    finally:
        await producer.stop()


def _event(n: int) -> bytes:
    return orjson.dumps({"project": "tickets", "id": f"e-{n}", "data": {"text": f"caf\u00e9 {n}"}})


def _letter(names: topics.Topics, n: int, reason: Reason) -> Letter:
    source = Source(names.events, n % 4, n, 1_700_000_000_000, f"e-{n}".encode())
    error, exception = "why", ValueError("why")
    return letter(
        source, _event(n), kind="event", reason=reason, error=error, exception=exception, worker="w"
    )


LABEL = b'{"project": "tickets", "label_id": "l-1", "label": "bug"}'


@pytest.fixture
def names(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> topics.Topics:
    """A fresh deployment's topics with five letters, of four reasons and a version before
    headers; its prefix is in the environment, for the command."""
    names = topics.Topics(f"dead-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("STREAMLOOP_TOPIC_PREFIX", names.prefix)
    asyncio.run(topics.ensure_topics(kafka_bootstrap, names))
    label = letter(
        Source(names.labels, 1, 3, None, b"tickets"),
        LABEL,
        kind="label",
        reason="not_a_label",
        error="not a label",
        exception=None,
        worker="w",
    )
    older: Letter = (b"", orjson.dumps({"error": "no project", "event": _event(9).decode()}), [])
    first = [_letter(names, n, r) for n, r in [(1, "unknown_project"), (2, "unknown_project")]]
    asyncio.run(
        _dead_letter(kafka_bootstrap, names, *first, _letter(names, 3, "unscorable"), label, older)
    )
    return names


EVENTS = [(f"e-{n}".encode(), _event(n)) for n in (1, 2, 3, 9)]


@pytest.mark.kafka
def test_replay_sends_each_letter_home_once_with_its_key_and_payload(
    kafka_bootstrap: str, names: topics.Topics, capsys: pytest.CaptureFixture[str]
):
    bootstrap = kafka_bootstrap
    said = _replay(bootstrap, capsys, "--dry-run")
    assert "would replay 4, unknown 1, unknown_project 2, unscorable 1" in said
    assert "skipped 1, the record itself is at fault 1" in said
    assert asyncio.run(_topic(bootstrap, names.events)) == []
    assert asyncio.run(_topic(bootstrap, names.labels)) == []

    assert "replayed 4," in _replay(bootstrap, capsys)
    assert sorted(asyncio.run(_topic(bootstrap, names.events))) == EVENTS
    # A letter whose record itself is at fault goes back only when named.
    assert asyncio.run(_topic(bootstrap, names.labels)) == []
    said = _replay(bootstrap, capsys, "--reason", "not_a_label", "--all")
    assert "replayed 1, not_a_label 1\n" in said
    assert asyncio.run(_topic(bootstrap, names.labels)) == [(b"tickets", LABEL)]

    assert "replayed 0\nskipped 0" in _replay(bootstrap, capsys)
    asyncio.run(_dead_letter(bootstrap, names, _letter(names, 4, "store_failed")))
    assert "replayed 1, store_failed 1\n" in _replay(bootstrap, capsys)
    assert sorted(asyncio.run(_topic(bootstrap, names.events))) == sorted(
        [*EVENTS, (b"e-4", _event(4))]
    )
    assert "would replay 5," in _replay(bootstrap, capsys, "--all", "--dry-run")


@pytest.mark.kafka
def test_replay_chooses_letters_by_reason_and_remembers_each_reasons_place(
    kafka_bootstrap: str, names: topics.Topics, capsys: pytest.CaptureFixture[str]
):
    bootstrap = kafka_bootstrap
    said = _replay(bootstrap, capsys, "--reason", "unscorable", "--reason", "not_a_label")
    assert "replayed 2, not_a_label 1, unscorable 1\nskipped 3, reason not chosen 3" in said
    assert asyncio.run(_topic(bootstrap, names.events)) == [(b"e-3", _event(3))]
    assert asyncio.run(_topic(bootstrap, names.labels)) == [(b"tickets", LABEL)]
    assert "replayed 0\n" in _replay(bootstrap, capsys, "--reason", "not_a_label")

    # The other letters wait for the next run without --reason: none was passed over.
    said = _replay(bootstrap, capsys)
    assert "replayed 3, unknown 1, unknown_project 2\nskipped 2, replayed before 2" in said
    assert sorted(asyncio.run(_topic(bootstrap, names.events))) == EVENTS
    assert "replayed 0\n" in _replay(bootstrap, capsys, "--reason", "unscorable")
    said = _replay(bootstrap, capsys, "--reason", "unscorable", "--all", "--dry-run")
    assert "would replay 1, unscorable 1\n" in said
