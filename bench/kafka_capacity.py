"""What one Kafka worker costs per event and per label: the figures that model N workers.

Needs a broker and a PostgreSQL server (the project's scripts start both):

    export STREAMLOOP_BENCH_KAFKA=$(scripts/kafka/broker start)
    export STREAMLOOP_BENCH_DATABASE=$(scripts/postgres start)
    python bench/kafka_capacity.py --workers 1 --events 20000 --runs 3

Each run is a fresh deployment (topic prefix and projects) on the same broker and database,
with ``streamloop serve`` routing the scored records as it does in production. Before any
work, what serve, PostgreSQL and the broker spend idle is read for two seconds. Then:

- **Warm-up**: events for every project, and ``WARM`` labels for each but the first, so that
  the workers score with trained models.
- **Drain**: ``--events`` events over ``--projects`` projects (data drawn with ``--seed``)
  produced first, then ``--workers`` fresh workers started; events per second from the first
  scored record to the last, over the span in which every worker is scoring (Kafka's record
  timestamps), and the CPU seconds each process spent per event in that span, read from
  ``/proc/<pid>/stat`` (utime + stime), so that other processes taking the cores make the
  rate fall but the CPU per event much less.
- **Learner**: ``--labels`` labels of the first project sent at once to the labels topic by a
  plain producer; outcomes per second on the learned topic (first outcome to last) and the
  workers' CPU per label (storing, learning, publishing each new model version).
- **Broker round trip**: one small record at a time produced to an idle topic and read back,
  p50 and p99.
- **PostgreSQL inserts**: the store's own ``insert_events`` called in this process with batches
  of several sizes (the worker uses 200): wall time, this process's CPU and the database
  server's CPU per event; the rest of the wall time is waiting, for round trips (a ``SELECT 1``
  is timed too) and, on a loaded machine, for a core.

Prints one JSON line per run and a summary (median, min and max over the runs), and writes all
of it to ``--output``. The model the summary gives for N workers is in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from kafka_loop import LABELS, PATIENCE, _ms, text
from server import Server, machine_line

from streamloop.store import NewEvent, NewLabel, Store
from streamloop.streams import topics
from streamloop.streams.worker import BATCH

TICK = os.sysconf("SC_CLK_TCK")
#: Events and labels each project but the first gets before anything is measured, so every
#: project scores with a trained model.
WARM = 100
#: Batch sizes of the store benchmark, and the rows inserted at each.
STORE_BATCHES = (50, 200, 500)
STORE_ROWS = 4000
#: The processes whose CPU is read, and how long they are watched doing nothing (seconds).
GROUPS = ("workers", "serve", "postgres", "broker")
IDLE_WINDOW = 2.0
#: Statements a worker's insert_events costs a batch, each a round trip: begin, the select
#: of stored ids, the insert, commit.
INSERT_ROUND_TRIPS = 4


# -- CPU from /proc ------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process (clock ticks), or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields[11]) + int(fields[12])


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def find_process(*needles: str) -> int | None:
    """The first process whose command line holds every needle."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if all(needle in cmdline for needle in needles):
                return int(entry.name)
    return None


def broker_pid(bootstrap: str) -> int | None:
    """The local broker listening on ``bootstrap``'s port, by its server.properties."""
    port = bootstrap.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if b"kafka.Kafka" in args and args.index(b"kafka.Kafka") + 1 < len(args):
            properties = Path(args[args.index(b"kafka.Kafka") + 1].decode())
            with contextlib.suppress(OSError):
                if f"PLAINTEXT://127.0.0.1:{port}\n" in properties.read_text():
                    return int(entry.name)
    return None


