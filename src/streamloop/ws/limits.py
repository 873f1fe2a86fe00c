"""Limits on what one client may ask, and the count of what was refused or dropped."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["IdleClosingHttp", "Rate", "Refusals"]


class Rate:
    """A token bucket: ``per_second`` messages a second on average, bursts up to ``burst``.

    >>> clock = iter([0.0, 0.0, 0.0, 0.0, 1.0]).__next__  # made at 0, three at 0, one at 1
    >>> rate = Rate(1.0, burst=2.0, clock=clock)
    >>> [rate.allow(), rate.allow(), rate.allow()]
    [True, True, False]
    >>> rate.allow()  # a second later, one more
    True
    """

    def __init__(
        self, per_second: float, *, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def allow(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Refusals(Counter[str]):
    """What this process refused or dropped, by reason (an error code, or a kind of drop).

    Exported as ``streamloop_refused_total{reason=...}``: requests answered 429, socket
    messages over the rate limit, dashboard pushes a slow socket never got, annotate sockets
    closed because their client stopped reading, model snapshots on Kafka that were not
    signed with the deployment's key (``unsigned_model``, ``forged_model``).
    """


class IdleClosingHttp(HttpToolsProtocol):
    """uvicorn's HTTP protocol, also closing a connection that never finishes a request's
    headers.

    uvicorn starts its keep-alive timer only after a response, and nothing times the headers,
    so a client could open connections, send a byte or nothing, and hold them for ever. Here
    a connection has ``timeout_keep_alive`` seconds from its opening, and from the start of
    each request, to complete the request's headers; the body has its own deadline
    (``body_timeout_seconds``, in `streamloop.ws.payloads.read_json`).
    """

    _headers_due: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect_headers()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._expect_headers()

    def on_headers_complete(self) -> None:
        self._cancel_headers_due()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_headers_due()
        super().connection_lost(exc)

    def _expect_headers(self) -> None:
        self._cancel_headers_due()
        self._headers_due = self.loop.call_later(self.timeout_keep_alive, self._headers_late)

    def _cancel_headers_due(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def _headers_late(self) -> None:
        self._headers_due = None
        if not self.transport.is_closing():
            self.transport.close()
