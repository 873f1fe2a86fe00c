"""The bad event a batch is refused for is the first one, as if each event were checked whole
and in order, though whether its data fits the input kind is now checked as it is scored."""

from __future__ import annotations

from typing import Any

import pytest

GOOD = {"x": 1.0, "y": "red"}
UNFIT = {"x": {"nested": 1}}
WIDE = {f"f{n}": 1.0 for n in range(2_000)}
_NOT_A_VALUE = "field 'x' must be a number, boolean or string, got dict"


# The answers are written out, not derived from the checker these tests are about.
@pytest.mark.parametrize(
    ("batch", "code", "message"),
    [
        ([GOOD, UNFIT], "invalid_data", f"events.1.data: {_NOT_A_VALUE}"),
        (
            [GOOD, GOOD, {"x": 1e308}],
            "invalid_data",
            "events.2.data: field 'x' must be within ±1e+150, got 1e+308",
        ),
        # Unfit first: named, though the wide one fails a cheaper check.
        ([GOOD, UNFIT, WIDE], "invalid_data", f"events.1.data: {_NOT_A_VALUE}"),
        ([GOOD, WIDE, UNFIT], "too_many_fields", "events.1.data has 2000 fields; at most 1000"),
        ([GOOD, {"x": None}, UNFIT], "invalid_data", "events.1.data must have at least one field"),
        ([UNFIT, {"x": None}], "invalid_data", f"events.0.data: {_NOT_A_VALUE}"),
    ],
)
async def test_the_first_bad_event_is_named_with_its_code(service, batch, code, message):
    await service.create_project(name="tab", input="tabular")
    await service.send_events("tab", [{"id": "seed", "data": GOOD}])
    events = [{"id": f"e{n}", "data": data} for n, data in enumerate(batch)]
    response = await service.http.post("/api/projects/tab/events", json={"events": events})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (code, message)
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
