"""The learner alone on SQLite: group commits, learning order, duplicates, fencing, closing,
back-pressure and snapshots (streams/learner.py), with no web layer in between."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from streamloop.config import Settings
from streamloop.errors import NotReady, TooManyRequests
from streamloop.online import OnlineModel
from streamloop.store import ItemRecord, LabelOutcome, NewEvent, NewLabel, ProjectRecord, Store
from streamloop.streams.learner import (
    _CHALLENGER_BACKLOG,
    _SHADOW_BACKLOG,
    LocalLearner,
    OnLearned,
    local_learners,
    new_model,
    rebuild_model,
)
from streamloop.streams.quarantine import store_state
from support import RECEIVE_TIMEOUT, ticket

#: The project's labels (see `make_project`) and the kind of ticket text each one gets.
KINDS = {"a": "billing", "b": "bug"}
#: Items no test labels, to compare what two models predict.
PROBES = [ticket(kind, n) for n in range(1000, 1006) for kind in ("billing", "bug", "other")]


#: Opens a learner (see the `open_learner` fixture).
OpenLearner = Callable[..., Awaitable[LocalLearner]]


def ignore(outcomes: Sequence[LabelOutcome]) -> None:
    """An `OnLearned` for the tests that do not look at what the project hears."""


@pytest.fixture
async def open_learner(
    store: Store, project: ProjectRecord, tmp_path: Path
) -> AsyncIterator[OpenLearner]:
    """Opens learners of the project as the runtime does (each from `rebuild_model` now),
    and closes them after the test."""
    opened: list[LocalLearner] = []

    async def open_(
        *,
        fenced: bool = False,
        start: bool = True,
        on_learned: OnLearned = ignore,
        **settings: Any,
    ) -> LocalLearner:
        config = Settings.from_env({}, data_dir=tmp_path / "data", **settings)
        rebuilt = await rebuild_model(store, project)
        learner = local_learners(store, config, fenced=fenced)(project, rebuilt, on_learned)
        opened.append(learner)
        if start:
            learner.start()
        return learner

    yield open_
    for learner in opened:
        await learner.close()


async def stored_items(
    store: Store, project: ProjectRecord, count: int, first: int = 0
) -> list[ItemRecord]:
    """``count`` queued items, ``e{first}`` on; even numbers read as "a", odd ones as "b"."""
    events = [
        NewEvent(f"e{n}", ticket(KINDS[label_of(n)], n), "queued", 1.0)
        for n in range(first, first + count)
    ]
    return await store.run(store.insert_events, project.id, events)


def label_of(n: int) -> str:
    return "a" if n % 2 == 0 else "b"


def annotated(items: Sequence[ItemRecord]) -> list[NewLabel]:
    """One label by alice for each item, its label_id named after the item."""
    return [
        NewLabel(
            f"label-{item.event_id}",
            label_of(int(item.event_id[1:])),
            "annotator",
            item_id=item.id,
            annotator="alice",
        )
        for item in items
    ]


def assert_same_model(model: OnlineModel, reference: OnlineModel) -> None:
    """The two models learned the same labels in the same order."""
    assert model.version == reference.version
    assert model.predict_many(PROBES) == reference.predict_many(PROBES)
    assert model.metrics.report() == reference.metrics.report()
    assert model.snapshot() == reference.snapshot()


async def test_labels_submitted_together_share_commits_and_are_learned_in_submission_order(
    store: Store, project: ProjectRecord, open_learner: OpenLearner
):
    batches: list[list[LabelOutcome]] = []
    learner = await open_learner(
        label_batch_max=16, on_learned=lambda outcomes: batches.append(list(outcomes))
    )
    items = await stored_items(store, project, 50)
    labels = annotated(items)

    answers = await asyncio.gather(*(learner.submit([label]) for label in labels))

    outcomes = [outcome for [outcome] in answers]
    assert [outcome.label for outcome in outcomes] == labels
    assert all(o.error is None and not o.duplicate for o in outcomes)
    assert [outcome.model_version for outcome in outcomes] == list(range(1, 51))
    assert learner.commits < len(labels)
    assert learner.commits == len(batches)
    assert max(len(batch) for batch in batches) <= 16
    # The project heard of every outcome once, in the order they were committed.
    assert [outcome for batch in batches for outcome in batch] == outcomes
    reference = new_model(project)
    for item, label in zip(items, labels, strict=True):
        reference.learn(item.data, label.label, annotator="alice")
    assert_same_model(learner.model, reference)


async def test_an_ack_comes_before_the_shadow_models_learn_and_they_catch_up_in_order(
    store: Store, project: ProjectRecord, open_learner: OpenLearner
):
    learner = await open_learner()
    items = await stored_items(store, project, 8)
    labels = annotated(items)
    reference = new_model(project)

    for item, label in zip(items, labels, strict=True):
        [outcome] = await learner.submit([label])

        # Acked once the model that predicts has learned it; the shadows learn it next. (This
        # relies on the learner's `sleep(0)` letting the waiters of a batch run first.)
        assert outcome.model_version == int(item.event_id[1:]) + 1
        assert learner.model.__dict__.get("_lessons"), "the ack waited for the shadows"
        reference.learn(item.data, label.label, annotator="alice")
        assert learner.model.predict_many(PROBES) == reference.predict_many(PROBES)
    await learner.close()  # finishes the last batch, its shadows' lessons included

    assert "_lessons" not in learner.model.__dict__
    assert learner.model.accuracy_estimate() == reference.accuracy_estimate()
    assert_same_model(learner.model, reference)


def _twins(
    rehearsal: int = 0, preset: str = "logistic_regression"
) -> tuple[OnlineModel, OnlineModel]:
    """Two equal new text models, to teach the same labels in two ways."""
    first, second = (
        OnlineModel(
            labels=["a", "b"],
            input_kind="text",
            preset=preset,
            strategy="margin",
            rehearsal=rehearsal,
        )
        for _ in range(2)
    )
    return first, second


async def test_challengers_may_lag_further_than_the_shadows_and_end_the_same(
    store: Store, project: ProjectRecord, tmp_path: Path
):
    record = store.update_project(project.name, {"challengers": ["naive_bayes"]})
    config = Settings.from_env({}, data_dir=tmp_path / "data")
    learner = local_learners(store, config)(record, await rebuild_model(store, record), ignore)
    learner.start()
    items = await stored_items(store, record, 120)
    labels = annotated(items)
    shadows, challengers = [], []
    for label in labels:  # an annotator labelling flat out
        await learner.submit([label])
        shadows.append(learner.model.shadows_behind)
        challengers.append(learner.model.challengers_behind)
    # The challenger lags past the shadows' bound (acks do not wait for it), within its own.
    assert max(shadows) <= _SHADOW_BACKLOG < max(challengers) <= _CHALLENGER_BACKLOG
    await learner.close()
    assert learner.model.unsettled == 0
    reference = OnlineModel(
        labels=["a", "b"],
        input_kind="text",
        preset="naive_bayes",
        strategy="margin",
        rehearsal=record.rehearsal,
    )
    for item, label in zip(items, labels, strict=True):
        reference.learn(item.data, label.label, annotator="alice")
    challenger = learner.model.challengers["naive_bayes"]
    assert challenger.version == reference.version
    assert challenger.predict_many(PROBES) == reference.predict_many(PROBES)
    assert challenger.metrics.report() == reference.metrics.report()


async def test_a_label_that_comes_while_the_shadows_lag_is_learned_before_them(
    store: Store, project: ProjectRecord, open_learner: OpenLearner
):
    learner = await open_learner()
    items = await stored_items(store, project, 40)
    labels = annotated(items)

    [first] = await learner.submit(labels[:1])
    assert learner.model.unsettled == 1
    # Sent as soon as the first is acked: learned before the shadows learn the first.
    [second] = await learner.submit(labels[1:2])
    assert (first.model_version, second.model_version) == (1, 2)
    assert learner.model.unsettled == 2

    # An annotator labelling flat out: the shadows lag behind by a bounded number of labels.
    lags = []
    for label in labels[2:]:
        await learner.submit([label])
        lags.append(learner.model.unsettled)
    assert max(lags) <= _SHADOW_BACKLOG
    await learner.close()

    assert learner.model.unsettled == 0
    reference = new_model(project)
    for item, label in zip(items, labels, strict=True):
        reference.learn(item.data, label.label, annotator="alice")
    assert learner.model.accuracy_estimate() == reference.accuracy_estimate()
    assert_same_model(learner.model, reference)


async def test_a_shadow_that_fails_to_learn_does_not_stop_the_label_path(
    store: Store, project: ProjectRecord, open_learner: OpenLearner, monkeypatch, caplog
):
    learner = await open_learner()
    items = await stored_items(store, project, 6)
    labels = annotated(items)
    heads = learner.model._heads  # the project's logistic model: its shadows are heads
    learn_row = heads.learn_row
    failures = iter([RuntimeError("a bug in a shadow")])
    taught: list[int] = []
    failed: list[int] = []

    def learn_once_badly(names: Any, values: Any, label: Any, *, skip: int) -> None:
        if (failure := next(failures, None)) is not None:
            failed.append(id(values))
            raise failure
        taught.append(id(values))
        learn_row(names, values, label, skip=skip)

    monkeypatch.setattr(heads, "learn_row", learn_once_badly)

    outcomes = [(await learner.submit([label]))[0] for label in labels]

    assert [outcome.model_version for outcome in outcomes] == list(range(1, 7))
    await learner.close()
    assert learner.model.unsettled == 0
    # Logged once, and the failed step was not taken again: the shadows went on.
    logged = [r for r in caplog.records if "a shadow model failed to learn" in r.getMessage()]
    assert len(logged) == 1
    assert failed and failed[0] not in taught
    assert len(taught) >= 5  # the five labels after the one that failed


def test_a_label_learned_at_once_comes_after_those_deferred() -> None:
    mixed, direct = _twins()
    for n in range(30):
        data = ticket(KINDS[label_of(n)], n)
        # A fenced learner's catch-up learns at once while earlier labels wait.
        mixed.learn(data, label_of(n), drawn_at_random=n % 3 == 0, defer=n % 5 != 4)
        direct.learn(data, label_of(n), drawn_at_random=n % 3 == 0)

    assert mixed.snapshot() == direct.snapshot()


@pytest.mark.parametrize(
    ("preset", "steps"),
    [
        # Whole shadow models: a lesson is 3 or 4 steps (one per shadow that learns it).
        ("naive_bayes", [0, 1, 1, 2, 3, 5]),
        # Shadow heads (`ShadowHeads`): a lesson is one step, every shadow at once.
        ("logistic_regression", [0, 0, 1, 2]),
    ],
)
def test_settling_a_step_at_a_time_teaches_the_shadows_as_settling_at_once(
    preset: str, steps: list[int]
) -> None:
    stepped, direct = _twins(rehearsal=2, preset=preset)
    rng = random.Random(3)
    for n in range(80):
        data = ticket(KINDS[label_of(n)], n)
        stepped.learn(data, label_of(n), drawn_at_random=n % 3 == 0, defer=True)
        direct.learn(data, label_of(n), drawn_at_random=n % 3 == 0)
        stepped.settle(steps=rng.choice(steps))

    assert stepped.unsettled > 0
    assert stepped.accuracy_estimate() == direct.accuracy_estimate()
    assert stepped.snapshot() == direct.snapshot()


def test_a_model_that_deferred_its_shadows_pickles_as_one_that_did_not() -> None:
    deferred, direct = _twins(rehearsal=2)
    for n in range(60):
        data = ticket(KINDS[label_of(n)], n)
        deferred.learn(data, label_of(n), drawn_at_random=n % 3 == 0, defer=True)
        direct.learn(data, label_of(n), drawn_at_random=n % 3 == 0)
        if n in (25, 40):
            # A drift restarts rehearsal memories, the shadows' too: lessons from before it
            # must be taught first, whenever the deferred model is next settled.
            deferred._answer_drift()
            direct._answer_drift()
        if n % 7 == 6:
            deferred.settle()  # several lessons wait between settles, as in a group commit

    assert deferred.accuracy_estimate() == direct.accuracy_estimate()
    assert deferred.snapshot() == direct.snapshot()


async def test_labels_are_learned_in_the_order_the_store_gave_them(
    store: Store, project: ProjectRecord, open_learner: OpenLearner
):
    batches: list[list[LabelOutcome]] = []
    learner = await open_learner(
        label_batch_max=4, on_learned=lambda outcomes: batches.append(list(outcomes))
    )
    items = await stored_items(store, project, 24)
    labels = annotated(items[:12]) + [
        NewLabel(f"prod-{item.event_id}", label_of(n), "production", event_id=item.event_id)
        for n, item in enumerate(items[12:], start=12)
    ]
    # Annotators and production, in groups of different sizes, all at once.
    groups = [labels[0:3], labels[3:4], labels[12:19], labels[4:12], labels[19:24]]

    answers = await asyncio.gather(*(learner.submit(group) for group in groups))

    outcomes = [outcome for answer in answers for outcome in answer]
    assert all(o.error is None and not o.duplicate for o in outcomes)
    in_row_order = sorted(outcomes, key=lambda outcome: outcome.row_id or 0)
    assert [outcome.model_version for outcome in in_row_order] == list(range(1, 25))
    heard = [outcome.row_id for batch in batches for outcome in batch]
    assert heard == sorted(heard)
    # A restart replays the labels by row id: the learner learned them in that order.
    rebuilt = await rebuild_model(store, project)
    assert learner.last_label_id == rebuilt.last_label_id == in_row_order[-1].row_id
    assert_same_model(learner.model, rebuilt.model)


async def test_a_label_id_sent_again_is_a_duplicate_and_learned_once(
    store: Store, project: ProjectRecord, open_learner: OpenLearner
):
    learner = await open_learner()
    first, second = annotated(await stored_items(store, project, 2))

    [stored] = await learner.submit([first])
    [again, other, twice] = await learner.submit([first, second, second])

    assert not stored.duplicate and stored.model_version == 1
    assert again.duplicate and (again.row_id, again.model_version) == (stored.row_id, 1)
    assert not other.duplicate and other.model_version == 2
    assert twice.duplicate and twice.model_version == 2
    assert learner.model.version == 2
    assert len(await store.run(store.replay_labels, project.id, 0)) == 2
    assert_same_model(learner.model, (await rebuild_model(store, project)).model)


async def test_a_fenced_learner_learns_what_another_stored_before_committing_its_own(
    store: Store, project: ProjectRecord, open_learner: OpenLearner
):
    labels = annotated(await stored_items(store, project, 15))
    first = await open_learner(fenced=True)
    stale = await open_learner(fenced=True)  # built from the store before `first` commits

    await first.submit(labels[:5])
    outcomes = await stale.submit(labels[5:10])

    assert all(o.error is None and not o.duplicate for o in outcomes)
    assert [outcome.model_version for outcome in outcomes] == [6, 7, 8, 9, 10]
    rebuilt = await rebuild_model(store, project)
    assert stale.last_label_id == rebuilt.last_label_id
    assert_same_model(stale.model, rebuilt.model)

    # Now `first` is the stale one: it catches up in turn.
    outcomes = await first.submit(labels[10:])

    assert [outcome.model_version for outcome in outcomes] == [11, 12, 13, 14, 15]
    assert_same_model(first.model, (await rebuild_model(store, project)).model)


async def test_without_the_fence_a_stale_learner_does_not_catch_up(
    store: Store, project: ProjectRecord, open_learner: OpenLearner
):
    """What the fence is for: an embedded learner is the only writer, and does not check."""
    labels = annotated(await stored_items(store, project, 10))
    first = await open_learner()
    stale = await open_learner()

    await first.submit(labels[:5])
    outcomes = await stale.submit(labels[5:])

    assert [outcome.model_version for outcome in outcomes] == [1, 2, 3, 4, 5]
    assert stale.model.version == 5
    assert (await rebuild_model(store, project)).model.version == 10


async def test_close_finishes_the_labels_submitted_before_it_and_refuses_the_rest(
    store: Store, project: ProjectRecord, open_learner: OpenLearner
):
    learner = await open_learner()
    labels = annotated(await stored_items(store, project, 11))

    # The submit runs first (tasks start in order), so its labels are taken before close.
    outcomes, _ = await asyncio.wait_for(
        asyncio.gather(learner.submit(labels[:10]), learner.close()), RECEIVE_TIMEOUT
    )

    assert [outcome.model_version for outcome in outcomes] == list(range(1, 11))
    assert learner.model.version == 10
    with pytest.raises(NotReady) as refused:
        await learner.submit(labels[10:])
    assert refused.value.code == "shutting_down"
    assert len(await store.run(store.replay_labels, project.id, 0)) == 10


async def test_a_full_backlog_refuses_more_labels_until_it_drains(
    store: Store, project: ProjectRecord, open_learner: OpenLearner
):
    learner = await open_learner(start=False, pending_labels_max=3)
    labels = annotated(await stored_items(store, project, 4))

    with pytest.raises(TooManyRequests) as too_many:
        await learner.submit(labels)  # more at once than there is room for
    assert too_many.value.code == "learner_busy"
    assert learner.backlog == 0

    waiting = asyncio.ensure_future(learner.submit(labels[:3]))
    refused = asyncio.ensure_future(learner.submit(labels[3:]))
    await asyncio.wait([refused])

    error = refused.exception()
    assert isinstance(error, TooManyRequests) and error.code == "learner_busy"
    assert learner.backlog == 3
    learner.start()
    assert [outcome.model_version for outcome in await waiting] == [1, 2, 3]
    assert learner.backlog == 0
    [late] = await learner.submit(labels[3:])
    assert late.model_version == 4


async def test_a_snapshot_is_stored_once_per_change_and_spares_the_replay(
    store: Store, project: ProjectRecord, open_learner: OpenLearner
):
    learner = await open_learner()
    labels = annotated(await stored_items(store, project, 6))
    await learner.submit(labels)
    assert (await rebuild_model(store, project)).snapshot_owed
    assert learner.snapshot_due(time.monotonic())

    assert await learner.snapshot() is True
    assert await learner.snapshot() is False

    assert not learner.snapshot_due(time.monotonic())
    stored = await store.run(store.latest_snapshot, project.id)
    assert stored is not None
    version, last_label_id, _blob = stored
    assert (version, last_label_id) == (6, learner.last_label_id)
    rebuilt = await rebuild_model(store, project)
    assert not rebuilt.snapshot_owed  # restored from the snapshot, nothing replayed on top
    assert rebuilt.last_label_id == learner.last_label_id
    assert_same_model(rebuilt.model, learner.model)


def _held_saves(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> tuple[asyncio.Event, threading.Event]:
    """Hold each snapshot's save in the store's thread: (set once a save is held, set to let
    it go on)."""
    loop = asyncio.get_running_loop()
    saving, release = asyncio.Event(), threading.Event()
    save = store.save_snapshot

    def held_save(*args: Any) -> None:
        loop.call_soon_threadsafe(saving.set)
        release.wait(RECEIVE_TIMEOUT)
        save(*args)

    monkeypatch.setattr(store, "save_snapshot", held_save)
    return saving, release


async def test_the_model_is_free_while_a_snapshot_is_being_stored(
    store: Store, project: ProjectRecord, open_learner: OpenLearner, monkeypatch: pytest.MonkeyPatch
):
    learner = await open_learner()
    items = annotated(await stored_items(store, project, 9))
    await learner.submit(items[:6])
    saving, release = _held_saves(store, monkeypatch)
    snapshot = asyncio.ensure_future(learner.snapshot())
    await saving.wait()
    try:
        # Pickled already, the snapshot no longer keeps the model still while the database
        # writes it: the model can be pickled again (a download, a broker's copy), and the
        # next labels' batch goes into the store's queue rather than waiting for the save.
        version, _blob = await asyncio.wait_for(learner.model_blob(), RECEIVE_TIMEOUT)
        assert version == 6
        labelled = asyncio.ensure_future(learner.submit(items[6:]))
    finally:
        release.set()
    outcomes = await asyncio.wait_for(labelled, RECEIVE_TIMEOUT)
    assert await snapshot is True
    assert [outcome.model_version for outcome in outcomes] == [7, 8, 9]

    # The snapshot is the model before those labels, with the label id it had learned to.
    stored = await store.run(store.latest_snapshot, project.id)
    assert stored is not None and stored[:2] == (6, outcomes[0].row_id - 1)
    rebuilt = await rebuild_model(store, project)
    assert_same_model(rebuilt.model, learner.model)


async def test_a_snapshot_taken_before_a_quarantine_is_not_stored_after_it(
    store: Store, project: ProjectRecord, open_learner: OpenLearner, monkeypatch: pytest.MonkeyPatch
):
    # The quarantine's change deletes the stored snapshots (they hold the annotator's labels):
    # one pickled before it must be stored before it, whatever order the database runs calls
    # in (here each call on a thread of its own, as a store with several connections may).
    learner = await open_learner()
    await learner.submit(annotated(await stored_items(store, project, 6)))
    saving, release = _held_saves(store, monkeypatch)
    waited = asyncio.Event()
    change = store.set_annotator_state

    def changed_now(*args: Any) -> Any:
        try:
            return change(*args)
        finally:
            release.set()  # the change went first: let the save go on after it

    class Told(asyncio.Lock):
        async def acquire(self) -> bool:
            if self.locked():
                waited.set()  # the change waits for the snapshot's save
            return await super().acquire()

    async def run_apart(fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    monkeypatch.setattr(store, "set_annotator_state", changed_now)
    monkeypatch.setattr(store, "run", run_apart)
    learner.saving = Told()
    snapshot = asyncio.ensure_future(learner.snapshot())
    await saving.wait()
    quarantined = asyncio.ensure_future(
        store_state(store, project, learner, "alice", "quarantined")
    )
    await asyncio.wait(
        [quarantined, asyncio.ensure_future(waited.wait())], return_when="FIRST_COMPLETED"
    )
    release.set()
    await asyncio.wait_for(asyncio.gather(snapshot, quarantined), RECEIVE_TIMEOUT)

    assert await run_apart(store.latest_snapshot, project.id) is None
    assert learner.snapshots_held
