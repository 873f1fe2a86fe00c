"""Multilabel projects end to end: label sets in predictions, annotators' messages, production
labels and gold; wrong shapes refused; metrics; a set learned once across retries and a restart."""

from __future__ import annotations

import pytest

from streamloop.store import NewLabel
from support import running

LABELS = ["billing", "bug", "ui"]
WORDS = {"billing": "charged refund", "bug": "crash error", "ui": "button layout"}


def tickets(n: int) -> list[dict[str, object]]:
    """Events whose true label sets cycle through every subset of the labels."""
    events = []
    for i in range(n):
        applies = [label for bit, label in enumerate(LABELS) if (i >> bit) & 1]
        text = " ".join(WORDS[label] for label in applies) or "thanks all good"
        events.append({"id": f"evt-{i}", "data": {"text": f"{text} number {i}"}})
    return events


def truth(event_id: str) -> list[str]:
    i = int(event_id.split("-")[1])
    return [label for bit, label in enumerate(LABELS) if (i >> bit) & 1]


async def multilabel_project(service, **more):
    return await service.create_project(
        name="topics", labels=LABELS, task="multilabel", model="naive_bayes", **more
    )


async def test_a_multilabel_project_is_created_with_its_defaults(service):
    project = await multilabel_project(service, thresholds={"ui": 0.3})
    assert project["task"] == "multilabel"
    assert project["strategy"] == "min_margin"
    assert project["thresholds"] == {"ui": 0.3} and project["preselect"] is False
    classify = await service.create_project(name="plain")
    assert classify["task"] == "classify" and classify["strategy"] == "margin"


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"model": "adaptive_random_forest"}, "model"),
        ({"model": "hoeffding_tree"}, "model"),  # text: refused, see UNSUPPORTED_PAIRS
        ({"model": "naive_bayes", "strategy": "margin"}, "strategy"),
        ({"model": "naive_bayes", "thresholds": {"nope": 0.4}}, "thresholds"),
        ({"model": "naive_bayes", "thresholds": {"ui": 1.0}}, "thresholds"),
    ],
)
async def test_a_multilabel_project_refuses_what_it_cannot_do(service, spec, named):
    body = {"name": "topics", "labels": LABELS, "input": "text", "task": "multilabel", **spec}
    response = await service.http.post("/api/projects", json=body)
    assert response.status_code == 422, response.text
    assert named in response.json()["error"]["message"]


async def test_a_classify_project_refuses_multilabel_settings(service):
    body = {"name": "plain", "labels": LABELS, "thresholds": {"ui": 0.4}}
    response = await service.http.post("/api/projects", json=body)
    assert response.status_code == 422
    assert "multilabel" in response.json()["error"]["message"]


async def test_events_and_predict_carry_label_sets_and_independent_probabilities(service):
    await multilabel_project(service)
    [result] = await service.send_events("topics", tickets(1))
    assert result["labels"] is None and "prediction" not in result
    assert result["probabilities"] == dict.fromkeys(LABELS, 0.5)
    response = await service.http.post(
        "/api/projects/topics/labels",
        json={"labels": [{"event_id": "evt-0", "labels": []}]},
    )
    assert response.status_code == 200, response.text
    [learned] = response.json()["results"]
    assert learned["model_version"] == 1 and not learned["duplicate"]
    predicted = (
        await service.http.post("/api/projects/topics/predict", json={"data": {"text": "crash"}})
    ).json()
    assert isinstance(predicted["labels"], list)
    assert set(predicted["probabilities"]) == set(LABELS)
    assert all(0.0 <= p <= 1.0 for p in predicted["probabilities"].values())


async def test_annotators_send_label_sets_and_each_is_learned_once(settings):
    async with running(settings) as service:
        await multilabel_project(service)
        await service.send_events("topics", tickets(8))
        async with service.annotator("topics", "alice") as alice:
            item = (await alice.expect("item"))["item"]
            assert item["labels"] is None and set(item["probabilities"]) == set(LABELS)
            # Given in any order, the set is stored in the project's order.
            answer = list(reversed(truth(item["id"])))
            ack = await alice.label(item["id"], answer, "set-1")
            assert ack["type"] == "ack" and ack["model_version"] == 1 and not ack["duplicate"]
            again = await alice.label(item["id"], answer, "set-1")
            assert again["duplicate"] and again["model_version"] == 1
            following = await alice.next_item()
            assert following["item"]["model_version"] == 1
            none = await alice.label(following["item"]["id"], [], "set-2")
            assert none["model_version"] == 2
        metrics = await service.metrics("topics")
        assert metrics["labels_total"] == 2 and metrics["model_version"] == 2
    async with running(settings) as service:
        async with service.annotator("topics", "alice") as alice:
            await alice.expect("item")
            retried = await alice.label(item["id"], answer, "set-1")
            assert retried["duplicate"] and retried["model_version"] == 1
        assert (await service.metrics("topics"))["model_version"] == 2


