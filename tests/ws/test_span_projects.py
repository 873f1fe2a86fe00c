"""Spans projects end to end: spans in predictions, annotators' messages, production labels and
gold; bad spans refused with their error; metrics; agreement as span F1; a retry learned once."""

from __future__ import annotations

from typing import Any

import pytest

from streamloop.streams.export import export_labels
from support import running

LABELS = ["PER", "LOC"]
PEOPLE = ["Ada", "Bob", "Eve", "Ann", "Tom"]
PLACES = ["Paris", "Rome", "Oslo", "Lima", "Kyiv"]


def sentence(i: int) -> tuple[str, list[dict[str, Any]]]:
    """A text with a person and a place, and its spans."""
    person, place = PEOPLE[i % 5], PLACES[(i // 5 + i) % 5]
    text = f"{person} moved to {place} in {1990 + i}"
    start = len(person) + len(" moved to ")
    return text, [
        {"start": 0, "end": len(person), "label": "PER"},
        {"start": start, "end": start + len(place), "label": "LOC"},
    ]


def events(n: int) -> list[dict[str, Any]]:
    return [{"id": f"evt-{i}", "data": {"text": sentence(i)[0]}} for i in range(n)]


def truth(event_id: str) -> list[dict[str, Any]]:
    return sentence(int(event_id.split("-")[1]))[1]


async def span_project(service, **more):
    return await service.create_project(name="names", labels=LABELS, task="spans", **more)


async def label_events(service, labels: list[dict[str, Any]]) -> dict[str, Any]:
    response = await service.http.post("/api/projects/names/labels", json={"labels": labels})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_spans_project_is_created_with_its_defaults(service):
    project = await span_project(service)
    assert project["task"] == "spans" and project["input"] == "text"
    assert project["strategy"] == "least_confidence" and project["model"] == "logistic_regression"


async def test_a_spans_project_may_have_one_label_and_the_others_need_two(service):
    project = await service.create_project(name="symptoms", labels=["SYMPTOM"], task="spans")
    assert project["labels"] == ["SYMPTOM"]
    await service.send_events("symptoms", [{"id": "e", "data": {"text": "a dry cough"}}])
    learned = await service.http.post(
        "/api/projects/symptoms/labels",
        json={
            "labels": [{"event_id": "e", "spans": [{"start": 2, "end": 11, "label": "SYMPTOM"}]}]
        },
    )
    assert learned.json()["results"][0]["model_version"] == 1
    for task in ("classify", "multilabel"):
        body = {"name": "one", "labels": ["bug"], "task": task}
        refused = await service.http.post("/api/projects", json=body)
        assert refused.status_code == 422
        assert refused.json()["error"]["message"].startswith(f"labels: a {task} project needs two")


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"input": "tabular"}, "input"),
        ({"model": "naive_bayes"}, "model"),
        ({"strategy": "margin"}, "strategy"),
        ({"thresholds": {"PER": 0.4}}, "thresholds"),
        ({"preselect": True}, "preselect"),
    ],
)
async def test_a_spans_project_refuses_what_it_cannot_do(service, spec, named):
    body = {"name": "names", "labels": LABELS, "task": "spans", **spec}
    response = await service.http.post("/api/projects", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(named)


async def test_events_predict_and_items_carry_spans_with_their_tokens(service):
    await span_project(service)
    [result] = await service.send_events("names", events(1))
    assert result["spans"] is None and "prediction" not in result and "labels" not in result
    await label_events(service, [{"event_id": "evt-0", "spans": truth("evt-0")}])
    for i in range(1, 12):
        await service.send_events("names", [events(12)[i]])
        await label_events(service, [{"event_id": f"evt-{i}", "spans": truth(f"evt-{i}")}])
    text = "Eve moved to Lima in 2001"
    predicted = (
        await service.http.post("/api/projects/names/predict", json={"data": {"text": text}})
    ).json()
    assert predicted["model_version"] == 12
    assert [(s["start"], s["end"], s["label"]) for s in predicted["spans"]] == [
        (0, 3, "PER"),
        (13, 17, "LOC"),
    ]
    assert all(0.0 <= s["score"] <= 1.0 for s in predicted["spans"])
    await service.send_events("names", [{"id": "new", "data": {"text": "Tom sat  in Oslo"}}])
    async with service.annotator("names", "alice") as alice:
        item = (await alice.expect("item"))["item"]
        assert item["id"] == "new" and isinstance(item["spans"], list)
        assert item["tokens"] == [[0, 3], [4, 7], [9, 11], [12, 16]]


async def test_annotators_send_spans_and_each_answer_is_learned_once(settings):
    async with running(settings) as service:
        await span_project(service)
        await service.send_events("names", events(4))
        async with service.annotator("names", "alice") as alice:
            item = (await alice.expect("item"))["item"]
            assert item["spans"] is None
            answer = list(reversed(truth(item["id"])))  # any order: stored in text order
            ack = await alice.label(item["id"], answer, "s-1")
            assert ack["type"] == "ack" and ack["model_version"] == 1 and not ack["duplicate"]
            again = await alice.label(item["id"], answer, "s-1")
            assert again["duplicate"] and again["model_version"] == 1
            following = (await alice.next_item())["item"]
            await alice.send(
                {"type": "label", "item_id": following["id"], "spans": [], "label_id": "s-2"}
            )
            assert (await alice.expect("ack"))["model_version"] == 2  # none: learned too
        metrics = await service.metrics("names")
        assert metrics["labels_total"] == 2 and metrics["task"] == "spans"
    async with running(settings) as service:
        async with service.annotator("names", "alice") as alice:
            await alice.expect("item")
            retried = await alice.label(item["id"], answer, "s-1")
            assert retried["duplicate"] and retried["model_version"] == 1
        assert (await service.metrics("names"))["model_version"] == 2


@pytest.mark.parametrize(
    ("spans", "code", "starts"),
    [
        ([{"start": 0, "end": 3, "label": "ORG"}], "unknown_label", "spans.0.label: 'ORG'"),
        ([{"start": 3, "end": 3, "label": "PER"}], "invalid_input", "spans.0.end: a span ends"),
        ([{"start": -1, "end": 3, "label": "PER"}], "invalid_input", "spans.0.start"),
        ([{"start": 0, "end": "3", "label": "PER"}], "invalid_input", "spans.0.end"),
        ([{"start": 0, "end": 3}], "invalid_input", "spans.0.label: Field required"),
        (
            [{"start": 0, "end": 3, "label": "PER"}, {"start": 2, "end": 8, "label": "LOC"}],
            "invalid_input",
            "spans.1: spans must not overlap",
        ),
        ([{"start": 0, "end": 99, "label": "PER"}], "invalid_input", "spans: span [0, 99) PER is"),
        (
            [{"start": 3, "end": 4, "label": "PER"}],
            "invalid_input",
            "spans: span [3, 4) PER covers",
        ),
    ],
)
async def test_bad_spans_are_refused_with_their_error_and_nothing_is_learned(
    service, spans, code, starts
):
    await span_project(service)
    await service.send_events("names", events(2))
    async with service.annotator("names", "alice") as alice:
        item = (await alice.expect("item"))["item"]
        await alice.send({"type": "label", "item_id": item["id"], "spans": spans, "label_id": "x"})
        error = await alice.expect("error")
        assert (error["code"], error["message"][: len(starts)]) == (code, starts), error
        # The connection goes on, and nothing was learned.
        ack = await alice.label(item["id"], truth(item["id"]), "y")
        assert ack["type"] == "ack" and ack["model_version"] == 1


@pytest.mark.parametrize(
    ("message", "starts"),
    [
        ({"label": "PER"}, "spans: this is a spans project: send `spans`"),
        ({"labels": ["PER"]}, "spans: this is a spans project"),
        ({}, "spans: this is a spans project"),
    ],
)
async def test_an_answer_of_another_task_names_the_field_expected(service, message, starts):
    await span_project(service)
    await service.send_events("names", events(1))
    async with service.annotator("names", "alice") as alice:
        item = (await alice.expect("item"))["item"]
        await alice.send({"type": "label", "item_id": item["id"], "label_id": "x", **message})
        error = await alice.expect("error")
        assert error["code"] == "invalid_input" and error["message"].startswith(starts)
    plain = await service.create_project(name="plain")
    assert plain["task"] == "classify"
    response = await service.http.post(
        "/api/projects/plain/labels",
        json={"labels": [{"event_id": "e", "spans": []}]},
    )
    assert response.status_code == 422
    assert "send `label`" in response.json()["error"]["message"]


async def test_production_spans_beyond_the_text_are_refused_alone(service):
    await span_project(service)
    await service.send_events("names", events(2))
    long = [{"start": 0, "end": 500, "label": "PER"}]
    body = await label_events(
        service,
        [{"event_id": "evt-0", "spans": truth("evt-0")}, {"event_id": "evt-1", "spans": long}],
    )
    first, second = body["results"]
    assert first["model_version"] == 1
    assert second["error"]["code"] == "invalid_input" and "outside the text" in str(second)
    # Refused, not stored: the right spans are still taken.
    again = await label_events(service, [{"event_id": "evt-1", "spans": truth("evt-1")}])
    assert again["results"][0]["model_version"] == 2


async def test_offsets_are_code_points_and_survive_emoji_combining_marks_and_rtl(service):
    await span_project(service)
    texts = {
        "emoji": ("🎉 Zoë met José in Tōkyō", [(2, 5, "PER"), (10, 14, "PER"), (18, 23, "LOC")]),
        "combining": ("Zoe\u0301 went to Ko\u0308ln", [(0, 4, "PER"), (13, 18, "LOC")]),
        "rtl": ("דוד גר בחיפה היום", [(0, 3, "PER"), (7, 12, "LOC")]),
    }
    surfaces = {
        "emoji": ["Zoë", "José", "Tōkyō"],
        "combining": ["Zoe\u0301", "Ko\u0308ln"],
        "rtl": ["דוד", "בחיפה"],
    }
    events_ = [{"id": name, "data": {"text": text}} for name, (text, _) in texts.items()]
    await service.send_events("names", events_)
    for name, (text, spans) in texts.items():
        assert [text[s:e] for s, e, _ in spans] == surfaces[name]
        given = [{"start": s, "end": e, "label": label} for s, e, label in spans]
        body = await label_events(service, [{"event_id": name, "spans": given}])
        assert "error" not in body["results"][0], (name, body)
    metrics = await service.metrics("names")
    assert metrics["labels_total"] == 3
    assert (
        metrics["per_class"]["PER"]["support"] == 4 and metrics["per_class"]["LOC"]["support"] == 3
    )


async def test_span_metrics_are_prequential_and_match_hand_computed_values(service):
    await span_project(service)
    texts = [sentence(i) for i in range(3)]
    await service.send_events("names", events(3))
    predicted = []
    for i, (text, spans) in enumerate(texts):
        before = (
            await service.http.post("/api/projects/names/predict", json={"data": {"text": text}})
        ).json()["spans"]
        predicted.append(before)
        await label_events(service, [{"event_id": f"evt-{i}", "spans": spans}])
    metrics = await service.metrics("names")
    assert metrics["confusion"] is None and metrics["labels_total"] == 3
    keys = [{(s["start"], s["end"], s["label"]) for s in spans} for _text, spans in texts]
    found = [
        set() if p is None else {(s["start"], s["end"], s["label"]) for s in p} for p in predicted
    ]
    tp = sum(len(f & k) for f, k in zip(found, keys, strict=True))
    fp = sum(len(f - k) for f, k in zip(found, keys, strict=True))
    fn = sum(len(k - f) for f, k in zip(found, keys, strict=True))
    assert metrics["f1"] == (2 * tp / (2 * tp + fp + fn))
    exact = sum(p is not None and f == k for p, f, k in zip(predicted, found, keys, strict=True))
    assert metrics["accuracy"] == exact / 3 == metrics["exact_match"]
    assert metrics["per_class"]["PER"]["support"] == 3
    assert set(metrics["spans"]["unbiased"]) >= {"f1", "exact_match", "labels_total"}
    scraped = (await service.http.get("/metrics")).text
    assert f'streamloop_span_f1{{project="names"}} {float(metrics["f1"])}' in scraped


async def test_gold_items_take_spans_and_score_annotators_by_the_exact_spans(service):
    await span_project(service, gold_share=1.0)
    await service.send_events("names", events(1))
    text, spans = sentence(3)
    response = await service.http.post(
        "/api/projects/names/gold",
        json={"items": [{"id": "g-1", "data": {"text": text}, "spans": spans}]},
    )
    assert response.status_code == 200, response.text
    for wrong, named in [
        ({"label": "PER"}, "items.0.spans"),
        ({"spans": [{"start": 0, "end": 99, "label": "PER"}]}, "items.0.spans"),
    ]:
        refused = await service.http.post(
            "/api/projects/names/gold",
            json={"items": [{"id": "g-2", "data": {"text": "Ada"}, **wrong}]},
        )
        assert refused.status_code == 422 and named in refused.json()["error"]["message"]
    async with service.annotator("names", "alice") as alice:
        item = (await alice.expect("item"))["item"]
        assert item["id"] == "g-1"
        ack = await alice.label(item["id"], list(reversed(spans)), "gold-answer")
        assert ack["type"] == "ack" and ack["model_version"] == 0
    gold = (await service.metrics("names"))["annotators"]["alice"]["gold"]
    assert gold["answered"] == 1 and gold["correct"] == 1 and gold["f1"] == 1.0


async def test_gold_answers_are_scored_by_span_f1_across_a_restart(settings):
    gold = [
        {"id": f"g-{i}", "data": {"text": sentence(i)[0]}, "spans": sentence(i)[1]}
        for i in range(2)
    ]
    async with running(settings) as service:
        await span_project(service, gold_share=1.0)
        await service.send_events("names", events(1))
        response = await service.http.post("/api/projects/names/gold", json={"items": gold})
        assert response.status_code == 200, response.text
        async with service.annotator("names", "alice") as alice:
            first = (await alice.expect("item"))["item"]["id"]
            right = next(g["spans"] for g in gold if g["id"] == first)
            half = [right[0]]  # the person, not the place: 1 of 2 found, nothing wrong
            assert (await alice.label(first, half, "a0"))["type"] == "ack"
            second = (await alice.next_item())["item"]["id"]
            wrong = [
                {**span, "label": "PER"}
                for span in next(g for g in gold if g["id"] == second)["spans"]
            ]
            assert (await alice.label(second, wrong, "a1"))["type"] == "ack"
        scored = (await service.metrics("names"))["annotators"]["alice"]["gold"]
        # 2 x 2 right (the person twice) over 1 + 2 + 2 + 2 spans given and known.
        assert scored["answered"] == 2 and scored["correct"] == 0
        assert scored["f1"] == 4 / 7
    async with running(settings) as service:
        again = (await service.metrics("names"))["annotators"]["alice"]["gold"]
        assert again["f1"] == 4 / 7


async def _two_answers(service, first: list[Any], second: list[Any]) -> str:
    async with service.annotator("names", "alice") as alice:
        item = (await alice.expect("item"))["item"]["id"]
        assert (await alice.label(item, first, "a0"))["type"] == "ack"
    async with service.annotator("names", "bob") as bob:
        assert (await bob.expect("item"))["item"]["id"] == item
        assert (await bob.label(item, second, "b0"))["type"] == "ack"
    return item


async def test_overlapped_annotators_agree_by_span_f1_and_disagreements_are_reviewed(service):
    await span_project(service, overlap={"share": 1.0, "annotators": 2})
    await service.send_events("names", events(1))
    right = truth("evt-0")
    wrong = [right[0], {**right[1], "label": "PER"}]
    await _two_answers(service, right, wrong)
    metrics = await service.metrics("names")
    assert metrics["agreement"]["measure"] == "span_f1" and metrics["agreement"]["items"] == 1
    assert metrics["agreement"]["f1"] == 0.5
    assert metrics["annotators"]["alice"]["kappa"] == {"bob": 0.5}
    assert metrics["review"]["waiting"] == 1
    scraped = (await service.http.get("/metrics")).text
    assert 'streamloop_annotator_span_f1{annotator="alice",other="bob",project="names"} 0.5' in (
        scraped
    )
    assert 'streamloop_agreement_span_f1{project="names"} 0.5' in scraped
    assert "streamloop_annotator_kappa{" not in scraped
    async with service.reviewer("names", "rita") as rita:
        offered = await rita.expect("review")
        assert offered["item"]["tokens"][:2] == [[0, 3], [4, 9]]  # "Ada moved ..."
        said = {x["annotator"]: x["spans"] for x in offered["labels"]}
        assert said == {"alice": right, "bob": wrong}
        await rita.send(
            {"type": "resolve", "item_id": offered["item"]["id"], "label_id": "r0", "spans": right}
        )
        ack = await rita.expect("ack")
        assert ack["type"] == "ack"
    assert (await service.metrics("names"))["review"]["waiting"] == 0


async def test_quarantine_rebuilds_a_span_model_without_the_annotator(service):
    await span_project(service)
    await service.send_events("names", events(4))
    async with service.annotator("names", "alice") as alice:
        for n in range(2):
            item = (await alice.next_item())["item"]["id"]
            assert (await alice.label(item, truth(item), f"a{n}"))["type"] == "ack"
    async with service.annotator("names", "bob") as bob:
        item = (await bob.next_item())["item"]["id"]
        assert (await bob.label(item, [{"start": 0, "end": 3, "label": "LOC"}], "b0"))[
            "type"
        ] == "ack"
    response = await service.http.post("/api/projects/names/annotators/bob/quarantine", json={})
    assert response.status_code == 202, response.text
    assert response.json()["model_version"] == 4
    metrics = await service.metrics("names")
    assert metrics["labels_total"] == 2 and metrics["annotators"]["bob"]["state"] == "quarantined"


async def test_corrections_and_reviews_refuse_bad_spans_as_labels_do(service):
    await span_project(service, overlap={"share": 1.0, "annotators": 2})
    await service.send_events("names", events(1))
    right = truth("evt-0")
    wrong = [right[0], {**right[1], "label": "PER"}]
    beyond = [{"start": 0, "end": 999, "label": "PER"}]
    async with service.annotator("names", "alice") as alice:
        item = (await alice.expect("item"))["item"]["id"]
        assert (await alice.label(item, right, "a0"))["type"] == "ack"
        correction = {"type": "correct", "corrects": "a0", "label_id": "a1"}
        await alice.send({**correction, "spans": beyond})
        refused = await alice.expect("error")
        assert refused["message"] == (
            "spans: span [0, 999) PER is outside the text, whose offsets run 0 to 26"
        )
    async with service.annotator("names", "bob") as bob:
        assert (await bob.expect("item"))["item"]["id"] == item
        assert (await bob.label(item, wrong, "b0"))["type"] == "ack"
    async with service.reviewer("names", "rita") as rita:
        offered = await rita.expect("review")
        resolve = {"type": "resolve", "item_id": offered["item"]["id"], "label_id": "r0"}
        await rita.send({**resolve, "spans": beyond})
        assert "outside the text" in (await rita.expect("error"))["message"]
        await rita.send({**resolve, "spans": [right[1], right[0]]})
        assert (await rita.expect("ack"))["type"] == "ack"


async def test_a_span_out_of_place_is_named_by_where_it_was_sent(service):
    await span_project(service)
    await service.send_events("names", events(1))
    sent = [{"start": 9, "end": 14, "label": "LOC"}, {"start": 0, "end": 3, "label": "PER"}]
    sent.append({"start": 2, "end": 5, "label": "LOC"})  # overlaps the second
    async with service.annotator("names", "alice") as alice:
        item = (await alice.expect("item"))["item"]["id"]
        await alice.send({"type": "label", "item_id": item, "spans": sent, "label_id": "x"})
        error = await alice.expect("error")
        assert error["message"].startswith("spans.2: spans must not overlap: [0, 3) PER and")


async def test_gold_spans_are_stored_as_whole_words_and_corrections_rescore_them(service):
    await span_project(service, gold_share=1.0)
    await service.send_events("names", events(1))
    text, spans = sentence(3)  # "Ann moved to Kyiv in 1993"
    cut = [{"start": 1, "end": 3, "label": "PER"}, {**spans[1], "end": spans[1]["end"] - 1}]
    response = await service.http.post(
        "/api/projects/names/gold",
        json={"items": [{"id": "g", "data": {"text": text}, "spans": cut}]},
    )
    assert response.status_code == 200, response.text
    async with service.annotator("names", "alice") as alice:
        item = (await alice.expect("item"))["item"]["id"]
        if item != "g":  # the real item came first: gold is mixed in, unmarked
            assert (await alice.label(item, truth(item), "e0"))["type"] == "ack"
            item = (await alice.next_item())["item"]["id"]
        assert item == "g"
        assert (await alice.label("g", spans[:1], "a0"))["type"] == "ack"  # half
        half = (await service.metrics("names"))["annotators"]["alice"]["gold"]
        assert (half["correct"], half["f1"]) == (0, 2 / 3)
        correction = {"type": "correct", "corrects": "a0", "label_id": "a1"}
        await alice.send({**correction, "spans": [{"start": 0, "end": 99, "label": "PER"}]})
        refused = await alice.expect("error", keep_items=True)  # the next item may come first
        assert "outside the text" in refused["message"]
        await alice.send({**correction, "spans": spans})
        assert (await alice.expect("ack", keep_items=True))["corrects"] == "a0"
    whole = (await service.metrics("names"))["annotators"]["alice"]["gold"]
    assert (whole["answered"], whole["correct"], whole["f1"]) == (1, 1, 1.0)


async def test_spans_that_cut_words_are_kept_as_the_whole_words_the_model_learns(service):
    await span_project(service, overlap={"share": 1.0, "annotators": 2})
    await service.send_events("names", events(1))
    right = truth("evt-0")  # "Ada moved to Paris in 1990"
    cut = [{"start": 1, "end": 2, "label": "PER"}, {"start": 13, "end": 16, "label": "LOC"}]
    await _two_answers(service, right, cut)
    metrics = await service.metrics("names")
    # The same answer once grown to whole words: the two agree, and nothing goes to review.
    assert metrics["agreement"]["f1"] == 1.0 and metrics["review"]["waiting"] == 0
    store = service.core.store
    rows = await store.run(lambda: list(export_labels(store, "names")))
    assert [row["spans"] for row in rows if row["event_id"] == "evt-0"] == [right, right]
