"""The web layer: HTTP API, annotator and dashboard WebSockets, static pages."""

from __future__ import annotations

from streamloop.ws.routes import routes

__all__ = ["routes"]
