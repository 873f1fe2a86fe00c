"""Where a project's labels are stored and learned: the `Learner` protocol, and the learner
that does it in this process.

A label is acknowledged only after the transaction holding it has committed, and it is learned
right after that commit, in the order the database gave it (``labels.id``), which is the order a
restart replays. Batching many waiting labels into one transaction keeps the fsync cost per
label small under load while a lone label still commits at once.

The same `LocalLearner` runs in ``serve`` (embedded) and in a Kafka worker (for the projects
whose labels partition it holds); ``serve --broker`` reaches that one through
`streamloop.streams.remote.RemoteLearner`. The runtime is handed a `LearnerFactory` and never
asks which it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from streamloop.config import Settings
from streamloop.errors import Conflict, InvalidInput, NotReady, StreamloopError, TooManyRequests
from streamloop.online import (
    AnyModel,
    MultiLabelModel,
    OnlineModel,
    SpanModel,
    answer_problem,
    compiled,
    model_answer,
    model_task,
    restore_model,
)
from streamloop.store import LabelOutcome, NewLabel, ProjectRecord, ReplayLabel, Store
from streamloop.streams import pauses

__all__ = [
    "Learner",
    "LearnerFactory",
    "LocalLearner",
    "OnLearned",
    "Rebuilt",
    "admit",
    "learn_replayed",
    "load_steps",
    "local_learners",
    "new_model",
    "rebuild_model",
    "snapshot_due",
]

log = logging.getLogger(__name__)

_Pending = tuple[NewLabel, "asyncio.Future[LabelOutcome]"]
#: Labels the shadow models may lag behind before the learner teaches them ahead of new
#: labels: a new batch jumps the queue only while fewer wait, so at any pace they keep up.
#: (One batch, up to `label_batch_max` labels, may come on top: whoever settles everything at
#: once, a snapshot or the estimate, waits for that many at most, as before step-wise settling.)
_SHADOW_BACKLOG = 8
#: The same for the challengers (`streamloop.online.base.ModelBase.challengers`): they may lag
#: further, catching up when the server is idle, so that a burst of labels is acked at the
#: model's own pace; past this many, acks wait for them too (their cost exceeds the spare
#: time, BENCHMARKS.md "Challengers"), so the lag, and what a snapshot or an estimate must
#: first settle, stays bounded (a forest challenger's 64 labels: about a second).
_CHALLENGER_BACKLOG = 64

#: Called on the event loop with each committed batch's outcomes, once they are learned.
OnLearned = Callable[[Sequence[LabelOutcome]], None]


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """A project's model as its stored labels made it (`rebuild_model`)."""

    model: AnyModel
    #: The id of the last label the model learned.
    last_label_id: int
    #: No snapshot has this model yet (there was none, or labels were replayed on top).
    snapshot_owed: bool


class Learner(Protocol):
    """Stores and learns one project's labels, in order, and answers each once it is."""

    #: Batches of outcomes committed (or received from the learner), for the group size.
    commits: int

    @property
    def backlog(self) -> int:
        """Labels submitted and not yet answered."""

    def start(self) -> None: ...

    async def close(self) -> None:
        """Stop taking labels; finish (or wait a little for) those already submitted."""

    async def submit(self, labels: Sequence[NewLabel]) -> list[LabelOutcome]:
        """Store and learn ``labels``; their outcomes once each is committed (or refused)."""

    async def snapshot(self) -> bool:
        """Persist the model if it changed since the last snapshot; whether it did."""

    def snapshot_due(self, now: float) -> bool: ...

    def steady(self) -> AbstractAsyncContextManager[object]:
        """Held while the served model must not change (while it is pickled)."""


#: Makes the learner of a project, given its rebuilt model and whom to tell of outcomes.
LearnerFactory = Callable[[ProjectRecord, Rebuilt, OnLearned], Learner]


