"""The OpenAPI 3.1 document of the HTTP API, built from the routes and the table below.

Every ``/api/`` route (and the health checks) needs an entry in ``OPERATIONS``; building the
document raises when one is missing or names a route that is gone, so it cannot go stale
silently. Request bodies are the pydantic models the handlers validate with; responses are
written out here, and ``tests/ws/test_openapi.py`` holds the server to them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette import status
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from streamloop import __version__
from streamloop.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    NotReady,
    PayloadTooLarge,
    RequestTimeout,
    StreamloopError,
    TooManyRequests,
    Unauthenticated,
    UnsupportedMediaType,
)
from streamloop.online.span_metrics import SPAN_FIGURES
from streamloop.ws.context import openapi_of
from streamloop.ws.payloads import (
    EmptyBody,
    EventsBody,
    GoldBody,
    OrjsonResponse,
    PredictBody,
    ProductionLabelsBody,
    ProjectPatch,
    ProjectSpec,
)

__all__ = ["OPERATIONS", "Operation", "build", "openapi_json"]

Schema = dict[str, Any]

_REF_TEMPLATE = "#/components/schemas/{model}"
#: Documented besides everything under /api/.
_OPS_PATHS = frozenset({"/healthz", "/readyz"})
_PATH_PARAMETER = re.compile(r"{(\w+)}")
#: The auth middleware's refusals (ws/auth.py), possible on every /api operation.
_AUTH_ERRORS = (Unauthenticated, Forbidden)
#: Every route's: a Host it does not answer to (400), another site's Origin (403).
_SAME_ORIGIN_ERRORS = (BadRequest, Forbidden)
#: Headers that always come with an error's response.
_ERROR_HEADERS = {
    status.HTTP_401_UNAUTHORIZED: ("WWW-Authenticate", "The scheme to use: Bearer.", "string"),
    status.HTTP_429_TOO_MANY_REQUESTS: ("Retry-After", "Seconds to wait, then retry.", "integer"),
}
_INFO = {
    "title": "streamloop",
    "version": __version__,
    "description": "Active learning as one real-time streaming loop. The WebSockets "
    "(/ws/projects/{project}/annotate and /dashboard) are described in PROTOCOL.md.",
}
_SECURITY_SCHEMES = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
#: Anonymous (auth is off on loopback without tokens) or a bearer token.
_SECURITY: list[dict[str, list[str]]] = [{}, {"bearerAuth": []}]


def _ref(name: str) -> Schema:
    return {"$ref": _REF_TEMPLATE.format(model=name)}


def _object(**properties: Schema) -> Schema:
    """An object that always carries these properties (and may gain more: the contract grows)."""
    return {"type": "object", "required": list(properties), "properties": properties}


_COUNT: Schema = {"type": "integer", "minimum": 0}
_SHARE: Schema = {"type": "number", "minimum": 0, "maximum": 1}
_SHARE_OR_NULL: Schema = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_OVERLAP: Schema = {
    "type": "object",
    "properties": {
        "share": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "annotators": {"type": "integer", "minimum": 2, "maximum": 10},
    },
    "required": ["share", "annotators"],
}
_POSITIVE: Schema = {"type": "number", "exclusiveMinimum": 0}
_LABEL: Schema = {"type": "string", "minLength": 1}
_STRING: Schema = {"type": "string"}
_BOOLEAN: Schema = {"type": "boolean"}
_PROJECT_NAME: Schema = {"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"}
_ANNOTATOR_NAME: Schema = {"type": "string", "pattern": r"^[\w.@+-]{1,64}$"}
_ANNOTATOR_STATE: Schema = {"enum": ["active", "rebuilding", "quarantined"]}
_ERROR_BODY = _object(
    code={"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
    message=_LABEL,
    retryable={
        "type": "boolean",
        "description": "whether the same request, sent again unchanged, may succeed",
    },
)
_PATH_PARAMETERS = {
    "project": _PROJECT_NAME,
    "annotator": _ANNOTATOR_NAME,
    "event_id": {"type": "string", "minLength": 1},
    "model": {"type": "string", "minLength": 1},
}
_PREDICTION_FIGURES: dict[str, Schema] = {
    "probabilities": {"type": "object", "additionalProperties": _SHARE},
    "uncertainty": _SHARE,
    "model_version": _COUNT,
}
#: A prediction in the project's task's shape: one label, or a set of labels.
_ANSWER_PREDICTED: Schema = {
    "oneOf": [
        _object(
            prediction={
                "type": ["string", "null"],
                "description": "classify; null before any label",
            }
        ),
        _object(
            labels={
                "type": ["array", "null"],
                "items": _LABEL,
                "description": "multilabel: the labels predicted to apply; null before any label",
            }
        ),
        _object(
            spans={
                "type": ["array", "null"],
                "items": _object(start=_COUNT, end=_COUNT, label=_LABEL, score=_SHARE),
                "description": "spans: the spans found in the text (character offsets, end "
                "exclusive); null before any label",
            }
        ),
    ]
}


def _object_also(optional: dict[str, Schema], **properties: Schema) -> Schema:
    """`_object`, with ``optional`` properties besides (present in some answers only)."""
    schema = _object(**properties)
    schema["properties"] = {**properties, **optional}
    return schema


def _list(name: str) -> Schema:
    return {"type": "array", "items": _ref(name)}


def _pairs(item: Schema) -> Schema:
    return {"type": "object", "additionalProperties": item}


def _points(size: int) -> Schema:
    """Curve points: ``[labels, value, ...]``. (``prefixItems`` would say which is the count,
    but schemathesis 4.32 cannot validate responses with it: its issues #3842, #4099.)"""
    point = {"type": "array", "items": {"type": "number", "minimum": 0}}
    return {"type": "array", "items": {**point, "minItems": size, "maxItems": size}}


#: What a multilabel project's metrics add (absent from a classify project's).
_MULTILABEL_METRICS: dict[str, Schema] = {
    **{
        name: _SHARE_OR_NULL
        for name in (
            "micro_f1",
            "macro_f1",
            "hamming_loss",
            "exact_match",
            "rolling_micro_f1",
            "rolling_exact_match",
        )
    },
    "multilabel": _object(
        thresholds=_pairs(_SHARE),
        unbiased={
            "type": "object",
            "properties": {"labels_total": _COUNT}
            | {
                name: _SHARE_OR_NULL
                for name in ("micro_f1", "macro_f1", "hamming_loss", "exact_match")
            },
        },
    ),
}

#: What a spans project's metrics add (absent from the other tasks').
_SPAN_METRICS: dict[str, Schema] = {
    **dict.fromkeys(SPAN_FIGURES, _SHARE_OR_NULL),
    "spans": _object(
        unbiased={
            "type": "object",
            "properties": {"labels_total": _COUNT}
            | {
                name: _SHARE_OR_NULL
                for name in ("precision", "recall", "f1", "token_accuracy", "exact_match")
            },
        },
    ),
}

#: Response bodies, under components/schemas beside the request models.
_SCHEMAS: dict[str, Schema] = {
    "Error": _object(error=_ERROR_BODY),
    "Project": _object(
        name=_PROJECT_NAME,
        labels={"type": "array", "items": _LABEL, "minItems": 1, "uniqueItems": True},
        input={"enum": ["text", "tabular"]},
        model=_STRING,
        strategy=_STRING,
        exploration=_SHARE,
        lease_seconds=_POSITIVE,
        warmup=_COUNT,
        rehearsal=_COUNT,
        routing={"enum": ["pool", "stream"]},
        labels_per_annotator_hour=_POSITIVE,
        diversity=_SHARE,
        gold_share=_SHARE_OR_NULL,
        overlap={"oneOf": [{"type": "null"}, _OVERLAP]},
        gold_min_accuracy=_SHARE_OR_NULL,
        seed=_COUNT,
        created_at={"type": "string", "format": "date-time"},
        task={"enum": ["classify", "multilabel", "spans"]},
        thresholds={"type": ["object", "null"], "additionalProperties": _SHARE},
        preselect=_BOOLEAN,
        guidelines={"type": "string", "maxLength": 20_000},
        label_descriptions={
            "type": ["object", "null"],
            "additionalProperties": {"type": "string", "maxLength": 1000},
        },
        hide_suggestion=_BOOLEAN,
        target={"type": ["integer", "null"], "minimum": 1},
    ),
    "Prediction": {**_object(**_PREDICTION_FIGURES), "allOf": [_ANSWER_PREDICTED]},
    "EventResult": {
        **_object(id=_STRING, queued=_BOOLEAN, duplicate=_BOOLEAN, **_PREDICTION_FIGURES),
        "allOf": [_ANSWER_PREDICTED],
    },
    "LabelResult": {
        "oneOf": [
            _object(event_id=_STRING, label_id=_STRING, model_version=_COUNT, duplicate=_BOOLEAN),
            # Refused for this label alone (its item was already labelled); the rest stand.
            _object(event_id=_STRING, label_id=_STRING, error=_ERROR_BODY),
        ]
    },
    "Metrics": _object_also(
        _MULTILABEL_METRICS | _SPAN_METRICS,
        model_version=_COUNT,
        task={"enum": ["classify", "multilabel", "spans"]},
        labels_total=_COUNT,
        accuracy=_SHARE_OR_NULL,
        rolling_accuracy=_SHARE_OR_NULL,
        window={"type": "integer", "minimum": 1},
        per_class=_pairs(_object(precision=_SHARE_OR_NULL, recall=_SHARE_OR_NULL, support=_COUNT)),
        confusion={**_pairs(_pairs(_COUNT)), "type": ["object", "null"]},
        queue_depth=_COUNT,
        leased=_COUNT,
        shed_total=_COUNT,
        leases_expired_total=_COUNT,
        events_total=_COUNT,
        annotators_online=_COUNT,
        labels_per_minute={"type": "number", "minimum": 0},
        label_backlog=_COUNT,
        unbiased_accuracy=_object(
            estimate=_SHARE_OR_NULL,
            low=_SHARE_OR_NULL,
            high=_SHARE_OR_NULL,
            samples=_COUNT,
            effective_samples=_COUNT,
            method={"enum": ["cross_fit_prediction_powered", "random_draws"]},
        ),
        drift=_object(
            state={"enum": ["none", "warning", "drift"]},
            changed_at=_COUNT,
            warnings_total=_COUNT,
            drifts_total=_COUNT,
            drifts={"type": "array", "items": _COUNT},
        ),
        exploration=_SHARE,
        aged_out_total=_COUNT,
        # Stream mode adds the gate's figures: arrivals_per_hour, budget_per_hour, ...
        routing=_object(mode={"enum": ["pool", "stream"]}),
        label_commits_total=_COUNT,
        journal_dropped_total=_COUNT,
        annotators=_pairs(
            _object(
                labels=_COUNT,
                agreement=_SHARE_OR_NULL,
                corrections=_COUNT,
                online=_BOOLEAN,
                gold={
                    **_object(
                        answered=_COUNT, correct=_COUNT, accuracy=_SHARE, low=_SHARE, high=_SHARE
                    ),
                    "type": ["object", "null"],
                },
                kappa={
                    "type": "object",
                    "additionalProperties": {"type": ["number", "null"], "maximum": 1},
                },
                seconds_per_label={"type": ["number", "null"], "minimum": 0},
                recorded=_COUNT,
                skips=_COUNT,
                state=_ANNOTATOR_STATE,
            )
        ),
        agreement=_object_also(
            # A spans project's: span F1 between annotators (its alpha is null).
            {"f1": _SHARE_OR_NULL, "exact": _SHARE_OR_NULL, "measure": {"enum": ["span_f1"]}},
            alpha={"type": ["number", "null"], "maximum": 1},
            items=_COUNT,
        ),
        overlap_waiting=_COUNT,
        review=_object(waiting=_COUNT, leased=_COUNT),
        progress=_object(labels=_COUNT, target={"type": ["integer", "null"], "minimum": 1}),
        skip_reasons={"type": "object", "additionalProperties": _COUNT},
    ),
    "History": _object(model_version=_COUNT, accuracy=_points(3), unbiased=_points(2)),
}


@dataclass(frozen=True, slots=True)
class Operation:
    """What the routes cannot tell about one operation."""

    summary: str
    #: The success status, its description and its body's schema.
    success: tuple[int, str, Schema]
    #: The errors the handler can answer with, besides the auth middleware's.
    errors: tuple[type[StreamloopError], ...] = ()
    body: type[BaseModel] | None = None
    example: Schema | None = None
    #: The success body's media type.
    media: str = "application/json"


_OK = status.HTTP_200_OK
_TEXT_ITEM = {"text": "I was charged twice"}
_READING = (NotReady,)
_PROJECT_READING = (NotFound, NotReady)
#: Any operation that reads a body (see `streamloop.ws.payloads.read_json` and admission).
_READING_A_BODY = (
    BadRequest,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    InvalidInput,
    TooManyRequests,
    NotReady,
)
_POSTING = (NotFound, *_READING_A_BODY)

#: The list's projects: each with a `summary`, the figures of its metrics that the home page
#: shows (`streamloop.ws.projects.SUMMARY_FIGURES`), so one request fills the page; null when
#: the caller's token may not read the project's metrics.
_SUMMARY: Schema = {
    **_object(
        model_version=_COUNT,
        accuracy_estimate=_SHARE_OR_NULL,
        accuracy_samples=_COUNT,
        queue_depth=_COUNT,
        annotators_online=_COUNT,
        labels_per_minute={"type": "number", "minimum": 0},
    ),
    "type": ["object", "null"],
}
_LISTED_PROJECTS: Schema = {
    "type": "array",
    "items": {"allOf": [_ref("Project"), _object(summary=_SUMMARY)]},
}

_SKIP: Schema = _object(
    event_id=_STRING,
    annotator=_STRING,
    reason={"type": ["string", "null"], "maxLength": 500},
    skipped_at={"type": "string", "format": "date-time"},
)
_NAMES: Schema = {"type": "array", "items": _STRING}
_MODEL: Schema = _object(
    name=_STRING,
    source={"enum": ["preset", "plugin"]},
    input_kinds=_NAMES,
    tasks=_NAMES,
    description={"type": "string"},
    distribution={"type": ["string", "null"]},
    version={"type": ["string", "null"]},
    usable={"type": "boolean"},
    refused={"oneOf": [{"type": "null"}, _object(check=_STRING, why=_STRING)]},
)
_GOLD_STORED: Schema = _object(stored=_COUNT, duplicates=_COUNT)
_ANNOTATOR_CHANGED: Schema = _object(
    annotator=_STRING, state=_ANNOTATOR_STATE, model_version=_COUNT
)

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/healthz", "GET"): Operation("Liveness", (_OK, "Alive.", _object(status={"const": "ok"}))),
    ("/readyz", "GET"): Operation(
        "Readiness",
        (_OK, "Ready to serve.", _object(status={"const": "ready"}, projects=_COUNT)),
        _READING,
    ),
    ("/api/models", "GET"): Operation(
        "The models a project may name: the presets and the installed plugins, each checked",
        (_OK, "Every model, presets first.", _object(models={"type": "array", "items": _MODEL})),
        _READING,
    ),
    ("/api/projects", "POST"): Operation(
        "Create a project",
        (status.HTTP_201_CREATED, "The project as stored.", _ref("Project")),
        (Conflict, *_READING_A_BODY),
        ProjectSpec,
        {"name": "tickets", "labels": ["billing", "bug", "other"], "input": "text"},
    ),
    ("/api/projects", "GET"): Operation(
        "List the projects",
        (_OK, "Every project, with a summary.", _object(projects=_LISTED_PROJECTS)),
        _READING,
    ),
    ("/api/projects/{project}", "GET"): Operation(
        "Read a project", (_OK, "The project.", _ref("Project")), _PROJECT_READING
    ),
    ("/api/projects/{project}", "PATCH"): Operation(
        "Change what annotators are shown: guidelines, label descriptions, the model's "
        "suggestion hidden or not, the target; the other fields cannot change",
        (_OK, "The project as stored now.", _ref("Project")),
        _POSTING,
        ProjectPatch,
        {"guidelines": "Label the **main** problem of the ticket.", "target": 500},
    ),
    ("/api/projects/{project}/events", "POST"): Operation(
        "Score a batch of events and route the uncertain ones to annotators",
        (_OK, "One result per event, in order.", _object(results=_list("EventResult"))),
        _POSTING,
        EventsBody,
        {"events": [{"id": "evt-1", "data": _TEXT_ITEM}]},
    ),
    ("/api/projects/{project}/predict", "POST"): Operation(
        "Score one item without storing it",
        (_OK, "The model's prediction.", _ref("Prediction")),
        _POSTING,
        PredictBody,
        {"data": _TEXT_ITEM},
    ),
    ("/api/projects/{project}/labels", "POST"): Operation(
        "Learn ground truth from production",
        (_OK, "One result per label, in order.", _object(results=_list("LabelResult"))),
        _POSTING,
        ProductionLabelsBody,
        {"labels": [{"event_id": "evt-1", "label": "billing"}]},
    ),
    ("/api/projects/{project}/gold", "POST"): Operation(
        "Store gold items: known answers, mixed into annotators' items unmarked",
        (_OK, "How many were new, and how many stored before.", _GOLD_STORED),
        _POSTING,
        GoldBody,
        {"items": [{"id": "gold-1", "data": _TEXT_ITEM, "label": "billing"}]},
    ),
    ("/api/projects/{project}/items/{event_id}/review", "POST"): Operation(
        "Send a labelled item to review: a reviewer settles what the model learns from it",
        (
            status.HTTP_202_ACCEPTED,
            "The item waits for a reviewer.",
            _object(item_id=_STRING, status={"const": "review"}, reason=_STRING),
        ),
        (Conflict, *_POSTING),
        EmptyBody,
        {},
    ),
    ("/api/projects/{project}/annotators/{annotator}/quarantine", "POST"): Operation(
        "Take an annotator's labels out of the model: it is rebuilt without them",
        (
            status.HTTP_202_ACCEPTED,
            "Their state, and the rebuilt model's version.",
            _ANNOTATOR_CHANGED,
        ),
        (Conflict, *_POSTING),
        EmptyBody,
        {},
    ),
    ("/api/projects/{project}/annotators/{annotator}/release", "POST"): Operation(
        "Count an annotator's labels again: the model is rebuilt with them",
        (
            status.HTTP_202_ACCEPTED,
            "Their state, and the rebuilt model's version.",
            _ANNOTATOR_CHANGED,
        ),
        (Conflict, *_POSTING),
        EmptyBody,
        {},
    ),
    ("/api/projects/{project}/models/{model}/promote", "POST"): Operation(
        "Serve production with a challenger from the next request: no relabelling, no "
        "redeploy; the model serving before becomes a challenger",
        (
            _OK,
            "The model serving now, its version, and the challengers.",
            _object(model=_STRING, model_version=_COUNT, challengers=_NAMES),
        ),
        _POSTING,
        EmptyBody,
        {},
    ),
    ("/api/projects/{project}/metrics", "GET"): Operation(
        "The project's figures", (_OK, "The metrics object.", _ref("Metrics")), _PROJECT_READING
    ),
    ("/api/projects/{project}/model", "GET"): Operation(
        "Download the model: its River pipeline, pickled, with its version in the headers",
        (_OK, "The pickle.", {"type": "string", "contentMediaType": "application/octet-stream"}),
        _PROJECT_READING,
        media="application/octet-stream",
    ),
    ("/api/projects/{project}/skips", "GET"): Operation(
        "The latest items annotators skipped, newest first, with the reasons they gave "
        "(?limit=, 1 to 1000, default 100)",
        (_OK, "The skips.", _object(skips={"type": "array", "items": _SKIP})),
        (InvalidInput, *_PROJECT_READING),
    ),
    ("/api/projects/{project}/history", "GET"): Operation(
        "The accuracy curve so far", (_OK, "The curve.", _ref("History")), _PROJECT_READING
    ),
}


