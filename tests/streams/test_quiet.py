"""Quiet logs under faults: aiokafka's records during an outage (as measured on a worker whose
broker was killed) go through the filters, and what an operator would read comes out."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from streamloop.streams import quiet
from streamloop.streams.quiet import BrokerOutage, TimerNoise

REFUSED = "[Errno 111] Connect call failed ('127.0.0.1', 9092)"
NOT_READY = "NodeNotReadyError: Attempt to send a request to node which is not ready (node id 1)."


def record(name: str, level: int, msg: str, *args: object, at: float) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    made.created = at
    return made


def answered(at: float, port: int = 9092) -> logging.LogRecord:
    """A response from the broker, which aiokafka logs only at debug."""
    response = "Response from %s:%d %d: %s"
    return record("aiokafka.conn", logging.DEBUG, response, "127.0.0.1", port, 7, "...", at=at)


def outage(start: float, seconds: float) -> Iterator[logging.LogRecord]:
    """What a worker's clients log while the broker is down: every 100 ms, a failed connection
    attempt and its consequences, after the fetch that found the connection closed."""
    closed = "KafkaConnectionError: Connection at 127.0.0.1:9092 closed"
    yield record(
        "aiokafka.consumer.fetcher",
        logging.ERROR,
        "Failed fetch messages from %s: %s",
        1,
        closed,
        at=start,
    )
    for tick in range(int(seconds * 10)):
        at = start + tick / 10
        yield record(
            "aiokafka", logging.ERROR, "Unable connect to node with id %s: %s", 1, REFUSED, at=at
        )
        yield record("aiokafka", logging.ERROR, "Unable to update metadata from %s", [1], at=at)
        yield record(
            "aiokafka.consumer.fetcher",
            logging.ERROR,
            "Failed fetch messages from %s: %s",
            1,
            NOT_READY,
            at=at,
        )
        yield record(
            "aiokafka.consumer.group_coordinator",
            logging.ERROR,
            "Group Coordinator Request failed: %s",
            NOT_READY,
            at=at,
        )


def shown(log_filter: logging.Filter, records: Iterator[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if log_filter.filter(r)]


@pytest.fixture(autouse=True)
def conn_level() -> Iterator[logging.Logger]:
    """aiokafka.conn, whose level the filter lowers while the broker is down, as it was."""
    logger = logging.getLogger("aiokafka.conn")
    before = logger.level
    yield logger
    logger.setLevel(before)


def test_an_outage_is_said_once_when_it_starts_and_once_when_it_ends():
    records = list(outage(100.0, 35))
    assert len(records) > 1000  # what went to the log before

    lines = shown(BrokerOutage(), iter([*records, answered(135.2)]))

    assert lines == [
        "lost the broker at 127.0.0.1:9092: Failed fetch messages from 1: "
        "KafkaConnectionError: Connection at 127.0.0.1:9092 closed",
        "the broker at 127.0.0.1:9092 is back after 35 s (350 connection attempts failed)",
    ]


def test_a_long_outage_is_recalled_once_a_minute_with_what_was_held_back():
    lines = shown(BrokerOutage(every=60), iter([*outage(0.0, 130), answered(131.0)]))

    assert len(lines) == 4
    assert lines[0].startswith("lost the broker at 127.0.0.1:9092: ")
    assert lines[1] == (
        "the broker at 127.0.0.1:9092 is still unreachable after 60 s (601 connection attempts "
        f"failed, 2400 lines held back; the latest: Unable connect to node with id 1: {REFUSED})"
    )
    assert lines[2].startswith("the broker at 127.0.0.1:9092 is still unreachable after 120 s (")
    assert lines[3] == (
        "the broker at 127.0.0.1:9092 is back after 131 s (1300 connection attempts failed)"
    )


def test_the_broker_lost_again_is_said_again():
    outage_filter = BrokerOutage()
    response = answered(0.0)  # while the broker answers: aiokafka's debug line, as it was
    assert outage_filter.filter(response)
    assert (response.levelname, response.getMessage()[:13]) == ("DEBUG", "Response from")
    first = shown(outage_filter, iter([*outage(0.0, 5), answered(5.0)]))
    second = shown(outage_filter, iter([*outage(10.0, 5), answered(15.0)]))
    assert [line.split(" at ")[0] for line in first + second] == [
        "lost the broker",
        "the broker",
        "lost the broker",
        "the broker",
    ]
    assert second[1].endswith("is back after 5 s (50 connection attempts failed)")


def test_a_broker_never_reached_is_said_once_with_its_bootstrap_address():
    records = (
        record(
            "aiokafka",
            logging.ERROR,
            'Unable connect to "%s:%s": %s',
            "kafka",
            9092,
            "refused",
            at=t,
        )
        for t in range(30)
    )
    assert shown(BrokerOutage(), records) == [
        'lost the broker at kafka:9092: Unable connect to "kafka:9092": refused'
    ]


def test_other_aiokafka_warnings_are_rate_limited_with_a_count():
    dead = "Marking the coordinator dead (node %s)for group %s."
    records = [
        record("aiokafka.consumer.group_coordinator", logging.WARNING, dead, 1, "g", at=t / 10)
        for t in range(10)
    ]
    later = record("aiokafka.consumer.group_coordinator", logging.WARNING, dead, 1, "g", at=61.0)
    assert shown(BrokerOutage(every=60), iter([*records, later])) == [
        "Marking the coordinator dead (node 1)for group g.",
        "Marking the coordinator dead (node 1)for group g. (9 more like it in 61 s)",
    ]


def test_while_the_broker_is_down_only_the_debug_lines_asked_for_are_shown(
    conn_level: logging.Logger,
):
    for asked, shown in [(logging.INFO, False), (logging.DEBUG, True)]:
        conn_level.setLevel(asked)  # as the operator's configuration left it
        outage_filter = BrokerOutage()
        assert outage_filter.filter(next(outage(0.0, 1)))
        assert conn_level.isEnabledFor(logging.DEBUG)  # listening for the broker's answer
        closing = record("aiokafka.conn", logging.DEBUG, "Closing connection", at=1.0)
        assert outage_filter.filter(closing) is shown
        assert outage_filter.filter(answered(2.0))
        assert conn_level.level == asked  # listening no more


def test_mode_timer_notes_are_debug_lines_one_a_minute_per_timer():
    overlapping = "Timer %s is overlapping (interval=%r runtime=%r)"
    late = "Timer %s woke up too late, with a drift of +%r runtime=%r sleeptime=%r"
    notes = [
        record(quiet.TIMERS_LOGGER, logging.WARNING, overlapping, "commit", 2.8, 3.1, at=0.0),
        record(quiet.TIMERS_LOGGER, logging.INFO, late, "Monitor.sampler", 0.4, 0.0, 1.4, at=0.0),
        record(quiet.TIMERS_LOGGER, logging.INFO, late, "Monitor.sampler", 0.5, 0.0, 1.5, at=1.0),
    ]
    timers = logging.getLogger(quiet.TIMERS_LOGGER)
    before = timers.level
    try:
        timers.setLevel(logging.INFO)  # an operator's --log-level info
        assert [TimerNoise().filter(note) for note in notes] == [False, False, False]
        timers.setLevel(logging.DEBUG)
        assert [note.levelname for note in notes] == ["DEBUG"] * 3
        limited = TimerNoise()
        assert [limited.filter(note) for note in notes] == [True, True, False]
    finally:
        timers.setLevel(before)


def test_install_quiets_the_real_loggers_and_twice_is_once(caplog: pytest.LogCaptureFixture):
    quiet.install()
    quiet.install()
    for name in quiet.AIOKAFKA_LOGGERS:
        assert sum(isinstance(f, BrokerOutage) for f in logging.getLogger(name).filters) == 1
    timers = logging.getLogger(quiet.TIMERS_LOGGER).filters
    assert sum(isinstance(f, TimerNoise) for f in timers) == 1

    caplog.set_level(logging.WARNING)
    for _ in range(500):
        logging.getLogger("aiokafka").error("Unable connect to node with id %s: %s", 1, REFUSED)
    logging.getLogger("aiokafka.conn").debug("Response from %s:%d %d: %s", "127.0.0.1", 9092, 7, "")
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "lost the broker at 127.0.0.1",
        "the broker at 127.0.0.1",
    ]
    assert caplog.records[1].getMessage().endswith("(500 connection attempts failed)")


def test_on_a_cluster_another_broker_answering_does_not_end_the_outage():
    # One broker of several is down: the others keep answering while it is retried.
    records = [*outage(0.0, 3)]
    mixed = [item for at, r in enumerate(records) for item in (r, answered(at / 40, port=9093))]
    lines = shown(BrokerOutage(), iter([*mixed, answered(3.5)]))
    assert lines == [
        "lost the broker at 127.0.0.1:9092: Failed fetch messages from 1: "
        "KafkaConnectionError: Connection at 127.0.0.1:9092 closed",
        "the broker at 127.0.0.1:9092 is back after 4 s (30 connection attempts failed)",
    ]
