"""Quality control through the API: gold items, whose answers score annotators and are never
learned."""

from __future__ import annotations

from typing import Any

from streamloop.config import Settings
from support import running, ticket

GOLD = [
    {"id": "g-1", "data": ticket("bug", 101), "label": "bug"},
    {"id": "g-2", "data": ticket("billing", 102), "label": "billing"},
]


async def _answer(socket: Any, answers: dict[str, str], label_id: str) -> str:
    """Take the next item, answer it from ``answers`` (by item id, else "other"); its id."""
    item = (await socket.next_item())["item"]
    assert set(item) == {
        "id",
        "data",
        "prediction",
        "probabilities",
        "uncertainty",
        "model_version",
        "track_record",
    }
    ack = await socket.label(item["id"], answers.get(item["id"], "other"), label_id)
    assert ack["type"] == "ack" and ack["duplicate"] is False, ack
    return str(item["id"])


async def test_gold_answers_are_never_learned_and_score_the_annotator_who_gave_them(settings):
    async with running(settings) as service:
        await service.create_project(gold_share=1.0)  # every item offered is gold, while unseen
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(2)]
        await service.send_events("tickets", events)
        stored = await service.http.post("/api/projects/tickets/gold", json={"items": GOLD})
        assert stored.status_code == 200 and stored.json() == {"stored": 2, "duplicates": 0}
        again = await service.http.post("/api/projects/tickets/gold", json={"items": GOLD[:1]})
        assert again.json() == {"stored": 0, "duplicates": 1}

        async with service.annotator("tickets", "alice") as alice:
            # Her first two items are the gold ones, looking like any other: g-1 right, g-2 wrong.
            seen = [await _answer(alice, {"g-1": "bug", "g-2": "bug"}, f"a{n}") for n in range(2)]
            assert sorted(seen) == ["g-1", "g-2"]
            assert (await service.metrics("tickets"))["labels_total"] == 0  # nothing learned
            # Then real work: the gold is spent for her.
            assert await _answer(alice, {}, "a2") in {"e0", "e1"}
        async with service.annotator("tickets", "bob") as bob:
            assert await _answer(bob, {"g-1": "bug", "g-2": "billing"}, "b0") in {"g-1", "g-2"}

        metrics = await service.metrics("tickets")
        assert metrics["labels_total"] == 1 and metrics["model_version"] == 1
        alice_gold = metrics["annotators"]["alice"]["gold"]
        assert {k: alice_gold[k] for k in ("answered", "correct", "accuracy")} == {
            "answered": 2,
            "correct": 1,
            "accuracy": 0.5,
        }
        assert 0.0 < alice_gold["low"] < 0.5 < alice_gold["high"] < 1.0
        assert metrics["annotators"]["bob"]["gold"]["answered"] == 1
        assert metrics["annotators"]["bob"]["gold"]["correct"] == 1
        assert metrics["annotators"]["bob"]["labels"] == 0  # gold answers are not labels

        text = (await service.http.get("/metrics")).text
        assert 'streamloop_gold_accuracy{annotator="alice",project="tickets"} 0.5' in text
        assert 'streamloop_gold_answers_total{annotator="bob",project="tickets"} 1.0' in text

    async with running(settings) as service:  # a restart keeps the scores
        metrics = await service.metrics("tickets")
        assert metrics["annotators"]["alice"]["gold"]["answered"] == 2
        assert metrics["annotators"]["bob"]["gold"]["correct"] == 1


