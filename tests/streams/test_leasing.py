"""Leasing alone on SQLite: exclusive leases, expiry on the loop's clock, skips, abandoned
sessions and settled items (streams/leasing.py), told to sessions as notices."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from streamloop.config import Settings
from streamloop.errors import Conflict
from streamloop.online import base as base_module
from streamloop.online.features import OrderedTFIDF
from streamloop.online.routing import RoutingPolicy
from streamloop.store import ItemRecord, NewEvent, ProjectRecord, Store
from streamloop.store.journal import Journal
from streamloop.streams import leasing as leasing_module
from streamloop.streams.annotators import AnnotatorSession
from streamloop.streams.learner import new_model
from streamloop.streams.leasing import Leasing
from streamloop.streams.notices import Idle, ItemOffered, LeaseExpired, LeaseRevoked, Notice
from streamloop.streams.queue import QueuedItem
from support import RECEIVE_TIMEOUT, ticket

#: Makes the leasing of a project record, with a model of its own if given (see the
#: `open_leasing` fixture).
OpenLeasing = Callable[..., Leasing]


@pytest.fixture
async def journal(store: Store) -> AsyncIterator[Journal]:
    journal = Journal(store)
    journal.start()
    yield journal
    await journal.close()


@pytest.fixture
async def open_leasing(
    store: Store, journal: Journal, tmp_path: Path
) -> AsyncIterator[OpenLeasing]:
    """Leasing as the runtime makes it, with an untrained model (or the one given) and no
    exploration; every session and timer ends after the test."""
    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    opened: list[Leasing] = []

    def open_(record: ProjectRecord, model: Any = None) -> Leasing:
        model = new_model(record) if model is None else model
        leasing = Leasing(
            record,
            store,
            settings,
            journal,
            RoutingPolicy(record.strategy),
            model=lambda: model,
            exploration=lambda: 0.0,
            changed=lambda: None,
        )
        opened.append(leasing)
        return leasing

    yield open_
    for leasing in opened:
        leasing.close()


async def queue_items(store: Store, leasing: Leasing, *event_ids: str) -> dict[str, ItemRecord]:
    """Store queued items and put them in the leasing's queue, by event id."""
    events = [
        NewEvent(event_id, ticket("bug", n), "queued", 1.0) for n, event_id in enumerate(event_ids)
    ]
    items = await store.run(store.insert_events, leasing.record.id, events)
    leasing.requeue(items)
    return {item.event_id: item for item in items}


def session(annotator: str, prefetch: int = 1) -> tuple[AnnotatorSession, list[Notice]]:
    """A session whose notices are kept, in the order sent."""
    notices: list[Notice] = []
    return AnnotatorSession(annotator, prefetch, send=notices.append), notices


def said(notices: Sequence[Notice]) -> list[tuple[str, ...]]:
    """What a session was told, without the predictions and deadlines."""
    told: list[tuple[str, ...]] = []
    for notice in notices:
        match notice:
            case ItemOffered():
                told.append(("offered", notice.event_id))
            case Idle():
                told.append(("idle",))
            case LeaseExpired():
                told.append(("expired", notice.event_id))
            case LeaseRevoked():
                told.append(("revoked", notice.event_id, notice.reason))
    return told


def offered(notices: Sequence[Notice]) -> list[str]:
    return [notice.event_id for notice in notices if isinstance(notice, ItemOffered)]


async def test_two_sessions_never_hold_the_same_item(
    store: Store, project: ProjectRecord, open_leasing: OpenLeasing
):
    leasing = open_leasing(project)
    items = await queue_items(store, leasing, "e0", "e1", "e2")
    alice, to_alice = session("alice", prefetch=2)
    bob, to_bob = session("bob", prefetch=2)
    carol, to_carol = session("carol", prefetch=2)

    for joining in (alice, bob, carol):
        leasing.join(joining)

    every = offered(to_alice) + offered(to_bob) + offered(to_carol)
    assert sorted(every) == sorted(items)  # three offers, each item once
    assert len(offered(to_alice)) == 2 and len(offered(to_bob)) == 1
    assert said(to_carol) == [("idle",)]
    assert {lease.item.event_id for lease in alice.held.values()} == set(offered(to_alice))
    assert {lease.item.event_id for lease in bob.held.values()} == set(offered(to_bob))


