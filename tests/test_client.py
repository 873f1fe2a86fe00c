"""streamloop.client against a live service: projects, traffic, labels, annotate sessions, auth."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Collection
from types import SimpleNamespace
from typing import Any, TypeVar

import orjson
import pytest

from streamloop.client import AsyncClient, Client, StreamloopError
from streamloop.client.session import SessionState
from streamloop.config import Settings
from streamloop.errors import TooManyRequests
from streamloop.online import Span
from streamloop.store import Store
from streamloop.streams.export import export_labels
from streamloop.streams.project import ProjectRuntime
from support import RECEIVE_TIMEOUT, Service, running, ticket

LABELS = ["billing", "bug", "other"]
TOPICS = ["billing", "bug", "ui"]
TOPIC_WORDS = {"billing": "charged refund", "bug": "crash error", "ui": "button layout"}
T = TypeVar("T")


async def within(awaitable: Awaitable[T]) -> T:
    """A safety net against hangs, not a timing assertion."""
    return await asyncio.wait_for(awaitable, RECEIVE_TIMEOUT)


def events(n: int, start: int = 0) -> list[tuple[str, dict[str, str]]]:
    return [(f"evt-{i}", ticket(LABELS[i % 3], i)) for i in range(start, start + n)]


def test_items_that_arrive_while_a_label_waits_are_kept_in_order() -> None:
    state = SessionState()
    for item_id in ("e1", "e2"):  # prefetch 2
        state.feed(orjson.dumps({"type": "item", "item": {"id": item_id, "data": {}}}))
    assert state.take_item().id == "e1"
    # Labelling e1: another item comes before its ack.
    state.feed(orjson.dumps({"type": "item", "item": {"id": "e3", "data": {}}}))
    assert state.take_reply("e1", "l-1") is None
    state.feed(orjson.dumps({"type": "ack", "item_id": "e1", "label_id": "l-1"}))
    assert state.take_reply("e1", "l-1") == {"type": "ack", "item_id": "e1", "label_id": "l-1"}
    assert list(state.held) == ["e2", "e3"]
    assert [state.take_item().id, state.take_item().id] == ["e2", "e3"]
    assert state.take_item() is None


async def test_create_list_and_get_projects(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        created = await client.create_project("tickets", LABELS, input="text", seed=3)
        assert created["name"] == "tickets" and created["labels"] == LABELS
        assert created["seed"] == 3
        await client.create_project("rows", ["yes", "no"], input="tabular")
        assert sorted(p["name"] for p in await client.projects()) == ["rows", "tickets"]
        assert (await client.project("tickets"))["seed"] == 3


async def test_the_models_a_project_may_name_are_listed(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        models = await client.models()
    presets = [model["name"] for model in models if model["source"] == "preset"]
    assert presets == [
        "logistic_regression",
        "naive_bayes",
        "hoeffding_tree",
        "adaptive_random_forest",
    ]
    assert all(model["usable"] for model in models if model["source"] == "preset")

    # The synchronous client says the same: the same models, the presets alike to the last
    # field (an installed plugin's contract check may have ended between the two lists).
    def listed() -> list[dict]:
        with Client(service.base) as client:
            return client.models()

    again = await asyncio.to_thread(listed)
    assert [(m["name"], m["source"]) for m in again] == [(m["name"], m["source"]) for m in models]
    assert [m for m in again if m["source"] == "preset"] == [
        m for m in models if m["source"] == "preset"
    ]


async def test_a_supervisor_promotes_a_challenger(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS, input="text", challengers=["naive_bayes"])
        answer = await client.promote("tickets", "naive_bayes")
        assert answer == {
            "model": "naive_bayes",
            "model_version": 1,
            "challengers": ["logistic_regression"],
        }
        assert (await client.project("tickets"))["model"] == "naive_bayes"
        with pytest.raises(StreamloopError) as refused:
            await client.promote("tickets", "hoeffding_tree")
        assert refused.value.code == "unknown_model"


async def test_a_contract_error_raises_streamloop_error_with_its_code(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        with pytest.raises(StreamloopError) as missing:
            await client.project("nope")
        assert (missing.value.code, missing.value.status) == ("unknown_project", 404)
        assert not missing.value.retryable and missing.value.message

        await client.create_project("tickets", LABELS)
        with pytest.raises(StreamloopError) as taken:
            await client.create_project("tickets", LABELS)
        assert taken.value.status == 409
        with pytest.raises(StreamloopError) as unknown_field:
            await client.create_project("other", LABELS, colour="blue")
        assert (unknown_field.value.code, unknown_field.value.status) == ("invalid_input", 422)

        with pytest.raises(StreamloopError) as no_socket:
            async with client.annotate("nope", annotator="bot"):
                pass
        assert no_socket.value.code == "unknown_project" and no_socket.value.status is None


async def test_send_events_splits_big_batches_and_answers_each_event(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS)
        # Pairs and dicts alike; 2500 is over the service's 1000 per request.
        batch: list[Any] = events(1250) + [{"id": i, "data": d} for i, d in events(1250, 1250)]
        results = await client.send_events("tickets", batch)
        assert [r["id"] for r in results] == [f"evt-{i}" for i in range(2500)]
        assert all(r["duplicate"] is False and r["queued"] for r in results)
        assert all(r["prediction"] is None and r["model_version"] == 0 for r in results)

        again = await client.send_events("tickets", events(3))
        assert [r["duplicate"] for r in again] == [True, True, True]
        assert (await client.metrics("tickets"))["events_total"] == 2500


async def test_send_events_retries_back_pressure_as_the_service_asks(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusals = iter([True, False])
    admit = ProjectRuntime.admitting_events

    def busy_once(runtime: ProjectRuntime) -> contextlib.AbstractContextManager[None]:
        if next(refusals, False):
            raise TooManyRequests("the database is behind; retry shortly", code="store_busy")
        return admit(runtime)

    async with (
        AsyncClient(service.base, retries=0) as impatient,
        AsyncClient(service.base) as client,
    ):
        await client.create_project("tickets", LABELS)
        monkeypatch.setattr(ProjectRuntime, "admitting_events", busy_once)
        with pytest.raises(StreamloopError) as refused:
            await impatient.send_events("tickets", events(2))
        assert (refused.value.code, refused.value.status) == ("store_busy", 429)
        assert refused.value.retryable and refused.value.retry_after == 1.0

        refusals = iter([True, False])  # refused once more, then let through
        results = await client.send_events("tickets", events(2))
        assert [r["duplicate"] for r in results] == [False, False]
        assert service.app.state.refused["store_busy"] == 2


async def test_gold_items_are_stored_in_batches_and_counted_once(service: Service) -> None:
    gold: list[Any] = [(f"g-{n}", {"text": f"gold {n}"}, "bug") for n in range(5)]
    gold.append({"id": "g-5", "data": {"text": "gold 5"}, "label": "billing"})
    async with AsyncClient(service.base, batch_size=4) as client:
        await client.create_project("tickets", LABELS)
        assert await client.add_gold("tickets", gold) == {"stored": 6, "duplicates": 0}
    with Client(service.base) as sync:  # on a thread: the server runs on this loop
        counts = await asyncio.to_thread(sync.add_gold, "tickets", gold[:2])
        assert counts == {"stored": 0, "duplicates": 2}


async def test_a_supervisor_sends_a_labelled_item_to_review(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS)
        await client.send_events("tickets", events(2))
        await client.send_labels("tickets", [("evt-0", "bug")])
        flagged = await client.flag_for_review("tickets", "evt-0")
        assert flagged == {"item_id": "evt-0", "status": "review", "reason": "flagged"}
        with pytest.raises(StreamloopError) as refused:
            await client.flag_for_review("tickets", "evt-1")
        assert (refused.value.code, refused.value.status) == ("not_labelled", 409)
        assert (await client.metrics("tickets"))["review"]["waiting"] == 1
    with Client(service.base) as sync:
        again = await asyncio.to_thread(sync.flag_for_review, "tickets", "evt-0")
        assert again["status"] == "review"


async def test_quarantine_and_release_an_annotator(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS)
        with pytest.raises(StreamloopError) as unknown:
            await client.quarantine("tickets", "alice")
        assert (unknown.value.code, unknown.value.status) == ("unknown_annotator", 404)
        await client.send_events("tickets", events(1))
        async with client.annotate("tickets", annotator="alice") as session:
            item = await session.next_item()
            await session.label(item.id, "bug")
        quarantined = await client.quarantine("tickets", "alice")
        assert quarantined == {"annotator": "alice", "state": "quarantined", "model_version": 2}
        assert (await client.metrics("tickets"))["annotators"]["alice"]["state"] == "quarantined"
    with Client(service.base) as sync:
        released = await asyncio.to_thread(sync.release, "tickets", "alice")
        assert released == {"annotator": "alice", "state": "active", "model_version": 3}


async def test_predict_and_production_labels_teach_the_model(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS)
        await client.send_events("tickets", events(6))
        before = await client.predict("tickets", {"text": "refund my card"})
        assert before["prediction"] is None and before["model_version"] == 0
        assert set(before["probabilities"]) == set(LABELS)

        labels: list[Any] = [
            ("evt-0", "billing"),
            ("evt-1", "bug", "truth-1"),
            {"event_id": "evt-2", "label": "other"},
        ]
        results = await client.send_labels("tickets", labels)
        assert [r["label_id"] for r in results] == ["event:evt-0", "truth-1", "event:evt-2"]
        assert [r["duplicate"] for r in results] == [False, False, False]

        after = await client.predict("tickets", {"text": "refund my card"})
        assert after["model_version"] == 3 and after["prediction"] in LABELS
        metrics = await client.metrics("tickets")
        assert metrics["model_version"] == 3 and metrics["labels_total"] == 3
        assert (await client.history("tickets"))["model_version"] == 3

        repeated = await client.send_labels("tickets", [("evt-0", "billing")])
        assert repeated[0]["duplicate"] is True
        assert (await client.metrics("tickets"))["labels_total"] == 3


async def test_an_annotate_session_keeps_items_that_arrive_while_a_label_waits(
    service: Service,
) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS)
        await client.send_events("tickets", events(1))
        async with client.annotate("tickets", annotator="bot", prefetch=2) as session:
            assert session.annotator == "bot" and session.project["name"] == "tickets"
            first = await within(session.next_item())
            assert first.id == "evt-0" and first.data == ticket("billing", 0)
            # Leased to this socket at once (prefetch 2): sent before the ack below, unless
            # the store is shared (PostgreSQL), where the lease is claimed there first.
            await client.send_events("tickets", events(1, start=1))
            ack = await within(session.label(first.id, "billing"))
            assert ack["item_id"] == "evt-0" and ack["model_version"] == 1
            assert ack["duplicate"] is False and ack["label_id"]
            if not service.core.store.shared:
                assert list(session.held) == ["evt-1"]  # came during the wait, kept
            assert (await within(session.next_item())).id == "evt-1"

            await within(session.label("evt-1", "bug"))
            labelled = [first.id, "evt-1"]
            await client.send_events("tickets", events(4, start=2))
            for _ in range(4):
                item = await within(session.next_item())
                ack = await within(session.label(item.id, LABELS[len(labelled) % 3]))
                assert ack["item_id"] == item.id
                labelled.append(item.id)
            assert sorted(labelled) == [f"evt-{i}" for i in range(6)]
            assert ack["model_version"] == 6 and not session.held
            # Nothing left: the server says so once the last item is labelled.
            assert [item async for item in session.items(until_idle=True)] == []
            assert session.idle


async def test_several_tasks_may_label_on_one_session(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS)
        await client.send_events("tickets", events(2))
        async with client.annotate("tickets", annotator="bot", prefetch=2) as session:
            items = [await within(session.next_item()) for _ in range(2)]
            acks = await within(asyncio.gather(*(session.label(i.id, "bug") for i in items)))
        assert [ack["item_id"] for ack in acks] == [item.id for item in items]
        assert sorted(ack["model_version"] for ack in acks) == [1, 2]


async def test_sending_a_label_again_with_its_label_id_is_a_duplicate(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS)
        await client.send_events("tickets", events(2))
        async with client.annotate("tickets", annotator="bot") as session:
            item = await within(session.next_item())
            first = await within(session.label(item.id, "bug", label_id="label-1"))
            again = await within(session.label(item.id, "bug", label_id="label-1"))
        assert first["duplicate"] is False and again["duplicate"] is True
        assert first["model_version"] == again["model_version"] == 1
        assert (await client.metrics("tickets"))["labels_total"] == 1


async def test_a_label_can_be_corrected(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS)
        await client.send_events("tickets", events(2))
        async with client.annotate("tickets", annotator="bot") as session:
            item = await within(session.next_item())
            first = await within(session.label(item.id, "bug"))
            fixed = await within(session.correct(first["label_id"], "billing"))
        assert fixed["corrects"] == first["label_id"] and fixed["item_id"] == item.id
        assert fixed["label_id"] != first["label_id"] and fixed["model_version"] == 2


async def test_a_refused_label_is_retried_with_the_same_label_id(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    class RefuseTheSecondMessage:
        """The socket's rate limit, refusing exactly its second message."""

        def __init__(self, per_second: float, *, burst: float) -> None:
            self.per_second = per_second
            self.seen = 0

        def allow(self) -> bool:
            self.seen += 1
            return self.seen != 2

    monkeypatch.setattr("streamloop.ws.annotate.Rate", RefuseTheSecondMessage)
    async with AsyncClient(service.base, backoff=0.01) as client:
        await client.create_project("tickets", LABELS)
        await client.send_events("tickets", events(2))
        async with client.annotate("tickets", annotator="bot") as session:
            await within(session.label((await within(session.next_item())).id, "bug"))
            item = await within(session.next_item())
            ack = await within(session.label(item.id, "other", label_id="retried"))
        assert ack["label_id"] == "retried" and ack["duplicate"] is False
        assert service.app.state.refused["rate_limited"] == 1
        assert (await client.metrics("tickets"))["labels_total"] == 2