def local_learners(
    store: Store, settings: Settings, *, fenced: bool = False
) -> Callable[[ProjectRecord, Rebuilt, OnLearned], LocalLearner]:
    """Learners in this process, on ``store`` (``fenced``: see `LocalLearner`)."""

    def make(record: ProjectRecord, rebuilt: Rebuilt, on_learned: OnLearned) -> LocalLearner:
        return LocalLearner(
            project_id=record.id,
            model=rebuilt.model,
            store=store,
            last_label_id=rebuilt.last_label_id,
            settings=settings,
            on_learned=on_learned,
            fenced=fenced,
            snapshot_owed=rebuilt.snapshot_owed,
        )

    return make


async def load_steps(model: AnyModel) -> None:
    """The compiled steps (`streamloop.online.compiled`) of ``model``, if it has any, loaded
    in a thread; at once if they are loaded already or it has none.

    Whoever opens a project awaits this before the project takes an event or a label
    (`streamloop.streams.service.Service`, a worker's `ProjectLearners`): importing numba
    holds the interpreter's lock for most of half a second, and it and the freeze after it
    each set off a full collection, which every ack sent meanwhile would wait out
    (BENCHMARKS.md, issue 22 round 17). A learner started without it loads them itself,
    in a thread, rather than at its first label (`LocalLearner.start`).
    """
    if compiled.loaded() or not compiled.uses_compiled(model):
        return
    await _load_steps()


async def _load_steps() -> None:
    try:
        await asyncio.to_thread(compiled.load)
    except Exception:  # the first step loads them again, and says why it cannot
        log.exception("loading the compiled learning steps failed")
    else:
        pauses.keep()  # compiled steps, and numba, last


