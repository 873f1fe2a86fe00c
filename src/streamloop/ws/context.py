"""What every endpoint needs from the application: the engine and the settings."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from streamloop.config import Settings
from streamloop.errors import NotReady
from streamloop.streams import Engine

__all__ = ["engine_of", "settings_of"]


def engine_of(connection: HTTPConnection) -> Engine:
    """The running engine; 503 while starting or stopping."""
    engine: Engine = connection.app.state.engine
    if not engine.ready:
        raise NotReady("streamloop is starting or stopping; retry shortly")
    return engine


def settings_of(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings
