"""One project's loop in this process: its model, routing queue, learner and annotators."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from streamloop.config import Settings
from streamloop.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from streamloop.online import AnyModel, AnyPrediction
from streamloop.online.agreement import Agreement, MultiLabelAgreement
from streamloop.online.history import Curve
from streamloop.online.inputs import model_input
from streamloop.online.routing import RoutingPolicy, StreamGate
from streamloop.online.span_agreement import SpanAgreement
from streamloop.online.span_metrics import SPAN_FIGURES
from streamloop.online.suggestion import chance, track_record
from streamloop.online.tasks import AnswerError, label_set, span_set, task_of
from streamloop.store import (
    GoldRecord,
    ItemRecord,
    LabelOutcome,
    NewEvent,
    NewGold,
    NewLabel,
    ProjectRecord,
    ReviewRecord,
    Store,
)
from streamloop.store.journal import Journal
from streamloop.streams import arrivals
from streamloop.streams.annotators import AnnotatorSession
from streamloop.streams.leasing import Leasing
from streamloop.streams.notices import Scored, ScoredItem
from streamloop.streams.overlap import wanted
from streamloop.streams.progress import Progress
from streamloop.streams.queue import Lease, QueuedItem, RoutingQueue
from streamloop.streams.review import ReviewDesk, ReviewSession

if TYPE_CHECKING:
    from streamloop.streams.learner import LearnerFactory, Rebuilt

__all__ = ["ProjectRuntime"]

log = logging.getLogger(__name__)

#: Labels per minute are counted over this many seconds.
_RATE_WINDOW = 60.0
#: Recent production events whose confidence, under the current model, the accuracy estimate
#: averages (BENCHMARKS.md: 500 makes that term's error about 0.01).
_TRAFFIC_WINDOW = 500
#: The estimate is computed again once the model has learned this share more labels (at least
#: one), or after this many new events: computing it scores some 900 items (30-150 ms by preset).
_ESTIMATE_EVERY_LABELS = 0.05
_ESTIMATE_EVERY_EVENTS = _TRAFFIC_WINDOW // 2


class ProjectRuntime:
    """Scores events, routes uncertain items, leases them to annotators and learns labels."""

    def __init__(
        self,
        record: ProjectRecord,
        store: Store,
        settings: Settings,
        journal: Journal,
        rebuilt: Rebuilt,
        learners: LearnerFactory,
        *,
        events_total: int = 0,
    ) -> None:
        self.record = record
        #: The project's labels as a set: every answer's labels are looked up in it.
        self._known_labels = frozenset(record.labels)
        #: What the project's answers are (`streamloop.online.tasks.Task`).
        self.task = task_of(record.task)
        self.model = rebuilt.model
        #: `track_record` for a model at a version: (model, version, record).
        self._track_record: tuple[AnyModel, int, dict[str, Any]] | None = None
        self.store = store
        self.settings = settings
        self.journal = journal
        self.gate: StreamGate | None = None
        if record.routing == "stream":
            # The gate chooses (and draws the random share) at arrival; leases then simply
            # take the most uncertain admitted item.
            self.gate = StreamGate(record.labels_per_annotator_hour, record.exploration)
            policy = RoutingPolicy(record.strategy, diversity=record.diversity)
        else:
            policy = RoutingPolicy(
                record.strategy,
                exploration=record.exploration,
                warmup=record.warmup,
                diversity=record.diversity,
            )
        self.leasing = Leasing(
            record,
            store,
            settings,
            journal,
            policy,
            model=lambda: self.model,
            exploration=self.exploration,
            changed=self._changed,
        )
        #: Items whose annotators disagreed, or a supervisor flagged, waiting for a reviewer.
        self.review = ReviewDesk(record.lease_seconds, changed=self._changed)
        #: Agreement between annotators on the items several of them labelled.
        self.agreement = self._new_agreement()
        # Per annotator, since this process started: seconds from an item's offer to its
        # label (total, count), and items skipped.
        self._pace: dict[str, list[float]] = {}
        self._skips: Counter[str] = Counter()
        #: Per annotator: labels recorded and not learned (an overlapped item's later ones).
        self._recorded: Counter[str] = Counter()
        self._arrivals_rng = arrivals.project_rng(
            record, "gate" if self.gate is not None else "sampling"
        )
        # Where labels are stored and learned: here, or (with --broker) in the worker that
        # holds the project's labels partition; either way outcomes come to `on_learned`.
        self.learner = learners(record, rebuilt, self.on_learned)
        # The learner and the quarantine's rebuilds import the models, and they River (about a
        # second): imported once a project opens, so that a service without one starts sooner.
        from streamloop.streams.quarantine import Quarantine

        #: Annotators whose labels do not count (`streamloop.streams.quarantine`).
        self.quarantine = Quarantine(self)
        self.leasing.gold.listeners.append(self.quarantine.gold_scored)
        self.events_total = events_total
        self._label_times: deque[float] = deque(maxlen=100_000)
        # Recent production events, which the accuracy estimate is about, and its last figures.
        self._traffic: deque[Mapping[str, Any]] = deque(maxlen=_TRAFFIC_WINDOW)
        self._estimate: dict[str, Any] = {}
        self._estimate_key = (-1, 0)
        # Each challenger's estimate, by name: (its version, events then, the estimate).
        self._challenger_estimates: dict[str, tuple[int, int, dict[str, Any]]] = {}
        self._estimate_curve = Curve()
        self._drifts_answered = self.model.drift["drifts_total"]
        # How many items the queue had taken in when the latest warning began: a confirmed
        # drift ages out only those, not the fresh ones sampled to confirm it.
        self._warning_mark: int | None = None
        self._listeners: set[Callable[[], None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        #: Called after each batch of labels changed the model.
        self.model_listeners: list[Callable[[], None]] = []
        #: Called with the scored items of each batch of events ingested here.
        self.ingest_listeners: list[Callable[[list[ScoredItem]], None]] = []
        #: Items labelled (against the target) and why items were skipped.
        self.progress = Progress(store, record.id, changed=self._changed)
        #: Called with the project's record when what annotators are shown changed (`adopt`).
        self.record_listeners: set[Callable[[ProjectRecord], None]] = set()

    @classmethod
    async def open(
        cls,
        record: ProjectRecord,
        store: Store,
        settings: Settings,
        journal: Journal,
        learners: LearnerFactory,
    ) -> ProjectRuntime:
        """Rebuild a project: its latest snapshot, the labels after it, its waiting items."""
        from streamloop.streams.learner import rebuild_model

        rebuilt = await rebuild_model(store, record)
        events_total = await store.run(store.count_events, record.id)
        runtime = cls(
            record, store, settings, journal, rebuilt, learners, events_total=events_total
        )
        # The estimate's traffic: the latest events, as they were before the restart.
        runtime._traffic.extend(await store.run(store.recent_events, record.id, _TRAFFIC_WINDOW))
        await runtime.leasing.restore(await store.run(store.queued_items, record.id))
        await runtime.leasing.load_gold()
        await runtime._restore_quality()
        runtime.quarantine.load(await store.run(store.quarantined, record.id))
        await runtime.progress.load()
        log.info(
            "project %s: model version %d, %d items waiting",
            record.name,
            runtime.model.version,
            len(runtime.queue),
        )
        return runtime

    async def _restore_quality(self) -> None:
        """Overlapped items waiting for labels, items in review, and the agreement so far."""
        store, project_id = self.store, self.record.id
        overlapping = await store.run(store.overlapping, project_id)
        skips = await store.run(store.skips, project_id)
        for item, annotators in overlapping:
            queued = QueuedItem(item.id, item.event_id, item.data, item.uncertainty)
            self.leasing.overlap.add(queued, item.wanted, annotators)
        for item_id, annotator in skips:
            if item_id in self.leasing.overlap:
                self.leasing.overlap.seen(item_id, annotator)
        self.review.add(await store.run(store.review_items, project_id))
        await self.refresh_agreement()
        self._recorded.update(await store.run(store.recorded_labels, project_id))
        # Skips are stored (the skips table): counted from there, not from this process's start.
        self._skips.update(await store.run(store.skips_by_annotator, project_id))

    def later(self, work: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``work`` in the background (stopped with the project); a failure is logged as
        ``what`` failing, and the next change or restart sets it right."""

        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("project %s: %s failed", self.record.name, what)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _new_agreement(self) -> Agreement | MultiLabelAgreement | SpanAgreement:
        if self.record.task == "multilabel":
            return MultiLabelAgreement(self.record.labels)
        if self.record.task == "spans":
            return SpanAgreement(self.record.labels)
        return Agreement()

    async def refresh_agreement(self) -> None:
        """The agreement over the overlapped items' answers that count, as the store has them:
        a quarantined annotator's answers are left out (and come back on release)."""
        store, project_id = self.store, self.record.id
        excluded = await store.run(store.quarantined, project_id)
        labels = await store.run(store.overlapped_labels, project_id)
        self.agreement = self._new_agreement()
        for item_id, annotator, label in labels:
            if annotator not in excluded:
                self._agreed(item_id, annotator, label)
        self._changed()

    async def resync(self) -> None:
        """With a shared store: take in what other processes changed (the project's record,
        waiting items, gold, overlapped items and their labellers, items in review)."""
        self.adopt(await self.store.run(self.store.project, self.record.name))
        await self.progress.load()
        await self.leasing.resync()
        await self.refresh_quality()

    def adopt(self, record: ProjectRecord) -> None:
        """The project as stored now: only what annotators are shown can have changed
        (guidelines, label descriptions, target, ...: ``PATCH``); whoever listens is told:
        annotators the record, dashboards that the metrics (such as the target) changed."""
        if record == self.record:
            return
        self.record = self.leasing.record = self.leasing.gold.record = record
        for listener in list(self.record_listeners):
            listener(record)
        self._changed()

    async def refresh_quality(self) -> None:
        """The overlapped items and the items in review as the store has them now (another
        process, or a quarantine, moved some)."""
        # Only what was here before a read may leave for not being in it: what came in while
        # the store was read is newer than the read.
        # Nor may what left it while the store was read come back from that read.
        known = set(self.leasing.overlap.event_ids().values())
        mark = self.leasing.overlap.done_total
        overlapping = await self.store.run(self.store.overlapping, self.record.id)
        self.leasing.overlap_resync(overlapping, known, mark)
        known, mark = self.review.item_ids(), self.review.mark()
        in_review = await self.store.run(self.store.review_items, self.record.id)
        self.review.resync(in_review, known, mark)

    @property
    def queue(self) -> RoutingQueue:
        return self.leasing.queue

    def start(self) -> None:
        self.learner.start()

    async def close(self) -> None:
        """Finish the labels already submitted and stop the timers."""
        await self.quarantine.close()
        await self.learner.close()
        self.leasing.close()
        self.review.close()

    def exploration(self) -> float:
        """The exploration share now: the project's, raised while drift is suspected or shown."""
        return arrivals.exploration(self.record, self.model)

    # -- production traffic -----------------------------------------------------------------

    async def predict(self, data: Mapping[str, Any]) -> AnyPrediction:
        await arrivals.prepare(self.model, [data])
        return self.model.predict(data)

    def track_record(self) -> dict[str, Any]:
        """The model's record on the latest items annotators answered, and whether its
        suggestion means something yet (`streamloop.online.suggestion`). The model must beat
        guessing and always giving the commonest answer: a single label's, or the commonest
        exact set of labels or spans (none included) among the latest answers."""
        # Sent with every item offered: worked out once per model version (only learning
        # moves the figures, and it moves the version too).
        model, memo = self.model, self._track_record
        if memo is not None and memo[0] is model and memo[1] == model.version:
            return memo[2]
        metrics = model.metrics
        record = track_record(metrics, chance(metrics))
        self._track_record = (model, model.version, record)
        return record

    @contextlib.contextmanager
    def admitting_events(self) -> Iterator[None]:
        """Hold a place for one events request, from before its body is read until it is
        answered, or refuse it now: 429, retry shortly.

        Requests admitted share the store's cap (``store_backlog_max``), so that however many
        clients post at once, at most that many bodies are in memory while the database or
        the learner is behind.
        """
        if self.store.in_flight >= self.settings.store_backlog_max:
            raise TooManyRequests(
                "too many requests are being stored or read at once; retry shortly",
                code="store_busy",
            )
        if self.learner.backlog >= self.settings.pending_labels_max:
            raise TooManyRequests("the learner is behind; retry shortly", code="learner_busy")
        with self.store.admitting():
            yield

    async def ingest(self, events: Sequence[tuple[str, dict[str, Any]]]) -> list[Scored]:
        """Score a batch, store it, and route the new items into the queue. An event the model
        cannot score refuses the batch (422 naming it) before anything is stored.

        Scoring reads each event's data as the project's input kind (`model_input`), so the
        caller need not check that part first: data that does not fit it is refused as
        `streamloop.ws.payloads.check_data` refuses it (``invalid_data``).
        """
        rows = [data for _, data in events]
        await arrivals.prepare(self.model, rows)
        try:
            predictions: list[AnyPrediction] = list(self.model.predict_many(rows))
        except ValueError:
            raise self._unscorable(rows) from None
        known: set[str] = set()
        if self.gate is not None:
            # Retried events must not count towards the gate's arrival rate a second time.
            ids = [event_id for event_id, _data in events]
            missing = await self.store.run(self.store.missing_events, self.record.id, ids)
            known = set(ids) - set(missing)
        annotators = len(self.leasing.online())
        routes = (
            arrivals.routes(self.record, self.model, len(events), self._arrivals_rng)
            if self.gate is None
            else [
                arrivals.Route("queued", False)
                if event_id in known
                else arrivals.route(
                    self.record,
                    self.model,
                    p,
                    self._arrivals_rng,
                    gate=self.gate,
                    annotators=annotators,
                )
                for (event_id, _data), p in zip(events, predictions, strict=True)
            ]
        )
        # An event a full queue would shed on arrival is stored as shed at once, not stored
        # as queued and then marked shed: under a steady stream most events are, and each
        # was a second write of its row's page (BENCHMARKS.md, issue 22 round 14). The floor
        # is read before the insert's await; `_readmit` gives these events a slot freed
        # meanwhile.
        floor = self.queue.admission_floor()
        records = await self.store.run(
            self.store.insert_events,
            self.record.id,
            [
                NewEvent(
                    event_id,
                    data,
                    "shed"
                    if floor is not None
                    and r.status == "queued"
                    and not r.drawn_at_random
                    and p.uncertainty < floor
                    else r.status,
                    p.uncertainty,
                    drawn_at_random=r.drawn_at_random,
                )
                for (event_id, data), p, r in zip(events, predictions, routes, strict=True)
            ],
        )
        fresh = [(r, p) for r, p in zip(records, predictions, strict=True) if not r.duplicate]
        if floor is not None:
            fresh = await self._readmit(fresh)
            self.queue.turn_away(sum(r.status == "shed" for r, _p in fresh))
        self._took_in([r.data for r, _p in fresh])
        self.leasing.enqueue([(r, p) for r, p in fresh if r.status == "queued"])
        if fresh and self.ingest_listeners:
            scored = [ScoredItem(r, p) for r, p in fresh]
            for listener in self.ingest_listeners:
                listener(scored)
        results = [
            Scored(record.event_id, prediction, record.id in self.queue, record.duplicate)
            for record, prediction in zip(records, predictions, strict=True)
        ]
        self.leasing.serve_waiting()
        self._changed()
        return results

    async def _readmit(
        self, fresh: list[tuple[ItemRecord, AnyPrediction]]
    ) -> list[tuple[ItemRecord, AnyPrediction]]:
        """``fresh`` with the events `ingest` stored as shed that the queue could now keep
        (a lease, a label or an age-out after a drift freed a slot during the insert) stored
        as queued again and given back as such, for `ingest` to push like the others. One
        labelled meanwhile stays as it is; if the store fails, they all stay shed, as stored
        (the batch itself is stored: its other events must still reach the queue)."""
        turned = [n for n, (r, _p) in enumerate(fresh) if r.status == "shed"]
        if not turned:
            return fresh
        back = [
            turned[i] for i in self.queue.readmissible([fresh[n][1].uncertainty for n in turned])
        ]
        if not back:
            return fresh
        try:
            stored = await self.store.run(self.store.readmit, [fresh[n][0].id for n in back])
        except Exception:
            log.exception("project %s: readmitting shed events failed", self.record.name)
            return fresh
        readmitted = list(fresh)
        for n in back:
            record, prediction = fresh[n]
            if record.id in stored:
                readmitted[n] = (replace(record, status="queued"), prediction)
        return readmitted

    def _unscorable(self, rows: Sequence[dict[str, Any]]) -> InvalidInput:
        """Why a batch could not be scored: the first event whose data does not fit the input
        kind, found without scoring anything (a bad batch costs no more than a good one);
        else the first the model refuses, one at a time."""
        for index, data in enumerate(rows):
            try:
                model_input(self.record.input, data)
            except ValueError as unfit:
                return InvalidInput(f"events.{index}.data: {unfit}", code="invalid_data")
        for index, scored in enumerate(arrivals.score(self.model, rows)):
            if isinstance(scored, ValueError):
                return InvalidInput(f"events.{index}.data: {scored}")
        return InvalidInput("events: the model could not score this batch")

    async def label_events(
        self, labels: Sequence[tuple[str, str, str | None, str | None]]
    ) -> list[LabelOutcome]:
        """Learn ground truth from production: (event id, label, optional label id, optional
        comment) each."""
        for _event_id, label, _label_id, _comment in labels:
            self._check_answer(label)
        missing = await self.store.run(
            self.store.missing_events, self.record.id, [event_id for event_id, *_ in labels]
        )
        if missing:
            shown = ", ".join(repr(event_id) for event_id in missing[:5])
            raise NotFound(
                f"no event {shown} in this project; nothing was learned", code="unknown_event"
            )
        return await self.learner.submit(
            [
                NewLabel(
                    label_id or f"event:{event_id}",
                    label,
                    "production",
                    event_id=event_id,
                    comment=comment,
                )
                for event_id, label, label_id, comment in labels
            ]
        )

    # -- annotators -------------------------------------------------------------------------

    async def label(
        self,
        session: AnnotatorSession,
        event_id: str,
        label: str,
        label_id: str,
        comment: str | None = None,
    ) -> LabelOutcome:
        """Store and learn an annotator's label (with their ``comment``); its outcome, once it
        is learned. An answer to a gold item is stored and scores the annotator, and is never
        learned."""
        self._check_answer(label)
        lease = session.holding(event_id)
        if lease is not None and lease.gold is not None:
            return await self._answer_gold(session, lease, label, label_id, comment=comment)
        gold = self._gold_offered(session, event_id) if lease is None else None
        if gold is not None:  # a retry, or an answer after its lease ended
            return await self._answer_gold(session, None, label, label_id, gold, comment)
        item_id = lease.item.item_id if lease is not None else None
        if lease is None:
            item_id = self.queue.find(event_id)
            other = self.queue.holder_of(item_id) if item_id is not None else None
            if item_id is None:
                item_id = self.leasing.overlap.event_ids().get(event_id)
                other = self.leasing.overlap_holder(item_id) if item_id is not None else None
            if other is not None:
                raise Conflict(
                    f"item {event_id!r} is leased to another annotator", code="lease_lost"
                )
        else:
            self._paced(session.annotator, lease)
        new = NewLabel(
            label_id,
            label,
            "annotator",
            item_id=item_id,
            event_id=event_id,
            annotator=session.annotator,
            drawn_at_random=lease.drawn_at_random if lease else False,
            overlap=wanted(self.record, item_id) if item_id is not None else 1,
            comment=comment,
        )
        [outcome] = await self.learner.submit([new])
        if outcome.error is not None:
            raise outcome.error
        return outcome

    async def _answer_gold(
        self,
        session: AnnotatorSession,
        lease: Lease | None,
        label: str,
        label_id: str,
        gold: GoldRecord | None = None,
        comment: str | None = None,
    ) -> LabelOutcome:
        """Store an answer to a gold item (held under ``lease``, or ``gold`` offered before):
        it scores the annotator, once; a retry of its ``label_id`` is acked as a duplicate."""
        gold = lease.gold if lease is not None else gold
        assert gold is not None
        label = self._fitted(label, gold.data)
        answer = await self.store.run(
            self.store.answer_gold,
            self.record.id,
            gold.id,
            session.annotator,
            label,
            label_id,
            comment,
        )
        if not answer.duplicate and self.record.task == "spans":
            self.leasing.gold.span_answer(session.annotator, gold.id, label)
        self.leasing.gold_answered(
            session, gold, lease, new=not answer.duplicate, correct=answer.correct
        )
        new = NewLabel(
            label_id,
            label,
            "annotator",
            event_id=gold.gold_id,
            annotator=session.annotator,
            comment=comment,
        )
        # Acked as any label; the model is as it was.
        return LabelOutcome(label=new, model_version=self.model.version, duplicate=answer.duplicate)

    async def _correct_gold(
        self,
        session: AnnotatorSession,
        corrects: str,
        label: str,
        label_id: str,
        comment: str | None = None,
    ) -> LabelOutcome:
        """A correction of an answer to a gold item: it is re-scored, never learned."""
        changed = await self.store.run(
            self.store.correct_gold,
            self.record.id,
            corrects,
            session.annotator,
            label,
            self._fit,
            comment,
            label_id,
        )
        if changed is None:
            raise NotFound(f"no label {corrects!r} in this project", code="unknown_label_id")
        gold_item_id, was, now = changed
        if self.record.task == "spans":
            self.leasing.gold.span_answer(session.annotator, gold_item_id, label)
        self.leasing.gold.rescored(session.annotator, was=was, now=now)
        gold = self.leasing.gold.items.get(gold_item_id)
        new = NewLabel(
            label_id,
            label,
            "annotator",
            event_id=gold.gold_id if gold else None,
            annotator=session.annotator,
            corrects=corrects,
            comment=comment,
        )
        self._changed()
        return LabelOutcome(label=new, model_version=self.model.version)

    def _gold_offered(self, session: AnnotatorSession, event_id: str) -> GoldRecord | None:
        """The gold item ``event_id`` if this annotator was offered it and no waiting item
        has that id."""
        gold = self.leasing.gold.by_id(event_id)
        if gold is None or self.queue.find(event_id) is not None:
            return None
        return gold if self.leasing.gold.offered(session.annotator, gold.id) else None

    async def add_gold(self, items: Sequence[tuple[str, dict[str, Any], str]]) -> tuple[int, int]:
        """Store gold items (id, data, the right label); (stored, duplicates). They are offered
        to annotators from now on. A gold item's spans are stored grown to whole words, as
        every answer's are (`Task.fit`)."""
        for _gold_id, _data, label in items:
            self._check_answer(label)
        items = [
            (gold_id, data, self._fitted(label, data, f"items.{n}."))
            for n, (gold_id, data, label) in enumerate(items)
        ]
        ids = [gold_id for gold_id, _data, _label in items]
        missing = set(await self.store.run(self.store.missing_events, self.record.id, ids))
        taken = [gold_id for gold_id in ids if gold_id not in missing]
        if taken:
            shown = ", ".join(repr(gold_id) for gold_id in taken[:5])
            raise Conflict(
                f"{shown}: already an event's id in this project; nothing was stored",
                code="id_taken",
            )
        stored, duplicates = await self.store.run(
            self.store.add_gold,
            self.record.id,
            [NewGold(gold_id, data, label) for gold_id, data, label in items],
        )
        self.leasing.gold.load(await self.store.run(self.store.gold_items, self.record.id))
        self.leasing.serve_waiting()
        self._changed()
        return stored, duplicates

    async def correct(
        self,
        session: AnnotatorSession,
        corrects: str,
        label: str,
        label_id: str,
        comment: str | None = None,
    ) -> LabelOutcome:
        """Relabel an item this annotator labelled (``corrects``: that label's ``label_id``).

        The model learns the new label (not tested on it: it has seen the item); the first
        label stays in the history. Returns its outcome, once it is learned.
        """
        self._check_answer(label)
        original = await self.store.run(self.store.label_of, self.record.id, corrects)
        if original is None:
            return await self._correct_gold(session, corrects, label, label_id, comment)
        item_id, event_id, annotator = original
        if annotator != session.annotator:
            raise Conflict(
                f"label {corrects!r} was not given by {session.annotator!r}", code="not_your_label"
            )
        new = NewLabel(
            label_id,
            label,
            "annotator",
            item_id=item_id,
            event_id=event_id,
            annotator=session.annotator,
            corrects=corrects,
            comment=comment,
        )
        [outcome] = await self.learner.submit([new])
        if outcome.error is not None:
            raise outcome.error
        return outcome

    # -- supervision ------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` whenever the project's figures change; returns an unsubscribe."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def metrics(self) -> dict[str, Any]:
        now = time.monotonic()
        while self._label_times and self._label_times[0] < now - _RATE_WINDOW:
            self._label_times.popleft()
        return {
            "model_version": self.model.version,
            "task": self.record.task,
            **self._model_figures(),
            "queue_depth": len(self.queue),
            "leased": self.queue.leased,
            "shed_total": self.queue.counters.shed,
            "leases_expired_total": self.queue.counters.expired,
            "events_total": self.events_total,
            "annotators_online": len(self.leasing.online()),
            "labels_per_minute": float(len(self._label_times)) * 60.0 / _RATE_WINDOW,
            "label_backlog": self.learner.backlog,
            "unbiased_accuracy": self.accuracy_estimate(),
            "models": self._models_report(),
            "drift": self.model.drift,
            "exploration": self.exploration(),
            "aged_out_total": self.queue.counters.aged_out,
            "routing": self._routing_report(),
            "label_commits_total": self.learner.commits,
            "journal_dropped_total": self.journal.dropped,
            "annotators": self._annotators_report(),
            "agreement": self._agreement_report(),
            "overlap_waiting": len(self.leasing.overlap),
            "review": self.review.report(),
            **self.progress.report(self.record.target),
        }

    def _agreed(self, item_id: int, annotator: str, stored: str) -> None:
        """Count an annotator's answer to an item others answer too."""
        if isinstance(self.agreement, MultiLabelAgreement):
            self.agreement.record(item_id, annotator, label_set(stored))
        elif isinstance(self.agreement, SpanAgreement):
            self.agreement.record(item_id, annotator, span_set(stored))
        else:
            self.agreement.record(item_id, annotator, stored)

    def _agreement_report(self) -> dict[str, Any]:
        """Krippendorff's alpha over the items several annotators labelled; for label sets,
        with the MASI distance, and each label's own alpha (``per_label``); for spans, the
        span F1 between annotators, and each label's (`SpanAgreement`)."""
        report = self.agreement.alpha()
        if isinstance(self.agreement, MultiLabelAgreement | SpanAgreement):
            report["per_label"] = self.agreement.per_label()
        return report

    def _model_figures(self) -> dict[str, Any]:
        """The prequential figures. A multilabel or spans project's are `_set_figures`: the
        set metrics (``micro_f1`` ..., or span ``f1`` ...) beside an exact-match ``accuracy``,
        and ``multilabel`` (with the thresholds) or ``spans``, holding them over the random
        draws alone (``unbiased``)."""
        from streamloop.online.multilabel import MultiLabelModel
        from streamloop.online.spans import SpanModel

        model = self.model
        if isinstance(model, MultiLabelModel):
            return _set_figures(
                model.metrics.report(),
                model.sampled_metrics.report(),
                figures=(
                    "micro_f1",
                    "macro_f1",
                    "hamming_loss",
                    "exact_match",
                    "rolling_micro_f1",
                    "rolling_exact_match",
                ),
                section="multilabel",
                unbiased=("labels_total", "micro_f1", "macro_f1", "hamming_loss", "exact_match"),
                more={"thresholds": model.thresholds},
            )
        if isinstance(model, SpanModel):
            return _set_figures(
                model.metrics.report(),
                model.sampled_metrics.report(),
                figures=SPAN_FIGURES,
                section="spans",
                unbiased=(
                    "labels_total",
                    "precision",
                    "recall",
                    "f1",
                    "token_accuracy",
                    "exact_match",
                ),
            )
        report = model.metrics.report()
        return {
            "labels_total": report["labels_total"],
            "accuracy": report["accuracy"],
            "rolling_accuracy": report["rolling_accuracy"],
            "window": report["window"],
            "per_class": report["per_class"],
            "confusion": model.metrics.confusion(),
        }

    def _annotators_report(self) -> dict[str, dict[str, Any]]:
        online = self.leasing.online()
        gold = self.leasing.gold
        report = self.model.annotators()
        states = self.quarantine.states
        kappa = self.agreement.kappa()
        others = online | gold.scorers() | set(states) | set(kappa) | set(self._recorded)
        others |= {name for name, count in self._skips.items() if count}
        for name in others - set(report):
            report[name] = {"labels": 0, "agreement": None, "corrections": 0}
        for name, figures in report.items():
            figures["online"] = name in online
            figures["gold"] = gold.report(name)
            figures["kappa"] = kappa.get(name, {})
            figures["recorded"] = self._recorded[name]
            total, count = self._pace.get(name, (0.0, 0.0))
            figures["seconds_per_label"] = total / count if count else None
            figures["skips"] = self._skips[name]
            figures["state"] = self.quarantine.state(name)
        return dict(sorted(report.items()))

    def accuracy_estimate(self) -> dict[str, Any]:
        """The current model's accuracy on traffic (`AnyModel.accuracy_estimate`) over the
        recent events; computed again when the model learned 5% more labels (at least one), or
        250 events came since."""
        key = (self.model.version, self.events_total)
        learned = abs(key[0] - self._estimate_key[0])
        stale = learned >= max(1, int(key[0] * _ESTIMATE_EVERY_LABELS))
        if _estimate_stale(self._estimate_key, key):
            self._estimate = self.model.accuracy_estimate(list(self._traffic))
            self._estimate_key = key
            if stale and self._estimate.get("estimate") is not None:
                labels = self.model.metrics.labels_total
                self._estimate_curve.add(labels, self._estimate["estimate"])
        return dict(self._estimate)

    def _models_report(self) -> dict[str, dict[str, Any]]:
        """Every model of the project by name, the one serving first: ``serving``, its
        ``model_version``, its prequential ``labels_total``, ``accuracy`` and
        ``rolling_accuracy`` (exact match for label sets), and ``unbiased_accuracy``, its
        estimate on traffic (as the project's own, recomputed on the same terms)."""
        served = self.model
        report = {served.preset: _model_report(served, self.accuracy_estimate(), serving=True)}
        for name, challenger in served.challengers.items():
            key = challenger.version, self.events_total
            cached = self._challenger_estimates.get(name)
            if cached is None or _estimate_stale(cached[:2], key):
                estimate = challenger.accuracy_estimate(list(self._traffic))  # type: ignore[attr-defined]
                cached = (*key, estimate)
                self._challenger_estimates[name] = cached
            report[name] = _model_report(challenger, dict(cached[2]), serving=False)
        return report

    def history(self) -> dict[str, Any]:
        """The accuracy curve so far (bounded), for charts. The estimate's points are those
        this process computed, after the model's own from before them (the random draws'
        prequential hits, the estimate of that time)."""
        history = self.model.history()
        self.accuracy_estimate()
        computed = self._estimate_curve.points
        if computed:
            first = computed[0][0]
            history["unbiased"] = [p for p in history["unbiased"] if p[0] < first] + computed
        return {"model_version": self.model.version, **history}

    def _routing_report(self) -> dict[str, Any]:
        if self.gate is None:
            return {"mode": "pool"}
        return {"mode": "stream", **self.gate.report(len(self.leasing.online()))}

    def route_scored(self, result: Mapping[str, Any]) -> None:
        """Route an item a Kafka worker scored, stored and queued."""
        item_id = int(result["item_id"])
        if item_id in self.queue:
            return
        data = dict(result["data"])
        if not result.get("duplicate"):
            # Recent traffic for the accuracy estimate; not counted in ``events_total``, which
            # on Kafka is the store's count (`streamloop.streams.bridge`): routing sees only
            # what reaches this process first.
            self._traffic.append(data)
        self.leasing.push(
            [
                QueuedItem(
                    item_id,
                    str(result["id"]),
                    data,
                    float(result["uncertainty"]),
                    drawn_at_random=bool(result.get("drawn_at_random")),
                )
            ]
        )
        self.leasing.serve_waiting()
        self._changed()

    def _took_in(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """New events arrived (here, or through a worker): counted, and kept as the recent
        traffic the accuracy estimate is about."""
        self.events_total += len(rows)
        self._traffic.extend(rows)

    # -- internals --------------------------------------------------------------------------

    def answer(self, sent: Mapping[str, Any], where: str = "") -> str:
        """The stored form of an answer sent as ``label``, ``labels`` or ``spans`` (``sent``
        has the three, None where not sent), whichever the project's task wants (`Task`).
        ``where`` names the answer in the error (``labels.3``).

        Raises
        ------
        InvalidInput
            If the answer is in another task's shape (naming the field expected), names a
            label that is not the project's (code ``unknown_label``), or is not a valid
            answer of the task (a label repeated, spans that overlap...).
        """
        at = f"{where}." if where else ""
        task = self.task
        given = [field for field, value in sent.items() if value is not None]
        if given != [task.field]:
            others = [field for field in given if field != task.field]
            instead = f", not `{others[0]}`" if others else ""
            raise InvalidInput(
                f"{at}{task.field}: this is a {task.name} project: send `{task.field}`, "
                f"{task.sent_as}{instead}",
                code="invalid_input",
            )
        value = sent[task.field]
        for inside, label in task.labels_in(value):
            self._check_label(label, f"{at}{task.field}{inside}")
        try:
            return task.stored(value, self.record.labels)
        except AnswerError as exc:
            where = f"{at}{task.field}{exc.where}"
            raise InvalidInput(f"{where}: {exc.why}", code="invalid_input") from None

    def _fit(self, stored: str, data: Mapping[str, Any]) -> str:
        """The answer ``stored`` as it is kept for the item ``data`` (`Task.fit`: spans grown
        to whole words); ValueError if it does not fit. Any thread may ask."""
        return self.task.fit(self.model, stored, data)

    def _fitted(self, stored: str, data: Mapping[str, Any], where: str = "") -> str:
        """`_fit`, refusing an answer that does not fit its item with a 422 (``where``
        prefixes the message, as ``items.3.``)."""
        try:
            return self._fit(stored, data)
        except ValueError as exc:
            raise InvalidInput(f"{where}{exc}", code="invalid_input") from None

    def _check_label(self, label: str, where: str = "") -> None:
        if label not in self._known_labels:
            at = f"{where}: " if where else ""
            raise InvalidInput(
                f"{at}{label!r} is not one of this project's labels {list(self.record.labels)}",
                code="unknown_label",
            )

    def _check_answer(self, stored: str) -> None:
        """An answer given to the runtime is in its stored form (`answer`): a label, or a set
        of labels or spans in the one order it is stored in (so that equal sets are equal
        strings)."""
        if self.record.task == "classify":
            self._check_label(stored)
            return
        try:
            self.task.check_stored(stored, self.record.labels)
        except ValueError as exc:
            raise InvalidInput(str(exc), code="invalid_input") from None

    async def model_pickle(self, name: str | None = None) -> tuple[str, int, bytes]:
        """(model name, version, pickled River pipeline) of the model being served, or of its
        challenger ``name``, pickled off the loop (404 ``unknown_model`` for another name).

        A learner in this process changes the model on the loop: `Learner.steady` keeps it
        still meanwhile. A model learned elsewhere (``--broker``) is hot-swapped whole.
        """
        async with self.learner.steady():
            model: Any = self.model
            if name is not None and name != model.preset:
                if name not in model.challengers:
                    raise NotFound(
                        f"{name!r} is not one of project {self.record.name!r}'s models: "
                        f"{model.preset!r} serves, beside {list(model.challengers) or 'none'}",
                        code="unknown_model",
                    )
                model.settle()  # the challenger as it is once it has caught up
                model = model.challengers[name]
            return model.preset, model.version, await asyncio.to_thread(model.pipeline_pickle)

    def swap_model(self, model: AnyModel) -> None:
        """Serve with a newer version of the model, learned elsewhere (the hot swap)."""
        if model.version > self.model.version:
            if model.preset != self.model.preset:  # a promotion: the estimates are another's
                self._estimate_key = (-1, 0)
                self._challenger_estimates.clear()
            self.model = model
            self._answer_drift()
            self._changed()

    def on_learned(self, outcomes: Sequence[LabelOutcome]) -> None:
        """Labels were stored and learned: take their items out, end their leases."""
        now = time.monotonic()
        learned = stored = False
        to_review: list[int] = []
        self.progress.learned(outcomes)
        for outcome in outcomes:
            item_id = outcome.item_id
            if outcome.error is not None or outcome.duplicate or item_id is None:
                continue
            stored = True
            if outcome.learned:
                learned = True
                self._label_times.append(now)
            label = outcome.label
            by = label.annotator if label.source == "annotator" else None
            status = outcome.item_status
            if label.source == "review":
                self.review.settle(item_id)
            elif by is not None and label.corrects is None and item_id in self.leasing.overlap:
                # Another annotator's label of an overlapped item: recorded, not learned.
                done = status != "overlap"
                self.leasing.overlap_labelled(item_id, by=by, done=done)
            elif label.corrects is None:
                item, shown = self.leasing.settle(item_id, by=by)
                if status == "overlap" and by is not None and outcome.learned:
                    if item is None and outcome.data is not None and outcome.event_id:
                        item = QueuedItem(item_id, outcome.event_id, outcome.data, 0.0)
                    if item is not None:
                        self.leasing.overlapped(item, label.overlap, by, shown)
            if by is not None and (status in ("overlap", "review") or not outcome.learned):
                self._agreed(item_id, by, label.label)
                if not outcome.learned and label.corrects is None:
                    self._recorded[by] += 1
            if status == "review" and item_id not in self.review:
                to_review.append(item_id)
        if to_review:
            self._to_review(to_review)
        if learned:
            self._answer_drift()
            for listener in self.model_listeners:
                listener()
        if stored:  # a label recorded only changes the figures too (agreement, overlap)
            self._changed()

    def _to_review(self, item_ids: list[int]) -> None:
        """Put items whose annotators disagreed in the review desk, with their labels (read
        from the store, off the event loop)."""
        for item_id in item_ids:
            self.review.coming(item_id)

        async def load() -> None:
            try:
                found = await self.store.run(self.store.review_items, self.record.id, item_ids)
            except Exception:  # the store failed: they are found again on the next restart
                log.exception("project %s: loading items for review failed", self.record.name)
                found = []
            self.review.add(found)
            for item_id in set(item_ids) - {record.item_id for record in found}:
                self.review.dropped(item_id)

        task = asyncio.create_task(load())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- review -----------------------------------------------------------------------------

    def join_review(self, session: ReviewSession) -> None:
        self.review.join(session)

    def leave_review(self, session: ReviewSession) -> None:
        self.review.leave(session)

    async def resolve(
        self,
        session: ReviewSession,
        event_id: str,
        label: str,
        label_id: str,
        comment: str | None = None,
    ) -> LabelOutcome:
        """A reviewer's outcome for an item in review: what the model learns from it from now
        on (learned as a correction when it differs from what it learned)."""
        self._check_answer(label)
        self.review.touch(session)
        held = self.review.holding(session, event_id)
        record = held or self.review.find(event_id)
        if record is not None and held is None and self.review.holder_of(record.item_id):
            raise Conflict(f"item {event_id!r} is leased to another reviewer", code="lease_lost")
        # Not in the desk: the store answers a retry of a stored outcome as a duplicate, and
        # anything else as not in review.
        new = NewLabel(
            label_id,
            label,
            "review",
            item_id=record.item_id if record is not None else None,
            event_id=event_id,
            annotator=session.reviewer,
            comment=comment,
        )
        [outcome] = await self.learner.submit([new])
        if outcome.error is not None:
            raise outcome.error
        return outcome

    def skip_review(self, session: ReviewSession, event_id: str) -> None:
        self.review.touch(session)
        held = self.review.holding(session, event_id)
        if held is None:
            raise Conflict(f"item {event_id!r} is not leased to you", code="not_leased")
        self.review.skip(session, held.item_id)

    async def flag(self, event_id: str) -> ReviewRecord:
        """A supervisor doubts a labelled item: it goes to review."""
        record = await self.store.run(self.store.flag_for_review, self.record.id, event_id)
        self.review.add([record])
        return record

    def _paced(self, annotator: str, lease: Lease) -> None:
        """Count the seconds from the lease's start to its label."""
        loop = asyncio.get_running_loop()
        started = lease.expires_at - self.record.lease_seconds
        pace = self._pace.setdefault(annotator, [0.0, 0.0])
        pace[0] += max(0.0, loop.time() - started)
        pace[1] += 1

    def skipped(self, annotator: str) -> None:
        self._skips[annotator] += 1

    def _answer_drift(self) -> None:
        """A drift newly confirmed: items waiting from before its warning leave the queue, and
        it is logged. (Exploration follows the model's drift state by itself, see
        `exploration`.)"""
        state = self.model.drift_state
        if state == "warning" and self._warning_mark is None:
            self._warning_mark = self.queue.arrivals
        elif state == "none":
            self._warning_mark = None
        drift = self.model.drift
        if drift["drifts_total"] <= self._drifts_answered:
            return
        self._drifts_answered = drift["drifts_total"]
        mark = self.queue.arrivals if self._warning_mark is None else self._warning_mark
        self._warning_mark = None
        aged = self.leasing.age_out(before=mark)
        log.warning(
            "project %s: drift confirmed at %d labels; %d items waiting since before its "
            "warning aged out; exploring at %.0f%% while it is shown",
            self.record.name,
            drift["changed_at"],
            len(aged),
            100 * self.exploration(),
        )

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()


def _set_figures(
    report: dict[str, Any],
    sampled: dict[str, Any],
    *,
    figures: Sequence[str],
    section: str,
    unbiased: Sequence[str],
    more: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The prequential figures of a task whose answer is a set (of labels, of spans), from
    its metrics' ``report`` and the random draws' (``sampled``): ``accuracy`` is the exact
    match of an item's whole set, ``per_class`` each label's figures, the task's own
    ``figures`` sit beside them, and ``section`` holds ``more`` and the ``unbiased`` figures
    over the random draws alone."""
    return {
        "labels_total": report["labels_total"],
        "accuracy": report["exact_match"],
        "rolling_accuracy": report["rolling_exact_match"],
        "window": report["window"],
        "per_class": report["per_label"],
        "confusion": None,
        **{key: report[key] for key in figures},
        section: {**(more or {}), "unbiased": {key: sampled[key] for key in unbiased}},
    }


def _estimate_stale(then: tuple[int, int], now: tuple[int, int]) -> bool:
    """Whether an estimate made at (model version, events) ``then`` is due again ``now``: the
    model learned 5% more labels (at least one), or 250 events came since."""
    learned = abs(now[0] - then[0])
    return (
        learned >= max(1, int(now[0] * _ESTIMATE_EVERY_LABELS))
        or now[1] - then[1] >= _ESTIMATE_EVERY_EVENTS
    )


def _model_report(model: Any, estimate: dict[str, Any], *, serving: bool) -> dict[str, Any]:
    """One model's figures in the metrics' ``models``."""
    report = model.metrics.report()
    exact = "exact_match" in report  # a label set's figures
    return {
        "serving": serving,
        "model_version": model.version,
        "labels_total": report["labels_total"],
        "accuracy": report["exact_match" if exact else "accuracy"],
        "rolling_accuracy": report["rolling_exact_match" if exact else "rolling_accuracy"],
        "unbiased_accuracy": estimate,
    }
