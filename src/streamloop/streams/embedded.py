"""The embedded engine: the whole loop in this process, on asyncio, with one SQL store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from streamloop.config import Settings
from streamloop.errors import NotFound
from streamloop.store import ProjectRecord, Store
from streamloop.store.journal import Journal
from streamloop.store.tokens import Principal
from streamloop.streams.engine import Engine
from streamloop.streams.project import ProjectRuntime, RemoteFactory

__all__ = ["EmbeddedEngine"]

log = logging.getLogger(__name__)

#: How often the snapshot policy is checked.
_SNAPSHOT_CHECK_SECONDS = 1.0
#: How often a process sharing its store looks there for items released by the others.
RESYNC_SECONDS = 5.0


class EmbeddedEngine(Engine):
    """Every project's loop in one process: the default, nothing to install."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        remote: RemoteFactory | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or Store(
            settings.database_url, busy_timeout=settings.database_busy_timeout_seconds
        )
        #: With --broker: each project's learner runs in a worker; this makes its stand-in.
        self.remote = remote
        self.journal = Journal(self.store)
        self._projects: dict[str, ProjectRuntime] = {}
        #: Called with each project created while running.
        self.project_listeners: list[Callable[[ProjectRuntime], None]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        interrupted = await self.store.run(self.store.end_open_leases)
        if interrupted:
            log.info("%d leases left open by the last run were ended", interrupted)
        self.journal.start()
        await self.refresh()
        self._tasks = [asyncio.create_task(self._snapshot_loop(), name="snapshots")]
        if self.store.shared:
            self._tasks.append(asyncio.create_task(self._resync_loop(), name="resync"))
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for runtime in self._projects.values():
            await runtime.close()
            await runtime.snapshot()
        await self.journal.close()
        self.store.close()

    async def tokens(self) -> tuple[dict[str, Principal], bool]:
        tokens = self.store.tokens
        return await self.store.run(lambda: (tokens.in_force(), tokens.ever_made()))

    async def create_project(self, spec: dict[str, Any]) -> ProjectRecord:
        record = await self.store.run(self.store.create_project, **spec)
        runtime = await self._open(record)
        for listener in self.project_listeners:
            listener(runtime)
        return record

    async def refresh(self) -> list[ProjectRuntime]:
        """Open the stored projects not running here (another process created them)."""
        opened = []
        for record in await self.store.run(self.store.list_projects):
            if record.name not in self._projects:
                opened.append(await self._open(record))
        return opened

    async def _open(self, record: ProjectRecord) -> ProjectRuntime:
        runtime = await ProjectRuntime.open(
            record, self.store, self.settings, self.journal, self.remote
        )
        if record.name in self._projects:  # opened meanwhile by a concurrent refresh
            return self._projects[record.name]
        runtime.start()
        self._projects[record.name] = runtime
        return runtime

    def project(self, name: str) -> ProjectRuntime:
        try:
            return self._projects[name]
        except KeyError:
            raise NotFound(f"no project named {name!r}", code="unknown_project") from None

    def projects(self) -> list[ProjectRuntime]:
        return sorted(self._projects.values(), key=lambda runtime: runtime.record.id)

    async def _snapshot_loop(self) -> None:
        while True:
            await asyncio.sleep(_SNAPSHOT_CHECK_SECONDS)
            now = time.monotonic()
            for runtime in list(self._projects.values()):
                if runtime.snapshot_due(now):
                    try:
                        await runtime.snapshot()
                    except Exception:
                        log.exception("snapshot of project %s failed", runtime.record.name)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            for runtime in list(self._projects.values()):
                try:
                    await runtime.resync()
                except Exception:
                    log.exception("resync of project %s failed", runtime.record.name)
