"""``streamloop demo``: its three projects are created and fed, each with answers its task takes."""

from __future__ import annotations

from pathlib import Path

from streamloop.config import Settings
from streamloop.demo import DEMO_PROJECTS, EntitiesGenerator, run_demo
from streamloop.online import SpanModel
from streamloop.streams import Service


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
