"""``streamloop worker``: a faust-streaming worker that scores events and learns labels.

Any number of workers share the events topic's partitions. Each scores an event with the newest
model version of its project it has seen on the models topic (hot-swapped, never redeployed;
only versions signed with the deployment's key, :mod:`streamloop.streams.signing`),
stores the item (a redelivered event is a duplicate, not a second item), and publishes the
result on the scored topic, from which ``serve`` routes the queued items to annotators. An
event that cannot be scored is retried when the failure may pass (the database), and otherwise
goes to the dead-letter topic with the reason: a faust agent that raises would skip it silently.

Workers also share the labels topic, keyed by project: the worker holding a project's
partition is its learner (:mod:`streamloop.streams.partitions`). It stores and learns each batch,
answers on the learned topic and publishes the new model version on the models topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka import TopicPartition

from streamloop.config import Settings
from streamloop.errors import NotFound, NotReady, StreamloopError
from streamloop.online import AnyModel, AnyPrediction, restore_model
from streamloop.store import LabelOutcome, NewEvent, NewLabel, ProjectRecord, Store
from streamloop.streams import arrivals, dead_letters, topics
from streamloop.streams.learner import check_plugins, new_model
from streamloop.streams.partitions import ProjectLearners
from streamloop.streams.signing import Signer, load_key
from streamloop.streams.worker_ops import Partition, WorkerStats, log_rates

__all__ = ["EventScorer", "create_worker_app"]

log = logging.getLogger(__name__)

#: Which worker scored an event, in its scored record.
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
#: Most events scored and stored together, and the longest wait to fill a batch (seconds).
BATCH = 200
BATCH_WAIT = 0.02
#: Most labels learned together, and the longest wait to fill a batch (seconds).
LABEL_BATCH = 500
LABEL_WAIT = 0.005
#: Seconds between two looks at the broker and the partitions (for /readyz and /metrics).
WATCH_EVERY = 2.0
#: Attempts at an event whose failure may pass (the store unavailable) before it is dead-lettered.
ATTEMPTS = 5


class EventScorer:
    """Scores events for every project with the newest model version seen."""

    def __init__(self, store: Store, stats: WorkerStats | None = None) -> None:
        self.store = store
        self.stats = WorkerStats(WORKER_ID) if stats is None else stats
        self._projects: dict[str, ProjectRecord] = {}
        self._blobs: dict[str, tuple[int, bytes]] = {}
        self._models: dict[str, AnyModel] = {}
        self._arrivals_rng = random.Random()

    def offer_model(
        self, project: str, version: int, blob: bytes, published_ms: int | None = None
    ) -> None:
        """A model version from the models topic: kept if newer than the one in use."""
        current = self._blobs.get(project)
        if current is None or version > current[0]:
            self._blobs[project] = (version, blob)
            self._models.pop(project, None)  # restored on next use: the hot swap
            self.stats.swapped(project, current[0] if current else 0, version, published_ms)

    def model_version(self, project: str) -> int:
        current = self._blobs.get(project)
        return current[0] if current else 0

    async def score(self, raws: Sequence[bytes]) -> list[dict[str, Any] | Rejected]:
        """Score, store and describe a batch of event messages, one transaction per project;
        the results in the order of ``raws``.

        A bad event gets a :class:`Rejected` result (for the dead-letter topic) and leaves the
        others alone. ``NotReady`` (the store unavailable) fails the batch, which is then
        retried as a whole: stored events come back as duplicates, not new items.
        """
        results: list[dict[str, Any] | Rejected | None] = [None] * len(raws)
        by_project: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
        for index, raw in enumerate(raws):
            try:
                message = topics.decode(raw)
            except ValueError as exc:
                results[index] = _undecodable(exc)
                continue
            try:
                name, event_id, data = _event(message)
            except ValueError as exc:
                results[index] = Rejected("not_an_event", str(exc))
                continue
            try:
                await self._project(name)
            except ValueError as exc:
                results[index] = Rejected("unknown_project", str(exc))
                continue
            by_project.setdefault(name, []).append((index, event_id, data))
        for name, events in by_project.items():
            record = self._projects[name]
            await arrivals.prepare(self._model(record), [data for _, _, data in events])
            scored = self._predict(record, events, results)
            if not scored:
                continue
            items = await self.store.run(
                self.store.insert_events,
                record.id,
                [
                    NewEvent(e, d, r.status, p.uncertainty, r.drawn_at_random)
                    for _, e, d, p, r in scored
                ],
            )
            self.stats.scored[name] += len(items)
            for (index, _id, _data, prediction, _r), item in zip(scored, items, strict=True):
                result = topics.scored_record(name, item, prediction, "worker")
                result["worker"] = WORKER_ID
                results[index] = result
        return [result for result in results if result is not None]  # none is: one per raw

    def _predict(
        self,
        record: ProjectRecord,
        events: list[tuple[int, str, dict[str, Any]]],
        results: list[dict[str, Any] | Rejected | None],
    ) -> list[tuple[int, str, dict[str, Any], AnyPrediction, arrivals.Route]]:
        """Score and route one project's events as serve does (`streamloop.streams.arrivals`);
        an event that does not fit the model goes to ``results`` as a dead letter. Workers
        queue every arrival: the stream gate, which needs the annotators online, is serve's."""
        model = self._model(record)
        predictions = arrivals.score(model, [data for _, _, data in events])
        scored = []
        for (index, event_id, data), prediction in zip(events, predictions, strict=True):
            if isinstance(prediction, ValueError):
                results[index] = Rejected("unscorable", str(prediction), prediction)
                continue
            route = arrivals.route(record, model, prediction, self._arrivals_rng)
            scored.append((index, event_id, data, prediction, route))
        return scored

    async def _project(self, name: str) -> ProjectRecord:
        if name not in self._projects:
            try:
                record = await self.store.run(self.store.project, name)
            except NotFound as exc:
                raise ValueError(exc.message) from None
            await check_plugins(record)  # off the loop, before anything asks them
            self._projects[name] = record
        return self._projects[name]

    def _model(self, record: ProjectRecord) -> AnyModel:
        model = self._models.get(record.name)
        if model is None:
            blob = self._blobs.get(record.name)
            model = restore_model(blob[1]) if blob else new_model(record)
            self._models[record.name] = model
        return model


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a record goes to the dead-letter topic: a reason code
    (`streamloop.streams.dead_letters.REASONS`), the error in words, and the exception."""

    reason: dead_letters.Reason
    error: str
    exception: BaseException | None = None


def _check_control(message: dict[str, Any]) -> None:
    """A quarantine or release of an annotator, or a model's promotion
    (`topics.control_message`), or ValueError."""
    subject = "model" if message.get("control") == "promote" else "annotator"
    if not (
        message.get("control") in ("quarantine", "release", "promote")
        and isinstance(message.get("project"), str)
        and isinstance(message.get(subject), str)
    ):
        raise ValueError(
            "a control message needs control quarantine or release, a project and an "
            "annotator; or control promote, a project and a model"
        )


def _undecodable(exc: ValueError) -> Rejected:
    """A record `topics.decode` refused: not JSON at all, or JSON but not an object."""
    reason: dead_letters.Reason = "not_json" if str(exc).startswith("not JSON") else "not_an_object"
    return Rejected(reason, str(exc), exc)


def _event(message: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    name, event_id, data = message.get("project"), message.get("id"), message.get("data")
    if not isinstance(name, str) or not isinstance(event_id, str) or not event_id:
        raise ValueError("an event needs a string project and a non-empty string id")
    if not isinstance(data, dict):
        raise ValueError("an event's data must be an object")
    return name, event_id, data


def create_worker_app(settings: Settings, stats: WorkerStats | None = None) -> faust.App:
    """The faust app of a scoring worker; ``stats`` gathers what its operator may watch."""
    assert settings.broker is not None
    signer = Signer(load_key(settings))
    names = topics.Topics(settings.topic_prefix)
    stats = WorkerStats(WORKER_ID) if stats is None else stats
    app = topics.faust_app(f"{settings.topic_prefix}-workers", settings.broker)
    store = Store(settings.database_url)
    scorer = EventScorer(store, stats)
    events = app.topic(names.events, key_type=bytes, value_type=bytes)
    scored = app.topic(names.scored, key_type=bytes, value_type=bytes)
    dead = app.topic(names.dead_letter, key_type=bytes, value_type=bytes)
    labels = app.topic(names.labels, key_type=bytes, value_type=bytes)
    learned = app.topic(names.learned, key_type=bytes, value_type=bytes)
    models = app.topic(names.models, key_type=bytes, value_type=bytes)

    async def publish_model(project: str, version: int, blob: bytes) -> None:
        headers = await asyncio.to_thread(topics.model_headers, signer, project, version, blob)
        delivery = await models.send(key=project.encode(), value=blob, headers=headers)
        await delivery

    # Learning has a store (and its thread) of its own: a label never waits behind scoring.
    learners = ProjectLearners(Store(settings.database_url), settings, publish_model)

    async def dead_letter(event: Any, kind: dead_letters.Kind, rejected: Rejected) -> Any:
        """One record to the dead-letter topic, with its context; counted and logged. Returns
        the send's delivery, to be awaited before the batch is done."""
        source = dead_letters.Source.of_faust(event.message)
        key, value, headers = dead_letters.letter(
            source,
            event.message.value or b"",
            kind=kind,
            reason=rejected.reason,
            error=rejected.error,
            exception=rejected.exception,
            worker=WORKER_ID,
        )
        stats.dead_letters[rejected.reason] += 1
        log.warning("%s", dead_letters.describe(source, rejected.reason, rejected.error))
        return await dead.send(key=key, value=value, headers=headers)

    @app.agent(events)
    async def score(stream: Any) -> None:
        # Batches: one transaction stores many events, instead of one commit each.
        async for batch in stream.take_events(BATCH, within=BATCH_WAIT):
            raws = [event.value for event in batch]
            sent = []
            for event, result in zip(batch, await _score_with_retries(scorer, raws), strict=True):
                if isinstance(result, Rejected):
                    sent.append(await dead_letter(event, "event", result))
                else:
                    key, value = str(result["id"]).encode(), topics.encode(result)
                    sent.append(await scored.send(key=key, value=value))
            # Delivered before the next batch: a send the broker refused fails the agent
            # loudly, instead of its record passing for sent.
            await asyncio.gather(*sent)

    changes: set[asyncio.Task[None]] = set()

    async def answer_change(message: dict[str, Any]) -> None:
        project = str(message["project"])
        answer: dict[str, Any] = {"request": message.get("request")}
        try:
            if message["control"] == "promote":
                answer |= await learners.promote(project, str(message["model"]))
            else:
                quarantine = message["control"] == "quarantine"
                task = learners.begin_change(
                    project, str(message["annotator"]), "quarantined" if quarantine else "active"
                )
                answer |= await task
        except Exception as exc:  # the web process waits for an answer: always give one
            subject = message.get("model", message.get("annotator"))
            log.exception("%s of %s failed", message.get("control"), subject)
            if isinstance(exc, StreamloopError):  # of its class: an unknown model is a 404
                answer["error"] = topics.error_message(exc)
            else:
                answer["error"] = {"code": "rebuild_failed", "message": str(exc)}
        reply = {"project": project, "changed": answer}
        await learned.send(key=project.encode(), value=topics.encode(reply))

    @app.agent(labels)
    async def learn(stream: Any) -> None:
        async for batch in stream.take_events(LABEL_BATCH, within=LABEL_WAIT):
            by_project: dict[str, list[NewLabel]] = {}
            letters = []
            for event in batch:
                try:
                    message = topics.decode(event.value)
                except ValueError as exc:
                    letters.append(await dead_letter(event, "label", _undecodable(exc)))
                    continue
                try:
                    if "control" in message:
                        _check_control(message)
                        # The labels before it are stored first; those after wait for none of
                        # the rebuild (it runs beside them).
                        await _learn_batches(learners, learned, by_project, stats)
                        by_project = {}
                        task = asyncio.create_task(answer_change(message))
                        changes.add(task)
                        task.add_done_callback(changes.discard)
                        continue
                    project, label = topics.label_from(message)
                except ValueError as exc:
                    rejected = Rejected("not_a_label", str(exc))
                    letters.append(await dead_letter(event, "label", rejected))
                    continue
                by_project.setdefault(project, []).append(label)
            await _learn_batches(learners, learned, by_project, stats)
            await asyncio.gather(*letters)

    @app.timer(1.0)  # type: ignore[untyped-decorator]
    async def snapshots() -> None:
        await learners.snapshot_due()

    @app.on_before_shutdown.connect
    async def finish_learning(_app: Any, /, *_args: Any, signal: Any, **_kwargs: Any) -> None:
        await learners.close()

    @app.on_partitions_assigned.connect
    async def assigned(_app: Any, /, *_args: Any, **_kwargs: Any) -> None:
        stats.rebalances += 1

    @app.task  # type: ignore[untyped-decorator]
    async def follow_models() -> None:
        await _follow_models(settings.broker or "", names, scorer, signer, stats)

    @app.task  # type: ignore[untyped-decorator]
    async def watch() -> None:
        await _watch(app, topics.bootstrap_servers(settings.broker or ""), names, stats)

    @app.task  # type: ignore[untyped-decorator]
    async def rates() -> None:
        await log_rates(stats)

    return app


