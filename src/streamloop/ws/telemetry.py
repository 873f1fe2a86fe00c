"""What an operator watches besides the figures: latency histograms, request ids, JSON logs.

Every HTTP request and every socket gets a request id (the client's ``X-Request-Id`` if it
sent one, else a new one). An HTTP response carries it back in ``X-Request-Id``. Log records
written while serving carry it, with the ``label_id`` of the label being handled, if any;
``STREAMLOOP_LOG_FORMAT=json`` writes them as JSON lines, which show both (the text format
does not).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["JsonLines", "Observe", "Telemetry", "handling_label", "install_logging"]

access_log = logging.getLogger("streamloop.access")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request", default=None)
_label_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("label", default=None)
#: Methods with their own series; any other is "other", so clients cannot add series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CLIENT_ID = re.compile(r"[\w.:-]{1,64}")  # matched whole: no final newline
# Seconds: from a fraction of a millisecond (an embedded ack) to the broker's timeouts.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Telemetry:
    """The latency histograms of one application, on its Prometheus registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Histogram(
            "streamloop_http_request_seconds",
            "HTTP requests, from the first byte read to the response sent.",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.acks = Histogram(
            "streamloop_label_ack_seconds",
            "Annotate socket: from a label (or correction) read to its ack or error.",
            ["project"],
            buckets=_BUCKETS,
            registry=registry,
        )


@contextlib.contextmanager
def handling_label(label_id: str) -> Iterator[None]:
    """Log lines written meanwhile carry ``label_id``."""
    token = _label_id.set(label_id)
    try:
        yield
    finally:
        _label_id.reset(token)


class Observe:
    """ASGI middleware: a request id for each request and socket; HTTP timing and access log."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry
        self._templates: dict[Any, str] | None = None

    def _route_of(self, scope: Scope) -> str:
        """The route's template (``/api/projects/{project}/events``): bounded label values.

        The router has matched the request already and left its endpoint in the scope; the
        endpoint names its route, so nothing is matched twice.
        """
        if self._templates is None:
            routes = scope["app"].routes if "app" in scope else ()
            self._templates = {r.endpoint: r.path for r in routes if isinstance(r, Route)}
        template = self._templates.get(scope.get("endpoint"))
        if template is not None:
            return template
        return "static" if scope["path"].startswith("/static/") else "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if _CLIENT_ID.fullmatch(given) else secrets.token_hex(8)
        token = _request_id.set(request_id)
        try:
            if scope["type"] == "websocket":
                access_log.info("socket %s", scope["path"])
                await self.app(scope, receive, send)
            else:
                await self._http(scope, receive, send, request_id)
        finally:
            _request_id.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-Id", request_id)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            route = self._route_of(scope)
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.telemetry.requests.labels(method, route, str(status)).observe(elapsed)
            # The path only: a query could carry a secret.
            access_log.info(
                "%s %s %d %.1f ms", scope["method"], scope["path"], status, 1000 * elapsed
            )


class JsonLines(logging.Formatter):
    """One JSON object per log line, with the request and label ids in force."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "label_id"):
            value = getattr(record, key, None)
            if value:
                line[key] = value
        if record.exc_text:
            line["exception"] = record.exc_text  # as the log filters left it (redacted)
        elif record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


class _Ids(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        record.label_id = _label_id.get()
        return True


def install_logging(log_format: str, *logger_names: str) -> None:
    """Request and label ids on every record of the root logger's handlers and of
    ``logger_names``'; with ``log_format="json"``, JSON lines."""
    for name in ("", *logger_names):
        for handler in logging.getLogger(name or None).handlers:
            if not any(isinstance(f, _Ids) for f in handler.filters):
                handler.addFilter(_Ids())
            if log_format == "json":
                handler.setFormatter(JsonLines())
