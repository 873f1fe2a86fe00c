"""What every endpoint needs from the application: the engine and the settings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from starlette.requests import HTTPConnection

from streamloop.config import Settings
from streamloop.errors import NotReady, TooManyRequests
from streamloop.streams import Engine

__all__ = ["admitting_body", "engine_of", "settings_of"]


def engine_of(connection: HTTPConnection) -> Engine:
    """The running engine; 503 while starting or stopping."""
    engine: Engine = connection.app.state.engine
    if not engine.ready:
        raise NotReady("streamloop is starting or stopping; retry shortly")
    return engine


def settings_of(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


@contextlib.contextmanager
def admitting_body(connection: HTTPConnection) -> Iterator[None]:
    """Hold one of ``bodies_in_flight_max`` places from before a body is read until it is
    answered, or refuse now (429 ``server_busy``): bodies in memory stay bounded."""
    state = connection.app.state
    if state.bodies_in_flight >= settings_of(connection).bodies_in_flight_max:
        raise TooManyRequests("too many requests are being read; retry shortly", code="server_busy")
    state.bodies_in_flight += 1
    try:
        yield
    finally:
        state.bodies_in_flight -= 1