@pytest.mark.parametrize(
    ("message", "code", "starts"),
    [
        ({"label": "bug"}, "invalid_input", "labels: this is a multilabel project"),
        ({"labels": "bug"}, "invalid_input", "labels: Input should be a valid list"),
        ({"labels": ["bug", "bug"]}, "invalid_input", "labels: labels must not repeat"),
        ({"labels": ["bug", "nope"]}, "unknown_label", "labels.1: 'nope' is not one"),
        ({}, "invalid_input", "labels: this is a multilabel project"),
    ],
)
async def test_a_label_message_of_the_wrong_shape_is_refused_naming_the_field(
    service, message, code, starts
):
    await multilabel_project(service)
    await service.send_events("topics", tickets(2))
    async with service.annotator("topics", "alice") as alice:
        item = (await alice.expect("item"))["item"]
        await alice.send({"type": "label", "item_id": item["id"], "label_id": "x", **message})
        error = await alice.expect("error")
        assert (error["code"], error["message"][: len(starts)]) == (code, starts)
        # The connection goes on, and nothing was learned.
        ack = await alice.label(item["id"], ["bug"], "y")
        assert ack["type"] == "ack" and ack["model_version"] == 1


async def test_a_classify_project_refuses_a_label_set_naming_label(service):
    await service.create_project()
    await service.send_events("tickets", [{"id": "e", "data": {"text": "crash"}}])
    async with service.annotator("tickets", "alice") as alice:
        item = (await alice.expect("item"))["item"]
        error = await alice.label(item["id"], ["bug"], "x")
        assert error["type"] == "error" and "`label`" in error["message"]
    response = await service.http.post(
        "/api/projects/tickets/labels", json={"labels": [{"event_id": "e", "labels": ["bug"]}]}
    )
    assert response.status_code == 422 and "labels.0.label" in response.json()["error"]["message"]


async def test_production_label_sets_of_the_wrong_shape_are_refused_before_anything_is_learned(
    service,
):
    await multilabel_project(service)
    await service.send_events("topics", tickets(2))
    response = await service.http.post(
        "/api/projects/topics/labels",
        json={
            "labels": [
                {"event_id": "evt-0", "labels": ["bug"]},
                {"event_id": "evt-1", "label": "bug"},
            ]
        },
    )
    assert response.status_code == 422
    assert "labels.1.labels" in response.json()["error"]["message"]
    assert (await service.metrics("topics"))["model_version"] == 0


async def test_multilabel_metrics_are_prequential_and_match_hand_computed_values(service):
    await multilabel_project(service)
    await service.send_events("topics", tickets(3))
    labels = [
        {"event_id": "evt-1", "labels": ["billing"]},  # untrained: counts as missed
        {"event_id": "evt-2", "labels": ["bug"]},
        {"event_id": "evt-0", "labels": []},
    ]
    predicted = []
    for label in labels:
        event = label["event_id"]
        text = next(e["data"] for e in tickets(3) if e["id"] == event)
        before = (
            await service.http.post("/api/projects/topics/predict", json={"data": text})
        ).json()["labels"]
        predicted.append(before)
        response = await service.http.post("/api/projects/topics/labels", json={"labels": [label]})
        assert response.status_code == 200
    metrics = await service.metrics("topics")
    assert metrics["task"] == "multilabel" and metrics["confusion"] is None
    truths = [set(label["labels"]) for label in labels]
    exact = sum(p is not None and set(p) == t for p, t in zip(predicted, truths, strict=True))
    assert metrics["accuracy"] == exact / 3
    assert metrics["exact_match"] == exact / 3
    wrong = sum(
        len(LABELS) if p is None else len(set(p) ^ t)
        for p, t in zip(predicted, truths, strict=True)
    )
    assert metrics["hamming_loss"] == wrong / 9
    assert metrics["per_class"]["billing"]["support"] == 1
    assert set(metrics["multilabel"]["unbiased"]) >= {"micro_f1", "exact_match", "labels_total"}
    micro = metrics["micro_f1"]
    scraped = (await service.http.get("/metrics")).text
    assert f'streamloop_micro_f1{{project="topics"}} {float(micro)}' in scraped


