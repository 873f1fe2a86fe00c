"""A worker's operations endpoints and figures, on its own counters (no broker)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from streamloop.streams.worker_ops import Partition, WorkerStats, ops_app


def _client(stats: WorkerStats) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(ops_app(stats)), base_url="http://w")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_a_worker_is_ready_only_with_the_broker_the_models_and_a_partition():
    stats = WorkerStats("host:1")
    async with _client(stats) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok", "worker": "host:1"}
        answer = await client.get("/readyz")
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert (error["code"], error["retryable"]) == ("not_ready", True)
    for reason in ("broker", "models topic", "no partition"):
        assert reason in error["message"]

    stats.broker_connected = stats.models_caught_up = True
    stats.partitions = [Partition("p.events", 0, 10, 10)]
    stats.model_versions["tickets"] = 3
    async with _client(stats) as client:
        ready = (await client.get("/readyz")).json()
    assert ready == {
        "status": "ready",
        "worker": "host:1",
        "partitions": ["p.events[0]"],
        "models": {"tickets": 3},
    }


async def test_the_metrics_say_what_the_worker_did_and_how_far_behind_it_is():
    stats = WorkerStats("host:1", broker_connected=True)
    stats.scored["tickets"] += 5
    stats.dead_letters["unknown_project"] += 2
    stats.learned["tickets"] += 1
    stats.swapped("tickets", 0, 4, published_ms=None)
    stats.partitions = [
        Partition("p.events", 0, end=12, read=9),
        Partition("p.events", 1, end=None, read=None),  # nothing known yet: no figure
    ]
    async with _client(stats) as client:
        found = _samples((await client.get("/metrics")).text)

    assert found[("streamloop_worker_events_scored_total", (("project", "tickets"),))] == 5
    assert found[("streamloop_worker_dead_letters_total", (("reason", "unknown_project"),))] == 2
    assert found[("streamloop_worker_labels_learned_total", (("project", "tickets"),))] == 1
    assert found[("streamloop_worker_model_version", (("project", "tickets"),))] == 4
    assert found[("streamloop_worker_model_swaps_total", (("project", "tickets"),))] == 1
    lag = {k[1]: v for k, v in found.items() if k[0] == "streamloop_worker_consumer_lag"}
    assert lag == {(("partition", "0"), ("topic", "p.events")): 3}
    assert found[("streamloop_worker_broker_connected", ())] == 1
    assert found[("streamloop_worker_ready", ())] == 0  # the models topic is not read yet
    # No swap lag for a version seen while catching up (its publication is history).
    assert not [k for k in found if k[0] == "streamloop_worker_model_swap_lag_seconds"]