async def _partitions(app: faust.App, names: topics.Topics) -> list[Partition]:
    """The partitions of the events and labels topics assigned to this worker now, with their
    end offsets (asked of the broker) and how far the worker has read each."""
    ours = {names.events, names.labels}
    try:
        assigned = sorted(tp for tp in app.consumer.assignment() if tp.topic in ours)
    except Exception:  # no consumer yet (starting), or gone (stopping)
        return []
    ends = await app.consumer.highwaters(*assigned) if assigned else {}
    read = app.monitor.tp_read_offsets
    found = []
    for tp in assigned:
        # The next offset to process: after the last one read, or where reading will start.
        offset = read.get(tp)
        at = offset + 1 if offset is not None else await app.consumer.position(tp)
        found.append(Partition(tp.topic, tp.partition, ends.get(tp), at))
    return found


async def _watch(app: faust.App, bootstrap: str, names: topics.Topics, stats: WorkerStats) -> None:
    """Every few seconds: whether the broker answers (a change logged once), and the assigned
    partitions with their lag."""
    probe = topics.BrokerProbe(bootstrap, within=WATCH_EVERY)
    try:
        while True:
            await _look(app, probe, bootstrap, names, stats)
            await asyncio.sleep(WATCH_EVERY)
    finally:
        await probe.close()


