"""Every URL streamloop serves, in one table."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from streamloop.ws import (
    annotate,
    dashboard,
    openapi,
    ops,
    projects,
    quality,
    review,
    skips,
    traffic,
)

__all__ = ["routes", "static_dir"]

_PACKAGE = Path(__file__).resolve().parent.parent
#: Where the web app is: inside the package when installed from a wheel (pyproject.toml's
#: force-include puts it there), or the checkout's own `static/` beside `src/`, which an
#: editable install serves.
_STATIC_PLACES = (_PACKAGE / "static", _PACKAGE.parent.parent / "static")


def static_dir() -> Path:
    """The web app's directory, installed or in a checkout; an error if neither has it."""
    for place in _STATIC_PLACES:
        if (place / "index.html").is_file():
            return place
    searched = " or ".join(str(place) for place in _STATIC_PLACES)
    raise RuntimeError(f"the web app is missing: no index.html in {searched}")


def routes() -> list[BaseRoute]:
    static = static_dir()

    async def index(_request: Request) -> Response:
        return FileResponse(static / "index.html")

    return [
        Route("/", index),
        Route("/healthz", ops.healthz),
        Route("/readyz", ops.readyz),
        Route("/metrics", ops.prometheus_metrics),
        Route("/openapi.json", openapi.openapi_json),
        Route("/api/models", projects.list_models, methods=["GET"]),
        Route("/api/projects", projects.create_project, methods=["POST"]),
        Route("/api/projects", projects.list_projects, methods=["GET"]),
        Route("/api/projects/{project}", projects.get_project, methods=["GET"]),
        Route("/api/projects/{project}", projects.patch_project, methods=["PATCH"]),
        Route("/api/projects/{project}/model", projects.get_model, methods=["GET"]),
        Route(
            "/api/projects/{project}/models/{model}/promote",
            projects.promote_model,
            methods=["POST"],
        ),
        Route("/api/projects/{project}/events", traffic.post_events, methods=["POST"]),
        Route("/api/projects/{project}/predict", traffic.predict, methods=["POST"]),
        Route("/api/projects/{project}/labels", traffic.post_labels, methods=["POST"]),
        Route("/api/projects/{project}/gold", quality.post_gold, methods=["POST"]),
        Route("/api/projects/{project}/items/{event_id}/review", review.flag, methods=["POST"]),
        Route(
            "/api/projects/{project}/annotators/{annotator}/quarantine",
            quality.quarantine,
            methods=["POST"],
        ),
        Route(
            "/api/projects/{project}/annotators/{annotator}/release",
            quality.release,
            methods=["POST"],
        ),
        Route("/api/projects/{project}/metrics", dashboard.get_metrics, methods=["GET"]),
        Route("/api/projects/{project}/history", dashboard.get_history, methods=["GET"]),
        Route("/api/projects/{project}/skips", skips.get_skips, methods=["GET"]),
        WebSocketRoute("/ws/projects/{project}/annotate", annotate.annotate),
        WebSocketRoute("/ws/projects/{project}/dashboard", dashboard.dashboard),
        WebSocketRoute("/ws/projects/{project}/review", review.review),
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]
