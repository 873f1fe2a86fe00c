"""How the server reads a WebSocket: uvicorn's protocol, holding a client back only once its
messages pile up unread (imported when serving, with uvicorn's own)."""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["UNREAD_MAX", "ReadOnWebSocket"]

#: Messages a socket may have waiting for the app before the server stops reading it. Each
#: is at most ``ws_max_size`` bytes (`streamloop.cli.server_config`), so a socket may hold
#: this many times that in memory (and, as with uvicorn's own, whatever else the last read
#: brought in whole) before TCP holds its client back. An annotator sends a message and waits
#: for its answer, a few at most with prefetch: reading is rarely paused.
UNREAD_MAX = 4


class ReadOnWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol (websockets' sans-I/O one), reading on while fewer than
    `UNREAD_MAX` messages wait for the app.

    uvicorn stops reading a socket after each message and starts again when the app takes
    it: two changes to the event loop's selector, each a system call, for every message. An
    annotator sends one message and waits for its answer, so that paid for nothing: flat out
    on a tabular project, 4% of the server's samples (BENCHMARKS.md, issue 22 round 10).

    Once the server has sent its close frame, reading is never paused (as uvicorn does): the
    client's close reply must get through.
    """

    def send_receive_event_to_app(self) -> None:
        paused = self.read_paused
        self.read_paused = True  # so uvicorn does not pause: whether to is decided here
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = paused
        closing = getattr(self, "close_sent", False)
        if not paused and not closing and self.queue.qsize() >= UNREAD_MAX:
            self.read_paused = True
            self.transport.pause_reading()
        # `receive` reads on once the app has taken every message waiting (uvicorn's own).
