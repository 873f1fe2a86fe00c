"""The service alone: projects opened once, whoever asks, with the link's learners."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from streamloop.config import Settings
from streamloop.errors import InvalidInput, NotFound, NotReady
from streamloop.online import OnlineModel, compiled
from streamloop.store import ProjectRecord, Store
from streamloop.streams import Embedded, Service
from streamloop.streams.learner import Learner, LearnerFactory, OnLearned, Rebuilt
from streamloop.streams.project import ProjectRuntime
from support import make_project


class CountingLink(Embedded):
    """The embedded link, counting the learners it makes (one per project opened)."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def learners(self, store: Store, settings: Settings) -> LearnerFactory:
        local = super().learners(store, settings)

        def make(record: ProjectRecord, rebuilt: Rebuilt, on_learned: OnLearned) -> Learner:
            self.made.append(record.name)
            return local(record, rebuilt, on_learned)

        return make


async def test_a_project_another_process_created_is_opened_once_by_racing_refreshes(
    tmp_path: Path,
):
    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    link = CountingLink()
    service = Service(settings, link=link)
    await service.start()
    try:
        # Created in the store as another process would: this one learns of it by refreshing,
        # and on Kafka two tasks may do so at once (the outcomes follower, the route agent).
        await service.store.run(make_project, service.store, "elsewhere")
        first, second = await asyncio.gather(service.refresh(), service.refresh())
        assert len(first) + len(second) == 1  # opened by one of them
        assert link.made == ["elsewhere"]  # one learner: the one outcomes will reach
        [opened] = first + second
        assert service.project("elsewhere") is opened
        assert isinstance(opened.model, OnlineModel)
    finally:
        await service.stop()


#: Longest a test waits for the other thread before failing (a bound, not a pace).
_PATIENCE = 30.0