async def test_a_label_refused_for_good_is_raised_and_the_item_kept(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS)
        await client.send_events("tickets", events(1))
        async with client.annotate("tickets", annotator="bot") as session:
            item = await within(session.next_item())
            with pytest.raises(StreamloopError) as refused:
                await within(session.label(item.id, "spam", label_id="bad"))
            assert refused.value.code == "unknown_label" and refused.value.label_id == "bad"
            assert list(session.held) == [item.id]
            assert (await within(session.label(item.id, "bug")))["duplicate"] is False


async def test_skips_and_revoked_leases_leave_the_held_items(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS)
        await client.send_events("tickets", events(3))
        async with client.annotate("tickets", annotator="bot") as session:
            held = await within(session.next_item())
            await session.skip("not-mine")
            with pytest.raises(StreamloopError) as refused:
                await within(session.next_item())
            assert refused.value.code == "not_leased"

            await session.skip(held.id)
            assert held.id not in session.held
            revoked = await within(session.next_item())
            assert revoked.id != held.id
            # Production ground truth labels the item this socket holds: the lease is revoked.
            await client.send_labels("tickets", [(revoked.id, "bug")])
            last = await within(session.next_item())
            assert list(session.held) == [last.id] and last.id not in (held.id, revoked.id)


async def test_after_a_lease_expires_the_session_resumes(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS, lease_seconds=0.2)
        await client.send_events("tickets", events(1))
        async with client.annotate("tickets", annotator="bot") as session:
            item = await within(session.next_item())
            # Left alone, the lease runs out; the server waits for a sign of life, which the
            # session gives, and the item comes back.
            again = await within(session.next_item())
            assert again.id == item.id and list(session.held) == [item.id]


