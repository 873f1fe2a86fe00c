"""Reading requests and frames into validated values, and writing JSON back (orjson)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from starlette.requests import Request
from starlette.responses import JSONResponse

from streamloop.config import Settings
from streamloop.errors import (
    BadRequest,
    InvalidInput,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)
from streamloop.online import DEFAULT_STRATEGY, PRESETS, STRATEGIES
from streamloop.online.inputs import model_input
from streamloop.online.routing import DEFAULT_WARMUP, default_rehearsal

__all__ = [
    "ANNOTATOR_NAME",
    "EmptyBody",
    "EventsBody",
    "GoldBody",
    "LabelMessage",
    "OrjsonResponse",
    "PredictBody",
    "ProductionLabelsBody",
    "ProjectSpec",
    "ResolveMessage",
    "SkipMessage",
    "check_data",
    "dumps",
    "nesting",
    "parse",
    "read_json",
    "require_json",
]

M = TypeVar("M", bound=BaseModel)
_STRICT = ConfigDict(extra="forbid", strict=True)
# NUL cannot be stored by PostgreSQL; refusing it here keeps one bad id from failing a batch.
ClientId = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]
LabelName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00]+$")]


#: An annotator's name: as the annotator socket takes it, and as quarantine names them.
ANNOTATOR_NAME = re.compile(r"[\w.@+-]{1,64}")


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content)


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        # orjson stops at 254 levels of nesting; data stored before the depth cap may be
        # deeper, and must still reach annotators and exports rather than end their sockets.
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Overlap(BaseModel):
    """That share of routed items is labelled, independently, by that many annotators."""

    model_config = _STRICT

    share: Annotated[float, Field(gt=0.0, le=1.0)]
    annotators: Annotated[int, Field(ge=2, le=10)] = 2


class ProjectSpec(BaseModel):
    model_config = _STRICT

    name: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]
    labels: Annotated[
        list[LabelName],
        Field(min_length=2, max_length=1000),
    ]
    input: Literal["text", "tabular"] = "text"
    model: str = "logistic_regression"
    strategy: str = DEFAULT_STRATEGY
    # 20%: the label-efficiency benchmark's best share (BENCHMARKS.md), and enough random
    # draws for the unbiased accuracy estimate.
    exploration: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    lease_seconds: Annotated[float, Field(gt=0.0, le=86_400.0)] = 120.0
    warmup: Annotated[int, Field(ge=0, le=10_000)] = DEFAULT_WARMUP
    rehearsal: Annotated[int | None, Field(ge=0, le=20)] = None
    routing: Literal["pool", "stream"] = "pool"
    labels_per_annotator_hour: Annotated[float, Field(gt=0.0, le=100_000.0)] = 120.0
    diversity: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    # The share of each annotator's items that are gold; None: 5% once the project has any.
    gold_share: Annotated[float | None, Field(ge=0.0, le=1.0)] = None
    overlap: Overlap | None = None
    # Below this gold accuracy, once its interval is sure of it, an annotator is quarantined.
    gold_min_accuracy: Annotated[float | None, Field(gt=0.0, le=1.0)] = None
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0

    @model_validator(mode="after")
    def _preset_defaults(self) -> ProjectSpec:
        if self.rehearsal is None:
            self.rehearsal = default_rehearsal(self.model)
        return self

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels: list[str]) -> list[str]:
        if len(set(labels)) != len(labels):
            raise ValueError("labels must be distinct")
        return labels

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: str) -> str:
        if model not in PRESETS:
            raise ValueError(f"unknown model preset; one of {list(PRESETS)}")
        return model

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, strategy: str) -> str:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy; one of {list(STRATEGIES)}")
        return strategy


class Event(BaseModel):
    model_config = _STRICT

    id: ClientId
    data: dict[str, Any]


class EventsBody(BaseModel):
    model_config = _STRICT

    events: Annotated[list[Event], Field(min_length=1)]


class PredictBody(BaseModel):
    model_config = _STRICT

    data: dict[str, Any]


class ProductionLabel(BaseModel):
    model_config = _STRICT

    event_id: ClientId
    label: str
    label_id: ClientId | None = None


class ProductionLabelsBody(BaseModel):
    model_config = _STRICT

    labels: Annotated[list[ProductionLabel], Field(min_length=1)]


class EmptyBody(BaseModel):
    """``{}``: a request whose path says it all (quarantine, release, review)."""

    model_config = _STRICT


class GoldItem(BaseModel):
    model_config = _STRICT

    id: ClientId
    data: dict[str, Any]
    label: str


class GoldBody(BaseModel):
    model_config = _STRICT

    items: Annotated[list[GoldItem], Field(min_length=1)]


class LabelMessage(BaseModel):
    model_config = _STRICT

    type: Literal["label"]
    item_id: ClientId
    label: str
    label_id: ClientId


class CorrectMessage(BaseModel):
    """Replace this annotator's earlier label (``corrects``, its ``label_id``) with ``label``."""

    model_config = _STRICT

    type: Literal["correct"]
    corrects: ClientId
    label: str
    label_id: ClientId


