"""Projects over HTTP: create, list, read, and every way a spec can be wrong."""

from __future__ import annotations

import pickle
from importlib.metadata import version

import pytest

from streamloop.store import Store
from support import running, ticket

ROLES = ("admin", "producer", "annotator", "supervisor")


async def test_a_created_project_is_returned_listed_and_readable(service):
    created = await service.create_project(
        name="tickets", strategy="entropy", exploration=0.2, lease_seconds=30
    )
    assert created["name"] == "tickets"
    assert created["labels"] == ["billing", "bug", "other"]
    assert (created["input"], created["model"]) == ("text", "logistic_regression")
    assert (created["strategy"], created["exploration"]) == ("entropy", 0.2)
    assert created["lease_seconds"] == 30
    listed = (await service.http.get("/api/projects")).json()["projects"]
    assert [p["name"] for p in listed] == ["tickets"]
    assert (await service.http.get("/api/projects/tickets")).json() == created


async def test_defaults_fill_optional_fields(service):
    response = await service.http.post("/api/projects", json={"name": "p", "labels": ["x", "y"]})
    assert response.status_code == 201
    body = response.json()
    assert body["strategy"] == "margin" and body["input"] == "text"
    assert body["exploration"] == 0.2 and body["lease_seconds"] == 120
    # Evidence-based defaults (BENCHMARKS.md): a random warm-up, rehearsal for SGD models.
    assert body["warmup"] == 20 and body["rehearsal"] == 3


async def test_an_existing_name_is_a_conflict(service):
    await service.create_project(name="dup")
    response = await service.http.post("/api/projects", json={"name": "dup", "labels": ["a", "b"]})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "project_exists"


async def test_an_unknown_project_is_404(service):
    response = await service.http.get("/api/projects/nope")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "unknown_project",
            "message": "no project named 'nope'",
            "retryable": False,
        }
    }


@pytest.mark.parametrize(
    ("spec", "mentions"),
    [
        ({"name": "Bad Name", "labels": ["a", "b"]}, "name"),
        ({"name": "x" * 65, "labels": ["a", "b"]}, "name"),
        ({"name": "p", "labels": ["a"]}, "labels"),
        ({"name": "p", "labels": ["a", "a"]}, "distinct"),
        ({"name": "p", "labels": ["a", ""]}, "labels"),
        ({"name": "p", "labels": ["a", "b"], "model": "gpt"}, "model"),
        ({"name": "p", "labels": ["a", "b"], "strategy": "vibes"}, "strategy"),
        ({"name": "p", "labels": ["a", "b"], "input": "image"}, "input"),
        ({"name": "p", "labels": ["a", "b"], "exploration": 1.5}, "exploration"),
        ({"name": "p", "labels": ["a", "b"], "lease_seconds": 0}, "lease_seconds"),
        ({"name": "p", "labels": ["a", "b"], "colour": "red"}, "unknown field"),
        ({"name": "p", "labels": ["a", "b"], "warmup": -1}, "warmup"),
        ({"name": "p", "labels": ["a", "b"], "rehearsal": 99}, "rehearsal"),
        ({"name": "p", "labels": ["a", "b"], "exploration": "0.5"}, "exploration"),
        ({"labels": ["a", "b"]}, "name"),
        (["not", "an", "object"], "object"),
    ],
)
async def test_an_invalid_spec_is_422_and_says_why(service, spec, mentions):
    response = await service.http.post("/api/projects", json=spec)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert mentions in error["message"]
    assert (await service.http.get("/api/projects")).json()["projects"] == []


async def test_malformed_json_is_400(service):
    response = await service.http.post(
        "/api/projects", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


async def test_an_unknown_route_answers_in_the_error_shape(service):
    response = await service.http.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = await service.http.delete("/api/projects")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_the_downloaded_model_is_the_river_pipeline_being_served(service):
    await service.create_project()
    labels = ["billing", "bug", "other"]
    events = [{"id": f"e{n}", "data": ticket(labels[n % 3], n)} for n in range(30)]
    await service.send_events("tickets", events)
    truth = [{"event_id": f"e{n}", "label": labels[n % 3]} for n in range(30)]
    assert (
        await service.http.post("/api/projects/tickets/labels", json={"labels": truth})
    ).status_code == 200

    response = await service.http.get("/api/projects/tickets/model")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-streamloop-model-version"] == "30"
    assert response.headers["x-river-version"] == version("river")
    assert "tickets-v30.pkl" in response.headers["content-disposition"]
    pipeline = pickle.loads(response.content)  # as the README says to load it elsewhere
    probe = ticket("bug", 1001)
    served = (await service.http.post("/api/projects/tickets/predict", json={"data": probe})).json()
    local = pipeline.predict_proba_one(probe)
    assert max(local, key=local.get) == served["prediction"]
    assert [local[label] for label in labels] == pytest.approx(
        [served["probabilities"][label] for label in labels]
    )


async def test_the_list_gives_each_project_a_summary_of_the_figures_the_home_page_shows(service):
    await service.create_project()
    events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(3)]
    await service.send_events("tickets", events)
    [listed] = (await service.http.get("/api/projects")).json()["projects"]
    assert listed["summary"]["accuracy_estimate"] is None  # nothing to estimate from yet
    # Warm-up items are random draws: the second, predicted by a model that learned the
    # first, is the estimate's first sample.
    async with service.annotator("tickets", "alice") as alice:
        for n in range(2):
            item = (await alice.next_item())["item"]["id"]
            assert (await alice.label(item, "bug", f"l-{n}"))["type"] == "ack"

    [listed] = (await service.http.get("/api/projects")).json()["projects"]
    summary = listed.pop("summary")
    metrics = await service.metrics("tickets")
    estimate = metrics["unbiased_accuracy"]["estimate"]
    assert estimate is not None
    # Two labels, learned; the other event waits; alice gone; the labels within the minute.
    assert summary == {
        "model_version": 2,
        "accuracy_estimate": estimate,
        "accuracy_samples": metrics["unbiased_accuracy"]["samples"],
        "queue_depth": 1,
        "annotators_online": 0,
        "labels_per_minute": 2.0,
    }
    assert listed == (await service.http.get("/api/projects/tickets")).json()


async def test_the_list_summarises_a_project_only_for_a_token_that_may_read_its_metrics(settings):
    store = Store(settings.database_url)
    try:
        tokens = {role: store.tokens.create(role, role)[1] for role in ROLES}
    finally:
        store.close()
    async with running(settings) as service:
        service.http.headers["authorization"] = f"Bearer {tokens['admin']}"
        await service.create_project()
        summaries = {}
        for role, secret in tokens.items():
            response = await service.http.get(
                "/api/projects", headers={"authorization": f"Bearer {secret}"}
            )
            [listed] = response.json()["projects"]
            summaries[role] = listed["summary"]
    # The roles that may read GET /api/projects/{project}/metrics: the figures are theirs.
    assert {role for role, summary in summaries.items() if summary is not None} == {
        "admin",
        "supervisor",
    }
    assert summaries["supervisor"]["queue_depth"] == 0
