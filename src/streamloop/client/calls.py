"""The HTTP API as plain values: each request to make, how to split big ones, how to read answers.

Nothing here does I/O, so `Client` and `AsyncClient` share all of it and differ only in how they
send a `Call` and how they wait before a retry.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import orjson

from streamloop.client.errors import StreamloopError, error_from_response

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_BODY_BYTES",
    "Answer",
    "Call",
    "Event",
    "Gold",
    "Label",
    "SpanLike",
    "annotate_url",
    "annotator_call",
    "answer_fields",
    "backoff_delay",
    "create_project_call",
    "event_calls",
    "get_call",
    "gold_calls",
    "gold_needs_task",
    "headers",
    "json_list",
    "json_object",
    "label_calls",
    "labels_need_task",
    "parse_response",
    "patch_project_call",
    "predict_call",
    "retry_delay",
    "review_call",
    "skips_call",
]

#: The service's default limits (``STREAMLOOP_MAX_EVENTS_PER_REQUEST``, ``..._MAX_BODY_BYTES``).
DEFAULT_BATCH_SIZE = 1000
DEFAULT_MAX_BODY_BYTES = 1_048_576

#: Longest wait between two retries when the service names no delay.
_BACKOFF_CAP = 30.0


class SpanLike(Protocol):
    """A span given as an object (``streamloop.online.Span``, a named tuple, ...): ``start``
    and ``end``, character offsets into the item's text (end exclusive), and a ``label``.

    A spaCy ``Span`` is not one: its ``start`` and ``end`` count tokens and its ``label`` is a
    number; give ``{"start": s.start_char, "end": s.end_char, "label": s.label_}``.
    """

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def label(self) -> str: ...


#: A production event: ``{"id": ..., "data": {...}}`` or ``(id, data)``.
Event = Mapping[str, Any] | tuple[str, Mapping[str, Any]]
#: An answer: one label (a ``classify`` project), sent as ``label``; a label set (a
#: ``multilabel`` project: a list, tuple or set of labels), sent as ``labels``; or spans (a
#: ``spans`` project: a list of ``{"start", "end", "label"}`` dicts or `SpanLike` objects),
#: sent as ``spans``. An empty list is sent in the project's task's field (`answer_fields`).
Answer = str | Collection[str] | Collection[Mapping[str, Any]] | Collection[SpanLike]
#: Production ground truth: ``(event_id, answer)``, ``(event_id, answer, label_id)`` or a dict
#: (which may carry a ``comment``).
Label = Mapping[str, Any] | tuple[str, Answer] | tuple[str, Answer, str]
#: A gold item: ``{"id", "data", "label", "labels" or "spans"}`` or an (id, data, answer)
#: triple.
Gold = Mapping[str, Any] | tuple[str, Mapping[str, Any], Answer]

#: What a span is sent with; other keys of a dict (a prediction's ``score``, Prodigy's
#: ``token_start``) are left out.
_SPAN_KEYS = ("start", "end", "label")


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request: method, path (below the base URL), JSON body already encoded.

    ``idempotent`` calls may be sent again after a 429 or 503: events and labels are
    deduplicated by their ids, reads change nothing. Creating a project is not retried.
    """

    method: str
    path: str
    content: bytes | None = None
    idempotent: bool = True

    @property
    def headers(self) -> dict[str, str] | None:
        """The request's own headers (the token is the client's)."""
        return {"content-type": "application/json"} if self.content is not None else None


def headers(token: str | None) -> dict[str, str]:
    """Headers for every request (and the WebSocket handshake).

    >>> headers("sl_abc")
    {'authorization': 'Bearer sl_abc'}
    >>> headers(None)
    {}
    """
    return {"authorization": f"Bearer {token}"} if token else {}


def _project_path(project: str, *rest: str) -> str:
    return "/".join(["/api/projects", quote(project, safe=""), *rest])


def get_call(project: str | None = None, what: str | None = None) -> Call:
    """A GET: every project, one project, or one project's ``metrics``/``history``.

    >>> get_call().path, get_call("tickets").path, get_call("tickets", "metrics").path
    ('/api/projects', '/api/projects/tickets', '/api/projects/tickets/metrics')
    """
    if project is None:
        return Call("GET", "/api/projects")
    return Call("GET", _project_path(project, *([what] if what else [])))


