"""Overlap, agreement and review through the API: overlapped items reach several annotators and
are learned once; disagreements go to a reviewer, whose outcome the model learns."""

from __future__ import annotations

from typing import Any

import pytest

from streamloop.config import Settings
from streamloop.streams.export import export_labels
from support import Socket, running, ticket

TWICE = {"share": 1.0, "annotators": 2}


async def _label_all(socket: Socket, answers: dict[str, str], prefix: str) -> list[str]:
    """Label every item offered until idle, from ``answers`` (by item id); the ids, in order,
    each acked."""
    seen: list[str] = []
    while True:
        message = await socket.expect("item", "idle")
        if message["type"] == "idle":
            return seen
        item_id = message["item"]["id"]
        ack = await socket.label(item_id, answers[item_id], f"{prefix}-{len(seen)}")
        assert ack["type"] == "ack" and ack["duplicate"] is False, ack
        seen.append(item_id)


async def test_overlapped_items_reach_distinct_annotators_and_are_learned_once(settings):
    async with running(settings) as service:
        await service.create_project(overlap={"share": 1.0, "annotators": 3})
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(3)]
        await service.send_events("tickets", events)
        answers = {f"e{n}": "bug" for n in range(3)}
        async with service.annotator("tickets", "alice") as alice:
            hers = await _label_all(alice, answers, "a")
            assert sorted(hers) == ["e0", "e1", "e2"]
            # Labelling one again is refused: she has labelled it.
            again = await alice.label("e0", "bug", "a-again")
            assert (again["type"], again["code"]) == ("error", "already_labelled")
        metrics = await service.metrics("tickets")
        assert metrics["model_version"] == 3 and metrics["overlap_waiting"] == 3
        async with service.annotator("tickets", "bob") as bob:
            # Overlapped items come first, oldest first; his labels are recorded, not learned.
            assert await _label_all(bob, answers, "b") == hers
        metrics = await service.metrics("tickets")
        assert metrics["model_version"] == 3
        assert metrics["annotators"]["bob"]["recorded"] == 3
    async with running(settings) as service:  # a restart keeps who labelled what
        async with service.annotator("tickets", "bob") as bob:
            assert (await bob.expect("item", "idle"))["type"] == "idle"
        async with service.annotator("tickets", "carol") as carol:
            assert sorted(await _label_all(carol, answers, "c")) == ["e0", "e1", "e2"]
        metrics = await service.metrics("tickets")
        assert metrics["model_version"] == 3 and metrics["labels_total"] == 3
        assert metrics["overlap_waiting"] == 0 and metrics["review"]["waiting"] == 0
        recorded = {name: their["recorded"] for name, their in metrics["annotators"].items()}
        assert recorded == {"alice": 0, "bob": 3, "carol": 3}
        async with service.annotator("tickets", "dan") as dan:
            assert (await dan.expect("item", "idle"))["type"] == "idle"
        store = service.core.store
        rows = await store.run(lambda: list(export_labels(store, "tickets")))
    # Every annotator's label is exported, and which one was learned.
    by_item: dict[str, list[tuple[str, bool]]] = {}
    for row in rows:
        by_item.setdefault(row["event_id"], []).append((row["annotator"], row["learned"]))
    assert by_item == {
        item: [(hers_first, True), ("bob", False), ("carol", False)]
        for item, hers_first in zip(hers, ["alice"] * 3, strict=True)
    }


async def _two_labels(service: Any, first: str, second: str, n: int = 0) -> None:
    """alice labels item e<n> ``first``, bob ``second``."""
    async with service.annotator("tickets", "alice") as alice:
        item = (await alice.next_item())["item"]
        assert (await alice.label(item["id"], first, f"a{n}"))["type"] == "ack"
    async with service.annotator("tickets", "bob") as bob:
        item = (await bob.next_item())["item"]
        assert item["id"] == f"e{n}"
        assert (await bob.label(item["id"], second, f"b{n}"))["model_version"] == n + 1


