"""The one error tree: every failure a client can see, with its HTTP status and WebSocket code.

Each error knows how it is shown: the HTTP status of a request that fails with it, and the
``code`` of the contract's error body, ``{"error": {"code": ..., "message": ...}}``. On a
WebSocket the same code and message travel as ``{"type": "error", ...}`` and the connection
stays open; ``ws_close_code`` is used only when the connection itself cannot go on.
"""

from __future__ import annotations

from typing import Any, ClassVar

from starlette import status

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "NotReady",
    "PayloadTooLarge",
    "StreamloopError",
    "TooManyRequests",
    "Unauthenticated",
]


class StreamloopError(Exception):
    """Root of every error streamloop reports to a client."""

    http_status: ClassVar[int] = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_code: ClassVar[str] = "internal_error"
    ws_close_code: ClassVar[int] = status.WS_1011_INTERNAL_ERROR

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        #: Extra fields for the WebSocket error frame (the ``label_id`` a refusal concerns).
        self.context: dict[str, Any] = {}

    def body(self) -> dict[str, Any]:
        """The contract's error object for an HTTP response."""
        return {"error": {"code": self.code, "message": self.message}}

    def frame(self) -> dict[str, Any]:
        """The contract's error message for a WebSocket."""
        return {"type": "error", "code": self.code, "message": self.message, **self.context}


class BadRequest(StreamloopError):
    """The request is not well-formed (not JSON, not an object, ...)."""

    http_status = status.HTTP_400_BAD_REQUEST
    default_code = "malformed_request"
    ws_close_code = status.WS_1003_UNSUPPORTED_DATA


class Unauthenticated(StreamloopError):
    """No token, or one that is unknown or revoked."""

    http_status = status.HTTP_401_UNAUTHORIZED
    default_code = "unauthenticated"
    ws_close_code = status.WS_1008_POLICY_VIOLATION


class Forbidden(StreamloopError):
    """A valid token whose role may not do this."""

    http_status = status.HTTP_403_FORBIDDEN
    default_code = "forbidden"
    ws_close_code = status.WS_1008_POLICY_VIOLATION


class NotFound(StreamloopError):
    """An unknown project, item or event."""

    http_status = status.HTTP_404_NOT_FOUND
    default_code = "not_found"
    ws_close_code = status.WS_1008_POLICY_VIOLATION


class Conflict(StreamloopError):
    """The request clashes with the current state (an existing name, another's lease)."""

    http_status = status.HTTP_409_CONFLICT
    default_code = "conflict"
    ws_close_code = status.WS_1008_POLICY_VIOLATION


class PayloadTooLarge(StreamloopError):
    """A body, frame or batch over its limit."""

    http_status = status.HTTP_413_CONTENT_TOO_LARGE
    default_code = "too_large"
    ws_close_code = status.WS_1009_MESSAGE_TOO_BIG


class InvalidInput(StreamloopError):
    """Valid JSON whose content breaks the contract."""

    http_status = status.HTTP_422_UNPROCESSABLE_CONTENT
    default_code = "invalid_input"
    ws_close_code = status.WS_1008_POLICY_VIOLATION


class TooManyRequests(StreamloopError):
    """Back-pressure: a bounded buffer is full; try again later."""

    http_status = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "overloaded"
    ws_close_code = status.WS_1013_TRY_AGAIN_LATER


class NotReady(StreamloopError):
    """The service is starting or stopping."""

    http_status = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "not_ready"
    ws_close_code = status.WS_1013_TRY_AGAIN_LATER