async def openapi_json(request: Request) -> Response:
    """``GET /openapi.json``: the document of the application's own routes."""
    return OrjsonResponse(openapi_of(request, lambda: build(request.app.routes)))


def build(routes: Iterable[BaseRoute]) -> Schema:
    """The document of ``routes``; raises ``LookupError`` if they and ``OPERATIONS`` differ."""
    schemas = dict(_SCHEMAS)
    paths: dict[str, dict[str, Schema]] = {}
    undocumented = []
    for route, method in _documented(routes):
        operation = OPERATIONS.get((route.path, method))
        if operation is None:
            undocumented.append(f"{method} {route.path}")
            continue
        paths.setdefault(route.path, {})[method.lower()] = _operation(route, operation, schemas)
    if undocumented:
        raise LookupError(f"no entry in streamloop.ws.openapi.OPERATIONS for {undocumented}")
    gone = [f"{m} {path}" for path, m in OPERATIONS if m.lower() not in paths.get(path, {})]
    if gone:
        raise LookupError(f"streamloop.ws.openapi.OPERATIONS documents missing routes {gone}")
    components = {"schemas": schemas, "securitySchemes": _SECURITY_SCHEMES}
    document = {"openapi": "3.1.0", "info": _INFO, "paths": paths, "components": components}
    # Its parts are module constants shared between documents: each caller gets its own.
    return copy.deepcopy(document)