async def test_a_disagreement_goes_to_review_and_its_outcome_is_learned_as_a_correction(
    settings: Settings,
):
    async with running(settings) as service:
        await service.create_project(overlap=TWICE)
        await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
        await _two_labels(service, "bug", "billing")
        metrics = await service.metrics("tickets")
        assert metrics["model_version"] == 1 and metrics["review"] == {"waiting": 1, "leased": 0}
        async with service.reviewer("tickets", "rita") as rita:
            offered = await rita.expect("review")
            assert offered["item"]["id"] == "e0" and offered["reason"] == "disagreement"
            said = {(x["annotator"], x["label"], x["learned"]) for x in offered["labels"]}
            assert said == {("alice", "bug", True), ("bob", "billing", False)}
            await rita.send(
                {"type": "resolve", "item_id": "e0", "label": "billing", "label_id": "r0"}
            )
            ack = await rita.expect("ack")
            assert ack["model_version"] == 2  # learned, as a correction of alice's label
            assert (await rita.expect("idle"))["type"] == "idle"
            # A retry of the same outcome (its ack lost, say) is acked again, once learned.
            await rita.send(
                {"type": "resolve", "item_id": "e0", "label": "billing", "label_id": "r0"}
            )
            again = await rita.expect("ack")
            assert again["duplicate"] is True and again["model_version"] == 2
        metrics = await service.metrics("tickets")
        assert metrics["review"]["waiting"] == 0 and metrics["labels_total"] == 1
        with_review = (
            await service.http.post(
                "/api/projects/tickets/predict", json={"data": ticket("bug", 0)}
            )
        ).json()["probabilities"]
    async with running(settings) as service:  # replayed: the same model, nothing in review
        metrics = await service.metrics("tickets")
        assert metrics["model_version"] == 2 and metrics["review"]["waiting"] == 0
        replayed = (
            await service.http.post(
                "/api/projects/tickets/predict", json={"data": ticket("bug", 0)}
            )
        ).json()["probabilities"]
        assert replayed == with_review


async def test_a_review_that_agrees_with_what_was_learned_is_recorded_not_learned(settings):
    async with running(settings) as service:
        await service.create_project(overlap=TWICE)
        await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
        await _two_labels(service, "bug", "billing")
        async with service.reviewer("tickets", "rita") as rita:
            await rita.expect("review")
            await rita.send({"type": "resolve", "item_id": "e0", "label": "bug", "label_id": "r"})
            assert (await rita.expect("ack"))["model_version"] == 1


async def test_a_supervisor_flags_a_labelled_item_for_review(settings):
    async with running(settings) as service:
        await service.create_project()
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(2)]
        await service.send_events("tickets", events)
        async with service.annotator("tickets", "alice") as alice:
            item = (await alice.next_item())["item"]
            await alice.label(item["id"], "bug", "a0")
        waiting = "e1" if item["id"] == "e0" else "e0"
        flag = "/api/projects/tickets/items/{}/review"
        refused = await service.http.post(flag.format(waiting), json={})
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "not_labelled")
        unknown = await service.http.post(flag.format("nope"), json={})
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_item")
        flagged = await service.http.post(flag.format(item["id"]), json={})
        assert flagged.status_code == 202
        assert flagged.json() == {"item_id": item["id"], "status": "review", "reason": "flagged"}
        async with service.reviewer("tickets", "rita") as rita:
            offered = await rita.expect("review")
            assert offered["reason"] == "flagged" and offered["item"]["id"] == item["id"]
            await rita.send({"type": "skip", "item_id": item["id"]})
            assert (await rita.expect("idle"))["type"] == "idle"  # not offered to her again
        async with service.reviewer("tickets", "rob") as rob:
            offered = await rob.expect("review")
            await rob.send(
                {"type": "resolve", "item_id": item["id"], "label": "other", "label_id": "r"}
            )
            assert (await rob.expect("ack"))["model_version"] == 2
            # Settled: resolving it again finds nothing to review.
            await rob.send(
                {"type": "resolve", "item_id": item["id"], "label": "bug", "label_id": "r2"}
            )
            assert (await rob.expect("error"))["code"] == "not_in_review"


async def test_kappa_and_alpha_are_the_hand_computed_values(settings):
    async with running(settings) as service:
        await service.create_project(overlap=TWICE)
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(3)]
        await service.send_events("tickets", events)
        # alice: bug, bug, billing; bob: bug, billing, billing. Agreeing on 2 of 3 items;
        # kappa = (2/3 - 4/9) / (1 - 4/9) = 0.4; alpha = 1 - 5 * 2 / (36 - 18) = 4/9.
        async with service.annotator("tickets", "alice") as alice:
            await _label_all(alice, {"e0": "bug", "e1": "bug", "e2": "billing"}, "a")
        async with service.annotator("tickets", "bob") as bob:
            await _label_all(bob, {"e0": "bug", "e1": "billing", "e2": "billing"}, "b")
        metrics = await service.metrics("tickets")
        prometheus = (await service.http.get("/metrics")).text
    expected = (pytest.approx(0.4), pytest.approx(4 / 9))
    for figures in (metrics, None):
        if figures is None:
            async with running(settings) as again:  # and after a restart, from the store
                figures = await again.metrics("tickets")
        annotators = figures["annotators"]
        assert (annotators["alice"]["kappa"]["bob"], figures["agreement"]["alpha"]) == expected
        assert annotators["bob"]["kappa"] == {"alice": pytest.approx(0.4)}
        assert figures["agreement"]["items"] == 3
        assert figures["review"]["waiting"] == 1  # e1, where they disagreed
    assert 'streamloop_agreement_items{project="tickets"} 3.0' in prometheus
    pair = 'streamloop_annotator_kappa{annotator="alice",other="bob",project="tickets"} '
    [value] = [line.removeprefix(pair) for line in prometheus.splitlines() if line.startswith(pair)]
    assert float(value) == pytest.approx(0.4)


