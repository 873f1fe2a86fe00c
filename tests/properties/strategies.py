"""Hypothesis strategies for the HTTP API: any body, and near-valid ones (one field broken).

Each request carries the statuses and the error code the contract gives it
(:class:`~properties.live.Request`), and the limits it is made against are the live service's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from properties.live import MAX_BODY_BYTES, MAX_EVENTS, Request, encode

LABELS = ["billing", "bug", "other"]
PRESETS = ["logistic_regression", "naive_bayes", "hoeffding_tree", "adaptive_random_forest"]
STRATEGIES = ["margin", "entropy", "least_confidence", "random"]

PROPERTY = settings(
    max_examples=50,
    deadline=None,
    # The one function-scoped fixture only clears the server's error log before each test.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


# Bodies.

#: Characters of UTF-8 text (no lone surrogates) but NUL, which identifiers may not hold.
clean_characters = st.characters(codec="utf-8", exclude_characters="\x00")
clean_text = st.text(clean_characters, max_size=20)
json_scalars = (
    st.none()
    | st.booleans()
    # orjson reads integers past 64 bits as floats; far past, as infinity (refused as 400).
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
not_strings = json_values.filter(lambda value: not isinstance(value, str))
not_objects = json_values.filter(lambda value: not isinstance(value, dict))


@st.composite
def encoded(draw: st.DrawFn, value: Any) -> bytes:
    """``value`` as JSON, sometimes \\u-escaped, sometimes with extra white space."""
    body = encode(value, ascii_only=draw(st.booleans()))
    if draw(st.booleans()):
        body = b" \n" + body + b"\t "
    return body


@st.composite
def arbitrary_bodies(draw: st.DrawFn, valid_statuses: frozenset[int]) -> Request:
    """Any JSON value (422 unless it happens to be valid) or any bytes (400 or 422)."""
    if draw(st.booleans()):
        value = draw(json_values)
        return Request("any JSON", draw(encoded(value)), valid_statuses | {422})
    return Request("any bytes", draw(st.binary(max_size=300)), valid_statuses | {400, 422})


@st.composite
def whole_body_breaks(draw: st.DrawFn, value: dict[str, Any]) -> Request:
    """A valid body broken as a whole: cut short, not UTF-8, wrapped, over the size limit."""
    body = encode(value)
    how = draw(st.sampled_from(["truncated", "not utf-8", "wrapped", "too large"]))
    if how == "truncated":
        cut = draw(st.integers(1, len(body) - 1))
        return Request(how, body[:cut], frozenset({400}), "malformed_json")
    if how == "not utf-8":
        at = draw(st.integers(1, len(body) - 2))
        return Request(how, body[:at] + b"\xff" + body[at:], frozenset({400}), "malformed_json")
    if how == "wrapped":
        return Request(how, encode([value]), frozenset({422}), "invalid_input")
    padding = draw(st.integers(MAX_BODY_BYTES - len(body) + 1, 2 * MAX_BODY_BYTES))
    return Request(how, body + b" " * padding, frozenset({413}), "body_too_large")


# Projects.

NAME_POOL = [f"clash-{n}" for n in range(5)]  # names drawn again and again: later ones are 409
project_names = st.sampled_from(NAME_POOL) | st.from_regex(r"[a-z0-9_-]{1,64}", fullmatch=True)
label_names = st.text(clean_characters, min_size=1, max_size=128)
OPTIONAL_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "input": st.sampled_from(["text", "tabular"]),
    "model": st.sampled_from(PRESETS),
    "strategy": st.sampled_from(STRATEGIES),
    "exploration": st.floats(0.0, 1.0),
    "lease_seconds": st.floats(0.0, 86_400.0, exclude_min=True),
    "warmup": st.integers(0, 10_000),
    "rehearsal": st.integers(0, 20) | st.none(),
    "routing": st.sampled_from(["pool", "stream"]),
    "labels_per_annotator_hour": st.floats(0.0, 100_000.0, exclude_min=True),
    "diversity": st.floats(0.0, 1.0),
    "seed": st.integers(0, 2**31 - 1),
}


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec = {
        "name": draw(project_names),
        "labels": draw(st.lists(label_names, min_size=2, max_size=6, unique=True)),
    }
    for field in draw(st.sets(st.sampled_from(sorted(OPTIONAL_FIELDS)))):
        spec[field] = draw(OPTIONAL_FIELDS[field])
    return spec


def _outside(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite floats outside [low, high]."""
    below = st.floats(max_value=math.nextafter(low, -math.inf), allow_infinity=False)
    above = st.floats(min_value=math.nextafter(high, math.inf), allow_infinity=False)
    return below | above


