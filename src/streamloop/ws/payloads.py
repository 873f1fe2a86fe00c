"""Reading requests and frames into validated values, and writing JSON back (orjson)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    AfterValidator,
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
from streamloop.online import (
    DEFAULT_MULTILABEL_STRATEGY,
    DEFAULT_SPAN_STRATEGY,
    DEFAULT_STRATEGY,
    MULTILABEL_STRATEGIES,
    SPAN_STRATEGIES,
    STRATEGIES,
)
from streamloop.online.inputs import model_input
from streamloop.online.routing import DEFAULT_WARMUP, default_rehearsal

__all__ = [
    "ANNOTATOR_NAME",
    "PROJECT_DISPLAY",
    "Answer",
    "EmptyBody",
    "EventsBody",
    "GoldBody",
    "LabelMessage",
    "OrjsonResponse",
    "PredictBody",
    "ProductionLabelsBody",
    "ProjectPatch",
    "ProjectSpec",
    "RecentMessage",
    "ResolveMessage",
    "ReviewSkipMessage",
    "SkipMessage",
    "SpanAnswer",
    "check_bounds",
    "check_data",
    "dumps",
    "event_pairs",
    "nesting",
    "parse",
    "patched_spec",
    "read_json",
    "require_json",
]

M = TypeVar("M", bound=BaseModel)
_STRICT = ConfigDict(extra="forbid", strict=True)
#: The longest id a client may give (an event's, a label's...).
_CLIENT_ID_MAX = 256
# NUL cannot be stored by PostgreSQL; refusing it here keeps one bad id from failing a batch.
ClientId = Annotated[str, Field(min_length=1, max_length=_CLIENT_ID_MAX, pattern=r"^[^\x00]+$")]
LabelName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00]+$")]
#: Free text a person wrote (guidelines, comments, reasons): anything but NUL, which
#: PostgreSQL cannot store.
_TEXT = r"^[^\x00]*$"
Guidelines = Annotated[str, Field(max_length=20_000, pattern=_TEXT)]
LabelDescriptions = dict[LabelName, Annotated[str, Field(max_length=1000, pattern=_TEXT)]]
Target = Annotated[int | None, Field(ge=1, le=1_000_000_000)]
#: An annotator's or reviewer's note on a label (``comment``; empty: none).
Comment = Annotated[
    str | None, Field(max_length=2000, pattern=_TEXT), AfterValidator(lambda text: text or None)
]
#: Why an annotator skipped an item (``reason``; empty: none given).
SkipReason = Annotated[
    str | None, Field(max_length=500, pattern=_TEXT), AfterValidator(lambda text: text or None)
]


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


#: The most challengers a project may have: each learns every label as the model serving does
#: (its shadows included), so three triple the learning (BENCHMARKS.md, "Challengers").
MAX_CHALLENGERS = 3


class ProjectSpec(BaseModel):
    model_config = _STRICT

    name: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]
    # Two or more; one is enough for spans (a span of it, or none: `_fits_task`).
    labels: Annotated[
        list[LabelName],
        Field(min_length=1, max_length=1000),
    ]
    input: Literal["text", "tabular"] = "text"
    task: Literal["classify", "multilabel", "spans"] = "classify"
    model: str = "logistic_regression"
    # Models learning the same labels beside `model`, each with its own figures; one may be
    # promoted to serve instead (`MAX_CHALLENGERS`: each costs about as much as the model).
    challengers: Annotated[list[str], Field(max_length=MAX_CHALLENGERS)] = []
    # None: the task's default (`DEFAULT_STRATEGY`, `DEFAULT_MULTILABEL_STRATEGY`).
    strategy: str | None = None
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
    # Multi-label: labels to their own threshold, in (0, 1); the others have 0.5.
    thresholds: dict[LabelName, Annotated[float, Field(gt=0.0, lt=1.0)]] | None = None
    # Multi-label: the annotator app shows the model's predicted labels already selected.
    preselect: bool = False
    # What annotators read (`PROJECT_DISPLAY`): light Markdown the web app renders, stored as
    # given; a description per label; the model's suggestion hidden; how many labels are aimed
    # for. These may change after creation (`ProjectPatch`).
    guidelines: Guidelines = ""
    label_descriptions: LabelDescriptions | None = None
    hide_suggestion: bool = False
    target: Target = None

    @model_validator(mode="after")
    def _shown_to_annotators(self) -> ProjectSpec:
        unknown = [label for label in self.label_descriptions or () if label not in self.labels]
        if unknown:
            raise ValueError(f"label_descriptions: {unknown[0]!r} is not one of the labels")
        if self.hide_suggestion and self.preselect:
            raise ValueError(
                "hide_suggestion: hiding the model's suggestion contradicts preselect (which "
                "shows its labels already selected); set one of them"
            )
        return self

    @model_validator(mode="after")
    def _challengers_fit(self) -> ProjectSpec:
        from streamloop.online.plugins import is_known, plugin_names
        from streamloop.online.presets import PRESETS

        if not self.challengers:
            return self
        if self.task == "spans":
            raise ValueError(
                "challengers: a spans project has one model, its tagger: no challengers"
            )
        for name in self.challengers:
            if not is_known(name):
                raise ValueError(
                    f"challengers: unknown model {name!r}; one of "
                    f"{[*PRESETS, *plugin_names()]} (GET /api/models)"
                )
        if len(set(self.challengers)) != len(self.challengers):
            raise ValueError("challengers: each model once")
        if self.model in self.challengers:
            raise ValueError(f"challengers: {self.model!r} is the model serving already")
        if self.task == "multilabel":
            from streamloop.online.multilabel import MULTILABEL_PRESETS, UNSUPPORTED_PAIRS

            for name in self.challengers:
                why = UNSUPPORTED_PAIRS.get((name, self.input))
                if name not in MULTILABEL_PRESETS or why is not None:
                    raise ValueError(
                        f"challengers: {name!r} cannot serve a multilabel project with "
                        f"{self.input} items{f': {why}' if why else ''}"
                    )
        return self

    @model_validator(mode="after")
    def _preset_defaults(self) -> ProjectSpec:
        if self.rehearsal is None:
            self.rehearsal = default_rehearsal(self.model)
        return self

    @model_validator(mode="after")
    def _fits_task(self) -> ProjectSpec:
        if self.strategy is None and "strategy" in self.model_fields_set:
            raise ValueError("strategy: a strategy's name, or leave it out for the task's default")
        if len(self.labels) < 2 and self.task != "spans":
            raise ValueError(
                f"labels: a {self.task} project needs two labels or more (a spans project may "
                f"have one)"
            )
        if self.task == "classify":
            self.strategy = self.strategy or DEFAULT_STRATEGY
            if self.strategy not in STRATEGIES:
                raise ValueError(f"strategy: unknown strategy; one of {list(STRATEGIES)}")
            for field, given in (("thresholds", self.thresholds), ("preselect", self.preselect)):
                if given:
                    raise ValueError(
                        f'{field}: only for multilabel projects; add "task": "multilabel"'
                    )
            return self
        if self.task == "spans":
            return self._fits_spans()
        self.strategy = self.strategy or DEFAULT_MULTILABEL_STRATEGY
        if self.strategy not in MULTILABEL_STRATEGIES:
            raise ValueError(
                f"strategy: a multilabel project's strategy is one of "
                f"{', '.join(MULTILABEL_STRATEGIES)} ({DEFAULT_MULTILABEL_STRATEGY} if left out)"
            )
        # The presets' modules import River (about a second): only a new project needs them.
        from streamloop.online.multilabel import MULTILABEL_PRESETS, UNSUPPORTED_PAIRS

        if ":" in self.model:
            raise ValueError(
                "model: a plugin's model serves classify projects; a multilabel project's "
                "model is one of logistic_regression, naive_bayes, or hoeffding_tree"
            )
        if self.model not in MULTILABEL_PRESETS:
            raise ValueError(
                f"model: a multilabel project's model is one of logistic_regression, "
                f"naive_bayes, or hoeffding_tree with tabular input; {self.model} would need "
                f"one per label (a forest per label costs too much: see the reference)"
            )
        why = UNSUPPORTED_PAIRS.get((self.model, self.input))
        if why is not None:
            raise ValueError(f"model: not with {self.input} items in a multilabel project: {why}")
        unknown = set(self.thresholds or ()) - set(self.labels)
        if unknown:
            raise ValueError(f"thresholds: {sorted(unknown)[0]!r} is not one of the labels")
        return self

    def _fits_spans(self) -> ProjectSpec:
        self.strategy = self.strategy or DEFAULT_SPAN_STRATEGY
        if self.input != "text":
            raise ValueError('input: a spans project marks spans in text: "input": "text"')
        if self.strategy not in SPAN_STRATEGIES:
            raise ValueError(
                f"strategy: a spans project's strategy is one of {', '.join(SPAN_STRATEGIES)} "
                f"({DEFAULT_SPAN_STRATEGY} if left out)"
            )
        if self.model != "logistic_regression":
            raise ValueError(
                "model: a spans project's model is its tagger, a logistic regression per tag: "
                '"logistic_regression" (or leave it out)'
            )
        for field, given in (("thresholds", self.thresholds), ("preselect", self.preselect)):
            if given:
                raise ValueError(f'{field}: only for multilabel projects; add "task": "multilabel"')
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
        from streamloop.online.plugins import is_known, plugin_names
        from streamloop.online.presets import PRESETS

        if not is_known(model):
            raise ValueError(
                f"unknown model; one of {[*PRESETS, *plugin_names()]} (GET /api/models)"
            )
        return model


#: The project fields that may change after creation (``PATCH /api/projects/{p}``): what
#: annotators and reviewers are shown, nothing the model or routing depends on.
PROJECT_DISPLAY = ("guidelines", "label_descriptions", "hide_suggestion", "target")


class ProjectPatch(BaseModel):
    """``PATCH /api/projects/{p}``: some of `PROJECT_DISPLAY`; the project's other fields
    cannot change (see `patched_spec`)."""

    model_config = _STRICT

    guidelines: Guidelines = ""
    label_descriptions: LabelDescriptions | None = None
    hide_suggestion: bool = False
    target: Target = None


def patched_spec(current: dict[str, Any], body: Any) -> dict[str, Any]:
    """The changes a ``PATCH`` body asks of a project (``current``, as the contract shows it),
    checked as a whole project would be (a label description of an unknown label, a hidden
    suggestion with ``preselect``...): 422 ``invalid_input`` otherwise."""
    if not isinstance(body, dict):
        raise InvalidInput("expected a JSON object", code="invalid_input")
    fixed = sorted(
        key for key in body if key in ProjectSpec.model_fields and key not in PROJECT_DISPLAY
    )
    if fixed:
        raise InvalidInput(
            f"{', '.join(fixed)}: cannot change after creation (only "
            f"{', '.join(PROJECT_DISPLAY)} can)",
            code="invalid_input",
        )
    changes = parse(ProjectPatch, body).model_dump(include=set(body))
    whole = {key: current[key] for key in ProjectSpec.model_fields} | changes
    parse(ProjectSpec, whole)
    return changes


class SpanAnswer(BaseModel):
    """One span of a ``spans`` answer: character offsets into the item's ``text``."""

    model_config = _STRICT

    start: Annotated[int, Field(ge=0, description="the span's first character (code points)")]
    end: Annotated[int, Field(ge=1, description="just after its last character")]
    label: LabelName


