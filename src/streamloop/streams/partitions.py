"""The learners of a worker: one per project whose labels partition the worker holds.

The labels topic is keyed by project, so each project's labels reach one worker, in order. Its
learner there is the same :class:`~streamloop.streams.learner.LocalLearner` the embedded
service runs: group commits, learning in commit order, snapshots. It is fenced, because a partition
moves when workers come and go: a learner that finds labels stored by its predecessor learns
those first. After each batch the project's new model is published (at most one publication
in flight per project, the newest version always last).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from streamloop.config import Settings
from streamloop.store import LabelOutcome, NewLabel, Store
from streamloop.streams.learner import LocalLearner, local_learners, rebuild_model, snapshot_due

__all__ = ["ProjectLearners"]

log = logging.getLogger(__name__)

#: Publishes (project, version, model snapshot) on the models topic.
PublishModel = Callable[[str, int, bytes], Awaitable[None]]


class ProjectLearners:
    """Learns the labels of the projects whose partitions this worker holds."""

    def __init__(self, store: Store, settings: Settings, publish: PublishModel) -> None:
        self.store = store
        self.settings = settings
        self.publish = publish
        self.published: dict[str, int] = {}
        # Fenced: a partition moves when workers come and go (see the module's docstring).
        self._make = local_learners(store, settings, fenced=True)
        self._learners: dict[str, LocalLearner] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self._dirty: set[str] = set()
        self._publishing: dict[str, asyncio.Task[None]] = {}

    async def learn(self, project: str, labels: Sequence[NewLabel]) -> list[LabelOutcome]:
        """Store and learn a project's labels, in order; their outcomes."""
        learner = await self._learner(project)
        return await learner.submit(labels)

    async def snapshot_due(self) -> None:
        """Snapshot each model the snapshot policy says is due."""
        await snapshot_due(self._learners)

    async def close(self) -> None:
        for learner in self._learners.values():
            await learner.close()
            await learner.snapshot()
        for task in list(self._publishing.values()):
            task.cancel()

    async def _learner(self, name: str) -> LocalLearner:
        learner = self._learners.get(name)
        if learner is not None:
            return learner
        async with self._opening.setdefault(name, asyncio.Lock()):
            if name not in self._learners:
                record = await self.store.run(self.store.project, name)
                rebuilt = await rebuild_model(self.store, record)
                learner = self._make(record, rebuilt, lambda _outcomes: self._schedule(name))
                learner.start()
                self._learners[name] = learner
                log.info("learning project %s from model version %d", name, rebuilt.model.version)
            return self._learners[name]

    def _schedule(self, name: str) -> None:
        self._dirty.add(name)
        if name not in self._publishing:
            self._publishing[name] = asyncio.create_task(self._publish(name))

    async def _publish(self, name: str) -> None:
        try:
            while name in self._dirty:
                self._dirty.discard(name)
                version, blob = await self._learners[name].model_blob()
                if self.published.get(name, -1) >= version:
                    continue
                await self.publish(name, version, blob)
                self.published[name] = version
        except Exception:
            log.exception("publishing the model of %s failed", name)
        finally:
            self._publishing.pop(name, None)