async def test_gold_items_take_label_sets_and_score_annotators_by_the_exact_set(service):
    await multilabel_project(service, gold_share=1.0)
    await service.send_events("topics", tickets(1))  # gold is mixed into real work
    response = await service.http.post(
        "/api/projects/topics/gold",
        json={
            "items": [{"id": "g-1", "data": {"text": "crash on pay"}, "labels": ["bug", "billing"]}]
        },
    )
    assert response.status_code == 200, response.text
    wrong = await service.http.post(
        "/api/projects/topics/gold",
        json={"items": [{"id": "g-2", "data": {"text": "x"}, "label": "bug"}]},
    )
    assert wrong.status_code == 422 and "items.0.labels" in wrong.json()["error"]["message"]
    async with service.annotator("topics", "alice") as alice:
        item = (await alice.expect("item"))["item"]
        assert item["id"] == "g-1"
        ack = await alice.label(item["id"], ["billing", "bug"], "gold-answer")
        assert ack["type"] == "ack" and ack["model_version"] == 0
    gold = (await service.metrics("topics"))["annotators"]["alice"]["gold"]
    assert gold["answered"] == 1 and gold["correct"] == 1


async def _two_sets(service, first: list[str], second: list[str]) -> None:
    async with service.annotator("topics", "alice") as alice:
        item = (await alice.expect("item"))["item"]["id"]
        assert (await alice.label(item, first, "a0"))["type"] == "ack"
    async with service.annotator("topics", "bob") as bob:
        assert (await bob.expect("item"))["item"]["id"] == item
        assert (await bob.label(item, second, "b0"))["type"] == "ack"


async def test_overlapped_annotators_agree_on_equal_sets_in_any_order(service):
    await multilabel_project(service, overlap={"share": 1.0, "annotators": 2})
    await service.send_events("topics", tickets(1))
    await _two_sets(service, ["bug", "ui"], ["ui", "bug"])
    metrics = await service.metrics("topics")
    assert metrics["review"]["waiting"] == 0 and metrics["overlap_waiting"] == 0
    assert metrics["agreement"]["items"] == 1 and metrics["agreement"]["distance"] == "masi"


async def test_different_sets_go_to_review_and_a_reviewer_resolves_with_a_set(service):
    await multilabel_project(service, overlap={"share": 1.0, "annotators": 2})
    await service.send_events("topics", tickets(1))
    await _two_sets(service, ["bug"], ["bug", "billing"])
    metrics = await service.metrics("topics")
    assert metrics["review"]["waiting"] == 1 and metrics["model_version"] == 1
    assert set(metrics["agreement"]["per_label"]) == set(LABELS)
    assert "bob" in metrics["annotators"]["alice"]["kappa"]
    async with service.reviewer("topics", "rita") as rita:
        offered = await rita.expect("review")
        said = {(x["annotator"], tuple(x["labels"])) for x in offered["labels"]}
        assert said == {("alice", ("bug",)), ("bob", ("billing", "bug"))}
        wrong = {"type": "resolve", "item_id": offered["item"]["id"], "label_id": "r0"}
        await rita.send({**wrong, "label": "bug"})
        assert "labels" in (await rita.expect("error"))["message"]
        await rita.send({**wrong, "labels": ["billing", "bug"]})
        ack = await rita.expect("ack")
        assert ack["model_version"] == 2  # learned, as a correction of alice's set
    assert (await service.metrics("topics"))["review"]["waiting"] == 0


async def test_quarantine_rebuilds_a_multilabel_model_without_the_annotator(service):
    await multilabel_project(service)
    await service.send_events("topics", tickets(4))
    async with service.annotator("topics", "alice") as alice:
        for n in range(2):
            item = (await alice.next_item())["item"]["id"]
            assert (await alice.label(item, truth(item), f"a{n}"))["type"] == "ack"
    async with service.annotator("topics", "bob") as bob:
        item = (await bob.next_item())["item"]["id"]
        assert (await bob.label(item, ["ui"], "b0"))["type"] == "ack"
    response = await service.http.post("/api/projects/topics/annotators/bob/quarantine", json={})
    assert response.status_code == 202, response.text
    assert response.json()["model_version"] == 4  # a new version, rebuilt from alice's two
    metrics = await service.metrics("topics")
    assert metrics["labels_total"] == 2 and metrics["annotators"]["bob"]["state"] == "quarantined"
    model = await service.http.get("/api/projects/topics/model")
    assert model.status_code == 200 and model.headers["x-streamloop-model-version"] == "4"