class Answer(BaseModel):
    """An answer in the project's task's shape: ``label`` (classify), ``labels``
    (multilabel) or ``spans``; which one the project wants is checked by
    `ProjectRuntime.answer`."""

    model_config = _STRICT

    label: Annotated[str | None, Field(description="classify projects: the label")] = None
    labels: Annotated[
        list[str] | None,
        Field(
            max_length=1000,
            description="multilabel projects, instead of label: the labels that apply ([]: none)",
        ),
    ] = None
    spans: Annotated[
        list[SpanAnswer] | None,
        Field(
            max_length=10_000,
            description="spans projects, instead of label: every span in the text ([]: none)",
        ),
    ] = None

    def sent(self) -> dict[str, Any]:
        """The answer's fields, as sent (None: not sent)."""
        return {
            "label": self.label,
            "labels": self.labels,
            "spans": None if self.spans is None else [span.model_dump() for span in self.spans],
        }


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


class ProductionLabel(Answer):
    model_config = _STRICT

    event_id: ClientId
    label_id: ClientId | None = None
    comment: Comment = None


class ProductionLabelsBody(BaseModel):
    model_config = _STRICT

    labels: Annotated[list[ProductionLabel], Field(min_length=1)]


class EmptyBody(BaseModel):
    """``{}``: a request whose path says it all (quarantine, release, review)."""

    model_config = _STRICT