async def test_an_expired_lease_stalls_its_session_and_goes_to_one_waiting(
    store: Store, project: ProjectRecord, open_leasing: OpenLeasing
):
    leasing = open_leasing(dataclasses.replace(project, lease_seconds=0.05))
    await queue_items(store, leasing, "e0")
    to_alice: list[Notice] = []
    expired = asyncio.Event()

    def tell_alice(notice: Notice) -> None:
        to_alice.append(notice)
        if isinstance(notice, LeaseExpired):
            expired.set()

    alice = AnnotatorSession("alice", 1, send=tell_alice)
    leasing.join(alice)
    # Only alice's lease is short: bob's, leased after, must not run out while the test
    # looks (which would be a timing assumption).
    leasing.record = project
    bob, to_bob = session("bob")
    leasing.join(bob)
    assert said(to_bob) == [("idle",)]

    await asyncio.wait_for(expired.wait(), RECEIVE_TIMEOUT)

    assert said(to_alice) == [("offered", "e0"), ("expired", "e0")]
    assert alice.stalled and not alice.held
    assert said(to_bob) == [("idle",), ("offered", "e0")]
    # A stalled session is handed nothing, however much waits, until its annotator is back.
    await queue_items(store, leasing, "e1")
    leasing.serve_waiting()
    leasing.fill(alice)
    assert said(to_alice) == [("offered", "e0"), ("expired", "e0")]
    leasing.touch(alice)
    assert said(to_alice)[2:] == [("offered", "e1")]
    assert not alice.stalled


async def test_a_skipped_item_goes_to_another_annotator_never_back_to_the_same(
    store: Store, project: ProjectRecord, open_leasing: OpenLeasing
):
    leasing = open_leasing(project)
    await queue_items(store, leasing, "e0")
    alice, to_alice = session("alice")
    bob, to_bob = session("bob")
    leasing.join(alice)
    leasing.join(bob)

    leasing.skip(alice, "e0")

    assert said(to_alice) == [("offered", "e0"), ("idle",)]
    assert said(to_bob) == [("idle",), ("offered", "e0")]
    # Back in the queue, it still passes alice by, in this session and in another one.
    leasing.leave(bob)
    assert said(to_alice) == [("offered", "e0"), ("idle",)]
    again, to_again = session("alice")
    leasing.join(again)
    assert said(to_again) == [("idle",)]
    carol, to_carol = session("carol")
    leasing.join(carol)
    assert said(to_carol) == [("offered", "e0")]


async def test_skipping_an_item_not_held_is_refused(
    store: Store, project: ProjectRecord, open_leasing: OpenLeasing
):
    leasing = open_leasing(project)
    await queue_items(store, leasing, "e0")
    alice, _to_alice = session("alice")
    bob, _to_bob = session("bob")
    leasing.join(bob)
    leasing.join(alice)

    for event_id in ("e0", "never-sent"):  # bob's item, and no item at all
        with pytest.raises(Conflict) as refused:
            leasing.skip(alice, event_id)
        assert refused.value.code == "not_leased"
    assert [lease.item.event_id for lease in bob.held.values()] == ["e0"]


async def test_the_items_of_a_session_that_leaves_go_to_one_waiting(
    store: Store, project: ProjectRecord, open_leasing: OpenLeasing
):
    leasing = open_leasing(project)
    await queue_items(store, leasing, "e0", "e1")
    alice, to_alice = session("alice", prefetch=2)
    bob, to_bob = session("bob", prefetch=2)
    leasing.join(alice)
    leasing.join(bob)
    assert sorted(offered(to_alice)) == ["e0", "e1"]

    leasing.leave(alice)

    assert said(to_bob)[0] == ("idle",)
    assert sorted(offered(to_bob)) == ["e0", "e1"]
    assert len(to_alice) == 2  # told nothing more
    assert leasing.online() == {"bob"}


