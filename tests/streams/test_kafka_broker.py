"""The project's own Kafka broker (scripts/kafka/broker) takes records and gives them back.

The groundwork for the Kafka engine's integration tests: a plain aiokafka producer and consumer,
no streamloop code, against the broker CI starts.
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

pytestmark = pytest.mark.kafka


async def test_a_record_produced_is_consumed_in_order_per_key(kafka_bootstrap: str):
    bootstrap = kafka_bootstrap
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(20):
            await producer.send_and_wait(topic, f"event-{n}".encode(), key=b"project-a")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=topic
    )
    await consumer.start()
    try:
        received: list[bytes] = []
        while len(received) < 20:
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, "no records came back from the broker"
            for records in batch.values():
                received.extend(record.value for record in records)
    finally:
        await consumer.stop()
    assert received == [f"event-{n}".encode() for n in range(20)]
