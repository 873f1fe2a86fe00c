"""Quiet logs under faults: a broker outage is said once when it starts and once when it ends.

While a broker is down, each of a process's aiokafka clients retries every 100 ms and logs
every failed attempt and its consequences: about a hundred lines a second, in which the one line
that matters is lost. `install` attaches logging filters that turn them into

- ``lost the broker at HOST:PORT: <the first error>``, once;
- at most one ``the broker at HOST:PORT is still unreachable after N s (...)`` line per
  `REPEAT_EVERY` seconds, which counts the lines held back;
- ``the broker at HOST:PORT is back after N s (M connection attempts failed)``, once.

aiokafka's other warnings are rate-limited the same way, and mode's notes on its timers' drift
("Timer commit is overlapping", "Timer ... woke up too late") are demoted to debug (see
`TimerNoise` for why).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Hashable

__all__ = ["REPEAT_EVERY", "BrokerOutage", "RateLimit", "TimerNoise", "install"]

#: Seconds between two lines about the same ongoing trouble.
REPEAT_EVERY = 60.0

#: Where aiokafka logs. A logger's filters see only the records logged on that very logger,
#: not its children's, so each is named (its client logs on "aiokafka" itself).
AIOKAFKA_LOGGERS = (
    "aiokafka",
    "aiokafka.admin.client",
    "aiokafka.cluster",
    "aiokafka.conn",
    "aiokafka.consumer.consumer",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.producer",
    "aiokafka.producer.sender",
)
TIMERS_LOGGER = "mode.timers"

# A connection to the broker could not be made, or broke: the sign that it is gone. Other
# errors of an outage (a node not ready, the coordinator marked dead) follow from it, and
# also happen briefly while a healthy cluster starts or rebalances.
_LOST = re.compile(r"Unable connect to|Connect call failed|KafkaConnectionError")
# aiokafka's lines for one failed connection attempt (to a known node, to a bootstrap server).
_ATTEMPT_FAILED = frozenset(
    {"Unable connect to node with id %s: %s", 'Unable connect to "%s:%s": %s'}
)
# A broker answered a request. Nothing else aiokafka logs tells that the broker is back, and it
# says this only at debug, on this logger: the filter hears it there while the broker is down.
_ANSWERED = "Response from %s:%d %d: %s"
_LISTENED = "aiokafka.conn"
# The broker's address as aiokafka's errors give it: "Connection at 127.0.0.1:9092 closed",
# "Connect call failed ('127.0.0.1', 9092)", 'Unable connect to "127.0.0.1:9092"'.
_ADDRESS = re.compile(r"""Connection at (\S+:\d+)|\('([^']+)', (\d+)\)|"(\S+:\d+)\"""")


class RateLimit:
    """The first record of each kind, then at most one every ``every`` seconds, which says how
    many like it were held back meanwhile (times are the records' own)."""

    def __init__(self, every: float = REPEAT_EVERY) -> None:
        self.every = every
        self._shown_at: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def allow(self, kind: Hashable, record: logging.LogRecord) -> bool:
        shown_at = self._shown_at.get(kind)
        if shown_at is not None and record.created - shown_at < self.every:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        self._shown_at[kind] = record.created
        held = self._held.pop(kind, 0)
        if held and shown_at is not None:
            since = record.created - shown_at
            _rewrite(record, f"{record.getMessage()} ({held} more like it in {since:.0f} s)")
        return True


