"""``POST /events``'s body read without pydantic when well formed: the same pairs, the same
errors."""

from __future__ import annotations

from typing import Any

import pytest

from streamloop.config import Settings
from streamloop.errors import InvalidInput
from streamloop.ws.payloads import EventsBody, check_bounds, event_pairs, nesting, parse

BODIES: list[Any] = [
    {"events": [{"id": "e1", "data": {"text": "hi"}}, {"id": "é" * 256, "data": {}}]},
    {"events": [{"data": {"f": 1.5}, "id": "a\nb"}]},
    {"events": []},
    {"events": [{"id": "", "data": {}}]},
    {"events": [{"id": "x" * 257, "data": {}}]},
    {"events": [{"id": "a\x00b", "data": {}}]},
    {"events": [{"id": 7, "data": {}}]},
    {"events": [{"id": "e1", "data": []}]},
    {"events": [{"id": "e1", "data": {}, "extra": 1}]},
    {"events": [{"id": "e1"}]},
    {"events": [{"id": "e1", "data": None}]},
    {"events": [{"id": "e1", "data": {}}, "e2"]},
    {"events": [{"id": "e1", "data": {}}], "more": True},
    {"events": {"id": "e1", "data": {}}},
    {"other": []},
    {},
    [],
    "events",
]


def pydantic_answer(body: Any) -> Any:
    try:
        return [(event.id, event.data) for event in parse(EventsBody, body).events]
    except InvalidInput as exc:
        return exc.body()


def our_answer(body: Any) -> Any:
    try:
        return event_pairs(body)
    except InvalidInput as exc:
        return exc.body()


@pytest.mark.parametrize("body", BODIES)
def test_event_pairs_answer_as_pydantic_does(body: Any):
    assert our_answer(body) == pydantic_answer(body)


@pytest.mark.parametrize(
    "data",
    [{"f": 1.0}, {}, {"f": {"g": {"h": 1}}}, {"f": [[[]]]}, {"f": [1, 2], "g": "x"}, {"f": {}}],
)
@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_too_deep_is_what_the_walk_says(data: dict[str, Any], depth: int):
    settings = Settings.from_env({}, max_data_depth=depth)
    try:
        check_bounds("text", data, settings)
        code = None
    except InvalidInput as exc:
        code = exc.code
    assert (code == "too_deep") == (nesting(data, depth) > depth)
