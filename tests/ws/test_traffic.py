"""Production traffic: scoring batches, duplicates, predict, ground-truth labels, limits."""

from __future__ import annotations

import pytest

from support import ticket


async def test_events_are_scored_and_queued_before_any_label(service):
    await service.create_project()
    results = await service.send_events(
        "tickets",
        [
            {"id": "evt-1", "data": ticket("billing", 1)},
            {"id": "evt-2", "data": ticket("bug", 2)},
        ],
    )
    assert [r["id"] for r in results] == ["evt-1", "evt-2"]
    for result in results:
        assert result["prediction"] is None
        assert result["probabilities"] == pytest.approx(
            {"billing": 1 / 3, "bug": 1 / 3, "other": 1 / 3}
        )
        assert result["uncertainty"] == pytest.approx(1.0)
        assert result["model_version"] == 0
        assert result["queued"] is True and result["duplicate"] is False
    metrics = await service.metrics("tickets")
    assert (metrics["events_total"], metrics["queue_depth"]) == (2, 2)


async def test_a_repeated_event_id_is_a_duplicate_not_a_second_item(service):
    await service.create_project()
    await service.send_events("tickets", [{"id": "evt-1", "data": ticket("bug", 1)}])
    results = await service.send_events(
        "tickets",
        [
            {"id": "evt-1", "data": ticket("bug", 1)},
            {"id": "evt-2", "data": ticket("bug", 2)},
            {"id": "evt-2", "data": ticket("bug", 2)},
        ],
    )
    assert [r["duplicate"] for r in results] == [True, False, True]
    metrics = await service.metrics("tickets")
    assert (metrics["events_total"], metrics["queue_depth"]) == (2, 2)


async def test_predict_scores_without_storing(service):
    await service.create_project()
    response = await service.http.post(
        "/api/projects/tickets/predict", json={"data": ticket("bug", 3)}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"prediction", "probabilities", "uncertainty", "model_version"}
    assert (await service.metrics("tickets"))["events_total"] == 0


async def test_production_labels_teach_the_model_once(service):
    await service.create_project()
    events = [
        {"id": f"e{i}", "data": ticket(label, i)}
        for i, label in enumerate(["billing", "bug", "other"] * 10)
    ]
    await service.send_events("tickets", events)
    labels = [
        {"event_id": e["id"], "label": ["billing", "bug", "other"][i % 3]}
        for i, e in enumerate(events)
    ]
    response = await service.http.post("/api/projects/tickets/labels", json={"labels": labels})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["model_version"] for r in results] == list(range(1, 31))
    assert not any(r["duplicate"] for r in results)
    again = await service.http.post("/api/projects/tickets/labels", json={"labels": labels[:5]})
    assert all(r["duplicate"] for r in again.json()["results"])
    metrics = await service.metrics("tickets")
    assert metrics["labels_total"] == 30 and metrics["model_version"] == 30
    # Labelled items leave the annotators' queue.
    assert metrics["queue_depth"] == 0
    predicted = await service.http.post(
        "/api/projects/tickets/predict", json={"data": ticket("bug", 100)}
    )
    assert predicted.json()["prediction"] == "bug"


