"""The learner: one per project, it stores labels in group commits and learns them in order.

A label is acknowledged only after the transaction holding it has committed, and it is learned
right after that commit, in the order the database gave it (``labels.id``), which is the order a
restart replays. Batching many waiting labels into one transaction keeps the fsync cost per
label small under load while a lone label still commits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from streamloop.errors import NotReady, TooManyRequests
from streamloop.online import OnlineModel
from streamloop.store import LabelOutcome, NewLabel, Store

__all__ = ["Learner"]

log = logging.getLogger(__name__)

_Pending = tuple[NewLabel, "asyncio.Future[LabelOutcome]"]


class Learner:
    """Stores and learns the labels of one project, strictly in order.

    Parameters
    ----------
    on_learned
        Called on the event loop with each committed batch's outcomes, after learning.
    """

    def __init__(
        self,
        *,
        project_id: int,
        model: OnlineModel,
        store: Store,
        last_label_id: int,
        batch_max: int,
        pending_max: int,
        on_learned: Callable[[Sequence[LabelOutcome]], None],
    ) -> None:
        self.project_id = project_id
        self.model = model
        self.store = store
        self.last_label_id = last_label_id
        self.batch_max = batch_max
        self.on_learned = on_learned
        # Held while a batch is being stored and learned; a snapshot holds it too, so the
        # pickled model always matches ``last_label_id``.
        self.lock = asyncio.Lock()
        self._pending: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=pending_max)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: Transactions committed, for the average group-commit size.
        self.commits = 0

    @property
    def backlog(self) -> int:
        return self._pending.qsize()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"learner-{self.project_id}")

    async def submit(self, labels: Sequence[NewLabel]) -> list[LabelOutcome]:
        """Store and learn ``labels``; returns once each is committed (or refused)."""
        if self._closing:
            raise NotReady("the server is shutting down", code="shutting_down")
        if self._pending.maxsize - self._pending.qsize() < len(labels):
            raise TooManyRequests(
                "too many labels are waiting to be learned; retry shortly", code="learner_busy"
            )
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[LabelOutcome]] = []
        for label in labels:
            future: asyncio.Future[LabelOutcome] = loop.create_future()
            self._pending.put_nowait((label, future))
            futures.append(future)
        return list(await asyncio.gather(*futures))

    async def close(self) -> None:
        """Stop taking labels, finish those already submitted, then stop."""
        self._closing = True
        if self._task is None:
            return
        await self._pending.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < self.batch_max and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            try:
                await self._apply(batch)
            except Exception as exc:  # the loop must survive a failing batch
                log.exception("storing a batch of %d labels failed", len(batch))
                error = NotReady(f"the label could not be stored: {exc}", code="store_failed")
                for _label, future in batch:
                    if not future.done():
                        future.set_exception(error)
            finally:
                for _ in batch:
                    self._pending.task_done()

    async def _apply(self, batch: list[_Pending]) -> None:
        async with self.lock:
            labels = [label for label, _future in batch]
            outcomes = await self.store.run(
                self.store.commit_labels, self.project_id, labels, self.model.version
            )
            self.commits += 1
            for outcome in outcomes:
                if outcome.error is None and not outcome.duplicate:
                    self._learn(outcome)
        self.on_learned(outcomes)
        for (_label, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    def _learn(self, outcome: LabelOutcome) -> None:
        assert outcome.data is not None and outcome.row_id is not None
        learned = self.model.learn(
            outcome.data, outcome.label.label, drawn_at_random=outcome.label.drawn_at_random
        )
        if learned.model_version != outcome.model_version:
            # Cannot happen while this learner is the only writer of the project's labels.
            log.error("model version %s != stored %s", learned.model_version, outcome.model_version)
        self.last_label_id = outcome.row_id
