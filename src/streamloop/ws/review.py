"""Review: the reviewer's socket, and a supervisor flagging a labelled item for review."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from streamloop.errors import StreamloopError
from streamloop.streams import ProjectRuntime
from streamloop.streams.review import ReviewSession
from streamloop.ws import frames
from streamloop.ws.annotate import (
    Limits,
    Seat,
    follow_project,
    identity,
    read_message,
    serve_socket,
)
from streamloop.ws.context import admitting_body, service_of, settings_of
from streamloop.ws.handlers import send_error_and_close
from streamloop.ws.payloads import (
    EmptyBody,
    OrjsonResponse,
    ResolveMessage,
    ReviewSkipMessage,
    parse,
    read_json,
)
from streamloop.ws.telemetry import handling_label

__all__ = ["flag", "review"]

log = logging.getLogger(__name__)

_MESSAGES: dict[str, type[BaseModel]] = {"resolve": ResolveMessage, "skip": ReviewSkipMessage}


async def review(websocket: WebSocket) -> None:
    """``WS /ws/projects/{p}/review``: items to review, one at a time; outcomes back."""
    await websocket.accept()
    try:
        runtime = service_of(websocket).project(websocket.path_params["project"])
        reviewer = identity(websocket, "reviewer")
    except StreamloopError as exc:
        await send_error_and_close(websocket, exc)
        return

    def seat(send: Callable[[dict[str, Any]], None]) -> Seat:
        session = ReviewSession(
            reviewer, send=lambda sent: send(frames.review_notice(sent, runtime.record.task))
        )
        send({"type": "hello", "project": runtime.record.as_json(), "reviewer": reviewer})
        unfollow = follow_project(runtime, send)
        runtime.join_review(session)

        def leave() -> None:
            unfollow()
            runtime.leave_review(session)

        return Seat(
            handle=lambda raw, limits: _handle(raw, runtime, session, limits),
            touch=lambda: runtime.review.touch(session),
            fill=lambda: runtime.review.fill(session),
            leave=leave,
        )

    await serve_socket(websocket, reviewer, seat, kind="review")


async def _handle(
    raw: str | bytes, runtime: ProjectRuntime, session: ReviewSession, limits: Limits
) -> dict[str, Any] | None:
    parsed = read_message(raw, limits.max_frame, _MESSAGES)
    if isinstance(parsed, ResolveMessage):
        try:
            with handling_label(parsed.label_id):
                outcome = await runtime.resolve(
                    session,
                    parsed.item_id,
                    runtime.answer(parsed.sent()),
                    parsed.label_id,
                    parsed.comment,
                )
            return frames.ack(outcome)
        except StreamloopError as exc:
            exc.context = {"label_id": parsed.label_id}
            raise
    assert isinstance(parsed, ReviewSkipMessage)
    try:
        runtime.skip_review(session, parsed.item_id)
    except StreamloopError as exc:
        exc.context = {"item_id": parsed.item_id}
        raise
    return None


async def flag(request: Request) -> Response:
    """``POST /api/projects/{p}/items/{event_id}/review``: a labelled item goes to review."""
    runtime = service_of(request).project(request.path_params["project"])
    with admitting_body(request):
        parse(EmptyBody, await read_json(request, settings_of(request)))
        record = await runtime.flag(request.path_params["event_id"])
    return OrjsonResponse(
        {"item_id": record.event_id, "status": "review", "reason": record.reason},
        status_code=202,
    )