@pytest.mark.parametrize("labeller", ["bob", None], ids=["another annotator", "production"])
async def test_an_item_labelled_by_another_is_taken_back_and_replaced(
    store: Store, project: ProjectRecord, open_leasing: OpenLeasing, labeller: str | None
):
    leasing = open_leasing(project)
    items = await queue_items(store, leasing, "e0", "e1")
    alice, to_alice = session("alice")
    leasing.join(alice)
    [first] = offered(to_alice)
    [other] = set(items) - {first}

    leasing.settle(items[first].id, by=labeller)

    assert said(to_alice) == [
        ("offered", first),
        ("revoked", first, "labelled"),
        ("offered", other),
    ]
    assert items[first].id not in leasing.queue


async def test_an_item_labelled_by_its_holder_ends_the_lease_untold(
    store: Store, project: ProjectRecord, open_leasing: OpenLeasing
):
    leasing = open_leasing(project)
    items = await queue_items(store, leasing, "e0")
    alice, to_alice = session("alice")
    leasing.join(alice)

    leasing.settle(items["e0"].id, by="alice")

    assert said(to_alice) == [("offered", "e0")]
    assert not alice.held
    assert items["e0"].id not in leasing.queue
    bob, to_bob = session("bob")
    leasing.join(bob)
    assert said(to_bob) == [("idle",)]


def _shared(store: Store, monkeypatch: pytest.MonkeyPatch, claim: Callable[..., bool]) -> None:
    """``store`` as a store other web processes share, whose claims ``claim`` answers (in the
    store's thread, as the real ones are)."""
    monkeypatch.setattr(store, "shared", True)
    monkeypatch.setattr(store, "claim_item", claim)


async def _past(when: float) -> None:
    """Once the event loop's clock has passed ``when``: the timers due before have run (the
    loop runs them in the order they are due), whatever the machine's load."""
    loop = asyncio.get_running_loop()
    passed = loop.create_future()
    loop.call_at(when, passed.set_result, None)
    await passed


async def test_a_lease_runs_from_its_claim_in_the_shared_store_however_long_that_waited(
    store: Store, project: ProjectRecord, open_leasing: OpenLeasing, monkeypatch
):
    # On a shared store an item is claimed there before it is sent, in the store's one
    # thread. A claim that waits behind other work there (labels being written) past the
    # lease's end here still sends the item, with the lease the store gave it.
    leasing = open_leasing(dataclasses.replace(project, lease_seconds=0.05))
    await queue_items(store, leasing, "e0")
    claims: list[str] = []

    def claim(project_id: int, item_id: int, lease_id: str, *rest: Any) -> bool:
        claims.append(lease_id)
        return True

    _shared(store, monkeypatch, claim)
    busy = threading.Event()
    writing = asyncio.ensure_future(store.run(busy.wait, RECEIVE_TIMEOUT))
    alice, to_alice = session("alice")
    leasing.join(alice)
    [lease] = alice.held.values()
    leased_until = lease.expires_at
    await _past(leased_until)  # its timer has run
    assert alice.held == {lease.item.item_id: lease} and not to_alice

    busy.set()
    await writing
    await asyncio.gather(*leasing._claims)
    assert said(to_alice) == [("offered", "e0")] and claims == [lease.lease_id]
    assert alice.held == {lease.item.item_id: lease} and lease.expires_at > leased_until
    assert leasing.queue.counters.expired == 0


async def test_a_claim_that_outlasts_the_lease_ends_it_and_its_holder_is_served_again(
    store: Store, project: ProjectRecord, open_leasing: OpenLeasing, monkeypatch
):
    # The claim itself took longer than a lease (a database that stalls): the store's lease
    # is over too, so the item is not sent under it; its annotator did nothing wrong, is
    # told nothing and not stalled, and is handed an item again (here the same one).
    leasing = open_leasing(dataclasses.replace(project, lease_seconds=0.05))
    await queue_items(store, leasing, "e0")
    answer = threading.Event()
    claims: list[str] = []

    def claim(project_id: int, item_id: int, lease_id: str, *rest: Any) -> bool:
        claims.append(lease_id)
        answer.wait(RECEIVE_TIMEOUT)
        return True

    _shared(store, monkeypatch, claim)
    alice, to_alice = session("alice")
    leasing.join(alice)
    leasing.record = project  # the next lease lasts
    [lease] = alice.held.values()
    await _past(lease.expires_at)
    answer.set()
    await asyncio.gather(*leasing._claims)  # the first claim's answer
    assert not alice.stalled and leasing.queue.counters.expired == 1
    await asyncio.gather(*leasing._claims)  # the second's
    assert said(to_alice) == [("offered", "e0")]
    assert len(claims) == 2 and [lease.lease_id for lease in alice.held.values()] == claims[1:]


