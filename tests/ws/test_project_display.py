"""What annotators are shown of a project: guidelines, label descriptions, the model's
suggestion hidden, a target; set on creation, changed with PATCH, sent to open sockets."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from streamloop.store import Store
from streamloop.store.database import sqlalchemy_url
from support import project_spec, running

GUIDELINES = "# Tickets\n\nLabel the **main** problem. <script>alert(1)</script> stays as given."
DESCRIPTIONS = {"billing": "Money: invoices, refunds, prices.", "bug": "Something is broken."}


async def test_the_fields_are_stored_and_reach_annotators_and_reviewers(service):
    created = await service.create_project(
        guidelines=GUIDELINES, label_descriptions=DESCRIPTIONS, hide_suggestion=True, target=500
    )
    shown = {
        "guidelines": GUIDELINES,
        "label_descriptions": DESCRIPTIONS,
        "hide_suggestion": True,
        "target": 500,
    }
    assert created.items() >= shown.items()
    read = (await service.http.get("/api/projects/tickets")).json()
    assert read.items() >= shown.items()
    async with service.annotator("tickets", "alice") as alice:
        hello = await alice.recv()
        assert hello["project"].items() >= shown.items()
    async with service.reviewer("tickets", "rita") as rita:
        hello = await rita.recv()
        assert hello["project"].items() >= shown.items()


async def test_the_defaults_show_nothing_more(service):
    created = await service.create_project()
    assert created["guidelines"] == ""
    assert created["label_descriptions"] is None
    assert created["hide_suggestion"] is False
    assert created["target"] is None


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"label_descriptions": {"refund": "money back"}}, "label_descriptions: 'refund'"),
        ({"label_descriptions": {"bug": "x" * 1001}}, "label_descriptions.bug"),
        ({"guidelines": "x" * 20_001}, "guidelines"),
        ({"guidelines": "a\x00b"}, "guidelines"),
        ({"target": 0}, "target"),
        ({"target": 1.5}, "target"),
        ({"hide_suggestion": "yes"}, "hide_suggestion"),
        (
            {"task": "multilabel", "preselect": True, "hide_suggestion": True},
            "hide_suggestion",
        ),
    ],
)
async def test_bad_fields_are_refused_naming_them(service, fields, named):
    response = await service.http.post("/api/projects", json=project_spec(**fields))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert named in error["message"]


async def test_patch_changes_them_and_open_sockets_are_sent_the_project(service):
    await service.create_project(guidelines="old")
    async with (
        service.annotator("tickets", "alice") as alice,
        service.reviewer("tickets", "rita") as rita,
    ):
        assert (await alice.recv())["project"]["guidelines"] == "old"
        assert (await rita.recv())["project"]["guidelines"] == "old"
        response = await service.http.patch(
            "/api/projects/tickets",
            json={"guidelines": "new", "label_descriptions": {"other": "none of these"}},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["guidelines"] == "new"
        assert body["label_descriptions"] == {"other": "none of these"}
        assert body["target"] is None and body["labels"] == ["billing", "bug", "other"]
        for socket in (alice, rita):
            frame = await socket.expect("project")
            assert frame["project"] == body
    read = (await service.http.get("/api/projects/tickets")).json()
    assert read["guidelines"] == "new"
    # Only what is sent changes.
    response = await service.http.patch("/api/projects/tickets", json={"target": 10})
    assert response.json()["guidelines"] == "new" and response.json()["target"] == 10
    # A new connection is shown the new project.
    async with service.annotator("tickets", "bob") as bob:
        assert (await bob.recv())["project"]["target"] == 10


async def test_patch_survives_a_restart(settings):
    async with running(settings) as service:
        await service.create_project()
        response = await service.http.patch(
            "/api/projects/tickets", json={"hide_suggestion": True, "target": 3}
        )
        assert response.status_code == 200, response.text
    async with running(settings) as service:
        read = (await service.http.get("/api/projects/tickets")).json()
        assert read["hide_suggestion"] is True and read["target"] == 3


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"labels": ["a", "b"]}, "labels: cannot change after creation"),
        ({"lease_seconds": 5, "target": 3}, "lease_seconds: cannot change after creation"),
        ({"colour": "blue"}, "colour: unknown field"),
        ({"label_descriptions": {"refund": "x"}}, "label_descriptions: 'refund'"),
        ({"target": -1}, "target"),
    ],
)
async def test_patch_refuses_what_cannot_change_or_is_invalid(service, body, named):
    await service.create_project()
    response = await service.http.patch("/api/projects/tickets", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and named in error["message"]
    read = (await service.http.get("/api/projects/tickets")).json()
    assert read["target"] is None and read["lease_seconds"] == 120.0


async def test_patch_refuses_hiding_the_suggestion_of_a_preselecting_project(service):
    await service.create_project(task="multilabel", preselect=True)
    response = await service.http.patch("/api/projects/tickets", json={"hide_suggestion": True})
    assert response.status_code == 422, response.text
    assert "hide_suggestion" in response.json()["error"]["message"]


async def test_patch_of_an_unknown_project_is_404(service):
    response = await service.http.patch("/api/projects/nothing", json={"target": 3})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_project"


async def test_patch_needs_an_admin_token(settings):
    store = Store(settings.database_url)
    try:
        admin = store.tokens.create("root", "admin")[1]
        supervisor = store.tokens.create("sue", "supervisor")[1]
    finally:
        store.close()
    async with running(settings) as service:
        headers = {"authorization": f"Bearer {admin}"}
        response = await service.http.post("/api/projects", json=project_spec(), headers=headers)
        assert response.status_code == 201
        response = await service.http.patch(
            "/api/projects/tickets",
            json={"target": 3},
            headers={"authorization": f"Bearer {supervisor}"},
        )
        assert response.status_code == 403
        response = await service.http.patch(
            "/api/projects/tickets", json={"target": 3}, headers=headers
        )
        assert response.status_code == 200 and response.json()["target"] == 3


async def test_a_database_of_an_earlier_version_gains_the_columns(settings):
    async with running(settings) as service:
        await service.create_project()
    engine = create_engine(sqlalchemy_url(settings.database_url))
    with engine.begin() as conn:
        for column in ("guidelines", "label_descriptions", "hide_suggestion", "target"):
            conn.execute(text(f'ALTER TABLE projects DROP COLUMN "{column}"'))
    engine.dispose()
    async with running(settings) as service:
        read = (await service.http.get("/api/projects/tickets")).json()
        assert read["guidelines"] == "" and read["hide_suggestion"] is False
        assert read["label_descriptions"] is None and read["target"] is None
