"""Same-origin by default: only this server's own pages, and origins it names, may drive it.

Auth or no auth, a web page on another origin must not be able to change anything through
the browser of someone who can reach the server (a loopback server is reachable from every
page that person opens). Two checks run before any endpoint, on HTTP and on sockets, and a
third on every body:

1. ``Host`` is one the server answers to, so a DNS name rebound to it (DNS rebinding) is
   refused: loopback's names, the address it is bound to, IP literals (which cannot be
   rebound), and names given with ``--allow-host``. 400 ``invalid_host``.
2. ``Origin``, when a browser sends one (on every cross-origin request that could change
   anything, and on every socket handshake), is the server's own or one given with
   ``--allow-origin``. 403 ``forbidden_origin``.
3. A request that changes state carries ``Content-Type: application/json``: a page may send
   ``text/plain`` to another origin with no preflight, never JSON. 415
   ``unsupported_media_type``, checked by `streamloop.ws.payloads.read_json` once the route
   is known (an unknown route stays a 404).

Starlette's ``TrustedHostMiddleware`` is not used for (1): it answers in plain text, not in
the contract's shape, and takes ``[::1]:8000`` for the host ``[``.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from streamloop.config import Settings
from streamloop.errors import Forbidden, StreamloopError, UnknownHost
from streamloop.ws.handlers import refuse

__all__ = [
    "Hosts",
    "SameOrigin",
    "allowed_origins",
    "check_hosts",
    "origin_text",
    "parse_origin",
    "split_host",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SOCKET_SCHEMES = {"ws": "http", "wss": "https"}
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
#: Longest client-sent host or origin repeated in an error message.
_SHOWN_MAX = 100

Origin = tuple[str, str, int]


def split_host(value: str) -> tuple[str, int | None]:
    """A ``Host`` header's name (lower case, IPv6 without brackets) and port, if any.

    >>> split_host("LocalHost:8000"), split_host("[::1]:8000"), split_host("example.com.")
    (('localhost', 8000), ('::1', 8000), ('example.com', None))
    """
    value = value.strip()
    port: int | None = None
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    else:
        name, colon, rest = value.rpartition(":")
        if colon and rest.isdigit():
            port = int(rest)
        else:
            name = value
    return name.lower().rstrip("."), port


def parse_origin(value: str) -> Origin | None:
    """``(scheme, host, port)`` of an origin, default ports filled in; None if it is none.

    >>> parse_origin("HTTP://Example.com"), parse_origin("https://[::1]:8443")
    (('http', 'example.com', 80), ('https', '::1', 8443))
    >>> parse_origin("null"), parse_origin("https://example.com/path")
    (None, None)
    """
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme]


def origin_text(origin: Origin) -> str:
    """An origin as a browser writes it in its ``Origin`` header.

    >>> origin_text(("https", "example.com", 443)), origin_text(("http", "::1", 8000))
    ('https://example.com', 'http://[::1]:8000')
    """
    scheme, host, port = origin
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port == _DEFAULT_PORTS[scheme] else f"{scheme}://{host}:{port}"


def check_hosts(settings: Settings) -> None:
    """``ValueError`` naming an ``--allow-host`` value that could never match a ``Host``.

    >>> check_hosts(Settings(allow_host=("labels.example.com", "*.example.com", "*")))
    >>> check_hosts(Settings(allow_host=("https://labels.example.com",)))
    Traceback (most recent call last):
    ...
    ValueError: --allow-host 'https://labels.example.com' is not a host name: ...
    """
    for value in settings.allow_host:
        name = value.strip()
        if not name or any(mark in name for mark in ":/[]@ "):
            raise ValueError(
                f"--allow-host {value!r} is not a host name: give the name alone, such as "
                "labels.example.com, with no scheme, port or path"
            )


def allowed_origins(settings: Settings) -> frozenset[Origin]:
    """The origins named in the settings, each checked (``ValueError`` names a bad one)."""
    origins = set()
    for value in settings.allow_origin:
        origin = parse_origin(value)
        if origin is None:
            raise ValueError(
                f"--allow-origin {value!r} is not an origin: give scheme://host[:port], "
                "such as https://labels.example.com, with no path"
            )
        origins.add(origin)
    return frozenset(origins)


@dataclass(frozen=True, slots=True)
class Hosts:
    """The host names a server answers to.

    >>> hosts = Hosts.of(Settings(host="127.0.0.1", allow_host=("*.example.com",)))
    >>> [hosts.allows(name) for name in ("localhost", "10.1.2.3", "a.example.com", "evil.test")]
    [True, True, True, False]
    """

    names: frozenset[str]
    suffixes: tuple[str, ...]
    any: bool

    @classmethod
    def of(cls, settings: Settings) -> Hosts:
        names = set(_LOOPBACK_NAMES)
        bound = settings.host.strip("[]").lower()
        if bound in _WILDCARD_BINDS:
            # Listening everywhere: this machine's own name too (not its fully qualified one:
            # that asks DNS, which may hang; --allow-host names it).
            names.add(socket.gethostname().lower())
        else:
            names.add(bound)
        suffixes = []
        for given in settings.allow_host:
            name = given.strip().lower().rstrip(".")
            if name.startswith("*."):
                suffixes.append(name[1:])
            elif name != "*":
                names.add(name.strip("[]"))
        return cls(frozenset(names), tuple(suffixes), "*" in settings.allow_host)

    def allows(self, name: str) -> bool:
        if self.any or name in self.names or name.endswith(self.suffixes):
            return True
        try:
            ipaddress.ip_address(name)  # an address is never rebound: it names itself
        except ValueError:
            return False
        return True


class SameOrigin:
    """ASGI middleware: the host and origin checks of the module docstring."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.hosts = Hosts.of(settings)
        self.origins = allowed_origins(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            try:
                self._check(scope)
            except StreamloopError as exc:
                await refuse(scope, receive, send, exc)
                return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> None:
        headers = Headers(scope=scope)
        host = headers.get("host")
        if host is not None:
            name, _port = split_host(host)
            if not self.hosts.allows(name):
                raise UnknownHost(
                    f"this server does not answer to the host {host[:_SHOWN_MAX]!r}; behind a "
                    "proxy, start it with --allow-host NAME (STREAMLOOP_ALLOW_HOST)"
                )
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(scope, origin, host):
            raise Forbidden(
                f"requests from the origin {origin[:_SHOWN_MAX]!r} are refused: only this "
                "server's own pages and origins named with --allow-origin may use it",
                code="forbidden_origin",
            )

    def _origin_allowed(self, scope: Scope, origin: str, host: str | None) -> bool:
        given = parse_origin(origin)
        if given is None:
            return False  # "null" (a sandboxed frame, a file) or not an origin at all
        if given in self.origins:
            return True
        if host is None:
            return False
        given_scheme: str = scope["scheme"]
        scheme = _SOCKET_SCHEMES.get(given_scheme, given_scheme)
        name, port = split_host(host)
        return given == (scheme, name, port or _DEFAULT_PORTS.get(scheme, 0))
