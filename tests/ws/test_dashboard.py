"""Supervisors: the metrics object, pushed live, measured prequentially."""

from __future__ import annotations

import asyncio

import streamloop.ws.dashboard
from support import ticket

LABELS = ["billing", "bug", "other"]


async def test_metrics_have_the_contract_fields(service):
    await service.create_project()
    metrics = await service.metrics("tickets")
    assert set(metrics) >= {
        "model_version",
        "labels_total",
        "accuracy",
        "rolling_accuracy",
        "window",
        "per_class",
        "queue_depth",
        "events_total",
        "annotators_online",
        "labels_per_minute",
    }
    assert metrics["accuracy"] is None and metrics["labels_total"] == 0
    assert set(metrics["per_class"]) == set(LABELS)


async def test_accuracy_is_prequential_the_first_label_always_counts_as_a_miss(service):
    await service.create_project()
    await service.send_events(
        "tickets", [{"id": "a", "data": ticket("bug", 1)}, {"id": "b", "data": ticket("bug", 1)}]
    )
    await service.http.post(
        "/api/projects/tickets/labels",
        json={"labels": [{"event_id": "a", "label": "bug"}, {"event_id": "b", "label": "bug"}]},
    )
    metrics = await service.metrics("tickets")
    # The first label met an untrained model; the second, an identical text, was predicted
    # by a model that had learned the first: test, then train.
    assert metrics["accuracy"] == 0.5
    assert metrics["per_class"]["bug"]["support"] == 2


async def test_the_dashboard_pushes_metrics_when_they_change(service):
    await service.create_project()
    async with service.dashboard("tickets") as dashboard:
        first = await dashboard.expect("metrics")
        assert first["events_total"] == 0
        async with service.annotator("tickets", "alice"):
            await service.send_events("tickets", [{"id": "a", "data": ticket("bug", 1)}])
            while True:
                pushed = await dashboard.expect("metrics")
                if pushed["events_total"] == 1 and pushed["annotators_online"] == 1:
                    break


async def test_a_dashboard_for_an_unknown_project_gets_an_error(service):
    async with service.dashboard("ghost") as dashboard:
        error = await dashboard.recv()
        assert error["type"] == "error" and error["code"] == "unknown_project"


async def test_the_unbiased_estimate_counts_only_items_drawn_at_random(service):
    await service.create_project(warmup=5, exploration=0.0)
    await service.send_events(
        "tickets", [{"id": f"e{i}", "data": ticket(LABELS[i % 3], i)} for i in range(20)]
    )
    async with service.annotator("tickets", "alice") as alice:
        for n in range(8):
            item = (await alice.next_item())["item"]["id"]
            await alice.label(item, LABELS[int(item[1:]) % 3], f"label-{n}")
            for queued in alice.items:  # the next item may have come with the ack
                await alice.send({"type": "skip", "item_id": queued["item"]["id"]})
            alice.items.clear()
    estimate = (await service.metrics("tickets"))["unbiased_accuracy"]
    # The first five labels were the warm-up's random draws (the very first met an untrained
    # model, which has nothing to estimate); the next three were chosen for their uncertainty
    # and must not bias the estimate.
    assert estimate["samples"] == 4
    assert estimate["low"] <= estimate["estimate"] <= estimate["high"]
    # Four draws are too few for the shadows' estimate: it says it fell back.
    assert estimate["method"] == "random_draws"


async def test_metrics_carry_the_drift_state_and_the_exploration_now(service):
    await service.create_project(exploration=0.2)
    metrics = await service.metrics("tickets")
    assert metrics["drift"] == {
        "state": "none",
        "changed_at": 0,
        "warnings_total": 0,
        "drifts_total": 0,
        "drifts": [],
        "evidence": {"draws_since_warning": 0, "needed": 20},
    }
    assert metrics["exploration"] == 0.2 and metrics["aged_out_total"] == 0


async def test_a_dashboard_starts_with_the_accuracy_curve_so_far(service):
    await service.create_project()
    events = [{"id": f"e{n}", "data": ticket(LABELS[n % 3], n)} for n in range(6)]
    await service.send_events("tickets", events)
    labels = [{"event_id": e["id"], "label": LABELS[n % 3]} for n, e in enumerate(events)]
    await service.http.post("/api/projects/tickets/labels", json={"labels": labels})
    async with service.dashboard("tickets") as dashboard:
        history = await dashboard.recv()
    assert history["type"] == "history" and history["model_version"] == 6
    assert [point[0] for point in history["accuracy"]] == [1, 2, 3, 4, 5, 6]
    assert history["accuracy"][0][1] == 0.0  # the untrained model's first answer is a miss
    over_http = (await service.http.get("/api/projects/tickets/history")).json()
    assert over_http["accuracy"] == history["accuracy"]


async def test_each_annotator_has_a_count_and_an_agreement_with_the_model(service):
    await service.create_project(exploration=0.0)
    await service.send_events(
        "tickets", [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(3)]
    )
    async with service.annotator("tickets", "alice") as alice:
        for n in range(2):
            item = (await alice.next_item())["item"]["id"]
            await alice.label(item, "bug", f"l{n}")
        metrics = await service.metrics("tickets")
    alice_figures = metrics["annotators"]["alice"]
    assert alice_figures["labels"] == 2 and alice_figures["online"] is True
    # The first label met an untrained model (no agreement); the second, a model that had
    # learned "bug" once already.
    assert alice_figures["agreement"] == 0.5
    assert alice_figures["corrections"] == 0


async def test_an_open_dashboard_is_sent_the_new_target_once_it_is_patched(service, monkeypatch):
    # No refresh for time alone: nothing else happens on the project, so the change itself
    # must reach the dashboard.
    monkeypatch.setattr(streamloop.ws.dashboard, "_IDLE_REFRESH_SECONDS", 3600.0)
    await service.create_project()
    async with service.dashboard("tickets") as dashboard:
        assert (await dashboard.expect("metrics"))["progress"]["target"] is None
        response = await service.http.patch("/api/projects/tickets", json={"target": 40})
        assert response.status_code == 200, response.text
        async with asyncio.timeout(10):
            assert (await dashboard.expect("metrics"))["progress"]["target"] == 40