class LocalLearner:
    """Stores and learns the labels of one project, strictly in order, in this process.

    Parameters
    ----------
    on_learned
        Called on the event loop with each committed batch's outcomes, after learning.
    fenced
        Another process may have learned this project before (a Kafka learner that took
        over a partition): each commit checks no label was stored after ``last_label_id``,
        and if one was, the learner learns those first and commits again.
    """

    def __init__(
        self,
        *,
        project_id: int,
        model: AnyModel,
        store: Store,
        last_label_id: int,
        settings: Settings,
        on_learned: OnLearned,
        fenced: bool = False,
        snapshot_owed: bool = False,
    ) -> None:
        self.project_id = project_id
        self.model = model
        self.store = store
        self.last_label_id = last_label_id
        self.settings = settings
        self.batch_max = settings.label_batch_max
        self.on_learned = on_learned
        self.fenced = fenced
        # Held while a batch is being stored and learned; a snapshot holds it while it
        # pickles, so the pickled model always matches ``last_label_id``.
        self.lock = asyncio.Lock()
        #: Held from a snapshot's pickling until it is stored (one snapshot at a time), and
        #: by whatever deletes the stored snapshots (`streamloop.streams.quarantine`), so that
        #: no snapshot taken before is stored after. Taken before `lock`, never inside it.
        self.saving = asyncio.Lock()
        self._pending: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=settings.pending_labels_max)
        self._task: asyncio.Task[None] | None = None
        self._loading: asyncio.Task[None] | None = None
        self._closing = False
        #: Transactions committed, for the average group-commit size.
        self.commits = 0
        #: The model version of the newest snapshot stored (-1: a snapshot is owed now).
        self.snapshot_version = -1 if snapshot_owed else model.version
        self.snapshot_time = time.monotonic()
        #: While a rebuilt model is on its way (`streamloop.streams.quarantine`), the served
        #: one holds labels that no longer count: it must not be snapshotted.
        self.snapshots_held = False

    @property
    def backlog(self) -> int:
        return self._pending.qsize()

    def steady(self) -> asyncio.Lock:
        return self.lock

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"learner-{self.project_id}")
        if not compiled.loaded() and compiled.uses_compiled(self.model):
            self._loading = asyncio.create_task(_load_steps(), name="load-learning-steps")

    async def submit(self, labels: Sequence[NewLabel]) -> list[LabelOutcome]:
        """Store and learn ``labels``; returns once each is committed (or refused)."""
        admit(self._closing, self._pending.maxsize - self._pending.qsize(), len(labels))
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[LabelOutcome]] = []
        for label in labels:
            future: asyncio.Future[LabelOutcome] = loop.create_future()
            self._pending.put_nowait((label, future))
            futures.append(future)
        if len(futures) == 1:  # an annotator's label: woken as soon as it is learned
            return [await futures[0]]
        return list(await asyncio.gather(*futures))

    async def close(self) -> None:
        """Stop taking labels, finish those already submitted, then stop."""
        self._closing = True
        if self._task is None:
            return
        if self._loading is not None:
            await self._loading
        await self._pending.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        async with self.lock:
            while self.model.unsettled:  # what the shadows still lag behind
                self._settle()

    async def _run(self) -> None:
        while True:
            await self._settle_between_labels()
            batch = [await self._pending.get()]
            while len(batch) < self.batch_max and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            try:
                await self._apply(batch)
            except Exception as exc:  # the loop must survive a failing batch
                log.exception("storing a batch of %d labels failed", len(batch))
                error = (
                    exc  # the store locked or full: say so, as the events endpoint does
                    if isinstance(exc, StreamloopError)
                    else NotReady(f"the label could not be stored: {exc}", code="store_failed")
                )
                for _label, future in batch:
                    if not future.done():
                        future.set_exception(error)
            finally:
                for _ in batch:
                    self._pending.task_done()

    async def _apply(self, batch: list[_Pending]) -> None:
        async with self.lock:
            # An answer the model cannot learn (a process of another version sent it, say) is
            # refused before it is stored: stored, it would fail every replay after it.
            refused = {
                n: LabelOutcome(label, error=InvalidInput(problem, code="invalid_input"))
                for n, (label, _future) in enumerate(batch)
                if (problem := answer_problem(self.model, label.label)) is not None
            }
            labels = [label for n, (label, _future) in enumerate(batch) if n not in refused]
            stored: list[LabelOutcome] = []
            if labels:
                try:
                    stored = await self._commit(labels)
                except Conflict as exc:
                    if exc.code != "stale_learner":
                        raise
                    log.info("project %d: learning labels another learner stored", self.project_id)
                    await self._catch_up()
                    stored = await self._commit(labels)
                self.commits += 1
            for outcome in stored:
                if outcome.error is None and not outcome.duplicate:
                    self._learn(outcome)
            kept = iter(stored)
            outcomes = [refused[n] if n in refused else next(kept) for n in range(len(batch))]
        self.on_learned(outcomes)
        for (_label, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)
        # The model that predicts has learned the batch: its labels are acked, and the
        # estimate's shadow models learn them next (`_settle_between_labels`).

    async def _settle_between_labels(self) -> None:
        """Teach the shadow models the labels they lag behind, one shadow and one label at a
        time, letting the event loop run between: the waiters of the labels just learned run
        first, and a label that comes meanwhile is learned first too, unless
        `_SHADOW_BACKLOG` labels already wait for the shadows."""
        while self.model.unsettled:
            await asyncio.sleep(0)
            model = self.model
            if (
                not self._pending.empty()
                and model.shadows_behind < _SHADOW_BACKLOG
                and model.challengers_behind < _CHALLENGER_BACKLOG
            ):
                return
            async with self.lock:
                self._settle(steps=1)

    def _settle(self, steps: int | None = None) -> None:
        try:
            self.model.settle(steps)
        except Exception:  # the label path must outlive a shadow that cannot learn
            log.exception("project %d: a shadow model failed to learn", self.project_id)

    async def _commit(self, labels: list[NewLabel]) -> list[LabelOutcome]:
        return await self.store.run(
            self.store.commit_labels,
            self.project_id,
            labels,
            self.model.version,
            after_label_id=self.last_label_id if self.fenced else None,
            fit=self._fit,
        )

    def _fit(self, stored: str, data: Mapping[str, Any]) -> str:
        """An answer as it is kept for its item (`Task.fit`), checked as it is stored (on the
        store's thread: `Task.fit` reads only what never changes)."""
        return model_task(self.model).fit(self.model, stored, data)

    async def _catch_up(self) -> None:
        excluded = await self.store.run(self.store.quarantined, self.project_id)
        replay = await self.store.run(
            self.store.replay_labels, self.project_id, self.last_label_id, excluded
        )
        self.last_label_id = learn_replayed(self.model, replay, self.last_label_id)

    # -- snapshots --------------------------------------------------------------------------

    async def snapshot(self) -> bool:
        """Persist the model if it changed since the last snapshot. Off the event loop."""
        async with self.saving:
            async with self.lock:
                version = self.model.version
                if version == self.snapshot_version or self.snapshots_held:
                    return False
                model = self.model
                model.settle()  # here, not in the thread: the loop reads the shadows
                last_label_id = self.last_label_id
                blob = await asyncio.to_thread(model.snapshot)
            # Stored while labels are learned again: the next batch's commit waits for this
            # one in the store's queue, not for the whole save on top of the pickling.
            await self.store.run(
                self.store.save_snapshot, self.project_id, version, last_label_id, blob
            )
            if self.model is model:  # else a rebuild or a promotion since owes its own now
                self.snapshot_version = version
        self.snapshot_time = time.monotonic()
        return True

    def snapshot_due(self, now: float) -> bool:
        changed = self.model.version - max(self.snapshot_version, 0)
        if self.snapshot_version < 0 or changed >= self.settings.snapshot_every_labels:
            return True
        elapsed = now - self.snapshot_time
        return changed > 0 and elapsed >= self.settings.snapshot_interval_seconds

    async def model_blob(self) -> tuple[int, bytes]:
        """(version, snapshot) of the model as it is now, pickled off the event loop."""
        async with self.lock:
            version = self.model.version
            self.model.settle()  # here, not in the thread: the loop reads the shadows
            blob = await asyncio.to_thread(self.model.snapshot)
        return version, blob

    def _learn(self, outcome: LabelOutcome) -> None:
        assert outcome.data is not None and outcome.row_id is not None
        assert outcome.model_version is not None
        label = outcome.label
        stored = ReplayLabel(
            row_id=outcome.row_id,
            data=outcome.data,
            label=label.label,
            model_version=outcome.model_version,
            drawn_at_random=label.drawn_at_random,
            annotator=label.annotator if label.source != "production" else None,
            correction=label.corrects is not None or label.source == "review",
            learned=outcome.learned,
        )
        # Cannot be off while this learner is the only writer of the project's labels.
        self.last_label_id = learn_replayed(self.model, [stored], self.last_label_id, defer=True)