class GoldItem(Answer):
    model_config = _STRICT

    id: ClientId
    data: dict[str, Any]


class GoldBody(BaseModel):
    model_config = _STRICT

    items: Annotated[list[GoldItem], Field(min_length=1)]


class LabelMessage(Answer):
    model_config = _STRICT

    type: Literal["label"]
    item_id: ClientId
    label_id: ClientId
    comment: Comment = None


class CorrectMessage(Answer):
    """Replace this annotator's earlier answer (``corrects``, its ``label_id``) with this one."""

    model_config = _STRICT

    type: Literal["correct"]
    corrects: ClientId
    label_id: ClientId
    comment: Comment = None


class RecentMessage(BaseModel):
    """Ask for this annotator's latest answers (``limit`` of them), to review and correct."""

    model_config = _STRICT

    type: Literal["recent"]
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class ResumeMessage(BaseModel):
    """Ask for items again after a lease expired (any message does; this one says so)."""

    model_config = _STRICT

    type: Literal["resume"]


class ResolveMessage(Answer):
    """A reviewer's outcome for an item in review."""

    model_config = _STRICT

    type: Literal["resolve"]
    item_id: ClientId
    label_id: ClientId
    comment: Comment = None


class SkipMessage(BaseModel):
    model_config = _STRICT

    type: Literal["skip"]
    item_id: ClientId
    #: Why (stored, listed by ``GET /skips`` and counted in the metrics).
    reason: SkipReason = None