def machine_busy() -> int:
    """Clock ticks all cores have spent neither idle nor waiting on input, since boot."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    return user + nice + system + irq + softirq + steal


class Meter:
    """CPU ticks of named groups of processes, and of the whole machine, between two reads."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        #: name -> the group's current pids
        self.groups = groups

    def read(self) -> dict[str, Any]:
        reading: dict[str, Any] = {"machine": machine_busy(), "at": time.perf_counter()}
        for name, pids in self.groups.items():
            reading[name] = {pid: cpu_ticks(pid) for pid in pids()}
        return reading

    def seconds(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        """CPU seconds of each group between two reads; a process started meanwhile counts
        whole, one gone meanwhile is lost (none of ours goes)."""
        spent = {"machine": (after["machine"] - before["machine"]) / TICK}
        for name in self.groups:
            ticks = sum(
                (now or 0) - (before[name].get(pid) or 0) for pid, now in after[name].items()
            )
            spent[name] = ticks / TICK
        spent["wall"] = after["at"] - before["at"]
        return spent


# -- the deployment ------------------------------------------------------------------------


class Deployment:
    """serve, the workers, and a producer and readers on one fresh topic prefix."""

    def __init__(self, bootstrap: str, database: str, args: argparse.Namespace) -> None:
        self.bootstrap = bootstrap
        self.database = database
        self.args = args
        self.prefix = f"cap{uuid.uuid4().hex[:8]}"
        self.names = topics.Topics(self.prefix)
        self.projects = [f"{self.prefix}-{n}" for n in range(args.projects)]
        self.workers: list[subprocess.Popen[bytes]] = []
        os.environ["STREAMLOOP_TOPIC_PREFIX"] = self.prefix
        if not (
            os.environ.get("STREAMLOOP_SECRET_KEY") or os.environ.get("STREAMLOOP_SECRET_KEY_FILE")
        ):
            os.environ["STREAMLOOP_SECRET_KEY"] = secrets.token_hex(32)
        self.cli = ["--broker", f"kafka://{bootstrap}", "--database", database]
        postmaster = find_process("postgres", f"-p {database.rsplit(':', 1)[1].split('/')[0]}")
        broker = broker_pid(bootstrap)
        self.meter = Meter(
            {
                "workers": lambda: [w.pid for w in self.workers],
                "serve": lambda: [self.server.process.pid],
                "postgres": lambda: [postmaster, *children(postmaster)] if postmaster else [],
                "broker": lambda: [broker] if broker else [],
            }
        )

    async def __aenter__(self) -> Deployment:
        # Before serve starts, so that --partitions holds (serve creates what is missing).
        await topics.ensure_topics(self.bootstrap, self.names, partitions=self.args.partitions)
        self.server = Server(tempfile.mkdtemp(prefix="streamloop-bench-"), *self.cli)
        async with httpx.AsyncClient(base_url=self.server.base) as http:
            for name in [*self.projects, f"{self.prefix}-store"]:
                answer = await http.post("/api/projects", json={"name": name, "labels": LABELS})
                answer.raise_for_status()
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
        await self.producer.start()
        self.scored = reader(self.bootstrap, self.names.scored)
        self.learned = reader(self.bootstrap, self.names.learned)
        await self.scored.start()
        await self.learned.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()
        await self.scored.stop()
        await self.learned.stop()
        self.stop_workers()
        self.server.stop()

    def start_workers(self, count: int) -> None:
        for n in range(count):
            log = open(f"/tmp/bench-capacity-worker-{n}.log", "w")  # noqa: SIM115
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "streamloop", "worker", *self.cli],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            worker.wait(60)
        self.workers = []

    async def produce(self, topic: str, messages: list[tuple[bytes, dict[str, Any]]]) -> None:
        for key, value in messages:
            await self.producer.send(topic, orjson.dumps(value), key=key)
        await self.producer.flush()

    async def produce_events(self, events: list[dict[str, Any]]) -> None:
        await self.produce(self.names.events, [(e["id"].encode(), e) for e in events])

    async def produce_labels(self, project: str, events: list[dict[str, Any]]) -> None:
        labels = [
            NewLabel(
                label_id=f"label-{e['id']}",
                label=LABELS[e["n"] % 3],
                source="annotator",
                event_id=e["id"],
                annotator="bench",
            )
            for e in events
        ]
        await self.produce(
            self.names.labels,
            [(project.encode(), topics.label_message(project, label)) for label in labels],
        )


def reader(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )


async def records(consumer: AIOKafkaConsumer) -> list[tuple[int, dict[str, Any]]]:
    """The next records a reader has (timestamp in ms, value); TimeoutError after PATIENCE."""
    batch = await consumer.getmany(timeout_ms=int(PATIENCE * 1000))
    if not batch:
        raise TimeoutError(f"nothing on {consumer.subscription()} for {PATIENCE} s")
    return [(m.timestamp, orjson.loads(m.value)) for ms in batch.values() for m in ms]


def events(rng: random.Random, projects: list[str], count: int, tag: str) -> list[dict[str, Any]]:
    """``count`` events spread at random over ``projects``; ``n`` picks the text and its label."""
    made = []
    for index in range(count):
        n = rng.randrange(1_000_000)
        project = projects[rng.randrange(len(projects))]
        made.append({"project": project, "id": f"{tag}-{index}", "data": text(n), "n": n})
    return made


async def until_scored(deployment: Deployment, ids: set[str]) -> None:
    while ids:
        for _ts, record in await records(deployment.scored):
            ids.discard(record["id"])


async def until_learned(deployment: Deployment, count: int) -> list[tuple[int, int]]:
    """(timestamp, outcomes) of the learned records until ``count`` outcomes came back."""
    seen: list[tuple[int, int]] = []
    while sum(n for _, n in seen) < count:
        for ts, record in await records(deployment.learned):
            outcomes = record.get("outcomes", [])
            errors = [o["error"] for o in outcomes if o.get("error")]
            if errors:
                raise RuntimeError(f"labels refused: {errors[:3]}")
            seen.append((ts, len(outcomes)))
    return seen


# -- the measures --------------------------------------------------------------------------


async def warm_up(deployment: Deployment, rng: random.Random) -> list[dict[str, Any]]:
    """Events for every project, scored; WARM labels for each project but the first. Returns
    the first project's events, which the learner measure labels."""
    first, others = deployment.projects[0], deployment.projects[1:]
    mine = events(rng, [first], deployment.args.labels, "learn")
    theirs = events(rng, others, WARM * len(others), "warm") if others else []
    await deployment.produce_events(mine + theirs)
    await until_scored(deployment, {e["id"] for e in mine + theirs})
    for project in others:
        await deployment.produce_labels(project, [e for e in theirs if e["project"] == project])
    await until_learned(deployment, len(theirs))
    return mine


async def learner(deployment: Deployment, labelled: list[dict[str, Any]]) -> dict[str, Any]:
    before = deployment.meter.read()
    await deployment.produce_labels(deployment.projects[0], labelled)
    seen = await until_learned(deployment, len(labelled))
    spent = deployment.meter.seconds(before, deployment.meter.read())
    # First outcome to last: the labels of the first batch were learned before the clock.
    span = (seen[-1][0] - seen[0][0]) / 1000
    return {
        "labels": len(labelled),
        "batches": len(seen),
        "labels_per_second": round((len(labelled) - seen[0][1]) / span, 1) if span else None,
        "cpu_ms_per_label": round(1000 * spent["workers"] / len(labelled), 3),
    }


async def idle_cores(deployment: Deployment) -> dict[str, float]:
    """Cores serve, the database and the broker take with nothing to do (before any work)."""
    quiet = deployment.meter.read()
    await asyncio.sleep(IDLE_WINDOW)
    spent = deployment.meter.seconds(quiet, deployment.meter.read())
    return {name: spent[name] / spent["wall"] for name in GROUPS}