#: ``GET /api/models``: the presets and the installed plugins a project may name.
MODELS_CALL = Call("GET", "/api/models")


def create_project_call(name: str, labels: Iterable[str], options: Mapping[str, Any]) -> Call:
    """``POST /api/projects``; ``options`` are the contract's optional fields.

    >>> create_project_call("tickets", ["bug", "other"], {"input": "text"}).content
    b'{"name":"tickets","labels":["bug","other"],"input":"text"}'
    """
    body = {"name": name, "labels": list(labels), **options}
    return Call("POST", "/api/projects", orjson.dumps(body), idempotent=False)


def patch_project_call(name: str, changes: Mapping[str, Any]) -> Call:
    """``PATCH /api/projects/{name}``: change what annotators are shown (``guidelines``,
    ``label_descriptions``, ``hide_suggestion``, ``target``). Sending it again changes
    nothing more, so it may be retried.

    >>> call = patch_project_call("tickets", {"target": 500})
    >>> call.method, call.path, call.content
    ('PATCH', '/api/projects/tickets', b'{"target":500}')
    """
    return Call("PATCH", _project_path(name), orjson.dumps(dict(changes)))


def skips_call(project: str, limit: int = 100) -> Call:
    """``GET .../skips?limit=``: the latest items annotators skipped, and why.

    >>> skips_call("tickets", 5).path
    '/api/projects/tickets/skips?limit=5'
    """
    return Call("GET", f"{_project_path(project, 'skips')}?{urlencode({'limit': limit})}")


def annotator_call(project: str, annotator: str, action: str) -> Call:
    """``POST .../annotators/{annotator}/quarantine`` or ``.../release``: asking again for the
    state an annotator is in changes nothing, so it may be retried.

    >>> annotator_call("tickets", "alice", "quarantine").path
    '/api/projects/tickets/annotators/alice/quarantine'
    """
    return Call(
        "POST", _project_path(project, "annotators", quote(annotator, safe=""), action), b"{}"
    )


def promote_call(project: str, model: str) -> Call:
    """``POST .../models/{model}/promote``: promoting the model serving changes nothing, so
    it may be retried.

    >>> promote_call("tickets", "acme:ngrams").path
    '/api/projects/tickets/models/acme%3Angrams/promote'
    """
    return Call("POST", _project_path(project, "models", quote(model, safe=""), "promote"), b"{}")


def predict_call(project: str, data: Mapping[str, Any]) -> Call:
    return Call("POST", _project_path(project, "predict"), orjson.dumps({"data": data}))


def review_call(project: str, event_id: str) -> Call:
    """``POST .../items/{event_id}/review``: send a labelled item to review.

    >>> review_call("tickets", "evt/1").path
    '/api/projects/tickets/items/evt%2F1/review'
    """
    path = _project_path(project, "items", quote(event_id, safe=""), "review")
    return Call("POST", path, b"{}")


