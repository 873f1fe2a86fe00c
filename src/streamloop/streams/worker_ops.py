"""What a worker tells its operator: ``/healthz``, ``/readyz``, ``/metrics`` and log lines.

``streamloop worker --port N`` serves them (on loopback unless ``--host`` says otherwise), so
a Prometheus scraper, a load balancer or a person with curl can see each worker: what it
scored, dead-lettered and learned, which model version of each project it scores with and
how late it swapped it in, its consumer lag per partition, its rebalances, and whether it
reaches the broker. Every minute with something done, the log says the rates too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import orjson
import uvicorn
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamloop.errors import NotReady
from streamloop.streams.pause_metrics import PausesCollector

__all__ = ["WorkerStats", "ops_app", "rate_line", "serve_ops"]

log = logging.getLogger(__name__)

_PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


#: Seconds between two rate lines in the log (none for a minute in which nothing happened).
RATE_EVERY = 60.0


@dataclass
class Partition:
    """A partition this worker consumes: its end offset and how far the worker has read."""

    topic: str
    partition: int
    end: int | None
    read: int | None

    @property
    def lag(self) -> int | None:
        """Records on the partition the worker has not read yet (None until both are known)."""
        if self.end is None or self.read is None:
            return None
        return max(self.end - self.read, 0)


@dataclass
class WorkerStats:
    """A worker's counters and states, kept by the worker and read by ``/metrics``.

    ``partitions`` are the worker's view of its assignment, refreshed every few seconds;
    ``ready_reasons`` says why the worker is not ready, empty once it is.
    """

    worker: str
    scored: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    learned: Counter[str] = field(default_factory=Counter)
    model_versions: dict[str, int] = field(default_factory=dict)
    swap_lag: dict[str, float] = field(default_factory=dict)
    swaps: Counter[str] = field(default_factory=Counter)
    rebalances: int = 0
    broker_connected: bool = False
    models_caught_up: bool = False
    partitions: list[Partition] = field(default_factory=list)

    def ready_reasons(self) -> list[str]:
        reasons = []
        if not self.broker_connected:
            reasons.append("the broker cannot be reached")
        if not self.models_caught_up:
            reasons.append("the models topic is not read to its end yet")
        if not self.partitions:
            reasons.append("no partition of the events or labels topic is assigned to it")
        return reasons

    def swapped(self, project: str, old: int, new: int, published_ms: int | None) -> None:
        """A newer model version of ``project`` arrived: counted, and said in the log."""
        self.model_versions[project] = new
        self.swaps[project] += 1
        late = ""
        if published_ms is not None:
            self.swap_lag[project] = max(time.time() - published_ms / 1000, 0.0)
            late = f", published {self.swap_lag[project]:.3f} s before"
        was = f" (was {old})" if old else ""
        log.info("model of %s: version %d in use%s%s", project, new, was, late)


def rate_line(now: Counter[str], before: Counter[str], seconds: float) -> str:
    """``"120 (2.0/s)"``: what a counter gained over ``seconds``, and its rate.

    >>> rate_line(Counter(a=70, b=60), Counter(a=10), 60.0)
    '120 (2.0/s)'
    """
    gained = sum(now.values()) - sum(before.values())
    return f"{gained} ({gained / seconds:.1f}/s)"


async def log_rates(stats: WorkerStats, every: float = RATE_EVERY) -> None:
    """Every ``every`` seconds in which something happened, one line with the rates."""
    before = (Counter(stats.scored), Counter(stats.dead_letters), Counter(stats.learned))
    while True:
        await asyncio.sleep(every)
        now = (Counter(stats.scored), Counter(stats.dead_letters), Counter(stats.learned))
        if now == before:
            continue
        lags = [p.lag for p in stats.partitions if p.lag is not None]
        log.info(
            "last %.0f s: scored %s, dead-lettered %s, learned %s labels; consumer lag %d",
            every,
            rate_line(now[0], before[0], every),
            rate_line(now[1], before[1], every),
            rate_line(now[2], before[2], every),
            sum(lags),
        )
        before = now


class _WorkerCollector(Collector):
    def __init__(self, stats: WorkerStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self.stats
        yield _counter(
            "streamloop_worker_events_scored", "Events scored and stored.", "project", stats.scored
        )
        yield _counter(
            "streamloop_worker_dead_letters",
            "Records sent to the dead-letter topic, by reason.",
            "reason",
            stats.dead_letters,
        )
        yield _counter(
            "streamloop_worker_labels_learned",
            "Labels this worker learned as its project's learner (duplicates not counted).",
            "project",
            stats.learned,
        )
        yield _counter(
            "streamloop_worker_model_swaps",
            "Newer model versions swapped in for scoring.",
            "project",
            stats.swaps,
        )
        yield _gauge(
            "streamloop_worker_model_version",
            "The model version of each project this worker scores with.",
            "project",
            stats.model_versions,
        )
        yield _gauge(
            "streamloop_worker_model_swap_lag_seconds",
            "Seconds from the publication of a project's newest model version to its swap here.",
            "project",
            stats.swap_lag,
        )
        lag = GaugeMetricFamily(
            "streamloop_worker_consumer_lag",
            "Records on each assigned partition not read yet by this worker.",
            labels=["topic", "partition"],
        )
        for partition in stats.partitions:
            if partition.lag is not None:
                lag.add_metric([partition.topic, str(partition.partition)], partition.lag)
        yield lag
        rebalances = CounterMetricFamily(
            "streamloop_worker_rebalances", "Consumer group rebalances this worker took part in."
        )
        rebalances.add_metric([], stats.rebalances)
        yield rebalances
        connected = GaugeMetricFamily(
            "streamloop_worker_broker_connected",
            "1 while the broker answers this worker, else 0.",
        )
        connected.add_metric([], float(stats.broker_connected))
        yield connected
        ready = GaugeMetricFamily("streamloop_worker_ready", "1 while /readyz says ready, else 0.")
        ready.add_metric([], float(not stats.ready_reasons()))
        yield ready


def _counter(name: str, text: str, label: str, values: Mapping[str, float]) -> Metric:
    family = CounterMetricFamily(name, text, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], float(value))
    return family


def _gauge(name: str, text: str, label: str, values: Mapping[str, float]) -> Metric:
    family = GaugeMetricFamily(name, text, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], float(value))
    return family


def ops_app(stats: WorkerStats) -> Starlette:
    """The worker's three operations endpoints, read-only and free of any private data."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_WorkerCollector(stats))
    registry.register(PausesCollector())

    async def healthz(_request: Request) -> Response:
        return OrjsonResponse({"status": "ok", "worker": stats.worker})

    async def readyz(_request: Request) -> Response:
        reasons = stats.ready_reasons()
        if reasons:
            error = NotReady("the worker is not ready: " + "; ".join(reasons))
            body = {**error.body(), "worker": stats.worker}
            return OrjsonResponse(body, status_code=error.http_status)
        assigned = stats.partitions
        return OrjsonResponse(
            {
                "status": "ready",
                "worker": stats.worker,
                "partitions": [f"{p.topic}[{p.partition}]" for p in assigned],
                "models": dict(sorted(stats.model_versions.items())),
            }
        )

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=_PROMETHEUS_TYPE)

    routes = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
    return Starlette(routes=routes)


class _Server(uvicorn.Server):
    """uvicorn inside the worker: the worker, not uvicorn, handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_ops(stats: WorkerStats, host: str, port: int) -> None:
    """Serve the operations endpoints until cancelled."""
    config = uvicorn.Config(
        ops_app(stats), host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = _Server(config)
    try:
        await server.serve()
    finally:
        server.should_exit = True