async def drain(
    deployment: Deployment, rng: random.Random, idle: dict[str, float]
) -> dict[str, Any]:
    """A backlog produced first, then the workers started on it. ``idle``: cores each group
    takes doing nothing, taken off its CPU per event in ``busy_cpu_ms_per_event``."""
    deployment.stop_workers()
    backlog = events(rng, deployment.projects, deployment.args.events, "evt")
    started = time.perf_counter()
    await deployment.produce_events(backlog)
    produced = time.perf_counter() - started
    deployment.start_workers(deployment.args.workers)
    waiting = {e["id"] for e in backlog}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    stamps: list[int] = []
    before: dict[str, Any] | None = None
    counted = 0
    while waiting:
        for ts, record in await records(deployment.scored):
            if not record["id"].startswith("evt-"):
                continue
            worker = record["worker"]
            first.setdefault(worker, ts)
            last[worker] = ts
            stamps.append(ts)
            waiting.discard(record["id"])
            counted += before is not None
        # CPU counts from when every worker is scoring (startup and rebalances left out).
        if before is None and len(first) == deployment.args.workers:
            before = deployment.meter.read()
    assert before is not None
    spent = deployment.meter.seconds(before, deployment.meter.read())
    rss = [resident_mib(w.pid) for w in deployment.workers]
    # The span in which every worker was scoring: the last one's first record to the first
    # one's last record (the same as first to last with one worker).
    opened, closed = max(first.values()), min(last.values())
    inside = sum(opened <= ts <= closed for ts in stamps)
    span = (closed - opened) / 1000
    ours = spent["workers"] + spent["serve"] + spent["postgres"] + spent["broker"]
    return {
        "events": len(backlog),
        "records": len(stamps),
        "produced_per_second": round(len(backlog) / produced, 1),
        "workers_seen": len(first),
        "events_per_second": round(inside / span, 1) if span else None,
        "span_s": round(span, 2),
        "cpu_ms_per_event": {name: round(1000 * spent[name] / counted, 4) for name in GROUPS},
        "idle_cores": {name: round(idle[name], 3) for name in GROUPS},
        "busy_cpu_ms_per_event": {
            name: round(1000 * (spent[name] - spent["wall"] * idle[name]) / counted, 4)
            for name in GROUPS
        },
        "cores_busy": {
            "ours": round(ours / spent["wall"], 2),
            "others": round((spent["machine"] - ours) / spent["wall"], 2),
        },
        "worker_rss_mib": rss,
    }


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def round_trip(bootstrap: str, prefix: str, count: int) -> dict[str, Any]:
    """Produce one small record, read it back, ``count`` times, on a one-partition topic."""
    topic = f"{prefix}.round-trip"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=500)
    await producer.start()
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_end(partition)
        await consumer.position(partition)
        trips = []
        for n in range(count):
            sent = time.perf_counter()
            await producer.send_and_wait(topic, b'{"n": %d}' % n)
            await asyncio.wait_for(consumer.getone(), PATIENCE)
            trips.append(time.perf_counter() - sent)
    finally:
        await producer.stop()
        await consumer.stop()
    return {"records": count, "p50_ms": _ms(trips, 0.5), "p99_ms": _ms(trips, 0.99)}


def store_inserts(deployment: Deployment, rng: random.Random) -> dict[str, Any]:
    """The store's insert_events as a worker calls it, at several batch sizes, in this process
    (its event loop blocked meanwhile: the CPU read is the insert's)."""
    store = Store(deployment.database)
    try:
        project = store.project(f"{deployment.prefix}-store").id
        results: dict[str, Any] = {"round_trip_ms": postgres_round_trip(store)}
        for size in STORE_BATCHES:
            rows = [
                NewEvent(f"store-{size}-{n}", text(rng.randrange(1_000_000)), "queued", 0.5)
                for n in range(STORE_ROWS)
            ]
            before, cpu = deployment.meter.read(), time.process_time()
            for start in range(0, len(rows), size):
                store.insert_events(project, rows[start : start + size])
            cpu = time.process_time() - cpu
            spent = deployment.meter.seconds(before, deployment.meter.read())
            wall, database = spent["wall"], spent["postgres"]
            results[str(size)] = {
                "wall_us_per_event": round(1e6 * wall / len(rows), 1),
                "client_cpu_us_per_event": round(1e6 * cpu / len(rows), 1),
                "postgres_cpu_us_per_event": round(1e6 * database / len(rows), 1),
                "waiting_us_per_event": round(1e6 * max(0.0, wall - cpu - database) / len(rows), 1),
            }
        return results
    finally:
        store.close()


def postgres_round_trip(store: Store, count: int = 200) -> float:
    """p50 of ``SELECT 1`` on one open connection (ms)."""
    trips = []
    with store.engine.connect() as connection:
        for _ in range(count):
            started = time.perf_counter()
            connection.execute(sqlalchemy.text("SELECT 1"))
            trips.append(time.perf_counter() - started)
    return _ms(trips, 0.5)