class ReviewSkipMessage(BaseModel):
    """A reviewer gives an item back (no reason: review skips are not recorded)."""

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
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "value_error":
            # Our own checks: their message says it all, naming the field when the check is
            # the whole body's ("model: ...").
            message = message.removeprefix("Value error, ")
            if not where:
                parts.append(message)
                continue
        parts.append(f"{where or 'body'}: {message}")
    return "; ".join(parts)


def check_data(
    input_kind: str, data: dict[str, Any], settings: Settings, where: str = "data"
) -> None:
    """An item's ``data`` must be bounded and suit the project's input kind (422 otherwise)."""
    check_bounds(input_kind, data, settings, where)
    try:
        model_input(input_kind, data)
    except ValueError as exc:
        raise InvalidInput(f"{where}: {exc}", code="invalid_data") from None


def check_bounds(
    input_kind: str, data: dict[str, Any], settings: Settings, where: str = "data"
) -> None:
    """`check_data` but for what the model reads (`model_input`): the size, the depth, and a
    tabular item's having a field."""
    if len(data) > settings.max_data_fields:
        raise InvalidInput(
            f"{where} has {len(data)} fields; at most {settings.max_data_fields}",
            code="too_many_fields",
        )
    limit = settings.max_data_depth
    # A flat object is 1 deep: only a nested one needs the walk (hot: every event's data, so
    # its values' types are gathered in C and the few distinct ones looked at).
    types = set(map(type, data.values()))
    flat = not any(issubclass(kind, (dict, list)) for kind in types)
    if (limit < 1 or not flat) and nesting(data, limit) > limit:
        raise InvalidInput(f"{where} is nested more than {limit} levels deep", code="too_deep")
    if input_kind == "tabular" and types <= {type(None)}:
        raise InvalidInput(f"{where} must have at least one field", code="invalid_data")


def event_pairs(body: Any) -> list[tuple[str, dict[str, Any]]]:
    """``POST /events``'s body as (id, data) pairs: as `parse` with `EventsBody` reads it, with
    its errors.

    A well-formed body, the common case, is read here directly: pydantic's validation (which
    also copies each event's data) was a twentieth of the server's time under a stream of
    events. Anything else goes to pydantic, for exactly its answer.
    """
    events = body.get("events") if type(body) is dict and len(body) == 1 else None
    if type(events) is list and events:
        pairs: list[tuple[str, dict[str, Any]]] = []
        for event in events:
            if type(event) is not dict or len(event) != 2:
                break
            event_id, data = event.get("id"), event.get("data")
            if (
                type(event_id) is not str
                or not 0 < len(event_id) <= _CLIENT_ID_MAX
                or "\x00" in event_id
                or type(data) is not dict
            ):
                break
            pairs.append((event_id, data))
        else:
            return pairs
    return [(event.id, event.data) for event in parse(EventsBody, body).events]


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
