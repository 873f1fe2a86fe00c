"""HTTP: creating, listing and reading projects."""

from __future__ import annotations

from importlib.metadata import version as package_version

from starlette import status
from starlette.requests import Request
from starlette.responses import Response

from streamloop import __version__
from streamloop.ws.context import admitting_body, engine_of, settings_of
from streamloop.ws.payloads import OrjsonResponse, ProjectSpec, parse, read_json

__all__ = ["create_project", "get_model", "get_project", "list_projects"]


async def create_project(request: Request) -> Response:
    with admitting_body(request):
        spec = parse(ProjectSpec, await read_json(request, settings_of(request)))
        record = await engine_of(request).create_project(spec.model_dump())
    return OrjsonResponse(record.as_json(), status_code=status.HTTP_201_CREATED)


async def list_projects(request: Request) -> Response:
    projects = [runtime.record.as_json() for runtime in engine_of(request).projects()]
    return OrjsonResponse({"projects": projects})


async def get_project(request: Request) -> Response:
    runtime = engine_of(request).project(request.path_params["project"])
    return OrjsonResponse(runtime.record.as_json())


async def get_model(request: Request) -> Response:
    """The project's model as it is now: its River pipeline, pickled (see the README)."""
    runtime = engine_of(request).project(request.path_params["project"])
    version, blob = await runtime.model_pickle()
    name = f"{runtime.record.name}-v{version}.pkl"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Streamloop-Model-Version": str(version),
        "X-River-Version": package_version("river"),
        "X-Streamloop-Version": __version__,
    }
    return Response(blob, media_type="application/octet-stream", headers=headers)