class BrokerOutage(logging.Filter):
    """aiokafka's lines while a broker is unreachable: one when it is lost, one when it is
    back, and at most one every ``every`` seconds in between; its other warnings rate-limited.

    The broker is back when it answers a request, which aiokafka says only in a debug line of
    `_LISTENED`: while the broker is down, the filter lowers that logger's level to hear it,
    and drops the other debug lines there that the operator did not ask for. One filter serves
    all of a process's clients: they reach the same brokers.
    """

    def __init__(self, every: float = REPEAT_EVERY) -> None:
        super().__init__()
        self.every = every
        self.address = ""
        #: The address of the broker lost in the outage under way.
        self.lost_at = ""
        #: When the outage under way began (a record's time), None while the broker answers.
        self.down_since: float | None = None
        self._reminded_at = 0.0
        self._failed = 0  # connection attempts failed in this outage
        self._held = 0  # lines held back since the last one shown about this outage
        #: While the broker is down: the level of `_LISTENED` to restore, and the level from
        #: which its records were shown before the filter listened to its debug lines.
        self._listening: tuple[int, int] | None = None
        self._limit = RateLimit(every)
        self._lock = threading.Lock()  # records may come from several threads

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            if self._listening is None:  # aiokafka's debug and info lines, untouched
                return True
            with self._lock:
                if self._listening is None:
                    return True
                if record.msg == _ANSWERED and self._from_lost(record):
                    return self._answered(record)
                return record.levelno >= self._listening[1]
        with self._lock:
            text = record.getMessage()
            if found := _ADDRESS.search(text):
                self.address = found[1] or found[4] or f"{found[2]}:{found[3]}"
            failed = str(record.msg) in _ATTEMPT_FAILED
            if self.down_since is None:
                if failed or _LOST.search(text):
                    return self._lost(record, text, failed)
                return self._limit.allow(str(record.msg), record)
            self._failed += failed
            if record.created - self._reminded_at < self.every:
                self._held += 1
                return False
            down = record.created - self.down_since
            _rewrite(
                record,
                f"the broker{self._at} is still unreachable after {down:.0f} s "
                f"({self._failed} connection attempts failed, {self._held} lines held back; "
                f"the latest: {text})",
                logging.WARNING,
            )
            self._reminded_at = record.created
            self._held = 0
            return True

    @property
    def _at(self) -> str:
        address = self.lost_at if self.down_since is not None else self.address
        return f" at {address}" if address else ""

    def _from_lost(self, record: logging.LogRecord) -> bool:
        """Whether an answer comes from the broker that was lost (on a cluster of several,
        another broker answering does not end its outage)."""
        if not self.lost_at or not isinstance(record.args, tuple) or len(record.args) < 2:
            return True
        return f"{record.args[0]}:{record.args[1]}" == self.lost_at

    def _lost(self, record: logging.LogRecord, reason: str, failed: bool) -> bool:
        self.down_since = self._reminded_at = record.created
        self.lost_at = self.address
        self._failed = int(failed)
        self._held = 0
        listened = logging.getLogger(_LISTENED)
        self._listening = (listened.level, listened.getEffectiveLevel())
        listened.setLevel(logging.DEBUG)
        _rewrite(record, f"lost the broker{self._at}: {reason}", logging.WARNING)
        return True

    def _answered(self, record: logging.LogRecord) -> bool:
        assert self.down_since is not None and self._listening is not None
        logging.getLogger(_LISTENED).setLevel(self._listening[0])
        self._listening = None
        down = record.created - self.down_since
        self.down_since = None
        _rewrite(
            record,
            f"the broker{self._at} is back after {down:.0f} s "
            f"({self._failed} connection attempts failed)",
            logging.WARNING,
        )
        return True


class TimerNoise(logging.Filter):
    """mode's notes on its timers, demoted to debug, and there at most one a minute per timer.

    "Timer commit is overlapping" says that a commit took longer than the commit interval,
    which is what every commit does while the broker is down: the outage is already said.
    "Timer ... woke up too late" says that the event loop ran a timer 30% (at most 1.2 s) late,
    which a busy machine's scheduler does to an idle worker. The thresholds are constants of
    mode.timers that neither faust nor mode lets a program configure, and neither line is
    something an operator can act on: consumer lag and the broker lines tell what matters.
    """

    def __init__(self, every: float = REPEAT_EVERY) -> None:
        super().__init__()
        self._limit = RateLimit(every)
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        timer = record.args[0] if isinstance(record.args, tuple) and record.args else None
        with self._lock:
            return self._limit.allow((str(record.msg), str(timer)), record)


_outage = BrokerOutage()
_timers = TimerNoise()


def install() -> None:
    """Attach the filters to aiokafka's and mode's loggers; calling it again changes nothing."""
    for name in AIOKAFKA_LOGGERS:
        logging.getLogger(name).addFilter(_outage)  # addFilter adds a filter only once
    logging.getLogger(TIMERS_LOGGER).addFilter(_timers)


def _rewrite(record: logging.LogRecord, message: str, level: int | None = None) -> None:
    record.msg, record.args = message, ()
    if level is not None:
        record.levelno, record.levelname = level, logging.getLevelName(level)
