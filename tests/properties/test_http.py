"""Properties of the HTTP API under any input: errors keep their shape, nothing is lost.

The contract promises: every error is ``{"error": {"code": "<snake_case>", "message": "..."}}``
with a fitting HTTP status; bad input never loses data that was already acknowledged.
Hypothesis throws arbitrary JSON, arbitrary bytes and near-valid requests (a valid one with one
field broken) at one live service per database, and each property compares the service with a
small model of what it acknowledged.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from properties.live import ERROR_STATUSES, assert_error_body, assert_scored
from properties.strategies import (
    LABELS,
    PROPERTY,
    SEEDED,
    event_data,
    event_requests,
    label_requests,
    predict_requests,
    spec_requests,
)

#: Hundreds of Hypothesis examples against a live service: `-m "not slow"` leaves them out of
#: a quick run; CI runs them.
pytestmark = pytest.mark.slow


@settings(PROPERTY, max_examples=150)
@given(attempt=spec_requests)
def test_creating_a_project_answers_any_body_in_the_contract(live, attempt):
    before = set(live.projects)
    response = live.post("/api/projects", attempt.body)
    attempt.check(response)
    if response.status_code in {201, 409}:
        spec = json.loads(attempt.body)
        # 409 exactly for a name created before, whatever else the spec says.
        assert (response.status_code == 409) == (spec["name"] in before), response.text
    if response.status_code == 201:
        created = response.json()
        for key, value in spec.items():
            if value is not None:  # null takes the default
                assert created[key] == value, (key, created)
        live.projects.add(spec["name"])
    listed = live.http.get("/api/projects")
    assert listed.status_code == 200, listed.text
    assert {project["name"] for project in listed.json()["projects"]} == live.projects
    live.assert_no_server_errors()


@pytest.mark.parametrize("input_kind", ["text", "tabular"])
@PROPERTY
@given(data=st.data())
def test_events_are_stored_exactly_when_acknowledged(live, input_kind, data):
    project = live.new_project(input=input_kind)
    attempts = data.draw(st.lists(event_requests(input_kind), min_size=1, max_size=6))
    stored: set[str] = set()
    for attempt in attempts:
        response = live.post(f"/api/projects/{project}/events", attempt.body)
        attempt.check(response)
        if response.status_code == 200:
            ids = [event["id"] for event in json.loads(attempt.body)["events"]]
            results = response.json()["results"]
            assert [result["id"] for result in results] == ids
            expected = []
            for event_id in ids:
                expected.append(event_id in stored)
                stored.add(event_id)
            assert [result["duplicate"] for result in results] == expected, results
            for result in results:
                assert_scored(result, LABELS)
        # A refused batch stores nothing; an acknowledged one, each new id exactly once.
        assert live.metrics(project)["events_total"] == len(stored)
    assert live.http.get(f"/api/projects/{project}").status_code == 200
    live.assert_no_server_errors()


@pytest.mark.parametrize("input_kind", ["text", "tabular"])
@settings(PROPERTY, max_examples=100)
@given(data=st.data())
def test_predict_answers_any_body_and_stores_nothing(live, input_kind, data):
    project = live.shared_project(f"predict-{input_kind}", input=input_kind)
    attempt = data.draw(predict_requests(input_kind))
    response = live.post(f"/api/projects/{project}/predict", attempt.body)
    attempt.check(response)
    if response.status_code == 200:
        scored = response.json()
        assert set(scored) == {"prediction", "probabilities", "uncertainty", "model_version"}
        assert_scored(scored, LABELS)
    assert live.metrics(project)["events_total"] == 0
    live.assert_no_server_errors()


def check_labels_answer(
    response: httpx.Response, labels: list[dict[str, Any]], learned: dict[str, str]
) -> None:
    """The oracle of a well-formed labels request; ``learned`` (event -> label_id) is updated.

    An unknown label is 422, then an unknown event 404, and nothing is learned; otherwise each
    item is learned once: its label id again is a duplicate, another label id already_labelled.
    """
    if any(label["label"] not in LABELS for label in labels):
        assert (response.status_code, response.json()["error"]["code"]) == (422, "unknown_label")
        return
    if any(label["event_id"] not in SEEDED for label in labels):
        assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_event")
        return
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == len(labels)
    for label, result in zip(labels, results, strict=True):
        event_id = label["event_id"]
        label_id = label.get("label_id", f"event:{event_id}")
        assert (result["event_id"], result["label_id"]) == (event_id, label_id), result
        if learned.get(event_id) == label_id:
            assert result.get("duplicate") is True, result
        elif event_id in learned:
            assert result["error"]["code"] == "already_labelled", result
        else:
            assert result.get("duplicate") is False, result
            learned[event_id] = label_id


@pytest.mark.parametrize("input_kind", ["text", "tabular"])
@PROPERTY
@given(data=st.data())
def test_production_labels_are_learned_exactly_when_acknowledged(live, input_kind, data):
    project = live.new_project(input=input_kind)
    seeded = data.draw(st.lists(event_data(input_kind), min_size=6, max_size=6), label="seeded")
    live.send_events(project, [{"id": e, "data": d} for e, d in zip(SEEDED, seeded, strict=True)])
    learned: dict[str, str] = {}
    for attempt in data.draw(st.lists(label_requests(), min_size=1, max_size=6), label="steps"):
        response = live.post(f"/api/projects/{project}/labels", attempt.body)
        attempt.check(response)
        if attempt.why == "labels":
            check_labels_answer(response, json.loads(attempt.body)["labels"], learned)
        else:
            assert response.status_code >= 400, f"accepted: {attempt.body!r}"
        metrics = live.metrics(project)
        assert (metrics["labels_total"], metrics["model_version"]) == (len(learned), len(learned))
    live.assert_no_server_errors()


KNOWN = "@known"  # stands for a project that exists
PROJECT_PATHS = [
    "/api/projects/{}",
    "/api/projects/{}/events",
    "/api/projects/{}/predict",
    "/api/projects/{}/labels",
    "/api/projects/{}/metrics",
    "/api/projects/{}/history",
]


@settings(PROPERTY, max_examples=150)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    template=st.sampled_from(PROJECT_PATHS),
    # Dot segments would be resolved away by the client, to another route.
    name=st.just(KNOWN) | st.text(min_size=1, max_size=30).filter(lambda n: n not in {".", ".."}),
    body=st.binary(max_size=100),
)
def test_any_method_on_any_project_path_answers_in_the_contract(live, method, template, name, body):
    known = live.shared_project("paths")
    name = known if name == KNOWN else name
    response = live.http.request(
        method,
        template.format(quote(name, safe="")),
        content=body,
        headers={"content-type": "application/json"},
    )
    note(f"{method} {response.url} -> {response.status_code} {response.text[:300]}")
    assert response.status_code != 500, response.text
    if response.status_code >= 400:
        # 405 for a method a route does not have: not in the contract's list, but fitting.
        code = assert_error_body(response, ERROR_STATUSES | {405})
        event(f"{response.status_code} {code}")
    # The server decodes %2F: a name with a slash may name another route, or a redirect.
    if name not in live.projects and "/" not in name:
        assert response.status_code in {404, 405}, response.text
    live.assert_no_server_errors()
