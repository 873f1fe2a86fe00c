"""WebSocket for annotators: items leased to them, labels and skips back, acks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Histogram
from pydantic import BaseModel
from starlette import status
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from streamloop.config import Settings
from streamloop.errors import (
    BadRequest,
    InvalidInput,
    PayloadTooLarge,
    StreamloopError,
    TooManyRequests,
)
from streamloop.store import ProjectRecord
from streamloop.streams import AnnotatorSession, ProjectRuntime
from streamloop.ws import frames
from streamloop.ws.context import refused_of, service_of, settings_of, telemetry_of
from streamloop.ws.handlers import send_error_and_close
from streamloop.ws.limits import Rate, Refusals
from streamloop.ws.payloads import (
    ANNOTATOR_NAME,
    CorrectMessage,
    LabelMessage,
    RecentMessage,
    ResumeMessage,
    SkipMessage,
    dumps,
    loads,
    parse,
)
from streamloop.ws.recent import recent
from streamloop.ws.telemetry import handling_label

__all__ = [
    "Limits",
    "Seat",
    "annotate",
    "follow_project",
    "identity",
    "read_message",
    "serve_socket",
]

log = logging.getLogger(__name__)

# Matched whole (fullmatch): "$" alone would let a final newline through, into log lines.
_PREFETCH = re.compile(r"[0-9]{1,3}")
#: Most prefetched items one connection may ask for.
MAX_PREFETCH = 50
#: Longest client string echoed back in an error (the contract's ids are shorter).
_ECHOED_MAX = 256
#: Messages waiting to be written to one annotator; a client this far behind is dropped.
OUTBOX_MAX = 1000
#: Past this many waiting, the socket's own messages are not read until the client has read
#: some: its replies (rate_limited among them) then never fill the outbox.
_READ_PAUSE_AT = OUTBOX_MAX // 2

_MESSAGES: dict[str, type[BaseModel]] = {
    "label": LabelMessage,
    "correct": CorrectMessage,
    "skip": SkipMessage,
    "resume": ResumeMessage,
    "recent": RecentMessage,
}


async def annotate(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        runtime = service_of(websocket).project(websocket.path_params["project"])
        annotator, prefetch = _identity(websocket)
        store = runtime.store
        labelled = await store.run(store.answers_given, runtime.record.id, annotator)
        # Checked with no wait before the session joins: two sockets opening at once must
        # not both pass.
        _check_share(runtime, annotator, prefetch, settings_of(websocket))
    except StreamloopError as exc:
        await send_error_and_close(websocket, exc)
        return

    def seat(send: Callable[[dict[str, Any]], None]) -> Seat:
        session = AnnotatorSession(
            annotator=annotator,
            prefetch=prefetch,
            send=lambda sent: send(frames.notice(sent, runtime.track_record())),
        )
        hello = {"type": "hello", "project": runtime.record.as_json(), "annotator": annotator}
        send({**hello, "prefetch": prefetch, "labelled": labelled})
        unfollow = follow_project(runtime, send)
        runtime.leasing.join(session)

        def leave() -> None:
            unfollow()
            runtime.leasing.leave(session)

        return Seat(
            handle=lambda raw, limits: _handle(raw, runtime, session, limits),
            touch=lambda: runtime.leasing.touch(session),
            fill=lambda: runtime.leasing.fill(session),
            leave=leave,
        )

    await serve_socket(websocket, annotator, seat, kind="annotate")


def follow_project(
    runtime: ProjectRuntime, send: Callable[[dict[str, Any]], None]
) -> Callable[[], None]:
    """Send ``{"type": "project", "project": {...}}`` whenever what the project shows its
    annotators changes (``PATCH``); returns the function that stops it."""

    def changed(record: ProjectRecord) -> None:
        send({"type": "project", "project": record.as_json()})

    runtime.record_listeners.add(changed)
    return lambda: runtime.record_listeners.discard(changed)


@dataclass(frozen=True, slots=True)
class Seat:
    """What a socket's messages do, once its session has joined the project."""

    #: Answer one message (its reply frame, or None).
    handle: Callable[[str | bytes, Limits], Awaitable[dict[str, Any] | None]]
    #: The person is there again (any message shows it).
    touch: Callable[[], None]
    #: Offer what comes next, after a reply was sent.
    fill: Callable[[], None]
    #: The connection ended: give back what it held.
    leave: Callable[[], None]