def _unknown_name(prefix: str) -> st.SearchStrategy[str]:
    return clean_text.map(lambda rest: f"{prefix}{rest}")


#: For each field, values the contract refuses (422).
SPEC_BREAKERS: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(["", "Tickets", "a b", "a/b", "é", "x" * 65, "ok\n"]) | not_strings,
    "labels": st.sampled_from(
        [
            [],
            ["only"],
            ["a", "a"],
            ["a", ""],
            ["a", "b\x00"],
            ["a", "x" * 129],
            [str(n) for n in range(1001)],
        ]
    )
    | st.lists(not_strings, min_size=2, max_size=3)
    | not_strings.filter(lambda value: not isinstance(value, list)),
    "input": _unknown_name("not-") | not_strings,
    "model": _unknown_name("no-such-model") | not_strings,
    "strategy": _unknown_name("no-such-strategy") | not_strings,
    "exploration": _outside(0.0, 1.0) | st.booleans() | st.text(max_size=5) | st.none(),
    "lease_seconds": _outside(0.0, 86_400.0) | st.just(0.0),
    "warmup": st.integers(max_value=-1)
    | st.integers(min_value=10_001, max_value=2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans(),
    "rehearsal": st.integers(max_value=-1) | st.integers(21, 2**62) | st.text(max_size=3),
    "routing": _unknown_name("not-"),
    "labels_per_annotator_hour": _outside(0.0, 100_000.0) | st.just(0.0),
    "diversity": _outside(0.0, 1.0),
    "seed": st.integers(max_value=-1) | st.integers(2**31, 2**62) | st.floats(0.5, 0.75),
}


@st.composite
def broken_specs(draw: st.DrawFn) -> Request:
    """A valid spec with one thing wrong."""
    spec = draw(valid_specs())
    how = draw(st.sampled_from(["field", "missing", "unknown field", "whole body"]))
    if how == "whole body":
        return draw(whole_body_breaks(spec))
    if how == "missing":
        del spec[draw(st.sampled_from(["name", "labels"]))]
    elif how == "unknown field":
        field = draw(st.text(min_size=1, max_size=10).filter(lambda f: f not in OPTIONAL_FIELDS))
        if field in {"name", "labels"}:
            field = f"x-{field}"
        spec[field] = draw(json_values)
    else:
        field = draw(st.sampled_from(sorted(SPEC_BREAKERS)))
        spec[field] = draw(SPEC_BREAKERS[field])
        how = f"bad {field}"
    return Request(f"spec, {how}", draw(encoded(spec)), frozenset({422}), "invalid_input")


spec_requests = st.one_of(
    valid_specs().flatmap(
        lambda spec: encoded(spec).map(
            lambda body: Request("valid spec", body, frozenset({201, 409}))
        )
    ),
    broken_specs(),
    arbitrary_bodies(frozenset({201, 409})),
)


# Events.

EVENT_IDS = [f"evt-{n}" for n in range(8)]  # drawn again and again: duplicates, refused then sent
event_ids = st.sampled_from(EVENT_IDS) | st.text(clean_characters, min_size=1, max_size=30)
tabular_values = (
    st.floats(-1e150, 1e150)
    | st.integers(-(2**70), 2**70)
    | st.booleans()
    | st.text(max_size=10)
    | st.none()
)


