"""Supervisors: the items annotators skipped, and the reasons they gave."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from streamloop.errors import InvalidInput
from streamloop.ws.context import service_of
from streamloop.ws.frames import iso
from streamloop.ws.payloads import OrjsonResponse

__all__ = ["SKIPS_LIMIT", "SKIPS_LIMIT_MAX", "get_skips"]

#: Skips listed when ``?limit=`` is not given, and the most it may ask for.
SKIPS_LIMIT = 100
SKIPS_LIMIT_MAX = 1000


async def get_skips(request: Request) -> Response:
    """``GET /api/projects/{p}/skips?limit=100``: the latest skips, newest first."""
    runtime = service_of(request).project(request.path_params["project"])
    limit = _limit(request.query_params.get("limit"))
    store = runtime.store
    skips = await store.run(store.recent_skips, runtime.record.id, limit)
    return OrjsonResponse(
        {
            "skips": [
                {
                    "event_id": skip.event_id,
                    "annotator": skip.annotator,
                    "reason": skip.reason,
                    "skipped_at": iso(skip.skipped_at),
                }
                for skip in skips
            ]
        }
    )


def _limit(raw: str | None) -> int:
    if raw is None:
        return SKIPS_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= SKIPS_LIMIT_MAX:
        raise InvalidInput(f"limit: an integer from 1 to {SKIPS_LIMIT_MAX}", code="invalid_input")
    return int(raw)
