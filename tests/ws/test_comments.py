"""Comments on labels: stored with them, exported, and shown to reviewers."""

from __future__ import annotations

import io

from streamloop.store import Store
from streamloop.streams.export import export_labels, write_csv
from support import running, ticket

TWICE = {"share": 1.0, "annotators": 2}


def exported(settings) -> list[dict]:
    store = Store(settings.database_url)
    try:
        return list(export_labels(store, "tickets"))
    finally:
        store.close()


async def test_comments_of_labels_corrections_and_production_labels_are_exported(settings):
    async with running(settings) as service:
        await service.create_project()
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(4)]
        await service.send_events("tickets", events)
        async with service.annotator("tickets", "alice") as alice:
            first = (await alice.next_item())["item"]["id"]
            await alice.send(
                {
                    "type": "label",
                    "item_id": first,
                    "label": "bug",
                    "label_id": "a-1",
                    "comment": "the screenshot shows a crash",
                }
            )
            assert (await alice.expect("ack", keep_items=True))["type"] == "ack"
            await alice.send(
                {
                    "type": "correct",
                    "corrects": "a-1",
                    "label": "other",
                    "label_id": "a-2",
                    "comment": "on second thought, a question",
                }
            )
            assert (await alice.expect("ack", keep_items=True))["corrects"] == "a-1"
            second = (await alice.next_item())["item"]["id"]
            assert (await alice.label(second, "bug", "a-3"))["type"] == "ack"
            rest = sorted({"e0", "e1", "e2", "e3"} - {first, second})
        body = {
            "labels": [
                {"event_id": rest[0], "label": "billing", "comment": "from the CRM"},
                {"event_id": rest[1], "label": "billing", "comment": ""},
            ]
        }
        response = await service.http.post("/api/projects/tickets/labels", json=body)
        assert response.status_code == 200, response.text
    rows = {row["label_id"]: row for row in exported(settings)}
    assert rows["a-1"]["comment"] == "the screenshot shows a crash"
    assert rows["a-2"]["comment"] == "on second thought, a question"
    assert rows["a-3"]["comment"] is None
    assert rows[f"event:{rest[0]}"]["comment"] == "from the CRM"
    assert rows[f"event:{rest[1]}"]["comment"] is None  # empty: none
    out = io.BytesIO()
    store = Store(settings.database_url)
    try:
        write_csv(export_labels(store, "tickets"), out)
    finally:
        store.close()
    text = out.getvalue().decode()
    assert text.splitlines()[0].endswith(",labels,comment,model")
    assert "the screenshot shows a crash" in text


async def test_a_comment_too_long_refuses_the_label(service):
    await service.create_project()
    await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
    async with service.annotator("tickets", "alice") as alice:
        item = (await alice.next_item())["item"]["id"]
        message = {"type": "label", "item_id": item, "label": "bug", "label_id": "a-1"}
        await alice.send({**message, "comment": "x" * 2001})
        error = await alice.expect("error")
        assert error["code"] == "invalid_input" and "comment" in error["message"]
        await alice.send({**message, "comment": "x" * 2000})
        assert (await alice.expect("ack"))["label_id"] == "a-1"
    response = await service.http.post(
        "/api/projects/tickets/labels",
        json={"labels": [{"event_id": "e0", "label": "bug", "comment": 3}]},
    )
    assert response.status_code == 422


async def test_reviewers_see_the_comments_and_their_own_is_exported(settings):
    async with running(settings) as service:
        await service.create_project(overlap=TWICE)
        await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
        for name, label, comment in (("alice", "bug", "crash on login"), ("bob", "billing", None)):
            async with service.annotator("tickets", name) as socket:
                item = (await socket.next_item())["item"]["id"]
                message = {"type": "label", "item_id": item, "label": label, "label_id": name}
                if comment is not None:
                    message["comment"] = comment
                await socket.send(message)
                assert (await socket.expect("ack"))["type"] == "ack"
        async with service.reviewer("tickets", "rita") as rita:
            offered = await rita.expect("review")
            said = {x["annotator"]: x["comment"] for x in offered["labels"]}
            assert said == {"alice": "crash on login", "bob": None}
            await rita.send(
                {
                    "type": "resolve",
                    "item_id": "e0",
                    "label": "bug",
                    "label_id": "r-1",
                    "comment": "alice is right",
                }
            )
            assert (await rita.expect("ack"))["label_id"] == "r-1"
    rows = {row["label_id"]: row for row in exported(settings)}
    assert rows["r-1"]["comment"] == "alice is right" and rows["r-1"]["source"] == "review"
    assert rows["alice"]["comment"] == "crash on login"


async def test_a_comment_on_an_answer_to_a_gold_item_is_exported(settings):
    async with running(settings) as service:
        await service.create_project(gold_share=1.0)
        gold = {"items": [{"id": "g0", "data": ticket("bug", 9), "label": "bug"}]}
        assert (await service.http.post("/api/projects/tickets/gold", json=gold)).status_code == 200
        await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
        async with service.annotator("tickets", "alice") as alice:
            item = (await alice.next_item())["item"]["id"]
            assert item == "g0"
            await alice.send(
                {
                    "type": "label",
                    "item_id": item,
                    "label": "other",
                    "label_id": "a-g",
                    "comment": "hard one",
                }
            )
            assert (await alice.expect("ack", keep_items=True))["type"] == "ack"
            await alice.send(
                {
                    "type": "correct",
                    "corrects": "a-g",
                    "label": "bug",
                    "label_id": "a-g2",
                    "comment": "no, a bug",
                }
            )
            assert (await alice.expect("ack", keep_items=True))["type"] == "ack"
    [answer] = [row for row in exported(settings) if row["source"] == "gold_answer"]
    assert answer["comment"] == "no, a bug" and answer["correct"] is True