def event_data(input_kind: str) -> st.SearchStrategy[dict[str, Any]]:
    if input_kind == "text":
        extra = st.dictionaries(
            st.text(max_size=8).filter(lambda k: k != "text"), json_values, max_size=3
        )
        return st.builds(lambda text, more: {**more, "text": text}, st.text(max_size=60), extra)
    return st.dictionaries(st.text(max_size=8), tabular_values, min_size=1, max_size=5).filter(
        lambda data: any(value is not None for value in data.values())
    )


def valid_events(input_kind: str, max_size: int = 5) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(
        st.builds(lambda i, d: {"id": i, "data": d}, event_ids, event_data(input_kind)),
        min_size=1,
        max_size=max_size,
    )


#: Ways to break one event, with the error code each must get.
EVENT_BREAKERS: dict[str, tuple[str, Callable[[st.DrawFn, dict[str, Any], str], None]]] = {
    "no id": ("invalid_input", lambda draw, e, kind: e.pop("id")),
    "no data": ("invalid_input", lambda draw, e, kind: e.pop("data")),
    "id not a string": (
        "invalid_input",
        lambda draw, e, kind: e.update(id=draw(not_strings)),
    ),
    "bad id": (
        "invalid_input",
        lambda draw, e, kind: e.update(id=draw(st.sampled_from(["", "a\x00b", "x" * 257]))),
    ),
    "extra field": (
        "invalid_input",
        lambda draw, e, kind: e.update(extra=draw(json_values)),
    ),
    "data not an object": (
        "invalid_input",
        lambda draw, e, kind: e.update(data=draw(not_objects)),
    ),
}
TEXT_BREAKERS: dict[str, Callable[[st.DrawFn, dict[str, Any]], None]] = {
    "text not a string": lambda draw, data: data.update(text=draw(not_strings)),
    "no text": lambda draw, data: data.pop("text"),
}
TABULAR_BREAKERS: dict[str, Callable[[st.DrawFn, dict[str, Any]], None]] = {
    "nested value": lambda draw, data: data.update(
        {
            draw(st.text(max_size=8)): draw(
                st.lists(json_values, max_size=2)
                | st.dictionaries(st.text(max_size=3), json_values, max_size=2)
            )
        }
    ),
    "number too large": lambda draw, data: data.update(
        {draw(st.text(max_size=8)): draw(_outside(-1e150, 1e150))}
    ),
    "no value": lambda draw, data: data.update(dict.fromkeys(data)),
}


@st.composite
def broken_batches(draw: st.DrawFn, input_kind: str) -> Request:
    """A valid batch with one thing wrong: one event, the envelope, or the body as a whole."""
    events = draw(valid_events(input_kind))
    body: Any = {"events": events}
    how = draw(st.sampled_from(["event", "data", "envelope", "too many", "whole body"]))
    code = "invalid_input"
    if how == "whole body":
        return draw(whole_body_breaks(body))
    if how == "too many":
        extra = draw(st.integers(MAX_EVENTS + 1 - len(events), MAX_EVENTS + 5 - len(events)))
        data = {"text": "x"} if input_kind == "text" else {"x": 1}
        body["events"] = events + [{"id": f"many-{n}", "data": data} for n in range(extra)]
        return Request(how, encode(body), frozenset({413}), "too_many_events")
    victim = events[draw(st.integers(0, len(events) - 1))]
    if how == "event":
        how = draw(st.sampled_from(sorted(EVENT_BREAKERS)))
        code, breaker = EVENT_BREAKERS[how]
        breaker(draw, victim, input_kind)
    elif how == "data":
        breakers = TEXT_BREAKERS if input_kind == "text" else TABULAR_BREAKERS
        how = draw(st.sampled_from(sorted(breakers)))
        breakers[how](draw, victim["data"])
        code = "invalid_data"
    else:
        how = draw(st.sampled_from(["empty", "not a list", "extra field", "renamed"]))
        if how == "empty":
            body["events"] = []
        elif how == "not a list":
            body["events"] = draw(json_values.filter(lambda v: not isinstance(v, list)))
        elif how == "extra field":
            body["more"] = draw(json_values)
        else:
            body = {"evts": events}
    return Request(f"batch, {how}", draw(encoded(body)), frozenset({422}), code)