async def test_a_retried_gold_answer_is_acked_as_a_duplicate_and_counts_once(settings: Settings):
    async with running(settings) as service:
        await service.create_project(gold_share=1.0)
        await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
        await service.http.post("/api/projects/tickets/gold", json={"items": GOLD[:1]})
        async with service.annotator("tickets", "alice") as alice:
            item = (await alice.next_item())["item"]["id"]
            assert item == "g-1"
            first = await alice.label(item, "bug", "l-1")
            retry = await alice.label(item, "bug", "l-1")
            assert first["duplicate"] is False and retry["duplicate"] is True
            assert retry["type"] == "ack"
            # Answered once: another label for it is refused, as for any item.
            second = await alice.label(item, "billing", "l-2")
            assert second["type"] == "error" and second["code"] == "already_labelled"
            # A correction changes the answer, and its score; nothing is learned.
            await alice.send(
                {"type": "correct", "corrects": "l-1", "label": "other", "label_id": "l-3"}
            )
            fixed = await alice.expect("ack", keep_items=True)
            assert fixed["corrects"] == "l-1" and fixed["item_id"] == "g-1"
        metrics = await service.metrics("tickets")
        gold = metrics["annotators"]["alice"]["gold"]
        assert gold["answered"] == 1 and gold["correct"] == 0
        assert metrics["labels_total"] == 0


async def test_gold_is_offered_once_per_annotator_only_while_real_items_wait(settings: Settings):
    async with running(settings) as service:
        await service.create_project(gold_share=1.0)
        await service.http.post("/api/projects/tickets/gold", json={"items": GOLD[:1]})
        async with service.annotator("tickets", "alice") as alice:
            assert (await alice.expect("idle"))["type"] == "idle"  # gold never fills an empty queue
        await service.send_events(
            "tickets", [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(3)]
        )
        async with service.annotator("tickets", "alice") as alice:
            gold = (await alice.next_item())["item"]["id"]
            assert gold == "g-1"
            await alice.send({"type": "skip", "item_id": gold})
            # Skipped, and never offered to her again: not on this socket, not on another.
            assert (await alice.next_item())["item"]["id"] in {"e0", "e1", "e2"}
            async with service.annotator("tickets", "alice", prefetch=2) as again:
                ids = {(await again.next_item())["item"]["id"] for _ in range(2)}
                assert "g-1" not in ids


async def test_an_annotator_never_offered_a_gold_item_cannot_answer_it(settings: Settings):
    async with running(settings) as service:
        await service.create_project(gold_share=0.0)
        await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
        await service.http.post("/api/projects/tickets/gold", json={"items": GOLD[:1]})
        async with service.annotator("tickets", "mallory") as mallory:
            assert (await mallory.next_item())["item"]["id"] == "e0"
            reply = await mallory.label("g-1", "bug", "m-1")
            assert reply["type"] == "error" and reply["code"] == "unknown_item", reply
        metrics = await service.metrics("tickets")
        assert "mallory" not in metrics["annotators"]  # no label, no gold answer, gone


async def test_a_gold_id_that_is_an_events_id_is_refused(settings: Settings):
    async with running(settings) as service:
        await service.create_project()
        await service.send_events("tickets", [{"id": "g-1", "data": ticket("bug", 0)}])
        response = await service.http.post("/api/projects/tickets/gold", json={"items": GOLD})
        assert response.status_code == 409 and response.json()["error"]["code"] == "id_taken"
        again = await service.http.post("/api/projects/tickets/gold", json={"items": GOLD[1:]})
        assert again.json() == {"stored": 1, "duplicates": 0}  # nothing of the first was stored


async def test_gold_labels_must_be_the_projects(settings: Settings):
    async with running(settings) as service:
        await service.create_project()
        bad = {"items": [{"id": "g-1", "data": ticket("bug", 1), "label": "nope"}]}
        response = await service.http.post("/api/projects/tickets/gold", json=bad)
        assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_label"
        assert (await service.http.get("/api/projects/tickets")).json()["gold_share"] is None


async def test_each_item_offered_carries_the_track_record_of_the_model_as_it_is_then(service):
    # The record is worked out once per model version: each label learned moves it, so the
    # item offered after each ack counts one answer more.
    await service.create_project()
    await service.send_events(
        "tickets", [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(5)]
    )
    counted: list[int] = []
    async with service.annotator("tickets", "alice") as alice:
        for n in range(4):
            item = (await alice.next_item())["item"]
            counted.append(item["track_record"]["of"])
            ack = await alice.label(item["id"], "bug", f"l{n}")
            assert ack["type"] == "ack", ack
    assert counted == [0, 1, 2, 3]
