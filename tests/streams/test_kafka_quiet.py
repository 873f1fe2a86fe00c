"""Quiet logs under faults: a worker whose broker is killed says so once, and once that it is
back, instead of aiokafka's hundred lines a second (streams/quiet.py).

The broker is this test's own (scripts/kafka/broker, its own folder and ports, as in
test_kafka_faults.py), killed with SIGKILL under a running worker and started again.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kafka_cluster import Broker, Cluster, event
from support import RECEIVE_TIMEOUT, WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

#: aiokafka's own words for a failed connection and what follows from it: before
#: streams/quiet.py, about a hundred such lines a second per process during an outage.
CONNECTION_ERRORS = re.compile(
    r"Unable connect to|Unable to update metadata|NodeNotReadyError|Connect call failed"
)
#: How many a quiet worker may write in a whole outage: the loss line quotes one.
CONNECTION_ERRORS_MAX = 5
#: How long the broker stays down after the worker has said it is lost, on top of the restart.
OUTAGE_SECONDS = 3.0


@pytest.fixture
async def own_cluster(
    broker: Broker,
    postgres_url: str,
    tmp_path: Path,
) -> AsyncIterator[Cluster]:
    cluster = Cluster(broker.bootstrap, postgres_url, tmp_path)
    try:
        yield cluster
    finally:
        await cluster.close()


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines()


def connection_errors(log: Path) -> int:
    return sum(bool(CONNECTION_ERRORS.search(line)) for line in lines(log))


def kill(running: Broker) -> None:
    """SIGKILL: a crash, with no goodbye to the clients."""
    pid = Path(running.env["STREAMLOOP_KAFKA_DIR"], "broker.pid").read_text()
    os.kill(int(pid), signal.SIGKILL)


async def said(worker: WorkerProcess, log: Path, words: str) -> str:
    """The worker's first log line with ``words``, waited for (polled) while the worker runs."""
    deadline = time.monotonic() + RECEIVE_TIMEOUT * 3
    while time.monotonic() < deadline:
        assert worker.process.poll() is None, f"the worker exited: {lines(log)[-20:]}"
        for line in lines(log):
            if words in line:
                return line
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"no {words!r} in the worker's log, which has {connection_errors(log)} lines of "
        "aiokafka's connection errors"
    )


async def test_a_broker_outage_is_said_once_when_it_starts_and_once_when_it_ends(
    own_cluster: Cluster,
    broker: Broker,
):
    cluster = own_cluster
    worker = cluster.start_worker()
    log = cluster.tmp_path / "worker-0.log"
    try:
        # An event of no project: the worker reads it and logs its dead letter, so it is connected.
        await cluster.produce([event(0)])
        await said(worker, log, "evt-0")

        kill(broker)
        lost = await said(worker, log, "lost the broker at ")
        assert broker.bootstrap in lost
        down_until = time.monotonic() + OUTAGE_SECONDS  # aiokafka retries every 100 ms meanwhile
        while time.monotonic() < down_until:
            assert worker.process.poll() is None
            await asyncio.sleep(0.2)
        broker.start()

        back = await said(worker, log, "is back after")
        assert re.search(
            rf"the broker at {broker.bootstrap} is back after \d+ s \(\d+ connection", back
        )
        text = "\n".join(lines(log))
        assert text.count("lost the broker") == 1, text
        assert text.count("is back after") == 1, text
        assert connection_errors(log) <= CONNECTION_ERRORS_MAX, text
        assert "Timer " not in text, text  # mode's timers: debug lines now

        # Stopped while its broker is down, it stops without waiting for the broker (faust's
        # services held it for a minute or more): cleanly (0), or past its deadline, saying so.
        kill(broker)
        code = await asyncio.to_thread(worker.kill, signal.SIGTERM)
        assert code == 0 or (code == 1 and "did not stop within" in "\n".join(lines(log)))
    finally:
        worker.kill(signal.SIGKILL)
