"""The client's one exception: every error the service reports, and how to read it off the wire.

The service answers every refusal in one shape, ``{"error": {"code", "message"}}`` over HTTP
and ``{"type": "error", "code", "message"}`` on a socket, each with ``retryable``; both
become a `StreamloopError` carrying that ``code`` and flag. Whether to send again is decided
from the service's flag alone, so a code added to the service later needs no client release.
The client adds a few codes of its own for failures that never reached the service's contract:
``connection_failed``, ``connection_closed`` and ``http_error``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
from websockets.exceptions import ConnectionClosed

__all__ = [
    "StreamloopError",
    "closed_error",
    "error_from_frame",
    "error_from_response",
    "parse_retry_after",
]

#: Statuses of answers not in the contract's shape (a proxy's, most likely) that may pass.
_TRANSIENT_STATUS = frozenset({429, 502, 503, 504})


class StreamloopError(Exception):
    """An error the service reported (or a connection to it that failed).

    Parameters
    ----------
    code
        The contract's snake_case code (``"unknown_project"``, ``"learner_busy"``, ...), or the
        client's own ``connection_failed``, ``connection_closed`` and ``http_error``.
    message
        The service's human sentence.
    status
        The HTTP status; None for errors that came over a WebSocket or never got an answer.
    retry_after
        Seconds the service asked to wait (its ``Retry-After`` header), if it said.
    label_id
        The label a socket error concerns, when the service named one.
    retryable
        Whether the same request or message, sent again unchanged, may succeed: the service's
        own flag; for the client's own codes, whether the service may be reachable later.

    Examples
    --------
    >>> error = StreamloopError("learner_busy", "retry shortly", 429, retry_after=1.0,
    ...                         retryable=True)
    >>> error.retryable, error.retry_after
    (True, 1.0)
    >>> str(StreamloopError("unknown_project", "no project 'x'", 404))
    "unknown_project (404): no project 'x'"
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        retry_after: float | None = None,
        label_id: str | None = None,
        retryable: bool = False,
        delivered: bool | None = None,
    ) -> None:
        super().__init__(code, message, status)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.label_id = label_id
        self.retryable = retryable
        #: With ``--broker``, on a label's ``learner_timeout`` or ``broker_unavailable``:
        #: whether the broker has the label (then its learner learns it when it runs).
        self.delivered = delivered

    def __str__(self) -> str:
        where = f" ({self.status})" if self.status is not None else ""
        return f"{self.code}{where}: {self.message}"

    def __repr__(self) -> str:
        return f"StreamloopError({self.code!r}, {self.message!r}, {self.status!r})"


def error_from_response(status: int, headers: Mapping[str, str], content: bytes) -> StreamloopError:
    """The error an HTTP response carries (a body in the contract's shape, or anything else).

    >>> error_from_response(404, {}, b'{"error": {"code": "unknown_project", "message": "no",'
    ...                                b' "retryable": false}}')
    StreamloopError('unknown_project', 'no', 404)
    >>> gateway = error_from_response(502, {}, b"<html>Bad Gateway</html>")
    >>> gateway.code, gateway.retryable
    ('http_error', True)
    """
    retry_after = parse_retry_after(headers.get("retry-after"))
    try:
        body: Any = orjson.loads(content)
        error = body["error"]
        code, message = error["code"], error["message"]
        if isinstance(code, str) and isinstance(message, str):
            return StreamloopError(
                code,
                message,
                status,
                retry_after=retry_after,
                retryable=error.get("retryable") is True,
                delivered=_flag(error.get("delivered")),
            )
    except (orjson.JSONDecodeError, KeyError, TypeError):
        pass
    # Not the contract's shape: a proxy in between, most likely. Show what came back.
    text = content[:200].decode("utf-8", "replace").strip()
    return StreamloopError(
        "http_error",
        f"HTTP {status}: {text or 'no body'}",
        status,
        retry_after=retry_after,
        retryable=status in _TRANSIENT_STATUS,
    )


def error_from_frame(frame: Mapping[str, Any]) -> StreamloopError:
    """The error in a socket's ``{"type": "error"}`` message.

    >>> error = error_from_frame({"type": "error", "code": "rate_limited", "message": "slow",
    ...                           "retryable": True, "label_id": "l-1"})
    >>> error.code, error.label_id, error.status, error.retryable
    ('rate_limited', 'l-1', None, True)
    >>> error_from_frame({"type": "error", "code": "learner_timeout", "message": "late",
    ...                   "retryable": True, "delivered": True}).delivered
    True
    """
    label_id = frame.get("label_id")
    return StreamloopError(
        str(frame.get("code", "unknown_error")),
        str(frame.get("message", "")),
        label_id=label_id if isinstance(label_id, str) else None,
        retryable=frame.get("retryable") is True,
        delivered=_flag(frame.get("delivered")),
    )


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def closed_error(exc: ConnectionClosed, label_id: str | None = None) -> StreamloopError:
    """A socket that closed under a call: ``connection_closed``, naming the label in flight.

    Its lease ends with the socket; a label sent but not acked may or may not have been
    learned, so send it again on a new session with the same ``label_id``.
    """
    close = exc.rcvd or exc.sent
    why = f"{close.code} {close.reason}".strip() if close else "no close frame"
    return StreamloopError(
        "connection_closed",
        f"the annotate socket closed ({why})",
        label_id=label_id,
        retryable=True,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date.

    >>> parse_retry_after("1"), parse_retry_after("2.5"), parse_retry_after(None)
    (1.0, 2.5, None)
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT",
    ...                   now=datetime(2015, 10, 21, 7, 28, tzinfo=UTC))
    10.0
    >>> parse_retry_after("soon") is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
