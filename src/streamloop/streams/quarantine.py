"""Taking an annotator's labels out of a project's model (quarantine) and putting them back
(release), by rebuilding the model from the labels that count.

The rebuild replays the project's stored labels that count (`streamloop.store.annotators`) onto
a new model off the event loop, while the served model keeps predicting and learning. Then,
under the learner's lock, the labels learned meanwhile are replayed onto it too, and it is
swapped in as a new version, one past the served one, so versions only ever grow; a snapshot
follows at once. The state is stored first, in the transaction that deletes the project's
snapshots (they hold the labels that now count differently): a restart before the new
snapshot rebuilds by full replay of what counts.

While quarantined, an annotator is offered nothing and their labels are refused (403
``quarantined``); the items their labels were counted for go back to the queue for others.
Their answers to gold items still score them. A release counts their labels again, except on
the items someone else labelled meanwhile (those stay as the other labelled them).

With ``--broker`` the learner is in a worker: the web process sends a control record on the
labels topic (`RemoteLearner.change`), the worker stores the state and rebuilds
(`streamloop.streams.partitions.ProjectLearners.change`, with `store_state` and `rebuild`), then
publishes the version, which the web process waits for before it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from streamloop.errors import Conflict, Forbidden, NotFound, NotReady
from streamloop.online import AnyModel
from streamloop.store import ItemRecord, ProjectRecord, ReplayLabel, Store
from streamloop.streams.learner import LocalLearner, learn_replayed, new_model
from streamloop.streams.notices import LeaseRevoked
from streamloop.streams.remote import REBUILD_TIMEOUT, RemoteLearner

if TYPE_CHECKING:
    from streamloop.streams.project import ProjectRuntime

__all__ = ["GOLD_ANSWERS_MIN", "Quarantine", "State", "rebuild", "store_state"]

log = logging.getLogger(__name__)

#: Gold answers an annotator must have given before ``gold_min_accuracy`` may quarantine them:
#: checked after every answer, a bound alone would now and then quarantine a good annotator
#: on an early wrong answer (at a floor of 0.8, one wrong first answer is "surely" below it).
GOLD_ANSWERS_MIN = 20

State = Literal["active", "rebuilding", "quarantined"]


class Quarantine:
    """The annotators of one project whose labels do not count, and the rebuilds that take
    them out of (or put them back into) the model."""

    def __init__(self, runtime: ProjectRuntime) -> None:
        self.runtime = runtime
        #: Annotators not active (quarantined, or being rebuilt without or with).
        self.states: dict[str, State] = {}
        #: One rebuild (or promotion) at a time per project: two would each start from the
        #: other's old model.
        self.rebuilding = asyncio.Lock()
        self._in_flight: Counter[str] = Counter()
        # Set when the last label in flight of an annotator being quarantined is answered.
        self._drained: dict[str, asyncio.Event] = {}
        self._automatic: set[asyncio.Task[Any]] = set()
        # Annotators set "rebuilding" by `gold_scored` whose rebuild has not begun: active.
        self._automatic_for: set[str] = set()

    def load(self, quarantined: set[str]) -> None:
        """The annotators stored as quarantined, at start."""
        self.states = dict.fromkeys(sorted(quarantined), "quarantined")
        self.runtime.leasing.benched |= quarantined

    def state(self, annotator: str) -> State:
        return self.states.get(annotator, "active")

    @contextlib.contextmanager
    def labelling(self, annotator: str) -> Iterator[None]:
        """Held while a label of ``annotator`` is stored and learned; refused (403
        ``quarantined``) while their labels do not count, or are being rebuilt either way."""
        if annotator in self.states:
            raise Forbidden(
                f"{annotator!r} is quarantined in this project: their labels do not count",
                code="quarantined",
            )
        self._in_flight[annotator] += 1
        try:
            yield
        finally:
            self._in_flight[annotator] -= 1
            if not self._in_flight[annotator]:
                del self._in_flight[annotator]
                drained = self._drained.pop(annotator, None)
                if drained is not None:
                    drained.set()

    def gold_scored(self, annotator: str) -> None:
        """``annotator``'s gold score changed: quarantine them, in the background, once their
        gold accuracy is surely below the project's ``gold_min_accuracy`` (the upper bound of
        its 95% interval is) with at least `GOLD_ANSWERS_MIN` answers."""
        floor = self.runtime.record.gold_min_accuracy
        if floor is None or annotator in self.states:
            return
        report = self.runtime.leasing.gold.report(annotator)
        if report is None or report["answered"] < GOLD_ANSWERS_MIN or report["high"] >= floor:
            return
        if not isinstance(self.runtime.learner, LocalLearner | RemoteLearner):
            log.warning(
                "project %s: %s's gold accuracy is surely under %.2f, but this learner cannot "
                "rebuild the model",
                self.runtime.record.name,
                annotator,
                floor,
            )
            return
        log.warning(
            "project %s: %s's gold accuracy is %.2f (at most %.2f), under %.2f: quarantining",
            self.runtime.record.name,
            annotator,
            report["accuracy"],
            report["high"],
            floor,
        )
        # Their next label is refused already; the rebuild follows.
        self._automatic_for.add(annotator)
        self.states[annotator] = "rebuilding"
        self.runtime.leasing.benched.add(annotator)
        task = asyncio.get_running_loop().create_task(self._quarantine_now(annotator))
        self._automatic.add(task)
        task.add_done_callback(self._automatic.discard)

    async def _quarantine_now(self, annotator: str) -> None:
        try:
            await self.change(annotator, quarantine=True)
        except Exception:
            log.exception("project %s: quarantining %s failed", self.runtime.record.name, annotator)

    async def close(self) -> None:
        """Stop the automatic quarantines under way (a restart rebuilds from what is stored)."""
        for task in list(self._automatic):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def change(self, annotator: str, *, quarantine: bool) -> dict[str, Any]:
        """Quarantine or release ``annotator``, rebuilding the model; the contract's answer,
        once the rebuilt model serves."""
        runtime = self.runtime
        learner = runtime.learner
        if not isinstance(learner, LocalLearner | RemoteLearner):
            raise Conflict(
                "quarantine and release rebuild the model where it is learned, and this "
                "project's learner cannot",
                code="not_supported_scaled_out",
                retryable=False,
            )
        target: State = "quarantined" if quarantine else "active"
        known = annotator in self.states or annotator in runtime.leasing.online()
        if not known and not await runtime.store.run(
            runtime.store.annotator_known, runtime.record.id, annotator
        ):
            raise NotFound(
                f"no annotator {annotator!r} has labelled in this project", code="unknown_annotator"
            )
        async with self.rebuilding:
            if self.state(annotator) == target:
                return self._answer(annotator)
            leasing = runtime.leasing
            before = self.states.get(annotator)
            if annotator in self._automatic_for:
                self._automatic_for.discard(annotator)
                before = None
            self.states[annotator] = "rebuilding"
            if quarantine:
                leasing.benched.add(annotator)
                self._take_back(annotator)
            runtime._changed()
            stored = False
            try:
                # Their labels already submitted are stored first: then the items to requeue
                # and the labels to leave out are all known.
                if self._in_flight[annotator]:
                    await self._drained.setdefault(annotator, asyncio.Event()).wait()
                if isinstance(learner, RemoteLearner):
                    # Stored and rebuilt by the learner, in a worker; served here once its
                    # version arrives on the models topic.
                    answer = await learner.change(
                        annotator, "quarantine" if quarantine else "release"
                    )
                    stored = True
                    await self._moved(answer["back"], answer["again"])
                    await self.serving(int(answer["model_version"]))
                else:
                    await self._store(learner, annotator, target)
                    stored = True
                    await self._rebuild(learner)
            except BaseException:
                if not stored:  # nothing changed: as it was
                    self._restore(annotator, before)
                # Else the stored state is the target but the old model serves: "rebuilding"
                # until the same request succeeds (or a restart rebuilds from the store).
                raise
            if quarantine:
                self.states[annotator] = "quarantined"
            else:
                del self.states[annotator]
                leasing.benched.discard(annotator)
                for session in leasing.sessions_of(annotator):
                    leasing.fill(session)
            log.warning(
                "project %s: %s %s; model version %d rebuilt %s their labels",
                runtime.record.name,
                annotator,
                target if quarantine else "released",
                runtime.model.version,
                "without" if quarantine else "with",
            )
            runtime._changed()
            return self._answer(annotator)

    def _restore(self, annotator: str, state: State | None) -> None:
        if state is None:
            self.states.pop(annotator, None)
            self.runtime.leasing.benched.discard(annotator)
            for session in self.runtime.leasing.sessions_of(annotator):
                self.runtime.leasing.fill(session)
        else:
            self.states[annotator] = state

    def _answer(self, annotator: str) -> dict[str, Any]:
        return {
            "annotator": annotator,
            "state": self.state(annotator),
            "model_version": self.runtime.model.version,
        }

    def _take_back(self, annotator: str) -> None:
        """End the leases ``annotator`` holds: they are told, and the items wait for others."""
        leasing = self.runtime.leasing
        for session in leasing.sessions_of(annotator):
            for lease in list(session.held.values()):
                session.send(LeaseRevoked(lease.item.event_id, "quarantined"))
            leasing.leave(session)
            leasing.join(session)  # still connected; `Leasing.benched` offers them nothing

    async def _store(self, learner: LocalLearner, annotator: str, target: State) -> None:
        """Store ``annotator``'s new state; their items leave or rejoin the queue."""
        runtime = self.runtime
        back, again = await store_state(runtime.store, runtime.record, learner, annotator, target)
        runtime.leasing.requeue(back)
        for item_id in again:
            runtime.leasing.settle(item_id, by=None)
        await runtime.refresh_quality()  # overlapped items they labelled may be in review now
        await runtime.refresh_agreement()  # and their answers count, or not, in agreement

    async def _moved(self, back: Sequence[int], again: Sequence[int]) -> None:
        """The learner sent items ``back`` to the queue and labelled ``again`` others."""
        runtime, store = self.runtime, self.runtime.store
        if back:
            runtime.leasing.requeue(await store.run(store.items_of, runtime.record.id, back))
        for item_id in again:
            runtime.leasing.settle(item_id, by=None)
        await runtime.refresh_quality()
        await runtime.refresh_agreement()

    async def serving(self, version: int) -> None:
        """Return once the served model is ``version`` or newer (hot-swapped from Kafka)."""
        runtime = self.runtime
        arrived = asyncio.Event()

        def check() -> None:
            if runtime.model.version >= version:
                arrived.set()

        check()
        unsubscribe = runtime.subscribe(check)
        try:
            async with asyncio.timeout(REBUILD_TIMEOUT):
                await arrived.wait()
        except TimeoutError:
            raise NotReady(
                f"model version {version} did not arrive within {REBUILD_TIMEOUT:g} s",
                code="learner_timeout",
            ) from None
        finally:
            unsubscribe()

    def heard(self, answer: dict[str, Any]) -> None:
        """A quarantine or release another web process asked for is done: the annotator's
        state here follows (their items are requeued by the process that asked)."""
        annotator = answer.get("annotator")
        if answer.get("error") or not isinstance(annotator, str):
            return
        leasing = self.runtime.leasing
        if answer.get("state") == "quarantined":
            self.states[annotator] = "quarantined"
            leasing.benched.add(annotator)
            self._take_back(annotator)
        elif answer.get("state") == "active" and self.states.get(annotator) == "quarantined":
            self._restore(annotator, None)
        self.runtime._changed()
        self.runtime.later(self.runtime.refresh_agreement(), "refreshing agreement")

    async def _rebuild(self, learner: LocalLearner) -> None:
        await rebuild(self.runtime.store, self.runtime.record, learner, self.runtime.swap_model)


