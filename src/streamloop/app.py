"""Wiring: the Starlette application around an engine, with its lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from streamloop.config import Settings
from streamloop.streams import EmbeddedEngine, Engine
from streamloop.ws import routes
from streamloop.ws.dashboard import DashboardHubs
from streamloop.ws.handlers import exception_handlers
from streamloop.ws.ops import registry_for

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Starlette:
    """The streamloop ASGI application. The engine starts and stops with the lifespan."""
    settings = settings or Settings.from_env()
    if settings.broker:
        raise ValueError(
            f"broker {settings.broker!r}: the Kafka engine is not available in this release; "
            "leave the broker unset for the embedded engine"
        )
    engine = engine or EmbeddedEngine(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            await app.state.dashboards.close()
            await engine.stop()

    app = Starlette(routes=routes(), exception_handlers=exception_handlers, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.dashboards = DashboardHubs()
    app.state.prometheus = registry_for(engine)
    return app
