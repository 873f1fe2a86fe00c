"""The learners of a worker: one per project whose labels partition the worker holds.

The labels topic is keyed by project, so each project's labels reach one worker, in order. Its
learner there is the same :class:`~streamloop.streams.learner.LocalLearner` the embedded
service runs: group commits, learning in commit order, snapshots. It is fenced, because a partition
moves when workers come and go: a learner that finds labels stored by its predecessor learns
those first. After each batch the project's new model is published (at most one publication
in flight per project, the newest version always last). A quarantine or release, a control
record among the labels, rebuilds the model here (`streamloop.streams.quarantine`) while the
labels that follow go on being learned, and publishes it the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from streamloop.config import Settings
from streamloop.errors import Forbidden
from streamloop.store import LabelOutcome, NewLabel, Store
from streamloop.streams import pauses
from streamloop.streams.learner import (
    LocalLearner,
    load_steps,
    local_learners,
    rebuild_model,
    snapshot_due,
)
from streamloop.streams.promotion import answer_of, promote
from streamloop.streams.quarantine import State, rebuild, store_state

__all__ = ["ProjectLearners"]

log = logging.getLogger(__name__)

#: Publishes (project, version, model snapshot) on the models topic.
PublishModel = Callable[[str, int, bytes], Awaitable[None]]


#: Seconds a stopping worker waits for its last models to be published (the broker may be
#: gone; the worker's whole stop is bounded by `streamloop.cli.STOP_DEADLINE`).
PUBLISH_WAIT_SECONDS = 5.0


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
        #: Per project, the annotators whose labels do not count (refused here, whichever
        #: web process sent them), and one rebuild at a time.
        self._quarantined: dict[str, set[str]] = {}
        self._rebuilding: dict[str, asyncio.Lock] = {}

    async def learn(self, project: str, labels: Sequence[NewLabel]) -> list[LabelOutcome]:
        """Store and learn a project's labels, in order; their outcomes. A quarantined
        annotator's are refused (403 ``quarantined``)."""
        learner = await self._learner(project)
        quarantined = self._quarantined.get(project, set())
        counted = [label for label in labels if label.annotator not in quarantined]
        learned = iter(await learner.submit(counted) if counted else [])
        return [
            next(learned)
            if label.annotator not in quarantined
            else LabelOutcome(
                label=label,
                error=Forbidden(
                    f"{label.annotator!r} is quarantined in this project", code="quarantined"
                ),
            )
            for label in labels
        ]

    def begin_change(
        self, project: str, annotator: str, target: State
    ) -> asyncio.Task[dict[str, Any]]:
        """Start `change`; a quarantined annotator's labels are refused from now on, before
        any of theirs that follow on the labels topic."""
        if target == "quarantined":
            self._quarantined.setdefault(project, set()).add(annotator)
        return asyncio.create_task(self.change(project, annotator, target))

    async def change(self, project: str, annotator: str, target: State) -> dict[str, Any]:
        """Quarantine (``target`` "quarantined") or release ("active") ``annotator``: the
        state stored, the model rebuilt and published (`streamloop.streams.quarantine`). The
        answer for the web process: ``{"annotator", "state", "model_version", "back",
        "again"}`` (the ids of the items back in the queue, or labelled again)."""
        learner = await self._learner(project)
        async with self._rebuilding.setdefault(project, asyncio.Lock()):
            record = await self.store.run(self.store.project, project)
            quarantined = self._quarantined.setdefault(project, set())
            if target == "quarantined":
                quarantined.add(annotator)  # refused from now on: the rebuild leaves them out
            back, again = await store_state(self.store, record, learner, annotator, target)
            model = await rebuild(self.store, record, learner, lambda _model: None)
            if target == "active":
                quarantined.discard(annotator)
            self._schedule(project)
            log.warning(
                "project %s: %s %s; model version %d rebuilt",
                project,
                annotator,
                target,
                model.version,
            )
        return {
            "annotator": annotator,
            "state": target,
            "model_version": model.version,
            "back": [item.id for item in back],
            "again": again,
        }

    async def promote(self, project: str, name: str) -> dict[str, Any]:
        """Serve ``project`` with its challenger ``name`` (`streamloop.streams.promotion`),
        published as the next version. The answer for the web process: ``{"model",
        "model_version", "challengers"}``."""
        learner = await self._learner(project)
        async with self._rebuilding.setdefault(project, asyncio.Lock()):
            record = await self.store.run(self.store.project, project)
            record, model = await promote(self.store, record, learner, name, lambda _model: None)
            self._schedule(project)
        return answer_of(record, model)

    async def snapshot_due(self) -> None:
        """Snapshot each model the snapshot policy says is due."""
        await snapshot_due(self._learners)

    async def close(self) -> None:
        for learner in self._learners.values():
            await learner.close()
            await learner.snapshot()
        # The last labels' model goes out before the producer stops: cancelled, the other
        # processes would serve the version before until the project's next label.
        publishing = list(self._publishing.values())
        if publishing:
            _done, late = await asyncio.wait(publishing, timeout=PUBLISH_WAIT_SECONDS)
            for task in late:
                log.warning("a model was not published within %g s", PUBLISH_WAIT_SECONDS)
                task.cancel()

    async def _learner(self, name: str) -> LocalLearner:
        learner = self._learners.get(name)
        if learner is not None:
            return learner
        async with self._opening.setdefault(name, asyncio.Lock()):
            if name not in self._learners:
                record = await self.store.run(self.store.project, name)
                rebuilt = await rebuild_model(self.store, record)
                await load_steps(rebuilt.model)  # before its first label
                self._quarantined[name] = await self.store.run(self.store.quarantined, record.id)
                learner = self._make(record, rebuilt, lambda _outcomes: self._schedule(name))
                learner.start()
                self._learners[name] = learner
                pauses.keep()  # the libraries its model imported last
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