async def serve_socket(
    websocket: WebSocket,
    who: str,
    seat: Callable[[Callable[[dict[str, Any]], None]], Seat],
    *,
    kind: str,
) -> None:
    """Run an accepted socket of one person: its outbox and writer, its rate limit, reading
    its messages, and closing one whose client stopped reading. ``seat`` joins the project
    with the function that sends a frame."""
    outbox = _Outbox()
    writer = asyncio.create_task(_write(websocket, outbox))

    refused = refused_of(websocket)

    def not_reading() -> None:
        if writer.cancelling():
            return  # already being closed
        # The client stopped reading: end the connection, which returns its leases; 1013
        # tells it to come back later.
        log.warning("%s socket of %s is not reading its messages; closing", kind, who)
        refused[f"{kind}_not_reading"] += 1
        writer.cancel()

    def send(frame: dict[str, Any]) -> None:
        try:
            outbox.put_nowait(frame)
        except asyncio.QueueFull:
            not_reading()

    joined = seat(send)
    settings = settings_of(websocket)
    limits = Limits(
        settings.max_frame_bytes,
        Rate(settings.socket_messages_per_second, burst=2 * settings.socket_messages_per_second),
        refused,
        telemetry_of(websocket).acks,
    )
    reader = asyncio.create_task(
        _read(websocket, joined, limits, outbox, settings.slow_reader_seconds, send)
    )
    try:
        await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finished_reading = reader.done() and not reader.cancelled()
        if finished_reading and isinstance(reader.exception(), _NotReading):
            not_reading()
    finally:
        joined.leave()
        for task in (reader, writer):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if writer.cancelled() and websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(status.WS_1013_TRY_AGAIN_LATER, "not reading messages")


def identity(websocket: WebSocket, role: str) -> str:
    """Who is on this socket: the token's name with auth on, else ``?<role>=<name>``."""
    principal = websocket.state.principal
    # With auth on, the token says who this is; the query is not asked.
    name = principal.name if principal else websocket.query_params.get(role, "anonymous")
    if not ANNOTATOR_NAME.fullmatch(name):
        raise InvalidInput(
            f"{role} must be 1-64 letters, digits or . _ @ + -", code=f"invalid_{role}"
        )
    return name


def _identity(websocket: WebSocket) -> tuple[str, int]:
    annotator = identity(websocket, "annotator")
    raw = websocket.query_params.get("prefetch", "1")
    if not _PREFETCH.fullmatch(raw) or not 1 <= int(raw) <= MAX_PREFETCH:
        raise InvalidInput(
            f"prefetch must be an integer from 1 to {MAX_PREFETCH}", code="invalid_prefetch"
        )
    return annotator, int(raw)


def _check_share(
    runtime: ProjectRuntime, annotator: str, prefetch: int, settings: Settings
) -> None:
    """One annotator (a token, or a name with auth off) may not crowd out the others."""
    theirs = runtime.leasing.sessions_of(annotator)
    if len(theirs) >= settings.sockets_per_annotator_max:
        raise TooManyRequests(
            f"{annotator} has {len(theirs)} annotate sockets open in this project; at most "
            f"{settings.sockets_per_annotator_max}: close one first",
            code="too_many_sockets",
        )
    leases = sum(session.prefetch for session in theirs) + prefetch
    if leases > settings.leases_per_annotator_max:
        raise TooManyRequests(
            f"{annotator} would hold up to {leases} items at once in this project; at most "
            f"{settings.leases_per_annotator_max}: ask for a smaller prefetch",
            code="too_many_leases",
            # Passes once other sockets close, never if this prefetch alone is over.
            retryable=prefetch <= settings.leases_per_annotator_max,
        )


class _Outbox(asyncio.Queue[dict[str, Any]]):
    """Messages waiting to be written, with a signal for a reader waiting for room."""

    def __init__(self) -> None:
        super().__init__(maxsize=OUTBOX_MAX)
        self.room = asyncio.Event()
        self.room.set()

    async def next(self) -> dict[str, Any]:
        message = await self.get()
        if self.qsize() < _READ_PAUSE_AT:
            self.room.set()
        return message

    async def wait_for_room(self, patience: float) -> None:
        """Return once there is room; `_NotReading` if the client read nothing for
        ``patience`` seconds meanwhile."""
        if self.qsize() >= _READ_PAUSE_AT:
            self.room.clear()
            try:
                async with asyncio.timeout(patience):
                    await self.room.wait()
            except TimeoutError:
                raise _NotReading from None