async def test_a_claim_the_store_failed_is_tried_again_at_the_next_resync(
    store: Store, project: ProjectRecord, open_leasing: OpenLeasing, monkeypatch
):
    leasing = open_leasing(project)
    await queue_items(store, leasing, "e0")
    answers = iter([False, True])

    def claim(*args: Any) -> bool:
        if not next(answers):
            raise ConnectionError("the database is gone")
        return True

    _shared(store, monkeypatch, claim)
    alice, to_alice = session("alice")
    leasing.join(alice)
    await asyncio.gather(*leasing._claims)
    assert said(to_alice) == [] and not alice.held  # kept in the queue, not sent

    assert await leasing.resync() == 0  # nothing new in the store: tried again all the same
    await asyncio.gather(*leasing._claims)
    assert said(to_alice) == [("offered", "e0")] and len(alice.held) == 1


def _numbers(n: int) -> dict[str, Any]:
    return {"x": float(n % 7), "y": float(n % 11)}


def _words(n: int) -> dict[str, Any]:
    return {"text": f"word{n % 7} term{n % 11} and more {n % 3}"}


def _count_calls(model: Any) -> list[int]:
    """The sizes of the model's `predict_many` calls from now on, in order."""
    calls: list[int] = []
    predict_many = model.predict_many

    def counted(rows: Any, **read: Any) -> Any:
        calls.append(len(rows))
        return predict_many(rows, **read)

    model.predict_many = counted
    return calls


def _logistic_project(
    store: Store,
    name: str,
    kind: str,
    row: Callable[[int], dict[str, Any]],
    task: str = "classify",
) -> tuple[ProjectRecord, Any]:
    """A logistic project with no exploration, and its model after 30 labels of ``row`` (a
    multilabel project's: sets of one or two labels, ``b``'s threshold 0.3)."""
    multilabel = task == "multilabel"
    record = store.create_project(
        name=name,
        labels=["a", "b", "c"],
        input=kind,
        model="logistic_regression",
        exploration=0.0,
        lease_seconds=120.0,
        **(
            {"task": task, "strategy": "min_margin", "thresholds": {"b": 0.3}}
            if multilabel
            else {"strategy": "margin"}
        ),
    )
    model = new_model(record)
    for n in range(30):
        label = "abc"[n % 3]
        model.learn(row(n), sorted({label, "c" if n % 2 else label}) if multilabel else label)
    return record, model