class HeldLoad:
    """`compiled.load` held in its thread until released, as if numba took its time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: list[str] = []
        monkeypatch.setattr(compiled, "loaded", lambda: False)
        monkeypatch.setattr(compiled, "load", self.load)

    def load(self) -> None:
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        assert self.release.wait(_PATIENCE), "never released"

    async def started(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, _PATIENCE), "never loaded"


async def test_a_project_opens_once_its_compiled_learning_steps_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Loading them imports numba, which holds the interpreter's lock for most of half a
    # second: paid before the project takes its first event or label, not under them.
    held = HeldLoad(monkeypatch)
    service = Service(Settings.from_env({}, data_dir=tmp_path / "data"))
    await service.start()
    try:
        await service.store.run(make_project, service.store, "tickets")
        opening = asyncio.create_task(service.refresh())
        await held.started()
        assert not opening.done()
        with pytest.raises(NotFound):  # takes nothing yet
            service.project("tickets")
        held.release.set()
        [opened] = await opening
        assert service.project("tickets") is opened
        assert compiled.uses_compiled(opened.model)
        assert held.threads and threading.current_thread().name not in held.threads
    finally:
        held.release.set()
        await service.stop()


async def test_a_project_still_loading_when_the_service_stops_is_never_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    held = HeldLoad(monkeypatch)
    link = CountingLink()
    service = Service(Settings.from_env({}, data_dir=tmp_path / "data"), link=link)
    await service.start()
    await service.store.run(make_project, service.store, "tickets")
    opening = asyncio.create_task(service.refresh())
    await held.started()
    await service.stop()
    held.release.set()
    assert await opening == []  # neither started nor kept: nothing left running
    assert link.made == ["tickets"]
    with pytest.raises(NotFound):
        service.project("tickets")
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("learner-")]


async def test_an_event_the_model_cannot_score_refuses_its_batch_before_anything_is_stored(
    tmp_path: Path,
):
    # The web layer checks data first (ws/payloads.check_data); this is the runtime's own guard,
    # the one rule (streams/arrivals.score) a worker dead-letters by.
    service = Service(Settings.from_env({}, data_dir=tmp_path / "data"))
    await service.start()
    try:
        await service.store.run(make_project, service.store, "tickets")
        await service.refresh()
        runtime = service.project("tickets")
        with pytest.raises(InvalidInput, match=r"events\.1\.data: text items need"):
            await runtime.ingest([("e1", {"text": "charged twice"}), ("e2", {"words": 3})])
        assert await service.store.run(service.store.count_events, runtime.record.id) == 0
        assert runtime.events_total == 0 and len(runtime.queue) == 0
    finally:
        await service.stop()


async def _a_full_queue_of_two(tmp_path: Path) -> tuple[Service, ProjectRuntime]:
    """A service whose project's queue (of two) is full of texts that mix two labels, and
    whose model is sure of "charged twice for my invoice" and unsure of "hello there"."""
    settings = Settings.from_env({}, data_dir=tmp_path / "data", queue_capacity=2)
    service = Service(settings)
    await service.start()
    await service.store.run(make_project, service.store, "tickets")
    await service.store.run(service.store.update_project, "tickets", {"exploration": 0.0})
    await service.refresh()
    runtime = service.project("tickets")
    for _ in range(20):
        runtime.model.learn({"text": "charged twice for my invoice"}, "a")
        runtime.model.learn({"text": "the app crashed on start"}, "b")
    mixed = {"text": "charged twice, and the app crashed"}
    await runtime.ingest([("e1", mixed), ("e2", mixed)])
    floor = runtime.queue.admission_floor()
    assert floor is not None
    assert runtime.model.predict({"text": "charged twice for my invoice"}).uncertainty < floor
    assert runtime.model.predict({"text": "hello there"}).uncertainty >= floor
    return service, runtime


def _statuses(service: Service) -> dict[str, str]:
    with service.store.engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT event_id, status FROM items").all())


async def test_an_event_a_full_queue_would_shed_on_arrival_is_stored_as_shed_in_one_write(
    tmp_path: Path,
):
    service, runtime = await _a_full_queue_of_two(tmp_path)
    try:
        marked: list[list[int]] = []
        runtime.leasing.journal.items_shed = marked.append  # type: ignore[method-assign]
        (scored,) = await runtime.ingest([("e3", {"text": "charged twice for my invoice"})])
        assert not scored.queued
        # Stored as shed by the insert itself: nothing marks it shed afterwards.
        assert _statuses(service) == {"e1": "queued", "e2": "queued", "e3": "shed"}
        assert marked == []
        assert runtime.queue.counters.shed == 1
        assert {item.event_id for item in runtime.queue.waiting_items()} == {"e1", "e2"}
    finally:
        await service.stop()


async def test_a_slot_freed_while_events_are_stored_as_shed_goes_to_the_best_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    service, runtime = await _a_full_queue_of_two(tmp_path)
    try:
        run = service.store.run

        async def labelled_meanwhile(fn: Any, *args: Any, **kwargs: Any) -> Any:
            result = await run(fn, *args, **kwargs)
            if fn == service.store.insert_events:
                # While the batch was being stored, e1 was labelled: one slot is free.
                runtime.queue.remove(runtime.queue.find("e1"))
            return result

        monkeypatch.setattr(service.store, "run", labelled_meanwhile)
        sure = {"text": "charged twice for my invoice"}
        unsure = {"text": "charged twice"}
        floor = runtime.queue.admission_floor()
        assert floor is not None
        assert floor > runtime.model.predict(unsure).uncertainty
        assert runtime.model.predict(unsure).uncertainty > runtime.model.predict(sure).uncertainty
        scored = await runtime.ingest([("e3", sure), ("e4", unsure)])
        monkeypatch.undo()
        assert [s.queued for s in scored] == [False, True]
        assert _statuses(service) == {"e1": "queued", "e2": "queued", "e3": "shed", "e4": "queued"}
        assert {item.event_id for item in runtime.queue.waiting_items()} == {"e2", "e4"}
        assert runtime.queue.counters.shed == 1
    finally:
        await service.stop()


async def test_a_store_failing_to_readmit_leaves_those_events_shed_and_the_batch_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    service, runtime = await _a_full_queue_of_two(tmp_path)
    try:
        run = service.store.run

        async def failing_to_readmit(fn: Any, *args: Any, **kwargs: Any) -> Any:
            if fn == service.store.readmit:
                raise NotReady("the database is locked", code="store_unavailable")
            result = await run(fn, *args, **kwargs)
            if fn == service.store.insert_events:
                runtime.queue.remove(runtime.queue.find("e1"))  # labelled meanwhile
            return result

        monkeypatch.setattr(service.store, "run", failing_to_readmit)
        # e3 is turned away on arrival; e4 is more uncertain than what waits, and is queued.
        scored = await runtime.ingest(
            [("e3", {"text": "charged twice for my invoice"}), ("e4", {"text": "hello there"})]
        )
        monkeypatch.undo()
        assert [s.queued for s in scored] == [False, True]
        assert _statuses(service) == {"e1": "queued", "e2": "queued", "e3": "shed", "e4": "queued"}
        assert {item.event_id for item in runtime.queue.waiting_items()} == {"e2", "e4"}
    finally:
        await service.stop()


async def test_an_event_labelled_before_it_is_readmitted_stays_labelled_and_out_of_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    service, runtime = await _a_full_queue_of_two(tmp_path)
    try:
        run = service.store.run

        async def labelled_first(fn: Any, *args: Any, **kwargs: Any) -> Any:
            if fn == service.store.readmit:
                # Production's label for e3, sent as soon as e3 was stored, is stored first.
                await runtime.label_events([("e3", "a", None, None)])
            result = await run(fn, *args, **kwargs)
            if fn == service.store.insert_events:
                runtime.queue.remove(runtime.queue.find("e1"))  # labelled meanwhile
            return result

        monkeypatch.setattr(service.store, "run", labelled_first)
        [scored] = await runtime.ingest([("e3", {"text": "charged twice for my invoice"})])
        monkeypatch.undo()
        assert not scored.queued
        assert _statuses(service)["e3"] == "labelled"
        assert {item.event_id for item in runtime.queue.waiting_items()} == {"e2"}
    finally:
        await service.stop()
