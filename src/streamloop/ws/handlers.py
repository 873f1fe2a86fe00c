"""One place where failures become the contract's error JSON."""

from __future__ import annotations

import logging

from starlette import status
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from streamloop.errors import StreamloopError
from streamloop.ws.payloads import OrjsonResponse

__all__ = ["exception_handlers"]

log = logging.getLogger(__name__)

_HTTP_CODES = {
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
}


async def _streamloop_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StreamloopError)
    headers = None
    if exc.http_status == status.HTTP_429_TOO_MANY_REQUESTS:
        headers = {"Retry-After": "1"}
        request.app.state.refused[exc.code] += 1
    return OrjsonResponse(exc.body(), status_code=exc.http_status, headers=headers)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    body = {"error": {"code": code, "message": str(exc.detail)}}
    return OrjsonResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = {"error": {"code": "internal_error", "message": "an unexpected error occurred"}}
    return OrjsonResponse(body, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)


exception_handlers = {
    StreamloopError: _streamloop_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
