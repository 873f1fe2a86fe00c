"""``streamloop serve`` whose single-label models score events at next to no cost: for
``bench/events.py --free-scoring``, the ceiling of everything else on the events path.

Everything is the real service (HTTP, JSON, the store, routing, the response) but the model's
``predict_many``: the first `POOL` rows it scores once it has learned something (the first
timed batch's, after the benchmark's seed labels) are scored for real, and every later row
gets one of those predictions again, in turn, with its own copy of the probabilities and an
uncertainty drawn afresh, so that the routing queue sees a spread of scores as it does with a
real model, and sheds and admits as often. What is left per event is what the real path
makes per event (a prediction object and its probabilities) and a random number.

    python bench/free_scoring.py serve --port 8000 --data-dir /tmp/sl   # as streamloop serve
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from typing import Any

from streamloop.cli import main
from streamloop.online.model import OnlineModel, Prediction

#: Real predictions kept to be given out again.
POOL = 256

_real = OnlineModel.predict_many
_pool: list[Prediction] = []
_draw = random.Random(0).random


def predict_many(
    self: OnlineModel, rows: Sequence[dict[str, Any]], *, numbers: Any = None
) -> list[Prediction]:
    if len(_pool) < POOL:
        made = _real(self, rows, numbers=numbers)
        if self.version > 0:  # an untrained model's predictions say nothing, and weigh less
            _pool.extend(made[: POOL - len(_pool)])
        return made
    return [
        Prediction(p.label, dict(p.probabilities), _draw(), p.model_version)
        for p in (_pool[n % POOL] for n in range(len(rows)))
    ]


if __name__ == "__main__":
    OnlineModel.predict_many = predict_many  # type: ignore[method-assign]
    sys.exit(main(sys.argv[1:]))
