"""The serve process on Kafka: labels out to their learners, models and scored items in.

With ``--broker`` a web process (any number of them, sharing one PostgreSQL) keeps the service's
routing, leases and annotator sessions, and reaches the rest of the loop through Kafka:

- a label is sent on the labels topic to its project's learner (in a worker) and acked when
  the learner's outcome comes back on the learned topic (:class:`RemoteLearner`);
- every outcome on the learned topic updates the queues here (labelled items out, their
  leases ended), whichever web process took the label;
- each new model version on the models topic is restored off the event loop and hot-swapped,
  once its signature is verified (:mod:`streamloop.streams.signing`): a record that is not
  signed with the deployment's key is refused, logged and counted, never unpickled;
- items the workers scored and queued are routed here from the scored topic (a faust agent;
  web processes share its partitions), and events posted over HTTP are published there too.

faust runs inside the Starlette lifespan (``faust.contrib.asgi``), without its web server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faust.contrib.asgi import faust_app_running

from streamloop.config import Settings
from streamloop.errors import NotFound, NotReady, StreamloopError
from streamloop.online import restore_model
from streamloop.store import NewLabel, ProjectRecord, Store
from streamloop.streams import topics
from streamloop.streams.learner import LearnerFactory, OnLearned, Rebuilt
from streamloop.streams.notices import ScoredItem
from streamloop.streams.project import ProjectRuntime
from streamloop.streams.remote import RemoteLearner
from streamloop.streams.service import Service
from streamloop.streams.signing import Signer, load_key

__all__ = ["KafkaBridge"]

log = logging.getLogger(__name__)

#: Most scored records routed together, and the longest wait to fill a batch (seconds).
ROUTE_BATCH = 500
ROUTE_WAIT = 0.01
#: How often the broker and the workers' consumer group are looked at (for /readyz and the
#: metrics, which read the last look), and how long one look may take (seconds).
WATCH_SECONDS = 2.0
WATCH_TIMEOUT = 5.0
#: How often each project's count of stored events is read again (seconds).
COUNT_SECONDS = 10.0


class Deployment:
    """What serve last saw of the rest of its deployment (`KafkaBridge.watch`)."""

    def __init__(self) -> None:
        #: Whether the broker answered the last look.
        self.connected = False
        #: Members of the workers' consumer group (``<prefix>-workers``) at the last look.
        self.workers = 0

    def check(self) -> None:
        """Raise `NotReady` unless the broker answers and a worker (a learner) is there."""
        if not self.connected:
            raise NotReady(
                "serve cannot reach the Kafka broker; labels cannot reach their learners",
                code="broker_unavailable",
            )
        if not self.workers:
            raise NotReady(
                "no worker is running: labels wait for a learner and events for scoring "
                "until one joins",
                code="no_workers",
            )


class KafkaBridge:
    """The `Link` of a service on Kafka: connects its projects to the workers and learners.

    ``refused`` counts the model records refused, by reason (the app exports it as
    ``streamloop_refused_total``).
    """

    def __init__(self, settings: Settings, refused: Counter[str] | None = None) -> None:
        assert settings.broker is not None
        self.settings = settings
        #: Signs the snapshots published here and verifies those received (the key is a must).
        self.signer = Signer(load_key(settings))
        self.refused: Counter[str] = Counter() if refused is None else refused
        self._service: Service | None = None
        self.bootstrap = topics.bootstrap_servers(settings.broker)
        self.names = topics.Topics(settings.topic_prefix)
        self.app = topics.faust_app(f"{self.names.prefix}-serve", settings.broker)
        self._labels = self.app.topic(self.names.labels, key_type=bytes, value_type=bytes)
        self._scored = self.app.topic(self.names.scored, key_type=bytes, value_type=bytes)
        self._models_topic = self.app.topic(self.names.models, key_type=bytes, value_type=bytes)
        self.app.agent(self._scored, name="route")(self._route_agent)
        self._learners: dict[str, RemoteLearner] = {}
        self._pending_models: dict[str, tuple[int, bytes]] = {}
        self._restoring: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._exits = contextlib.AsyncExitStack()
        self._follower: AIOKafkaConsumer | None = None
        self._following: asyncio.Task[None] | None = None
        self._service_ready = asyncio.Event()
        #: The broker and the workers as last seen (every `WATCH_SECONDS`).
        self.deployment = Deployment()
        self._admin: AIOKafkaAdminClient | None = None
        self._watching: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def service(self) -> Service:
        assert self._service is not None, "attached once the service has started"
        return self._service

    def learners(self, store: Store, settings: Settings) -> LearnerFactory:
        return self.learner_for

    async def open(self) -> None:
        """Connect, before any project opens: labels need their outcomes followed first.

        The topics are made first (or waited for, as is the broker, saying so), so serve
        may start before the broker and before any worker."""
        await topics.prepare_topics(self.bootstrap, self.names)
        self._follower = await self._start_follower()
        self._following = asyncio.create_task(self._follow(), name="kafka-follow")
        await self._exits.enter_async_context(faust_app_running(self.app))
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap, request_timeout_ms=int(WATCH_TIMEOUT * 1000)
        )
        await self._admin.start()
        await self.look()  # ready or not from the start, not after the first period
        self._watching = asyncio.create_task(self._watch_deployment(), name="kafka-watch")

    def attach(self, service: Service) -> None:
        """The service has opened its projects: publish what it ingests, route what workers
        queue."""
        self._service = service
        self.service.project_listeners.append(self._created)
        for runtime in self.service.projects():
            self._watch(runtime)
        self._service_ready.set()

    async def close(self) -> None:
        for running in (self._following, self._watching):
            if running is not None:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        for task in [*self._restoring.values(), *self._tasks]:
            task.cancel()
        await self._exits.aclose()
        if self._follower is not None:
            await self._follower.stop()
        if self._admin is not None:
            await self._admin.close()

    # -- the deployment, as an operator watches it ---------------------------------------------

    @property
    def workers_group(self) -> str:
        """The consumer group of the workers (their faust app id, `create_worker_app`)."""
        return f"{self.settings.topic_prefix}-workers"

    def learner_timeouts(self, project: str) -> int:
        """Labels of ``project`` answered ``learner_timeout`` here."""
        learner = self._learners.get(project)
        return learner.timeouts if learner is not None else 0

    async def look(self) -> None:
        """Ask the broker about itself and about the workers' group: `deployment`."""
        assert self._admin is not None
        try:
            async with asyncio.timeout(WATCH_TIMEOUT):
                await self._admin.describe_cluster()
        except Exception as exc:
            # At info: the outage itself is said once each way (`streamloop.streams.quiet`).
            if self.deployment.connected:
                log.info("the Kafka broker does not answer: %s", str(exc) or type(exc).__name__)
            self.deployment.connected = False
            self.deployment.workers = 0  # unknown: none it can count on
            return
        if not self.deployment.connected:
            log.info("the Kafka broker answers")
        self.deployment.connected = True
        before = self.deployment.workers
        try:
            async with asyncio.timeout(WATCH_TIMEOUT):
                [response] = await self._admin.describe_consumer_groups([self.workers_group])
            [group] = response.to_object()["groups"]
            self.deployment.workers = 0 if group["error_code"] else len(group["members"])
        except Exception:  # no coordinator yet (a fresh cluster): no group, so no worker
            self.deployment.workers = 0
        if self.deployment.workers != before:
            say = log.warning if not self.deployment.workers else log.info
            say(
                "workers in %s: %d (were %d)%s",
                self.workers_group,
                self.deployment.workers,
                before,
                "; labels wait for a learner" if not self.deployment.workers else "",
            )

    async def _watch_deployment(self) -> None:
        counted = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await self.look()
                if loop.time() - counted >= COUNT_SECONDS:
                    counted = loop.time()
                    await self._count_events()
            except Exception:  # the next look may do better; stopping would freeze /readyz
                log.exception("watching the Kafka deployment failed")

    async def _count_events(self) -> None:
        """Each project's events as the store counts them, from every worker and web process.

        Routed scored records undercount: web processes share the scored topic's partitions,
        and an item another worker stored is often in this process's queue (taken in from the
        store, `ProjectRuntime.resync`) or labelled before its record comes, and then never
        counted. Events posted here count at once; the others within `COUNT_SECONDS`.
        """
        if not self._service_ready.is_set():
            return
        store = self.service.store
        for runtime in self.service.projects():
            try:
                # Off the store's own thread (a count over a big table must not hold up
                # leases and labels), on a connection of its own from the pool.
                stored = await asyncio.to_thread(store.count_events, runtime.record.id)
            except Exception as exc:  # the database away: the next count may do better
                log.warning("events of %s could not be counted: %s", runtime.record.name, exc)
                continue
            # Never down: a counter that falls reads as a restart to Prometheus.
            runtime.events_total = max(runtime.events_total, stored)

    # -- labels -----------------------------------------------------------------------------

    def learner_for(
        self, record: ProjectRecord, rebuilt: Rebuilt, on_learned: OnLearned
    ) -> RemoteLearner:
        """The stand-in of a project's learner, which runs in a worker (``rebuilt``: the model
        this process serves until the worker's versions arrive)."""
        learner = RemoteLearner(
            record.name,
            self._send_labels,
            on_learned,
            timeout=self.settings.learner_timeout_seconds,
            pending_max=self.settings.pending_labels_max,
            send_control=self._send_control,
        )
        self._learners[record.name] = learner
        return learner

    async def _send_labels(self, project: str, labels: Sequence[NewLabel]) -> None:
        key = project.encode()
        sent = [
            await self._labels.send(
                key=key, value=topics.encode(topics.label_message(project, label))
            )
            for label in labels
        ]
        await asyncio.gather(*sent)  # delivered: the broker has them (acks=all)

    async def _send_control(self, project: str, action: str, annotator: str, request: str) -> None:
        message = topics.control_message(project, action, annotator, request)
        delivery = await self._labels.send(key=project.encode(), value=topics.encode(message))
        await delivery

    # -- following the models and learned topics ----------------------------------------------

    async def _start_follower(self) -> AIOKafkaConsumer:
        """Every model version from the start, every outcome from now: outside any group."""
        consumer = topics.follower(self.bootstrap)
        counts = await topics.partition_counts(
            self.bootstrap, [self.names.models, self.names.learned]
        )
        models = [TopicPartition(self.names.models, p) for p in range(counts[self.names.models])]
        learned = [TopicPartition(self.names.learned, p) for p in range(counts[self.names.learned])]
        await consumer.start()
        consumer.assign([*models, *learned])
        await consumer.seek_to_beginning(*models)
        await consumer.seek_to_end(*learned)
        for partition in learned:
            await consumer.position(partition)  # fixed now, before any label is sent
        return consumer

    async def _follow(self) -> None:
        assert self._follower is not None
        await self._service_ready.wait()
        while True:
            batch = await self._follower.getmany(timeout_ms=1000)
            for partition, messages in batch.items():
                for message in messages:
                    try:
                        if partition.topic == self.names.models:
                            await self._model_arrived(message)
                        else:
                            await self._outcomes_arrived(message)
                    except (StreamloopError, ValueError, KeyError, TypeError) as exc:
                        log.warning("a record on %s could not be used: %s", partition.topic, exc)

    async def _outcomes_arrived(self, message: ConsumerRecord[bytes, bytes]) -> None:
        body = topics.decode(message.value)
        runtime = await self._runtime(str(body["project"]))
        if "changed" in body:  # a quarantine or release done (`streamloop.streams.quarantine`)
            answer = body["changed"]
            if not self._learners[runtime.record.name].changed(answer):
                runtime.quarantine.heard(answer)  # asked elsewhere: the state, here too
            return
        outcomes = [topics.outcome_from(o) for o in body["outcomes"]]
        self._learners[runtime.record.name].resolve(outcomes)

    async def _model_arrived(self, message: ConsumerRecord[bytes, bytes]) -> None:
        # Verified before anything else, so a forged record never takes a good one's place
        # among the pending versions.
        record = await topics.verified_model(message, self.signer, self.refused)
        if record is None:
            return
        name, version = record.project, record.version
        runtime = await self._runtime(name)
        if version <= runtime.model.version:
            return
        self._pending_models[name] = (version, record.blob)
        if name not in self._restoring:
            self._restoring[name] = asyncio.create_task(self._restore(runtime))

    async def _restore(self, runtime: ProjectRuntime) -> None:
        """Restore the newest pending version off the event loop, then swap it in."""
        name = runtime.record.name
        try:
            while name in self._pending_models:
                _version, blob = self._pending_models.pop(name)
                model = await asyncio.to_thread(restore_model, blob)
                runtime.swap_model(model)
        except Exception:
            log.exception("a model version of %s could not be restored", name)
        finally:
            self._restoring.pop(name, None)

    async def _runtime(self, name: str) -> ProjectRuntime:
        """A project by name, opening it if another web process created it since we started."""
        try:
            return self.service.project(name)
        except NotFound:
            for runtime in await self.service.refresh():
                self._watch(runtime)
            return self.service.project(name)

    # -- scored records -----------------------------------------------------------------------

    def _created(self, runtime: ProjectRuntime) -> None:
        """A project created here: announce it to the other processes with its first model."""
        self._watch(runtime)
        self._spawn(self._announce(runtime))

    async def _announce(self, runtime: ProjectRuntime) -> None:
        model = runtime.model
        name, version = runtime.record.name, model.version
        blob = await asyncio.to_thread(model.snapshot)
        headers = await asyncio.to_thread(topics.model_headers, self.signer, name, version, blob)
        await self._models_topic.send(key=name.encode(), value=blob, headers=headers)

    def _watch(self, runtime: ProjectRuntime) -> None:
        name = runtime.record.name
        runtime.ingest_listeners.append(lambda scored: self._publish_scored(name, scored))

    def _publish_scored(self, project: str, scored: list[ScoredItem]) -> None:
        records = [topics.scored_record(project, s.item, s.prediction, "serve") for s in scored]
        self._spawn(self._send_scored(records))

    async def _send_scored(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            await self._scored.send(key=str(record["id"]).encode(), value=topics.encode(record))

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("publishing on Kafka failed: %s", task.exception())

    async def _route_agent(self, stream: Any) -> None:
        await self._service_ready.wait()
        async for raws in stream.take(ROUTE_BATCH, within=ROUTE_WAIT):
            by_project: dict[str, list[dict[str, Any]]] = {}
            for raw in raws:
                try:
                    result = topics.decode(raw)
                except ValueError as exc:
                    log.warning("a scored record could not be read: %s", exc)
                    continue
                if result.get("status") == "queued" and "item_id" in result:
                    by_project.setdefault(str(result.get("project")), []).append(result)
            for name, results in by_project.items():
                try:
                    await self._route_project(name, results)
                except (StreamloopError, ValueError, KeyError, TypeError) as exc:
                    log.warning("scored records of %s could not be routed: %s", name, exc)

    async def _route_project(self, name: str, results: list[dict[str, Any]]) -> None:
        # Records come again after a restart (at-least-once): route only the items the
        # store still has waiting, never one labelled since it was scored.
        runtime = await self._runtime(name)
        store = self.service.store
        waiting = await store.run(
            store.still_queued, runtime.record.id, [int(r["item_id"]) for r in results]
        )
        for result in results:
            if int(result["item_id"]) in waiting:
                runtime.route_scored(result)
