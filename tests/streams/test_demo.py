"""``streamloop demo``: its three projects are created and fed, each with answers its task takes."""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamloop.config import Settings
from streamloop.demo import (
    DEMO_PROJECT,
    DEMO_PROJECTS,
    EntitiesGenerator,
    TicketGenerator,
    open_demo,
    run_demo,
)
from streamloop.online import SpanModel
from streamloop.streams import AnnotatorSession, Service
from support import RECEIVE_TIMEOUT, ServeProcess


class OnePass(Service):
    """A service the demo sees as ready for one pass of its stream, then stopping."""

    passes = 0

    @property  # type: ignore[override]
    def ready(self) -> bool:
        self.passes += 1
        return self.passes <= 1 and self._started

    @ready.setter
    def ready(self, value: bool) -> None:
        self._started = value


async def test_the_demo_creates_and_feeds_a_project_of_each_task(tmp_path: Path) -> None:
    service = OnePass(Settings.from_env({}, data_dir=tmp_path / "data"))
    await service.start()
    try:
        await run_demo(service, per_second=1000.0)  # returns once the pass is over
        fed = {r.record.name: (r.record.task, r.events_total) for r in service.projects()}
        assert fed == {
            "support-tickets": ("classify", 4),
            "ticket-topics": ("multilabel", 4),
            "ticket-entities": ("spans", 4),
        }
        assert tuple(fed) == DEMO_PROJECTS
    finally:
        await service.stop()


def test_the_demo_entities_are_answers_a_span_model_learns() -> None:
    generator = iter(EntitiesGenerator(seed=3))
    model = SpanModel(labels=EntitiesGenerator.labels)
    seen = set()
    for _ in range(300):  # more than one batch of the corpus
        event_id, data, spans = next(generator)
        seen.add(event_id)
        model.learn(data, spans)
    assert len(seen) == 300 and model.version == 300
    assert model.metrics.report()["f1"] > 0.5  # the messages have something to learn


async def test_the_first_demo_project_answered_truly_for_20_labels_predicts_new_tickets(
    tmp_path: Path,
):
    # As a visitor meets it: the stream runs while they label the items they are given.
    service = Service(Settings.from_env({}, data_dir=tmp_path / "data"))
    await service.start()
    try:
        [(runtime, tickets), *_] = await open_demo(service, seed=0)
        assert runtime.record.name == DEMO_PROJECT
        truths: dict[str, str] = {}

        async def arrive(count: int) -> None:  # as the demo sends them, 4 at a time
            for _ in range(count // 4):
                batch = [next(tickets) for _ in range(4)]
                truths.update((event_id, truth) for event_id, _, truth in batch)
                await runtime.ingest([(event_id, data) for event_id, data, _ in batch])

        await arrive(120)
        session = AnnotatorSession("visitor", prefetch=1, send=lambda _notice: None)
        runtime.leasing.join(session)
        for n in range(20):
            while not session.held:
                await arrive(4)
            [lease] = session.held.values()
            event_id = lease.item.event_id
            await runtime.label(session, event_id, truths[event_id], f"visitor-{n}")
            runtime.leasing.fill(session)
            await arrive(12)
        assert runtime.model.version == 20
        held_out: list[tuple[str, Any, str]] = list(
            itertools.islice(TicketGenerator(seed=1_000_000), 300)
        )
        accuracy = statistics.fmean(
            runtime.model.predict(data).label == truth for _, data, truth in held_out
        )
        # Chance is 0.25 (four topics, drawn alike); the demo's seeds reach 0.7-0.9.
        assert accuracy > 0.6
    finally:
        await service.stop()


@pytest.mark.slow
async def test_the_demo_has_its_projects_when_it_says_it_is_ready(tmp_path: Path) -> None:
    # A script that starts once it reads "ready" (as the README's examples do) finds them.
    server = ServeProcess(["--data-dir", str(tmp_path), "--log-level", "warning"], command="demo")
    try:
        await server.ready()
        async with httpx.AsyncClient(base_url=server.base, timeout=RECEIVE_TIMEOUT) as http:
            listed = (await http.get("/api/projects")).json()["projects"]
    finally:
        assert server.kill() == 0
    assert set(DEMO_PROJECTS) <= {project["name"] for project in listed}
