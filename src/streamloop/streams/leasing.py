"""Leasing a project's items to its annotators: who holds what, until when, and what comes next.

`Leasing` owns the annotator sessions, the routing queue and its leases, the lease timers, the
claims a shared store needs, and the re-scoring of candidates with the model as it is now. It
tells sessions what happens to them with `streamloop.streams.notices`; the runtime tells it
what labels did (`settle`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from streamloop.config import Settings
from streamloop.errors import Conflict
from streamloop.online import AnyModel, AnyPrediction
from streamloop.online.inputs import NumericRows, keeping_terms, numeric_rows, stacked
from streamloop.online.routing import Ranking, RoutingPolicy
from streamloop.store import GoldRecord, ItemRecord, ProjectRecord, Store
from streamloop.store.journal import Journal
from streamloop.streams.annotators import AnnotatorSession
from streamloop.streams.arrivals import project_rng
from streamloop.streams.gold import GoldPool
from streamloop.streams.notices import Idle, ItemOffered, LeaseExpired, LeaseRevoked
from streamloop.streams.overlap import OverlapPool, Waiting
from streamloop.streams.queue import Lease, QueuedItem, RoutingQueue
from streamloop.streams.returning import Returning

if TYPE_CHECKING:
    from streamloop.online.model import OnlineModel
    from streamloop.online.multilabel import MultiLabelModel

__all__ = ["Leasing"]

log = logging.getLogger(__name__)

#: How many of the newest leases a candidate is compared with for diversity.
_DIVERSITY_HELD = 32
#: How far down the ranking a model that scores batches as one predicts ahead, in re-scored
#: candidates (`Leasing._predictions`). The leases after the first in an epoch re-score the
#: top half of that many; twice it covers the items that one lease's re-scoring and a dozen
#: leases taken can bring to the top (tests/streams/test_leasing.py).
_AHEAD = 2
#: Candidates' predictions are kept for at most one label learned in this many of those the
#: model had learned when they were made (`Leasing._epoch`).
_RESCORE_SHARE = 16
#: How many queued items' numbers (`Leasing._numbers`) are kept: the top of the ranking and
#: the latest random draws are what leases score again at each re-scoring. Bounded, so
#: that however many items wait, what is kept is a few megabytes at most.
_NUMBERS_KEPT = 4096


class Leasing:
    """The annotator side of a project's loop.

    Parameters
    ----------
    model
        The model being served now (it is hot-swapped, so it is asked for each time).
    exploration
        The share of leases drawn at random now.
    changed
        Called whenever the figures a supervisor watches may have changed.
    """

    def __init__(
        self,
        record: ProjectRecord,
        store: Store,
        settings: Settings,
        journal: Journal,
        policy: RoutingPolicy,
        *,
        model: Callable[[], AnyModel],
        exploration: Callable[[], float],
        changed: Callable[[], None],
    ) -> None:
        self.record = record
        self.store = store
        self.settings = settings
        self.journal = journal
        self.policy = policy
        self.queue = RoutingQueue(settings.queue_capacity, project_rng(record, "queue"))
        self._model = model
        self._exploration = exploration
        self._changed = changed
        self._rng = project_rng(record, "leasing")
        #: The gold items, mixed into each annotator's items (`streamloop.streams.gold`).
        self.gold = GoldPool(record)
        self._gold_rng = project_rng(record, "gold")
        # Gold leases live outside the queue, each under an id of its own (negative, so never
        # an item's), since several annotators may hold the same gold item.
        self._gold_leases: dict[int, Lease] = {}
        self._gold_ids = itertools.count(1)
        #: Overlapped items learned once, waiting for other annotators' labels; offered first.
        self.overlap = OverlapPool()
        self._overlap_leases: dict[int, Lease] = {}
        self._sessions: dict[str, AnnotatorSession] = {}
        #: What annotators held when their connection closed: theirs first if they come back.
        self.returning = Returning()
        #: Annotators offered nothing (quarantined: `streamloop.streams.quarantine`).
        self.benched: set[str] = set()
        self._waiting: dict[str, AnnotatorSession] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._claims: set[asyncio.Task[None]] = set()
        #: The leases whose claim in the shared store is under way (by lease id): they end
        #: as the claim's answer says (`_claim`), not by their timer.
        self._claiming: set[str] = set()
        #: Candidates' predictions (`_predictions`) in this epoch (`_epoch`): made by the
        #: model from version `_kept_since` on (a weak reference: a swapped model is freed).
        self._kept: dict[int, AnyPrediction] = {}
        self._kept_model: weakref.ref[AnyModel] | None = None
        self._kept_since = -1
        #: Predictions made at the model's current version, for the items sent (`_shown`).
        self._now: dict[int, AnyPrediction] = {}
        self._now_model: weakref.ref[AnyModel] | None = None
        self._now_version = -1
        #: Queued items' data as a batch of rows of numbers reads it (`inputs.numeric_rows`
        #: of each alone; None: not numbers only), the latest used last.
        self._read: OrderedDict[int, NumericRows | None] = OrderedDict()

    @property
    def model(self) -> AnyModel:
        return self._model()

    def sessions_of(self, annotator: str) -> list[AnnotatorSession]:
        """The open sessions of one annotator."""
        return [s for s in self._sessions.values() if s.annotator == annotator]

    def online(self) -> set[str]:
        """The annotators with a session open."""
        return {s.annotator for s in self._sessions.values()}

    def close(self) -> None:
        """End every session and timer (the runtime is closing)."""
        for task in list(self._claims):
            task.cancel()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for session in list(self._sessions.values()):
            self.leave(session)

    def join(self, session: AnnotatorSession) -> None:
        self._sessions[session.holder] = session
        self.fill(session)
        self._changed()

    def leave(self, session: AnnotatorSession) -> None:
        self._sessions.pop(session.holder, None)
        self._waiting.pop(session.holder, None)
        shown = [lease for lease in session.held.values() if lease.delivered]
        self.returning.left(session.annotator, shown, asyncio.get_running_loop().time())
        for item_id, lease in session.held.items():
            self._cancel_timer(item_id)
            if lease.gold is None:
                self.journal.lease_ended(lease.lease_id, "released")
            self._gold_leases.pop(item_id, None)
            if self._overlap_leases.pop(item_id, None) is not None:
                self.overlap.free(item_id)
        returned = self.queue.release_holder(session.holder)
        freed = any(item_id in self.overlap for item_id in session.held)
        session.held.clear()
        if returned or freed:
            self.serve_waiting()
        self._changed()

    def touch(self, session: AnnotatorSession) -> None:
        """The annotator is active again: resume handing out items."""
        if session.stalled:
            session.stalled = False
            self.fill(session)

    def fill(self, session: AnnotatorSession) -> None:
        """Lease items to a session until it holds ``prefetch`` of them, or say it is idle."""
        if session.holder not in self._sessions or session.stalled:
            return
        if session.annotator in self.benched:
            # Quarantined: nothing is offered to them; they are told so once, as idle.
            if not session.held and not session.idle_sent:
                session.idle_sent = True
                session.send(Idle())
            return
        while len(session.held) < session.prefetch:
            lease = (
                self._returned_lease(session)
                or self._overlap_lease(session)
                or self._gold_lease(session)
                or self.queue.lease(
                    holder=session.holder,
                    annotator=session.annotator,
                    now=asyncio.get_running_loop().time(),
                    duration=self.record.lease_seconds,
                    scorer=self._score,
                    candidates=self.settings.rescore_candidates,
                    explore=self._explore(),
                    random_counts=self.policy.random_counts(self.model.version),
                    # Candidates from the whole pool once per epoch (`_epoch`).
                    version=self._epoch(),
                )
            )
            if lease is None:
                break
            session.held[lease.item.item_id] = lease
            if self.policy.diversity > 0.0 and lease.gold is None:
                lease.features = self.model.features(lease.item.data)
            session.idle_sent = False
            self._start_timer(lease)
            deadline = self._deadline(lease)
            if lease.gold is not None:
                self._deliver(session, lease, deadline)  # nothing to claim or journal
            elif self.store.shared and lease.item.item_id not in self._overlap_leases:
                # Other web processes lease from the same store: claim the item there first.
                # (An overlapped item is not claimed: the store refuses a second label by the
                # same annotator, or one beyond those wanted, whichever process took it.)
                self._claiming.add(lease.lease_id)
                task = asyncio.create_task(self._claim(session, lease, self.record.lease_seconds))
                self._claims.add(task)
                task.add_done_callback(self._claims.discard)
            else:
                self.journal.lease_started(
                    lease.lease_id, self.record.id, lease.item.item_id, session.annotator, deadline
                )
                self._deliver(session, lease, deadline)
        if len(session.held) < session.prefetch:
            self._waiting[session.holder] = session
            if not session.held and not session.idle_sent:
                session.idle_sent = True
                session.send(Idle())
        else:
            self._waiting.pop(session.holder, None)
        self._changed()

    def skip(self, session: AnnotatorSession, event_id: str) -> None:
        lease = session.holding(event_id)
        if lease is None:
            raise Conflict(f"item {event_id!r} is not leased to you", code="not_leased")
        item_id = lease.item.item_id
        session.held.pop(item_id, None)
        self._cancel_timer(item_id)
        if lease.gold is not None:
            self._gold_leases.pop(item_id, None)
            self.gold.seen(session.annotator, lease.gold.id)
        elif self._overlap_leases.pop(item_id, None) is not None:
            self.overlap.seen(item_id, session.annotator)
            self.overlap.free(item_id)
            self.journal.lease_ended(lease.lease_id, "skipped")
        else:
            self.queue.release(item_id, skipped_by=session.annotator)
            self.journal.lease_ended(lease.lease_id, "skipped")
        self.fill(session)
        self.serve_waiting()

    async def _claim(self, session: AnnotatorSession, lease: Lease, seconds: float) -> None:
        """Claim a leased item in the shared store for ``seconds`` (the project's lease when
        it was made); send it if claimed, else lease another.

        The lease then runs from the claim, as the store's does: a claim that waited for the
        store's thread (busy writing labels) would otherwise come back with its lease
        mostly spent, or over, and the item would go round again.
        """
        item_id = lease.item.item_id
        loop = asyncio.get_running_loop()
        to_loop_clock = loop.time() - time.monotonic()
        began: list[float] = []

        def claim() -> bool:
            began.append(time.monotonic())  # the store's lease runs from after this
            return self.store.claim_item(
                self.record.id,
                item_id,
                lease.lease_id,
                session.annotator,
                seconds,
                lease.returned,
            )

        try:
            claimed = await self.store.run(claim)
        except Exception as exc:  # the store unavailable, or worse: never keep the lease
            log.warning("project %s: claiming item %d failed: %s", self.record.name, item_id, exc)
            if session.held.get(item_id) is lease:
                session.held.pop(item_id)
                self._cancel_timer(item_id)
                self.queue.release(item_id)  # kept here; tried again at the next resync
                self._waiting[session.holder] = session  # (not at once: the store is down)
            return
        finally:
            self._claiming.discard(lease.lease_id)
        if session.held.get(item_id) is not lease:
            return  # the lease ended meanwhile; its end is journalled after this claim
        if not claimed:
            # Another process holds it, or labelled it: it is that process's to hand out now.
            session.held.pop(item_id)
            self._cancel_timer(item_id)
            self.queue.remove(item_id)
            self.fill(session)
            return
        lease.expires_at = began[0] + to_loop_clock + seconds
        if lease.expires_at <= loop.time():
            self._expire(item_id)  # the claim outlasted a whole lease: over in the store too
            return
        self._start_timer(lease)
        self._deliver(session, lease, self._deadline(lease))

    def _deliver(self, session: AnnotatorSession, lease: Lease, deadline: datetime) -> None:
        lease.delivered = True
        item = lease.item
        waiting = self.overlap.get(item.item_id)
        if waiting is not None and waiting.prediction is not None:
            # The model has learned this item's first label since: the prediction it made
            # before is shown, so the first annotator's answer does not show through.
            prediction = waiting.prediction
        else:
            prediction = self._shown(item)
        lease.prediction = prediction
        session.send(ItemOffered(item.event_id, item.data, prediction, deadline))

    async def load_gold(self) -> None:
        """Take in the stored gold items, and the answers to them and their scores."""
        self.gold.load(
            await self.store.run(self.store.gold_items, self.record.id),
            await self.store.run(self.store.gold_answered, self.record.id),
            await self.store.run(self.store.gold_scores, self.record.id),
        )
        if self.record.task == "spans":
            self.gold.load_span_answers(
                await self.store.run(self.store.gold_answer_labels, self.record.id)
            )

    async def resync(self) -> int:
        """Take in the waiting items of a shared store this process lacks; returns how many.

        An item another process held comes back to the store when that lease ends, not to
        this process's queue, so a process sharing the store looks for such items now and then.
        """
        # Gold items another process stored are offered here too, and answers it took count.
        await self.load_gold()
        known = self.queue.item_ids()
        items = await self.store.run(self.store.unclaimed_items, self.record.id, list(known))
        items = [item for item in items if item.id not in self.queue]
        if items:
            await self.restore(items)
            self._changed()
        # Sessions whose claim the store failed wait for this too, whatever came in.
        self.serve_waiting()
        return len(items)

    async def restore(self, items: Sequence[ItemRecord]) -> None:
        """Put stored waiting items back in the queue, scored with the model now, each with
        the annotators who skipped it (a restart, or items another process let go)."""
        if not items:
            return
        self.requeue(items)
        ids = {item.id for item in items}
        for item_id, annotator in await self.store.run(self.store.skips, self.record.id):
            if item_id in ids:
                self.queue.mark_skipped(item_id, annotator)

    def _explore(self) -> bool:
        return self.policy.explore(self.model.version, self._rng, share=self._exploration())

    def _score(self, items: Sequence[QueuedItem]) -> Ranking:
        held = [lease.features for lease in self.queue.leases() if lease.features is not None]
        rows = [i.data for i in items]
        predictions = self._predictions(items)
        # The latest leases are enough to spread the work; older ones are being labelled.
        return self.policy.score(self.model, rows, held[-_DIVERSITY_HELD:], predictions)

    def _epoch(self) -> int:
        """The model version the kept predictions were made from, the first of them.

        They are dropped once the model has learned, since, a sixteenth as many labels as it
        had then (a label moves a model taught n of them by about 1/n: a young one is
        re-scored at every version), or `Settings.rescore_versions`, whichever is fewer; or
        when it is another model (a rebuild, a promotion; with ``--broker``, each version
        arrives as a model of its own, so a web process there re-scores at every version).
        """
        model = self.model
        since = self._kept_since
        kept_for = min(self.settings.rescore_versions, since // _RESCORE_SHARE)
        if (
            self._kept_model is None
            or self._kept_model() is not model
            or not 0 <= model.version - since < max(1, kept_for)
            or len(self._kept) > _NUMBERS_KEPT  # the version stands still (skips only)
        ):
            self._kept, self._kept_model, self._kept_since = {}, weakref.ref(model), model.version
        return self._kept_since

    def _predictions(self, items: Sequence[QueuedItem]) -> list[AnyPrediction]:
        """The model's predictions for queued items, each made once per re-scoring (`_epoch`).

        Leases between two re-scorings (a group commit acks many labels at once, and each ack
        leases the next item) re-score mostly the same top candidates, so their predictions
        are kept for `Settings.rescore_versions` labels learned: a label moves a model's
        scores a little, and with many annotators the item chosen now is labelled after
        theirs anyway (BENCHMARKS.md, issue 22 round 9). A model that scores a batch as one
        also predicts, when items are asked a second time in an epoch, the top of the
        ranking the next leases will walk (`_AHEAD` times the candidates re-scored).
        """
        model = self.model
        self._epoch()
        cache = self._kept
        missing = [item for item in items if item.item_id not in cache]
        if missing:
            batch: int | None = getattr(model, "batch_rows", None)
            if batch is not None and cache:
                # A model that scores rows as one batch pays mostly per call: from the second
                # call in an epoch (one lease an epoch, as a lone annotator's, makes none),
                # the items the next leases will walk come along now.
                asked = {item.item_id for item in missing}
                ahead = [
                    item
                    for item in self.queue.top(_AHEAD * self.settings.rescore_candidates)
                    if item.item_id not in cache and item.item_id not in asked
                ]
                if len(missing) + len(ahead) >= batch:
                    missing += ahead
            cache.update(
                zip((item.item_id for item in missing), self._predict(missing), strict=True)
            )
        return [cache[item.item_id] for item in items]

    def _shown(self, item: QueuedItem) -> AnyPrediction:
        """The model's prediction of an item being sent, made at its version now, however old
        the prediction that chose it (PROTOCOL: from the model at the moment it is sent)."""
        model = self.model
        if self._kept_model and self._kept_model() is model:
            kept = self._kept.get(item.item_id)
            if kept is not None and kept.model_version == model.version:
                return kept  # re-scored at this very version: by the lease that chose it
        if (
            self._now_model is None
            or self._now_model() is not model
            or model.version != self._now_version
            or len(self._now) > _NUMBERS_KEPT  # the version stands still (skips only)
        ):
            self._now, self._now_model, self._now_version = {}, weakref.ref(model), model.version
        now = self._now
        if item.item_id not in now:
            wanted = [item]
            if now and getattr(model, "batch_rows", None) is not None:
                # The second item sent at this version (a group commit's acks each lease
                # one): a model that scores a batch pays mostly per call, so the items the
                # next leases will likely send come along now.
                wanted += [
                    waiting
                    for waiting in self.queue.top(_AHEAD * self.settings.rescore_candidates)
                    if waiting.item_id not in now and waiting.item_id != item.item_id
                ]
            now.update(zip((i.item_id for i in wanted), self._predict(wanted), strict=True))
        return now[item.item_id]

    def _predict(self, items: Sequence[QueuedItem]) -> Sequence[AnyPrediction]:
        model = self.model
        data = [item.data for item in items]
        # Queued items are scored again and again: their texts' terms are found once.
        with keeping_terms():
            if getattr(model, "batch_rows", None) is not None:
                # A model that scores batches (an `OnlineModel` or a `MultiLabelModel` with
                # `batch_rows`): each item's numbers are read once too, when first asked.
                return cast("OnlineModel | MultiLabelModel", model).predict_many(
                    data, numbers=lambda: stacked(self._numbers(items))
                )
            return model.predict_many(data)

    def _numbers(self, items: Sequence[QueuedItem]) -> list[NumericRows | None]:
        """Each item's data as a batch of rows of numbers reads it, read now if it was not
        read before (or no longer kept)."""
        read = self._read
        unread: list[QueuedItem] = []
        for item in items:
            if item.item_id in read:
                read.move_to_end(item.item_id)
            else:
                unread.append(item)
        if unread:
            # Read together (numpy's fixed cost once, not per item), kept one by one.
            together = numeric_rows([item.data for item in unread]) if len(unread) > 1 else None
            for row, item in enumerate(unread):
                if together is None:
                    read[item.item_id] = numeric_rows([item.data])
                else:  # a copy: a view would keep the whole batch's matrix alive
                    read[item.item_id] = (together[0], together[1][row : row + 1].copy())
        out = [read[item.item_id] for item in items]
        while len(read) > _NUMBERS_KEPT:
            read.popitem(last=False)  # the least recently asked
        return out

    @staticmethod
    def _deadline(lease: Lease) -> datetime:
        """The lease's end on the wall clock (leases run on the event loop's clock)."""
        remaining = lease.expires_at - asyncio.get_running_loop().time()
        return datetime.now(UTC) + timedelta(seconds=remaining)

    def _start_timer(self, lease: Lease) -> None:
        loop = asyncio.get_running_loop()
        item_id = lease.item.item_id
        self._cancel_timer(item_id)
        self._timers[item_id] = loop.call_at(lease.expires_at, self._expire, item_id)

    def _cancel_timer(self, item_id: int) -> None:
        timer = self._timers.pop(item_id, None)
        if timer is not None:
            timer.cancel()

    def _expire(self, item_id: int) -> None:
        self._timers.pop(item_id, None)
        if item_id in self._gold_leases:
            lease: Lease | None = self._gold_leases.pop(item_id)
        elif item_id in self._overlap_leases:
            lease = self._overlap_leases.pop(item_id)
            self.overlap.free(item_id)
            self.journal.lease_ended(lease.lease_id, "expired")
        else:
            held = self.queue.holder_of(item_id)
            if held is not None and held.lease_id in self._claiming:
                return  # `_claim` times it from its answer
            lease = self.queue.expire(item_id, asyncio.get_running_loop().time())
            if lease is not None:
                self.journal.lease_ended(lease.lease_id, "expired")
        if lease is None:
            return
        session = self._sessions.get(lease.holder)
        if session is not None:
            session.held.pop(item_id, None)
            if lease.delivered:
                session.stalled = True
                session.send(LeaseExpired(lease.item.event_id))
            else:
                # Never sent (its claim in the shared store outlasted a whole lease): the
                # annotator did nothing wrong, and has room again; left out of the waiting,
                # they would wait for an item for ever.
                self._waiting[session.holder] = session
        self.serve_waiting()
        self._changed()

    def _returned_lease(self, session: AnnotatorSession) -> Lease | None:
        """An item this annotator held when a connection of theirs closed, again, if its lease
        would not have ended yet and it still waits for them (`Returning`)."""
        now = asyncio.get_running_loop().time()
        while (old := self.returning.next(session.annotator, now)) is not None:
            item_id, duration = old.item.item_id, self.record.lease_seconds
            lease: Lease | None = None
            if old.gold is not None:
                if old.gold.id in self.gold.items:
                    lease = Lease(
                        QueuedItem(-next(self._gold_ids), old.gold.gold_id, old.gold.data, 0.0),
                        holder=session.holder,
                        annotator=session.annotator,
                        expires_at=now + duration,
                        gold=old.gold,
                    )
                    self._gold_leases[lease.item.item_id] = lease
            elif (waiting := self.overlap.get(item_id)) is not None:
                if waiting.holder is None and session.annotator not in waiting.seen_by:
                    waiting.holder = session.holder
                    lease = Lease(waiting.item, session.holder, session.annotator, now + duration)
                    self._overlap_leases[item_id] = lease
            else:
                lease = self.queue.lease_item(
                    item_id,
                    holder=session.holder,
                    annotator=session.annotator,
                    now=now,
                    duration=duration,
                    drawn_at_random=old.drawn_at_random,
                )
                if lease is not None:
                    lease.returned = old.lease_id
            if lease is not None:
                return lease
        return None

    def _overlap_lease(self, session: AnnotatorSession) -> Lease | None:
        """An overlapped item this annotator has not labelled or skipped, if one waits."""
        waiting = self.overlap.pick(session.annotator)
        if waiting is None:
            return None
        waiting.holder = session.holder
        lease = Lease(
            waiting.item,
            holder=session.holder,
            annotator=session.annotator,
            expires_at=asyncio.get_running_loop().time() + self.record.lease_seconds,
        )
        self._overlap_leases[waiting.item.item_id] = lease
        return lease

    def overlap_resync(
        self, stored: Sequence[tuple[ItemRecord, list[str]]], known: set[int], mark: int
    ) -> None:
        """The overlapped items the shared store says wait, with who labelled them: new ones
        are taken in; those of ``known`` (here before the store was read) that are done
        elsewhere, and held by nobody here, leave."""
        waiting = {item.id for item, _annotators in stored}
        for item_id in known - waiting:
            if item_id not in self._overlap_leases:
                self.overlap.remove(item_id)
        done = self.overlap.done_since(mark)
        for item, annotators in stored:
            if item.id in done:
                continue  # labelled here since the store was read
            here = self.overlap.get(item.id)
            if here is not None:
                here.seen_by.update(annotators)
            else:
                queued = QueuedItem(item.id, item.event_id, item.data, item.uncertainty)
                self.overlap.add(queued, item.wanted, annotators)
        self.serve_waiting()

    def overlap_holder(self, item_id: int) -> Lease | None:
        return self._overlap_leases.get(item_id)

    def overlapped(
        self, item: QueuedItem, wanted: int, by: str, prediction: AnyPrediction | None = None
    ) -> None:
        """An item's first label was learned and more annotators are to label it; they are
        shown ``prediction``, the one made before that label (if known)."""
        self.overlap.add(item, wanted, [by], prediction)
        self.serve_waiting()

    def overlap_labelled(self, item_id: int, *, by: str, done: bool) -> Waiting | None:
        """``by`` labelled an overlapped item (recorded, not learned); ``done``: it has every
        label it wanted, and leaves the pool (returned). The lease it was held under ends."""
        lease = self._overlap_leases.get(item_id)
        if lease is not None and (lease.annotator == by or done):
            del self._overlap_leases[item_id]
            self.overlap.free(item_id)
            self._cancel_timer(item_id)
            self.journal.lease_ended(
                lease.lease_id, "labelled" if lease.annotator == by else "revoked"
            )
            session = self._sessions.get(lease.holder)
            if session is not None:
                session.held.pop(item_id, None)
                # Its holder's next item follows the ack (the socket fills it after replying).
                if lease.annotator != by:
                    session.send(LeaseRevoked(lease.item.event_id, "labelled"))
                    self.fill(session)
        self.overlap.seen(item_id, by)
        waiting = self.overlap.remove(item_id) if done else None
        self.serve_waiting()
        return waiting

    def _gold_lease(self, session: AnnotatorSession) -> Lease | None:
        """A gold item for this session, now and then (`GoldPool.pick`), while real items wait
        too: gold never fills an empty queue. Offered once per annotator, over all sessions."""
        if not len(self.queue):
            return None
        gold = self.gold.pick(session.annotator, self._gold_rng)
        if gold is None:
            return None
        self.gold.seen(session.annotator, gold.id)
        lease = Lease(
            QueuedItem(-next(self._gold_ids), gold.gold_id, gold.data, 0.0),
            holder=session.holder,
            annotator=session.annotator,
            expires_at=asyncio.get_running_loop().time() + self.record.lease_seconds,
            gold=gold,
        )
        self._gold_leases[lease.item.item_id] = lease
        return lease

    def gold_answered(
        self,
        session: AnnotatorSession,
        gold: GoldRecord,
        lease: Lease | None,
        *,
        new: bool,
        correct: bool,
    ) -> None:
        """``session`` answered ``gold`` (``new``: not a retry): the lease it held it under
        ends, the answer scores the annotator, and the item is not offered to them again."""
        if lease is not None:
            item_id = lease.item.item_id
            session.held.pop(item_id, None)
            self._cancel_timer(item_id)
            self._gold_leases.pop(item_id, None)
        self.returning.forget_gold(session.annotator, gold.id)
        self.gold.seen(session.annotator, gold.id)
        if new:
            self.gold.scored(session.annotator, correct)
        self._changed()

    def settle(
        self, item_id: int, *, by: str | None
    ) -> tuple[QueuedItem | None, AnyPrediction | None]:
        """An item was labelled and learned (``by``: the annotator, or None from production):
        it leaves the queue (returned, if it was there, with the prediction its holder was
        shown), and its lease, if any, ends; a holder who did not label it is told, and gets
        another item."""
        lease = self.queue.holder_of(item_id)
        removed = self.queue.remove(item_id)
        if lease is None:
            return removed, None
        shown = lease.prediction
        self._cancel_timer(item_id)
        by_holder = by is not None and by == lease.annotator
        self.journal.lease_ended(lease.lease_id, "labelled" if by_holder else "revoked")
        session = self._sessions.get(lease.holder)
        if session is None:
            return removed, shown
        session.held.pop(item_id, None)
        if not lease.delivered:  # still being claimed: the annotator never saw it
            self.fill(session)
        elif not by_holder:
            # Someone else labelled it (production ground truth): take it back.
            session.send(LeaseRevoked(lease.item.event_id, "labelled"))
            self.fill(session)
        return removed, shown

    def serve_waiting(self) -> None:
        for session in list(self._waiting.values()):
            if not len(self.queue) and not len(self.overlap):
                break
            self.fill(session)

    def requeue(self, items: Sequence[ItemRecord]) -> None:
        if items:
            predictions = self.model.predict_many([item.data for item in items])
            self.enqueue(list(zip(items, predictions, strict=True)))

    def enqueue(self, scored: Sequence[tuple[ItemRecord, AnyPrediction]]) -> None:
        """Put stored items, as scored, in the routing queue."""
        self.push(
            [
                QueuedItem(
                    item.id,
                    item.event_id,
                    item.data,
                    prediction.uncertainty,
                    drawn_at_random=item.drawn_at_random,
                )
                for item, prediction in scored
            ]
        )

    def age_out(self, before: int) -> list[int]:
        """Set aside the waiting items that arrived before the ``before``-th arrival (a drift
        made them stale); journalled as shed. Their ids."""
        aged = self.queue.age_out(before=before)
        if aged:
            self.journal.items_shed(aged)
        return aged

    def push(self, items: Sequence[QueuedItem]) -> None:
        """Put items in the routing queue; what a full queue sheds is journalled."""
        shed = [item_id for item in items for item_id in self.queue.push(item)]
        if shed:
            self.journal.items_shed(shed)
