"""Challengers through the API: created with a project, figures side by side in the metrics,
one promoted to serve production from the next request, atomically, and kept so."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamloop.config import Settings
from streamloop.store import Store
from streamloop.streams.learner import rebuild_model
from support import Service, running, ticket

LABELS = ["billing", "bug", "other"]
PROBES = [ticket(label, 1000 + n) for n, label in enumerate(LABELS * 3)]


async def predictions(service: Service, project: str = "tickets") -> list[dict[str, Any]]:
    answers = []
    for data in PROBES:
        response = await service.http.post(f"/api/projects/{project}/predict", json={"data": data})
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


async def test_challengers_learn_beside_and_report_side_by_side(service: Service):
    project = await service.create_project(challengers=["naive_bayes", "hoeffding_tree"])
    assert project["challengers"] == ["naive_bayes", "hoeffding_tree"]
    await service.teach("tickets")
    models = (await service.metrics("tickets"))["models"]
    assert list(models) == ["logistic_regression", "naive_bayes", "hoeffding_tree"]
    assert [m["serving"] for m in models.values()] == [True, False, False]
    assert {m["labels_total"] for m in models.values()} == {24}
    assert models["naive_bayes"]["accuracy"] is not None
    assert set(models["naive_bayes"]["unbiased_accuracy"]) >= {"estimate", "low", "high"}
    # A project without challengers reports its one model.
    await service.create_project(name="plain")
    assert list((await service.metrics("plain"))["models"]) == ["logistic_regression"]


async def test_a_promoted_challenger_serves_the_next_request(service: Service):
    await service.create_project(challengers=["naive_bayes"])
    await service.teach("tickets")
    # What the challenger answers, read from the model in this process before it serves
    # (once it has caught up: challengers learn after the ack).
    served = service.core.project("tickets").model
    served.settle()
    challenger = served.challengers["naive_bayes"]
    expected = [challenger.predict(data).probabilities for data in PROBES]
    before = await predictions(service)
    assert [p["probabilities"] for p in before] != expected

    response = await service.http.post("/api/projects/tickets/models/naive_bayes/promote", json={})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "model": "naive_bayes",
        "model_version": 25,
        "challengers": ["logistic_regression"],
    }
    after = await predictions(service)
    assert [p["probabilities"] for p in after] == expected
    assert {p["model_version"] for p in after} == {25}
    project = (await service.http.get("/api/projects/tickets")).json()
    assert (project["model"], project["challengers"]) == ("naive_bayes", ["logistic_regression"])
    models = (await service.metrics("tickets"))["models"]
    assert list(models) == ["naive_bayes", "logistic_regression"]
    assert models["naive_bayes"]["serving"] and not models["logistic_regression"]["serving"]
    # Labels after the promotion reach every model.
    await service.send_events("tickets", [{"id": "late", "data": ticket("bug", 77)}])
    response = await service.http.post(
        "/api/projects/tickets/labels", json={"labels": [{"event_id": "late", "label": "bug"}]}
    )
    assert response.json()["results"][0]["model_version"] == 26
    models = (await service.metrics("tickets"))["models"]
    assert {m["labels_total"] for m in models.values()} == {25}


async def test_promoting_the_model_serving_changes_nothing_and_others_are_404(service: Service):
    await service.create_project(challengers=["naive_bayes"])
    path = "/api/projects/tickets/models/{}/promote"
    same = await service.http.post(path.format("logistic_regression"), json={})
    assert same.status_code == 200, same.text
    assert same.json()["model_version"] == 0
    missing = await service.http.post(path.format("hoeffding_tree"), json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "unknown_model"


async def test_no_request_is_served_by_a_half_swapped_model(service: Service):
    await service.create_project(challengers=["naive_bayes"])
    await service.teach("tickets")
    runtime = service.core.project("tickets")
    runtime.model.settle()
    probe = PROBES[0]
    old = runtime.model.predict(probe).probabilities
    new = runtime.model.challengers["naive_bayes"].predict(probe).probabilities

    async def predict() -> dict[str, Any]:
        response = await service.http.post("/api/projects/tickets/predict", json={"data": probe})
        return response.json()

    promoting = service.http.post("/api/projects/tickets/models/naive_bayes/promote", json={})
    answers = await asyncio.gather(
        *[predict() for _ in range(60)], promoting, *[predict() for _ in range(60)]
    )
    assert answers[60].status_code == 200
    seen = {
        (a["model_version"], tuple(a["probabilities"].values()))
        for a in answers[:60] + answers[61:]
    }
    # Each answer is wholly the old model's or wholly the promoted one's.
    assert seen <= {(24, tuple(old.values())), (25, tuple(new.values()))}
    assert (await predict())["probabilities"] == new


async def test_a_promotion_survives_a_restart(settings: Settings):
    async with running(settings) as service:
        await service.create_project(challengers=["naive_bayes", "hoeffding_tree"])
        await service.teach("tickets")
        promoted = await service.http.post(
            "/api/projects/tickets/models/hoeffding_tree/promote", json={}
        )
        assert promoted.status_code == 200, promoted.text
        before = await predictions(service)
    async with running(settings) as service:
        assert await predictions(service) == before
        project = (await service.http.get("/api/projects/tickets")).json()
        assert project["model"] == "hoeffding_tree"
        assert project["challengers"] == ["naive_bayes", "logistic_regression"]


async def test_a_promotion_stored_but_not_snapshotted_is_made_again_at_restart(
    settings: Settings,
):
    async with running(settings) as service:
        await service.create_project(challengers=["naive_bayes"])
        await service.teach("tickets")
        served = service.core.project("tickets").model
        served.settle()
        expected = [served.challengers["naive_bayes"].predict(p) for p in PROBES]
    # The roles stored, and the process gone before it snapshotted the promoted model.
    store = Store(settings.database_url)
    try:
        record = store.update_project(
            "tickets", {"model": "naive_bayes", "challengers": ["logistic_regression"]}
        )
        rebuilt = await rebuild_model(store, record)
    finally:
        store.close()
    assert rebuilt.model.preset == "naive_bayes"
    assert list(rebuilt.model.challengers) == ["logistic_regression"]
    assert [rebuilt.model.predict(p).probabilities for p in PROBES] == [
        e.probabilities for e in expected
    ]


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({"challengers": ["svm"]}, "challengers: unknown model 'svm'"),
        ({"challengers": ["naive_bayes", "naive_bayes"]}, "challengers: each model once"),
        ({"challengers": ["logistic_regression"]}, "is the model serving already"),
        ({"challengers": ["naive_bayes"] * 4}, "challengers: List should have at most 3"),
        ({"task": "spans", "challengers": ["naive_bayes"]}, "a spans project has one model"),
        (
            {"task": "multilabel", "challengers": ["adaptive_random_forest"]},
            "'adaptive_random_forest' cannot serve a multilabel project",
        ),
    ],
)
async def test_challengers_that_cannot_be_are_refused(service: Service, overrides, said):
    response = await service.http.post(
        "/api/projects",
        json={"name": "tickets", "labels": LABELS, "input": "text", **overrides},
    )
    assert response.status_code == 422, response.text
    assert said in response.json()["error"]["message"]


async def test_the_export_says_which_model_served_each_prediction(service: Service):
    from streamloop.online import OnlineModel, predicted_answer
    from streamloop.streams.export import export_labels

    await service.create_project(challengers=["naive_bayes"])
    await service.teach("tickets", count=12)
    promoted = await service.http.post("/api/projects/tickets/models/naive_bayes/promote", json={})
    assert promoted.status_code == 200, promoted.text
    late = [{"id": f"late{n}", "data": ticket(LABELS[n % 3], 50 + n)} for n in range(6)]
    await service.send_events("tickets", late)
    labels = [{"event_id": f"late{n}", "label": LABELS[n % 3]} for n in range(6)]
    response = await service.http.post("/api/projects/tickets/labels", json={"labels": labels})
    assert response.status_code == 200, response.text

    store = service.core.store
    rows = await asyncio.to_thread(lambda: list(export_labels(store, "tickets")))
    assert [row["model"] for row in rows] == ["logistic_regression"] * 12 + ["naive_bayes"] * 6
    # What naive Bayes predicted for each late item, having learned the labels before it.
    alone = OnlineModel(
        labels=LABELS, input_kind="text", preset="naive_bayes", strategy="margin", rehearsal=3
    )
    expected = []
    for row in rows:
        if row["model"] == "naive_bayes":
            expected.append(predicted_answer(alone.predict(row["data"])))
        alone.learn(row["data"], row["label"], drawn_at_random=row["drawn_at_random"])
    assert [row["predicted"] for row in rows[12:]] == expected
    project = (await service.http.get("/api/projects/tickets")).json()
    [promotion] = project["promotions"]
    assert (promotion["model"], promotion["replaced"], promotion["model_version"]) == (
        "naive_bayes",
        "logistic_regression",
        13,
    )


async def test_the_model_download_takes_a_model_name(service: Service):
    import pickle

    await service.create_project(challengers=["naive_bayes"])
    await service.teach("tickets")
    served = await service.http.get("/api/projects/tickets/model")
    assert served.headers["x-streamloop-model"] == "logistic_regression"
    response = await service.http.get("/api/projects/tickets/model", params={"name": "naive_bayes"})
    assert response.status_code == 200, response.text
    assert response.headers["x-streamloop-model"] == "naive_bayes"
    assert "tickets-naive_bayes-v24.pkl" in response.headers["content-disposition"]
    pipeline = pickle.loads(response.content)
    challenger = service.core.project("tickets").model.challengers["naive_bayes"]
    assert pipeline.predict_proba_one(PROBES[0]) == challenger._pipeline.predict_proba_one(
        PROBES[0]
    )
    missing = await service.http.get("/api/projects/tickets/model", params={"name": "nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_model"


async def test_after_a_promotion_the_estimate_is_the_promoted_models(service: Service):
    await service.create_project(challengers=["naive_bayes"], exploration=1.0)
    await service.teach("tickets", count=60)
    before = (await service.metrics("tickets"))["models"]
    promoted = await service.http.post("/api/projects/tickets/models/naive_bayes/promote", json={})
    assert promoted.status_code == 200, promoted.text
    metrics = await service.metrics("tickets")
    # Computed again for the model serving now, not kept from the one before.
    assert metrics["unbiased_accuracy"] == metrics["models"]["naive_bayes"]["unbiased_accuracy"]
    assert (
        metrics["models"]["naive_bayes"]["unbiased_accuracy"]
        == before["naive_bayes"]["unbiased_accuracy"]
    )


async def test_the_export_counts_a_promotions_version_as_the_service_did(service: Service):
    from streamloop.streams.export import export_labels

    await service.create_project(challengers=["naive_bayes"])
    await service.teach("tickets", count=6)
    await service.http.post("/api/projects/tickets/models/naive_bayes/promote", json={})
    await service.send_events("tickets", [{"id": "late", "data": ticket("bug", 77)}])
    late = await service.http.post(
        "/api/projects/tickets/labels", json={"labels": [{"event_id": "late", "label": "bug"}]}
    )
    served = late.json()["results"][0]["model_version"]
    assert served == 8  # six labels, the promotion, this one
    store = service.core.store
    rows = await asyncio.to_thread(lambda: list(export_labels(store, "tickets")))
    assert [row["model_version"] for row in rows] == [1, 2, 3, 4, 5, 6, 8]