async def run(bootstrap: str, database: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    async with Deployment(bootstrap, database, args) as deployment:
        load = os.getloadavg()[0]
        idle = await idle_cores(deployment)
        deployment.start_workers(args.workers)
        labelled = await warm_up(deployment, rng)
        drained = await drain(deployment, rng, idle)
        learned = await learner(deployment, labelled)
        trips = await round_trip(bootstrap, deployment.prefix, args.round_trips)
        inserts = store_inserts(deployment, rng)
    return {
        "seed": seed,
        "workers": args.workers,
        "partitions": args.partitions,
        "load_1min_before": round(load, 2),
        "learner": learned,
        "drain": drained,
        "round_trip": trips,
        "store_inserts": inserts,
    }


# -- the summary ---------------------------------------------------------------------------


def leaves(tree: dict[str, Any], path: str = "") -> dict[str, float]:
    found: dict[str, float] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            found |= leaves(value, f"{path}{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found[f"{path}{key}"] = value
    return found


def summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Median, min and max over the runs of every figure."""
    figures = [leaves(r) for r in runs]
    return {
        key: {
            "median": round(statistics.median(f[key] for f in figures), 4),
            "min": min(f[key] for f in figures),
            "max": max(f[key] for f in figures),
        }
        for key in figures[0]
        if all(key in f for f in figures)
    }


def model(median: dict[str, float], partitions: int) -> dict[str, Any]:
    """What N workers should reach with a core each, from one worker's figures
    (BENCHMARKS.md explains it).

    A worker scores a batch, then waits for its insert: the database's work on it and the
    round trips are not overlapped with scoring, so they add to the worker's own CPU per
    event. Serve, the database and the broker are counted per core they get.
    """
    busy = "drain.busy_cpu_ms_per_event."
    worker_ms = median[busy + "workers"]
    waiting_ms = median[busy + "postgres"] + (
        INSERT_ROUND_TRIPS * median["store_inserts.round_trip_ms"] / BATCH
    )
    per_worker = 1000 / (worker_ms + waiting_ms)
    return {
        "per_worker_events_per_second": round(per_worker),
        "serve_events_per_second_per_core": per_core(median[busy + "serve"]),
        # None when the process was not found on this machine (a remote database or broker).
        "postgres_events_per_second_per_core": per_core(median[busy + "postgres"]),
        "broker_events_per_second_per_core": per_core(median[busy + "broker"]),
        "learner_labels_per_second_measured": median["learner.labels_per_second"],
        "learner_labels_per_second_per_core": per_core(median["learner.cpu_ms_per_label"]),
        "workers": {str(n): round(min(n, partitions) * per_worker) for n in (1, 2, 4, 8, 16)},
    }


def per_core(cpu_ms: float) -> int | None:
    return round(1000 / cpu_ms) if cpu_ms > 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--labels", type=int, default=2_000)
    parser.add_argument("--projects", type=int, default=4)
    parser.add_argument(
        "--partitions", type=int, default=topics.PARTITIONS, help="of each topic but models"
    )
    parser.add_argument("--round-trips", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="of the first run; +1 each run")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).parent / "results" / "kafka_capacity.json",
    )
    args = parser.parse_args()
    bootstrap = os.environ["STREAMLOOP_BENCH_KAFKA"]
    database = os.environ["STREAMLOOP_BENCH_DATABASE"]
    machine = orjson.loads(machine_line())
    print(orjson.dumps(machine).decode(), flush=True)
    runs = []
    for n in range(args.runs):
        runs.append(asyncio.run(run(bootstrap, database, args, args.seed + n)))
        print(orjson.dumps(runs[-1]).decode(), flush=True)
    figures = summary(runs)
    median = {key: value["median"] for key, value in figures.items()}
    result = {
        "machine": machine,
        "args": vars(args) | {"output": None},
        "runs": runs,
        "summary": figures,
        "model": model(median, args.partitions),
    }
    print(orjson.dumps(result["model"]).decode())
    args.output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
