"""The annotate socket: items, acks, exclusive leases, expiry, skips, retries and bad input."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from sqlalchemy import create_engine, text
from websockets.exceptions import ConnectionClosed

from streamloop.config import Settings
from streamloop.store.database import sqlalchemy_url
from support import running, ticket

LABELS = ["billing", "bug", "other"]


async def seed(service, n: int, **project) -> list[str]:
    await service.create_project(**project)
    events = [{"id": f"evt-{i}", "data": ticket(LABELS[i % 3], i)} for i in range(n)]
    await service.send_events(project.get("name", "tickets"), events)
    return [e["id"] for e in events]


async def test_hello_item_label_ack_then_the_next_item(service):
    await seed(service, 2)
    async with service.annotator("tickets", "alice") as alice:
        hello = await alice.recv()
        assert hello["type"] == "hello" and hello["annotator"] == "alice"
        assert hello["project"]["name"] == "tickets"
        message = await alice.expect("item")
        item = message["item"]
        assert set(item) >= {
            "id",
            "data",
            "prediction",
            "probabilities",
            "uncertainty",
            "model_version",
        }
        assert item["data"]["text"] and message["lease_expires_at"].endswith("Z")
        label_id = str(uuid.uuid4())
        ack = await alice.label(item["id"], "bug", label_id)
        assert ack == {
            "type": "ack",
            "item_id": item["id"],
            "label_id": label_id,
            "model_version": 1,
            "duplicate": False,
        }
        following = await alice.expect("item")
        assert following["item"]["id"] != item["id"]
        assert following["item"]["model_version"] == 1


async def test_four_annotators_labelling_concurrently_never_hold_the_same_item(service):
    ids = await seed(service, 60)
    delivered: list[str] = []

    async def annotate(name: str) -> int:
        labelled = 0
        async with service.annotator("tickets", name, prefetch=3) as socket:
            held: set[str] = set()
            while True:
                message = await socket.expect("item", "ack", "idle")
                if message["type"] == "item":
                    item_id = message["item"]["id"]
                    delivered.append(item_id)
                    held.add(item_id)
                    await socket.send(
                        {
                            "type": "label",
                            "item_id": item_id,
                            "label": LABELS[int(item_id.split("-")[1]) % 3],
                            "label_id": f"{name}-{item_id}",
                        }
                    )
                elif message["type"] == "ack":
                    assert not message["duplicate"]
                    held.discard(message["item_id"])
                    labelled += 1
                elif not held:  # idle with nothing left to label
                    return labelled

    counts = await asyncio.gather(*(annotate(f"annotator-{n}") for n in range(4)))
    assert sorted(delivered) == sorted(ids)  # every item exactly once, to one annotator
    assert sum(counts) == 60 and all(counts)
    metrics = await service.metrics("tickets")
    assert metrics["labels_total"] == 60 and metrics["queue_depth"] == 0
    assert metrics["model_version"] == 60


async def test_an_expired_lease_returns_its_item_to_the_queue(service):
    # Nothing here assumes how soon half a second passes: on a loaded machine the lease may
    # end before bob is in (he is handed the item at once rather than told he is idle first),
    # or, on PostgreSQL, a claim may take longer than the whole lease (that lease ends too,
    # unseen, and alice is handed the item again).
    await seed(service, 1, lease_seconds=0.5)
    async with service.annotator("tickets", "alice") as alice:
        first = await alice.expect("item")
        async with service.annotator("tickets", "bob") as bob:
            expired = await alice.expect("lease_expired")
            assert expired["item_id"] == first["item"]["id"]
            returned = await bob.expect("item")
            assert returned["item"]["id"] == first["item"]["id"]
            late = await alice.label(first["item"]["id"], "bug", "late-label")
            assert late["type"] == "error" and late["code"] == "lease_lost"
    assert (await service.metrics("tickets"))["leases_expired_total"] >= 1


async def test_a_closed_connection_returns_its_items(service):
    await seed(service, 1)
    async with service.annotator("tickets", "alice") as alice:
        held = (await alice.expect("item"))["item"]["id"]
    async with service.annotator("tickets", "bob") as bob:
        assert (await bob.expect("item"))["item"]["id"] == held


async def test_an_annotator_whose_connection_vanishes_gives_its_items_back(service):
    # No closing handshake: the client's TCP connection is simply gone (a reset), as when a
    # laptop drops off the network and the server hears of it. (One that says nothing at all
    # loses its items when their leases expire: see above.)
    await seed(service, 2)
    async with service.annotator("tickets", "alice", prefetch=2) as alice:
        held = {(await alice.expect("item"))["item"]["id"] for _ in range(2)}
        alice.ws.transport.abort()
    async with service.annotator("tickets", "bob", prefetch=2) as bob:
        assert {(await bob.expect("item"))["item"]["id"] for _ in range(2)} == held


async def test_a_retried_label_id_is_acked_as_duplicate_and_learned_once(service):
    await seed(service, 3)
    async with service.annotator("tickets", "alice") as alice:
        item = (await alice.expect("item"))["item"]
        first = await alice.label(item["id"], "bug", "label-1")
        again = await alice.label(item["id"], "bug", "label-1")
        assert first["duplicate"] is False and again["duplicate"] is True
        assert again["model_version"] == first["model_version"] == 1
    # A retry from a new connection, after the item left the queue, is a duplicate too.
    async with service.annotator("tickets", "alice") as alice:
        retry = await alice.label(item["id"], "bug", "label-1")
        assert retry["duplicate"] is True and retry["model_version"] == 1
    metrics = await service.metrics("tickets")
    assert metrics["labels_total"] == 1 and metrics["model_version"] == 1


async def test_a_skipped_item_goes_to_someone_else_never_back(service):
    await seed(service, 1)
    async with service.annotator("tickets", "alice") as alice:
        item = (await alice.expect("item"))["item"]["id"]
        await alice.send({"type": "skip", "item_id": item})
        assert (await alice.expect("idle"))["type"] == "idle"
        async with service.annotator("tickets", "bob") as bob:
            assert (await bob.expect("item"))["item"]["id"] == item


async def test_an_idle_annotator_gets_an_item_as_soon_as_one_is_routed(service):
    await service.create_project()
    async with service.annotator("tickets", "alice") as alice:
        assert (await alice.expect("idle"))["type"] == "idle"
        await service.send_events("tickets", [{"id": "late", "data": ticket("bug", 1)}])
        assert (await alice.expect("item"))["item"]["id"] == "late"


async def test_prefetch_keeps_that_many_items_leased(service):
    await seed(service, 5)
    async with service.annotator("tickets", "alice", prefetch=3) as alice:
        items = {(await alice.expect("item"))["item"]["id"] for _ in range(3)}
        assert len(items) == 3
        metrics = await service.metrics("tickets")
        assert (metrics["leased"], metrics["queue_depth"]) == (3, 2)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "malformed_json"),
        ("[1, 2]", "malformed_message"),
        ({"type": "dance"}, "unknown_type"),
        ({"type": "label", "item_id": "evt-0"}, "invalid_input"),
        (
            {"type": "label", "item_id": "evt-0", "label": "bug", "label_id": "x", "extra": 1},
            "invalid_input",
        ),
        ({"type": "label", "item_id": "evt-0", "label": "cat", "label_id": "x"}, "unknown_label"),
        ({"type": "label", "item_id": "nope", "label": "bug", "label_id": "x"}, "unknown_item"),
        ({"type": "skip", "item_id": "nope"}, "not_leased"),
        (
            {"type": "label", "item_id": "evt-0", "label": "bug", "label_id": "x" * 70_000},
            "frame_too_large",
        ),
    ],
)
async def test_bad_input_gets_an_error_and_the_connection_goes_on(service, frame, code):
    await seed(service, 2)
    async with service.annotator("tickets", "alice") as alice:
        item = (await alice.expect("item"))["item"]["id"]
        await alice.send(frame)
        error = await alice.expect("error")
        assert error["code"] == code and error["message"]
        if code == "not_leased":
            assert error["item_id"] == "nope"  # which skip was refused
        ack = await alice.label(item, "bug", "after-error")
        assert ack["type"] == "ack" and ack["duplicate"] is False


async def test_an_unknown_project_gets_an_error_and_a_policy_close(service):
    async with service.annotator("ghost", "alice") as alice:
        error = await alice.recv()
        assert error["type"] == "error" and error["code"] == "unknown_project"
        with pytest.raises(ConnectionClosed) as closed:
            await alice.recv()
    assert closed.value.rcvd.code == 1008


@pytest.mark.parametrize(
    "query",
    [
        {"prefetch": "0"},
        {"prefetch": "many"},
        {"prefetch": "²"},
        {"prefetch": "1\n"},
        {"annotator": "bad name!"},
        {"annotator": "alice\n"},  # "$" alone matches before a final newline: a forged log line
    ],
)
async def test_a_bad_query_is_refused_with_an_error(service, query):
    await service.create_project()
    query = dict(query)  # parameters are shared between runs: leave them untouched
    async with service.annotator("tickets", query.pop("annotator", "alice"), **query) as s:
        frame = await s.ws.recv()
        assert isinstance(frame, str)  # a text frame: browsers JSON.parse it directly
        error = orjson.loads(frame)
        assert error["type"] == "error" and error["code"].startswith("invalid_")
        with pytest.raises(ConnectionClosed) as closed:
            await s.recv()
    assert closed.value.rcvd.code == 1008


async def test_a_skip_is_remembered_across_a_restart(settings):
    async with running(settings) as service:
        await seed(service, 1)
        async with service.annotator("tickets", "alice") as alice:
            item = (await alice.expect("item"))["item"]["id"]
            await alice.send({"type": "skip", "item_id": item})
            await alice.expect("idle")
    async with running(settings) as service:
        async with service.annotator("tickets", "alice") as alice:
            assert (await alice.expect("idle"))["type"] == "idle"
        async with service.annotator("tickets", "bob") as bob:
            assert (await bob.expect("item"))["item"]["id"] == item
        # Counted too, from the store: not only since this process started.
        assert (await service.metrics("tickets"))["annotators"]["alice"]["skips"] == 1


async def test_every_lease_is_recorded_with_how_it_ended(settings):
    async with running(settings) as service:
        await seed(service, 3, lease_seconds=0.5)
        async with service.annotator("tickets", "alice") as alice:
            first = (await alice.expect("item"))["item"]["id"]
            await alice.label(first, "bug", "l-1")
            second = (
                alice.items.pop()["item"]["id"]
                if alice.items
                else (await alice.expect("item"))["item"]["id"]
            )
            await alice.send({"type": "skip", "item_id": second})
            third = (await alice.expect("item"))["item"]["id"]
            assert (await alice.expect("lease_expired"))["item_id"] == third
            # Any message, even a wrong one, tells the server the annotator is back.
            await alice.send({"type": "skip", "item_id": "wake-up"})
            replies = {(await alice.expect("error", "item"))["type"] for _ in range(2)}
            assert replies == {"error", "item"}
        # Her socket is closed: once the server has released what it held, it stops.
        async with service.dashboard("tickets") as supervisor:
            while (await supervisor.expect("metrics"))["leased"]:
                pass
    outcomes = dict(store_rows(settings, "SELECT outcome, count(*) FROM leases GROUP BY outcome"))
    assert outcomes == {"labelled": 1, "skipped": 1, "expired": 1, "released": 1}


def store_rows(settings, sql: str) -> list[tuple]:
    engine = create_engine(sqlalchemy_url(settings.database_url))
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


async def test_diversity_spreads_concurrent_annotators_over_different_items(service):
    await service.create_project(warmup=0, exploration=0.0, diversity=1.0)
    crashes = [
        {"id": f"crash-{i}", "data": {"text": f"app crash error broken v{i}"}} for i in range(10)
    ]
    invoices = [
        {"id": f"bill-{i}", "data": {"text": f"invoice refund payment card {i}"}} for i in range(10)
    ]
    await service.send_events("tickets", crashes + invoices)
    # Teach the model a little so that its features and uncertainties mean something.
    await service.http.post(
        "/api/projects/tickets/labels",
        json={
            "labels": [
                {"event_id": "crash-0", "label": "bug"},
                {"event_id": "bill-0", "label": "billing"},
            ]
        },
    )
    async with service.annotator("tickets", "alice") as alice:
        first = (await alice.expect("item"))["item"]["id"]
        async with service.annotator("tickets", "bob") as bob:
            second = (await bob.expect("item"))["item"]["id"]
    # With both kinds waiting, the second annotator gets the other kind.
    assert first.split("-")[0] != second.split("-")[0]


@pytest.mark.postgres
async def test_an_item_another_process_released_comes_back_on_resync(postgres_url, tmp_path):
    # Two engines on one PostgreSQL, as two web processes: the second finds the item claimed
    # by the first, passes over it, and takes it in once the first process's lease ends.
    first_settings = Settings.from_env({}, data_dir=tmp_path / "a", port=0, database=postgres_url)
    second_settings = Settings.from_env({}, data_dir=tmp_path / "b", port=0, database=postgres_url)
    async with running(first_settings) as first, running(second_settings) as second:
        await seed(first, 1, exploration=0.0)
        [runtime] = await second.core.refresh()
        async with first.annotator("tickets", "alice") as alice:
            assert (await alice.expect("item"))["item"]["id"] == "evt-0"
            async with second.annotator("tickets", "bob") as bob:
                await bob.expect("idle")  # the claim failed: alice holds it
                assert "evt-0" not in {i.event_id for i in runtime.queue.waiting_items()}
                assert await runtime.leasing.resync() == 0  # still claimed
                await alice.send({"type": "skip", "item_id": "evt-0"})
                await alice.send("not json")  # answered after the skip: the skip is done
                await alice.expect("error")
                await first.core.journal.flush()  # the lease's end, written
                assert await runtime.leasing.resync() == 1
                assert (await bob.expect("item"))["item"]["id"] == "evt-0"


async def test_a_correction_is_learned_and_the_first_label_stays_in_the_history(settings):
    async with running(settings) as service:
        await seed(service, 1, exploration=0.0)
        async with service.annotator("tickets", "alice") as alice:
            item = (await alice.next_item())["item"]["id"]
            first = await alice.label(item, "billing", "first")
            assert first["model_version"] == 1
            correction = {"type": "correct", "corrects": "first", "label": "bug", "label_id": "fix"}
            await alice.send(correction)
            ack = await alice.expect("ack")
            assert ack == {
                "type": "ack",
                "item_id": item,
                "label_id": "fix",
                "corrects": "first",
                "model_version": 2,
                "duplicate": False,
            }
            await alice.send(correction)  # a retry: acked as a duplicate, learned once
            assert (await alice.expect("ack"))["duplicate"] is True
            await alice.send({**correction, "corrects": "ghost", "label_id": "x"})
            assert (await alice.expect("error"))["code"] == "unknown_label_id"
            await alice.send({**correction, "label": "nope", "label_id": "y"})
            assert (await alice.expect("error"))["code"] == "unknown_label"
            async with service.annotator("tickets", "bob") as bob:
                await bob.send({**correction, "label_id": "bobs"})
                assert (await bob.expect("error"))["code"] == "not_your_label"
        metrics = await service.metrics("tickets")
    # Learned, not tested: the model had seen the item, so accuracy counts one label.
    assert metrics["model_version"] == 2 and metrics["labels_total"] == 1
    assert metrics["annotators"]["alice"]["corrections"] == 1
    async with running(settings) as again:  # replayed after a restart: the same model
        replayed = await again.metrics("tickets")
    assert replayed["model_version"] == 2 and replayed["annotators"] == {
        "alice": {
            "labels": 1,
            "agreement": 0.0,
            "corrections": 1,
            "online": False,
            "gold": None,
            "kappa": {},
            "recorded": 0,
            # Paces and skips are counted by the process that saw them.
            "seconds_per_label": None,
            "skips": 0,
            "state": "active",
        }
    }