async def store_state(
    store: Store, record: ProjectRecord, learner: LocalLearner, annotator: str, target: State
) -> tuple[list[ItemRecord], list[int]]:
    """Store ``annotator``'s new state (`Store.set_annotator_state`) between two batches of
    ``learner``'s, which snapshots nothing until `rebuild` is done; (items back in the queue,
    items labelled again)."""
    # No label is being stored while items change state, and no snapshot taken before is
    # stored after the commit below deletes them.
    async with learner.saving, learner.lock:
        learner.snapshots_held = True  # from the commit below until the rebuilt model serves
        try:
            return await store.run(store.set_annotator_state, record.id, annotator, target)
        except Exception:  # not stored: the snapshots may go on
            # Cancelled, the store's thread may still commit it: the snapshots stay held, so
            # a model that still holds the annotator's labels is never saved as if rebuilt.
            learner.snapshots_held = False
            raise


async def rebuild(
    store: Store, record: ProjectRecord, learner: LocalLearner, swap: Callable[[AnyModel], None]
) -> AnyModel:
    """Rebuild ``learner``'s model from the labels that count, as stored, off the event loop;
    then, under its lock, learn the labels stored meanwhile, number it the next version,
    ``swap`` it in, and snapshot it."""
    excluded = await store.run(store.quarantined, record.id)
    replay = await store.run(store.replay_labels, record.id, 0, excluded)
    model = await asyncio.to_thread(_replayed, new_model(record), replay)
    last = replay[-1].row_id if replay else 0
    async with learner.lock:
        # The labels stored while it was rebuilt: few, learned on the loop.
        meanwhile = await store.run(store.replay_labels, record.id, last, excluded)
        _replayed(model, meanwhile)
        # Every label up to the newest stored is in it now (a fenced learner may have lagged).
        learner.last_label_id = meanwhile[-1].row_id if meanwhile else last
        # A new version, past the served one; the learner stamps the next labels from it.
        model.advance_to(learner.model.version + 1)
        learner.model = model
        learner.snapshot_version = -1  # owed at once
        learner.snapshots_held = False
        swap(model)
    await learner.snapshot()
    return model


def _replayed(model: AnyModel, labels: Sequence[ReplayLabel]) -> AnyModel:
    """``model`` having learned those of ``labels`` that count, in order (their stored
    versions do not apply: a rebuilt model counts its own)."""
    learn_replayed(model, labels, 0, stamped=False)
    return model
