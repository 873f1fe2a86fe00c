"""What endpoints need from the application, typed: the one place that reads ``app.state``.

`streamloop.app.create_app` puts each of these on the application's state; everything else
reaches them through the accessors here, from a request, a socket or the application itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import HTTPConnection

from streamloop.config import Settings
from streamloop.errors import NotReady, TooManyRequests
from streamloop.streams import Service
from streamloop.ws.limits import Refusals
from streamloop.ws.telemetry import Telemetry

if TYPE_CHECKING:  # both import this module
    from streamloop.ws.auth import Keyring
    from streamloop.ws.dashboard import DashboardHubs

__all__ = [
    "admitting_body",
    "dashboards_of",
    "keyring_of",
    "openapi_of",
    "prometheus_of",
    "refused_of",
    "service_of",
    "settings_of",
    "telemetry_of",
]

#: A request or socket, or the application they reach.
Owner = HTTPConnection | Starlette


def _state(owner: Owner) -> State:
    app: Starlette = owner if isinstance(owner, Starlette) else owner.app
    return app.state


def service_of(owner: Owner, *, ready: bool = True) -> Service:
    """The running service; 503 while starting or stopping, unless ``ready`` is False (as for
    the command line, which holds the service before the lifespan starts it)."""
    service: Service = _state(owner).service
    if ready and not service.ready:
        raise NotReady("streamloop is starting or stopping; retry shortly")
    return service


def settings_of(owner: Owner) -> Settings:
    settings: Settings = _state(owner).settings
    return settings


def refused_of(owner: Owner) -> Refusals:
    """The counts of requests and messages refused or dropped, by reason."""
    refused: Refusals = _state(owner).refused
    return refused


def telemetry_of(owner: Owner) -> Telemetry:
    telemetry: Telemetry = _state(owner).telemetry
    return telemetry


def dashboards_of(owner: Owner) -> DashboardHubs:
    hubs: DashboardHubs = _state(owner).dashboards
    return hubs


def prometheus_of(owner: Owner) -> CollectorRegistry:
    registry: CollectorRegistry = _state(owner).prometheus
    return registry


def keyring_of(owner: Owner) -> Keyring:
    keyring: Keyring = _state(owner).keyring
    return keyring


def openapi_of(owner: Owner, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The application's OpenAPI document: made by ``build`` on first use, then kept (the
    routes do not change while serving)."""
    state = _state(owner)
    document: dict[str, Any] | None = getattr(state, "openapi", None)
    if document is None:
        document = state.openapi = build()
    return document


@contextlib.contextmanager
def admitting_body(connection: HTTPConnection) -> Iterator[None]:
    """Hold one of ``bodies_in_flight_max`` places from before a body is read until it is
    answered, or refuse now (429 ``server_busy``): bodies in memory stay bounded."""
    state = _state(connection)
    if state.bodies_in_flight >= settings_of(connection).bodies_in_flight_max:
        raise TooManyRequests("too many requests are being read; retry shortly", code="server_busy")
    state.bodies_in_flight += 1
    try:
        yield
    finally:
        state.bodies_in_flight -= 1
