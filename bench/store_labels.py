"""The store's label transaction alone: `Store.commit_labels`, in one process, no server.

Each round stores labels for fresh items, ``--batch`` labels a transaction (1: an annotator at
human pace; more: a group commit under load), on a SQLite file (WAL, ``synchronous=FULL``, as
``streamloop serve`` opens it) and, with ``--postgres URL``, on PostgreSQL. Prints, per
database, the wall time and the calling thread's CPU time of a transaction (median, p90,
p99): the CPU is what the store's thread takes from the event loop's share of the
interpreter; the wall time adds the disk's flush.

    python bench/store_labels.py --labels 2000 --batch 1 10 [--postgres postgresql://...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from server import machine_line

from streamloop.store import NewEvent, NewLabel, Store


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(url: str, labels: int, batch: int) -> dict[str, object]:
    store = Store(url)
    try:
        project = store.create_project(
            name=f"bench-{time.time_ns()}",
            labels=["a", "b", "c"],
            input="text",
            model="logistic_regression",
            strategy="margin",
            exploration=0.05,
            lease_seconds=120.0,
        )
        events = [
            NewEvent(f"e{n}", {"text": f"item number {n} of the store benchmark"}, "queued", 0.5)
            for n in range(labels)
        ]
        items = store.insert_events(project.id, events)
        wall: list[float] = []
        cpu: list[float] = []
        version = 0
        for start in range(0, len(items), batch):
            chunk = [
                NewLabel(f"l{n}", "abc"[n % 3], "annotator", item_id=item.id, annotator="ann")
                for n, item in enumerate(items[start : start + batch], start)
            ]
            began, began_cpu = time.perf_counter(), time.thread_time()
            outcomes = store.commit_labels(project.id, chunk, version)
            cpu.append(time.thread_time() - began_cpu)
            wall.append(time.perf_counter() - began)
            assert all(o.error is None for o in outcomes), outcomes
            version = max(o.model_version or 0 for o in outcomes)
        return {
            "database": store.engine.dialect.name,
            "batch": batch,
            "transactions": len(wall),
            "wall_ms": {q: round(1000 * _quantile(wall, v), 3) for q, v in _QUANTILES},
            "cpu_ms": {q: round(1000 * _quantile(cpu, v), 3) for q, v in _QUANTILES},
            "cpu_ms_per_label_mean": round(1000 * statistics.fmean(cpu) / batch, 3),
        }
    finally:
        store.close()


_QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=2000)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL to measure too")
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as folder:
        urls = [f"sqlite:///{Path(folder) / 'bench.db'}"]
        if args.postgres:
            urls.append(args.postgres)
        for url in urls:
            for batch in args.batch:
                print(orjson.dumps(run(url, args.labels, batch)).decode(), flush=True)


if __name__ == "__main__":
    main()
