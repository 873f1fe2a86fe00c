"""``streamloop demo``: its three projects are created and fed, each with answers its task takes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from streamloop.config import Settings
from streamloop.demo import DEMO_PROJECTS, EntitiesGenerator, run_demo
from streamloop.online import SpanModel
from streamloop.streams import Service


async def test_the_demo_creates_and_feeds_a_project_of_each_task(tmp_path: Path) -> None:
    service = Service(Settings.from_env({}, data_dir=tmp_path / "data"))
    await service.start()
    demo = asyncio.create_task(run_demo(service, per_second=1000.0))
    try:

        async def fed() -> None:
            while {r.record.name for r in service.projects() if r.events_total} != set(
                DEMO_PROJECTS
            ):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(fed(), timeout=60)
        tasks = {name: service.project(name).record.task for name in DEMO_PROJECTS}
        assert tasks == {
            "support-tickets": "classify",
            "ticket-topics": "multilabel",
            "ticket-entities": "spans",
        }
    finally:
        demo.cancel()
        await asyncio.gather(demo, return_exceptions=True)
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
