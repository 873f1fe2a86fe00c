"""WebSocket for annotators: items leased to them, labels and skips back, acks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect

from streamloop.errors import BadRequest, InvalidInput, PayloadTooLarge, StreamloopError
from streamloop.streams import AnnotatorSession, ProjectRuntime
from streamloop.ws.context import engine_of, settings_of
from streamloop.ws.payloads import LabelMessage, SkipMessage, dumps, loads, parse

__all__ = ["annotate"]

log = logging.getLogger(__name__)

_ANNOTATOR = re.compile(r"^[\w.@+-]{1,64}$")
#: Most prefetched items one connection may ask for.
MAX_PREFETCH = 50
#: Messages waiting to be written to one annotator; a client this far behind is dropped.
OUTBOX_MAX = 1000

_MESSAGES: dict[str, type[BaseModel]] = {"label": LabelMessage, "skip": SkipMessage}


async def annotate(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        runtime = engine_of(websocket).project(websocket.path_params["project"])
        annotator, prefetch = _identity(websocket)
    except StreamloopError as exc:
        await websocket.send_bytes(dumps(exc.frame()))
        await websocket.close(code=exc.ws_close_code, reason=exc.message[:120])
        return
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=OUTBOX_MAX)
    writer = asyncio.create_task(_write(websocket, outbox))

    def send(message: dict[str, Any]) -> None:
        try:
            outbox.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("annotator %s is not reading; closing", annotator)
            writer.cancel()

    session = AnnotatorSession(annotator=annotator, prefetch=prefetch, send=send)
    send(
        {
            "type": "hello",
            "project": runtime.record.as_json(),
            "annotator": annotator,
            "prefetch": prefetch,
        }
    )
    runtime.join(session)
    try:
        await _read(websocket, runtime, session, settings_of(websocket).max_frame_bytes, writer)
    finally:
        runtime.leave(session)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer


def _identity(websocket: WebSocket) -> tuple[str, int]:
    annotator = websocket.query_params.get("annotator", "anonymous")
    if not _ANNOTATOR.match(annotator):
        raise InvalidInput(
            "annotator must be 1-64 letters, digits or . _ @ + -", code="invalid_annotator"
        )
    raw = websocket.query_params.get("prefetch", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PREFETCH:
        raise InvalidInput(
            f"prefetch must be an integer from 1 to {MAX_PREFETCH}", code="invalid_prefetch"
        )
    return annotator, int(raw)


async def _read(
    websocket: WebSocket,
    runtime: ProjectRuntime,
    session: AnnotatorSession,
    max_frame: int,
    writer: asyncio.Task[None],
) -> None:
    while not writer.done():
        try:
            message = await websocket.receive()
        except WebSocketDisconnect:
            return
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        try:
            reply = await _handle(raw, runtime, session, max_frame)
        except StreamloopError as exc:
            reply = exc.frame()
        if reply is not None:
            session.send(reply)
        runtime.fill(session)


async def _handle(
    raw: str | bytes, runtime: ProjectRuntime, session: AnnotatorSession, max_frame: int
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
            f"unknown message type {kind!r}; expected one of {list(_MESSAGES)}", code="unknown_type"
        )
    runtime.touch(session)
    parsed = parse(model, payload)
    if isinstance(parsed, LabelMessage):
        return await runtime.label(session, parsed.item_id, parsed.label, parsed.label_id)
    assert isinstance(parsed, SkipMessage)
    runtime.skip(session, parsed.item_id)
    return None


async def _write(websocket: WebSocket, outbox: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        message = await outbox.get()
        try:
            await websocket.send_text(dumps(message).decode())
        finally:
            outbox.task_done()
