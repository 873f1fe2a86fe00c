"""HTTP for production systems: score events, predict one item, send ground-truth labels."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from streamloop.errors import InvalidInput, PayloadTooLarge
from streamloop.streams import ProjectRuntime
from streamloop.ws import frames
from streamloop.ws.context import admitting_body, service_of, settings_of
from streamloop.ws.payloads import (
    OrjsonResponse,
    PredictBody,
    ProductionLabelsBody,
    check_bounds,
    check_data,
    event_pairs,
    parse,
    read_json,
)

__all__ = ["post_events", "post_labels", "predict"]


async def post_events(request: Request) -> Response:
    runtime = service_of(request).project(request.path_params["project"])
    # Admitted (or refused, which costs next to nothing) before the body is read.
    with runtime.admitting_events():
        return await _post_events(request, runtime)


async def _post_events(request: Request, runtime: ProjectRuntime) -> Response:
    settings = settings_of(request)
    body: Any = await read_json(request, settings)
    events = body.get("events") if isinstance(body, dict) else None
    if isinstance(events, list) and len(events) > settings.max_events_per_request:
        raise PayloadTooLarge(
            f"{len(events)} events in one request; at most {settings.max_events_per_request}",
            code="too_many_events",
        )
    pairs = event_pairs(body)
    kind = runtime.record.input
    for index, (_event_id, data) in enumerate(pairs):
        try:
            check_bounds(kind, data, settings, where=f"events.{index}.data")
        except InvalidInput:
            # The first event refused for any reason is the one named, as checking each
            # event whole, in order, would: an earlier one may not fit the input kind.
            for earlier, (_id, seen) in enumerate(pairs[: index + 1]):
                check_data(kind, seen, settings, where=f"events.{earlier}.data")
            raise
    # Whether each event's data fits the input kind is checked as the model reads it, once
    # (it was a tenth of the server's time, twice): `ingest` refuses it as `check_data` does.
    results = await runtime.ingest(pairs)
    return OrjsonResponse({"results": [frames.scored(result) for result in results]})


async def predict(request: Request) -> Response:
    settings = settings_of(request)
    runtime = service_of(request).project(request.path_params["project"])
    with admitting_body(request):
        body = parse(PredictBody, await read_json(request, settings))
        check_data(runtime.record.input, body.data, settings)
        return OrjsonResponse((await runtime.predict(body.data)).as_json())


async def post_labels(request: Request) -> Response:
    runtime = service_of(request).project(request.path_params["project"])
    # Labels go to the store and the learner: they share the events' admission.
    with runtime.admitting_events():
        return await _post_labels(request, runtime)


async def _post_labels(request: Request, runtime: ProjectRuntime) -> Response:
    settings = settings_of(request)
    body = parse(ProductionLabelsBody, await read_json(request, settings))
    if len(body.labels) > settings.max_events_per_request:
        raise PayloadTooLarge(
            f"{len(body.labels)} labels in one request; at most {settings.max_events_per_request}",
            code="too_many_labels",
        )
    outcomes = await runtime.label_events(
        [
            (
                label.event_id,
                runtime.answer(label.sent(), where=f"labels.{index}"),
                label.label_id,
                label.comment,
            )
            for index, label in enumerate(body.labels)
        ]
    )
    return OrjsonResponse({"results": [frames.production_result(o) for o in outcomes]})