async def snapshot_due(learners: Mapping[str, Learner]) -> None:
    """Snapshot each project's model (``learners`` by project name) that the snapshot policy
    says is due; a failure is logged and the others go on."""
    now = time.monotonic()
    for name, learner in list(learners.items()):
        if learner.snapshot_due(now):
            try:
                await learner.snapshot()
            except Exception:
                log.exception("snapshot of project %s failed", name)


def admit(closing: bool, room: int, count: int) -> None:
    """Refuse ``count`` labels a learner cannot take now: it is stopping (503), or it has room
    for fewer (429, retry shortly)."""
    if closing:
        raise NotReady("the server is shutting down", code="shutting_down")
    if room < count:
        raise TooManyRequests(
            "too many labels are waiting to be learned; retry shortly", code="learner_busy"
        )


def learn_replayed(
    model: AnyModel,
    replay: Sequence[ReplayLabel],
    last_label_id: int,
    *,
    stamped: bool = True,
    defer: bool = False,
) -> int:
    """Learn stored labels in their order (those not to be learned are passed over); returns
    the id of the last one stored. A label is
    learned through here live (`LocalLearner`) and replayed (restarts, a fenced catch-up); an
    export learns its rows itself, as it needs each one's prediction. ``stamped``: the labels'
    stored versions are the ones the model gives them (not when some are left out).
    ``defer``: what can wait (the shadow models) waits for the model's `settle`."""
    extra: dict[str, bool] = (
        {"defer": True} if defer and isinstance(model, OnlineModel | MultiLabelModel) else {}
    )
    for label in replay:
        last_label_id = label.row_id
        if not label.learned:
            continue
        try:
            learned = model.learn(
                label.data,
                model_answer(model, label.label),
                drawn_at_random=label.drawn_at_random,
                annotator=label.annotator,
                correction=label.correction,
                **extra,
            )
        except ValueError:
            # Refused before it was stored (`answer_problem`), so never here; but a label the
            # model cannot take must not stop every restart: it is counted and passed over,
            # the same way on every replay.
            log.exception("label %d cannot be learned; passed over", label.row_id)
            model.advance_to(model.version + 1)
            continue
        if stamped and learned.model_version != label.model_version:
            log.warning(
                "label %d learned as version %d, stored as %d",
                label.row_id,
                learned.model_version,
                label.model_version,
            )
    return last_label_id


