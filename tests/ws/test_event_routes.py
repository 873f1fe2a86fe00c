"""``POST /events`` routes a pool-mode batch at once (`arrivals.routes`): the same routes, from
the same random draws, as routing each arrival alone (`arrivals.route`)."""

from __future__ import annotations

import dataclasses
import random

import pytest

from streamloop.online import OnlineModel
from streamloop.store import ProjectRecord
from streamloop.store.tables import utcnow
from streamloop.streams import arrivals


def record(strategy: str, exploration: float) -> ProjectRecord:
    fields = {f.name: None for f in dataclasses.fields(ProjectRecord) if f.init}
    fields.update(
        id=1,
        name="p",
        labels=("a", "b"),
        input="text",
        model="logistic_regression",
        strategy=strategy,
        exploration=exploration,
        seed=7,
        created_at=utcnow(),
    )
    return ProjectRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["margin", "random"])
@pytest.mark.parametrize("exploration", [0.0, 0.2, 1.0])
def test_a_batch_is_routed_as_each_arrival_alone(strategy: str, exploration: float):
    project = record(strategy, exploration)
    model = OnlineModel(
        labels=["a", "b"], input_kind="text", preset="logistic_regression", strategy="margin"
    )
    prediction = model.predict({"text": "hello"})
    one, batch = random.Random(3), random.Random(3)
    alone = [arrivals.route(project, model, prediction, one) for _ in range(500)]
    assert arrivals.routes(project, model, 500, batch) == alone
    assert one.random() == batch.random()  # as many draws