@pytest.mark.parametrize("kept", [4096, 10])
async def test_a_queued_item_is_read_once_however_many_model_versions_score_it(
    store: Store, open_leasing: OpenLeasing, monkeypatch: pytest.MonkeyPatch, kept: int
):
    # A tabular item waiting in the queue is scored again at each model version: its numbers
    # are read from its data the first time only (while it is among the latest ``kept``), and
    # what annotators are shown is still the model's own prediction of it at that version.
    monkeypatch.setattr(leasing_module, "_NUMBERS_KEPT", kept)
    record, model = _logistic_project(store, "read-once", "tabular", _numbers)
    reads: list[int] = []
    numeric_rows = leasing_module.numeric_rows

    def counted(rows: Any) -> Any:
        reads.extend(id(row) for row in rows)
        return numeric_rows(rows)

    monkeypatch.setattr(leasing_module, "numeric_rows", counted)
    leasing = open_leasing(record, model)
    events = [NewEvent(f"e{n}", _numbers(n + 30), "queued", n / 200) for n in range(200)]
    leasing.requeue(await store.run(store.insert_events, record.id, events))
    read_by_the_model: list[int] = []
    monkeypatch.setattr(base_module, "numeric_rows", read_by_the_model.append)
    offers = 0
    for version in range(3):
        for n in range(6):
            joining, notices = session(f"annotator-{version}-{n}")
            leasing.join(joining)
            for offer in [notice for notice in notices if isinstance(notice, ItemOffered)]:
                offers += 1
                (alone,) = model.predict_many([offer.data])  # one row: predicted on its own
                assert offer.prediction.probabilities == alone.probabilities
                assert offer.prediction.model_version == alone.model_version == model.version
        model.learn({"x": float(version), "y": 1.0}, "abc"[version])

    assert offers == 18
    assert not read_by_the_model  # the batches were read by the leasing, for the model
    assert len(reads) > leasing.settings.rescore_candidates  # scored as batches, read so
    assert len(leasing._read) <= kept
    if kept > len(events):
        assert len(reads) == len(set(reads))  # each item at most once, over three versions


async def test_a_queued_text_is_tokenised_once_however_many_model_versions_score_it(
    store: Store, open_leasing: OpenLeasing, monkeypatch: pytest.MonkeyPatch
):
    record, model = _logistic_project(store, "tokenised-once", "text", _words)
    queued = [{"text": f"waiting item {n} of {n % 5} kinds"} for n in range(200)]
    leasing = open_leasing(record, model)
    events = [NewEvent(f"e{n}", data, "queued", n / 200) for n, data in enumerate(queued)]
    leasing.requeue(await store.run(store.insert_events, record.id, events))
    tokenised: list[str] = []
    find_terms = OrderedTFIDF._find_terms  # where a text's terms are found, whichever way

    def counted(self: Any, x: Any) -> Any:
        tokenised.append(x["text"])
        return find_terms(self, x)

    monkeypatch.setattr(OrderedTFIDF, "_find_terms", counted)
    for version in range(3):
        for n in range(6):
            joining, notices = session(f"annotator-{version}-{n}")
            leasing.join(joining)
            for offer in [notice for notice in notices if isinstance(notice, ItemOffered)]:
                tokenised.append(f"sent: {offer.data['text']}")
        model.learn({"text": f"lesson {version}"}, "abc"[version])

    # Re-scored at each version (the first leases at each draw candidates from the whole
    # pool), each waiting text's terms were found the first time it was scored only.
    scored = [text for text in tokenised if text in {data["text"] for data in queued}]
    assert len(set(scored)) > leasing.settings.rescore_candidates
    assert len(scored) == len(set(scored))
    assert sum(text.startswith("sent: ") for text in tokenised) == 18


def _uneven(n: int) -> dict[str, Any]:
    """Rows of numbers, but not all of the same fields, nor always plain numbers."""
    row: dict[str, Any] = _numbers(n)
    if n % 3 == 0:
        row["z"] = float(n % 5)
    if n % 7 == 0:
        row["y"] = "red"
    return row


@pytest.mark.parametrize("task", ["classify", "multilabel"])
@pytest.mark.parametrize("row", [_numbers, _uneven])
async def test_items_read_together_are_scored_as_each_alone(
    store: Store,
    open_leasing: OpenLeasing,
    monkeypatch: pytest.MonkeyPatch,
    row: Callable[[int], dict[str, Any]],
    task: str,
):
    # The items a lease finds unread are read as one batch, and kept one by one: however
    # the batch was made up, each is scored as the model scores it alone (a multilabel
    # model's too: its labels' weights read as one matrix, `linear.binary_scorer`).
    record, model = _logistic_project(store, "together", "tabular", row, task)
    reads: list[int] = []
    numeric_rows = leasing_module.numeric_rows

    def counted(rows: Any) -> Any:
        reads.append(len(rows))
        return numeric_rows(rows)

    monkeypatch.setattr(leasing_module, "numeric_rows", counted)
    leasing = open_leasing(record, model)
    events = [NewEvent(f"e{n}", row(n + 30), "queued", n / 200) for n in range(200)]
    stored = await store.run(store.insert_events, record.id, events)
    leasing.requeue(stored)
    for n in range(12):
        leasing.join(session(f"annotator-{n}")[0])

    data = {item.id: item.data for item in stored}
    assert max(reads) > 1  # some items were read together
    assert len(leasing._kept) > leasing.settings.rescore_candidates
    for item_id, prediction in leasing._kept.items():
        alone = model.predict(data[item_id])
        assert prediction.probabilities == pytest.approx(alone.probabilities, abs=1e-12)
        assert {type(p) for p in prediction.probabilities.values()} == {float}  # as JSON
        assert prediction.uncertainty == pytest.approx(alone.uncertainty, abs=1e-12)
        assert prediction.model_version == alone.model_version
        if task == "multilabel":
            assert prediction.labels == alone.labels
        else:
            assert prediction.label == alone.label