async def test_with_a_token_the_client_works_and_without_one_it_is_refused(
    settings: Settings,
) -> None:
    store = Store(settings.database_url)
    try:
        _, secret = store.tokens.create("alice", "admin")
    finally:
        store.close()
    async with running(settings) as service:
        async with AsyncClient(service.base, token=secret) as client:
            await client.create_project("tickets", LABELS)
            assert [p["name"] for p in await client.projects()] == ["tickets"]
            await client.send_events("tickets", events(1))
            async with client.annotate("tickets", annotator="mallory") as session:
                assert session.annotator == "alice"  # the token's name, never the query's
                item = await within(session.next_item())
                assert (await within(session.label(item.id, "bug")))["model_version"] == 1

        async with AsyncClient(service.base) as anonymous:
            with pytest.raises(StreamloopError) as refused:
                await anonymous.projects()
            assert (refused.value.code, refused.value.status) == ("token_required", 401)
            with pytest.raises(StreamloopError) as no_socket:
                async with anonymous.annotate("tickets"):
                    pass
            assert no_socket.value.code == "token_required"
        async with AsyncClient(service.base, token="sl_guess") as guessing:
            with pytest.raises(StreamloopError) as wrong:
                await guessing.projects()
            assert wrong.value.code == "invalid_token"