async def check_plugins(record: ProjectRecord) -> None:
    """Load and check, off the event loop, the plugins the project's models come from (its
    model and challengers): the first check of one takes seconds (it trains a model, once in
    a fresh interpreter), and only checked plugins are asked for anything on the loop.

    Raises
    ------
    RuntimeError
        If one is no longer installed, or now fails its check.
    """
    from streamloop.online import plugins

    for name in [record.model, *record.challengers]:
        if ":" not in name:
            continue
        if not plugins.is_known(name):
            raise RuntimeError(
                f"project {record.name!r} uses the model {name!r}, which no installed package "
                f"offers: install the plugin's package again (GET /api/models lists those "
                f"installed)"
            )
        try:
            await asyncio.to_thread(plugins.load, name)
        except plugins.PluginRefused as refused:
            raise RuntimeError(f"project {record.name!r}: {refused}") from None


async def rebuild_model(store: Store, record: ProjectRecord) -> Rebuilt:
    """A project's model as its labels made it: the latest snapshot plus the labels after it.

    Raises
    ------
    RuntimeError
        If the project's model is a plugin's that no installed package offers now.
    """
    await check_plugins(record)
    snapshot = await store.run(store.latest_snapshot, record.id)
    last_label_id = 0
    if snapshot is None:
        model = new_model(record)
    else:
        _version, last_label_id, blob = snapshot
        model = await asyncio.to_thread(restore_model, blob)
        if model.preset != record.model and record.model in model.challengers:
            # Stopped after a promotion was stored, before its snapshot: promoted again here.
            model = model.promoted(record.model, record.challengers)
    # Quarantined annotators' labels do not count (`streamloop.streams.quarantine`).
    excluded = await store.run(store.quarantined, record.id)
    replay = await store.run(store.replay_labels, record.id, last_label_id, excluded)
    # From no snapshot after a quarantine or release, the stored versions have gaps (labels
    # left out, rebuilds counted): the model counts on from the newest stored one, so that
    # versions never go back. (Without either, that is the version replay reaches.)
    last_label_id = learn_replayed(
        model, replay, last_label_id, stamped=snapshot is not None or not excluded
    )
    if snapshot is None:
        # Promotions counted a version each, which no label carries.
        promoted = max((int(p["model_version"]) for p in record.promotions), default=0)
        newest = await store.run(store.newest_version, record.id)
        model.advance_to(max(model.version, newest, promoted))
    if replay:
        log.info("project %s: %d labels replayed", record.name, len(replay))
    return Rebuilt(model, last_label_id, snapshot_owed=snapshot is None or bool(replay))


def new_model(record: ProjectRecord) -> AnyModel:
    """A project's model before any label: one label an item, a set, or spans (``task``)."""
    if record.task == "spans":
        return SpanModel(
            labels=record.labels,
            strategy=record.strategy,
            seed=record.seed,
            rehearsal=record.rehearsal,
        )
    if record.task == "multilabel":
        return MultiLabelModel(
            labels=record.labels,
            input_kind=record.input,
            preset=record.model,
            strategy=record.strategy,
            thresholds=record.thresholds,
            seed=record.seed,
            rehearsal=record.rehearsal,
            challengers=record.challengers,
        )
    return OnlineModel(
        labels=record.labels,
        input_kind=record.input,
        preset=record.model,
        strategy=record.strategy,
        seed=record.seed,
        rehearsal=record.rehearsal,
        challengers=record.challengers,
    )