class _NotReading(Exception):
    """The client sends but has stopped reading what it is sent."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame: int
    rate: Rate
    refused: Refusals
    acks: Histogram


async def _read(
    websocket: WebSocket,
    seat: Seat,
    limits: Limits,
    outbox: _Outbox,
    patience: float,
    send: Callable[[dict[str, Any]], None],
) -> None:
    while True:
        # A client that sends without reading waits here (TCP pushes back on it), instead of
        # being answered into an overflowing outbox; one that never reads again is closed.
        await outbox.wait_for_room(patience)
        try:
            message = await websocket.receive()
        except WebSocketDisconnect:
            return
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        # Any message, even a bad one, shows the annotator is there again.
        seat.touch()
        try:
            if not limits.rate.allow():
                raise _rate_limited(raw, limits.rate.per_second, limits.max_frame)
            reply = await seat.handle(raw, limits)
        except StreamloopError as exc:
            if isinstance(exc, TooManyRequests):
                limits.refused[exc.code] += 1
            reply = exc.frame()
        if reply is not None:
            send(reply)
        # Lease the next item once the writer has sent the reply: choosing it re-scores
        # candidates, which must not delay the ack.
        asyncio.get_running_loop().call_soon(seat.fill)


def _rate_limited(raw: str | bytes, per_second: float, max_frame: int) -> TooManyRequests:
    error = TooManyRequests(
        f"more than {per_second:g} messages a second; this one was not read",
        code="rate_limited",
    )
    if len(raw) > max_frame:
        return error  # not read at all
    with contextlib.suppress(Exception):
        payload = loads(raw)
        if isinstance(payload, dict):
            # Name the refused label or skip, so the client knows which to send again.
            error.context = {
                key: payload[key]
                for key in ("label_id", "item_id")
                if isinstance(payload.get(key), str) and len(payload[key]) <= _ECHOED_MAX
            }
    return error


def read_message(
    raw: str | bytes, max_frame: int, messages: dict[str, type[BaseModel]]
) -> BaseModel:
    """One client message, checked: its size, JSON, and its ``type`` among ``messages``."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_frame:
        raise PayloadTooLarge(
            f"a message of {size} bytes is over the limit of {max_frame}", code="frame_too_large"
        )
    payload = loads(raw)
    if not isinstance(payload, dict):
        raise BadRequest("a message must be a JSON object", code="malformed_message")
    kind = payload.get("type")
    model = messages.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InvalidInput(
            f"unknown message type {kind!r}; expected one of {list(messages)}",
            code="unknown_type",
        )
    return parse(model, payload)


async def _handle(
    raw: str | bytes, runtime: ProjectRuntime, session: AnnotatorSession, limits: Limits
) -> dict[str, Any] | None:
    parsed = read_message(raw, limits.max_frame, _MESSAGES)
    acks = limits.acks
    if isinstance(parsed, LabelMessage | CorrectMessage):
        started = time.perf_counter()
        try:
            with handling_label(parsed.label_id), runtime.quarantine.labelling(session.annotator):
                answer = runtime.answer(parsed.sent())
                if isinstance(parsed, LabelMessage):
                    outcome = await runtime.label(
                        session, parsed.item_id, answer, parsed.label_id, parsed.comment
                    )
                else:
                    outcome = await runtime.correct(
                        session, parsed.corrects, answer, parsed.label_id, parsed.comment
                    )
                return frames.ack(outcome)
        except StreamloopError as exc:
            # Say which label was refused, so a client knows which one to retry or drop.
            exc.context = {"label_id": parsed.label_id}
            with handling_label(parsed.label_id):
                log.info("label refused for %s: %s", session.annotator, exc.code)
            raise
        finally:
            acks.labels(runtime.record.name).observe(time.perf_counter() - started)
    if isinstance(parsed, SkipMessage):
        try:
            if session.holding(parsed.item_id) is not None:
                # Stored before the item is given back: a skip the store failed to keep is
                # refused whole, and the annotator may send it again.
                await runtime.progress.skipped(session.annotator, parsed.item_id, parsed.reason)
            runtime.leasing.skip(session, parsed.item_id)
            runtime.skipped(session.annotator)
        except StreamloopError as exc:
            exc.context = {"item_id": parsed.item_id}  # which skip was refused
            raise
    if isinstance(parsed, RecentMessage):
        return await recent(runtime, session.annotator, parsed.limit)
    return None  # resume: reading it was enough


async def _write(websocket: WebSocket, outbox: _Outbox) -> None:
    while True:
        message = await outbox.next()
        await websocket.send_text(dumps(message).decode())