async def test_refusals_name_the_field_and_the_entry_without_pydantic_noise(service):
    body = {"name": "topics", "labels": LABELS, "task": "multilabel", "model": "hoeffding_tree"}
    message = (await service.http.post("/api/projects", json=body)).json()["error"]["message"]
    assert message.startswith("model: not with text items") and "Value error" not in message
    plain = {"name": "plain", "labels": LABELS, "preselect": True}
    message = (await service.http.post("/api/projects", json=plain)).json()["error"]["message"]
    assert message == 'preselect: only for multilabel projects; add "task": "multilabel"'
    null = {"name": "plain", "labels": LABELS, "strategy": None}
    message = (await service.http.post("/api/projects", json=null)).json()["error"]["message"]
    assert message.startswith("strategy: a strategy's name")
    await multilabel_project(service)
    await service.send_events("topics", tickets(2))
    batch = [{"event_id": "evt-0", "labels": ["bug"]}, {"event_id": "evt-1", "labels": ["zz"]}]
    response = await service.http.post("/api/projects/topics/labels", json={"labels": batch})
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("labels.1.labels.0: 'zz' is not one")
    missing = [{"event_id": "evt-0"}]
    response = await service.http.post("/api/projects/topics/labels", json={"labels": missing})
    assert "send `labels`" in response.json()["error"]["message"]
    assert "not `label`" not in response.json()["error"]["message"]


async def test_an_answer_the_model_cannot_learn_is_refused_before_it_is_stored(settings):
    # As from a process of another version, past the socket's and the API's checks: stored,
    # it would fail every replay after it.
    async with running(settings) as service:
        await multilabel_project(service)
        await service.send_events("topics", tickets(2))
        learner = service.core.project("topics").learner
        bad = [
            NewLabel("x1", '["ui","bug"]', "production", event_id="evt-0"),
            NewLabel("x2", "bug", "production", event_id="evt-0"),
            NewLabel("ok", '["bug","ui"]', "production", event_id="evt-1"),
        ]
        first, second, good = await learner.submit(bad)
        assert first.error is not None and first.error.code == "invalid_input"
        assert second.error is not None and "not a stored label set" in second.error.message
        assert good.error is None and good.model_version == 1
    async with running(settings) as service:  # and the project loads again, at version 1
        assert (await service.metrics("topics"))["model_version"] == 1


async def test_a_stored_answer_the_model_cannot_learn_does_not_stop_a_restart(settings):
    async with running(settings) as service:
        await multilabel_project(service)
        await service.send_events("topics", tickets(2))
        store = service.core.store
        project = service.core.project("topics").record.id
        # Stored by hand, past every check (as by an older version of the service).
        bad = NewLabel("bad", "bug", "production", event_id="evt-0")
        [outcome] = await store.run(store.commit_labels, project, [bad], 0)
        assert outcome.error is None
    async with running(settings) as service:
        # Passed over, and counted: the next label gets the next version.
        assert (await service.metrics("topics"))["model_version"] == 1
        good = {"labels": [{"event_id": "evt-1", "labels": ["bug"]}]}
        response = await service.http.post("/api/projects/topics/labels", json=good)
        assert response.json()["results"][0]["model_version"] == 2


async def test_a_model_that_only_repeats_the_commonest_set_earns_no_suggestion(service):
    await multilabel_project(service)
    events = [
        {"id": f"evt-{n}", "data": {"text": f"thanks all good number {n}"}} for n in range(30)
    ]
    await service.send_events("topics", events)
    labels = [{"event_id": event["id"], "labels": []} for event in events]
    response = await service.http.post("/api/projects/topics/labels", json={"labels": labels})
    assert response.status_code == 200, response.text

    record = service.core.project("topics").track_record()
    assert record["right"] >= 20  # it answers "none" to every one, as every one was
    assert record["trusted"] is False
