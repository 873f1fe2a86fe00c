"""An annotator's history: ``recent`` gives their latest answers, which ``correct`` takes, on
any connection; ``hello`` says how many they have given."""

from __future__ import annotations

import pytest

from support import running, ticket

LABELS = ["billing", "bug", "other"]


async def seed(service, n: int, **project) -> None:
    await service.create_project(**project)
    events = [{"id": f"e{i}", "data": ticket(LABELS[i % 3], i)} for i in range(n)]
    await service.send_events(project.get("name", "tickets"), events)


async def recent(socket, limit: int | None = None) -> list[dict]:
    message = {"type": "recent"} if limit is None else {"type": "recent", "limit": limit}
    await socket.send(message)
    return (await socket.expect("recent", keep_items=True))["labels"]


async def correct(socket, corrects: str, label, label_id: str, **more) -> dict:
    field = "label" if isinstance(label, str) else "spans"
    await socket.send(
        {"type": "correct", "corrects": corrects, field: label, "label_id": label_id, **more}
    )
    return await socket.expect("ack", "error", keep_items=True)


async def test_recent_lists_the_latest_answer_per_item_newest_first(settings):
    async with running(settings) as service:
        await seed(service, 5)
        async with service.annotator("tickets", "alice") as alice:
            hello = await alice.expect("hello")
            assert hello["labelled"] == 0
            assert await recent(alice) == []
            items = []
            for n in range(3):
                item = (await alice.next_item())["item"]
                ack = await alice.label(item["id"], "bug", f"a-{n}")
                assert ack["type"] == "ack"
                items.append(item)
            ack = await correct(alice, "a-0", "other", "a-0-fix", comment="a question")
            assert ack["corrects"] == "a-0"
            history = await recent(alice)
        assert [(h["label_id"], h["item"]["id"], h["label"]) for h in history] == [
            ("a-0-fix", items[0]["id"], "other"),
            ("a-2", items[2]["id"], "bug"),
            ("a-1", items[1]["id"], "bug"),
        ]
        assert history[0]["comment"] == "a question" and history[1]["comment"] is None
        assert history[0]["item"]["data"] == items[0]["data"]
        assert history[0]["model_version"] == 4 and history[2]["model_version"] == 2
        assert all(h["labelled_at"].endswith("Z") for h in history)
        assert history[0]["labelled_at"] >= history[1]["labelled_at"]
        async with service.annotator("tickets", "bob") as bob:
            assert (await bob.expect("hello"))["labelled"] == 0
            assert await recent(bob) == []
    # After a restart, on a new connection.
    async with running(settings) as service, service.annotator("tickets", "alice") as alice:
        assert (await alice.expect("hello"))["labelled"] == 3
        history = await recent(alice, limit=2)
        assert [h["label_id"] for h in history] == ["a-0-fix", "a-2"]
        # Each label_id the history gives is one `correct` takes, again and again.
        ack = await correct(alice, "a-0-fix", "billing", "a-0-fix-2")
        assert ack["type"] == "ack" and ack["corrects"] == "a-0-fix"
        ack = await correct(alice, "a-2", "other", "a-2-fix")
        assert ack["type"] == "ack"
        history = await recent(alice)
        assert [(h["label_id"], h["label"]) for h in history] == [
            ("a-2-fix", "other"),
            ("a-0-fix-2", "billing"),
            ("a-1", "bug"),
        ]


@pytest.mark.parametrize("limit", [0, 101, "5", 2.5, None])
async def test_a_bad_limit_is_refused_and_the_socket_goes_on(service, limit):
    await seed(service, 2)
    async with service.annotator("tickets", "alice") as alice:
        await alice.send({"type": "recent", "limit": limit})
        error = await alice.expect("error", keep_items=True)
        assert error["code"] == "invalid_input" and "limit" in error["message"]
        assert await recent(alice, limit=100) == []


async def test_answers_to_gold_items_are_in_the_history_and_correctable(service):
    await seed(service, 2, gold_share=1.0)
    gold = {"items": [{"id": "g0", "data": ticket("bug", 9), "label": "bug"}]}
    assert (await service.http.post("/api/projects/tickets/gold", json=gold)).status_code == 200
    async with service.annotator("tickets", "alice") as alice:
        item = (await alice.next_item())["item"]
        assert item["id"] == "g0"
        assert (await alice.label("g0", "other", "a-g"))["type"] == "ack"
        [answer] = await recent(alice)
        assert answer["item"] == {"id": "g0", "data": item["data"]}
        assert (answer["label_id"], answer["label"], answer["model_version"]) == (
            "a-g",
            "other",
            None,
        )
        assert (await correct(alice, "a-g", "billing", "a-g2"))["type"] == "ack"
        [answer] = await recent(alice)
        assert (answer["label_id"], answer["label"]) == ("a-g2", "billing")
        # The correction's label_id names the answer from now on, as a label's does.
        assert (await correct(alice, "a-g2", "bug", "a-g3", comment="sure now"))["type"] == "ack"
        [answer] = await recent(alice)
        assert (answer["label_id"], answer["label"], answer["comment"]) == (
            "a-g3",
            "bug",
            "sure now",
        )
    metrics = await service.metrics("tickets")
    assert metrics["annotators"]["alice"]["gold"]["correct"] == 1


async def test_a_spans_project_history_carries_spans_and_tokens(service):
    await service.create_project(name="names", labels=["PER", "LOC"], task="spans")
    await service.send_events("names", [{"id": "e0", "data": {"text": "Ada moved to Paris"}}])
    spans = [{"start": 0, "end": 3, "label": "PER"}]
    async with service.annotator("names", "alice") as alice:
        item = (await alice.next_item())["item"]
        await alice.send({"type": "label", "item_id": "e0", "spans": spans, "label_id": "s-1"})
        assert (await alice.expect("ack"))["label_id"] == "s-1"
        [answer] = await recent(alice)
        assert answer["spans"] == spans and "label" not in answer
        assert answer["item"]["tokens"] == item["tokens"]
        assert answer["item"]["data"] == {"text": "Ada moved to Paris"}


async def test_a_multilabel_project_history_carries_label_sets(service):
    await service.create_project(
        name="topics", labels=["bug", "ui", "billing"], task="multilabel", model="naive_bayes"
    )
    await service.send_events("topics", [{"id": "e0", "data": {"text": "the button is grey"}}])
    async with service.annotator("topics", "alice") as alice:
        await alice.next_item()
        assert (await alice.label("e0", ["ui", "bug"], "m-1"))["type"] == "ack"
        [answer] = await recent(alice)
        assert sorted(answer["labels"]) == ["bug", "ui"] and "label" not in answer
