"""HTTP: creating, listing and reading projects."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from importlib.metadata import version as package_version
from typing import Any

from starlette import status
from starlette.requests import Request
from starlette.responses import Response

from streamloop import __version__
from streamloop.errors import InvalidInput
from streamloop.store.tokens import Principal
from streamloop.ws.auth import required_roles
from streamloop.ws.context import admitting_body, service_of, settings_of
from streamloop.ws.payloads import (
    EmptyBody,
    OrjsonResponse,
    ProjectSpec,
    parse,
    patched_spec,
    read_json,
)

__all__ = [
    "SUMMARY_FIGURES",
    "create_project",
    "get_model",
    "get_project",
    "list_models",
    "list_projects",
    "patch_project",
    "promote_model",
]

#: The figures the list gives for each project (its `summary`), read from its metrics: what the
#: home page shows, so that one request fills the page. Null for a caller whose token may not
#: read the metrics: the list is open to every role, the figures are not. The accuracy shown is
#: the estimate on traffic (`unbiased_accuracy.estimate`), the figure the dashboard leads with.
SUMMARY_FIGURES = (
    "model_version",
    "accuracy_estimate",
    "accuracy_samples",
    "queue_depth",
    "annotators_online",
    "labels_per_minute",
)


async def create_project(request: Request) -> Response:
    with admitting_body(request):
        spec = parse(ProjectSpec, await read_json(request, settings_of(request)))
        await _usable(spec)
        record = await service_of(request).create_project(spec.model_dump())
    return OrjsonResponse(record.as_json(), status_code=status.HTTP_201_CREATED)


async def _usable(spec: ProjectSpec) -> None:
    """A plugin model must pass its contract check, and fit the project, before it serves
    (422 naming the check it failed). Loading and checking one the first time takes a while
    (it learns a few dozen items, and once in a fresh interpreter): off the event loop."""
    from streamloop.online import plugins

    named = [("model", spec.model)] + [("challengers", name) for name in spec.challengers]
    for field, name in named:
        if ":" not in name:
            continue
        try:
            await asyncio.to_thread(plugins.usable_for, name, task=spec.task, input_kind=spec.input)
        except ValueError as refused:
            raise InvalidInput(f"{field}: {refused}", code="invalid_input") from None


async def promote_model(request: Request) -> Response:
    """``POST /api/projects/{p}/models/{name}/promote``: production is served by the
    challenger ``name`` from the next request (`streamloop.streams.promotion`)."""
    from streamloop.streams.promotion import promote_here

    runtime = service_of(request).project(request.path_params["project"])
    with admitting_body(request):
        parse(EmptyBody, await read_json(request, settings_of(request)))
    return OrjsonResponse(await promote_here(runtime, request.path_params["model"]))


async def list_models(request: Request) -> Response:
    """``GET /api/models``: the presets and the installed plugins, each with whether it passed
    the contract check (a refused one says which check, and why)."""
    from streamloop.online import plugins

    listed = await asyncio.to_thread(plugins.models, plugins.LIST_WAIT)
    return OrjsonResponse({"models": [model.as_json() for model in listed]})


async def list_projects(request: Request) -> Response:
    summarised = _may_read_metrics(request.state.principal)
    projects = [
        {
            **runtime.record.as_json(),
            "summary": _summary(runtime.metrics()) if summarised else None,
        }
        for runtime in service_of(request).projects()
    ]
    return OrjsonResponse({"projects": projects})


def _may_read_metrics(principal: Principal | None) -> bool:
    # No principal: auth is off. The roles are the ones the metrics route itself asks for.
    allowed = required_roles("GET", "/api/projects/{project}/metrics")
    return principal is None or allowed is None or principal.role in allowed


def _summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    estimate = metrics["unbiased_accuracy"]
    figures = {
        **metrics,
        "accuracy_estimate": estimate["estimate"],
        "accuracy_samples": estimate["samples"],
    }
    return {figure: figures[figure] for figure in SUMMARY_FIGURES}


async def get_project(request: Request) -> Response:
    runtime = service_of(request).project(request.path_params["project"])
    return OrjsonResponse(runtime.record.as_json())


async def patch_project(request: Request) -> Response:
    """``PATCH /api/projects/{p}``: change what annotators are shown (`PROJECT_DISPLAY`); the
    annotators and reviewers connected are sent the project again."""
    service = service_of(request)
    runtime = service.project(request.path_params["project"])
    with admitting_body(request):
        changes = patched_spec(
            runtime.record.as_json(), await read_json(request, settings_of(request))
        )
        record = await service.update_project(runtime.record.name, changes)
    return OrjsonResponse(record.as_json())


async def get_model(request: Request) -> Response:
    """The project's model as it is now: its River pipeline, pickled (see the README)."""
    runtime = service_of(request).project(request.path_params["project"])
    asked = request.query_params.get("name") or None
    model, version, blob = await runtime.model_pickle(asked)
    suffix = f"-{model.replace(':', '-')}" if asked else ""
    name = f"{runtime.record.name}{suffix}-v{version}.pkl"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Streamloop-Model-Version": str(version),
        "X-Streamloop-Model": model,
        "X-River-Version": package_version("river"),
        "X-Streamloop-Version": __version__,
    }
    return Response(blob, media_type="application/octet-stream", headers=headers)
