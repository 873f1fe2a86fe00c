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

from streamloop.errors import Forbidden, StreamloopError, Unauthenticated
from streamloop.store.tokens import Principal, digest
from streamloop.streams import Service
from streamloop.ws.handlers import refuse

__all__ = [
    "Authenticate",
    "Keyring",
    "RedactTokens",
    "redact",
    "redact_traceback",
    "required_roles",
]

log = logging.getLogger(__name__)

_ANY = frozenset({"admin", "producer", "annotator", "supervisor", "reviewer"})
_ADMIN = frozenset({"admin"})
_PUBLIC: frozenset[str] = frozenset()
_PROJECT = r"/api/projects/[^/]+"

#: (method or "*", path pattern) -> the roles allowed; admin is allowed everywhere. First match.
_RULES: list[tuple[str, re.Pattern[str], frozenset[str]]] = [
    ("*", re.compile(r"/(healthz|readyz|openapi\.json)?"), _PUBLIC),
    ("*", re.compile(r"/static/.*"), _PUBLIC),
    ("POST", re.compile(r"/api/projects"), _ADMIN),
    # Changing what annotators read is changing the project: as creating it.
    ("PATCH", re.compile(_PROJECT), _ADMIN),
    ("GET", re.compile(r"/api/(projects|models)"), _ANY),
    ("GET", re.compile(_PROJECT), _ANY),
    ("POST", re.compile(_PROJECT + r"/(events|predict|labels)"), frozenset({"producer"})),
    ("GET", re.compile(_PROJECT + r"/(metrics|history|model|skips)"), frozenset({"supervisor"})),
    ("POST", re.compile(_PROJECT + r"/gold"), frozenset({"supervisor"})),
    ("POST", re.compile(_PROJECT + r"/models/[^/]+/promote"), frozenset({"supervisor"})),
    ("POST", re.compile(_PROJECT + r"/items/[^/]+/review"), frozenset({"supervisor"})),
    (
        "POST",
        re.compile(_PROJECT + r"/annotators/[^/]+/(quarantine|release)"),
        frozenset({"supervisor"}),
    ),
    ("GET", re.compile(r"/metrics"), frozenset({"supervisor"})),
    ("WS", re.compile(r"/ws/projects/[^/]+/annotate"), frozenset({"annotator"})),
    ("WS", re.compile(r"/ws/projects/[^/]+/dashboard"), frozenset({"supervisor"})),
    ("WS", re.compile(r"/ws/projects/[^/]+/review"), frozenset({"reviewer", "supervisor"})),
]

# ``token=`` anywhere, in any case, any of its letters (or the ``=``) percent-encoded.
_TOKEN_IN_TEXT = re.compile(
    r"(?i)((?:t|%74)(?:o|%6f)(?:k|%6b)(?:e|%65)(?:n|%6e)(?:=|%3d))[^&\s\"']+"
)
# Any query string in a log line, to the next space: its keys may be percent-encoded
# (``%74oken=``) and its values may hold quotes (``?a="&token=...``).
_QUERY_IN_TEXT = re.compile(r"(/[^\s\"'?]*\?)\S+")
# A header as a protocol library may log it at debug level.
_AUTHORIZATION_IN_TEXT = re.compile(r"(?i)(authorization:\s*)[^\r\n]+")
# Any streamloop token, wherever it turns up.
_SECRET_IN_TEXT = re.compile(r"sl_[A-Za-z0-9_-]{16,}")
# Line breaks, ANSI escapes and other controls: written as they are, they forge log lines.
_TRACEBACKS = logging.Formatter()
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


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


def redact_traceback(text: str) -> str:
    """A formatted exception with secrets hidden, its controls escaped but its line breaks
    kept, and every line indented, so no line of it can pass for a log line of its own.

    >>> print(redact_traceback("Traceback:\\nValueError: x\\n2026-01-01 ERROR forged token=abc"))
      Traceback:
      ValueError: x
      2026-01-01 ERROR forged token=[redacted]
    """
    return "\n".join("  " + redact(line) for line in text.splitlines())


def redact(text: str) -> str:
    """``text`` with secrets hidden (the query of any path, ``token=...``, an
    ``Authorization`` header, any streamloop token) and control characters escaped.

    >>> redact('"WebSocket /ws/projects/t/annotate?%74oken=sl_abc&prefetch=2" [accepted]')
    '"WebSocket /ws/projects/t/annotate?[redacted] [accepted]'
    >>> redact("token=sl_abc"), redact("authorization: Bearer sl_abc")
    ('token=[redacted]', 'authorization: [redacted]')
    >>> redact('no path ?a="&%74oKEN=secret&b=1')
    'no path ?a="&%74oKEN=[redacted]&b=1'

    >>> print(redact("GET /a\\nforged line \\x1b[31m"))
    GET /a\\x0aforged line \\x1b[31m
    """
    text = _QUERY_IN_TEXT.sub(r"\1[redacted]", text)
    text = _TOKEN_IN_TEXT.sub(r"\1[redacted]", text)
    text = _AUTHORIZATION_IN_TEXT.sub(r"\1[redacted]", text)
    text = _SECRET_IN_TEXT.sub("sl_[redacted]", text)
    return _CONTROLS.sub(_escaped, text)


def _escaped(control: re.Match[str]) -> str:
    code = ord(control.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class RedactTokens(logging.Filter):
    """A logging filter that hides secrets and escapes control characters in every record's
    message, whoever logs it (see `redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = redact(message)
        if safe != message:
            record.msg, record.args = safe, ()
        if record.exc_info and not record.exc_text:
            # Formatters use exc_text when it is set: an exception's text (which may quote
            # client input) is written redacted, whatever the format.
            record.exc_text = redact_traceback(_TRACEBACKS.formatException(record.exc_info))
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
    async def kept_fresh(self, service: Service, every: float) -> AsyncIterator[None]:
        """Load the tokens now, then reload them in the background while the block runs."""
        self.load(*await service.tokens())

        async def reload() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    self.load(*await service.tokens())
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
                headers = (
                    {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
                )
                await refuse(scope, receive, send, exc, headers)
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
                f"{_article(principal.role)} {principal.role} token may not do this; "
                f"it needs {allowed}",
                code="forbidden",
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


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