def _documented(routes: Iterable[BaseRoute]) -> list[tuple[Route, str]]:
    return [
        (route, method)
        for route in routes
        if isinstance(route, Route) and (route.path.startswith("/api/") or route.path in _OPS_PATHS)
        # Starlette answers HEAD wherever it answers GET.
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]


def _operation(route: Route, operation: Operation, schemas: dict[str, Schema]) -> Schema:
    code, description, body = operation.success
    responses: dict[str, Schema] = {
        str(code): {"description": description, "content": {operation.media: {"schema": body}}}
    }
    api = route.path.startswith("/api/")
    for error in (*operation.errors, *_SAME_ORIGIN_ERRORS, *(_AUTH_ERRORS if api else ())):
        responses[str(error.http_status)] = _error_response(error)
    document: Schema = {"operationId": route.name, "summary": operation.summary}
    if api:
        document["security"] = _SECURITY
    parameters = _path_parameters(route.path)
    if parameters:
        document["parameters"] = parameters
    if operation.body is not None:
        document["requestBody"] = _request_body(operation.body, operation.example, schemas)
    document["responses"] = dict(sorted(responses.items()))
    return document


def _path_parameters(path: str) -> list[Schema]:
    names = _PATH_PARAMETER.findall(path)
    if unknown := set(names) - _PATH_PARAMETERS.keys():
        raise LookupError(f"no schema for the path parameters {sorted(unknown)} of {path}")
    return [
        {"name": n, "in": "path", "required": True, "schema": _PATH_PARAMETERS[n]} for n in names
    ]


def _json(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error_response(error: type[StreamloopError]) -> Schema:
    response = _json((error.__doc__ or error.__name__).strip(), _ref("Error"))
    if error.http_status in _ERROR_HEADERS:
        name, description, kind = _ERROR_HEADERS[error.http_status]
        header = {"description": description, "required": True, "schema": {"type": kind}}
        response["headers"] = {name: header}
    return response


def _request_body(
    model: type[BaseModel], example: Schema | None, schemas: dict[str, Schema]
) -> Schema:
    schema = model.model_json_schema(ref_template=_REF_TEMPLATE)
    for name, definition in {**schema.pop("$defs", {}), model.__name__: schema}.items():
        if schemas.setdefault(name, definition) != definition:
            raise ValueError(f"two different schemas are named {name!r}")
    media: Schema = {"schema": _ref(model.__name__)}
    if example is not None:
        media["example"] = example
    return {"required": True, "content": {"application/json": media}}
