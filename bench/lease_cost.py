"""A lease's cost in process: choosing an annotator's next item after each label.

The project's `Leasing` as the runtime builds it, on a SQLite store, with a model taught 300
labels, 5,000 queued items and 20 annotators holding two items each: each label is learned,
settled, and the annotator's next item leased (its candidates re-scored by the model). CPU
time per label, of the leasing (settle and fill) and of learning, for each
``--rescore-versions`` given (`Settings.rescore_versions`: the most labels a candidate's
prediction is kept for). No network and no disk in the timed part but the journal's queue,
so it isolates what bench/labels.py measures amid both. This runs on the event loop in the
service, between the frames of every annotator.

    python bench/lease_cost.py --rescore-versions 1 16 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import machine_line

from streamloop.config import Settings
from streamloop.online.routing import RoutingPolicy
from streamloop.store import NewEvent, Store
from streamloop.store.journal import Journal
from streamloop.streams.annotators import AnnotatorSession
from streamloop.streams.learner import new_model
from streamloop.streams.leasing import Leasing

#: Labels the model has learned before the timed part (a candidate's prediction is kept for
#: at most a sixteenth of them).
TAUGHT = 300
WORDS = [
    "refund",
    "payment",
    "crash",
    "login",
    "error",
    "slow",
    "invoice",
    "charge",
    "screen",
    "button",
    "app",
    "card",
    "bank",
]


def row(kind: str, rng: random.Random) -> dict[str, Any]:
    if kind == "text":
        return {"text": " ".join(rng.choice(WORDS) for _ in range(12))}
    return {f"f{i}": rng.gauss(0.0, 1.0) for i in range(64)}


async def measure(kind: str, versions: int, labels: int, seed: int) -> tuple[float, float]:
    """CPU µs per label: (leasing, learning)."""
    folder = Path(tempfile.mkdtemp())
    store = Store(f"sqlite:///{folder / 'bench.db'}")
    classes = [f"c{i}" for i in range(10 if kind == "tabular" else 3)]
    record = store.create_project(
        name="lease-cost",
        labels=classes,
        input=kind,
        model="logistic_regression",
        strategy="margin",
        exploration=0.0,
        lease_seconds=600.0,
    )
    model = new_model(record)
    rng = random.Random(seed)
    for _ in range(TAUGHT):
        model.learn(row(kind, rng), rng.choice(classes))
    journal = Journal(store)
    journal.start()
    settings = dataclasses.replace(
        Settings.from_env({}, data_dir=folder), rescore_versions=versions
    )
    leasing = Leasing(
        record,
        store,
        settings,
        journal,
        RoutingPolicy("margin"),
        model=lambda: model,
        exploration=lambda: 0.0,
        changed=lambda: None,
    )
    events = [NewEvent(f"e{i}", row(kind, rng), "queued", 1.0) for i in range(5000)]
    leasing.requeue(await store.run(store.insert_events, record.id, events))
    sessions = [AnnotatorSession(f"a{n}", 2, send=lambda notice: None) for n in range(20)]
    for session in sessions:
        leasing.join(session)
    leasing_cpu = learning_cpu = 0.0
    for n in range(labels):
        session = sessions[n % len(sessions)]
        item_id, lease = next(iter(session.held.items()))
        started = time.process_time()
        model.learn(lease.item.data, rng.choice(classes))
        learned = time.process_time()
        leasing.settle(item_id, by=session.annotator)
        leasing.fill(session)
        leasing_cpu += time.process_time() - learned
        learning_cpu += learned - started
    leasing.close()
    await journal.close()
    store.close()
    return leasing_cpu / labels * 1e6, learning_cpu / labels * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rescore-versions", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine_line())
    for kind in ("tabular", "text"):
        for versions in args.rescore_versions:
            runs = [
                asyncio.run(measure(kind, versions, args.labels, seed))
                for seed in range(args.repeats)
            ]
            print(
                f"{kind}, rescore_versions={versions}: a lease "
                f"{statistics.median(r[0] for r in runs):.0f} µs (runs "
                f"{', '.join(f'{r[0]:.0f}' for r in runs)}), learning "
                f"{statistics.median(r[1] for r in runs):.0f} µs of CPU a label"
            )


if __name__ == "__main__":
    main()
