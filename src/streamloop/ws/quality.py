"""HTTP for supervisors' quality control: gold items, whose answers score annotators."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from streamloop.errors import PayloadTooLarge
from streamloop.ws.context import admitting_body, service_of, settings_of
from streamloop.ws.payloads import GoldBody, OrjsonResponse, check_data, parse, read_json

__all__ = ["post_gold"]


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
            [(item.id, item.data, item.label) for item in body.items]
        )
    return OrjsonResponse({"stored": stored, "duplicates": duplicates})
