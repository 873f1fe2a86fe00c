"""Supervisors: the metrics object, pushed live, measured prequentially."""

from __future__ import annotations

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
            item = (await alice.expect("item"))["item"]["id"]
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
