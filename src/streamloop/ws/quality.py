"""HTTP for supervisors' quality control: gold items, whose answers score annotators, and
annotators taken out of the model (quarantine) and put back (release)."""

from __future__ import annotations

from starlette import status
from starlette.requests import Request
from starlette.responses import Response

from streamloop.errors import InvalidInput, PayloadTooLarge
from streamloop.ws.context import admitting_body, service_of, settings_of
from streamloop.ws.payloads import (
    ANNOTATOR_NAME,
    EmptyBody,
    GoldBody,
    OrjsonResponse,
    check_data,
    parse,
    read_json,
)

__all__ = ["post_gold", "quarantine", "release"]


async def post_gold(request: Request) -> Response:
    """Store gold items (known answers), mixed into annotators' items unmarked from now on."""
    settings = settings_of(request)
    runtime = service_of(request).project(request.path_params["project"])
    with admitting_body(request):
        body = parse(GoldBody, await read_json(request, settings))
        if len(body.items) > settings.max_events_per_request:
            raise PayloadTooLarge(
                f"{len(body.items)} gold items in one request; at most "
                f"{settings.max_events_per_request}",
                code="too_many_items",
            )
        for index, item in enumerate(body.items):
            check_data(runtime.record.input, item.data, settings, where=f"items.{index}.data")
        stored, duplicates = await runtime.add_gold(
            [
                (item.id, item.data, runtime.answer(item.sent(), f"items.{index}"))
                for index, item in enumerate(body.items)
            ]
        )
    return OrjsonResponse({"stored": stored, "duplicates": duplicates})


async def quarantine(request: Request) -> Response:
    """Take an annotator's labels out of the model: 202 once the rebuilt model serves."""
    return await _change(request, quarantine=True)


async def release(request: Request) -> Response:
    """Count an annotator's labels again: 202 once the rebuilt model serves."""
    return await _change(request, quarantine=False)


async def _change(request: Request, *, quarantine: bool) -> Response:
    runtime = service_of(request).project(request.path_params["project"])
    annotator = request.path_params["annotator"]
    if not ANNOTATOR_NAME.fullmatch(annotator):
        raise InvalidInput(
            "annotator must be 1-64 letters, digits or . _ @ + -", code="invalid_annotator"
        )
    with admitting_body(request):
        parse(EmptyBody, await read_json(request, settings_of(request)))
    answer = await runtime.quarantine.change(annotator, quarantine=quarantine)
    return OrjsonResponse(answer, status_code=status.HTTP_202_ACCEPTED)