def _sync_basics(base: str) -> dict[str, Any]:
    """The basics with the blocking client (in a thread: the service runs on the test's loop)."""
    seen: dict[str, Any] = {}
    with Client(base) as client:
        client.create_project("tickets", LABELS)
        seen["projects"] = [p["name"] for p in client.projects()]
        seen["project"] = client.project("tickets")["name"]
        seen["results"] = client.send_events("tickets", events(1200))
        seen["labels"] = client.send_labels("tickets", [("evt-0", "billing")])
        seen["predict"] = client.predict("tickets", {"text": "refund"})
        with client.annotate("tickets", annotator="bot", prefetch=2) as session:
            seen["annotator"] = session.annotator
            items = [session.next_item(timeout=RECEIVE_TIMEOUT) for _ in range(2)]
            seen["acks"] = [session.label(item.id, "bug", label_id=item.id) for item in items]
            seen["again"] = session.label(items[0].id, "bug", label_id=items[0].id)
        seen["metrics"] = client.metrics("tickets")
        seen["history"] = client.history("tickets")
        try:
            client.project("nope")
        except StreamloopError as error:
            seen["error"] = (error.code, error.status)
    return seen


async def test_the_sync_client_does_the_same(service: Service) -> None:
    seen = await within(asyncio.to_thread(_sync_basics, service.base))
    assert seen["projects"] == ["tickets"] and seen["project"] == "tickets"
    assert [r["id"] for r in seen["results"]] == [f"evt-{i}" for i in range(1200)]
    assert seen["labels"][0]["model_version"] == 1
    assert seen["predict"]["model_version"] == 1
    assert seen["annotator"] == "bot"
    assert [ack["model_version"] for ack in seen["acks"]] == [2, 3]
    assert seen["again"]["duplicate"] is True
    assert seen["metrics"]["labels_total"] == 3 and seen["history"]["model_version"] == 3
    assert seen["error"] == ("unknown_project", 404)


