"""HTTP: creating, listing and reading projects."""

from __future__ import annotations

from starlette import status
from starlette.requests import Request
from starlette.responses import Response

from streamloop.ws.context import engine_of, settings_of
from streamloop.ws.payloads import OrjsonResponse, ProjectSpec, parse, read_json

__all__ = ["create_project", "get_project", "list_projects"]


async def create_project(request: Request) -> Response:
    spec = parse(ProjectSpec, await read_json(request, settings_of(request).max_body_bytes))
    record = await engine_of(request).create_project(spec.model_dump())
    return OrjsonResponse(record.as_json(), status_code=status.HTTP_201_CREATED)


async def list_projects(request: Request) -> Response:
    projects = [runtime.record.as_json() for runtime in engine_of(request).projects()]
    return OrjsonResponse({"projects": projects})


async def get_project(request: Request) -> Response:
    runtime = engine_of(request).project(request.path_params["project"])
    return OrjsonResponse(runtime.record.as_json())
