"""One place where failures become the contract's error JSON."""

from __future__ import annotations

import logging

from starlette import status
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from streamloop.errors import BadRequest, StreamloopError
from streamloop.ws.context import refused_of
from streamloop.ws.payloads import OrjsonResponse, dumps

__all__ = ["exception_handlers", "refuse", "send_error_and_close"]

log = logging.getLogger(__name__)

_BODY_LEFT_UNREAD = frozenset({status.HTTP_408_REQUEST_TIMEOUT, status.HTTP_413_CONTENT_TOO_LARGE})
_HTTP_CODES = {
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
}


async def _streamloop_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StreamloopError)
    headers = None
    if exc.http_status == status.HTTP_429_TOO_MANY_REQUESTS:
        headers = {"Retry-After": "1"}
        refused_of(request)[exc.code] += 1
    elif exc.http_status in _BODY_LEFT_UNREAD:
        # The rest of the body may still be on its way: this connection cannot carry another
        # request, and is not kept for one.
        headers = {"Connection": "close"}
    return OrjsonResponse(exc.body(), status_code=exc.http_status, headers=headers)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    body = {"error": {"code": code, "message": str(exc.detail), "retryable": False}}
    return OrjsonResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _client_gone(request: Request, _exc: Exception) -> Response:
    # The client closed the connection before its body was read: nothing was accepted, and
    # nobody is left to read an answer. Not the server's error; counted by status, not logged.
    log.debug("client went away during %s %s", request.method, request.url.path)
    refused_of(request)["client_disconnected"] += 1
    error = BadRequest(
        "the connection closed before the body was read",
        code="client_disconnected",
        retryable=True,
    )
    return OrjsonResponse(error.body(), status_code=error.http_status)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    error = StreamloopError("an unexpected error occurred")
    return OrjsonResponse(error.body(), status_code=error.http_status)


exception_handlers = {
    StreamloopError: _streamloop_error,
    HTTPException: _http_error,
    ClientDisconnect: _client_gone,
    Exception: _unexpected,
}


async def send_error_and_close(websocket: WebSocket, error: StreamloopError) -> None:
    """Tell the client why it is refused, in the contract's shape, then close."""
    await websocket.send_text(dumps(error.frame()).decode())
    await websocket.close(code=error.ws_close_code, reason=error.message[:120])


async def refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    error: StreamloopError,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer a request or socket that a middleware turns away, before any endpoint runs."""
    if scope["type"] == "websocket":
        # Accept, say why in the contract's shape, then close: a browser is told no reason
        # for a refused handshake.
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        await send_error_and_close(websocket, error)
        return
    response = OrjsonResponse(error.body(), status_code=error.http_status, headers=headers)
    await response(scope, receive, send)