async def test_an_item_re_scored_by_the_lease_that_chose_it_is_sent_with_that_prediction(
    store: Store, open_leasing: OpenLeasing
):
    # Within an epoch the model has moved on, and the lease re-scores the candidates it
    # finds unscored (here every one: new items ranked first): the one it sends was just
    # predicted at this very version, and is not predicted a second time.
    record, model = _logistic_project(store, "fresh", "tabular", _numbers)
    for n in range(300):  # old enough to keep predictions for more than one label
        model.learn(_numbers(n), "abc"[n % 3])
    leasing = open_leasing(record, model)
    events = [NewEvent(f"e{n}", _numbers(n + 30), "queued", n / 200) for n in range(100)]
    leasing.requeue(await store.run(store.insert_events, record.id, events))
    leasing.join(session("alice")[0])  # the epoch begins
    model.learn(_numbers(1), "a")
    new = [NewEvent(f"new{n}", _numbers(n + 500), "queued", 1.0) for n in range(20)]
    fresh = await store.run(store.insert_events, record.id, new)
    leasing.push([QueuedItem(i.id, i.event_id, i.data, 2.0) for i in fresh])  # never scored
    calls = _count_calls(model)
    bob, to_bob = session("bob")
    leasing.join(bob)

    [offer] = [notice for notice in to_bob if isinstance(notice, ItemOffered)]
    assert offer.event_id.startswith("new") and len(calls) == 1
    (alone,) = model.predict_many([offer.data])
    assert offer.prediction.probabilities == pytest.approx(alone.probabilities, abs=1e-12)
    assert offer.prediction.model_version == alone.model_version == model.version


@pytest.mark.parametrize(("kind", "row"), [("tabular", _numbers), ("text", _words)])
async def test_leases_at_one_model_version_predict_the_ranking_top_in_one_batch(
    store: Store, open_leasing: OpenLeasing, kind: str, row: Callable[[int], dict[str, Any]]
):
    # A logistic model scores a batch at a cost mostly per call: the second lease at a
    # version predicts the top of the ranking the next leases walk, so they predict nothing
    # more, and every item is offered with the model's own prediction of it at that version.
    record, model = _logistic_project(store, "rows", kind, row)
    assert model.batch_rows is not None
    predict_many = model.predict_many
    calls = _count_calls(model)
    leasing = open_leasing(record, model)
    events = [NewEvent(f"e{n}", row(n + 30), "queued", n / 200) for n in range(200)]
    leasing.requeue(await store.run(store.insert_events, record.id, events))
    calls.clear()  # requeueing scored every item
    sessions = [session(f"annotator-{n}") for n in range(12)]
    for joining, _ in sessions:
        leasing.join(joining)

    # The first lease at the version re-scores its candidates; the second, those it finds
    # unscored and the top of the ranking; the ten after it predict nothing.
    assert len(calls) == 2 and calls[1] > leasing.settings.rescore_candidates
    for joining, notices in sessions:
        (lease,) = joining.held.values()
        (offer,) = [notice for notice in notices if isinstance(notice, ItemOffered)]
        assert offer.event_id == lease.item.event_id
        (alone,) = predict_many([lease.item.data])  # one row: predicted on its own
        assert offer.prediction.label == alone.label
        # Within 1e-12 (a text batch sums in another order); a row of numbers, to the bit.
        assert offer.prediction.probabilities == pytest.approx(alone.probabilities, abs=1e-12)
        if kind == "tabular":
            assert offer.prediction.probabilities == alone.probabilities
        assert offer.prediction.model_version == alone.model_version == model.version


