"""The OpenAPI document: it lists every API route, and the API keeps to it (schemathesis)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from streamloop.app import create_app
from streamloop.config import Settings
from streamloop.ws.openapi import OPERATIONS, build
from streamloop.ws.routes import routes
from support import project_spec, ticket

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PROJECT = "tickets"
#: Mostly the projects and events that exist (see `app_with_projects`), so that requests get
#: past 404 and labels are learned; now and then generated values, so the 404s are checked too.
CONFIG = {
    "dictionaries": {
        "projects": {"values": [PROJECT, "readings"]},
        "labels": {"values": ["billing", "bug", "other", "low", "high"]},
        "events": {"values": ["evt-1", "r-1"]},
        "models": {"values": ["logistic_regression", "naive_bayes"]},
    },
    "parameters": {
        "path.project": {"dictionary": "projects", "probability": 0.8},
        "path.event_id": {"dictionary": "events", "probability": 0.8},
        "path.model": {"dictionary": "models", "probability": 0.8},
        "body.labels[*].label": {"dictionary": "labels", "probability": 0.7},
        "body.labels[*].event_id": {"dictionary": "events", "probability": 0.7},
    },
}


def api_routes() -> set[tuple[str, str]]:
    return {
        (route.path, method.lower())
        for route in routes()
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in route.methods or ()
        if method != "HEAD"
    }


#: The document to test the API against; a test below checks that the app serves the same.
SCHEMA = schemathesis.openapi.from_dict(
    build(routes()), config=schemathesis.Config.from_dict(CONFIG)
)


@pytest.fixture
def app(tmp_path):
    """A streamloop with no project yet; the first call starts its lifespan, and schemathesis's
    pytest plugin ends it when the test ends."""
    return create_app(Settings.from_env({}, data_dir=tmp_path / "data", allow_host=("testserver",)))


@pytest.fixture
def app_with_projects(app):
    """Two projects, text and tabular, each with an event."""
    call(app, "/api/projects", "POST", project_spec(PROJECT))
    call(
        app,
        "/api/projects",
        "POST",
        project_spec("readings", labels=["low", "high"], input="tabular"),
    )
    events = "/api/projects/{project}/events"
    call(app, events, "POST", {"events": [{"id": "evt-1", "data": ticket("billing", 1)}]})
    reading = {"id": "r-1", "data": {"temperature": 21.5, "door": "open"}}
    call(app, events, "POST", {"events": [reading]}, project="readings")
    return app


def call(app, path: str, method: str, body: Any, project: str = PROJECT, checks=CHECKS) -> Any:
    """Send one request, checking the response against the document."""
    fields: dict[str, Any] = {} if body is None else {"body": body}
    if "{project}" in path:
        fields["path_parameters"] = {"project": project}
    if "{event_id}" in path:
        fields["path_parameters"]["event_id"] = "evt-1"
    if "{annotator}" in path:
        fields["path_parameters"]["annotator"] = "alice"
    if "{model}" in path:  # the model serving: promoting it changes nothing
        fields["path_parameters"]["model"] = "logistic_regression"
    return SCHEMA[path][method].Case(**fields).call_and_validate(checks=checks, app=app)


def test_the_document_lists_every_api_route():
    document = build(routes())
    documented = {
        (path, method)
        for path, operations in document["paths"].items()
        if path.startswith("/api/")
        for method in operations
    }
    assert documented == api_routes() and len(documented) == 17
    assert {"/healthz", "/readyz"} <= document["paths"].keys()


def test_every_api_operation_documents_auth_and_the_error_shape():
    document = build(routes())
    schemes = document["components"]["securitySchemes"]
    assert schemes == {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            failures = {code: r for code, r in responses.items() if int(code) >= 400}
            assert all(
                r["content"]["application/json"]["schema"] == error for r in failures.values()
            )
            if path.startswith("/api/"):
                assert operation["security"] == [{}, {"bearerAuth": []}]
                assert {"401", "403"} <= failures.keys(), path
    for path in ("/api/projects/{project}/events", "/api/projects/{project}/labels"):
        busy = document["paths"][path]["post"]["responses"]["429"]
        assert busy["headers"]["Retry-After"]["required"] is True


def test_without_a_token_every_api_operation_answers_its_documented_401(tmp_path):
    # Beyond loopback, auth is on even before any token exists (ws/auth.py).
    app = create_app(
        Settings.from_env(
            {}, data_dir=tmp_path / "data", host="0.0.0.0", allow_host=("testserver",)
        )
    )
    checks = [*CHECKS, response_headers_conformance]  # WWW-Authenticate
    for (path, method), operation in OPERATIONS.items():
        response = call(app, path, method, operation.example, checks=checks)
        if path.startswith("/api/"):
            assert response.status_code == 401, (path, method)
            assert response.json()["error"]["code"] == "token_required"
        else:
            assert response.status_code == 200, path


def test_the_app_serves_a_valid_document_of_its_routes(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    assert schema.raw_schema == build(routes())
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(OPERATIONS)


def test_a_route_missing_from_the_table_fails_the_build():
    async def endpoint(_request):
        return PlainTextResponse("")

    with pytest.raises(LookupError, match=re.escape("DELETE /api/projects/{project}")):
        build([*routes(), Route("/api/projects/{project}", endpoint, methods=["DELETE"])])
    gone = [r for r in routes() if not (isinstance(r, Route) and r.path.endswith("/history"))]
    with pytest.raises(LookupError, match=re.escape("GET /api/projects/{project}/history")):
        build(gone)


def test_each_documented_example_gets_its_documented_success(app):
    """In the table's order, which is a client's: create the project, send events, ..."""
    for (path, method), operation in OPERATIONS.items():
        if path.endswith("/quarantine"):
            # Quarantine names an annotator who gave the project something: alice answers the
            # example's gold item.
            store = app.state.service.store
            project = store.project(PROJECT)
            [gold] = store.gold_items(project.id)
            store.answer_gold(project.id, gold.id, "alice", gold.label, "alice-0")
        response = call(app, path, method, operation.example)
        assert response.status_code == operation.success[0], (path, method, response.text)


def test_the_example_label_is_learned(app_with_projects):
    labels = OPERATIONS[("/api/projects/{project}/labels", "POST")].example
    response = call(app_with_projects, "/api/projects/{project}/labels", "POST", labels)
    [result] = response.json()["results"]
    assert (result["event_id"], result["model_version"], result["duplicate"]) == ("evt-1", 1, False)
    metrics = call(app_with_projects, "/api/projects/{project}/metrics", "GET", None).json()
    assert metrics["labels_total"] == 1 and metrics["per_class"]["billing"]["support"] == 1


@SCHEMA.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    # One app per operation, shared by its examples: state builds up as it would in service.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_the_api_keeps_to_its_document(case, app_with_projects):
    case.call_and_validate(checks=CHECKS, app=app_with_projects)