async def _look(
    app: faust.App,
    probe: topics.BrokerProbe,
    bootstrap: str,
    names: topics.Topics,
    stats: WorkerStats,
) -> None:
    """One look: the broker (a change said at info), then the partitions and their lag."""
    connected = await probe.answers()
    if connected != stats.broker_connected:
        # At info: an outage itself is said, once each way, from the Kafka clients' own
        # errors (`streamloop.streams.quiet`).
        log.info("the broker at %s %s", bootstrap, "answers" if connected else "does not answer")
    stats.broker_connected = connected
    if connected:
        try:
            async with asyncio.timeout(WATCH_EVERY):
                stats.partitions = await _partitions(app, names)
        except Exception as exc:  # a rebalance under way, the broker gone meanwhile
            log.debug("partitions not read: %s", exc)


async def _score_with_retries(
    scorer: EventScorer, raws: Sequence[bytes]
) -> list[dict[str, Any] | Rejected]:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await scorer.score(raws)
        except NotReady as exc:
            if attempt == ATTEMPTS:
                return [Rejected("store_failed", exc.message, exc) for _ in raws]
            log.warning("scoring %d events failed (%s); retrying", len(raws), exc.message)
            await asyncio.sleep(0.2 * 2**attempt)
        except Exception as exc:  # anything else: dead-letter them rather than skip silently
            log.exception("scoring %d events failed", len(raws))
            return [Rejected("internal", f"{type(exc).__name__}: {exc}", exc) for _ in raws]
    raise AssertionError("unreachable")


