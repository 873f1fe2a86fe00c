"""Who may do what: API tokens with roles, checked before any endpoint runs.

Auth is on once any token exists, and from the start when the server listens beyond loopback
(the CLI refuses to start there without tokens unless told the server is open). HTTP requests
carry ``Authorization: Bearer <token>``; a browser cannot set headers on a WebSocket, so the
sockets also take ``?token=<token>``, which is why no access line is ever logged with its query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator

from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from streamloop.errors import Forbidden, StreamloopError, Unauthenticated
from streamloop.store.tokens import Principal, digest
from streamloop.streams import Engine
from streamloop.ws.annotate import send_error_and_close
from streamloop.ws.payloads import OrjsonResponse

__all__ = ["Authenticate", "Keyring", "RedactTokens", "redact", "required_roles"]

log = logging.getLogger(__name__)

_ANY = frozenset({"admin", "producer", "annotator", "supervisor"})
_ADMIN = frozenset({"admin"})
_PUBLIC: frozenset[str] = frozenset()
_PROJECT = r"/api/projects/[^/]+"

#: (method or "*", path pattern) -> the roles allowed; admin is allowed everywhere. First match.
_RULES: list[tuple[str, re.Pattern[str], frozenset[str]]] = [
    ("*", re.compile(r"/(healthz|readyz|openapi\.json)?"), _PUBLIC),
    ("*", re.compile(r"/static/.*"), _PUBLIC),
    ("POST", re.compile(r"/api/projects"), _ADMIN),
    ("GET", re.compile(r"/api/projects"), _ANY),
    ("GET", re.compile(_PROJECT), _ANY),
    ("POST", re.compile(_PROJECT + r"/(events|predict|labels)"), frozenset({"producer"})),
    ("GET", re.compile(_PROJECT + r"/(metrics|history|model)"), frozenset({"supervisor"})),
    ("GET", re.compile(r"/metrics"), frozenset({"supervisor"})),
    ("WS", re.compile(r"/ws/projects/[^/]+/annotate"), frozenset({"annotator"})),
    ("WS", re.compile(r"/ws/projects/[^/]+/dashboard"), frozenset({"supervisor"})),
]

_TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']+")
# Any query string in a log line: its keys may be percent-encoded (``%74oken=``).
_QUERY_IN_TEXT = re.compile(r"(/[^\s\"'?]*\?)[^\s\"']+")


def required_roles(method: str, path: str) -> frozenset[str] | None:
    """The roles that may call ``method path`` (``"WS"`` for a socket); None if anyone may.

    Paths no rule names need an admin token: a route added later is closed, not open.

    >>> sorted(required_roles("POST", "/api/projects/t/events") or [])
    ['admin', 'producer']
    >>> required_roles("GET", "/healthz") is None
    True
    >>> sorted(required_roles("DELETE", "/api/projects/t") or [])
    ['admin']
    """
    for rule_method, pattern, roles in _RULES:
        if rule_method in ("*", method) and pattern.fullmatch(path):
            return roles | {"admin"} if roles else None
    return _ADMIN


def redact(text: str) -> str:
    """``text`` with the query of any path hidden, and any other ``token=...`` value.

    >>> redact('"WebSocket /ws/projects/t/annotate?%74oken=sl_abc&prefetch=2" [accepted]')
    '"WebSocket /ws/projects/t/annotate?[redacted]" [accepted]'
    >>> redact("token=sl_abc")
    'token=[redacted]'
    """
    return _TOKEN_IN_TEXT.sub(r"\1[redacted]", _QUERY_IN_TEXT.sub(r"\1[redacted]", text))


class RedactTokens(logging.Filter):
    """A logging filter that hides ``token=...`` in every record, whoever logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message or "?" in message:
            record.msg, record.args = redact(message), ()
        return True

    @classmethod
    def install(cls, *logger_names: str) -> None:
        """Add the filter to every handler of the root logger and of ``logger_names``."""
        for name in ("", *logger_names):
            for handler in logging.getLogger(name or None).handlers:
                if not any(isinstance(f, cls) for f in handler.filters):
                    handler.addFilter(cls())


class Keyring:
    """The tokens in force, reloaded from the store every few seconds."""

    def __init__(self, *, required: bool) -> None:
        #: Once on, auth stays on: revoking the last token does not open the server.
        self.enabled = required
        self._principals: dict[str, Principal] = {}

    def load(self, principals: dict[str, Principal], ever_made: bool = False) -> None:
        """The tokens in force; ``ever_made`` says whether any token was ever made, so that
        revoking every token, even before a restart, never turns auth off."""
        self._principals = principals
        self.enabled = self.enabled or bool(principals) or ever_made

    def who(self, secret: str) -> Principal | None:
        return self._principals.get(digest(secret))

    @contextlib.asynccontextmanager
    async def kept_fresh(self, engine: Engine, every: float) -> AsyncIterator[None]:
        """Load the tokens now, then reload them in the background while the block runs."""
        self.load(*await engine.tokens())

        async def reload() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    self.load(*await engine.tokens())
                except Exception:  # the store unavailable, or worse: keep the last set, go on
                    log.exception("could not reload the API tokens; keeping the last ones")

        task = asyncio.create_task(reload(), name="tokens")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Authenticate:
    """ASGI middleware: refuse requests without a fitting token, and name the caller.

    The caller's `Principal` is put in ``scope["state"]["principal"]`` (``request.state``),
    None while auth is off.
    """

    def __init__(self, app: ASGIApp, keyring: Keyring) -> None:
        self.app = app
        self.keyring = keyring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = None
        method = "WS" if scope["type"] == "websocket" else scope["method"]
        roles = required_roles("GET" if method == "HEAD" else method, _route_path(scope))
        if roles is not None and self.keyring.enabled:
            try:
                scope["state"]["principal"] = self._check(scope, roles)
            except StreamloopError as exc:
                await _refuse(scope, receive, send, exc)
                return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope, roles: frozenset[str]) -> Principal:
        secret = _secret(scope)
        if secret is None:
            raise Unauthenticated(
                "this needs an API token: 'Authorization: Bearer <token>'"
                + (" or ?token=<token>" if scope["type"] == "websocket" else ""),
                code="token_required",
            )
        principal = self.keyring.who(secret)
        if principal is None:
            raise Unauthenticated("the token is unknown or revoked", code="invalid_token")
        if principal.role not in roles:
            allowed = " or ".join(sorted(roles))
            raise Forbidden(
                f"a {principal.role} token may not do this; it needs {allowed}", code="forbidden"
            )
        return principal


def _route_path(scope: Scope) -> str:
    """The path the router matches: without the ``root_path`` a proxy mounts the app under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _secret(scope: Scope) -> str | None:
    authorization = Headers(scope=scope).get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scope["type"] == "websocket":
        token = QueryParams(scope.get("query_string", b"")).get("token")
        if token:
            return token
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: StreamloopError) -> None:
    if scope["type"] == "websocket":
        # Accept, say why in the contract's shape, then close: a browser sees no reason for a
        # refused handshake.
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        await send_error_and_close(websocket, exc)
        return
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    response = OrjsonResponse(exc.body(), status_code=exc.http_status, headers=headers)
    await response(scope, receive, send)