@pytest.mark.parametrize("every", [1, 4])
async def test_candidates_are_re_scored_once_the_model_has_learned_rescore_versions_labels(
    store: Store, open_leasing: OpenLeasing, every: int
):
    # Candidates' predictions are kept while the model learns fewer than `rescore_versions`
    # labels (here fewer than a sixteenth of those it had learned), then made again; whatever
    # chose an item, the annotator is shown the model's prediction of it now.
    record, model = _logistic_project(store, "epochs", "tabular", _numbers)
    while model.version < 16 * every:
        model.learn(_numbers(model.version), "abc"[model.version % 3])
    predict_many = model.predict_many
    calls = _count_calls(model)
    leasing = open_leasing(record, model)
    leasing.settings = dataclasses.replace(leasing.settings, rescore_versions=every)
    events = [NewEvent(f"e{n}", _numbers(n + 30), "queued", n / 200) for n in range(200)]
    leasing.requeue(await store.run(store.insert_events, record.id, events))
    candidates: list[int] = []  # rows predicted as candidates, lease by lease
    for n in range(3 * every):
        calls.clear()
        joining, notices = session(f"annotator-{n}")
        leasing.join(joining)
        (offer,) = [notice for notice in notices if isinstance(notice, ItemOffered)]
        (alone,) = predict_many([offer.data])
        assert offer.prediction.probabilities == alone.probabilities
        assert offer.prediction.model_version == model.version
        # Besides them, at most the offered item is predicted, on its own.
        assert calls[1:] in ([], [1])
        candidates.append(calls[0] if calls and calls[0] > 1 else 0)
        model.learn(_numbers(n), "abc"[n % 3])

    # Each epoch's first lease re-scores candidates from the top and the whole pool; its
    # second, the top of the ranking the others walk (`_AHEAD`); the others, none.
    assert all(candidates[::every])
    if every > 1:
        assert all(candidates[1::every])
        assert not any(c for n, c in enumerate(candidates) if n % every >= 2)
        # Many leases at one version, in an epoch begun before it (a group commit's acks):
        # the epoch's second call predicts the top of the ranking (`_AHEAD`); the first item
        # sent is predicted alone, the second with the top of the ranking the others come
        # from, in one call; the others, not again.
        leasing.join(session("epoch")[0])  # an epoch begins at this version
        model.learn(_numbers(0), "a")
        calls.clear()
        for n in range(6):
            joining, notices = session(f"burst-{n}")
            leasing.join(joining)
            (offer,) = [notice for notice in notices if isinstance(notice, ItemOffered)]
            assert offer.prediction.probabilities == predict_many([offer.data])[0].probabilities
        ahead, alone, top = calls
        assert alone == 1 and min(ahead, top) > leasing.settings.rescore_candidates


async def test_a_young_model_is_re_scored_at_every_version(store: Store, open_leasing: OpenLeasing):
    # A label moves a model taught few a lot: its predictions are kept for a sixteenth of
    # the labels it had learned, so until 32 labels it is re-scored at every version, and
    # from there the epochs grow (2 labels from 32, 3 from 48) up to `rescore_versions`.
    record, model = _logistic_project(store, "young", "tabular", _numbers)
    leasing = open_leasing(record, model)
    events = [NewEvent(f"e{n}", _numbers(n + 30), "queued", n / 200) for n in range(200)]
    leasing.requeue(await store.run(store.insert_events, record.id, events))
    began = []
    for n in range(60 - model.version):
        leasing.join(session(f"annotator-{n}")[0])
        began.append(leasing._kept_since)
        model.learn(_numbers(n), "abc"[n % 3])

    assert sorted(set(began)) == [30, 31, 32, 34, 36, 38, 40, 42, 44, 46, 48, 51, 54, 57]