class ResumeMessage(BaseModel):
    """Ask for items again after a lease expired (any message does; this one says so)."""

    model_config = _STRICT

    type: Literal["resume"]


class ResolveMessage(BaseModel):
    """A reviewer's outcome for an item in review."""

    model_config = _STRICT

    type: Literal["resolve"]
    item_id: ClientId
    label: str
    label_id: ClientId


class SkipMessage(BaseModel):
    model_config = _STRICT

    type: Literal["skip"]
    item_id: ClientId


def require_json(request: Request) -> None:
    """415 unless the request says its body is JSON.

    A web page may send ``text/plain`` to any origin without asking first (no CORS
    preflight), never ``application/json``: so no other page can change anything here.
    """
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(
            "a request that changes anything must be sent with 'Content-Type: application/json'"
        )


async def read_json(request: Request, settings: Settings) -> Any:
    """The request's JSON body: 415 unless sent as JSON, 413 past ``max_body_bytes``, 408 when
    it takes longer than ``body_timeout_seconds`` to arrive, 400 when it is not JSON."""
    require_json(request)
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is over the limit of {limit} bytes", code="body_too_large")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(settings.body_timeout_seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(
                        f"the body is over the limit of {limit} bytes", code="body_too_large"
                    )
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(
            f"the body did not arrive within {settings.body_timeout_seconds:g} s"
        ) from None
    return loads(b"".join(chunks))


def loads(raw: bytes | str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="malformed_json") from None


def parse(model: type[M], value: Any) -> M:
    """Validate ``value`` against ``model``; a 422 that names each bad field otherwise."""
    if not isinstance(value, dict):
        raise InvalidInput("expected a JSON object", code="invalid_input")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise InvalidInput(describe(exc), code="invalid_input") from None


def describe(exc: ValidationError) -> str:
    """One human sentence for every problem pydantic found."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "body"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def check_data(
    input_kind: str, data: dict[str, Any], settings: Settings, where: str = "data"
) -> None:
    """An item's ``data`` must be bounded and suit the project's input kind (422 otherwise)."""
    if len(data) > settings.max_data_fields:
        raise InvalidInput(
            f"{where} has {len(data)} fields; at most {settings.max_data_fields}",
            code="too_many_fields",
        )
    if nesting(data, settings.max_data_depth) > settings.max_data_depth:
        raise InvalidInput(
            f"{where} is nested more than {settings.max_data_depth} levels deep", code="too_deep"
        )
    if input_kind == "tabular" and not any(value is not None for value in data.values()):
        raise InvalidInput(f"{where} must have at least one field", code="invalid_data")
    try:
        model_input(input_kind, data)
    except ValueError as exc:
        raise InvalidInput(f"{where}: {exc}", code="invalid_data") from None


def nesting(value: Any, limit: int) -> int:
    """How deeply objects and lists nest in ``value`` (a scalar is 0), counted up to
    ``limit + 1``: no further, so a hostile value costs no more than a bounded one.

    >>> nesting({"a": [1, {"b": 2}]}, 32), nesting("text", 32), nesting([[[[]]]], 2)
    (3, 0, 3)
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth) for child in children)
    return deepest
