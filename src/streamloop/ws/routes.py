"""Every URL streamloop serves, in one table."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from streamloop.ws import annotate, dashboard, openapi, ops, projects, traffic

__all__ = ["STATIC_DIR", "routes"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


async def index(_request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html")


def routes() -> list[BaseRoute]:
    return [
        Route("/", index),
        Route("/healthz", ops.healthz),
        Route("/readyz", ops.readyz),
        Route("/metrics", ops.prometheus_metrics),
        Route("/openapi.json", openapi.openapi_json),
        Route("/api/projects", projects.create_project, methods=["POST"]),
        Route("/api/projects", projects.list_projects, methods=["GET"]),
        Route("/api/projects/{project}", projects.get_project, methods=["GET"]),
        Route("/api/projects/{project}/model", projects.get_model, methods=["GET"]),
        Route("/api/projects/{project}/events", traffic.post_events, methods=["POST"]),
        Route("/api/projects/{project}/predict", traffic.predict, methods=["POST"]),
        Route("/api/projects/{project}/labels", traffic.post_labels, methods=["POST"]),
        Route("/api/projects/{project}/metrics", dashboard.get_metrics, methods=["GET"]),
        Route("/api/projects/{project}/history", dashboard.get_history, methods=["GET"]),
        WebSocketRoute("/ws/projects/{project}/annotate", annotate.annotate),
        WebSocketRoute("/ws/projects/{project}/dashboard", dashboard.dashboard),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
