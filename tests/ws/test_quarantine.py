"""Quarantine and release of an annotator: the model rebuilt without (or with) their labels, bit
for bit as if it had learned only the labels that count, while the service keeps answering."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from streamloop.config import Settings
from streamloop.store import NewGold, Store
from streamloop.streams import quarantine as quarantine_module
from streamloop.streams.quarantine import GOLD_ANSWERS_MIN
from support import Service, Socket, running, ticket

LABELS = ("billing", "bug", "other")
EVENTS = [
    {"id": f"e{n}", "data": ticket(LABELS[n % 3], n), "truth": LABELS[n % 3]} for n in range(12)
]
#: Sent while a model is rebuilt.
EXTRA = [{"id": f"x{n}", "data": ticket("bug", 500 + n), "truth": "bug"} for n in range(5)]
PROBES = [ticket(label, 1000 + n) for n in range(4) for label in LABELS]
# No random draws, no gold: every event waits for an annotator, in a fixed order.
SPEC: dict[str, Any] = {"exploration": 0.0}

#: (annotator, event id, label), in the order they were learned.
Given = list[tuple[str, str, str]]


async def _send_events(service: Service, project: str) -> None:
    await service.send_events(project, [{"id": e["id"], "data": e["data"]} for e in EVENTS])


def _truth(event_id: str) -> str:
    return next(str(e["truth"]) for e in EVENTS + EXTRA if e["id"] == event_id)


async def _label_next(socket: Socket, name: str, given: Given, *, wrong: bool = False) -> None:
    """``name`` labels the next item offered (rightly, or ``wrong``ly); recorded in ``given``."""
    item = (await socket.next_item())["item"]
    label = _truth(item["id"])
    if wrong:
        label = LABELS[(LABELS.index(label) + 1) % 3]
    ack = await socket.label(item["id"], label, f"{name}-{len(given)}")
    assert ack["type"] == "ack" and ack["duplicate"] is False, ack
    given.append((name, str(item["id"]), label))


async def _two_annotators(service: Service, rounds: int) -> Given:
    """alice (careless) and bob label items in turn; what each gave, in order."""
    given: Given = []
    async with (
        service.annotator("tickets", "alice") as alice,
        service.annotator("tickets", "bob") as bob,
    ):
        for _ in range(rounds):
            await _label_next(alice, "alice", given, wrong=True)
            await _label_next(bob, "bob", given)
    return given


async def _predictions(service: Service, project: str) -> list[dict[str, float]]:
    answers = []
    for data in PROBES:
        response = await service.http.post(f"/api/projects/{project}/predict", json={"data": data})
        assert response.status_code == 200, response.text
        answers.append(response.json()["probabilities"])
    return answers


async def _fresh(service: Service, given: Given, name: str = "fresh") -> list[dict[str, float]]:
    """A new project, the same events, learning ``given`` in order: its predictions."""
    await service.create_project(name=name, **SPEC)
    await _send_events(service, name)
    await service.send_events(name, [{"id": e["id"], "data": e["data"]} for e in EXTRA])
    for n, (_who, event_id, label) in enumerate(given):
        response = await service.http.post(
            f"/api/projects/{name}/labels",
            json={"labels": [{"event_id": event_id, "label": label, "label_id": f"f{n}"}]},
        )
        assert response.status_code == 200, response.text
    return await _predictions(service, name)


async def _post(service: Service, annotator: str, action: str) -> dict[str, Any]:
    response = await service.http.post(
        f"/api/projects/tickets/annotators/{annotator}/{action}", json={}
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


async def test_after_quarantine_the_model_is_one_that_learned_only_the_others_labels(
    settings: Settings,
):
    async with running(settings) as service:
        await service.create_project(**SPEC)
        await _send_events(service, "tickets")
        given = await _two_annotators(service, rounds=4)
        before = await service.metrics("tickets")
        assert before["model_version"] == 8
        assert before["annotators"]["alice"]["state"] == "active"

        answer = await _post(service, "alice", "quarantine")
        assert answer == {"annotator": "alice", "state": "quarantined", "model_version": 9}
        bobs = [g for g in given if g[0] == "bob"]
        assert await _predictions(service, "tickets") == await _fresh(service, bobs)

        metrics = await service.metrics("tickets")
        assert metrics["annotators"]["alice"]["state"] == "quarantined"
        assert metrics["annotators"]["bob"]["state"] == "active"
        # Her items wait for others again; she is offered nothing, and her labels are refused.
        assert metrics["queue_depth"] == before["queue_depth"] + 4
        async with service.annotator("tickets", "alice") as alice:
            # Told there is nothing for her, as idle, so a client waiting for work stops.
            assert (await alice.expect("item", "idle"))["type"] == "idle"
            refused = await alice.label("e0", "bug", "alice-late")
            assert refused["type"] == "error" and refused["code"] == "quarantined", refused
            assert alice.items == []
        text = (await service.http.get("/metrics")).text
        assert 'streamloop_annotator_quarantined{annotator="alice",project="tickets"} 1.0' in text
        assert 'streamloop_annotator_quarantined{annotator="bob",project="tickets"} 0.0' in text

        # Labels after it are stamped from the new version on.
        async with service.annotator("tickets", "bob") as bob:
            await _label_next(bob, "bob", given)
        assert (await service.metrics("tickets"))["model_version"] == 10

        # Quarantining her again changes nothing.
        again = await _post(service, "alice", "quarantine")
        assert again == {"annotator": "alice", "state": "quarantined", "model_version": 10}


async def test_the_service_answers_events_and_learns_labels_while_the_model_is_rebuilt(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    entered, go_on = threading.Event(), threading.Event()
    replayed = quarantine_module._replayed
    calls = 0

    def held(model: Any, labels: Any) -> Any:
        # The first call is the rebuild, off the event loop: it waits for the test.
        nonlocal calls
        calls += 1
        if calls == 1:
            entered.set()
            assert go_on.wait(20.0)
        return replayed(model, labels)

    monkeypatch.setattr(quarantine_module, "_replayed", held)
    async with running(settings) as service:
        await service.create_project(**SPEC)
        await _send_events(service, "tickets")
        given = await _two_annotators(service, rounds=3)
        rebuild = asyncio.create_task(_post(service, "alice", "quarantine"))
        await asyncio.to_thread(entered.wait, 20.0)
        try:
            # Mid-rebuild: events scored, predictions answered, a label learned by the old model.
            more = [{"id": e["id"], "data": e["data"]} for e in EXTRA]
            assert len(await service.send_events("tickets", more)) == len(EXTRA)
            assert len(await _predictions(service, "tickets")) == len(PROBES)
            metrics = await service.metrics("tickets")
            assert metrics["annotators"]["alice"]["state"] == "rebuilding"
            assert metrics["model_version"] == 6
            async with service.annotator("tickets", "bob") as bob:
                await _label_next(bob, "bob", given)
            assert (await service.metrics("tickets"))["model_version"] == 7
            assert not rebuild.done()
        finally:
            go_on.set()
        assert (await rebuild) == {"annotator": "alice", "state": "quarantined", "model_version": 8}
        bobs = [g for g in given if g[0] == "bob"]
        fresh = await _fresh(service, bobs)
        assert await _predictions(service, "tickets") == fresh


async def test_a_restart_keeps_the_quarantine_and_the_rebuilt_model(settings: Settings):
    async with running(settings) as service:
        await service.create_project(**SPEC)
        await _send_events(service, "tickets")
        await _two_annotators(service, rounds=3)
        version = (await _post(service, "alice", "quarantine"))["model_version"]
        served = await _predictions(service, "tickets")
        # Snapshotted at once: a crash from now on restores it, version and all.
        store = service.core.store
        snapshot = await store.run(store.latest_snapshot, service.core.project("tickets").record.id)
        assert snapshot is not None and snapshot[0] == version

    async with running(settings) as service:
        metrics = await service.metrics("tickets")
        assert metrics["annotators"]["alice"]["state"] == "quarantined"
        assert metrics["model_version"] == version
        assert await _predictions(service, "tickets") == served
        async with service.annotator("tickets", "alice") as alice:
            refused = await alice.label("e0", "bug", "alice-late")
            assert refused["type"] == "error" and refused["code"] == "quarantined", refused


async def test_a_stop_before_the_rebuilt_model_serves_replays_without_the_quarantined(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    async def fails(_self: Any, _learner: Any) -> None:
        raise RuntimeError("the process died mid-rebuild")

    async with running(settings) as service:
        await service.create_project(**SPEC)
        await _send_events(service, "tickets")
        given = await _two_annotators(service, rounds=3)
        # The state is stored (the snapshots deleted with it), then the rebuild never ends;
        # stopping must not snapshot the old model, which still holds her labels.
        with monkeypatch.context() as patch:
            patch.setattr(quarantine_module.Quarantine, "_rebuild", fails)
            response = await service.http.post(
                "/api/projects/tickets/annotators/alice/quarantine", json={}
            )
        assert response.status_code == 500, response.text
        metrics = await service.metrics("tickets")
        assert metrics["annotators"]["alice"]["state"] == "rebuilding"

    async with running(settings) as service:
        metrics = await service.metrics("tickets")
        assert metrics["annotators"]["alice"]["state"] == "quarantined"
        assert metrics["model_version"] == 6  # counting on from the newest stored: never back
        bobs = [g for g in given if g[0] == "bob"]
        assert await _predictions(service, "tickets") == await _fresh(service, bobs)


async def test_release_counts_their_labels_again(settings: Settings):
    async with running(settings) as service:
        await service.create_project(**SPEC)
        await _send_events(service, "tickets")
        given = await _two_annotators(service, rounds=3)
        depth = (await service.metrics("tickets"))["queue_depth"]
        await _post(service, "alice", "quarantine")
        answer = await _post(service, "alice", "release")
        assert answer == {"annotator": "alice", "state": "active", "model_version": 8}
        assert await _predictions(service, "tickets") == await _fresh(service, given)
        metrics = await service.metrics("tickets")
        assert metrics["annotators"]["alice"]["state"] == "active"
        assert metrics["queue_depth"] == depth  # her items are labelled again
        async with service.annotator("tickets", "alice") as alice:  # and she works again
            await _label_next(alice, "alice", given)


async def test_release_leaves_items_others_labelled_meanwhile_as_they_labelled_them(
    settings: Settings,
):
    async with running(settings) as service:
        await service.create_project(**SPEC)
        await _send_events(service, "tickets")
        given = await _two_annotators(service, rounds=2)
        await _post(service, "alice", "quarantine")
        async with service.annotator("tickets", "bob") as bob:
            # Bob takes every item left, hers included.
            for _ in range(len(EVENTS) - 2):
                await _label_next(bob, "bob", given)
        relabelled = {event_id for who, event_id, _ in given if who == "bob"}
        await _post(service, "alice", "release")
        counted = [g for g in given if g[0] == "bob" or g[1] not in relabelled]
        assert len(counted) == len(EVENTS)
        # What counts is learned in the order it was stored: her two labels came first.
        assert await _predictions(service, "tickets") == await _fresh(service, counted)


async def test_gold_min_accuracy_quarantines_an_annotator_surely_below_it(settings: Settings):
    gold = [
        {"id": f"g{n}", "data": ticket(LABELS[n % 3], 200 + n), "label": LABELS[n % 3]}
        for n in range(GOLD_ANSWERS_MIN + 4)
    ]
    truth = {g["id"]: g["label"] for g in gold}
    async with running(settings) as service:
        await service.create_project(gold_share=1.0, gold_min_accuracy=0.5, **SPEC)
        await _send_events(service, "tickets")
        stored = await service.http.post("/api/projects/tickets/gold", json={"items": gold})
        assert stored.status_code == 200, stored.text

        async def answer(socket: Socket, name: str, n: int, *, right: bool) -> None:
            item = (await socket.next_item())["item"]
            label = (
                truth[item["id"]] if right else LABELS[(LABELS.index(truth[item["id"]]) + 1) % 3]
            )
            ack = await socket.label(item["id"], label, f"{name}-{n}")
            assert ack["type"] == "ack", ack

        async with (
            service.annotator("tickets", "carol") as carol,
            service.annotator("tickets", "dave") as dave,
        ):
            for n in range(4):
                await answer(dave, "dave", n, right=True)
            for n in range(GOLD_ANSWERS_MIN - 1):
                await answer(carol, "carol", n, right=False)
            # 0 of 19 is surely under 0.5, but too few answers to act on: one wrong answer
            # too early would otherwise quarantine a good annotator now and then.
            metrics = await service.metrics("tickets")
            assert metrics["annotators"]["carol"]["gold"]["high"] < 0.5
            assert metrics["annotators"]["carol"]["state"] == "active"
            await answer(carol, "carol", GOLD_ANSWERS_MIN, right=False)
            metrics = await service.metrics("tickets")
            assert metrics["annotators"]["carol"]["state"] in {"rebuilding", "quarantined"}
            assert metrics["annotators"]["dave"]["state"] == "active"
            # Asking for what is under way waits for it, and changes nothing more.
            done = await _post(service, "carol", "quarantine")
            assert done["state"] == "quarantined"
        metrics = await service.metrics("tickets")
        # Her gold still counts.
        assert metrics["annotators"]["carol"]["gold"]["answered"] == GOLD_ANSWERS_MIN
        assert metrics["annotators"]["dave"]["state"] == "active"


ROLES = ("admin", "annotator", "supervisor")


async def test_quarantine_needs_a_supervisor_and_a_known_project(settings: Settings):
    store = Store(settings.database_url)
    try:
        tokens = {role: store.tokens.create(role, role)[1] for role in ROLES}
    finally:
        store.close()

    def bearer(secret: str) -> dict[str, str]:
        return {"authorization": f"Bearer {secret}"}

    async with running(settings) as service:
        admin = bearer(tokens["admin"])
        response = await service.http.post(
            "/api/projects", json={"name": "tickets", "labels": list(LABELS)}, headers=admin
        )
        assert response.status_code == 201, response.text
        path = "/api/projects/tickets/annotators/alice/quarantine"
        nobody = await service.http.post(path, json={}, headers=admin)
        assert (nobody.status_code, nobody.json()["error"]["code"]) == (404, "unknown_annotator")
        # One answer to a gold item is enough for alice to be known.
        store = service.core.store
        project = store.project("tickets")
        store.add_gold(project.id, [NewGold("g0", ticket("bug", 1), "bug")])
        [gold] = store.gold_items(project.id)
        store.answer_gold(project.id, gold.id, "alice", "bug", "a-0")
        refused = await service.http.post(path, json={}, headers=bearer(tokens["annotator"]))
        assert refused.status_code == 403, refused.text
        allowed = await service.http.post(path, json={}, headers=bearer(tokens["supervisor"]))
        assert allowed.status_code == 202, allowed.text
        assert allowed.json()["state"] == "quarantined"
        unknown = await service.http.post(
            "/api/projects/nope/annotators/alice/release", json={}, headers=admin
        )
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_project"
        not_json = await service.http.post(
            "/api/projects/tickets/annotators/alice/release", content=b"{}", headers=admin
        )
        assert not_json.status_code == 415, not_json.text