# Multilabel projects: label sets wherever an answer is given.


def topic(applies: Collection[str], n: int) -> dict[str, str]:
    text = " ".join(TOPIC_WORDS[label] for label in sorted(applies)) or "thanks all good"
    return {"text": f"{text} number {n}"}


async def stored_answers(service: Service, project: str) -> dict[str, Any]:
    """What the service stored, by label_id (gold items by their id): label, or label set."""
    store = service.core.store
    rows = await store.run(lambda: list(export_labels(store, project)))
    return {
        row["label_id"]: row["spans"] if "spans" in row else row["label"] or row["labels"]
        for row in rows
    }


def _sync_label_sets(base: str) -> dict[str, Any]:
    """Label sets with the blocking client (in a thread: the service runs on the test's loop)."""
    seen: dict[str, Any] = {}
    with Client(base) as client:
        seen["labels"] = client.send_labels("topics", [("evt-8", {"ui", "billing"})])
        seen["gold"] = client.add_gold("topics", [("g-3", topic(["ui"], 3), ("ui",))])
        with client.annotate("topics", annotator="script") as session:
            item = session.next_item(timeout=RECEIVE_TIMEOUT)
            seen["ack"] = session.label(item.id, ["bug"], label_id="sync-1")
            seen["fixed"] = session.correct("sync-1", ("bug", "ui"))
    return seen


