"""Wiring: the Starlette application around a `Service`, with its lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from streamloop.config import Settings
from streamloop.streams import Service
from streamloop.ws import routes
from streamloop.ws.auth import Authenticate, Keyring
from streamloop.ws.context import dashboards_of
from streamloop.ws.dashboard import DashboardHubs
from streamloop.ws.handlers import exception_handlers
from streamloop.ws.headers import SecurityHeaders
from streamloop.ws.limits import Refusals
from streamloop.ws.ops import registry_for
from streamloop.ws.origins import SameOrigin, allowed_origins, origin_text
from streamloop.ws.telemetry import Observe, Telemetry

__all__ = ["create_app"]

#: A token made or revoked with the CLI takes effect within this many seconds.
_TOKENS_RELOAD_SECONDS = 2.0


def create_app(settings: Settings | None = None) -> Starlette:
    """The streamloop ASGI application. The service starts and stops with the lifespan; with
    a broker it is linked to the workers over Kafka, else the whole loop runs here."""
    settings = settings or Settings.from_env()
    refused = Refusals()
    link = None
    if settings.broker:
        from streamloop.streams.bridge import KafkaBridge  # Kafka's clients: only when used

        # Model records refused on Kafka count with the rest.
        link = KafkaBridge(settings, refused=refused)
    service = Service(settings, link=link)

    keyring = Keyring(required=not (settings.on_loopback or settings.open))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            async with keyring.kept_fresh(service, every=_TOKENS_RELOAD_SECONDS):
                yield
        finally:
            await dashboards_of(app).close()
            await service.stop()  # waits for the outcomes of labels in flight

    prometheus = registry_for(service, refused)
    telemetry = Telemetry(prometheus)
    # Outermost first: every request is timed and logged with its id, refused ones too, and
    # every answer carries the security headers; then hosts and origins, before any token.
    middleware = [
        Middleware(Observe, telemetry=telemetry),
        Middleware(SecurityHeaders),
        Middleware(SameOrigin, settings=settings),
    ]
    if settings.allow_origin:
        # CORS headers for the origins named, and for no other.
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=[origin_text(origin) for origin in allowed_origins(settings)],
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "x-request-id"],
                expose_headers=["retry-after", "x-request-id", "x-streamloop-model-version"],
                max_age=600,
            )
        )
    middleware.append(Middleware(Authenticate, keyring=keyring))
    app = Starlette(
        routes=routes(),
        exception_handlers=exception_handlers,
        lifespan=lifespan,
        middleware=middleware,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.keyring = keyring
    app.state.dashboards = DashboardHubs()
    app.state.refused = refused
    app.state.bodies_in_flight = 0  # see streamloop.ws.context.admitting_body
    app.state.prometheus = prometheus
    app.state.telemetry = telemetry
    return app