async def test_a_label_for_an_unknown_event_is_404_and_nothing_is_learned(service):
    await service.create_project()
    await service.send_events("tickets", [{"id": "e1", "data": ticket("bug", 1)}])
    response = await service.http.post(
        "/api/projects/tickets/labels",
        json={
            "labels": [{"event_id": "e1", "label": "bug"}, {"event_id": "ghost", "label": "bug"}]
        },
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_event"
    assert (await service.metrics("tickets"))["labels_total"] == 0


async def test_a_label_outside_the_project_is_422(service):
    await service.create_project()
    await service.send_events("tickets", [{"id": "e1", "data": ticket("bug", 1)}])
    response = await service.http.post(
        "/api/projects/tickets/labels", json={"labels": [{"event_id": "e1", "label": "cat"}]}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_label"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"events": [{"id": "e1", "data": {"txt": "no text field"}}]}, "invalid_data"),
        ({"events": [{"id": "e1", "data": {"text": 42}}]}, "invalid_data"),
        ({"events": [{"id": "e1"}]}, "invalid_input"),
        ({"events": [{"id": 7, "data": {"text": "id is not a string"}}]}, "invalid_input"),
        ({"events": []}, "invalid_input"),
        ({"evts": []}, "invalid_input"),
    ],
)
async def test_a_bad_event_batch_is_422_and_stores_nothing(service, body, code):
    await service.create_project()
    response = await service.http.post("/api/projects/tickets/events", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert (await service.metrics("tickets"))["events_total"] == 0


async def test_tabular_data_must_be_flat(service):
    await service.create_project(name="tab", input="tabular")
    bad = await service.http.post(
        "/api/projects/tab/events", json={"events": [{"id": "e1", "data": {"x": {"nested": 1}}}]}
    )
    assert bad.status_code == 422
    assert "must be a number, boolean or string" in bad.json()["error"]["message"]
    huge = await service.http.post(
        "/api/projects/tab/events", json={"events": [{"id": "e1", "data": {"x": 1e308}}]}
    )
    assert huge.status_code == 422 and "within" in huge.json()["error"]["message"]
    good = await service.send_events(
        "tab", [{"id": "e1", "data": {"x": 1.5, "city": "Oslo", "vip": True}}]
    )
    assert good[0]["queued"] is True


async def test_more_than_a_thousand_events_is_413(service):
    await service.create_project()
    events = [{"id": f"e{i}", "data": {"text": "x"}} for i in range(1001)]
    response = await service.http.post("/api/projects/tickets/events", json={"events": events})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_events"


async def test_a_body_over_the_size_limit_is_413(service):
    await service.create_project()
    huge = {"events": [{"id": "e1", "data": {"text": "x" * 2_000_000}}]}
    response = await service.http.post("/api/projects/tickets/events", json=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


async def test_events_for_an_unknown_project_are_404(service):
    response = await service.http.post(
        "/api/projects/ghost/events", json={"events": [{"id": "e", "data": {"text": "x"}}]}
    )
    assert response.status_code == 404


async def test_an_item_is_learned_once_whoever_labels_it_second(service):
    await service.create_project()
    await service.send_events(
        "tickets", [{"id": "e1", "data": ticket("bug", 1)}, {"id": "e2", "data": ticket("bug", 2)}]
    )
    async with service.annotator("tickets", "alice") as alice:
        item = (await alice.expect("item"))["item"]["id"]
        assert (await alice.label(item, "bug", "by-alice"))["type"] == "ack"
    other = "e2" if item == "e1" else "e1"
    response = await service.http.post(
        "/api/projects/tickets/labels",
        json={
            "labels": [
                {"event_id": item, "label": "bug", "label_id": "p1"},
                {"event_id": item, "label": "other", "label_id": "p2"},
                {"event_id": other, "label": "bug"},
            ]
        },
    )
    assert response.status_code == 200
    first, second, third = response.json()["results"]
    assert first["error"]["code"] == second["error"]["code"] == "already_labelled"
    assert third["model_version"] == 2 and third["duplicate"] is False
    metrics = await service.metrics("tickets")
    assert metrics["labels_total"] == 2


async def test_stream_mode_routes_only_what_the_labelling_budget_can_take(service):
    await service.create_project(routing="stream", labels_per_annotator_hour=100_000)
    events = [{"id": f"e{i}", "data": ticket("bug", i)} for i in range(300)]
    results = await service.send_events("tickets", events)
    queued = sum(r["queued"] for r in results)
    # 300 events in one second against a budget of ~28 labels a second.
    assert 0 < queued < 150
    metrics = await service.metrics("tickets")
    assert metrics["queue_depth"] == queued and metrics["events_total"] == 300
    routing = metrics["routing"]
    assert routing["mode"] == "stream" and routing["budget_per_hour"] == 100_000
    assert routing["admitted_share"] < 0.2


async def test_a_nul_in_an_id_is_refused_before_it_reaches_the_database(service):
    await service.create_project()
    response = await service.http.post(
        "/api/projects/tickets/events", json={"events": [{"id": "a\x00b", "data": {"text": "x"}}]}
    )
    assert response.status_code == 422
    assert (await service.metrics("tickets"))["events_total"] == 0
