"""The service: every project's loop in this process, on asyncio, with one SQL store.

A `Service` runs in one of two modes, chosen by its `Link` to the rest of a deployment:
`Embedded` (the default, nothing to install: labels are stored and learned here) or
`streamloop.streams.bridge.KafkaBridge` (``--broker``: labels are learned by workers, models
and scored items come back over Kafka). The web layer talks to projects only through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from streamloop.config import Settings
from streamloop.errors import NotFound
from streamloop.store import ProjectRecord, Store
from streamloop.store.journal import Journal
from streamloop.store.tokens import Principal
from streamloop.streams import pauses
from streamloop.streams.project import ProjectRuntime

if TYPE_CHECKING:
    from streamloop.streams.learner import LearnerFactory

__all__ = ["Embedded", "Link", "Service"]

log = logging.getLogger(__name__)

#: How often the snapshot policy is checked.
_SNAPSHOT_CHECK_SECONDS = 1.0
#: How often a process sharing its store looks there for items released by the others.
RESYNC_SECONDS = 5.0


class Link(Protocol):
    """What connects a service to the rest of its deployment."""

    def learners(self, store: Store, settings: Settings) -> LearnerFactory:
        """Makes each project's learner."""

    async def open(self) -> None:
        """Connect, before any project is opened."""

    def attach(self, service: Service) -> None:
        """Every stored project is open: start exchanging with the rest of the deployment."""

    async def close(self) -> None:
        """Disconnect, after every project has closed."""


class Embedded:
    """The default mode: the whole loop in this process, labels learned here."""

    def learners(self, store: Store, settings: Settings) -> LearnerFactory:
        # The learner imports the models, and they River (about a second): the service asks
        # for it when the first project opens, so that one without projects starts sooner.
        from streamloop.streams.learner import local_learners

        return local_learners(store, settings)

    async def open(self) -> None:
        """Nothing to connect to."""

    def attach(self, service: Service) -> None:
        """Nothing to exchange with."""

    async def close(self) -> None:
        """Nothing to disconnect."""


class Service:
    """Runs the loop of every project: scoring, routing, learning, snapshots."""

    def __init__(
        self, settings: Settings, store: Store | None = None, link: Link | None = None
    ) -> None:
        self.settings = settings
        self.store = store or Store(
            settings.database_url, busy_timeout=settings.database_busy_timeout_seconds
        )
        self.link: Link = link or Embedded()
        self.journal = Journal(self.store)
        self._projects: dict[str, ProjectRuntime] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        #: Called with each project created while running.
        self.project_listeners: list[Callable[[ProjectRuntime], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        #: True once :meth:`start` finished and until :meth:`stop` begins.
        self.ready = False
        #: True once :meth:`stop` began: a project still opening is not started.
        self._stopping = False

    async def start(self) -> None:
        """Recover every project and start serving."""
        await self.link.open()  # on Kafka: follows the learners' outcomes before any label
        interrupted = await self.store.run(self.store.end_open_leases)
        if interrupted:
            log.info("%d leases left open by the last run were ended", interrupted)
        self.journal.start()
        await self.refresh()
        self._tasks = [asyncio.create_task(self._snapshot_loop(), name="snapshots")]
        if self.store.shared:
            self._tasks.append(asyncio.create_task(self._resync_loop(), name="resync"))
        self.link.attach(self)
        self.ready = True

    async def stop(self) -> None:
        """Finish in-flight acknowledgements, snapshot every model, release resources."""
        self.ready = False
        self._stopping = True
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for runtime in list(self._projects.values()):
            await runtime.close()  # on Kafka: waits for the outcomes of labels in flight
            await runtime.learner.snapshot()
        await self.journal.close()
        await self.link.close()
        self.store.close()

    async def tokens(self) -> tuple[dict[str, Principal], bool]:
        """The API tokens in force, by digest, and whether any token was ever made."""
        tokens = self.store.tokens
        return await self.store.run(lambda: (tokens.in_force(), tokens.ever_made()))

    async def create_project(self, spec: dict[str, Any]) -> ProjectRecord:
        """Store a new project and start its loop (409 if the name exists)."""
        record = await self.store.run(self.store.create_project, **spec)
        runtime = await self._open(record)
        if runtime is not None:
            for listener in self.project_listeners:
                listener(runtime)
        return record

    async def update_project(self, name: str, changes: dict[str, Any]) -> ProjectRecord:
        """Change what a project's annotators are shown (``changes``, checked); its runtime
        here takes the new record and tells whoever listens. Other processes sharing the
        store take it at their next resync."""
        record = await self.store.run(self.store.update_project, name, changes)
        self.project(name).adopt(record)
        return record

    async def refresh(self) -> list[ProjectRuntime]:
        """Open the stored projects not running here (another process created them); returns
        those this call opened."""
        opened = []
        for record in await self.store.run(self.store.list_projects):
            if record.name not in self._projects:
                runtime = await self._open(record)
                if runtime is not None:
                    opened.append(runtime)
        return opened

    @functools.cached_property
    def _learners(self) -> LearnerFactory:
        """Makes each project's learner; asked for when the first project opens."""
        return self.link.learners(self.store, self.settings)

    async def _open(self, record: ProjectRecord) -> ProjectRuntime | None:
        """Open a project's runtime, once: None if it is open already (two refreshes may race
        for a project another process created; only one may make its learner), or if the
        service began to stop while it was opening."""
        async with self._opening.setdefault(record.name, asyncio.Lock()):
            if record.name in self._projects:
                return None
            runtime = await ProjectRuntime.open(
                record, self.store, self.settings, self.journal, self._learners
            )
            from streamloop.streams.learner import load_steps  # imported with the learners

            await load_steps(runtime.model)  # before its first event or label
            if self._stopping:  # stopped meanwhile: nothing started, nothing to close
                return None
            runtime.start()
            self._projects[record.name] = runtime
            pauses.keep()  # the libraries its model imported last
            return runtime

    def project(self, name: str) -> ProjectRuntime:
        """A running project (404 if unknown)."""
        try:
            return self._projects[name]
        except KeyError:
            raise NotFound(f"no project named {name!r}", code="unknown_project") from None

    def projects(self) -> list[ProjectRuntime]:
        """Every running project, oldest first."""
        return sorted(self._projects.values(), key=lambda runtime: runtime.record.id)

    async def _snapshot_loop(self) -> None:
        while True:
            await asyncio.sleep(_SNAPSHOT_CHECK_SECONDS)
            if not self._projects:
                continue  # nothing to snapshot, and no learner imported yet
            from streamloop.streams.learner import snapshot_due

            await snapshot_due({name: r.learner for name, r in self._projects.items()})

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            for runtime in list(self._projects.values()):
                try:
                    await runtime.resync()
                except Exception:
                    log.exception("resync of project %s failed", runtime.record.name)
