"""The project's own Kafka broker (scripts/kafka/broker) takes records and gives them back.

The groundwork for the Kafka engine's integration tests: a plain aiokafka producer and consumer,
no streamloop code, against the broker CI starts. And the operator's commands the script runs
against that broker (groups, consume), and its refusal of a port another process holds.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from kafka_cluster import BROKER

pytestmark = pytest.mark.kafka


#: A bound for a command of the script that hangs, not a timing expectation.
COMMAND_TIMEOUT = 120


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


def script_env(bootstrap: str) -> dict[str, str]:
    """The environment that points the script at the test broker (its folder and jars)."""
    return {**os.environ, "STREAMLOOP_KAFKA_PORT": bootstrap.rsplit(":", 1)[1]}


async def run_script(bootstrap: str, *args: str) -> str:
    """What ``scripts/kafka/broker ARGS`` prints, run without blocking the event loop."""
    process = await asyncio.create_subprocess_exec(
        BROKER,
        *args,
        env=script_env(bootstrap),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(
                topic,
                f'{{"n": {n}}}'.encode(),
                key=f"event-{n}".encode(),
                partition=0,
                headers=[("version", b"7")],
            )
    finally:
        await producer.stop()


async def test_groups_shows_each_partitions_lag_and_the_consumers_client_id(
    kafka_bootstrap: str,
):
    topic = f"lag-{uuid.uuid4().hex[:8]}"
    await produce(kafka_bootstrap, topic, 5)
    consumer_group = f"{topic}-workers"
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=consumer_group,
        client_id=f"{topic}-worker-1",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        while TopicPartition(topic, 0) not in consumer.assignment():
            await consumer.getmany(timeout_ms=1000)
        await consumer.commit({TopicPartition(topic, 0): 2})  # 2 of 5 done: 3 behind
        printed = await run_script(kafka_bootstrap, "groups")
    finally:
        await consumer.stop()
    # A table per group, each under its own header line (GROUP TOPIC PARTITION ...).
    lines = [line.split() for line in printed.splitlines()]
    header = next(line for line in lines if line[:1] == ["GROUP"])
    rows = [dict(zip(header, line, strict=True)) for line in lines if line[:1] == [consumer_group]]
    partitions = {row["PARTITION"]: row for row in rows}
    assert sorted(partitions) == ["0", "1", "2", "3"], printed
    assert {
        "TOPIC": topic,
        "CURRENT-OFFSET": "2",
        "LOG-END-OFFSET": "5",
        "LAG": "3",
        "CLIENT-ID": f"{topic}-worker-1",
    }.items() <= partitions["0"].items(), printed


async def test_consume_prints_a_record_with_its_key_and_headers(kafka_bootstrap: str):
    topic = f"consume-{uuid.uuid4().hex[:8]}"
    await produce(kafka_bootstrap, topic, 1)
    printed = await run_script(
        kafka_bootstrap, "consume", topic, "--max-messages", "1", "--timeout-ms", "60000"
    )
    assert printed.splitlines() == ['Partition:0\tOffset:0\tversion:7\tevent-0\t{"n": 0}']


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process listens on, with a free port just below it."""
    for _ in range(100):
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            port = int(listener.getsockname()[1])
            with socket.socket() as below:
                try:
                    below.bind(("127.0.0.1", port - 1))
                except OSError:
                    continue
            listener.listen()
            yield port
            return
    pytest.fail("no port with a free one below it")


@pytest.mark.parametrize("listener", ["broker", "controller"])
def test_start_refuses_a_port_another_process_holds_in_one_line(
    kafka_bootstrap: str, taken_port: int, listener: str, tmp_path: Path
):
    port = taken_port if listener == "broker" else taken_port - 1
    env = {
        **os.environ,
        "STREAMLOOP_KAFKA_DIR": str(tmp_path),
        "STREAMLOOP_KAFKA_PORT": str(port),
        # The test broker's jars, were the script to go as far as starting Kafka.
        "STREAMLOOP_KAFKA_LIBS": os.environ.get("STREAMLOOP_KAFKA_LIBS")
        or os.path.join(os.environ.get("STREAMLOOP_KAFKA_DIR", "/tmp/streamloop-kafka"), "libs"),
    }
    try:
        out = subprocess.run(
            [BROKER, "start"], env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
        )
    finally:
        subprocess.run([BROKER, "stop"], env=env, check=True)
    assert (out.returncode, out.stdout) == (1, "")
    assert len(out.stderr.splitlines()) == 1, out.stderr
    assert f"127.0.0.1:{taken_port} is taken by another process" in out.stderr