async def _learn_batches(
    learners: ProjectLearners,
    learned: Any,
    by_project: dict[str, list[NewLabel]],
    stats: WorkerStats,
) -> None:
    """Learn each project's labels and answer on the learned topic."""
    for project, batch in by_project.items():
        outcomes = await _learn_with_retries(learners, project, batch)
        stats.learned[project] += sum(
            1 for o in outcomes if o.error is None and not o.duplicate and o.learned
        )
        message = {
            "project": project,
            "outcomes": [topics.outcome_message(o) for o in outcomes],
        }
        await learned.send(key=project.encode(), value=topics.encode(message))


async def _learn_with_retries(
    learners: ProjectLearners, project: str, labels: list[NewLabel]
) -> list[LabelOutcome]:
    """The outcomes of a batch; a failure becomes each label's error, never a silent skip."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await learners.learn(project, labels)
        except NotReady as exc:
            if attempt == ATTEMPTS:
                return [LabelOutcome(label=label, error=exc) for label in labels]
            log.warning("learning %d labels failed (%s); retrying", len(labels), exc.message)
            await asyncio.sleep(0.2 * 2**attempt)
        except StreamloopError as exc:  # an unknown project, a full backlog: the web says so
            return [LabelOutcome(label=label, error=exc) for label in labels]
        except Exception as exc:
            log.exception("learning %d labels of %s failed", len(labels), project)
            error = NotReady(f"the label could not be learned: {exc}", code="learner_failed")
            return [LabelOutcome(label=label, error=error) for label in labels]
    raise AssertionError("unreachable")


async def _follow_models(
    broker: str, names: topics.Topics, scorer: EventScorer, signer: Signer, stats: WorkerStats
) -> None:
    """Read every project's model versions, from the start, outside any consumer group.

    Only a record whose signature verifies reaches the scorer, which unpickles it; the others
    are refused, logged and counted. Once the topic is read to the end it had at start, the
    worker holds the newest version of every project (part of being ready).
    """
    refused: Counter[str] = Counter()
    consumer = topics.follower(topics.bootstrap_servers(broker), names.models, from_start=True)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(names.models, p)
            for p in sorted(consumer.partitions_for_topic(names.models) or {0})
        ]
        ends = await consumer.end_offsets(partitions)
        stats.models_caught_up = all(ends[p] == 0 for p in partitions)
        async for message in consumer:
            record = await topics.verified_model(message, signer, refused)
            if record is not None:
                # While catching up, a version's publication is history, not a swap's lag.
                published = message.timestamp if stats.models_caught_up else None
                scorer.offer_model(record.project, record.version, record.blob, published)
            if not stats.models_caught_up:
                positions = [await consumer.position(p) for p in partitions]
                stats.models_caught_up = all(
                    at >= ends[p] for p, at in zip(partitions, positions, strict=True)
                )
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