async def test_an_idle_annotator_gets_an_overlapped_item_with_the_prediction_shown_first(settings):
    async with running(settings) as service:
        await service.create_project(overlap=TWICE)
        async with (
            service.annotator("tickets", "alice") as alice,
            service.annotator("tickets", "bob") as bob,
        ):
            assert (await alice.expect("item", "idle"))["type"] == "idle"
            assert (await bob.expect("item", "idle"))["type"] == "idle"
            await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
            offered = (await alice.next_item())["item"]
            assert (await alice.label("e0", "bug", "a0"))["model_version"] == 1
            # bob, idle, is offered it at once, with what the model said before alice's label.
            second = (await bob.next_item())["item"]
            assert second["id"] == "e0"
            assert second["model_version"] == offered["model_version"] == 0
            assert second["probabilities"] == offered["probabilities"]


async def test_quarantining_the_first_of_two_annotators_sends_their_shared_item_to_review(
    settings: Settings,
):
    async with running(settings) as service:
        await service.create_project(overlap=TWICE)
        await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
        await _two_labels(service, "bug", "bug")  # they agree: labelled, learned from alice
        quarantined = await service.http.post(
            "/api/projects/tickets/annotators/alice/quarantine", json={}
        )
        assert quarantined.status_code == 202, quarantined.text
        version = quarantined.json()["model_version"]
        metrics = await service.metrics("tickets")
        # Not back in the queue (bob's label stands), and not lost: a reviewer decides.
        assert metrics["queue_depth"] == 0 and metrics["review"]["waiting"] == 1
        async with service.reviewer("tickets", "rita") as rita:
            assert (await rita.expect("review"))["item"]["id"] == "e0"
            await rita.send({"type": "resolve", "item_id": "e0", "label": "bug", "label_id": "r"})
            # Learned, though it agrees with alice: her label is not the model's any more.
            assert (await rita.expect("ack"))["model_version"] == version + 1


async def test_a_review_that_agreed_with_a_quarantined_annotator_is_asked_again(settings):
    async with running(settings) as service:
        await service.create_project()
        await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
        async with service.annotator("tickets", "alice") as alice:
            await alice.next_item()
            assert (await alice.label("e0", "bug", "a0"))["model_version"] == 1
        flag = await service.http.post("/api/projects/tickets/items/e0/review", json={})
        assert flag.status_code == 202
        async with service.reviewer("tickets", "rita") as rita:
            await rita.expect("review")
            await rita.send({"type": "resolve", "item_id": "e0", "label": "bug", "label_id": "r0"})
            assert (await rita.expect("ack"))["model_version"] == 1  # agreed: recorded only
        quarantined = await service.http.post(
            "/api/projects/tickets/annotators/alice/quarantine", json={}
        )
        version = quarantined.json()["model_version"]
        # The review stood on alice's label, which no longer counts: it is asked again.
        async with service.reviewer("tickets", "rob") as rob:
            offered = await rob.expect("review")
            assert offered["reason"] == "quarantined"
            assert [(x["annotator"], x["learned"]) for x in offered["labels"]] == [
                ("alice", False),
                ("rita", False),
            ]
            await rob.send({"type": "resolve", "item_id": "e0", "label": "bug", "label_id": "r1"})
            assert (await rob.expect("ack"))["model_version"] == version + 1


async def test_a_quarantined_annotator_leaves_the_agreement_and_a_release_brings_them_back(
    settings,
):
    async with running(settings) as service:
        await service.create_project(overlap=TWICE)
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(3)]
        await service.send_events("tickets", events)
        async with service.annotator("tickets", "alice") as alice:
            await _label_all(alice, {f"e{n}": "bug" for n in range(3)}, "a")
        async with service.annotator("tickets", "bob") as bob:
            await _label_all(bob, {"e0": "bug", "e1": "bug", "e2": "billing"}, "b")
        before = await service.metrics("tickets")
        assert before["agreement"]["items"] == 3 and "bob" in before["annotators"]["alice"]["kappa"]
        url = "/api/projects/tickets/annotators/bob"
        assert (await service.http.post(f"{url}/quarantine", json={})).status_code == 202
        out = await service.metrics("tickets")
        assert out["agreement"]["items"] == 0 and out["annotators"]["alice"]["kappa"] == {}
    async with running(settings) as service:  # as stored: still out after a restart
        assert (await service.metrics("tickets"))["agreement"]["items"] == 0
        url = "/api/projects/tickets/annotators/bob"
        assert (await service.http.post(f"{url}/release", json={})).status_code == 202
        back = await service.metrics("tickets")
        assert back["agreement"] == before["agreement"]
