"""A bad event in a batch is named as checking each event whole, in order, names it, though
whether its data fits the input kind is checked as the model scores it."""

from __future__ import annotations

from typing import Any

import pytest

from streamloop.errors import InvalidInput
from streamloop.ws.payloads import check_data

GOOD = {"x": 1.0, "y": "red"}
UNFIT = {"x": {"nested": 1}}
WIDE = {f"f{n}": 1.0 for n in range(2_000)}


def first_refusal(settings: Any, batch: list[dict[str, Any]]) -> dict[str, Any]:
    for index, data in enumerate(batch):
        try:
            check_data("tabular", data, settings, where=f"events.{index}.data")
        except InvalidInput as exc:
            return exc.body()["error"]
    raise AssertionError("the batch is good")


@pytest.mark.parametrize(
    "batch",
    [
        [GOOD, UNFIT],
        [GOOD, GOOD, {"x": 1e308}],
        [GOOD, UNFIT, WIDE],  # unfit first: named, though the wide one fails a cheaper check
        [GOOD, WIDE, UNFIT],
        [GOOD, {"x": None}, UNFIT],
        [UNFIT, {"x": None}],
    ],
)
async def test_the_first_bad_event_is_named_with_its_code(service, batch):
    await service.create_project(name="tab", input="tabular")
    await service.send_events("tab", [{"id": "seed", "data": GOOD}])
    events = [{"id": f"e{n}", "data": data} for n, data in enumerate(batch)]
    response = await service.http.post("/api/projects/tab/events", json={"events": events})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    expected = first_refusal(service.core.settings, batch)
    assert (error["code"], error["message"]) == (expected["code"], expected["message"])
    assert (await service.metrics("tab"))["events_total"] == 1


async def test_a_text_event_without_text_is_invalid_data_after_good_ones(service):
    await service.create_project()
    events = [{"id": "e1", "data": {"text": "fine"}}] * 20 + [{"id": "e2", "data": {"text": 4}}]
    response = await service.http.post("/api/projects/tickets/events", json={"events": events})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_data",
        "message": "events.20.data: text items need a string field 'text', got int",
        "retryable": False,
    }


async def test_a_bad_last_event_is_refused_without_scoring_the_others_one_by_one(
    service, monkeypatch
):
    await service.create_project(name="tab", input="tabular", labels=["a", "b"])
    await service.send_events("tab", [{"id": "seed", "data": GOOD}])
    labelled = await service.http.post(
        "/api/projects/tab/labels", json={"labels": [{"event_id": "seed", "label": "a"}]}
    )
    assert labelled.status_code == 200, labelled.text
    model = service.core.project("tab").model
    assert model.version == 1  # a trained model: the batch path scores, not one at a time
    scored_alone: list[Any] = []
    predict = model.predict
    monkeypatch.setattr(model, "predict", lambda data: scored_alone.append(data) or predict(data))
    events = [{"id": f"e{n}", "data": GOOD} for n in range(300)] + [{"id": "bad", "data": UNFIT}]

    response = await service.http.post("/api/projects/tab/events", json={"events": events})

    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("events.300.data: ")
    assert scored_alone == []