def event_requests(input_kind: str) -> st.SearchStrategy[Request]:
    valid = valid_events(input_kind).flatmap(
        lambda events: encoded({"events": events}).map(
            lambda body: Request("valid batch", body, frozenset({200}))
        )
    )
    return st.one_of(valid, broken_batches(input_kind), arbitrary_bodies(frozenset({200})))


@st.composite
def predict_requests(draw: st.DrawFn, input_kind: str) -> Request:
    data = draw(event_data(input_kind))
    how = draw(st.sampled_from(["valid", "broken", "whole body", "any"]))
    if how == "valid":
        return Request("valid predict", draw(encoded({"data": data})), frozenset({200}))
    if how == "whole body":
        return draw(whole_body_breaks({"data": data}))
    if how == "any":
        return draw(arbitrary_bodies(frozenset({200})))
    breakers = TEXT_BREAKERS if input_kind == "text" else TABULAR_BREAKERS
    breaker = draw(st.sampled_from(["not an object", "extra field", "no data", *breakers]))
    body: dict[str, Any] = {"data": data}
    code = "invalid_input"
    if breaker == "not an object":
        body["data"] = draw(not_objects)
    elif breaker == "extra field":
        body["more"] = draw(json_values)
    elif breaker == "no data":
        del body["data"]
    else:
        breakers[breaker](draw, data)
        code = "invalid_data"
    return Request(f"predict, {breaker}", draw(encoded(body)), frozenset({422}), code)


# Labels.

SEEDED = [f"evt-{n}" for n in range(6)]
LABEL_IDS = {event: [f"{event}-label-{n}" for n in range(2)] for event in SEEDED}

#: Identifiers the contract refuses (null is left out: an optional label_id may be null).
bad_ids = not_strings.filter(lambda v: v is not None) | st.sampled_from(["", "a\x00b", "x" * 257])


@st.composite
def production_labels(draw: st.DrawFn) -> dict[str, Any]:
    event = draw(st.sampled_from([*SEEDED, "ghost"]))
    label = {"event_id": event, "label": draw(st.sampled_from([*LABELS, "cat"]))}
    if event != "ghost" and draw(st.booleans()):
        label["label_id"] = draw(st.sampled_from(LABEL_IDS[event]))
    return label


@st.composite
def label_requests(draw: st.DrawFn) -> Request:
    labels = draw(st.lists(production_labels(), min_size=1, max_size=4))
    how = draw(st.sampled_from(["valid", "valid", "broken", "too many", "whole body", "any"]))
    if how == "valid":
        return Request("labels", draw(encoded({"labels": labels})), frozenset({200, 404, 422}))
    if how == "too many":
        labels = labels + [labels[0]] * (MAX_EVENTS + 1 - len(labels))
        return Request(how, encode({"labels": labels}), frozenset({413}), "too_many_labels")
    if how == "whole body":
        return draw(whole_body_breaks({"labels": labels}))
    if how == "any":
        return draw(arbitrary_bodies(frozenset({200, 404})))
    victim = labels[draw(st.integers(0, len(labels) - 1))]
    breaker = draw(st.sampled_from(["event_id", "label", "label_id", "extra", "empty"]))
    body: dict[str, Any] = {"labels": labels}
    if breaker == "empty":
        body["labels"] = []
    elif breaker == "extra":
        victim[draw(st.sampled_from(["tags", "weight", "event"]))] = draw(json_values)
    elif breaker == "label":
        victim["label"] = draw(not_strings)
    else:
        victim[breaker] = draw(bad_ids)
    return Request(f"labels, bad {breaker}", draw(encoded(body)), frozenset({422}), "invalid_input")
