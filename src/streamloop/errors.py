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
    "RequestTimeout",
    "StreamloopError",
    "TooManyRequests",
    "Unauthenticated",
    "UnknownHost",
    "UnsupportedMediaType",
]


class StreamloopError(Exception):
    """Root of every error streamloop reports to a client."""

    http_status: ClassVar[int] = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_code: ClassVar[str] = "internal_error"
    ws_close_code: ClassVar[int] = status.WS_1011_INTERNAL_ERROR
    #: Whether the same request or message, sent again unchanged, may succeed. Clients decide
    #: from this flag alone whether to resend, so a new code never needs a client release.
    default_retryable: ClassVar[bool] = False

    def __init__(
        self, message: str, *, code: str | None = None, retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.retryable = self.default_retryable if retryable is None else retryable
        #: Extra fields for the WebSocket error frame (the ``label_id`` a refusal concerns).
        self.context: dict[str, Any] = {}
        #: Extra fields of the error object itself, on HTTP and WebSocket alike (whether a
        #: label that timed out reached the broker: ``delivered``).
        self.details: dict[str, Any] = {}

    def body(self) -> dict[str, Any]:
        """The contract's error object for an HTTP response."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "retryable": self.retryable,
                **self.details,
            }
        }

    def frame(self) -> dict[str, Any]:
        """The contract's error message for a WebSocket."""
        return {
            "type": "error",
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            **self.details,
            **self.context,
        }


class BadRequest(StreamloopError):
    """The request is not well-formed (not JSON, not an object, ...)."""

    http_status = status.HTTP_400_BAD_REQUEST
    default_code = "malformed_request"
    ws_close_code = status.WS_1003_UNSUPPORTED_DATA


class UnknownHost(BadRequest):
    """A ``Host`` the server does not answer to (a rebound DNS name, say)."""

    default_code = "invalid_host"
    ws_close_code = status.WS_1008_POLICY_VIOLATION


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


class RequestTimeout(StreamloopError):
    """A request body that did not arrive in time."""

    http_status = status.HTTP_408_REQUEST_TIMEOUT
    default_code = "body_timeout"
    ws_close_code = status.WS_1008_POLICY_VIOLATION
    default_retryable = True


class PayloadTooLarge(StreamloopError):
    """A body, frame or batch over its limit."""

    http_status = status.HTTP_413_CONTENT_TOO_LARGE
    default_code = "too_large"
    ws_close_code = status.WS_1009_MESSAGE_TOO_BIG


class UnsupportedMediaType(StreamloopError):
    """A request that changes state without ``Content-Type: application/json``."""

    http_status = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_code = "unsupported_media_type"
    ws_close_code = status.WS_1003_UNSUPPORTED_DATA


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
    default_retryable = True


class NotReady(StreamloopError):
    """The service is starting or stopping."""

    http_status = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "not_ready"
    ws_close_code = status.WS_1013_TRY_AGAIN_LATER
    default_retryable = True
