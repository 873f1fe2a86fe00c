"""WebSocket for annotators: items leased to them, labels and skips back, acks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import Histogram
from pydantic import BaseModel
from starlette import status
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from streamloop.errors import (
    BadRequest,
    InvalidInput,
    PayloadTooLarge,
    StreamloopError,
    TooManyRequests,
)
from streamloop.streams import AnnotatorSession, ProjectRuntime
from streamloop.ws.context import engine_of, settings_of
from streamloop.ws.limits import Rate, Refusals
from streamloop.ws.payloads import (
    CorrectMessage,
    LabelMessage,
    ResumeMessage,
    SkipMessage,
    dumps,
    loads,
    parse,
)
from streamloop.ws.telemetry import handling_label

__all__ = ["annotate", "send_error_and_close"]

log = logging.getLogger(__name__)

_ANNOTATOR = re.compile(r"^[\w.@+-]{1,64}$")
_PREFETCH = re.compile(r"^[0-9]{1,3}$")
#: Most prefetched items one connection may ask for.
MAX_PREFETCH = 50
#: Longest client string echoed back in an error (the contract's ids are shorter).
_ECHOED_MAX = 256
#: Messages waiting to be written to one annotator; a client this far behind is dropped.
OUTBOX_MAX = 1000

_MESSAGES: dict[str, type[BaseModel]] = {
    "label": LabelMessage,
    "correct": CorrectMessage,
    "skip": SkipMessage,
    "resume": ResumeMessage,
}


async def annotate(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        runtime = engine_of(websocket).project(websocket.path_params["project"])
        annotator, prefetch = _identity(websocket)
    except StreamloopError as exc:
        await send_error_and_close(websocket, exc)
        return
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=OUTBOX_MAX)
    writer = asyncio.create_task(_write(websocket, outbox))

    refused: Refusals = websocket.app.state.refused

    def send(message: dict[str, Any]) -> None:
        try:
            outbox.put_nowait(message)
        except asyncio.QueueFull:
            if writer.cancelling():
                return  # already being closed
            # The client stopped reading: end the connection, which returns its leases.
            log.warning("annotator %s is not reading its messages; closing", annotator)
            refused["annotate_not_reading"] += 1
            writer.cancel()

    session = AnnotatorSession(annotator=annotator, prefetch=prefetch, send=send)
    hello = {"type": "hello", "project": runtime.record.as_json(), "annotator": annotator}
    send({**hello, "prefetch": prefetch})
    runtime.join(session)
    settings = settings_of(websocket)
    limits = _Limits(
        settings.max_frame_bytes,
        Rate(settings.socket_messages_per_second, burst=2 * settings.socket_messages_per_second),
        refused,
        websocket.app.state.telemetry.acks,
    )
    reader = asyncio.create_task(_read(websocket, runtime, session, limits))
    try:
        await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        runtime.leave(session)
        for task in (reader, writer):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if writer.cancelled() and websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(status.WS_1008_POLICY_VIOLATION, "not reading messages")


async def send_error_and_close(websocket: WebSocket, error: StreamloopError) -> None:
    """Tell the client why it is refused, in the contract's shape, then close."""
    await websocket.send_text(dumps(error.frame()).decode())
    await websocket.close(code=error.ws_close_code, reason=error.message[:120])


def _identity(websocket: WebSocket) -> tuple[str, int]:
    principal = websocket.state.principal
    # With auth on, the token says who this is; the query is not asked.
    annotator = (
        principal.name if principal else websocket.query_params.get("annotator", "anonymous")
    )
    if not _ANNOTATOR.match(annotator):
        raise InvalidInput(
            "annotator must be 1-64 letters, digits or . _ @ + -", code="invalid_annotator"
        )
    raw = websocket.query_params.get("prefetch", "1")
    if not _PREFETCH.match(raw) or not 1 <= int(raw) <= MAX_PREFETCH:
        raise InvalidInput(
            f"prefetch must be an integer from 1 to {MAX_PREFETCH}", code="invalid_prefetch"
        )
    return annotator, int(raw)


@dataclass(frozen=True, slots=True)
class _Limits:
    max_frame: int
    rate: Rate
    refused: Refusals
    acks: Histogram


async def _read(
    websocket: WebSocket, runtime: ProjectRuntime, session: AnnotatorSession, limits: _Limits
) -> None:
    while True:
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
        runtime.touch(session)
        try:
            if not limits.rate.allow():
                raise _rate_limited(raw, limits.rate.per_second, limits.max_frame)
            reply = await _handle(raw, runtime, session, limits.max_frame, limits.acks)
        except StreamloopError as exc:
            if isinstance(exc, TooManyRequests):
                limits.refused[exc.code] += 1
            reply = exc.frame()
        if reply is not None:
            session.send(reply)
        # Lease the next item once the writer has sent the reply: choosing it re-scores
        # candidates, which must not delay the ack.
        asyncio.get_running_loop().call_soon(runtime.fill, session)


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


async def _handle(
    raw: str | bytes,
    runtime: ProjectRuntime,
    session: AnnotatorSession,
    max_frame: int,
    acks: Histogram,
) -> dict[str, Any] | None:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_frame:
        raise PayloadTooLarge(
            f"a message of {size} bytes is over the limit of {max_frame}", code="frame_too_large"
        )
    payload = loads(raw)
    if not isinstance(payload, dict):
        raise BadRequest("a message must be a JSON object", code="malformed_message")
    kind = payload.get("type")
    model = _MESSAGES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InvalidInput(
            f"unknown message type {kind!r}; expected one of {list(_MESSAGES)}",
            code="unknown_type",
        )
    parsed = parse(model, payload)
    if isinstance(parsed, LabelMessage | CorrectMessage):
        started = time.perf_counter()
        try:
            with handling_label(parsed.label_id):
                if isinstance(parsed, LabelMessage):
                    return await runtime.label(
                        session, parsed.item_id, parsed.label, parsed.label_id
                    )
                return await runtime.correct(
                    session, parsed.corrects, parsed.label, parsed.label_id
                )
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
            runtime.skip(session, parsed.item_id)
        except StreamloopError as exc:
            exc.context = {"item_id": parsed.item_id}  # which skip was refused
            raise
    return None  # resume: reading it was enough


async def _write(websocket: WebSocket, outbox: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        message = await outbox.get()
        await websocket.send_text(dumps(message).decode())
