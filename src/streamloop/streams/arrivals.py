"""What happens to production events as they arrive: scored, then routed.

The same functions run in ``serve`` (events over HTTP) and in Kafka workers (events from the
events topic), so both paths score and route alike.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamloop.online import AnyModel, AnyPrediction
from streamloop.online.routing import StreamGate, exploration_now
from streamloop.store import ProjectRecord

__all__ = ["Route", "exploration", "prepare", "project_rng", "route", "routes", "score"]

#: Each seeded random choice of a project draws from a stream of its own: the project's seed
#: plus the choice's offset. The offsets are those of 0.3.0, so a seed draws as it did.
_SEED_OFFSETS = {"queue": 0, "leasing": 1, "gate": 2, "sampling": 3, "gold": 4}


def project_rng(record: ProjectRecord, use: str) -> random.Random:
    """The random stream of one of a project's choices (``queue``, ``leasing``, ``gate``: stream
    mode's admissions, ``sampling``: pool mode's random sample of arrivals, ``gold``: when
    an annotator is offered a gold item, and which)."""
    return random.Random(record.seed + _SEED_OFFSETS[use])


@dataclass(frozen=True, slots=True)
class Route:
    """Where an arrival goes: ``queued`` for annotators, or only ``scored``; and whether it was
    drawn at random (its label is then a fair sample of the stream)."""

    status: str
    drawn_at_random: bool


_QUEUED = Route("queued", False)
_SAMPLED = Route("queued", True)


def exploration(record: ProjectRecord, model: AnyModel) -> float:
    """The exploration share now: the project's, raised while drift is suspected or shown."""
    return exploration_now(record.exploration, model.drift_state)


async def prepare(model: AnyModel, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run, in a thread, the slow work a plugin model (or a challenger) asks for before its
    items are scored on the event loop (`ModelPlugin.prepare`: a sentence encoder embeds
    them). Nothing for the presets. Rows that do not fit the input kind are left out (scoring
    refuses them)."""
    from streamloop.online import plugins
    from streamloop.online.inputs import model_input

    names = [model.preset, *model.challengers]
    if not any(":" in name for name in names):
        return
    inputs = []
    for row in rows:
        try:
            inputs.append(model_input(model.input_kind, row))
        except ValueError:
            continue
    for work in plugins.preparers(names):
        await asyncio.to_thread(work, inputs)


def score(model: AnyModel, rows: Sequence[Mapping[str, Any]]) -> list[AnyPrediction | ValueError]:
    """Each row's prediction, as a batch where the model has a batch path; a row that does
    not fit the model gets its error instead, and the others are scored one at a time."""
    try:
        return list(model.predict_many(rows))
    except ValueError:
        pass
    found: list[AnyPrediction | ValueError] = []
    for row in rows:
        try:
            found.append(model.predict(row))
        except ValueError as exc:
            found.append(exc)
    return found


def route(
    record: ProjectRecord,
    model: AnyModel,
    prediction: AnyPrediction,
    rng: random.Random,
    *,
    gate: StreamGate | None = None,
    annotators: int = 0,
) -> Route:
    """Route one new arrival.

    Pool mode (no ``gate``) queues every arrival, and sets aside an exploration share of them
    as a random sample of the stream, for exploration to lease and the accuracy estimate to
    learn from. The share follows the exploration now: while drift is suspected, more arrivals
    are sampled, so the draws that settle it come from after the change. Stream mode admits an
    arrival through the gate, which draws its random share itself.
    """
    share = exploration(record, model)
    if gate is None:
        # With the random strategy every pick is random anyway: nothing is set aside.
        sampled = record.strategy != "random" and rng.random() < share
        return Route("queued", sampled)
    gate.exploration = share
    admitted, drawn_at_random = gate.admit(
        prediction.uncertainty,
        now=time.monotonic(),
        annotators=annotators,
        rng=rng,
        warming_up=model.version < record.warmup,
    )
    return Route("queued" if admitted else "scored", drawn_at_random)


def routes(record: ProjectRecord, model: AnyModel, count: int, rng: random.Random) -> list[Route]:
    """`route` in pool mode (no gate) for a batch of ``count`` arrivals, in order: the same
    routes from the same random draws, with the exploration share read once (the model does
    not change within a batch)."""
    if record.strategy == "random":
        return [_QUEUED] * count
    share = exploration(record, model)
    draw = rng.random
    return [_SAMPLED if draw() < share else _QUEUED for _ in range(count)]
