"""A bounded soak: 50 annotators at human pace and steady producers for ten minutes.

Starts ``streamloop serve`` (SQLite), creates a text project, then runs N annotators (each one
label every 1/pace seconds, ±50%) and producers posting batches at a steady rate, all through
``streamloop.client`` as a user's scripts would, for
``--minutes``. Every 30 s it samples the server's resident memory, and it counts every error
the clients saw. Prints one JSON line per sample and a summary; exits 1 if any error was seen
or memory grew by more than ``--max-growth-mib`` between the first sample after warm-up and
the last.

    python bench/soak.py --minutes 10 --annotators 50 --events-per-second 200
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson
from server import Server, machine_line

from streamloop.client import AsyncClient, StreamloopError

LABELS = ["billing", "bug", "other"]
WORDS = {
    "billing": ["invoice", "charged", "refund", "payment", "card", "price"],
    "bug": ["crash", "error", "broken", "blank", "exception", "freeze"],
    "other": ["hello", "question", "feedback", "thanks", "idea", "meeting"],
}


VOCABULARY = 0  # set by --vocabulary: 0 for a new word in every text


def text(n: int) -> str:
    """A ticket; its last word is new with each text, or one of ``VOCABULARY`` words."""
    words = WORDS[LABELS[n % 3]]
    word = n % VOCABULARY if VOCABULARY else n
    return f"{words[n % 6]} {words[(n * 7 + 3) % 6]} w{word}"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Tally:
    def __init__(self) -> None:
        self.labels = 0
        self.events = 0
        self.errors: Counter[str] = Counter()


async def annotate(client: AsyncClient, name: str, pace: float, until: float, tally: Tally) -> None:
    async with client.annotate("soak", annotator=name) as session:
        next_at = time.perf_counter() + random.uniform(0, 1.0 / pace)
        while time.perf_counter() < until:
            try:
                async with asyncio.timeout(until - time.perf_counter()):
                    item = await session.next_item()
            except TimeoutError:
                return
            n = int(item.id.split("-")[1])
            next_at += random.uniform(0.5, 1.5) / pace
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            try:
                await session.label(item.id, LABELS[n % 3], label_id=item.id)
                tally.labels += 1
            except StreamloopError as error:  # after the client's own retries
                tally.errors[error.code] += 1


async def produce(
    client: AsyncClient, start: int, per_second: float, until: float, tally: Tally
) -> None:
    batch = 50
    n = start
    next_at = time.perf_counter()
    while time.perf_counter() < until:
        events = [(f"evt-{k}", {"text": text(k)}) for k in range(n, n + batch)]
        try:
            await client.send_events("soak", events)
            tally.events += batch
            n += batch
        except StreamloopError as error:
            tally.errors[error.code] += 1
        next_at += batch / per_second
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))


async def run(args: argparse.Namespace) -> int:
    tally = Tally()
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as data_dir:
        server = Server(data_dir)
        try:
            async with (
                AsyncClient(server.base, timeout=60) as client,
                httpx.AsyncClient(base_url=server.base, timeout=60) as http,
            ):
                await client.create_project("soak", LABELS)
                seed = [(f"evt-{k}", {"text": text(k)}) for k in range(1000)]
                await client.send_events("soak", seed)
                started = time.perf_counter()
                until = started + 60 * args.minutes
                tasks = [
                    asyncio.create_task(annotate(client, f"a{i}", args.pace, until, tally))
                    for i in range(args.annotators)
                ]
                producer = produce(client, 1000, args.events_per_second, until, tally)
                tasks.append(asyncio.create_task(producer))
                while time.perf_counter() < until:
                    await asyncio.sleep(min(30.0, max(0.0, until - time.perf_counter())))
                    metrics = await client.metrics("soak")
                    model = await http.get("/api/projects/soak/model")
                    sample = {
                        "minute": round((time.perf_counter() - started) / 60, 1),
                        "rss_mib": round(rss_mib(server.process.pid), 1),
                        "labels": tally.labels,
                        "events": tally.events,
                        "queue_depth": metrics["queue_depth"],
                        "model_kib": round(len(model.content) / 1024),
                        "errors": sum(tally.errors.values()),
                    }
                    samples.append(sample)
                    print(orjson.dumps(sample).decode(), flush=True)
                for result in await asyncio.gather(*tasks, return_exceptions=True):
                    if isinstance(result, BaseException):
                        tally.errors[type(result).__name__] += 1
        finally:
            server.stop()
    # Warm-up: the first two minutes fill caches and the queue; growth is judged after.
    settled = [s for s in samples if s["minute"] >= 2.0] or samples
    growth = settled[-1]["rss_mib"] - settled[0]["rss_mib"]
    summary = {
        "minutes": args.minutes,
        "vocabulary": args.vocabulary,
        "annotators": args.annotators,
        "labels": tally.labels,
        "events": tally.events,
        "errors": dict(tally.errors),
        "rss_first_settled_mib": settled[0]["rss_mib"],
        "rss_last_mib": settled[-1]["rss_mib"],
        "rss_growth_mib": round(growth, 1),
    }
    print(orjson.dumps(summary).decode())
    return 1 if tally.errors or growth > args.max_growth_mib else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--pace", type=float, default=1.0, help="labels/s per annotator")
    parser.add_argument("--events-per-second", type=float, default=200.0)
    parser.add_argument("--max-growth-mib", type=float, default=32.0)
    parser.add_argument(
        "--vocabulary", type=int, default=0, help="distinct rare words (0: a new one per text)"
    )
    args = parser.parse_args()
    global VOCABULARY
    VOCABULARY = args.vocabulary
    print(machine_line())
    raise SystemExit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