async def test_label_sets_are_sent_as_labels_in_a_multilabel_project(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        created = await client.create_project(
            "topics", TOPICS, task="multilabel", model="naive_bayes"
        )
        assert created["task"] == "multilabel"
        sets = [[label for bit, label in enumerate(TOPICS) if n >> bit & 1] for n in range(10)]
        await client.send_events("topics", [(f"evt-{n}", topic(sets[n], n)) for n in range(10)])

        labels: list[Any] = [
            ("evt-0", ["bug", "billing"]),  # a list, in any order
            ("evt-1", ("ui",), "truth-1"),  # a tuple, with its label_id
            ("evt-2", {"ui", "bug"}),  # a set
            ("evt-3", []),  # none applies: an answer too
            {"event_id": "evt-4", "labels": ("billing",)},  # the contract's dict
            {"event_id": "evt-5", "label": frozenset({"bug"})},  # a set where a label goes
        ]
        results = await client.send_labels("topics", labels)
        assert [r["label_id"] for r in results] == [
            "event:evt-0",
            "truth-1",
            "event:evt-2",
            "event:evt-3",
            "event:evt-4",
            "event:evt-5",
        ]
        assert [r["model_version"] for r in results] == [1, 2, 3, 4, 5, 6]
        again = await client.send_labels("topics", [("evt-0", ("billing", "bug"))])
        assert again[0]["duplicate"] is True

        predicted = await client.predict("topics", topic(["bug"], 99))
        assert isinstance(predicted["labels"], list) and "prediction" not in predicted
        assert set(predicted["probabilities"]) == set(TOPICS)
        gold: list[Any] = [
            ("g-1", topic(["bug", "billing"], 1), ["bug", "billing"]),
            {"id": "g-2", "data": topic([], 2), "labels": set()},
        ]
        assert await client.add_gold("topics", gold) == {"stored": 2, "duplicates": 0}

        async with client.annotate("topics", annotator="bot") as session:
            item = await within(session.next_item())
            assert item.prediction is None and isinstance(item.labels, list)
            ack = await within(session.label(item.id, ("ui", "billing"), label_id="bot-1"))
            assert ack["type"] == "ack" and ack["model_version"] == 7
            fixed = await within(session.correct("bot-1", set()))
            assert fixed["corrects"] == "bot-1" and fixed["model_version"] == 8
            with pytest.raises(TypeError, match="label set"):
                await session.label(item.id, [1, 2])  # type: ignore[list-item]

    seen = await within(asyncio.to_thread(_sync_label_sets, service.base))
    assert seen["labels"][0]["model_version"] == 9 and seen["gold"]["stored"] == 1
    assert seen["ack"]["model_version"] == 10 and seen["fixed"]["model_version"] == 11

    # Stored as the label sets given, in the project's order of labels.
    stored = await stored_answers(service, "topics")
    assert {key: stored[key] for key in ("event:evt-0", "truth-1", "event:evt-2")} == {
        "event:evt-0": ["billing", "bug"],
        "truth-1": ["ui"],
        "event:evt-2": ["bug", "ui"],
    }
    assert stored["event:evt-3"] == [] and stored["event:evt-4"] == ["billing"]
    assert stored["event:evt-5"] == ["bug"] and stored["event:evt-8"] == ["billing", "ui"]
    assert stored["bot-1"] == ["billing", "ui"] and stored[fixed["label_id"]] == []
    assert stored["sync-1"] == ["bug"] and stored[seen["fixed"]["label_id"]] == ["bug", "ui"]
    assert (stored["g-1"], stored["g-2"], stored["g-3"]) == (["billing", "bug"], [], ["ui"])
    metrics = await service.metrics("topics")
    assert metrics["model_version"] == 11 and metrics["labels_total"] == 9  # 2 corrections


async def test_a_classify_project_still_takes_one_label_and_refuses_a_set(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        await client.create_project("tickets", LABELS)
        await client.send_events("tickets", events(2))
        results = await client.send_labels("tickets", [("evt-0", "bug")])
        assert results[0]["model_version"] == 1
        with pytest.raises(StreamloopError) as refused:
            await client.send_labels("tickets", [("evt-1", ["bug"])])
        assert refused.value.status == 422 and "label" in refused.value.message
        async with client.annotate("tickets", annotator="bot") as session:
            item = await within(session.next_item())
            assert item.labels is None
            ack = await within(session.label(item.id, "other", label_id="one"))
            assert ack["model_version"] == 2


# Spans projects: spans wherever an answer is given.

NAMES = ["PER", "LOC"]
PEOPLE = ["Ada", "Bob", "Eve", "Ann", "Tom"]
PLACES = ["Paris", "Rome", "Oslo", "Lima", "Kyiv"]


def named(n: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """An item with a person and a place, and its spans in text order."""
    person, place = PEOPLE[n % 5], PLACES[(n + 2) % 5]
    text = f"{person} moved to {place} in {1990 + n}"
    start = text.index(place)
    return {"text": text}, [
        {"start": 0, "end": len(person), "label": "PER"},
        {"start": start, "end": start + len(place), "label": "LOC"},
    ]


def truth_of(text: str) -> list[dict[str, Any]]:
    return named(int(text.rsplit(" ", 1)[1]) - 1990)[1]


def _sync_spans(base: str) -> dict[str, Any]:
    """Spans with the blocking client (in a thread: the service runs on the test's loop)."""
    seen: dict[str, Any] = {}
    with Client(base) as client:  # it never read the project: an empty answer asks its task
        client.send_events("names", [("evt-10", named(10)[0])])
        seen["labels"] = client.send_labels("names", [("evt-10", [])])
        with client.annotate("names", annotator="script") as session:
            item = session.next_item(timeout=RECEIVE_TIMEOUT)
            seen["ack"] = session.label(item.id, truth_of(item.data["text"]), label_id="sync-1")
            seen["fixed"] = session.correct("sync-1", [])
    return seen


async def test_spans_are_sent_as_spans_in_a_spans_project(service: Service) -> None:
    async with AsyncClient(service.base) as client:
        created = await client.create_project("names", NAMES, task="spans")
        assert created["task"] == "spans"
        await client.send_events("names", [(f"evt-{n}", named(n)[0]) for n in range(10)])
        scored = [{**one, "score": 0.5} for one in named(2)[1]]  # as predictions give them
        labels: list[Any] = [
            ("evt-0", named(0)[1]),  # dicts
            ("evt-1", [Span(**one) for one in reversed(named(1)[1])], "truth-1"),  # objects
            {"event_id": "evt-2", "spans": scored},  # the contract's dict, a score left out
            {"event_id": "evt-3", "spans": []},
        ]
        results = await client.send_labels("names", labels)
        assert [r["label_id"] for r in results] == [
            "event:evt-0",
            "truth-1",
            "event:evt-2",
            "event:evt-3",
        ]
        assert [r["model_version"] for r in results] == [1, 2, 3, 4]
        predicted = await client.predict("names", named(99)[0])
        assert isinstance(predicted["spans"], list) and "labels" not in predicted

    async with AsyncClient(service.base) as fresh:  # an empty answer: it asks the task
        [result] = await fresh.send_labels("names", [("evt-4", [])])
        assert "error" not in result and result["model_version"] == 5
        async with fresh.annotate("names", annotator="bot") as session:
            item = await within(session.next_item())
            text = item.data["text"]
            assert item.prediction is None and item.labels is None
            assert isinstance(item.spans, list)
            assert item.tokens == [[m.start(), m.end()] for m in re.finditer(r"\w+", text)]
            ack = await within(session.label(item.id, truth_of(text), label_id="bot-1"))
            assert ack["type"] == "ack" and ack["model_version"] == 6
            fixed = await within(session.correct("bot-1", []))
            assert fixed["corrects"] == "bot-1" and fixed["model_version"] == 7
            spacy_span = SimpleNamespace(start=0, end=1, label=381, label_="PER")
            with pytest.raises(TypeError, match="spaCy"):
                await session.label(item.id, [spacy_span])

    seen = await within(asyncio.to_thread(_sync_spans, service.base))
    assert seen["labels"][0]["model_version"] == 8
    assert seen["ack"]["model_version"] == 9 and seen["fixed"]["model_version"] == 10

    async with AsyncClient(service.base) as client:
        gold: list[Any] = [
            ("g-1", named(20)[0], named(20)[1]),
            {"id": "g-2", "data": named(21)[0], "label": []},  # an empty answer, as a label
            {"id": "g-3", "data": named(22)[0], "spans": [Span(0, 3, "PER")]},
        ]
        assert await client.add_gold("names", gold) == {"stored": 3, "duplicates": 0}

    stored = await stored_answers(service, "names")
    assert stored["event:evt-0"] == named(0)[1] and stored["truth-1"] == named(1)[1]
    assert stored["event:evt-2"] == named(2)[1]
    assert stored["event:evt-3"] == stored["event:evt-4"] == stored["event:evt-10"] == []
    assert stored["bot-1"] == truth_of(text) and stored[fixed["label_id"]] == []
    assert stored[seen["fixed"]["label_id"]] == []
    assert stored["g-1"] == named(20)[1] and stored["g-2"] == []
    assert stored["g-3"] == [{"start": 0, "end": 3, "label": "PER"}]
    metrics = await service.metrics("names")
    assert metrics["model_version"] == 10 and metrics["labels_total"] == 8  # 2 corrections