def event_calls(
    project: str,
    events: Iterable[Event],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Iterator[Call]:
    """``POST .../events`` requests for ``events``: ``{"id", "data"}`` dicts or (id, data) pairs.

    Each request has at most ``batch_size`` events and, unless one event alone is larger, at
    most ``max_body_bytes`` of body; results come back in the order given.

    >>> calls = list(event_calls("t", [(f"e{n}", {"text": "hi"}) for n in range(2500)]))
    >>> [call.content.count(b'"id"') for call in calls]
    [1000, 1000, 500]
    >>> calls[0].path
    '/api/projects/t/events'
    >>> big = [(f"e{n}", {"text": "x" * 400}) for n in range(10)]
    >>> [call.content.count(b'"id"') for call in event_calls("t", big, max_body_bytes=2000)]
    [4, 4, 2]
    """
    path = _project_path(project, "events")
    encoded = (orjson.dumps(_event(event)) for event in events)
    for batch in _batches(encoded, batch_size, max_body_bytes, envelope=len(b'{"events":[]}')):
        yield Call("POST", path, b'{"events":[' + b",".join(batch) + b"]}")


def label_calls(
    project: str,
    labels: Iterable[Label],
    *,
    task: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Iterator[Call]:
    """``POST .../labels`` requests for production ground truth, split like `event_calls`.

    A label is an ``(event_id, answer)`` pair, an ``(event_id, answer, label_id)`` triple, or a
    dict with ``event_id``, ``label`` (or ``labels``, or ``spans``) and optionally
    ``label_id``. An answer is one label, a label set or spans; ``task`` is the project's,
    for empty ones (see `answer_fields`).

    >>> [call.content for call in label_calls("t", [("e1", "bug"), ("e2", "other", "fix-2")])]
    [b'{"labels":[{"event_id":"e1","label":"bug"},{"event_id":"e2","label":"other","label_id":"fix-2"}]}']
    >>> [call.content for call in label_calls("t", [("e1", ["bug", "ui"]), ("e2", set())])]
    [b'{"labels":[{"event_id":"e1","labels":["bug","ui"]},{"event_id":"e2","labels":[]}]}']
    >>> [call.content for call in label_calls("t", [("e1", []), {"event_id": "e2", "spans":
    ...     [{"start": 0, "end": 3, "label": "PER", "score": 0.9}]}], task="spans")]
    [b'{"labels":[{"event_id":"e1","spans":[]},{"event_id":"e2","spans":[{"start":0,"end":3,"label":"PER"}]}]}']
    """
    path = _project_path(project, "labels")
    encoded = (orjson.dumps(_label(label, task)) for label in labels)
    for batch in _batches(encoded, batch_size, max_body_bytes, envelope=len(b'{"labels":[]}')):
        yield Call("POST", path, b'{"labels":[' + b",".join(batch) + b"]}")


def gold_calls(
    project: str,
    items: Iterable[Gold],
    *,
    task: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Iterator[Call]:
    """``POST .../gold`` requests for gold items, split like `event_calls`. A gold item is an
    ``(id, data, answer)`` triple or a dict with keys ``id``, ``data`` and ``label`` (or
    ``labels``, or ``spans``); the answer is a label, a label set or spans, as for
    `label_calls`.

    >>> [call.content for call in gold_calls("t", [("g1", {"text": "hi"}, "bug")])]
    [b'{"items":[{"id":"g1","data":{"text":"hi"},"label":"bug"}]}']
    >>> [call.content for call in gold_calls("t", [("g1", {"text": "hi"}, ("ui", "bug"))])]
    [b'{"items":[{"id":"g1","data":{"text":"hi"},"labels":["ui","bug"]}]}']
    """
    path = _project_path(project, "gold")
    encoded = (orjson.dumps(_gold(item, task)) for item in items)
    for batch in _batches(encoded, batch_size, max_body_bytes, envelope=len(b'{"items":[]}')):
        yield Call("POST", path, b'{"items":[' + b",".join(batch) + b"]}")


def answer_fields(answer: Answer, task: str | None = None) -> dict[str, Any]:
    """An answer as the contract sends it: ``label`` for one label, ``labels`` for a label
    set, ``spans`` for spans.

    A str is one label. A collection of str is a label set, sent as a list (a set in sorted
    order: the service stores a set in the project's order of labels anyway). A collection of
    spans, dicts with ``start``, ``end`` and ``label`` or `SpanLike` objects, is sent as a list
    of ``{"start", "end", "label"}`` (a dict's other keys, such as a prediction's ``score``,
    are left out). An empty collection is no label of a set, or no span: it is sent as
    ``spans`` when ``task`` (the project's) is ``"spans"``, else as ``labels``.

    >>> answer_fields("bug")
    {'label': 'bug'}
    >>> answer_fields(("ui", "bug")), answer_fields({"ui", "bug"}), answer_fields([])
    ({'labels': ['ui', 'bug']}, {'labels': ['bug', 'ui']}, {'labels': []})
    >>> answer_fields([{"start": 0, "end": 3, "label": "PER", "score": 0.8}])
    {'spans': [{'start': 0, 'end': 3, 'label': 'PER'}]}
    >>> answer_fields([], task="spans")
    {'spans': []}
    >>> answer_fields({"bug", 3})
    Traceback (most recent call last):
    ...
    TypeError: a label set holds labels (str), not int
    """
    if isinstance(answer, str):  # a str is a Collection[str] too: one label, not a set
        return {"label": answer}
    if isinstance(answer, Mapping) or not isinstance(answer, Collection):
        raise TypeError(
            "an answer is a label (str), a label set (list of str) or spans (list of spans), "
            f"not {type(answer).__name__}"
        )
    items: list[Any] = list(answer)
    if not items:
        return {"spans" if task == "spans" else "labels": []}
    if any(isinstance(item, str) for item in items):
        for label in items:
            if not isinstance(label, str):
                raise TypeError(f"a label set holds labels (str), not {type(label).__name__}")
        return {"labels": sorted(items) if isinstance(answer, (set, frozenset)) else items}
    return {"spans": [_span(item) for item in items]}


def _span(span: Any) -> dict[str, Any]:
    """A span as the contract sends it; a dict's values are the service's to judge."""
    if isinstance(span, Mapping):
        return {key: span[key] for key in _SPAN_KEYS if key in span}
    if not all(hasattr(span, key) for key in _SPAN_KEYS):
        raise TypeError(
            "a label set holds labels (str), and spans are dicts or objects with start, end "
            f"and label: not {type(span).__name__}"
        )
    if not isinstance(span.label, str):
        raise TypeError(
            f"a span's label is a str, not {type(span.label).__name__} (a spaCy Span counts "
            "tokens: give its start_char, end_char and label_)"
        )
    return {"start": span.start, "end": span.end, "label": span.label}


def _empty(answer: Any) -> bool:
    """Whether ``answer`` is an empty collection, whose field is the project's task's."""
    return isinstance(answer, Collection) and not isinstance(answer, str | Mapping) and not answer


def labels_need_task(labels: Sequence[Label]) -> bool:
    """Whether sending ``labels`` needs the project's task: one of them is an empty answer
    given without its field (not under ``labels`` or ``spans``).

    >>> labels_need_task([("e1", ["bug"]), {"event_id": "e2", "labels": []}])
    False
    >>> labels_need_task([("e1", [])])
    True
    """
    return any(
        _empty(label[1] if isinstance(label, tuple) else label.get("label")) for label in labels
    )


def gold_needs_task(items: Sequence[Gold]) -> bool:
    """Whether sending gold ``items`` needs the project's task, as `labels_need_task`."""
    return any(_empty(item[2] if isinstance(item, tuple) else item.get("label")) for item in items)


def _answered(body: Mapping[str, Any], task: str | None) -> Mapping[str, Any]:
    """A dict as given, but its answer as the contract sends it: a label set as a list under
    ``labels`` (one given under ``label``, or as a tuple or set), spans as dicts of start, end
    and label alone. Anything else is the service's to judge.
    """
    label, labels, spans = body.get("label"), body.get("labels"), body.get("spans")
    if isinstance(label, (list, tuple, set, frozenset)) and labels is None and spans is None:
        answer = answer_fields(label, task)
    elif isinstance(labels, (tuple, set, frozenset)) and label is None:
        answer = answer_fields(labels, "multilabel")
    elif isinstance(spans, (list, tuple)) and all(_spanlike(span) for span in spans):
        answer = {"spans": [_span(span) for span in spans]}
    else:
        return body
    rest = {key: value for key, value in body.items() if key not in ("label", "labels", "spans")}
    return {**rest, **answer}


def _spanlike(span: Any) -> bool:
    return isinstance(span, Mapping) or all(hasattr(span, key) for key in _SPAN_KEYS)


def _gold(item: Gold, task: str | None) -> Mapping[str, Any]:
    if isinstance(item, tuple):
        gold_id, data, answer = item
        return {"id": gold_id, "data": data, **answer_fields(answer, task)}
    return _answered(item, task)


def _event(event: Event) -> Mapping[str, Any]:
    if isinstance(event, tuple):
        event_id, data = event
        return {"id": event_id, "data": data}
    return event


def _label(label: Label, task: str | None) -> Mapping[str, Any]:
    if isinstance(label, tuple):
        body: dict[str, Any] = {"event_id": label[0], **answer_fields(label[1], task)}
        if len(label) == 3:
            body["label_id"] = label[2]
        return body
    return _answered(label, task)


def _batches(
    items: Iterable[bytes], size: int, max_bytes: int, *, envelope: int
) -> Iterator[list[bytes]]:
    """Encoded items grouped so a group has at most ``size`` items and fits in ``max_bytes``."""
    batch: list[bytes] = []
    length = envelope
    for item in items:
        if batch and (len(batch) >= size or length + 1 + len(item) > max_bytes):
            yield batch
            batch, length = [], envelope
        batch.append(item)
        length += len(item) + 1  # and its comma
    if batch:
        yield batch


def annotate_url(base_url: str, project: str, annotator: str | None, prefetch: int) -> str:
    """The annotate socket's URL (the token goes in a header, never in the URL).

    >>> annotate_url("https://sl.example.com/prefix/", "tickets", "bot-1", 2)
    'wss://sl.example.com/prefix/ws/projects/tickets/annotate?prefetch=2&annotator=bot-1'
    """
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    query: dict[str, str | int] = {"prefetch": prefetch}
    if annotator is not None:
        query["annotator"] = annotator
    return f"{base}/ws/projects/{quote(project, safe='')}/annotate?{urlencode(query)}"


def parse_response(status: int, response_headers: Mapping[str, str], content: bytes) -> Any:
    """The JSON body of a 2xx answer; any other answer raises its `StreamloopError`."""
    if 200 <= status < 300:
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            text = content[:200].decode("utf-8", "replace")
            raise StreamloopError(
                "http_error", f"HTTP {status}, not JSON: {text}", status
            ) from None
    raise error_from_response(status, response_headers, content)


def json_object(body: Any) -> dict[str, Any]:
    """``body``, checked to be the JSON object the contract promises.

    >>> json_object({"name": "tickets"})
    {'name': 'tickets'}
    >>> json_object([1])
    Traceback (most recent call last):
    ...
    streamloop.client.errors.StreamloopError: http_error: expected a JSON object, got list
    """
    if not isinstance(body, dict):
        raise StreamloopError("http_error", f"expected a JSON object, got {type(body).__name__}")
    return body


def json_list(body: Any, key: str) -> list[dict[str, Any]]:
    """The list of objects under ``key`` in ``body`` (``projects``, ``results``).

    >>> json_list({"results": [{"id": "e1"}]}, "results")
    [{'id': 'e1'}]
    """
    value = json_object(body).get(key)
    if not isinstance(value, list):
        raise StreamloopError("http_error", f"expected a list under {key!r}")
    return value


def backoff_delay(attempt: int, base: float) -> float:
    """Exponential backoff with jitter: about ``base * 2**attempt``, at most 30 s.

    >>> 0.5 <= backoff_delay(0, 1.0) <= 1.0 and 4.0 <= backoff_delay(3, 1.0) <= 8.0
    True
    """
    ceiling = min(_BACKOFF_CAP, base * 2.0**attempt)
    return ceiling * random.uniform(0.5, 1.0)


def retry_delay(error: StreamloopError, attempt: int, retries: int, backoff: float) -> float | None:
    """How long to wait before attempt ``attempt + 1``, or None to give up and raise ``error``.

    The service's ``Retry-After`` wins; otherwise exponential backoff from ``backoff`` seconds.

    >>> busy = StreamloopError("learner_busy", "later", 429, retry_after=1.0, retryable=True)
    >>> retry_delay(busy, 0, 5, 0.5), retry_delay(busy, 5, 5, 0.5)
    (1.0, None)
    >>> retry_delay(StreamloopError("unknown_label", "no", 422), 0, 5, 0.5) is None
    True
    """
    if not error.retryable or attempt >= retries:
        return None
    if error.retry_after is not None:
        return error.retry_after
    return backoff_delay(attempt, backoff)
